// Broker::Impl, the private state shared by broker.cpp and the per-packet handler files
// (handle_*.cpp, outbound.cpp, will.cpp). Owns connections, sessions, the subscription
// tree, the retained store, the timer heap and the pending action list.
// Thread safety: none; Broker's caller serialises every call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/codec/codec.hpp"
#include "broker/core/actions.hpp"
#include "broker/core/broker.hpp"
#include "broker/core/connection_state.hpp"
#include "broker/core/retained.hpp"
#include "broker/core/session.hpp"
#include "broker/core/timer_queue.hpp"
#include "broker/core/topic_tree.hpp"

namespace tern::core {

using codec::ProtocolVersion;
using codec::ReasonCode;
using EventKind = ConnectionEvent::Kind;

constexpr std::uint32_t kExpiryNever = 0xFFFFFFFF;

inline std::uint8_t rc(ReasonCode r) { return static_cast<std::uint8_t>(r); }

// Whole seconds left until `at`, rounded up, as sent in Message Expiry Interval
// [MQTT-3.3.2-6]; 0 once passed.
inline std::uint32_t seconds_left(Time at, Time now) {
  if (at <= now) return 0;
  const auto left = at - now;
  const auto secs = std::chrono::ceil<std::chrono::seconds>(left).count();
  return secs > 0xFFFFFFFFll ? 0xFFFFFFFFu : static_cast<std::uint32_t>(secs);
}

struct Broker::Impl {
  explicit Impl(BrokerOptions o);

  BrokerOptions opts;
  BrokerStats stats;
  ActionList actions;
  // RAM of queued messages, against opts.memory_budget. Declared before `sessions`, whose
  // queues give their bytes back to it when destroyed.
  QueueMemory queue_mem;

  TopicTree tree;
  RetainedStore retained;
  Time retained_armed = Time::max();

  // Held by value: the map's nodes keep their address (find_conn, Session::live and the
  // by_client_id views rely on that), and one allocation per entry instead of two saves
  // ~40 bytes per connection.
  std::unordered_map<ConnId, ConnectionState> conns;
  std::unordered_map<SessionKey, Session> sessions;
  // find_conn / find_session remember their last hits: a read's packets all come from one
  // connection, whose session publishes to the same few sessions (a fan-in: one), so
  // most lookups skip the hash (a division by the bucket count). Two sessions are kept,
  // the publisher's and the receiver's. Cleared by forget_conn / forget_session, the only
  // ways an entry leaves its map.
  struct SessionHit {
    SessionKey key = 0;
    Session* s = nullptr;
  };
  ConnId last_conn_id = 0;
  ConnectionState* last_conn = nullptr;
  SessionHit session_hits[2];
  unsigned session_evict = 0;  // the hit to replace next: the one used least recently
  void forget_conn(ConnId id) {
    if (last_conn_id == id) last_conn = nullptr;
    conns.erase(id);
  }
  void forget_session(SessionKey key) {
    for (SessionHit& h : session_hits) {
      if (h.key == key) h.s = nullptr;
    }
    sessions.erase(key);
  }
  // Keyed by a view of the Session's own client_id (stable: map nodes stay put and the id
  // never changes), so the id is stored once per session rather than twice: at 10,000 idle
  // clients that is ~50 bytes each. create_session and destroy_session keep the two in step.
  std::unordered_map<std::string_view, SessionKey> by_client_id;
  SessionKey next_session_key = 1;
  std::uint64_t assigned_ids = 0;
  TimerQueue timers;

  // Routing scratch, reused across publishes so fan-out does not allocate per message.
  struct Target {
    Session* session = nullptr;
    std::uint8_t qos = 0;
    bool retain_as_published = false;
    std::vector<std::uint32_t> ids;
  };
  std::vector<Target> targets;
  std::size_t target_count = 0;
  std::vector<Target> shared_targets;
  std::size_t shared_count = 0;
  std::uint64_t match_epoch = 0;
  std::vector<MessagePtr> retained_scratch;

  // ---- security and limits (security.cpp)
  // Authorization; null = everything allowed, and then no check costs more than this test.
  std::shared_ptr<const AccessPolicy> access;
  // Bumped by every set_access_policy (never 0): a queued message allowed under an older
  // policy is asked again before it is sent (QueuedMessage::acl_epoch).
  std::uint32_t policy_epoch = 1;
  // The identity of clients that connect without set_connect_auth (or with no username on
  // listener 0), shared so that such sessions allocate nothing for it.
  std::shared_ptr<const ClientIdentity> anonymous;

