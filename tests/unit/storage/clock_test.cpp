// The broker clock rule (storage/clock.hpp): restarts with a sane wall clock, a wall
// clock that jumped back, one that jumped far forward; expiry across each.
#include "storage/clock.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <limits>

#include "storage_test_util.hpp"

using namespace tern::storage;
using namespace tern::storage::test;
using namespace std::chrono_literals;

namespace {

using Steady = std::chrono::steady_clock;

// 2023-11-14T22:13:20Z, a plausible wall clock.
const WallTime kWall{std::chrono::milliseconds(1'700'000'000'000)};
// Broker time at the last checkpoint before the restart: 1000 s of uptime so far.
const ClockRecord kSaved{at_ms(1'000'000), kWall};

// A message stored before the restart that expires 60 s after the checkpoint.
const BrokerTime kExpiry = at_ms(1'060'000);

}  // namespace

TEST_CASE("clock: the first start begins at broker time 0", "[storage][clock]") {
  const ClockResume r = resume_broker_clock(std::nullopt, kWall);
  CHECK(r.kind == ClockResumeKind::first_start);
  CHECK(r.now == at_ms(0));
  CHECK(r.credited == 0ms);
}

TEST_CASE("clock: a normal restart credits the downtime", "[storage][clock]") {
  const ClockResume r = resume_broker_clock(kSaved, kWall + 300s);
  CHECK(r.kind == ClockResumeKind::credited);
  CHECK(r.credited == 300s);
  CHECK(r.now == at_ms(1'300'000));

  // The message's lifetime ran out while the broker was down: it is expired at once.
  const Steady::time_point boot = Steady::now();
  const StorageClock clock(r.now, boot);
  CHECK(clock.to_steady(kExpiry) <= boot);
  CHECK(clock.to_steady(kExpiry) == boot - 240s);

  // A shorter downtime leaves the rest of the lifetime.
  const ClockResume r2 = resume_broker_clock(kSaved, kWall + 20s);
  const StorageClock clock2(r2.now, boot);
  CHECK(clock2.to_steady(kExpiry) == boot + 40s);

  // Exactly at the cap still counts; the cap is configurable.
  CHECK(resume_broker_clock(kSaved, kWall + kDefaultMaxDowntime).kind == ClockResumeKind::credited);
  CHECK(resume_broker_clock(kSaved, kWall + 2h, 1h).kind == ClockResumeKind::wall_clock_too_far);
}

TEST_CASE("clock: a wall clock that jumped back credits nothing", "[storage][clock]") {
  // A Pi without RTC boots at fake-hwclock's last save (or 1970), before our checkpoint.
  for (const WallTime wall : {kWall - 1h, WallTime{}}) {
    const ClockResume r = resume_broker_clock(kSaved, wall);
    CHECK(r.kind == ClockResumeKind::wall_clock_behind);
    CHECK(r.credited == 0ms);
    CHECK(r.now == kSaved.broker);
    // Not everything expires at once, and the message still expires after the 60 s it
    // had left, counted in broker uptime.
    const Steady::time_point boot = Steady::now();
    const StorageClock clock(r.now, boot);
    CHECK(clock.to_steady(kExpiry) == boot + 60s);
    CHECK(clock.to_broker(boot + 61s) > kExpiry);
  }
}

TEST_CASE("clock: a wall clock that jumped far forward credits nothing", "[storage][clock]") {
  const ClockResume r = resume_broker_clock(kSaved, kWall + 24h * 365 * 10);
  CHECK(r.kind == ClockResumeKind::wall_clock_too_far);
  CHECK(r.credited == 0ms);
  CHECK(r.now == kSaved.broker);
  // Sessions and messages are not all expired by the jump.
  const Steady::time_point boot = Steady::now();
  const StorageClock clock(r.now, boot);
  CHECK(clock.to_steady(kExpiry) == boot + 60s);
}

TEST_CASE("clock: broker time follows steady time, checkpoints chain across restarts",
          "[storage][clock]") {
  const Steady::time_point boot = Steady::now();
  const StorageClock clock(at_ms(5000), boot);
  CHECK(clock.to_broker(boot) == at_ms(5000));
  CHECK(clock.to_broker(boot + 1500ms) == at_ms(6500));
  CHECK(clock.to_broker(boot + 1500us) == at_ms(5001));  // rounded down
  CHECK(clock.to_steady(clock.to_broker(boot + 7s)) == boot + 7s);

  // Run 100 s, checkpoint, be down 50 s (wall clock sane), restart: 155 s of broker time.
  const ClockRecord cp = clock.checkpoint(boot + 100s, kWall);
  CHECK(cp.broker == at_ms(105'000));
  CHECK(cp.wall == kWall);
  const ClockResume r = resume_broker_clock(cp, kWall + 50s);
  CHECK(r.now == at_ms(155'000));
}

TEST_CASE("clock: garbage from disk saturates instead of overflowing", "[storage][clock]") {
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  constexpr auto kMin = std::numeric_limits<std::int64_t>::min();
  const ClockRecord huge{at_ms(kMax), WallTime(std::chrono::milliseconds(kMin))};
  const ClockResume r = resume_broker_clock(huge, WallTime(std::chrono::milliseconds(kMax)));
  CHECK(r.kind == ClockResumeKind::wall_clock_too_far);
  const ClockRecord edge{at_ms(kMax - 10), kWall};
  CHECK(resume_broker_clock(edge, kWall + 1h).now == at_ms(kMax));

  const Steady::time_point boot = Steady::now();
  const StorageClock clock(at_ms(0), boot);
  CHECK(clock.to_steady(at_ms(kMax)) > boot + 24h * 365 * 99);
  CHECK(clock.to_steady(at_ms(kMin)) < boot - 24h * 365 * 99);
  const StorageClock high(at_ms(kMax), boot);
  CHECK(high.to_broker(boot + 1h) == at_ms(kMax));
}
