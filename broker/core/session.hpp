// Session state of core::Broker: everything that survives a reconnect [MQTT-4.1.0]:
// the client identifier, subscriptions, outbound in-flight flows, inbound QoS 2 ids
// awaiting PUBREL, the queue of messages not yet sent, the expiry interval and a delayed
// will. Plain data so a storage layer can persist and restore it; the few runtime-only
// fields are marked. Thread safety: owned by Broker::Impl; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/codec/packet.hpp"
#include "broker/core/broker.hpp"
#include "broker/core/inflight.hpp"
#include "broker/core/ring.hpp"
#include "broker/core/types.hpp"

namespace tern::core {

struct ConnectionState;

// A message waiting for its turn to be sent to one session (offline, or beyond the
// in-flight window). The message itself is shared, never copied per subscriber.
struct QueuedMessage {
  MessagePtr msg;
  std::uint8_t qos = 0;   // delivery QoS: min(published, subscription)
  bool retain = false;    // the RETAIN flag to send
  // The AccessPolicy generation (Broker::Impl::policy_epoch) under which may_receive
  // allowed it for this session; 0 = not asked yet (no identity when it was queued, or read
  // back from disk). drain() asks again unless it is the current one.
  std::uint32_t acl_epoch = 0;
  std::vector<std::uint32_t> subscription_ids;
  std::uint64_t seq = 0;  // its key in the session's stored queue; 0 when not stored
};

struct QueueLimits {
  std::size_t max_messages = 0;
  std::size_t max_bytes = 0;
  bool drop_oldest = true;  // else drop the newest (the one being added)
};

// RAM held by messages in session queues, across all sessions (BrokerOptions::
// memory_budget): each Message counted once (Message::size_bytes()) while at least one
// queue holds it, however many queues share it. Owned by Broker::Impl.
struct QueueMemory {
  std::uint64_t bytes = 0;
};

// Bounded FIFO of QueuedMessage, counted in messages and in Message::size_bytes(). Holds no
// heap memory while empty (an idle session's queue costs only its inline fields).
class MessageQueue {
 public:
  MessageQueue() = default;
  ~MessageQueue() { clear(); }  // gives its messages' bytes back to the meter
  MessageQueue(const MessageQueue&) = delete;
  MessageQueue& operator=(const MessageQueue&) = delete;

  // Messages held from now on are counted in `meter` (null: not counted).
  // REQUIRES: empty(); `meter` outlives the queue.
  void set_meter(QueueMemory* meter) { meter_ = meter; }

  // Adds m at the back, dropping per the limits' policy when full. Returns how many
  // messages were dropped (the new one included when it was refused); sets `accepted`.
  // on_dropped(const MessagePtr&, bool oldest) is called for each dropped message: an
  // old one taken off the head to make room, or (oldest false) the refused new one.
  template <class F>
  std::size_t push(QueuedMessage&& m, const QueueLimits& limits, bool& accepted,
                   F&& on_dropped);
  std::size_t push(QueuedMessage&& m, const QueueLimits& limits, bool& accepted) {
    return push(std::move(m), limits, accepted, [](const MessagePtr&, bool) {});
  }

  bool empty() const { return items_.empty(); }
  std::size_t size() const { return items_.size(); }
  std::size_t bytes() const { return bytes_; }
  // Queued QoS 0 messages: a new QoS 0 message must not overtake them [MQTT-4.6.0-6].
  std::size_t qos0_count() const { return qos0_; }

  QueuedMessage& front() { return items_.front(); }
  // REQUIRES: !empty().
  QueuedMessage pop_front();

