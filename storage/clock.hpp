// StorageClock: the broker clock that every persisted time is on, and the rule that
// carries it across restarts on gateways without a real-time clock (issue 3, item 6).
// A value type; thread safety: const methods only, safe to share once built.
//
// THE RULE
//   While the broker runs, broker time advances with the process's steady_clock, so wall
//   clock steps (NTP sync after boot, a user setting the date) never move it.
//   Every checkpoint interval (kCheckpointInterval) and at clean shutdown the broker
//   stores meta/clock = {broker time, wall time} (Batch::put_clock).
//   At startup, downtime = wall_now - saved.wall is credited to the broker clock only
//   when 0 <= downtime <= max_downtime (default 30 days). Otherwise the wall clock is not
//   trusted (a Pi without RTC boots in 1970 or at fake-hwclock's last save, then NTP
//   jumps it forward): the credit is 0 and ClockResume::kind says why, for a warning log.
//   Consequences: a wrong wall clock at boot can neither expire every session and message
//   at once (a jump forward is capped to no credit) nor keep expired ones forever (broker
//   time still advances while the broker runs, so everything expires after its remaining
//   lifetime of broker uptime). The cost of an untrusted clock is that the downtime, and
//   the run time since the last checkpoint when the broker crashed, count as zero: expiry
//   is late by at most that much, never early.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "storage/records.hpp"

namespace tern::storage {

inline constexpr std::chrono::seconds kCheckpointInterval{60};
inline constexpr std::chrono::hours kDefaultMaxDowntime{24 * 30};

enum class ClockResumeKind : std::uint8_t {
  first_start,         // no checkpoint: broker time starts at 0
  credited,            // downtime measured by the wall clock was added
  wall_clock_behind,   // wall_now < saved wall time: no credit
  wall_clock_too_far,  // downtime above max_downtime: no credit
};

struct ClockResume {
  BrokerTime now{};                  // broker time at this startup
  BrokerClock::duration credited{};  // downtime added
  ClockResumeKind kind = ClockResumeKind::first_start;
};

// The rule above, as a pure function: `saved` is the stored checkpoint (if any).
ClockResume resume_broker_clock(const std::optional<ClockRecord>& saved, WallTime wall_now,
                                std::chrono::milliseconds max_downtime = kDefaultMaxDowntime);

// Maps this process's steady_clock to broker time: `start` happened at `steady_start`.
class StorageClock {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;

  StorageClock(BrokerTime start, SteadyTime steady_start)
      : start_(start), steady_start_(steady_start) {}

  // Rounded down to the millisecond.
  BrokerTime to_broker(SteadyTime t) const;
  // A persisted deadline as a steady_clock point (in the past for one that passed during
  // the downtime). Saturates instead of overflowing for absurd values.
  SteadyTime to_steady(BrokerTime t) const;
  // What to store in meta/clock now.
  ClockRecord checkpoint(SteadyTime steady_now, WallTime wall_now) const {
    return ClockRecord{to_broker(steady_now), wall_now};
  }

 private:
  BrokerTime start_;
  SteadyTime steady_start_;
};

}  // namespace tern::storage
