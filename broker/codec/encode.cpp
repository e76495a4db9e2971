// MQTT 3.1.1 / 5.0 encoder. Each packet body is written once through a template over the
// wire writer, so the Remaining Length is computed by the very code that writes the body
// (Counter pass) and the output buffer grows once (Appender pass).
#include <cassert>

#include "broker/codec/codec.hpp"
#include "broker/codec/properties.hpp"
#include "broker/codec/wire.hpp"

namespace tern::codec {

using detail::write_properties;

namespace {

constexpr std::uint8_t type_byte(PacketType t, std::uint8_t flags = 0) {
  return static_cast<std::uint8_t>((static_cast<std::uint8_t>(t) << 4) | flags);
}

bool is_v5(ProtocolVersion v) { return v == ProtocolVersion::v5; }

bool props_empty(const Properties& p) { return detail::property_list_size(p) == 0; }

// --- PUBLISH (the hot path: no temporaries, exact size) -------------------------------

// The properties of an outgoing PUBLISH: the message's stored ones that PUBLISH may carry
// (Table 2-4), with the per-delivery Message Expiry Interval, Topic Alias and Subscription
// Identifiers taken from the view. A stored Topic Alias or Subscription Identifier belongs
// to another connection and is never forwarded [MQTT-3.3.2-7], [MQTT-3.3.4-6].
template <class W>
void write_publish_property_list(const PublishView& p, W& w) {
  const Properties* s = p.props;
  if (s && s->payload_format_indicator) {
    w.u8(static_cast<std::uint8_t>(PropertyId::PayloadFormatIndicator));
    w.u8(*s->payload_format_indicator);
  }
  std::optional<std::uint32_t> expiry = p.message_expiry_interval;
  if (!expiry && s) expiry = s->message_expiry_interval;
  if (expiry) {
    w.u8(static_cast<std::uint8_t>(PropertyId::MessageExpiryInterval));
    w.u32(*expiry);
  }
  if (s && s->content_type) {
    w.u8(static_cast<std::uint8_t>(PropertyId::ContentType));
    w.prefixed(*s->content_type);
  }
  if (s && s->response_topic) {
    w.u8(static_cast<std::uint8_t>(PropertyId::ResponseTopic));
    w.prefixed(*s->response_topic);
  }
  if (s && s->correlation_data) {
    w.u8(static_cast<std::uint8_t>(PropertyId::CorrelationData));
    w.prefixed(*s->correlation_data);
  }
  for (std::uint32_t id : p.subscription_identifiers) {
    w.u8(static_cast<std::uint8_t>(PropertyId::SubscriptionIdentifier));
    w.varint(id);
  }
  if (p.topic_alias != 0) {
    w.u8(static_cast<std::uint8_t>(PropertyId::TopicAlias));
    w.u16(p.topic_alias);
  }
  if (s) {
    for (const UserProperty& up : s->user_properties) {  // order kept [MQTT-3.3.2-18]
      w.u8(static_cast<std::uint8_t>(PropertyId::UserProperty));
      w.prefixed(up.first);
      w.prefixed(up.second);
    }
  }
}

struct PublishSizes {
  std::size_t props = 0;      // property list, without its length
  std::size_t remaining = 0;  // Remaining Length
};

PublishSizes publish_sizes(const PublishView& p, ProtocolVersion v) {
  PublishSizes s;
  s.remaining = 2 + p.topic.size() + (p.qos > 0 ? 2 : 0) + p.payload.size();
  if (is_v5(v)) {
    wire::Counter c;
    write_publish_property_list(p, c);
    s.props = c.size();
    s.remaining += wire::varint_len(static_cast<std::uint32_t>(s.props)) + s.props;
  }
  return s;
}

std::uint8_t publish_flags(const PublishView& p) {
  return static_cast<std::uint8_t>((p.dup ? 0x08 : 0) | ((p.qos & 0x03) << 1) |
                                   (p.retain ? 0x01 : 0));
}

// --- Everything else ------------------------------------------------------------------

template <class W>
void body(const Connect& c, ProtocolVersion v, W& w) {
  w.prefixed("MQTT");  // [MQTT-3.1.2-1]
  w.u8(static_cast<std::uint8_t>(v));
  std::uint8_t flags = 0;
  if (c.username) flags |= 0x80;
  if (c.password) flags |= 0x40;
  if (c.will) {
    flags |= 0x04;
    flags |= static_cast<std::uint8_t>((c.will->qos & 0x03) << 3);
    if (c.will->retain) flags |= 0x20;
  }
  if (c.clean_start) flags |= 0x02;
  w.u8(flags);
  w.u16(c.keep_alive);
  if (is_v5(v)) write_properties(c.props, w);
  w.prefixed(c.client_id);
  if (c.will) {
    if (is_v5(v)) write_properties(c.will->props, w);
    w.prefixed(c.will->topic);
    w.prefixed(c.will->payload);
  }
  if (c.username) w.prefixed(*c.username);
  if (c.password) w.prefixed(*c.password);
}

template <class W>
void body(const Connack& c, ProtocolVersion v, W& w) {
  w.u8(c.session_present ? 1 : 0);
  w.u8(c.reason_code);
  if (is_v5(v)) write_properties(c.props, w);
}

// PUBACK, PUBREC, PUBREL, PUBCOMP. v5 short forms: the Reason Code and Property Length
// may be omitted when the reason is 0x00 and there are no properties (3.4.2.1), and the
// Property Length may be omitted when there are no properties (3.4.2.2.1).
template <class W>
void body(const PubAck& a, ProtocolVersion v, W& w) {
  w.u16(a.packet_id);
  if (!is_v5(v)) return;
  const bool no_props = props_empty(a.props);
  if (a.reason_code == 0 && no_props) return;
  w.u8(a.reason_code);
  if (!no_props) write_properties(a.props, w);
}

template <class W>
void body(const Subscribe& s, ProtocolVersion v, W& w) {
  w.u16(s.packet_id);
  if (is_v5(v)) write_properties(s.props, w);
  for (const SubscribeEntry& e : s.entries) {
    w.prefixed(e.filter);
    std::uint8_t opts = e.max_qos & 0x03;
    if (is_v5(v)) {
      if (e.no_local) opts |= 0x04;
      if (e.retain_as_published) opts |= 0x08;
      opts |= static_cast<std::uint8_t>((e.retain_handling & 0x03) << 4);
    }
    w.u8(opts);
  }
}

template <class W>
void body(const Suback& s, ProtocolVersion v, W& w) {
  w.u16(s.packet_id);
  if (is_v5(v)) write_properties(s.props, w);
  for (std::uint8_t rc : s.reason_codes) w.u8(rc);
}

template <class W>
void body(const Unsubscribe& u, ProtocolVersion v, W& w) {
  w.u16(u.packet_id);
  if (is_v5(v)) write_properties(u.props, w);
  for (const std::string& f : u.filters) w.prefixed(f);
}

template <class W>
void body(const Unsuback& u, ProtocolVersion v, W& w) {
  w.u16(u.packet_id);
  if (!is_v5(v)) return;  // 3.1.1 UNSUBACK has no payload
  write_properties(u.props, w);
  for (std::uint8_t rc : u.reason_codes) w.u8(rc);
}

// DISCONNECT and AUTH: Remaining Length 0 when the reason is 0x00 and there are no
// properties (3.14.2.1, 3.15.2.1). A non-zero reason without properties omits the
// Property Length for DISCONNECT (3.14.2.2.1); AUTH always carries it.
template <class W>
void body(const Disconnect& d, ProtocolVersion v, W& w) {
  if (!is_v5(v)) return;
  const bool no_props = props_empty(d.props);
  if (d.reason_code == 0 && no_props) return;
  w.u8(d.reason_code);
  if (!no_props) write_properties(d.props, w);
}

template <class W>
void body(const Auth& a, ProtocolVersion, W& w) {
  if (a.reason_code == 0 && props_empty(a.props)) return;
  w.u8(a.reason_code);
  write_properties(a.props, w);
}

template <class P>
void encode_with_body(const P& p, std::uint8_t first, ProtocolVersion v, std::string& out) {
  wire::Counter c;
  body(p, v, c);
  const auto remaining = static_cast<std::uint32_t>(c.size());
  out.reserve(out.size() + 1 + wire::varint_len(remaining) + remaining);
  wire::Appender w(out);
  w.u8(first);
  w.varint(remaining);
  body(p, v, w);
}

void encode_empty(PacketType t, std::string& out) {
  const char b[2] = {static_cast<char>(type_byte(t)), 0};
  out.append(b, 2);
}

}  // namespace

void encode_varint(std::uint32_t value, std::string& out) {
  assert(value <= wire::kMaxVarint);
  wire::Appender(out).varint(value);
}

std::size_t varint_size(std::uint32_t value) { return wire::varint_len(value); }

void encode_ack(PacketType t, std::uint16_t packet_id, std::uint8_t reason_code,
                ProtocolVersion v, std::string& out) {
  assert(t == PacketType::Puback || t == PacketType::Pubrec || t == PacketType::Pubrel ||
         t == PacketType::Pubcomp);
  // [MQTT-3.6.1-1] PUBREL's fixed header flags are 0b0010.
  const std::uint8_t first = type_byte(t, t == PacketType::Pubrel ? 0x02 : 0x00);
  const bool with_reason = is_v5(v) && reason_code != 0;
  const char b[5] = {static_cast<char>(first), static_cast<char>(with_reason ? 3 : 2),
                     static_cast<char>(packet_id >> 8), static_cast<char>(packet_id & 0xff),
                     static_cast<char>(reason_code)};
  out.append(b, with_reason ? 5 : 4);
}

void encode_publish(const PublishView& p, ProtocolVersion v, std::string& out) {
  const PublishSizes sz = publish_sizes(p, v);
  const auto remaining = static_cast<std::uint32_t>(sz.remaining);
  out.reserve(out.size() + 1 + wire::varint_len(remaining) + sz.remaining);
  wire::Appender w(out);
  w.u8(type_byte(PacketType::Publish, publish_flags(p)));
  w.varint(remaining);
  w.prefixed(p.topic);
  if (p.qos > 0) w.u16(p.packet_id);
  if (is_v5(v)) {
    w.varint(static_cast<std::uint32_t>(sz.props));
    write_publish_property_list(p, w);
  }
  w.raw(p.payload);
}

std::size_t publish_size(const PublishView& p, ProtocolVersion v) {
  const PublishSizes sz = publish_sizes(p, v);
  return 1 + wire::varint_len(static_cast<std::uint32_t>(sz.remaining)) + sz.remaining;
}

void encode(const Packet& packet, ProtocolVersion v, std::string& out) {
  switch (packet_type(packet)) {
    case PacketType::Connect:
      encode_with_body(std::get<Connect>(packet), type_byte(PacketType::Connect), v, out);
      return;
    case PacketType::Connack:
      encode_with_body(std::get<Connack>(packet), type_byte(PacketType::Connack), v, out);
      return;
    case PacketType::Publish: {
      const Publish& p = std::get<Publish>(packet);
      PublishView view;
      view.qos = p.qos;
      view.retain = p.retain;
      view.dup = p.dup;
      view.topic = p.topic;
      view.packet_id = p.packet_id;
      view.payload = p.payload;
      view.props = &p.props;
      view.topic_alias = p.props.topic_alias.value_or(0);
      view.subscription_identifiers = p.props.subscription_identifiers;
      encode_publish(view, v, out);
      return;
    }
    case PacketType::Puback:
      encode_with_body<PubAck>(std::get<Puback>(packet), type_byte(PacketType::Puback), v, out);
      return;
    case PacketType::Pubrec:
      encode_with_body<PubAck>(std::get<Pubrec>(packet), type_byte(PacketType::Pubrec), v, out);
      return;
    case PacketType::Pubrel:  // [MQTT-3.6.1-1] flags 0b0010
      encode_with_body<PubAck>(std::get<Pubrel>(packet), type_byte(PacketType::Pubrel, 0x02), v,
                               out);
      return;
    case PacketType::Pubcomp:
      encode_with_body<PubAck>(std::get<Pubcomp>(packet), type_byte(PacketType::Pubcomp), v, out);
      return;
    case PacketType::Subscribe:  // [MQTT-3.8.1-1] flags 0b0010
      encode_with_body(std::get<Subscribe>(packet), type_byte(PacketType::Subscribe, 0x02), v,
                       out);
      return;
    case PacketType::Suback:
      encode_with_body(std::get<Suback>(packet), type_byte(PacketType::Suback), v, out);
      return;
    case PacketType::Unsubscribe:  // [MQTT-3.10.1-1] flags 0b0010
      encode_with_body(std::get<Unsubscribe>(packet), type_byte(PacketType::Unsubscribe, 0x02),
                       v, out);
      return;
    case PacketType::Unsuback:
      encode_with_body(std::get<Unsuback>(packet), type_byte(PacketType::Unsuback), v, out);
      return;
    case PacketType::Pingreq:
      encode_empty(PacketType::Pingreq, out);
      return;
    case PacketType::Pingresp:
      encode_empty(PacketType::Pingresp, out);
      return;
    case PacketType::Disconnect:
      encode_with_body(std::get<Disconnect>(packet), type_byte(PacketType::Disconnect), v, out);
      return;
    case PacketType::Auth:
      // AUTH does not exist in 3.1.1 (type 15 is reserved there); nothing is written.
      assert(is_v5(v));
      if (!is_v5(v)) return;
      encode_with_body(std::get<Auth>(packet), type_byte(PacketType::Auth), v, out);
      return;
  }
}

}  // namespace tern::codec