  // Removes messages whose expiry is at or before `now` [MQTT-3.3.2-5], calling
  // on_removed(const QueuedMessage&) for each; returns how many.
  template <class F>
  std::size_t erase_expired(Time now, F&& on_removed);
  std::size_t erase_expired(Time now) {
    return erase_expired(now, [](const QueuedMessage&) {});
  }
  // Earliest expiry among queued messages (a lower bound: popped entries are not
  // subtracted until the next erase_expired), nullopt if none expires.
  std::optional<Time> earliest_expiry() const {
    if (earliest_expiry_ == Time::max()) return std::nullopt;
    return earliest_expiry_;
  }

  void clear();
  const Ring<QueuedMessage>& items() const { return items_; }

 private:
  void note_removed(const QueuedMessage& m);

  Ring<QueuedMessage> items_;
  QueueMemory* meter_ = nullptr;
  std::size_t bytes_ = 0;
  std::size_t qos0_ = 0;
  // Time::max() when none expires: 8 bytes instead of an optional's 16, which keeps an
  // idle Session one malloc size class smaller.
  Time earliest_expiry_ = Time::max();
};

template <class F>
std::size_t MessageQueue::push(QueuedMessage&& m, const QueueLimits& limits, bool& accepted,
                               F&& on_dropped) {
  const std::size_t size = m.msg->size_bytes();
  accepted = false;
  // A message that can never fit is refused whatever the policy.
  if (limits.max_messages == 0 || size > limits.max_bytes) {
    on_dropped(m.msg, false);
    return 1;
  }
  std::size_t dropped = 0;
  while (items_.size() + 1 > limits.max_messages || bytes_ + size > limits.max_bytes) {
    if (!limits.drop_oldest) {
      on_dropped(m.msg, false);
      return 1;
    }
    const QueuedMessage old = pop_front();
    on_dropped(old.msg, true);
    ++dropped;
  }
  bytes_ += size;
  if (m.qos == 0) ++qos0_;
  if (meter_ && m.msg->queue_refs.n++ == 0) meter_->bytes += size;
  if (m.msg->expires_at && *m.msg->expires_at < earliest_expiry_)
    earliest_expiry_ = *m.msg->expires_at;
  items_.push_back(std::move(m));
  accepted = true;
  return dropped;
}

template <class F>
std::size_t MessageQueue::erase_expired(Time now, F&& on_removed) {
  std::optional<Time> earliest;
  const std::size_t n = items_.erase_if([&](const QueuedMessage& m) {
    const auto& exp = m.msg->expires_at;
    if (exp && *exp <= now) {
      on_removed(m);
      note_removed(m);
      return true;
    }
    if (exp && (!earliest || *exp < *earliest)) earliest = exp;
    return false;
  });
  earliest_expiry_ = earliest.value_or(Time::max());
  return n;
}

// The persistence state of a session whose record is stored (see persist.cpp). Boxed in
// Session: sessions that are never stored (expiry 0, or persistence off) pay 8 bytes.
struct DurableState {
  std::uint64_t next_seq = 1;    // key of the next queue entry
  std::uint64_t next_order = 1;  // send-order stamp of the next in-flight flow
  // The queue's tail that is on disk only (past the RAM window), always newer than every
  // message in RAM. disk_from: the lowest seq it may hold (read_queue starts there).
  std::uint64_t disk_count = 0;
  std::uint64_t disk_bytes = 0;
  std::uint64_t disk_from = 0;
  // Token of the request that appended the newest disk-only entry: until it is durable a
  // read may find fewer entries than disk_count (they are still in the committer).
  std::uint64_t spill_token = 0;
  bool refill_waiting = false;  // a read found nothing yet; retried on the next commit
};

// The queue policy of an internal session and its drop counters (SessionStatus).
struct SessionPolicy {
  InternalSessionOptions opts;
  std::uint64_t dropped_oldest = 0;
  std::uint64_t dropped_newest = 0;
  std::uint64_t rejected = 0;
  std::uint64_t dropped_qos0 = 0;
};

// A will waiting for its Will Delay Interval [MQTT-3.1.3-9].
struct PendingWill {
  codec::Will will;
  Time due{};
};

// A session's subscriptions: filter (as subscribed, $share prefix included) -> options;
// mirrors the topic tree. The tree is allocated with the first subscription and freed with
// the last: an empty std::map is still 48 bytes, and many sessions (publish-only sensors)
// never subscribe. A tree, not a hash map: no bucket array, and it is only used by
// SUBSCRIBE/UNSUBSCRIBE and session teardown, never when routing.
class Subscriptions {
 public:
  using Map = std::map<std::string, SubOptions, std::less<>>;

