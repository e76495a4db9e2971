// What core asks the transport to do. Core appends actions while handling an event; the
// caller (net) drains them in order. Actions for one connection must be executed in order.
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "broker/codec/packet.hpp"
#include "broker/core/types.hpp"

namespace tern::core {

// Encode and send a control packet (CONNACK, SUBACK, PUBACK, DISCONNECT, ...).
struct SendPacket {
  ConnId conn = 0;
  codec::Packet packet;
  // The format to encode with. Core always sets it: it is the connection's version, or,
  // for a CONNACK refusing a CONNECT that failed to decode, the format the client can read.
  codec::ProtocolVersion version = codec::ProtocolVersion::v5;
};

// Send a PUBACK, PUBREC, PUBREL or PUBCOMP that carries no properties: the commonest
// packet after PUBLISH, kept to a few bytes (a SendPacket holds a whole ~1.2 KB Packet,
// which net would box on the heap for every acknowledgement).
struct SendAck {
  ConnId conn = 0;
  codec::PacketType type = codec::PacketType::Puback;
  std::uint8_t reason_code = 0;  // v5 only
  std::uint16_t packet_id = 0;
  codec::ProtocolVersion version = codec::ProtocolVersion::v5;
};

// Send a PUBLISH built from a shared message plus per-delivery fields (see
// codec::PublishView). The transport encodes it for the connection's protocol version.
struct SendPublish {
  ConnId conn = 0;
  MessagePtr msg;
  std::uint16_t packet_id = 0;
  std::uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  std::uint16_t topic_alias = 0;  // 0 = none
  bool omit_topic = false;        // alias already established: send an empty topic name
  std::vector<std::uint32_t> subscription_ids;
  std::optional<std::uint32_t> message_expiry_interval;  // remaining seconds
};

// Flush what was queued for the connection before this action, then close it.
struct CloseConnection {
  ConnId conn = 0;
};

// Something worth logging happened to a connection. Core does not log; net does.
struct ConnectionEvent {
  enum class Kind : std::uint8_t { Connected, Disconnected, Refused, ProtocolError, TakenOver };
  ConnId conn = 0;
  Kind kind = Kind::Connected;
  std::string client_id;
  std::uint8_t reason = 0;  // reason code (v5 numbering) where one applies
  std::string detail;       // short human text: "keep-alive timeout", "client DISCONNECT", ...
};

using Action = std::variant<SendPacket, SendPublish, CloseConnection, ConnectionEvent, SendAck>;

// A PUBACK, PUBREC, PUBREL or PUBCOMP packet of `type` (PUBACK for any other type).
inline codec::Packet ack_packet(codec::PacketType type, codec::PubAck&& ack) {
  switch (type) {
    case codec::PacketType::Pubrec:
      return codec::Pubrec{std::move(ack)};
    case codec::PacketType::Pubrel:
      return codec::Pubrel{std::move(ack)};
    case codec::PacketType::Pubcomp:
      return codec::Pubcomp{std::move(ack)};
    default:
      return codec::Puback{std::move(ack)};
  }
}

// The acknowledgement as a packet, for consumers that handle packets (the bridge's local
// sessions, tests); net encodes a SendAck directly.
inline codec::Packet to_packet(const SendAck& a) {
  codec::PubAck ack;
  ack.packet_id = a.packet_id;
  ack.reason_code = a.reason_code;
  return ack_packet(a.type, std::move(ack));
}
using ActionList = std::vector<Action>;

}  // namespace tern::core
