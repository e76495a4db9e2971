// The sans-IO broker: every MQTT rule about sessions, QoS, retained messages, wills,
// keep-alive, expiry and flow control lives here. Events (packets from connections, the
// current monotonic time) go in; actions (packets to send, connections to close) come out.
// It owns all sessions, the subscription tree and the retained store.
// Thread safety: not thread-safe; the caller serialises every call (net holds one mutex,
// or runs it on a single loop). It never blocks, sleeps or touches a socket or clock.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/codec/codec.hpp"
#include "broker/core/actions.hpp"
#include "broker/core/persistence.hpp"
#include "broker/core/types.hpp"

namespace tern::core {

// What a full session queue does with one more message. Reject (internal sessions only,
// e.g. a bridge) also answers a v5 publisher's PUBACK/PUBREC with 0x97 Quota exceeded.
enum class OverflowPolicy : std::uint8_t { DropOldest, DropNewest, Reject };

// Client ids with this prefix belong to the broker's own internal sessions (bridges):
// a network client using one is refused with Client Identifier not valid.
inline constexpr std::string_view kInternalClientPrefix = "$bridge/";

// Topic trees only the broker publishes to: its own state ($SYS/...) and dead letters
// ($DLQ/...). A PUBLISH or will from any client (bridges included) to one of them is
// refused like an ACL denial (counted in denied_system_topic); subscribing is allowed,
// governed by the AccessPolicy. Leading wildcards never match them [MQTT-4.7.2-1].
inline constexpr std::string_view kSysTopicRoot = "$SYS";
inline constexpr std::string_view kDeadLetterRoot = "$DLQ";
// True for "$SYS", "$DLQ" and every topic below them.
bool is_broker_topic(std::string_view topic);
// True for "$DLQ" and every topic below it (a dead letter is never dead-lettered again).
bool is_dead_letter_topic(std::string_view topic);

// Why core dropped a message meant for a receiver: the <reason> level of the dead-letter
// topic $DLQ/<reason>/<original topic> and its dlq_reason user property.
enum class DropReason : std::uint8_t {
  QueueFull,       // a session queue overflowed (either policy, online or offline)
  MemoryBudget,    // not queued: BrokerOptions::memory_budget reached
  Expired,         // Message Expiry Interval passed before delivery [MQTT-3.3.2-5]
  TooLarge,        // over the receiver's Maximum Packet Size [MQTT-3.1.2-25]
  Rejected,        // an MQTT 5 receiver answered PUBACK/PUBREC with a reason >= 0x80
  BridgeOverflow,  // a bridge's durable queue (an internal session) overflowed
};
// "queue_full", "memory_budget", "expired", "too_large", "rejected", "bridge_overflow".
std::string_view to_string(DropReason r);

// An internal session (Broker::on_open_internal): a client the broker runs itself, such as
// the local side of a bridge. It speaks MQTT 5 through on_packet like any client, but its
// queue has its own bounds and policy, and drops are counted per reason.
struct InternalSessionOptions {
  std::size_t max_queued_messages = 100000;
  std::size_t max_queued_bytes = 64u << 20;
  OverflowPolicy overflow = OverflowPolicy::DropOldest;
  bool queue_qos0_offline = true;
  // Messages published by an internal client whose id starts with this prefix are never
  // delivered to this session: a bridge does not send back what came from its remote.
  std::string loop_prefix;
  // Messages matching one of these filters are not delivered to this session (a bridge's
  // lower-priority class skips what a higher class already carries, so an overlap such as
  // "alarms/#" high plus "#" normal sends each message upstream once).
  std::vector<std::string> exclude_filters;
  // Names this session in dead letters of its drops (dlq_client): a bridge sets its name.
  // Empty = the session's client id.
  std::string dead_letter_name;
};

// Broker::session_status: the state of one session's delivery, for bridge status/metrics.
struct SessionStatus {
  bool online = false;
  std::uint64_t queued = 0;   // RAM window + disk
  std::uint64_t on_disk = 0;
  std::uint64_t inflight = 0;
  std::optional<Time> oldest;  // when the oldest undelivered message arrived (or was loaded)
  // Internal sessions only:
  std::uint64_t dropped_oldest = 0;
  std::uint64_t dropped_newest = 0;
  std::uint64_t rejected = 0;
  std::uint64_t dropped_qos0 = 0;
};

// ---- authentication and authorization
// Net authenticates a CONNECT (password file, client certificate) outside the broker lock,
// then tells core its verdict (Broker::set_connect_auth) just before handing over the
// packet; core answers with the code of the client's protocol version.
enum class AuthVerdict : std::uint8_t {
  Accepted,
  BadCredentials,   // v5 CONNACK 0x86 Bad User Name or Password; 3.1.1 0x04
  NotAuthorized,    // v5 CONNACK 0x87 Not authorized; 3.1.1 0x05
  VersionRefused,   // the listener does not accept this version: v5 0x84, 3.1.1 0x01
};

// Who a connection is, for authorization decisions.
struct ClientIdentity {
  std::optional<std::string> username;  // authenticated (or the certificate's CN)
  std::uint16_t listener = 0;           // index of the listener it came in on
};

// Authorization rules (auth::Acl implements them). While one is set, core asks it before
// accepting a PUBLISH (and a will at CONNECT), before granting each SUBSCRIBE filter, and
// before delivering each message (retained ones included) to a network client. Internal
// clients (bridges) are trusted and never asked. Called under the broker lock on the hot
// path: must be fast and must not block.
class AccessPolicy {
 public:
  virtual ~AccessPolicy() = default;
  virtual bool may_publish(const ClientIdentity& who, std::string_view client_id,
                           std::string_view topic) const = 0;
  // May `who` subscribe to `filter` (a topic filter, wildcards allowed, without any
  // $share/<group>/ prefix)? A grant may still be narrowed per message by may_receive.
  virtual bool may_subscribe(const ClientIdentity& who, std::string_view client_id,
                             std::string_view filter) const = 0;
  virtual bool may_receive(const ClientIdentity& who, std::string_view client_id,
                           std::string_view topic) const = 0;
};

// The dead-letter topic: when enabled, each message core drops for a receiver (see
// DropReason) is republished, not retained, to $DLQ/<reason>/<original topic> with the
// original payload, QoS, content type, payload format indicator and user properties, plus
// the user properties dlq_reason, dlq_client (the intended receiver's client id, or a
// bridge's name) and dlq_topic (the original topic). At most max_rate per second (a token
// bucket, burst max_rate); past it a drop is only counted (dead_letter_rate_limited).
// Dead letters are published after the event that dropped them, never from inside a
// delivery, and a dropped dead letter is not dead-lettered again.
struct DeadLetterOptions {
  bool enabled = false;
  std::uint32_t max_rate = 100;  // dead letters per second; 0 = none (only counted)
};

struct BrokerOptions {
  std::uint32_t max_packet_size = 1024 * 1024;  // ours, advertised to v5 clients
  std::uint16_t receive_maximum = 32;           // inbound QoS>0 in flight per client
  // Outbound in-flight window towards a client: min(its Receive Maximum, this); 3.1.1
  // clients state none. Larger than receive_maximum so that one busy subscriber (a
  // database writer fed by many publishers) is not paced by a PUBACK round trip every
  // few dozen messages; the messages are in its queue either way.
  std::uint16_t max_inflight_out = 256;
  std::uint16_t topic_alias_maximum = 64;       // aliases a client may set towards us
  std::uint16_t max_keepalive = 0;              // seconds; 0 = accept the client's
  bool retain_available = true;
  std::uint64_t max_retained_bytes = 64ull * 1024 * 1024;
  bool shared_subscriptions = true;
  bool wildcard_subscriptions = true;
  bool subscription_identifiers = true;
  std::uint8_t maximum_qos = 2;
  std::uint32_t session_expiry_default = 7200;  // seconds, for 3.1.1 clean_session=0
  std::uint32_t max_session_expiry = 0xFFFFFFFF; // cap on what a v5 client may ask
  std::size_t max_queued_messages = 10000;      // per offline/pending session queue
  std::size_t max_queued_bytes = 16 * 1024 * 1024;
  OverflowPolicy overflow = OverflowPolicy::DropOldest;
  bool queue_qos0_offline = false;
  // Per-session bounds on subscriptions, so one client cannot grow the topic tree without
  // limit; a SUBSCRIBE past them is refused per filter (v5 0x97 Quota exceeded, 3.1.1
  // 0x80). Counted in filters and in filter bytes. 0 = unlimited.
  std::size_t max_subscriptions_per_session = 10000;
  std::size_t max_subscription_bytes_per_session = 1024 * 1024;
  Duration connect_timeout = std::chrono::seconds(10);  // CONNECT must arrive by then
  // Per-connection publish rate limits (token buckets holding one second's worth): a
  // client over either is disconnected (v5: DISCONNECT 0x96 Message rate too high).
  // 0 = unlimited.
  double publish_rate = 0;                // PUBLISH packets per second
  std::uint64_t publish_bytes_rate = 0;   // payload bytes per second
  // Topic names and filters longer than this (bytes) or with more levels are refused
  // (PUBLISH: v5 0x90 Topic Name invalid; SUBSCRIBE: 0x8F / 3.1.1 0x80). 0 = unlimited.
  std::size_t max_topic_length = 0;
  std::size_t max_topic_levels = 0;
  // All messages queued for sessions and held in RAM, together (payload + topic bytes);
  // past it a message is not queued for an offline session (counted in
  // dropped_memory_budget) or, with persistence, kept on disk only. 0 = unlimited.
  std::uint64_t memory_budget = 0;
  DeadLetterOptions dead_letter;
};

// Counters for logs, $SYS and metrics. Monotonic unless named as a gauge.
struct BrokerStats {
  std::uint64_t clients_connected = 0;      // gauge
  std::uint64_t clients_maximum = 0;        // high-water mark of clients_connected
  std::uint64_t sessions = 0;               // gauge: online + offline persistent
  std::uint64_t subscriptions = 0;          // gauge
  std::uint64_t retained_messages = 0;      // gauge
  std::uint64_t queued_messages = 0;        // gauge: across all session queues
  std::uint64_t messages_received = 0;      // PUBLISH in
  std::uint64_t messages_sent = 0;          // PUBLISH out
  std::uint64_t bytes_received = 0;         // PUBLISH payload bytes in
  std::uint64_t bytes_sent = 0;             // PUBLISH payload bytes out
  std::uint64_t dropped_queue_full = 0;
  std::uint64_t dropped_expired = 0;
  std::uint64_t dropped_too_large = 0;      // exceeded a client's Maximum Packet Size
  std::uint64_t dropped_qos0_offline = 0;
  std::uint64_t dropped_retained_quota = 0; // retained not stored: max_retained_bytes
  std::uint64_t dropped_rejected = 0;       // refused by a full internal queue (Reject)
  std::uint64_t queued_on_disk = 0;         // gauge: queued messages outside the RAM window
  std::uint64_t acks_waiting = 0;           // gauge: acknowledgements waiting for a commit
  std::uint64_t storage_failures = 0;       // commits reported failed (on_persisted)
  std::uint64_t auth_refused = 0;           // CONNECTs refused by set_connect_auth
  std::uint64_t denied_publish = 0;         // PUBLISH (or will) refused by the AccessPolicy
  std::uint64_t denied_subscribe = 0;       // SUBSCRIBE filters refused by it
  std::uint64_t denied_receive = 0;         // deliveries it filtered out
  std::uint64_t rate_limited = 0;           // clients disconnected over a publish rate
  std::uint64_t topic_refused = 0;          // over max_topic_length / max_topic_levels
  std::uint64_t dropped_memory_budget = 0;  // not queued: memory_budget reached
  std::uint64_t queued_bytes = 0;           // gauge: bytes counted against memory_budget
  std::uint64_t dropped_rejected_by_client = 0;  // v5 PUBACK/PUBREC >= 0x80 from a receiver
  std::uint64_t denied_system_topic = 0;    // PUBLISH (or will) to $SYS/... or $DLQ/...
  std::uint64_t dead_lettered = 0;          // dead letters published to $DLQ/...
  std::uint64_t dead_letter_rate_limited = 0;  // drops not dead-lettered: over max_rate
  std::uint64_t system_published = 0;       // messages from Broker::publish_system
};

// A message the broker publishes itself (Broker::publish_system), e.g. $SYS/broker/uptime.
struct SystemMessage {
  std::string topic;  // a valid topic name (no wildcards), e.g. "$SYS/broker/uptime"
  codec::Bytes payload;
  std::uint8_t qos = 0;
  bool retain = false;
  // Payload format indicator, content type, user properties, message expiry interval,
  // response topic, correlation data. Topic alias and subscription identifiers are
  // ignored.
  codec::Properties props;
  // With persistence on, also write a retained message to the store. Off by default: a
  // $SYS tree republished every few seconds would wear the flash for state that is
  // rebuilt at every start anyway; the retained copy then lives in RAM only.
  bool store_retained = false;
};

// One session, for an admin listing (Broker::client_infos).
struct ClientInfo {
  std::string client_id;
  std::optional<std::string> username;  // of its (last) connection; none when anonymous
  std::uint16_t listener = 0;           // index of the listener it (last) came in on
  bool connected = false;
  bool internal = false;                // a broker-run session (a bridge's queue)
  codec::ProtocolVersion version = codec::ProtocolVersion::v5;  // of its last connection
  // Of the live connection (when connected): net adds its peer address and listener name.
  ConnId conn = 0;
  std::uint16_t keep_alive = 0;         // effective seconds; 0 = off (or offline)
  bool clean_start = false;             // as the live connection asked
  Time connected_since{};               // when the live connection opened
  std::uint32_t session_expiry_interval = 0;  // seconds; 0xFFFFFFFF = never
  std::optional<Time> expires_at;       // offline with a finite expiry
  std::uint64_t subscriptions = 0;
  std::uint64_t queued = 0;             // RAM window + disk
  std::uint64_t inflight = 0;
};

// A page of Broker::client_infos: sessions ordered by client id.
struct ClientPage {
  std::vector<ClientInfo> clients;
  std::uint64_t total = 0;  // sessions in all
};

class Broker {
 public:
  explicit Broker(BrokerOptions opts);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // A transport connection opened. CONNECT must follow within connect_timeout.
  void on_open(ConnId conn, Time now);
  // An internal client (see InternalSessionOptions) opened `conn`; it then sends CONNECT
  // (v5, a client id starting with kInternalClientPrefix) like a network client.
  void on_open_internal(ConnId conn, Time now, InternalSessionOptions opts);
  // A decoded packet arrived on `conn`.
  void on_packet(ConnId conn, codec::Packet&& packet, Time now);
  // The decoder rejected input on `conn`: core answers as the spec says (CONNACK with the
  // reason before CONNECT is accepted, DISCONNECT with the reason for v5 after it) and
  // closes only that connection [MQTT-4.13.1-1].
  void on_decode_error(ConnId conn, const codec::DecodeResult& error, Time now);
  // The transport closed (peer gone, I/O error, or after a CloseConnection). Without a
  // prior DISCONNECT 0x00 the will is published (possibly after its delay).
  void on_closed(ConnId conn, Time now);
  // Timers: keep-alive, will delay, session and message expiry, connect timeout.
  void on_tick(Time now);
  // Earliest time on_tick has work to do; nullopt when nothing is pending.
  std::optional<Time> next_deadline() const;
  // Server shutdown: v5 clients get DISCONNECT 0x8B; every connection is closed.
  void shutdown(Time now);

