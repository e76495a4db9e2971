// ops::RateTracker: per-minute rates of monotonically growing counters (messages and
// bytes in and out), from a small fixed ring of timestamped samples, like Mosquitto's
// load/.../1min. Owns the ring (bounded: kSlots samples). Not thread-safe: the owner
// (Monitor) locks around it. Time is passed in, so tests drive it with a fake clock.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "broker/ops/metrics.hpp"

namespace tern::ops {

struct RateCounters {
  std::uint64_t messages_received = 0;
  std::uint64_t messages_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_sent = 0;
};

class RateTracker {
 public:
  using Clock = std::chrono::steady_clock;
  // Samples closer together than this replace the newest one instead of taking a slot,
  // so a burst of calls cannot push the one-minute-old sample out of the ring.
  static constexpr std::chrono::seconds kMinSpacing{5};
  static constexpr std::chrono::seconds kWindow{60};
  static constexpr std::size_t kSlots = 14;  // 60 s / 5 s + the sample at each end

  void add(Clock::time_point now, const RateCounters& c);
  // Per-minute rates between the newest sample and the oldest one no older than about a
  // minute; zero until two samples at least a second apart exist.
  Rates rates() const;

 private:
  struct Sample {
    Clock::time_point at;
    RateCounters c;
  };
  std::array<Sample, kSlots> ring_{};
  std::size_t size_ = 0;
  std::size_t head_ = 0;  // index of the newest sample
};

}  // namespace tern::ops
