// tern-bench measurement helpers: a log-linear latency histogram and a per-publisher
// sequence tracker (loss, duplicates, reordering). Plain values owned by the runner.
// Thread safety: none; tern-bench runs on one thread.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tern::bench {

// Latency in nanoseconds, kept with under 1.6% relative error in ~2,300 buckets, so a
// run of millions of deliveries costs a few KiB instead of one sample each.
class LatencyHistogram {
 public:
  void record(std::uint64_t ns) {
    ++counts_[index(ns)];
    ++total_;
    if (ns > max_) max_ = ns;
  }
  std::uint64_t count() const { return total_; }
  std::uint64_t max() const { return max_; }

  // Upper bound of the bucket holding the q-quantile (0 < q <= 1); 0 when empty.
  std::uint64_t quantile(double q) const {
    if (total_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_));
    if (rank == 0) rank = 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        const std::uint64_t hi = upper(i);
        return hi < max_ ? hi : max_;
      }
    }
    return max_;
  }

  static std::size_t index(std::uint64_t v) {
    if (v < 2 * kSub) return static_cast<std::size_t>(v);
    const int msb = 63 - std::countl_zero(v);     // >= 7
    const int shift = msb - kSubBits;             // >= 1
    const std::uint64_t mant = v >> shift;        // [kSub, 2*kSub)
    return 2 * kSub + static_cast<std::size_t>(shift - 1) * kSub +
           static_cast<std::size_t>(mant - kSub);
  }
  // Largest value that maps to bucket i.
  static std::uint64_t upper(std::size_t i) {
    if (i < 2 * kSub) return i;
    const std::size_t j = i - 2 * kSub;
    const int shift = static_cast<int>(j / kSub) + 1;
    const std::uint64_t mant = kSub + j % kSub;
    return ((mant + 1) << shift) - 1;
  }

 private:
  static constexpr int kSubBits = 6;
  static constexpr std::uint64_t kSub = 1u << kSubBits;
  // shift runs 1 .. 57 for 64-bit values.
  std::array<std::uint64_t, 2 * kSub + 57 * kSub> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

// What one subscriber has seen from one publisher. Sequence numbers start at 1. One bit per
// sequence number: memory is bounded by the number of messages the run sends (duration x
// window), an eighth of a byte each.
class SeqTracker {
 public:
  enum class Seen : std::uint8_t { InOrder, Reordered, Duplicate };

  // REQUIRES: seq >= 1.
  Seen record(std::uint64_t seq) {
    const std::size_t word = static_cast<std::size_t>(seq >> 6);
    const std::uint64_t bit = std::uint64_t{1} << (seq & 63);
    if (word >= bits_.size()) bits_.resize(word + 1 + bits_.size() / 2, 0);
    if (bits_[word] & bit) {
      ++duplicates_;
      return Seen::Duplicate;
    }
    bits_[word] |= bit;
    ++unique_;
    if (seq < highest_) {
      // A later message arrived first: this one was overtaken.
      ++reordered_;
      return Seen::Reordered;
    }
    highest_ = seq;
    return Seen::InOrder;
  }
  std::uint64_t unique() const { return unique_; }
  std::uint64_t duplicates() const { return duplicates_; }
  std::uint64_t reordered() const { return reordered_; }
  std::uint64_t highest() const { return highest_; }

 private:
  std::vector<std::uint64_t> bits_;
  std::uint64_t highest_ = 0;
  std::uint64_t unique_ = 0;
  std::uint64_t duplicates_ = 0;
  std::uint64_t reordered_ = 0;
};

}  // namespace tern::bench
