// The plain records tern_storage persists: sessions (with subscriptions, will, inbound QoS 2
// ids), queued messages, outbound in-flight flows, retained messages and the clock
// checkpoint. Write paths take views (so a caller serialises its own shared message
// without copying the payload); load paths return owning records.
// Thread safety: plain values; no shared state.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "broker/codec/packet.hpp"

namespace tern::storage {

// The broker clock: elapsed broker running time in milliseconds, continued across restarts
// by the rule in storage/clock.hpp. Every persisted point in time (message expiry, session
// expiry, a delayed will) is on this clock, never on the wall clock and never on a process's
// steady_clock (whose epoch changes at every boot). It has no now(): StorageClock maps it
// to and from the process's steady_clock.
struct BrokerClock {
  using rep = std::int64_t;
  using period = std::milli;
  using duration = std::chrono::duration<rep, period>;
  using time_point = std::chrono::time_point<BrokerClock>;
  static constexpr bool is_steady = true;
};
using BrokerTime = BrokerClock::time_point;

// A message as published, borrowed from the caller for the duration of a Batch call.
struct MessageView {
  std::string_view topic;
  std::string_view payload;
  std::uint8_t qos = 0;  // as published
  bool retain = false;   // as published
  // PUBLISH properties (may be null). Only those a PUBLISH may carry are stored (Table 2-4):
  // payload format, message expiry interval, content type, response topic, correlation
  // data, user properties (order kept [MQTT-3.3.2-18]). Topic Alias and Subscription
  // Identifiers are per connection / per delivery and are not stored [MQTT-3.3.2-7],
  // [MQTT-3.3.4-6]: per-delivery identifiers live in the queue / in-flight record.
  const codec::Properties* props = nullptr;
  std::optional<BrokerTime> expires_at;  // absolute, on the broker clock
  std::string_view origin_client_id;     // publisher, for No Local [MQTT-3.8.3-3]
};

// An owning message, as loaded.
struct StoredMessage {
  std::string topic;
  codec::Bytes payload;
  std::uint8_t qos = 0;
  bool retain = false;
  codec::Properties props;
  std::optional<BrokerTime> expires_at;
  std::string origin_client_id;

  MessageView view() const {
    return {topic, payload, qos, retain, &props, expires_at, origin_client_id};
  }
  bool operator==(const StoredMessage&) const = default;
};

// One subscription of a session: the filter as subscribed ($share/<group>/ included) and
// its options [MQTT-3.8.3.1].
struct SubscriptionRecord {
  std::string filter;
  std::uint8_t max_qos = 0;
  bool no_local = false;
  bool retain_as_published = false;
  std::uint8_t retain_handling = 0;
  std::uint32_t subscription_id = 0;  // 0 = none
  bool operator==(const SubscriptionRecord&) const = default;
};

// Everything of a session that is not a message: its key is the client id.
struct SessionRecord {
  std::string client_id;  // REQUIRES: no '\0' (MQTT strings never hold U+0000 [MQTT-1.5.4-2])
  codec::ProtocolVersion version = codec::ProtocolVersion::v5;  // of the last connection
  std::uint32_t expiry_interval = 0;  // seconds; 0xFFFFFFFF = never (3.1.2.11.2)
  // When the session ends if it stays offline; absent while connected or when it never
  // expires. Persisted so that a restart does not restart the countdown.
  std::optional<BrokerTime> expires_at;
  // The will of the last connection, its Will Delay Interval kept in
  // props.will_delay_interval [MQTT-3.1.3-9]. Only PUBLISH properties and the delay are
  // stored. Present while connected (so a broker crash still publishes it on restart,
  // the connection having been closed without DISCONNECT) and while a delayed will waits.
  std::optional<codec::Will> will;
  std::optional<BrokerTime> will_due;  // set once the connection closed and the delay runs
  std::vector<SubscriptionRecord> subscriptions;
  // Inbound QoS 2 packet ids whose PUBREC was sent and PUBREL not yet received
  // [MQTT-4.3.3-9..11]: a resent PUBLISH with one of them must not be routed twice.
  std::vector<std::uint16_t> inbound_qos2;
  bool operator==(const SessionRecord&) const = default;
};

// How a message is delivered to one session: QoS min(published, granted), the RETAIN flag
// to send, and the matching subscriptions' identifiers [MQTT-3.3.4-3].
struct Delivery {
  std::uint8_t qos = 0;
  bool retain = false;
  std::span<const std::uint32_t> subscription_ids;
};

// One entry of a session's FIFO queue, as loaded. `seq` orders the queue; the caller
// assigns it (strictly increasing per client; QueueInfo::last_seq gives where to resume).
struct QueueEntry {
  std::uint64_t seq = 0;
  std::uint8_t qos = 0;
  bool retain = false;
  std::vector<std::uint32_t> subscription_ids;
  StoredMessage message;
  bool operator==(const QueueEntry&) const = default;
};

// What load() tells about a queue without reading it into memory.
struct QueueInfo {
  std::uint64_t count = 0;
  std::uint64_t bytes = 0;      // sum of topic + payload sizes (as core counts them)
  std::uint64_t first_seq = 0;  // valid when count > 0
  std::uint64_t last_seq = 0;   // valid when count > 0
};

// Sender-side QoS state of an outbound flow [MQTT-4.3.2], [MQTT-4.3.3].
enum class InflightStage : std::uint8_t {
  await_puback = 0,   // QoS 1 PUBLISH sent
  await_pubrec = 1,   // QoS 2 PUBLISH sent
  await_pubcomp = 2,  // PUBREC received, PUBREL sent: only the PUBREL is resent
};

// An outbound in-flight flow, keyed by (client id, packet id). `order` is the caller's
// send-order counter: packet ids wrap round-robin, and on reconnect unacknowledged
// PUBLISH and PUBREL must be resent in their original order [MQTT-4.4.0-1], so load()
// returns a session's flows sorted by `order`.
struct InflightInfo {
  std::uint16_t packet_id = 0;  // REQUIRES: != 0 [MQTT-2.2.1-3]
  std::uint64_t order = 0;
  InflightStage stage = InflightStage::await_puback;
  Delivery delivery;
};

struct InflightRecord {
  std::uint16_t packet_id = 0;
  std::uint64_t order = 0;
  InflightStage stage = InflightStage::await_puback;
  std::uint8_t qos = 1;
  bool retain = false;
  std::vector<std::uint32_t> subscription_ids;
  // Absent when the writer left it out (allowed for await_pubcomp: no PUBLISH is resent,
  // and not rewriting the payload on PUBREC saves flash).
  std::optional<StoredMessage> message;
  bool operator==(const InflightRecord&) const = default;
};

// Wall-clock time in milliseconds since the Unix epoch. Only the clock rule reads it.
using WallTime = std::chrono::sys_time<std::chrono::milliseconds>;

// The clock checkpoint (meta/clock): the broker clock and the wall clock at one instant.
struct ClockRecord {
  BrokerTime broker{};
  WallTime wall{};
  bool operator==(const ClockRecord&) const = default;
};

}  // namespace tern::storage