  // The transport's verdict on the CONNECT that `conn` sends next, and who it is. Without
  // a call a CONNECT is accepted with no identity (internal clients, tests). A refused
  // CONNECT is answered with the code for its version and closed [MQTT-3.2.2-6].
  void set_connect_auth(ConnId conn, AuthVerdict verdict, ClientIdentity identity);
  // Authorization from now on (null = everything allowed). Connected clients stay; their
  // existing subscriptions are filtered per message by may_receive (SIGHUP reload).
  void set_access_policy(std::shared_ptr<const AccessPolicy> policy);

  // Actions produced so far, in order. The caller executes and then clears them.
  ActionList& actions();

  // ---- persistence (optional; without it the broker keeps everything in RAM)
  // Turns persistence on: persistent sessions (expiry interval > 0) with their
  // subscriptions, will, inbound QoS 2 ids, queue and in-flight flows, and every retained
  // message, are written as PersistRequests. REQUIRES: called once, before any event.
  void enable_persistence(const PersistenceOptions& opts);
  // Loads the store's state through opts.store (after enable_persistence, before any
  // event): sessions come back offline with their expiry counting from the stored
  // deadline; sessions and messages that expired during the downtime are deleted; a will
  // whose connection the crash closed is scheduled as on a network failure
  // [MQTT-3.1.2-8]. Corruption is handled by the store (moved aside or returned).
  storage::Status restore(Time now, RestoreStats& stats);
  // Batches produced so far, in token order (the writes of all events since the last call
  // become one more). The caller commits them in that order, then clears the list, and
  // reports each token with on_persisted once durable. Call it after each round of
  // events: acknowledgements wait for the batch their event wrote into.
  std::vector<PersistRequest>& persist_requests();
  // The batch with `token` (and every earlier one) is durable, or failed. On success the
  // acknowledgements waiting for it are sent; on failure the connections waiting for it
  // are closed without them (v5: DISCONNECT 0x80), so their clients resend.
  void on_persisted(std::uint64_t token, const storage::Status& status, Time now);

