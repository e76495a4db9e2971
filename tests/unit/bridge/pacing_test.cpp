// Reconnect backoff, the drain rate limiter, the priority queues and the echo filter.
#include "bridge/pacing.hpp"

#include <catch2/catch.hpp>
#include <string>

using namespace tern::bridge;
using std::chrono::milliseconds;

TEST_CASE("backoff without jitter doubles from min and stops at max", "[bridge][backoff]") {
  Backoff b(milliseconds(100), milliseconds(1000), false);
  CHECK(b.next(0.5) == milliseconds(100));
  CHECK(b.next(0.5) == milliseconds(200));
  CHECK(b.next(0.5) == milliseconds(400));
  CHECK(b.next(0.5) == milliseconds(800));
  CHECK(b.next(0.5) == milliseconds(1000));
  for (int i = 0; i < 100; ++i) CHECK(b.next(0.9) == milliseconds(1000));  // no overflow
  b.reset();
  CHECK(b.next(0.5) == milliseconds(100));
}

TEST_CASE("backoff with jitter stays within [min, min*2^(n+1)] and max", "[bridge][backoff]") {
  Backoff b(milliseconds(100), milliseconds(1000), true);
  // The extremes of the random number give the window's ends.
  CHECK(b.next(0.0) == milliseconds(100));
  CHECK(b.next(0.999999) == milliseconds(399));  // window [100, 400]
  CHECK(b.next(0.999999) == milliseconds(799));  // [100, 800]
  CHECK(b.next(0.999999) == milliseconds(999));  // [100, 1000] (capped)
  CHECK(b.next(0.5) == milliseconds(550));
  // Out-of-range random numbers are clamped, never escape the bounds.
  for (double u : {-1.0, 0.0, 0.3, 1.0, 2.0}) {
    const auto d = b.next(u);
    CHECK(d >= milliseconds(100));
    CHECK(d <= milliseconds(1000));
  }
  b.reset();
  CHECK(b.attempts() == 0);
  CHECK(b.next(0.999999) <= milliseconds(200));
}

TEST_CASE("backoff spreads delays (jitter is not constant)", "[bridge][backoff]") {
  Backoff a(milliseconds(1000), milliseconds(60000), true);
  Backoff c(milliseconds(1000), milliseconds(60000), true);
  for (int i = 0; i < 5; ++i) a.next(0.5), c.next(0.5);
  CHECK(a.next(0.1) < c.next(0.9));
}

TEST_CASE("backoff with min above max uses min for both", "[bridge][backoff]") {
  Backoff b(milliseconds(500), milliseconds(100), false);
  CHECK(b.next(0) == milliseconds(500));
  CHECK(b.next(0) == milliseconds(500));
}

TEST_CASE("token bucket: unlimited when rate is 0", "[bridge][rate]") {
  const SteadyTime t0{};
  TokenBucket tb(0, 1, t0);
  CHECK(tb.unlimited());
  for (int i = 0; i < 1000; ++i) CHECK(tb.try_take(t0));
  CHECK(tb.wait(t0) == SteadyClock::duration::zero());
}

TEST_CASE("token bucket paces at its rate after the burst", "[bridge][rate]") {
  const SteadyTime t0 = SteadyTime{} + std::chrono::hours(1);
  TokenBucket tb(10, 2, t0);  // 10 msgs/s, burst 2
  CHECK(tb.try_take(t0));
  CHECK(tb.try_take(t0));
  CHECK_FALSE(tb.try_take(t0));
  // One token takes 100 ms.
  const auto w = tb.wait(t0);
  CHECK(w >= milliseconds(99));
  CHECK(w <= milliseconds(101));
  CHECK_FALSE(tb.try_take(t0 + milliseconds(50)));
  CHECK(tb.try_take(t0 + milliseconds(100)));
  CHECK_FALSE(tb.try_take(t0 + milliseconds(100)));
  // Over one simulated second at most burst + rate * 1 s messages pass.
  TokenBucket b2(100, default_burst(100), t0);
  int sent = 0;
  for (int ms = 0; ms <= 1000; ++ms) {
    while (b2.try_take(t0 + milliseconds(ms))) ++sent;
  }
  CHECK(sent >= 100);
  CHECK(sent <= 100 + 10 + 1);
  // A long idle time does not accumulate more than the burst.
  TokenBucket b3(5, 1, t0);
  CHECK(b3.try_take(t0));
  CHECK(b3.try_take(t0 + std::chrono::seconds(60)));
  CHECK_FALSE(b3.try_take(t0 + std::chrono::seconds(60)));
}

