// LatencyHistogram: a fixed-bucket histogram of durations (storage commit latency), cheap
// enough to record on the storage thread for every write. Plain value type, no locking:
// the owner (Committer) guards it with its own mutex and hands out copies.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace tern::storage {

struct LatencyHistogram {
  // Upper bounds in microseconds, ascending: 100 us (page cache) .. 2.5 s (a stalled SD
  // card). Fixed so that Prometheus sees the same `le` labels across restarts.
  static constexpr std::array<std::uint64_t, 14> kBoundsUs = {
      100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
      1000000, 2500000};
  // counts[i]: observations with bound[i-1] < d <= bound[i] (not cumulative); the last
  // slot holds those above every bound (+Inf).
  std::array<std::uint64_t, kBoundsUs.size() + 1> counts{};
  std::uint64_t sum_us = 0;
  std::uint64_t count = 0;

  void record(std::chrono::microseconds d) {
    const std::uint64_t us = d.count() < 0 ? 0 : static_cast<std::uint64_t>(d.count());
    std::size_t i = 0;
    while (i < kBoundsUs.size() && us > kBoundsUs[i]) ++i;
    ++counts[i];
    sum_us += us;
    ++count;
  }
};

}  // namespace tern::storage