  // Publishes a message from the broker itself, routed exactly like a client's PUBLISH:
  // stored or cleared as retained (when retain_available), delivered to every matching
  // subscription and shared group, queued for offline sessions, each delivery asked of the
  // AccessPolicy (may_receive). Not counted as received (system_published instead); the
  // $SYS/$DLQ protection does not apply. Like on_packet, the deliveries are appended to
  // actions() for the caller to execute. False (nothing published) when the topic is not
  // a valid topic name, the QoS is above 2, or a payload announced as UTF-8 is not.
  // Net: on loop 0 under the broker lock, then route actions() as after any event
  // (net::Server::publish_system does this).
  bool publish_system(SystemMessage msg, Time now);

  // Sessions (online and offline, internal ones included) ordered by client id, from
  // `offset`, at most `limit` of them (capped at kMaxClientPage), plus the total count.
  // O(sessions log limit) under the broker lock: meant for an admin endpoint, not for a
  // hot path.
  static constexpr std::size_t kMaxClientPage = 1000;
  ClientPage client_infos(std::size_t offset, std::size_t limit) const;

  const BrokerStats& stats() const;
  // nullopt when no session has this client id.
  std::optional<SessionStatus> session_status(std::string_view client_id) const;
  // Ends every offline internal session (kInternalClientPrefix) whose client id is not in
  // `keep`, with its queue and stored state: what a removed bridge or priority class left
  // behind would otherwise queue forever. Returns their client ids.
  std::vector<std::string> end_internal_sessions_except(const std::vector<std::string>& keep,
                                                        Time now);
  const BrokerOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::core
