// Per-connection state of core::Broker: what lives exactly as long as one network
// connection (protocol version, keep-alive, topic aliases both ways, the client's limits,
// the will until the connection ends). Nothing here survives a reconnect; that is Session.
// Thread safety: plain data owned by Broker::Impl; not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/codec/packet.hpp"
#include "broker/core/actions.hpp"
#include "broker/core/broker.hpp"
#include "broker/core/ring.hpp"
#include "broker/core/types.hpp"

namespace tern::core {

enum class ConnPhase : std::uint8_t {
  AwaitConnect,  // opened; the first packet must be CONNECT [MQTT-3.1.0-1]
  Connected,     // CONNACK 0x00 sent; attached to a session
  Closing,       // CloseConnection emitted; waiting for net's on_closed
};

// Topic aliases the server assigns towards the client [MQTT-3.3.2-11]: each alias maps to
// one topic for the life of the connection. Aliases are handed out in order; once the
// client's Topic Alias Maximum is used up the oldest assignment is recycled round-robin,
// so the map never holds more than the client allowed. Created on the first PUBLISH that
// gets an alias, so a connection that receives nothing pays nothing for it.
struct OutboundAliases {
  std::unordered_map<std::string, std::uint16_t> by_topic;
  std::vector<std::string> topics;                // alias - 1 -> topic
  std::uint16_t cursor = 0;                       // next alias slot to recycle (0-based)
};

// A packet held back until the commit with `token` is reported (Broker::on_persisted):
// an acknowledgement that promises durability (PUBACK, PUBREC, PUBCOMP), or an outbound
// QoS 2 PUBLISH / PUBREL whose in-flight record must be on disk first (else a crash
// would deliver the message twice). Kept in send order.
struct DeferredAck {
  std::uint64_t token = 0;
  // Null for a bare PUBACK / PUBREC / PUBCOMP (no properties), the common case: it is
  // built from the fields below when released, so a held acknowledgement costs ~24 bytes
  // instead of a ~1 KB Action moved in and out of the ring.
  std::unique_ptr<Action> action;
  std::uint16_t packet_id = 0;
  codec::PacketType type = codec::PacketType::Puback;
  std::uint8_t reason_code = 0;
};

// Token buckets for BrokerOptions::publish_rate / publish_bytes_rate, each holding one
// second's worth and refilled from the time of the last PUBLISH. Allocated on a network
// client's first PUBLISH, and only while a limit is set.
struct RateBuckets {
  double messages = 0;
  double bytes = 0;
  Time refilled{};
};

// Fields are ordered so the small ones fill what would otherwise be padding: this struct
// exists once per open connection, and 200 -> 160 bytes drops it two malloc size classes.
struct ConnectionState {
  ConnId id = 0;
  ConnPhase phase = ConnPhase::AwaitConnect;
  codec::ProtocolVersion version = codec::ProtocolVersion::v5;
  // min(the client's Topic Alias Maximum, ours): how many outbound aliases we may assign.
  std::uint16_t aliases_out_maximum = 0;
  // QoS 1/2 PUBLISH packets received on this connection and not yet completed (QoS 1 is
  // answered at once, so this counts QoS 2 awaiting PUBREL). Checked against our Receive
  // Maximum; per connection because the client's send quota restarts with each one.
  std::uint32_t inbound_unacked = 0;
  SessionKey session = 0;  // set once connected
  // The client id while no session is attached (before CONNECT is accepted, for events on
  // a refusal, and again after the connection ends); null while Connected, when the
  // Session's copy is the one (Broker::Impl::client_id_of): one copy per client, not two,
  // and 8 bytes here instead of a 32-byte string.
  std::unique_ptr<std::string> client_id;

  Time opened_at{};
  Time last_packet{};        // keep-alive counts from the last packet received
  std::uint16_t keep_alive = 0;  // effective seconds (after Server Keep Alive), 0 = off

  // MQTT 5 properties the client sent in CONNECT.
  bool problem_info = true;                 // Request Problem Information [MQTT-3.1.2-29]
  // Broker::set_connect_auth: the transport's verdict on the coming CONNECT (see identity).
  AuthVerdict auth_verdict = AuthVerdict::Accepted;
  std::uint32_t client_max_packet_size = 0;      // 0 = no limit beyond the protocol's
  std::uint16_t client_receive_maximum = 65535;  // bounds our outbound in-flight window
  bool ack_listed = false;  // in Broker::Impl::ack_conns
  bool clean_start = false;  // as CONNECT asked (for Broker::client_infos)
  std::uint32_t connect_session_expiry = 0;      // as sent in CONNECT, for [MQTT-3.14.2-2]

  // Client -> server topic aliases: alias - 1 -> topic; created and sized on first use, at
  // most BrokerOptions::topic_alias_maximum entries. Boxed: most clients never use one.
  std::unique_ptr<std::vector<std::string>> aliases_in;
  std::unique_ptr<OutboundAliases> aliases_out;  // null until the first one is assigned

  // Who the client is (null: no username, listener 0), from Broker::set_connect_auth. It
  // moves to the Session when the CONNECT is accepted.
  std::shared_ptr<const ClientIdentity> identity;
  std::unique_ptr<RateBuckets> rate;  // null until needed (see RateBuckets)

  // Set for an internal client (Broker::on_open_internal); null for network clients.
  std::unique_ptr<InternalSessionOptions> internal;

  // Acknowledgements waiting for a commit, oldest first; null when none ever waited.
  std::unique_ptr<Ring<DeferredAck>> acks;

  // Until the connection ends or DISCONNECT 0x00. Boxed: a codec::Will is ~700 bytes.
  std::unique_ptr<codec::Will> will;

  // Timer bookkeeping (see TimerQueue): the deadline currently armed, max() if none.
  Time timer_armed = Time::max();
};

}  // namespace tern::core
