// Codec-internal: MQTT 5.0 properties (section 2.2.2). Decoding checks each property against
// the per-packet table (Table 2-4 / section 2.2.2.2) and the value rules of its packet;
// encoding writes whichever properties are set, through any wire writer.
// Thread safety: pure functions. Not part of the public codec interface.
#pragma once

#include <cstdint>

#include "broker/codec/codec.hpp"
#include "broker/codec/packet.hpp"
#include "broker/codec/wire.hpp"

namespace tern::codec::detail {

// Where a property block sits; one bit each so the allowed-table is a bit mask.
enum class PropContext : std::uint16_t {
  Connect = 1u << 0,
  Will = 1u << 1,
  Connack = 1u << 2,
  Publish = 1u << 3,
  PubAck = 1u << 4,  // PUBACK, PUBREC, PUBREL, PUBCOMP (same table row in every case)
  Subscribe = 1u << 5,
  Suback = 1u << 6,
  Unsubscribe = 1u << 7,
  Unsuback = 1u << 8,
  Disconnect = 1u << 9,
  Auth = 1u << 10,
};

// Decode failure: the reason code the spec gives and a static text naming the rule.
struct Failure {
  ReasonCode reason = ReasonCode::Success;
  const char* detail = "";
};

// Fill `f` and return false, so a parser can `return malformed(f, "...")`.
inline bool fail_with(Failure& f, ReasonCode r, const char* detail) {
  f.reason = r;
  f.detail = detail;
  return false;
}
inline bool malformed(Failure& f, const char* detail) {
  return fail_with(f, ReasonCode::MalformedPacket, detail);
}
inline bool protocol_error(Failure& f, const char* detail) {
  return fail_with(f, ReasonCode::ProtocolError, detail);
}

// Reads a Property Length and the properties it covers from `r` into `out`.
// Returns false and fills `fail` on the first violation.
bool decode_properties(wire::Reader& r, PropContext ctx, Properties& out, Failure& fail);

// Writes the properties that are set (without the Property Length), in identifier order;
// User Properties keep their order [MQTT-3.3.2-18].
template <class W>
void write_property_list(const Properties& p, W& w) {
  auto byte = [&w](PropertyId id, const std::optional<std::uint8_t>& v) {
    if (v) { w.u8(static_cast<std::uint8_t>(id)); w.u8(*v); }
  };
  auto two = [&w](PropertyId id, const std::optional<std::uint16_t>& v) {
    if (v) { w.u8(static_cast<std::uint8_t>(id)); w.u16(*v); }
  };
  auto four = [&w](PropertyId id, const std::optional<std::uint32_t>& v) {
    if (v) { w.u8(static_cast<std::uint8_t>(id)); w.u32(*v); }
  };
  auto str = [&w](PropertyId id, const std::optional<std::string>& v) {
    if (v) { w.u8(static_cast<std::uint8_t>(id)); w.prefixed(*v); }
  };
  byte(PropertyId::PayloadFormatIndicator, p.payload_format_indicator);
  four(PropertyId::MessageExpiryInterval, p.message_expiry_interval);
  str(PropertyId::ContentType, p.content_type);
  str(PropertyId::ResponseTopic, p.response_topic);
  str(PropertyId::CorrelationData, p.correlation_data);
  for (std::uint32_t id : p.subscription_identifiers) {
    w.u8(static_cast<std::uint8_t>(PropertyId::SubscriptionIdentifier));
    w.varint(id);
  }
  four(PropertyId::SessionExpiryInterval, p.session_expiry_interval);
  str(PropertyId::AssignedClientIdentifier, p.assigned_client_identifier);
  two(PropertyId::ServerKeepAlive, p.server_keep_alive);
  str(PropertyId::AuthenticationMethod, p.authentication_method);
  str(PropertyId::AuthenticationData, p.authentication_data);
  byte(PropertyId::RequestProblemInformation, p.request_problem_information);
  four(PropertyId::WillDelayInterval, p.will_delay_interval);
  byte(PropertyId::RequestResponseInformation, p.request_response_information);
  str(PropertyId::ResponseInformation, p.response_information);
  str(PropertyId::ServerReference, p.server_reference);
  str(PropertyId::ReasonString, p.reason_string);
  two(PropertyId::ReceiveMaximum, p.receive_maximum);
  two(PropertyId::TopicAliasMaximum, p.topic_alias_maximum);
  two(PropertyId::TopicAlias, p.topic_alias);
  byte(PropertyId::MaximumQos, p.maximum_qos);
  byte(PropertyId::RetainAvailable, p.retain_available);
  for (const UserProperty& up : p.user_properties) {
    w.u8(static_cast<std::uint8_t>(PropertyId::UserProperty));
    w.prefixed(up.first);
    w.prefixed(up.second);
  }
  four(PropertyId::MaximumPacketSize, p.maximum_packet_size);
  byte(PropertyId::WildcardSubscriptionAvailable, p.wildcard_subscription_available);
  byte(PropertyId::SubscriptionIdentifierAvailable, p.subscription_identifier_available);
  byte(PropertyId::SharedSubscriptionAvailable, p.shared_subscription_available);
}

// Size of the property list (without the Property Length).
inline std::size_t property_list_size(const Properties& p) {
  wire::Counter c;
  write_property_list(p, c);
  return c.size();
}

// Property Length followed by the list.
template <class W>
void write_properties(const Properties& p, W& w) {
  const std::size_t n = property_list_size(p);
  w.varint(static_cast<std::uint32_t>(n));
  if (n != 0) write_property_list(p, w);
}

}  // namespace tern::codec::detail
