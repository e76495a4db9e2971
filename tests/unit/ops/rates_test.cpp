// RateTracker: per-minute rates from a ring of samples, driven by a fake clock.
#include <catch2/catch.hpp>

#include "broker/ops/rates.hpp"

using namespace tern;
using Clock = ops::RateTracker::Clock;
using std::chrono::seconds;

namespace {

ops::RateCounters at_rate(std::uint64_t t, std::uint64_t per_second) {
  return ops::RateCounters{t * per_second, 2 * t * per_second, 100 * t * per_second, 0};
}

}  // namespace

TEST_CASE("rates: zero until two samples a second apart", "[ops][rates]") {
  ops::RateTracker r;
  const Clock::time_point t0{};
  CHECK(r.rates().messages_received == 0);
  r.add(t0, ops::RateCounters{100, 0, 0, 0});
  CHECK(r.rates().messages_received == 0);
  r.add(t0 + std::chrono::milliseconds(500), ops::RateCounters{200, 0, 0, 0});
  CHECK(r.rates().messages_received == 0);
  r.add(t0 + seconds(2), ops::RateCounters{300, 0, 0, 0});
  CHECK(r.rates().messages_received == Approx(200 * 60 / 2.0));
}

TEST_CASE("rates: steady traffic over several minutes gives its per-minute rate",
          "[ops][rates]") {
  ops::RateTracker r;
  const Clock::time_point t0{};
  for (std::uint64_t t = 0; t <= 300; t += 5) r.add(t0 + seconds(t), at_rate(t, 10));
  const ops::Rates x = r.rates();
  CHECK(x.messages_received == Approx(600));
  CHECK(x.messages_sent == Approx(1200));
  CHECK(x.bytes_received == Approx(60000));
  CHECK(x.bytes_sent == 0);
}

TEST_CASE("rates: only the last minute counts", "[ops][rates]") {
  ops::RateTracker r;
  const Clock::time_point t0{};
  // A burst in the first minute, then silence for two minutes.
  for (std::uint64_t t = 0; t <= 60; t += 5) r.add(t0 + seconds(t), at_rate(t, 100));
  CHECK(r.rates().messages_received == Approx(6000));
  const ops::RateCounters flat = at_rate(60, 100);
  for (std::uint64_t t = 65; t <= 180; t += 5) r.add(t0 + seconds(t), flat);
  CHECK(r.rates().messages_received == 0);
  // Traffic resumes: 30 s at 2/s, over the minute window -> 60 per minute.
  ops::RateCounters c = flat;
  for (std::uint64_t t = 185; t <= 210; t += 5) {
    c.messages_received += 10;
    r.add(t0 + seconds(t), c);
  }
  CHECK(r.rates().messages_received == Approx(60.0));
}

TEST_CASE("rates: frequent samples do not push the minute out of the ring", "[ops][rates]") {
  ops::RateTracker r;
  const Clock::time_point t0{};
  for (std::uint64_t t = 0; t <= 60; t += 5) r.add(t0 + seconds(t), at_rate(t, 10));
  // 200 calls one second apart (a scrape storm): the window still spans about a minute.
  for (std::uint64_t t = 61; t <= 260; ++t) r.add(t0 + seconds(t), at_rate(t, 10));
  CHECK(r.rates().messages_received == Approx(600));
}

TEST_CASE("rates: a counter that goes down gives zero and not a huge rate", "[ops][rates]") {
  ops::RateTracker r;
  const Clock::time_point t0{};
  r.add(t0, ops::RateCounters{1000, 0, 0, 0});
  r.add(t0 + seconds(10), ops::RateCounters{10, 0, 0, 0});
  CHECK(r.rates().messages_received == 0);
}