  // ---- persistence (persist.cpp); all inert while `persist` is empty
  std::optional<PersistenceOptions> persist;
  storage::Batch batch;                  // writes of the event being handled
  std::vector<PersistRequest> requests;  // flushed batches, for the caller to commit
  std::uint64_t next_token = 1;          // token of `batch` once flushed
  std::uint64_t durable_token = 0;       // every request up to it is durable
  std::vector<ConnId> ack_conns;         // connections with deferred acknowledgements
  std::vector<SessionKey> refill_waiters;  // stored queues waiting for a commit to drain
  std::deque<std::pair<std::uint64_t, std::size_t>> pending_requests;
  std::size_t pending_bytes = 0;
  std::size_t event_mark = 0;  // batch.op_count() when the current event began
  bool route_rejected = false;  // a Reject queue refused the message being routed
  Time last_now{};              // time of the latest event (stamps reloaded messages)

  // ---- dead letters (dead_letter.cpp)
  // Drops collected during the event being handled; published once it is done
  // (flush_dead_letters), never from inside a delivery loop. At most one token bucket's
  // worth per event: bounded by opts.dead_letter.max_rate.
  struct PendingDeadLetter {
    DropReason reason = DropReason::QueueFull;
    MessagePtr msg;
    std::string client;  // the intended receiver (or a bridge's name)
  };
  std::vector<PendingDeadLetter> dead_letters;
  double dlq_tokens = 0;
  Time dlq_refilled{};
  bool dlq_started = false;

  // ---- lookups (broker.cpp)
  ConnectionState* find_conn(ConnId id);
  // The client id of c: its session's while Connected, else its own (ConnectionState).
  const std::string& client_id_of(const ConnectionState& c) const;
  Session* find_session(SessionKey key);
  Session* find_session(const std::string& client_id);
  ConnectionState* online_conn(const Session& s);  // null when offline

  // ---- output (broker.cpp)
  // Packets to c keep their order: while something waits for a commit on c (see
  // send_held), later packets queue behind it.
  void send(ConnectionState& c, codec::Packet&& p);
  bool queue_behind(ConnectionState& c, Action& a);
  void event(const ConnectionState& c, EventKind kind, std::uint8_t reason, std::string detail);
  // Sets a Reason String on a v5 packet when allowed: always on CONNACK/DISCONNECT,
  // otherwise only if the client did not set Request Problem Information to 0
  // [MQTT-3.1.2-29]; never when it would push the packet past the client's Maximum
  // Packet Size [MQTT-3.1.2-25].
  // `base_size` bounds the packet's size without the reason string.
  void add_reason(const ConnectionState& c, codec::Properties& props, std::string_view text,
                  bool connack_or_disconnect, std::size_t base_size = 16) const;

  // ---- connection lifecycle (broker.cpp)
  // Server-side close: a v5 client past CONNECT gets DISCONNECT `reason` (when
  // send_disconnect), the connection is closed, the event logged, the session detached.
  void close(ConnectionState& c, ReasonCode reason, EventKind kind, std::string detail,
             bool send_disconnect, bool publish_will, Time now);
  // A protocol violation after CONNECT: DISCONNECT with the reason (v5) and close
  // [MQTT-4.13.1-1]; the will is published.
  void protocol_error(ConnectionState& c, ReasonCode reason, const char* detail, Time now);
  // Detaches the connection from its session: will, session expiry, gauges.
  void end_connection(ConnectionState& c, bool publish_will, Time now);
  void destroy_session(Session& s, Time now);
  Session& create_session(const std::string& client_id);

  // ---- timers (broker.cpp)
  void arm_conn(ConnectionState& c);
  void arm_session(Session& s);
  void arm_retained();
  void fire_conn(ConnectionState& c, Time now);
  void fire_session(Session& s, Time now);
  void fire_retained(Time now);
  void maybe_compact_timers();
  // True when the entry is still its owner's armed timer (not stale).
  bool timer_live(const TimerEntry& e);
  // Pops stale entries off the top so next_deadline() is exact; run by next_deadline().
  void prune_timers();

