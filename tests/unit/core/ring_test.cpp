// Ring<T>: FIFO order across wrap-around and growth, order-keeping erase, and the memory
// rules that make it worth having (nothing while empty, burst storage given back).
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "broker/core/ring.hpp"

namespace tern::core {
namespace {

std::vector<int> contents(const Ring<std::unique_ptr<int>>& r) {
  std::vector<int> out;
  for (std::size_t i = 0; i < r.size(); ++i) out.push_back(*r[i]);
  return out;
}

TEST_CASE("Ring holds no storage until the first push", "[core][ring]") {
  Ring<std::string> r;
  CHECK(r.empty());
  CHECK(r.capacity() == 0);
  r.push_back("a");
  CHECK(r.capacity() > 0);
  CHECK(r.front() == "a");
}

TEST_CASE("Ring keeps FIFO order across wrap-around and growth", "[core][ring]") {
  Ring<std::unique_ptr<int>> r;
  int next_in = 0;
  int next_out = 0;
  // Interleave pushes and pops so the head walks around the buffer while it grows.
  for (int round = 0; round < 50; ++round) {
    for (int k = 0; k < 3; ++k) r.push_back(std::make_unique<int>(next_in++));
    REQUIRE(*r.front() == next_out);
    r.pop_front();
    ++next_out;
  }
  REQUIRE(r.size() == static_cast<std::size_t>(next_in - next_out));
  for (std::size_t i = 0; i < r.size(); ++i) CHECK(*r[i] == next_out + static_cast<int>(i));
}

TEST_CASE("Ring erase and erase_if keep the order of the rest", "[core][ring]") {
  Ring<std::unique_ptr<int>> r;
  for (int i = 0; i < 3; ++i) {  // wrap the head first
    r.push_back(std::make_unique<int>(-1));
    r.pop_front();
  }
  for (int i = 0; i < 7; ++i) r.push_back(std::make_unique<int>(i));
  r.erase(2);
  CHECK(contents(r) == std::vector<int>{0, 1, 3, 4, 5, 6});
  r.erase(5);
  CHECK(contents(r) == std::vector<int>{0, 1, 3, 4, 5});
  const std::size_t removed = r.erase_if([](const std::unique_ptr<int>& p) { return *p % 2; });
  CHECK(removed == 3);
  CHECK(contents(r) == std::vector<int>{0, 4});
  CHECK(r.erase_if([](const std::unique_ptr<int>&) { return true; }) == 2);
  CHECK(r.empty());
}

TEST_CASE("Ring gives a burst's storage back when it empties, keeps a small one",
          "[core][ring]") {
  Ring<std::shared_ptr<int>> r;
  auto shared = std::make_shared<int>(7);
  for (int i = 0; i < 100; ++i) r.push_back(std::shared_ptr<int>(shared));
  CHECK(r.capacity() >= 100);
  CHECK(shared.use_count() == 101);
  while (!r.empty()) r.pop_front();
  CHECK(r.capacity() == 0);  // burst storage released
  CHECK(shared.use_count() == 1);

  // One element at a time (steady QoS 1 traffic): the storage stays, no allocation per item.
  r.push_back(std::shared_ptr<int>(shared));
  const std::size_t cap = r.capacity();
  r.pop_front();
  CHECK(r.capacity() == cap);
  CHECK(cap <= Ring<int>::kKeepWhenEmpty);

  // Destruction and clear() release the elements.
  for (int i = 0; i < 5; ++i) r.push_back(std::shared_ptr<int>(shared));
  r.clear();
  CHECK(shared.use_count() == 1);
  CHECK(r.capacity() == 0);
  {
    Ring<std::shared_ptr<int>> moved_from;
    moved_from.push_back(std::shared_ptr<int>(shared));
    Ring<std::shared_ptr<int>> moved(std::move(moved_from));
    CHECK(moved.size() == 1);
    CHECK(shared.use_count() == 2);
  }
  CHECK(shared.use_count() == 1);
}

}  // namespace
}  // namespace tern::core