TEST_CASE("default burst is a tenth of a second, at least one", "[bridge][rate]") {
  CHECK(default_burst(0) == 1.0);
  CHECK(default_burst(5) == 1.0);
  CHECK(default_burst(1000) == 100.0);
}

TEST_CASE("priority queues serve the highest class first, each in its own order",
          "[bridge][priority]") {
  PriorityQueues<int> q(3);  // class 0 highest
  q.push(2, 200);
  q.push(1, 100);
  q.push(2, 201);
  q.push(0, 1);
  q.push(1, 101);
  q.push(0, 2);
  CHECK(q.size() == 6);
  CHECK(q.size(2) == 2);
  std::vector<std::pair<std::size_t, int>> order;
  // Interleave arrivals: a high one arriving mid-drain goes next.
  for (int i = 0; i < 3; ++i) order.push_back(*q.pop());
  q.push(0, 3);
  while (auto v = q.pop()) order.push_back(*v);
  const std::vector<std::pair<std::size_t, int>> want{{0, 1},   {0, 2},   {1, 100}, {0, 3},
                                                      {1, 101}, {2, 200}, {2, 201}};
  CHECK(order == want);
  CHECK(q.empty());
  CHECK_FALSE(q.pop().has_value());
}

TEST_CASE("priority queues: push_front goes before its class, clear empties one class",
          "[bridge][priority]") {
  PriorityQueues<std::string> q(2);
  q.push(1, "b");
  q.push(1, "c");
  q.push_front(1, "a");
  q.push(0, "x");
  q.clear(0);
  CHECK(q.size() == 3);
  CHECK(q.pop()->second == "a");
  CHECK(q.pop()->second == "b");
  q.clear(1);
  CHECK(q.empty());
  CHECK(q.size() == 0);
}

TEST_CASE("echo filter recognises each sent message once", "[bridge][echo]") {
  const SteadyTime t0 = SteadyTime{} + std::chrono::hours(1);
  EchoFilter f(8, std::chrono::seconds(10));
  f.sent("gw/a", "1", t0);
  f.sent("gw/a", "1", t0);
  f.sent("gw/b", "2", t0);
  CHECK_FALSE(f.take_echo("gw/a", "2", t0));  // payload differs
  CHECK_FALSE(f.take_echo("gw/c", "1", t0));  // topic differs
  CHECK(f.take_echo("gw/a", "1", t0));
  CHECK(f.take_echo("gw/a", "1", t0));        // sent twice: two echoes
  CHECK_FALSE(f.take_echo("gw/a", "1", t0));  // a third is a real message
  CHECK(f.take_echo("gw/b", "2", t0));
  // Topic/payload boundaries matter: ("ab","c") is not ("a","bc").
  f.sent("ab", "c", t0);
  CHECK_FALSE(f.take_echo("a", "bc", t0));
}

TEST_CASE("echo filter is bounded by count and age", "[bridge][echo]") {
  const SteadyTime t0 = SteadyTime{} + std::chrono::hours(1);
  EchoFilter f(3, std::chrono::seconds(10));
  for (int i = 0; i < 5; ++i) f.sent("t", std::to_string(i), t0);
  CHECK(f.size() == 3);
  CHECK_FALSE(f.take_echo("t", "0", t0));  // evicted
  CHECK_FALSE(f.take_echo("t", "1", t0));
  CHECK(f.take_echo("t", "2", t0));
  f.sent("t", "late", t0);
  CHECK_FALSE(f.take_echo("t", "late", t0 + std::chrono::seconds(11)));  // expired
  CHECK(f.size() == 0);
  EchoFilter off(0, std::chrono::seconds(10));
  off.sent("t", "x", t0);
  CHECK_FALSE(off.take_echo("t", "x", t0));
}
