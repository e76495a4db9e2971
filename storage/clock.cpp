// The broker clock rule (see clock.hpp). Stored times come from disk and may be garbage:
// every sum and difference saturates instead of overflowing.
#include "storage/clock.hpp"

#include <limits>

namespace tern::storage {
namespace {

using Ms = std::chrono::milliseconds;

std::int64_t sat_add(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (!__builtin_add_overflow(a, b, &r)) return r;
  return b > 0 ? std::numeric_limits<std::int64_t>::max()
               : std::numeric_limits<std::int64_t>::min();
}

std::int64_t sat_sub(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (!__builtin_sub_overflow(a, b, &r)) return r;
  return b < 0 ? std::numeric_limits<std::int64_t>::max()
               : std::numeric_limits<std::int64_t>::min();
}

}  // namespace

ClockResume resume_broker_clock(const std::optional<ClockRecord>& saved, WallTime wall_now,
                                Ms max_downtime) {
  ClockResume r;
  if (!saved) return r;  // first start: broker time 0
  r.now = saved->broker;
  const Ms down(
      sat_sub(wall_now.time_since_epoch().count(), saved->wall.time_since_epoch().count()));
  if (down < Ms::zero()) {
    r.kind = ClockResumeKind::wall_clock_behind;
  } else if (down > max_downtime) {
    r.kind = ClockResumeKind::wall_clock_too_far;
  } else {
    r.kind = ClockResumeKind::credited;
    r.credited = down;
    r.now = BrokerTime(Ms(sat_add(saved->broker.time_since_epoch().count(), down.count())));
  }
  return r;
}

BrokerTime StorageClock::to_broker(SteadyTime t) const {
  const Ms since = std::chrono::floor<Ms>(t - steady_start_);
  return BrokerTime(Ms(sat_add(start_.time_since_epoch().count(), since.count())));
}

StorageClock::SteadyTime StorageClock::to_steady(BrokerTime t) const {
  // steady_clock counts nanoseconds in 64 bits (about +-292 years): clamp the offset to
  // +-100 years so that converting and adding it cannot overflow.
  constexpr std::int64_t kLimit = Ms(std::chrono::hours(24 * 365 * 100)).count();
  std::int64_t d = sat_sub(t.time_since_epoch().count(), start_.time_since_epoch().count());
  if (d > kLimit) d = kLimit;
  if (d < -kLimit) d = -kLimit;
  return steady_start_ + std::chrono::duration_cast<SteadyTime::duration>(Ms(d));
}

}  // namespace tern::storage