  // ---- persistence (persist.cpp)
  // True when s's state is written: persistence is on and the session outlives its
  // connection (expiry > 0) or has a stored record (kept up to date until it ends).
  bool durable(const Session& s) const {
    return persist && (s.dur || s.expiry_interval != 0);
  }
  storage::BrokerTime to_broker(Time t) const { return persist->clock.to_broker(t); }
  Time to_steady(storage::BrokerTime t) const { return persist->clock.to_steady(t); }
  storage::MessageView view(const Message& m) const;
  MessagePtr from_stored(storage::StoredMessage&& m) const;
  // Writes s's record (subscriptions, will, inbound QoS 2 ids, expiry). REQUIRES: durable(s).
  void persist_session(Session& s);
  // Sends an acknowledgement that promises durability, or holds it back until the
  // writes of this event (and earlier held-back ones on c) are committed.
  void send_ack(ConnectionState& c, codec::PacketType type, codec::PubAck&& ack);
  // Sends `a` once request `token` is durable (0: no write to wait for), and in any case
  // behind whatever already waits on c.
  void send_held(ConnectionState& c, Action&& a, std::uint64_t token);
  void defer(ConnectionState& c, std::uint64_t token, Action&& a);
  void hold(ConnectionState& c, DeferredAck&& d);
  // Writes handed out and not yet reported durable: (token, bytes), oldest first.
  bool storage_backlogged() const {
    return persist && pending_bytes + batch.byte_size() > persist->max_pending_bytes;
  }
  // Ends the event: the batch, if any, becomes a PersistRequest.
  void flush_batch();
  // Stored-queue bookkeeping for a durable session.
  void queue_removed(Session& s, const QueuedMessage& m);
  void put_flight(Session& s, OutboundFlight& f);  // sets f.token
  // The same for a new flow (its packet id has no record): see storage::Batch::add_inflight.
  void add_flight(Session& s, OutboundFlight& f);
  void durable_enqueue(Session& s, QueuedMessage&& m);
  // Pages disk-only queue entries into the RAM window; false when none could be read
  // (still in the committer: retried after the next on_persisted).
  bool refill(Session& s);
  std::size_t queued_total(const Session& s) const {
    return s.queue.size() + (s.dur ? s.dur->disk_count : 0);
  }
  void release_acks(Time now, std::uint64_t failed_token);

  // ---- security and limits (security.cpp)
  // Internal clients (bridges) are trusted: never asked about, never rate or topic limited.
  static bool trusted(const Session& s) {
    return s.policy != nullptr || s.client_id.starts_with(kInternalClientPrefix);
  }
  const ClientIdentity& identity_of(const Session& s) const {
    return s.identity ? *s.identity : *anonymous;
  }
  // Whom to ask about s's will when it is published; null = do not ask (trusted, or a
  // session restored from storage whose identity is unknown: its will was allowed at
  // CONNECT).
  const ClientIdentity* will_identity(const Session& s) const {
    return trusted(s) ? nullptr : s.identity.get();
  }
  // may_receive for a delivery to s. True when no policy is set, s is trusted or its
  // identity is not known yet (then drain asks before sending). Sets `epoch` to
  // policy_epoch when the policy was asked and allowed it. A denial is counted.
  // May s read m now? Like may_deliver, without counting or recording the epoch.
  bool may_read(const Session& s, const Message& m) const {
    return !access || trusted(s) || !s.identity ||
           access->may_receive(*s.identity, s.client_id, m.topic);
  }
  bool may_deliver(const Session& s, const Message& m, std::uint32_t& epoch) {
    if (!access) return true;
    return may_deliver_slow(s, m, epoch);
  }
  bool may_deliver_slow(const Session& s, const Message& m, std::uint32_t& epoch);
  // True when `topic` (a name, or a filter without its $share prefix) passes
  // max_topic_length / max_topic_levels.
  bool topic_within_limits(std::string_view topic) const {
    if (opts.max_topic_length == 0 && opts.max_topic_levels == 0) return true;
    return topic_within_limits_slow(topic);
  }
  bool topic_within_limits_slow(std::string_view topic) const;
  // Takes one PUBLISH of `payload_bytes` from c's buckets; false when over either rate.
  bool take_publish_tokens(ConnectionState& c, std::size_t payload_bytes, Time now);
  // memory_budget: whether queueing m in RAM stays within it (a message another queue
  // already holds costs nothing more).
  bool within_memory_budget(const Message& m) const {
    return opts.memory_budget == 0 || m.queue_refs.n > 0 ||
           queue_mem.bytes + m.size_bytes() <= opts.memory_budget;
  }

  // ---- packet handlers (handle_*.cpp)
  void handle_connect(ConnectionState& c, codec::Connect&& p, Time now);
  void refuse_connect(ConnectionState& c, ProtocolVersion v, std::uint8_t code,
                      std::string detail, Time now);
  void handle_publish(ConnectionState& c, codec::Publish&& p, Time now);
  void handle_puback(ConnectionState& c, const codec::PubAck& p, Time now);
  void handle_pubrec(ConnectionState& c, const codec::PubAck& p, Time now);
  void handle_pubrel(ConnectionState& c, const codec::PubAck& p, Time now);
  void handle_pubcomp(ConnectionState& c, const codec::PubAck& p, Time now);
  void handle_subscribe(ConnectionState& c, codec::Subscribe&& p, Time now);
  void handle_unsubscribe(ConnectionState& c, const codec::Unsubscribe& p, Time now);
  void handle_disconnect(ConnectionState& c, const codec::Disconnect& p, Time now);
  void handle_auth(ConnectionState& c, const codec::Auth& p, Time now);
  void handle_decode_error(ConnectionState& c, const codec::DecodeResult& e, Time now);

