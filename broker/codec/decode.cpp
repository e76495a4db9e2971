// Strict MQTT 3.1.1 / 5.0 decoder. Input is untrusted: every length is checked before it is
// used, every rule the specs state for a packet's fields is enforced here, and the result
// names the reason code the spec gives (MQTT 5.0 section 4.13: a packet that cannot be
// parsed is a Malformed Packet; one that parses but carries data the protocol does not
// allow is a Protocol Error, unless the rule's own text says otherwise).
#include <string_view>

#include "broker/codec/codec.hpp"
#include "broker/codec/properties.hpp"
#include "broker/codec/wire.hpp"

namespace tern::codec {

using detail::Failure;
using detail::malformed;
using detail::protocol_error;
using detail::fail_with;
using detail::PropContext;
using wire::Reader;

namespace {

constexpr const char* kTruncated =
    "[MQTT-2.1.4] remaining length ends inside a field (packet truncated)";

bool is_v5(ProtocolVersion v) { return v == ProtocolVersion::v5; }

// Reads a length-prefixed UTF-8 string [MQTT-1.5.4-1], [MQTT-1.5.4-2].
bool read_utf8(Reader& r, std::string_view& s, const char* bad_text, Failure& f) {
  if (!r.prefixed(s)) return malformed(f, kTruncated);
  if (!valid_utf8(s)) return malformed(f, bad_text);
  return true;
}

bool read_packet_id(Reader& r, std::uint16_t& id, Failure& f) {
  if (!r.u16(id)) return malformed(f, kTruncated);
  // [MQTT-2.2.1-3] (v5) / [MQTT-2.3.1-1] (3.1.1): a non-zero Packet Identifier, and every
  // acknowledgement carries the identifier of the packet it answers.
  if (id == 0) return protocol_error(f, "[MQTT-2.2.1-3] packet identifier 0");
  return true;
}

// v5 reason codes each packet may carry (sections 3.2.2.2, 3.4.2.1, 3.5.2.1, 3.6.2.1,
// 3.7.2.1, 3.9.3, 3.11.3, 3.14.2.1, 3.15.2.1). Any other byte breaks the "MUST use one of
// the ... Reason Codes" rule of that packet and cannot be interpreted: Malformed.
bool valid_reason(PacketType t, std::uint8_t rc) {
  switch (t) {
    case PacketType::Connack:
      switch (rc) {
        case 0x00: case 0x80: case 0x81: case 0x82: case 0x83: case 0x84: case 0x85:
        case 0x86: case 0x87: case 0x88: case 0x89: case 0x8A: case 0x8C: case 0x90:
        case 0x95: case 0x97: case 0x99: case 0x9A: case 0x9B: case 0x9C: case 0x9D:
        case 0x9F:
          return true;
        default: return false;
      }
    case PacketType::Puback:
    case PacketType::Pubrec:
      switch (rc) {
        case 0x00: case 0x10: case 0x80: case 0x83: case 0x87: case 0x90: case 0x91:
        case 0x97: case 0x99:
          return true;
        default: return false;
      }
    case PacketType::Pubrel:
    case PacketType::Pubcomp:
      return rc == 0x00 || rc == 0x92;
    case PacketType::Suback:
      switch (rc) {
        case 0x00: case 0x01: case 0x02: case 0x80: case 0x83: case 0x87: case 0x8F:
        case 0x91: case 0x97: case 0x9E: case 0xA1: case 0xA2:
          return true;
        default: return false;
      }
    case PacketType::Unsuback:
      switch (rc) {
        case 0x00: case 0x11: case 0x80: case 0x83: case 0x87: case 0x8F: case 0x91:
          return true;
        default: return false;
      }
    case PacketType::Disconnect:
      switch (rc) {
        case 0x00: case 0x04: case 0x80: case 0x81: case 0x82: case 0x83: case 0x87:
        case 0x89: case 0x8B: case 0x8D: case 0x8E: case 0x8F: case 0x90: case 0x93:
        case 0x94: case 0x95: case 0x96: case 0x97: case 0x98: case 0x99: case 0x9A:
        case 0x9B: case 0x9C: case 0x9D: case 0x9E: case 0x9F: case 0xA0: case 0xA1:
        case 0xA2:
          return true;
        default: return false;
      }
    case PacketType::Auth:
      return rc == 0x00 || rc == 0x18 || rc == 0x19;
    default:
      return false;
  }
}

// ---- CONNECT (section 3.1) ----------------------------------------------------------

bool decode_connect(Reader& r, Connect& c, std::uint8_t& level_out, Failure& f) {
  std::string_view name;
  std::uint8_t level = 0;
  if (!r.prefixed(name) || !r.u8(level)) return malformed(f, kTruncated);
  if (name != "MQTT") {
    if (name == "MQIsdp") {
      // MQTT 3.1: a known protocol whose version we do not support. [MQTT-3.1.2-2]: answer
      // with "unacceptable protocol level" (3.1.1 CONNACK 0x01).
      level_out = level;
      return fail_with(f, ReasonCode::UnsupportedProtocolVersion,
                       "[MQTT-3.1.2-2] MQTT 3.1 (MQIsdp) is not supported");
    }
    // [MQTT-3.1.2-1] the Server MAY disconnect when the protocol name is incorrect; it is
    // not an MQTT connection, so no CONNACK format applies (level stays 0).
    return malformed(f, "[MQTT-3.1.2-1] protocol name is not \"MQTT\"");
  }
  level_out = level;
  if (level != 4 && level != 5) {
    return fail_with(f, ReasonCode::UnsupportedProtocolVersion,
                     "[MQTT-3.1.2-2] unsupported protocol level");
  }
  const auto v = static_cast<ProtocolVersion>(level);
  const bool v5 = is_v5(v);
  c.version = v;

  std::uint8_t flags = 0;
  if (!r.u8(flags) || !r.u16(c.keep_alive)) return malformed(f, kTruncated);
  if (flags & 0x01) return malformed(f, "[MQTT-3.1.2-3] CONNECT reserved flag is not 0");
  const bool will_flag = flags & 0x04;
  const std::uint8_t will_qos = (flags >> 3) & 0x03;
  const bool will_retain = flags & 0x20;
  const bool password_flag = flags & 0x40;
  const bool username_flag = flags & 0x80;
  c.clean_start = flags & 0x02;
  if (!will_flag) {
    if (will_qos != 0) {
      return malformed(f, v5 ? "[MQTT-3.1.2-11] Will QoS set without Will Flag"
                             : "[MQTT-3.1.2-13] Will QoS set without Will Flag");
    }
    if (will_retain) {
      return malformed(f, v5 ? "[MQTT-3.1.2-13] Will Retain set without Will Flag"
                             : "[MQTT-3.1.2-15] Will Retain set without Will Flag");
    }
  } else if (will_qos == 3) {
    return malformed(f, v5 ? "[MQTT-3.1.2-12] Will QoS 3" : "[MQTT-3.1.2-14] Will QoS 3");
  }
  // 3.1.1 only: no password without a user name. MQTT 5 allows it (3.1.2.9).
  if (!v5 && password_flag && !username_flag) {
    return malformed(f, "[MQTT-3.1.2-22] Password Flag set without User Name Flag");
  }
  if (v5 && !detail::decode_properties(r, PropContext::Connect, c.props, f)) return false;

  std::string_view client_id;
  if (!read_utf8(r, client_id, "[MQTT-3.1.3-4] client identifier is not valid UTF-8", f)) {
    return false;
  }
  // [MQTT-3.1.3-8] (3.1.1): a zero-byte ClientId requires CleanSession=1; the Server
  // answers CONNACK 0x02 "identifier rejected". v5 lets the Server assign one instead.
  if (!v5 && client_id.empty() && !c.clean_start) {
    return fail_with(f, ReasonCode::ClientIdentifierNotValid,
                     "[MQTT-3.1.3-8] empty client identifier with CleanSession 0");
  }
  c.client_id.assign(client_id);

  if (will_flag) {
    Will& w = c.will.emplace();
    w.qos = will_qos;
    w.retain = will_retain;
    if (v5 && !detail::decode_properties(r, PropContext::Will, w.props, f)) return false;
    std::string_view topic, payload;
    if (!read_utf8(r, topic, "[MQTT-3.1.3-11] will topic is not valid UTF-8", f)) return false;
    // The Will Topic is a Topic Name: at least one character, no wildcards [MQTT-3.3.2-2];
    // v5 CONNACK 0x90 is the reason for a Will Topic that parses but is not acceptable.
    if (!valid_topic_name(topic)) {
      return fail_with(f, ReasonCode::TopicNameInvalid,
                       "[MQTT-3.3.2-2] will topic is empty or contains wildcards");
    }
    if (!r.prefixed(payload)) return malformed(f, kTruncated);
    w.topic.assign(topic);
    w.payload.assign(payload);
  }
  if (username_flag) {
    std::string_view user;
    if (!read_utf8(r, user, "[MQTT-3.1.3-12] user name is not valid UTF-8", f)) return false;
    c.username.emplace(user);
  }
  if (password_flag) {
    std::string_view pass;
    if (!r.prefixed(pass)) return malformed(f, kTruncated);
    c.password.emplace(pass);
  }
  return true;
}

// ---- CONNACK (section 3.2) ----------------------------------------------------------

bool decode_connack(Reader& r, ProtocolVersion v, Connack& c, Failure& f) {
  std::uint8_t ack_flags = 0;
  if (!r.u8(ack_flags) || !r.u8(c.reason_code)) return malformed(f, kTruncated);
  // [MQTT-3.2.2-1] bits 7-1 of the Connect Acknowledge Flags are reserved, 0.
  if (ack_flags & 0xFE) return malformed(f, "[MQTT-3.2.2-1] CONNACK reserved flags are not 0");
  c.session_present = ack_flags & 0x01;
  if (is_v5(v)) {
    if (!valid_reason(PacketType::Connack, c.reason_code)) {
      return malformed(f, "[MQTT-3.2.2-8] CONNACK reason code not valid");
    }
    if (!detail::decode_properties(r, PropContext::Connack, c.props, f)) return false;
  } else if (c.reason_code > 5) {
    return malformed(f, "[MQTT-3.2.2.3] CONNACK return code is reserved");
  }
  // [MQTT-3.2.2-6] (v5) / [MQTT-3.2.2-4] (3.1.1): a refusal has Session Present 0.
  if (c.session_present && c.reason_code != 0) {
    return protocol_error(f, "[MQTT-3.2.2-6] session present on a refused connection");
  }
  return true;
}

// ---- PUBLISH (section 3.3) ----------------------------------------------------------

bool decode_publish(Reader& r, std::uint8_t flags, ProtocolVersion v, Publish& p, Failure& f) {
  p.qos = (flags >> 1) & 0x03;
  p.dup = flags & 0x08;
  p.retain = flags & 0x01;
  if (p.qos == 3) return malformed(f, "[MQTT-3.3.1-4] PUBLISH with QoS 3");
  // [MQTT-3.3.1-2] DUP is 0 for QoS 0; a fixed-header flag outside its allowed values is
  // invalid flags, a Malformed Packet (section 2.1.3).
  if (p.dup && p.qos == 0) return malformed(f, "[MQTT-3.3.1-2] DUP set on a QoS 0 PUBLISH");

  std::string_view topic;
  if (!read_utf8(r, topic, "[MQTT-3.3.2-1] topic name is not valid UTF-8", f)) return false;
  if (wire::has_wildcard(topic)) {
    // [MQTT-3.3.2-2]; v5 names 0x90 Topic Name Invalid for a topic name it cannot accept.
    return fail_with(f, ReasonCode::TopicNameInvalid,
                     "[MQTT-3.3.2-2] topic name contains wildcards");
  }
  if (p.qos > 0 && !read_packet_id(r, p.packet_id, f)) return false;
  if (is_v5(v)) {
    if (!detail::decode_properties(r, PropContext::Publish, p.props, f)) return false;
    // 3.3.2.1: "It is a Protocol Error if the Topic Name is zero length and there is no
    // Topic Alias."
    if (topic.empty() && !p.props.topic_alias) {
      return protocol_error(f, "[MQTT-3.3.2.1] empty topic name without topic alias");
    }
  } else if (topic.empty()) {
    return malformed(f, "[MQTT-4.7.3-1] empty topic name");
  }
  p.topic.assign(topic);
  const std::string_view payload = r.rest();
  p.payload.assign(payload);
  return true;
}

// ---- PUBACK, PUBREC, PUBREL, PUBCOMP (sections 3.4 - 3.7) ----------------------------

bool decode_ack(Reader& r, PacketType t, ProtocolVersion v, PubAck& a, Failure& f) {
  if (!read_packet_id(r, a.packet_id, f)) return false;
  if (!is_v5(v) || r.empty()) return true;  // v5 short form: reason 0, no properties
  r.u8(a.reason_code);
  if (!valid_reason(t, a.reason_code)) {
    return malformed(f, "[MQTT-3.4.2-1] reason code not valid for this acknowledgement");
  }
  // Remaining Length 3: no Property Length, 0 is used (3.4.2.2.1).
  if (r.empty()) return true;
  return detail::decode_properties(r, PropContext::PubAck, a.props, f);
}

// ---- SUBSCRIBE / SUBACK (sections 3.8, 3.9) -------------------------------------------

bool decode_subscribe(Reader& r, ProtocolVersion v, Subscribe& s, Failure& f) {
  const bool v5 = is_v5(v);
  if (!read_packet_id(r, s.packet_id, f)) return false;
  if (v5 && !detail::decode_properties(r, PropContext::Subscribe, s.props, f)) return false;
  if (r.empty()) {
    return protocol_error(f, v5 ? "[MQTT-3.8.3-2] SUBSCRIBE without topic filters"
                                : "[MQTT-3.8.3-3] SUBSCRIBE without topic filters");
  }
  while (!r.empty()) {
    std::string_view filter;
    std::uint8_t opts = 0;
    if (!read_utf8(r, filter, "[MQTT-3.8.3-1] topic filter is not valid UTF-8", f)) return false;
    if (!r.u8(opts)) return malformed(f, kTruncated);
    if (!valid_topic_filter(filter)) {
      return malformed(f, filter.substr(0, 7) == "$share/"
                              ? "[MQTT-4.8.2-1] [MQTT-4.8.2-2] invalid shared subscription filter"
                              : "[MQTT-4.7.1-1] [MQTT-4.7.1-2] invalid topic filter");
    }
    SubscribeEntry& e = s.entries.emplace_back();
    e.max_qos = opts & 0x03;
    if (v5) {
      if (opts & 0xC0) return malformed(f, "[MQTT-3.8.3-5] subscription options reserved bits");
      // 3.8.3.1: "It is a Protocol Error if the Maximum QoS field has the value 3" and "to
      // send a Retain Handling value of 3".
      if (e.max_qos == 3) return protocol_error(f, "[MQTT-3.8.3.1] subscription QoS 3");
      e.no_local = opts & 0x04;
      e.retain_as_published = opts & 0x08;
      e.retain_handling = (opts >> 4) & 0x03;
      if (e.retain_handling == 3) return protocol_error(f, "[MQTT-3.8.3.1] retain handling 3");
      if (e.no_local && filter.substr(0, 7) == "$share/") {
        return protocol_error(f, "[MQTT-3.8.3-4] No Local on a shared subscription");
      }
    } else if ((opts & 0xFC) || e.max_qos == 3) {
      return malformed(f, "[MQTT-3-8.3-4] requested QoS reserved bits or QoS 3");
    }
    e.filter.assign(filter);
  }
  return true;
}

bool decode_suback(Reader& r, ProtocolVersion v, Suback& s, Failure& f) {
  if (!read_packet_id(r, s.packet_id, f)) return false;
  if (is_v5(v) && !detail::decode_properties(r, PropContext::Suback, s.props, f)) return false;
  // [MQTT-3.9.3-1] one reason code per topic filter, and a SUBSCRIBE has at least one.
  if (r.empty()) return protocol_error(f, "[MQTT-3.9.3-1] SUBACK without reason codes");
  const std::string_view codes = r.rest();
  s.reason_codes.assign(codes.begin(), codes.end());
  for (std::uint8_t rc : s.reason_codes) {
    const bool ok = is_v5(v) ? valid_reason(PacketType::Suback, rc)
                             : (rc <= 2 || rc == 0x80);  // [MQTT-3.9.3-2]
    if (!ok) return malformed(f, "[MQTT-3.9.3-2] SUBACK reason code not valid");
  }
  return true;
}

// ---- UNSUBSCRIBE / UNSUBACK (sections 3.10, 3.11) -------------------------------------

bool decode_unsubscribe(Reader& r, ProtocolVersion v, Unsubscribe& u, Failure& f) {
  if (!read_packet_id(r, u.packet_id, f)) return false;
  if (is_v5(v) && !detail::decode_properties(r, PropContext::Unsubscribe, u.props, f)) {
    return false;
  }
  if (r.empty()) return protocol_error(f, "[MQTT-3.10.3-2] UNSUBSCRIBE without topic filters");
  while (!r.empty()) {
    std::string_view filter;
    if (!read_utf8(r, filter, "[MQTT-3.10.3-1] topic filter is not valid UTF-8", f)) {
      return false;
    }
    if (!valid_topic_filter(filter)) {
      return malformed(f, "[MQTT-4.7.1-1] [MQTT-4.8.2-1] invalid topic filter");
    }
    u.filters.emplace_back(filter);
  }
  return true;
}

bool decode_unsuback(Reader& r, ProtocolVersion v, Unsuback& u, Failure& f) {
  if (!read_packet_id(r, u.packet_id, f)) return false;
  if (!is_v5(v)) return true;  // 3.1.1: Remaining Length 2, checked by the caller
  if (!detail::decode_properties(r, PropContext::Unsuback, u.props, f)) return false;
  // [MQTT-3.11.3-1] one reason code per topic filter of the UNSUBSCRIBE.
  if (r.empty()) return protocol_error(f, "[MQTT-3.11.3-1] UNSUBACK without reason codes");
  const std::string_view codes = r.rest();
  u.reason_codes.assign(codes.begin(), codes.end());
  for (std::uint8_t rc : u.reason_codes) {
    if (!valid_reason(PacketType::Unsuback, rc)) {
      return malformed(f, "[MQTT-3.11.3-2] UNSUBACK reason code not valid");
    }
  }
  return true;
}

// ---- DISCONNECT, AUTH (sections 3.14, 3.15) ---------------------------------------------

bool decode_disconnect(Reader& r, ProtocolVersion v, Disconnect& d, Failure& f) {
  if (!is_v5(v) || r.empty()) return true;  // 3.1.1 has no variable header
  r.u8(d.reason_code);
  if (!valid_reason(PacketType::Disconnect, d.reason_code)) {
    return malformed(f, "[MQTT-3.14.2-1] DISCONNECT reason code not valid");
  }
  // Remaining Length 1: no Property Length, 0 is used (3.14.2.2.1).
  if (r.empty()) return true;
  return detail::decode_properties(r, PropContext::Disconnect, d.props, f);
}

bool decode_auth(Reader& r, Auth& a, Failure& f) {
  if (r.empty()) return true;  // Remaining Length 0: Success, no properties (3.15.2.1)
  r.u8(a.reason_code);
  if (!valid_reason(PacketType::Auth, a.reason_code)) {
    return malformed(f, "[MQTT-3.15.2-1] AUTH reason code not valid");
  }
  // Only Remaining Length 0 may omit the Property Length for AUTH.
  if (r.empty()) return malformed(f, "[MQTT-3.15.2.2.1] AUTH without property length");
  if (!detail::decode_properties(r, PropContext::Auth, a.props, f)) return false;
  // 3.15.2.2.2: "It is a Protocol Error to omit the Authentication Method".
  if (!a.props.authentication_method) {
    return protocol_error(f, "[MQTT-3.15.2.2.2] AUTH without authentication method");
  }
  return true;
}

// The protocol level of a CONNECT whose body is not decoded (too large), when the bytes
// "\0\4MQTT" and the level are already buffered; 0 otherwise. Lets core pick the format of
// its refusal.
std::uint8_t peek_connect_level(std::string_view in, std::size_t len_bytes) {
  const std::size_t at = 1 + len_bytes;
  if (in.size() < at + 7) return 0;
  if (in.substr(at, 6) != std::string_view("\0\4MQTT", 6)) return 0;
  return static_cast<std::uint8_t>(in[at + 6]);
}

// Every path of decode() returns the same object, so it is constructed in place (NRVO):
// a DecodeResult holds a ~1 KiB variant that should not be moved on the hot path.
DecodeResult& set_error(DecodeResult& res, const Failure& f) {
  res.status = DecodeStatus::Error;
  res.reason = f.reason;
  res.detail = f.detail;
  return res;
}

}  // namespace

void decode_into(std::string_view in, const DecodeOptions& opts, DecodeResult& res) {
  // res as default-constructed: NeedMore, nothing consumed
  if (in.empty()) return;
  const auto b0 = static_cast<std::uint8_t>(in[0]);
  const std::uint8_t type = b0 >> 4;
  const std::uint8_t flags = b0 & 0x0F;
  const ProtocolVersion v = opts.version;

  // Type and flags are checked before the length is complete: they are wrong whatever
  // follows, so the connection can be closed at once.
  if (type == 0) {
    set_error(res, {ReasonCode::MalformedPacket, "[MQTT-2.1.2] reserved packet type 0"});
    return;
  }
  if (type == 15 && !is_v5(v)) {
    set_error(res,
              {ReasonCode::MalformedPacket, "[MQTT-2.2.1] packet type 15 is reserved in 3.1.1"});
    return;
  }
  const auto pt = static_cast<PacketType>(type);
  if (pt != PacketType::Publish) {
    // [MQTT-2.2.2-1], [MQTT-2.2.2-2] (3.1.1) / section 2.1.3 (v5): reserved flags must hold
    // the listed value (PUBREL, SUBSCRIBE, UNSUBSCRIBE: 0b0010; others 0), else Malformed.
    const bool needs_0010 = pt == PacketType::Pubrel || pt == PacketType::Subscribe ||
                            pt == PacketType::Unsubscribe;
    if (flags != (needs_0010 ? 0x02 : 0x00)) {
      set_error(res, {ReasonCode::MalformedPacket, "[MQTT-2.2.2-1] invalid fixed header flags"});
      return;
    }
  }

  std::uint32_t remaining = 0;
  std::size_t len_bytes = 0;
  switch (wire::parse_varint(reinterpret_cast<const unsigned char*>(in.data()) + 1,
                             in.size() - 1, remaining, len_bytes)) {
    case wire::VarintStatus::Ok: break;
    case wire::VarintStatus::Truncated: return;
    case wire::VarintStatus::Malformed:
      set_error(res, {ReasonCode::MalformedPacket,
                      "[MQTT-1.5.5-1] remaining length is over 4 bytes or not minimal"});
      return;
  }
  const std::uint64_t total = 1 + len_bytes + std::uint64_t{remaining};
  // [MQTT-3.1.2-24] / [MQTT-4.13] a packet over our Maximum Packet Size is refused as soon
  // as its size is known, before buffering it.
  if (total > opts.max_packet_size) {
    set_error(res,
              {ReasonCode::PacketTooLarge, "[MQTT-3.2.2.3.6] packet exceeds maximum packet size"});
    if (pt == PacketType::Connect) res.connect_protocol_level = peek_connect_level(in, len_bytes);
    return;
  }
  if (in.size() < total) return;

  Reader r(in.data() + 1 + len_bytes, remaining);
  Failure f;
  bool ok = false;
  std::uint8_t level = 0;
  switch (pt) {
    case PacketType::Connect:
      ok = decode_connect(r, res.packet.emplace<Connect>(), level, f);
      break;
    case PacketType::Connack:
      ok = decode_connack(r, v, res.packet.emplace<Connack>(), f);
      break;
    case PacketType::Publish:
      ok = decode_publish(r, flags, v, res.packet.emplace<Publish>(), f);
      break;
    case PacketType::Puback:
      ok = decode_ack(r, pt, v, res.packet.emplace<Puback>(), f);
      break;
    case PacketType::Pubrec:
      ok = decode_ack(r, pt, v, res.packet.emplace<Pubrec>(), f);
      break;
    case PacketType::Pubrel:
      ok = decode_ack(r, pt, v, res.packet.emplace<Pubrel>(), f);
      break;
    case PacketType::Pubcomp:
      ok = decode_ack(r, pt, v, res.packet.emplace<Pubcomp>(), f);
      break;
    case PacketType::Subscribe:
      ok = decode_subscribe(r, v, res.packet.emplace<Subscribe>(), f);
      break;
    case PacketType::Suback:
      ok = decode_suback(r, v, res.packet.emplace<Suback>(), f);
      break;
    case PacketType::Unsubscribe:
      ok = decode_unsubscribe(r, v, res.packet.emplace<Unsubscribe>(), f);
      break;
    case PacketType::Unsuback:
      ok = decode_unsuback(r, v, res.packet.emplace<Unsuback>(), f);
      break;
    case PacketType::Pingreq:
      res.packet.emplace<Pingreq>();
      ok = true;
      break;
    case PacketType::Pingresp:
      res.packet.emplace<Pingresp>();
      ok = true;
      break;
    case PacketType::Disconnect:
      ok = decode_disconnect(r, v, res.packet.emplace<Disconnect>(), f);
      break;
    case PacketType::Auth:
      ok = decode_auth(r, res.packet.emplace<Auth>(), f);
      break;
  }
  if (ok && !r.empty()) {
    f = {ReasonCode::MalformedPacket,
         "[MQTT-2.1.4] remaining length exceeds the packet's fields (trailing bytes)"};
    ok = false;
  }
  if (!ok) {
    set_error(res, f);
    res.connect_protocol_level = level;
    return;
  }
  res.status = DecodeStatus::Ok;
  res.connect_protocol_level = level;
  res.consumed = static_cast<std::size_t>(total);
}

DecodeResult decode(std::string_view in, const DecodeOptions& opts) {
  DecodeResult res;
  decode_into(in, opts, res);
  return res;
}

}  // namespace tern::codec
