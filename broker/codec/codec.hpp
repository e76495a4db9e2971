// MQTT 3.1.1 / 5.0 encoder and strict decoder. Pure functions over byte buffers:
// no sockets, clocks, threads, logging or exceptions. Wire input is untrusted.
// Thread safety: all functions are reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "broker/codec/packet.hpp"

namespace tern::codec {

enum class DecodeStatus : std::uint8_t {
  Ok,        // one packet decoded; `consumed` bytes used
  NeedMore,  // the buffer holds only part of a packet; nothing consumed
  Error,     // malformed; `reason` is the code the spec gives; the connection must close
};

struct DecodeResult {
  DecodeResult() : packet(Pingreq{}) {}
  DecodeStatus status = DecodeStatus::NeedMore;
  std::size_t consumed = 0;
  // Starts as the smallest alternative, set by a user-provided constructor: a default
  // Packet (a CONNECT) or a default member initializer makes GCC zero the whole ~1.2 KB
  // result, which was 40% of decoding each PUBLISH and PUBACK.
  Packet packet;
  // On Error: MalformedPacket, ProtocolError, PacketTooLarge, TopicNameInvalid,
  // UnsupportedProtocolVersion, ClientIdentifierNotValid, ... as the spec says.
  ReasonCode reason = ReasonCode::Success;
  const char* detail = "";  // static text naming the broken rule, for logs and tests
  // For a CONNECT that failed: the protocol level byte read (4 or 5, or another value for
  // UnsupportedProtocolVersion), 0 if decoding stopped before it. Core uses it to choose
  // the CONNACK format of its refusal. Also set for a CONNECT decoded Ok, and for one
  // refused as PacketTooLarge when its first bytes are buffered.
  std::uint8_t connect_protocol_level = 0;
};

struct DecodeOptions {
  // Version negotiated by CONNECT; used for every packet but CONNECT (which carries its own).
  ProtocolVersion version = ProtocolVersion::v5;
  // Largest whole packet accepted (fixed header included). Larger ones fail with
  // PacketTooLarge as soon as the fixed header is complete [MQTT-3.2.2-?]/[MQTT-4.13].
  std::uint32_t max_packet_size = 268435460;
};

// Decodes at most one packet from the front of `in`.
DecodeResult decode(std::string_view in, const DecodeOptions& opts);
// The same into `res`, which must be as default-constructed: a caller that keeps results
// in a container decodes into its element, and the ~1.2 KB packet is never moved.
void decode_into(std::string_view in, const DecodeOptions& opts, DecodeResult& res);

// Appends the encoding of `p` for protocol `v` to `out`. Properties are written only for v5;
// a Topic Alias of 0 means "no alias" and is not written ([MQTT-3.3.2-8] forbids sending it).
// A CONNECT's protocol level byte is `v` (Connect::version is not consulted). AUTH does not
// exist in 3.1.1: nothing is appended for it there.
// REQUIRES: p is well formed (the encoder does not validate; core builds valid packets).
void encode(const Packet& p, ProtocolVersion v, std::string& out);

// A PUBACK, PUBREC, PUBREL or PUBCOMP without properties: the same bytes as encode() of
// that packet with empty properties, without building a Packet (the acknowledgement hot
// path). v5 omits the Reason Code when it is 0x00 (3.4.2.1); 3.1.1 has none.
// REQUIRES: t is one of the four; packet_id != 0.
void encode_ack(PacketType t, std::uint16_t packet_id, std::uint8_t reason_code,
                ProtocolVersion v, std::string& out);

// An outgoing PUBLISH assembled from shared parts, so fan-out never copies the message:
// `props` are the message's stored properties; the per-delivery ones override them.
struct PublishView {
  std::uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  std::string_view topic;  // empty when sending an already-established topic alias
  std::uint16_t packet_id = 0;
  std::string_view payload;
  const Properties* props = nullptr;  // may be null
  // Per-delivery overrides (v5 only):
  std::optional<std::uint32_t> message_expiry_interval;  // remaining lifetime [MQTT-3.3.2-6]
  std::uint16_t topic_alias = 0;                          // 0 = none
  std::span<const std::uint32_t> subscription_identifiers;  // replaces props' list
  // Only the properties PUBLISH may carry are written; props->topic_alias and
  // props->subscription_identifiers are ignored (they belong to the inbound connection).
};

void encode_publish(const PublishView& p, ProtocolVersion v, std::string& out);
// Exact number of bytes encode_publish would append (for the client's maximum packet size).
std::size_t publish_size(const PublishView& p, ProtocolVersion v);

// Variable byte integer (section 1.5.5), max 268,435,455.
void encode_varint(std::uint32_t value, std::string& out);
std::size_t varint_size(std::uint32_t value);

// Well-formed UTF-8 per [MQTT-1.5.4-1] (no surrogates, no overlongs) and no U+0000
// [MQTT-1.5.4-2].
bool valid_utf8(std::string_view s);
// Topic name: non-empty, valid UTF-8, no '+' or '#' [MQTT-3.3.2-2], at most 65535 bytes.
bool valid_topic_name(std::string_view s);
// Topic filter: non-empty, wildcards occupy whole levels, '#' last [MQTT-4.7.1-1..3].
// `$share/<group>/<filter>` is accepted when the group is non-empty and has no wildcards
// and the filter is valid [MQTT-4.8.2-1, 4.8.2-2].
bool valid_topic_filter(std::string_view s);
// True when topic name `topic` matches `filter` (4.7): '+' one level, '#' the parent level
// and everything below [MQTT-4.7.1-2]; leading wildcards never match '$' topics
// [MQTT-4.7.2-1]. For short filter lists; the broker's routing uses its topic tree.
// REQUIRES: valid_topic_filter(filter) (no $share prefix), valid_topic_name(topic).
bool topic_matches(std::string_view filter, std::string_view topic);

struct SharedFilter {
  std::string_view group;
  std::string_view filter;
};
// Splits "$share/<group>/<filter>"; nullopt when `s` is not a shared subscription.
// REQUIRES: valid_topic_filter(s).
std::optional<SharedFilter> parse_shared(std::string_view s);

}  // namespace tern::codec