  // ---- routing (handle_publish.cpp)
  // Delivers msg to every matching subscription (merged per session) and shared group.
  void route(const MessagePtr& msg, Time now);
  // Stores or clears the retained message for msg->topic. False when storing would pass
  // max_retained_bytes (nothing stored; counted). `write`: also in the store (persistence).
  bool store_retained(const MessagePtr& msg, bool write = true);

  // ---- dead letters (dead_letter.cpp)
  // `msg`, meant for `client`, was dropped for `reason` (already counted under it):
  // collected for the dead-letter topic when enabled, within the rate, and not itself a
  // dead letter. Published by flush_dead_letters.
  void dead_letter(DropReason reason, std::string_view client, const MessagePtr& msg);
  void dead_letter(DropReason reason, const Session& s, const MessagePtr& msg) {
    if (!opts.dead_letter.enabled) return;  // the common case costs one test
    dead_letter(reason, s.policy && !s.policy->opts.dead_letter_name.empty()
                            ? std::string_view{s.policy->opts.dead_letter_name}
                            : std::string_view{s.client_id},
                msg);
  }
  // Publishes what dead_letter collected (run at the end of every event). Drops of the
  // dead letters themselves are not collected, so this ends.
  void flush_dead_letters();
  MessagePtr make_dead_letter(PendingDeadLetter& d);  // counts it in dead_lettered
  bool take_dead_letter_token(Time now);

  // ---- wills (will.cpp)
  // The connection ended without DISCONNECT 0x00: publish now or after the delay.
  void schedule_will(Session& s, codec::Will&& w, ProtocolVersion v, Time now);
  // `who`: whom to ask may_publish (null: not asked, see will_identity).
  void publish_will(const std::string& client_id, codec::Will&& w, const ClientIdentity* who,
                    Time now);

  // ---- outbound (outbound.cpp)
  void deliver(Session& s, const MessagePtr& msg, std::uint8_t qos, bool retain,
               std::span<const std::uint32_t> ids, Time now);
  void enqueue(Session& s, QueuedMessage&& m);
  // Sends queued messages while the in-flight window allows [MQTT-3.3.4-9].
  void drain(ConnectionState& c, Session& s, Time now);
  // On reconnect: resend unacknowledged PUBLISH (DUP=1) and PUBREL in original order
  // [MQTT-4.4.0-1].
  void resend_inflight(ConnectionState& c, Session& s, Time now);
  // Starts a QoS 1/2 flow; false when the message was discarded as too large.
  bool start_flight(ConnectionState& c, Session& s, QueuedMessage&& m, Time now);
  // Emits SendPublish unless the packet exceeds the client's Maximum Packet Size, in
  // which case it is discarded and counted [MQTT-3.1.2-25]; returns false then.
  // `held_until`: a PersistRequest token the packet must wait for (0 = none).
  bool send_publish(ConnectionState& c, const MessagePtr& msg, std::uint8_t qos, bool retain,
                    bool dup, std::uint16_t packet_id, std::span<const std::uint32_t> ids,
                    Time now, std::uint64_t held_until = 0);
  std::size_t window(const ConnectionState& c) const;
  QueueLimits queue_limits(const Session& s) const;
  // Counts one dropped message against s (per reason for internal sessions) and hands it
  // to the dead-letter topic: `oldest` when it left the queue's head to make room, else the
  // new message was refused.
  void count_drop(Session& s, bool oldest, const MessagePtr& msg);
};

// Around an entry point: records the event's time, marks where this event's writes start
// in the open batch (see send_ack) and, whichever path it returns by, publishes the dead
// letters the event collected (after the event, never inside its delivery loops). The
// batch stays open across events until the caller takes persist_requests(), so the
// packets of one socket read share one batch and one commit. Stale timers are popped by
// next_deadline(), once per round of events rather than per packet (maybe_compact_timers
// bounds them meanwhile).
template <class D>
struct EventScope {
  D& d;
  EventScope(D& dd, Time now) : d(dd) {
    d.event_mark = d.batch.op_count();
    d.last_now = now;
  }
  ~EventScope() {
    if (!d.dead_letters.empty()) d.flush_dead_letters();
  }
};

}  // namespace tern::core
