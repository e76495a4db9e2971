// A min-heap of (time, owner) timer entries with lazy cancellation, so thousands of idle
// connections cost nothing per tick. Each owner (a connection, a session, the retained
// store) keeps the time it has armed; an entry whose time differs from its owner's armed
// time, or whose owner is gone, is stale and skipped. Deadlines that move later (a
// keep-alive refreshed by every packet) push nothing: the early entry fires, finds the
// deadline not yet due and re-arms once. Stale entries are compacted away when they
// outnumber live owners. Thread safety: plain data; not thread-safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "broker/core/types.hpp"

namespace tern::core {

enum class TimerOwner : std::uint8_t { Connection, Session, Retained };

// 16 bytes, not 24: the owner rides in the top bits of the id. Connection ids keep bit 62
// (internal clients) and leave bit 63 clear; session keys count up from 1 and never reach
// bit 62. So: bit 63 clear = a connection; set = a session, or with bit 62 also set, the
// retained store.
struct TimerEntry {
  TimerEntry(Time t, TimerOwner o, std::uint64_t id)
      : at(t),
        tagged(o == TimerOwner::Connection ? id
               : o == TimerOwner::Session  ? id | kBit63
                                           : kBit63 | kBit62) {}
  TimerOwner owner() const {
    if ((tagged & kBit63) == 0) return TimerOwner::Connection;
    return (tagged & kBit62) == 0 ? TimerOwner::Session : TimerOwner::Retained;
  }
  std::uint64_t id() const {
    return (tagged & kBit63) == 0 ? tagged : (tagged & kBit62) == 0 ? tagged & ~kBit63 : 0;
  }
  bool operator>(const TimerEntry& o) const { return at > o.at; }

  Time at;
  std::uint64_t tagged;

 private:
  static constexpr std::uint64_t kBit63 = std::uint64_t{1} << 63;
  static constexpr std::uint64_t kBit62 = std::uint64_t{1} << 62;
};

class TimerQueue {
 public:
  // Arms `armed` (the owner's field) for `deadline` unless an entry at or before it is
  // already armed.
  void arm(Time& armed, Time deadline, TimerOwner owner, std::uint64_t id) {
    if (deadline >= armed) return;
    armed = deadline;
    heap_.push_back({deadline, owner, id});
    std::push_heap(heap_.begin(), heap_.end(), std::greater<>{});
  }

  std::optional<Time> next() const {
    if (heap_.empty()) return std::nullopt;
    return heap_.front().at;
  }

  // Removes and returns the earliest entry due at `now`, if any.
  std::optional<TimerEntry> pop_due(Time now) {
    if (heap_.empty() || heap_.front().at > now) return std::nullopt;
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<>{});
    TimerEntry e = heap_.back();
    heap_.pop_back();
    return e;
  }

  const TimerEntry* top() const { return heap_.empty() ? nullptr : &heap_.front(); }
  void pop() {
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<>{});
    heap_.pop_back();
  }

  std::size_t size() const { return heap_.size(); }

  // Drops entries for which live(entry) is false. Call when size() is well above the
  // number of owners; O(n).
  template <class Live>
  void compact(Live&& live) {
    std::erase_if(heap_, [&](const TimerEntry& e) { return !live(e); });
    std::make_heap(heap_.begin(), heap_.end(), std::greater<>{});
  }

 private:
  std::vector<TimerEntry> heap_;
};

}  // namespace tern::core
