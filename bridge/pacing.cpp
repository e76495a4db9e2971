#include "bridge/pacing.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

namespace tern::bridge {

// ---------------------------------------------------------------- Backoff

Backoff::Backoff(Ms min, Ms max, bool jitter)
    : min_(std::max(min, Ms(1))), max_(std::max(max, std::max(min, Ms(1)))), jitter_(jitter) {}

Backoff::Ms Backoff::ceiling(unsigned exponent) const {
  // min * 2^exponent without overflow: stop doubling once past max.
  Ms c = min_;
  for (unsigned i = 0; i < exponent && c < max_; ++i) c *= 2;
  return std::min(c, max_);
}

Backoff::Ms Backoff::next(double u) {
  const unsigned n = attempt_;
  if (attempt_ < 64) ++attempt_;
  if (!jitter_) return ceiling(n);
  const Ms hi = ceiling(n + 1);
  u = std::clamp(u, 0.0, 1.0);
  const auto span = static_cast<double>((hi - min_).count());
  const Ms d = min_ + Ms(static_cast<Ms::rep>(std::floor(u * span)));
  return std::clamp(d, min_, max_);
}

// ---------------------------------------------------------------- TokenBucket

double default_burst(double rate) { return std::max(1.0, rate / 10.0); }

TokenBucket::TokenBucket(double rate, double burst, SteadyTime now)
    : rate_(rate), burst_(std::max(1.0, burst)), tokens_(std::max(1.0, burst)), last_(now) {}

void TokenBucket::refill(SteadyTime now) {
  if (now <= last_) return;
  const double secs = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(burst_, tokens_ + secs * rate_);
  last_ = now;
}

bool TokenBucket::try_take(SteadyTime now) {
  if (unlimited()) return true;
  refill(now);
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

SteadyClock::duration TokenBucket::wait(SteadyTime now) const {
  if (unlimited()) return SteadyClock::duration::zero();
  double tokens = tokens_;
  if (now > last_) {
    tokens = std::min(burst_, tokens + std::chrono::duration<double>(now - last_).count() * rate_);
  }
  if (tokens >= 1.0) return SteadyClock::duration::zero();
  const double secs = (1.0 - tokens) / rate_;
  // Round up so that the caller, woken at now + wait, finds the token there.
  return std::chrono::ceil<SteadyClock::duration>(std::chrono::duration<double>(secs));
}

// ---------------------------------------------------------------- EchoFilter

std::uint64_t EchoFilter::hash(std::string_view topic, std::string_view payload) {
  // FNV-1a over topic, a separator that cannot occur in a topic (U+0000 [MQTT-4.7.3-2]),
  // and the payload; then mixed with std::hash to spread short inputs.
  std::uint64_t h = 1469598103934665603ull;
  auto feed = [&](std::string_view s) {
    for (unsigned char ch : s) {
      h ^= ch;
      h *= 1099511628211ull;
    }
  };
  feed(topic);
  feed(std::string_view("\0", 1));
  feed(payload);
  return h ^ (std::hash<std::string_view>{}(topic) << 1);
}

void EchoFilter::drop_front() {
  const Entry& e = entries_.front();
  auto it = live_.find(e.hash);
  if (it != live_.end()) {
    // Seqs per hash are increasing and taken from the front, so a matched entry is gone
    // from the list already: only drop it when it is still the oldest live one.
    if (!it->second.empty() && it->second.front() == e.seq) it->second.pop_front();
    if (it->second.empty()) live_.erase(it);
  }
  entries_.pop_front();
}

void EchoFilter::expire(SteadyTime now) {
  while (!entries_.empty() && now - entries_.front().at > ttl_) drop_front();
}

void EchoFilter::sent(std::string_view topic, std::string_view payload, SteadyTime now) {
  if (capacity_ == 0) return;
  expire(now);
  while (entries_.size() >= capacity_) drop_front();
  const std::uint64_t h = hash(topic, payload);
  entries_.push_back(Entry{next_seq_, h, now});
  live_[h].push_back(next_seq_);
  ++next_seq_;
}

bool EchoFilter::take_echo(std::string_view topic, std::string_view payload, SteadyTime now) {
  expire(now);
  auto it = live_.find(hash(topic, payload));
  if (it == live_.end() || it->second.empty()) return false;
  it->second.pop_front();
  if (it->second.empty()) live_.erase(it);
  return true;
}

}  // namespace tern::bridge
