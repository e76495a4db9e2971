// InflightWindow: packet identifiers are never handed out twice while in use
// [MQTT-2.2.1-3], also across the 16-bit wrap, out-of-order completion and flows restored
// with identifiers of their own; the search shortcut for ascending identifiers must never
// return one in use.
#include <catch2/catch.hpp>

#include <random>
#include <set>

#include "broker/core/inflight.hpp"

namespace tern::core {
namespace {

OutboundFlight flight(std::uint16_t id) {
  OutboundFlight f;
  f.packet_id = id;
  return f;
}

// Checks the window against a set of the identifiers it should hold.
void check_same(InflightWindow& w, const std::set<std::uint16_t>& ids) {
  REQUIRE(w.size() == ids.size());
  for (std::uint16_t id : ids) REQUIRE(w.find(id) != nullptr);
}

// Random traffic: mostly new flows, completions mostly oldest first but sometimes any.
void churn(InflightWindow& w, std::set<std::uint16_t>& ids, std::mt19937& rng, int steps,
           std::size_t max_window) {
  for (int i = 0; i < steps; ++i) {
    const bool add = ids.size() < max_window && (ids.empty() || rng() % 3 != 0);
    if (add) {
      const std::uint16_t id = w.next_free_id();
      REQUIRE(id != 0);
      REQUIRE(ids.count(id) == 0);
      w.add(flight(id));
      ids.insert(id);
    } else {
      const std::uint16_t id = rng() % 4 == 0 ? *std::next(ids.begin(), rng() % ids.size())
                                              : w.entries().front().packet_id;
      REQUIRE(w.erase(id));
      ids.erase(id);
    }
  }
  check_same(w, ids);
}

TEST_CASE("inflight: identifiers stay unique over several wraps of the 16-bit space",
          "[core][inflight]") {
  InflightWindow w;
  std::set<std::uint16_t> ids;
  std::mt19937 rng(7);
  churn(w, ids, rng, 400'000, 300);  // ~270,000 identifiers handed out: four wraps
}

TEST_CASE("inflight: a long-lived flow is skipped when the identifiers wrap around to it",
          "[core][inflight]") {
  InflightWindow w;
  const std::uint16_t stuck = w.next_free_id();  // 1, never acknowledged
  w.add(flight(stuck));
  for (int i = 0; i < 70'000; ++i) {
    const std::uint16_t id = w.next_free_id();
    REQUIRE(id != stuck);
    REQUIRE(id != 0);
    w.add(flight(id));
    REQUIRE(w.erase(id));
  }
  CHECK(w.size() == 1);
}

TEST_CASE("inflight: restored flows with their own identifiers are never reused",
          "[core][inflight]") {
  // Loaded from storage in send order, but identifiers that the fresh window's counter
  // (starting at 1) will run into, and one out of order.
  InflightWindow w;
  std::set<std::uint16_t> ids{3, 4, 9, 65535, 2};
  for (std::uint16_t id : {3, 4, 9, 65535, 2}) w.add(flight(id));
  std::mt19937 rng(11);
  churn(w, ids, rng, 200'000, 200);
}

TEST_CASE("inflight: nearly the whole identifier space in use", "[core][inflight]") {
  InflightWindow w;
  std::set<std::uint16_t> ids;
  for (int i = 0; i < 65530; ++i) {
    const std::uint16_t id = w.next_free_id();
    REQUIRE(ids.insert(id).second);
    w.add(flight(id));
  }
  // Free a few in the middle, then allocate them again: only those may come back.
  for (std::uint16_t id : {100, 200, 300}) {
    REQUIRE(w.erase(id));
    ids.erase(id);
  }
  for (int i = 0; i < 8; ++i) {
    const std::uint16_t id = w.next_free_id();
    REQUIRE(ids.insert(id).second);
    w.add(flight(id));
  }
  check_same(w, ids);
}

}  // namespace
}  // namespace tern::core
