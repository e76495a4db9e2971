#include "broker/ops/rates.hpp"

namespace tern::ops {

void RateTracker::add(Clock::time_point now, const RateCounters& c) {
  if (size_ >= 2) {
    const std::size_t prev = (head_ + kSlots - 1) % kSlots;
    if (now - ring_[prev].at < kMinSpacing) {
      // Too close to the sample before the newest: move the newest forward instead of
      // taking a slot, so the ring always reaches back about a minute.
      ring_[head_] = Sample{now, c};
      return;
    }
  }
  if (size_ > 0) head_ = (head_ + 1) % kSlots;
  ring_[head_] = Sample{now, c};
  if (size_ < kSlots) ++size_;
}

namespace {

double per_minute(std::uint64_t newer, std::uint64_t older, double seconds) {
  // A counter that went down (a restart behind our back) gives no rate, not a huge one.
  if (newer < older) return 0;
  return static_cast<double>(newer - older) * 60.0 / seconds;
}

}  // namespace

Rates RateTracker::rates() const {
  Rates r;
  if (size_ < 2) return r;
  const Sample& newest = ring_[head_];
  // The oldest sample still within the window (samples are in time order going back).
  const Sample* base = nullptr;
  for (std::size_t k = 1; k < size_; ++k) {
    const Sample& s = ring_[(head_ + kSlots - k) % kSlots];
    if (newest.at - s.at > kWindow) break;
    base = &s;
  }
  if (base == nullptr) return r;
  const double seconds = std::chrono::duration<double>(newest.at - base->at).count();
  if (seconds < 1.0) return r;  // too short to say anything per minute
  r.messages_received = per_minute(newest.c.messages_received, base->c.messages_received, seconds);
  r.messages_sent = per_minute(newest.c.messages_sent, base->c.messages_sent, seconds);
  r.bytes_received = per_minute(newest.c.bytes_received, base->c.bytes_received, seconds);
  r.bytes_sent = per_minute(newest.c.bytes_sent, base->c.bytes_sent, seconds);
  return r;
}

}  // namespace tern::ops