  std::size_t size() const { return map_ ? map_->size() : 0; }
  bool empty() const { return size() == 0; }
  bool contains(std::string_view filter) const { return map_ && map_->contains(filter); }
  std::pair<Map::iterator, bool> insert_or_assign(const std::string& filter, SubOptions o) {
    if (!map_) map_ = std::make_unique<Map>();
    return map_->insert_or_assign(filter, o);
  }
  // 1 if `filter` was there, else 0.
  std::size_t erase(std::string_view filter);
  Map::const_iterator begin() const { return map_ ? map_->cbegin() : none().cbegin(); }
  Map::const_iterator end() const { return map_ ? map_->cend() : none().cend(); }

 private:
  static const Map& none();  // iterators of an absent map
  std::unique_ptr<Map> map_;
};

struct Session {
  SessionKey key = 0;
  std::string client_id;
  codec::ProtocolVersion version = codec::ProtocolVersion::v5;  // of the last connection
  // Seconds after the connection closes; 0 = ends with the connection, 0xFFFFFFFF = never.
  std::uint32_t expiry_interval = 0;

  Subscriptions subscriptions;
  InflightWindow inflight;
  // Inbound QoS 2 packet ids whose PUBREC was sent and PUBREL not yet received, sorted
  // [MQTT-4.3.3-10] method A: the message was routed on PUBLISH; a duplicate PUBLISH with
  // one of these ids is acknowledged again but not routed twice. Boxed, and null while
  // empty (most of the time): 8 bytes per session instead of 24.
  std::unique_ptr<std::vector<std::uint16_t>> inbound_qos2;
  MessageQueue queue;
  // Boxed: a codec::Will (with its Properties) is ~700 bytes, and few sessions have one.
  std::unique_ptr<PendingWill> pending_will;
  // Internal sessions only (a bridge's queue); null for network clients.
  std::unique_ptr<SessionPolicy> policy;
  // Set once the session's record is stored; see DurableState.
  std::unique_ptr<DurableState> dur;

  // Runtime only (rebuilt, not persisted):
  // Who the session's last connection was, for AccessPolicy checks while it is offline
  // (queueing) and online (delivery, will). Null only for a session restored from storage
  // that no client has connected to since (identities are not persisted): its queued
  // messages are then checked when they are about to be sent (see Impl::drain).
  std::shared_ptr<const ClientIdentity> identity;
  ConnectionState* live = nullptr;   // the live connection's state, null when offline
  Time expires_at = Time::max();     // when offline with a finite expiry interval, else max
  Time timer_armed = Time::max();    // see TimerQueue
  std::uint64_t match_epoch = 0;     // routing scratch: last publish that matched it
  std::uint32_t match_slot = 0;      // index of its merged delivery for that publish
  // Sum of the filters' lengths, for the quota; saturates (a quota above 4 GiB is no limit).
  std::uint32_t subscription_bytes = 0;

  void add_subscription_bytes(std::size_t n);
  void remove_subscription_bytes(std::size_t n);

  std::vector<std::uint16_t> inbound_qos2_ids() const;
  // Replaces them (restore): sorted and deduplicated here.
  void set_inbound_qos2(std::vector<std::uint16_t> ids);
  bool has_inbound_qos2(std::uint16_t id) const;
  void add_inbound_qos2(std::uint16_t id);
  bool remove_inbound_qos2(std::uint16_t id);
};

}  // namespace tern::core
