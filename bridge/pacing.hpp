// The bridge's small pure helpers: reconnect backoff, the drain rate limiter, the
// priority queues of messages waiting for an upstream slot, and the echo filter that
// stands in for No Local on MQTT 3.1.1 uplinks. No clocks, threads or randomness of their
// own: time and random numbers are passed in, so tests drive them.
// Thread safety: none; each is owned by the bridge's loop thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tern::bridge {

using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;

// Exponential reconnect backoff bounded by [min, max]. Without jitter the n-th delay is
// min * 2^n (capped at max). With jitter it is drawn uniformly from [min, min * 2^(n+1)]
// (capped at max): "full jitter" over the exponential window, but never below min, so a
// fleet of gateways that lost the same cloud does not come back in lockstep.
class Backoff {
 public:
  using Ms = std::chrono::milliseconds;
  // REQUIRES: 0 < min <= max.
  Backoff(Ms min, Ms max, bool jitter);
  // The delay before the next attempt; `u` is a uniform random number in [0, 1).
  // Each call widens the window for the next one.
  Ms next(double u);
  // After a connection that lasted: start again from min.
  void reset() { attempt_ = 0; }
  unsigned attempts() const { return attempt_; }

 private:
  Ms ceiling(unsigned exponent) const;
  Ms min_;
  Ms max_;
  bool jitter_;
  unsigned attempt_ = 0;
};

// Token bucket for the upstream drain rate: `rate` messages per second with room for a
// burst of `burst` messages. rate 0 = unlimited.
class TokenBucket {
 public:
  TokenBucket(double rate, double burst, SteadyTime now);
  bool unlimited() const { return rate_ <= 0; }
  // Takes one token when one is available.
  bool try_take(SteadyTime now);
  // How long until a token is available (zero when one is).
  SteadyClock::duration wait(SteadyTime now) const;

 private:
  void refill(SteadyTime now);
  double rate_;
  double burst_;
  double tokens_;
  SteadyTime last_;
};

// The burst the bridge allows at a drain rate: a tenth of a second's worth, at least one.
double default_burst(double rate);

// Messages waiting for an upstream slot, one FIFO per priority class; class 0 is the
// highest. pop() always serves the highest non-empty class, so after an outage alarms
// drain before bulk telemetry while each class keeps its own order.
template <class T>
class PriorityQueues {
 public:
  explicit PriorityQueues(std::size_t classes) : q_(classes) {}
  std::size_t classes() const { return q_.size(); }
  void push(std::size_t cls, T v) {
    q_[cls].push_back(std::move(v));
    ++size_;
  }
  // For a message that must go again before the rest of its class.
  void push_front(std::size_t cls, T v) {
    q_[cls].push_front(std::move(v));
    ++size_;
  }
  // The highest-priority waiting message and its class.
  std::optional<std::pair<std::size_t, T>> pop() {
    for (std::size_t c = 0; c < q_.size(); ++c) {
      if (q_[c].empty()) continue;
      std::pair<std::size_t, T> out{c, std::move(q_[c].front())};
      q_[c].pop_front();
      --size_;
      return out;
    }
    return std::nullopt;
  }
  void clear(std::size_t cls) {
    size_ -= q_[cls].size();
    q_[cls].clear();
  }
  std::size_t size() const { return size_; }
  std::size_t size(std::size_t cls) const { return q_[cls].size(); }
  bool empty() const { return size_ == 0; }

 private:
  std::vector<std::deque<T>> q_;
  std::size_t size_ = 0;
};

// Remembers what the bridge sent upstream on both-direction rules, so that when a 3.1.1
// remote (no No Local) sends it straight back, the copy is recognised and dropped instead
// of being published locally a second time. Bounded by count and age.
class EchoFilter {
 public:
  EchoFilter(std::size_t capacity, SteadyClock::duration ttl) : capacity_(capacity), ttl_(ttl) {}
  void sent(std::string_view topic, std::string_view payload, SteadyTime now);
  // True when (topic, payload) matches something sent and not yet matched; forgets it.
  bool take_echo(std::string_view topic, std::string_view payload, SteadyTime now);
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::uint64_t seq;
    std::uint64_t hash;
    SteadyTime at;
  };
  static std::uint64_t hash(std::string_view topic, std::string_view payload);
  void expire(SteadyTime now);
  void drop_front();
  std::size_t capacity_;
  SteadyClock::duration ttl_;
  std::uint64_t next_seq_ = 0;
  std::deque<Entry> entries_;                                          // in send order
  std::unordered_map<std::uint64_t, std::deque<std::uint64_t>> live_;  // hash -> seqs
};

}  // namespace tern::bridge
