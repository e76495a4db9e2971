// The on-disk format of tern_storage: see format.hpp for the key layout.
#include "storage/format.hpp"

#include <limits>
#include <utility>

#include "broker/codec/codec.hpp"

namespace tern::storage::format {
namespace {

// Largest whole PUBLISH: 1 type byte + 4 length bytes + 268,435,455 (section 1.5.5).
constexpr std::size_t kMaxPublishBytes = 1 + 4 + 268'435'455;

// ---- value writer / reader: big-endian fixed fields, LEB128 varints, length-prefixed bytes

void put_u8(std::string& out, std::uint8_t v) { out.push_back(static_cast<char>(v)); }

void put_u16(std::string& out, std::uint16_t v) {
  const char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
  out.append(b, 2);
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

void put_u64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_bytes(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s.data(), s.size());
}

void put_time(std::string& out, BrokerTime t) {
  put_u64(out, static_cast<std::uint64_t>(t.time_since_epoch().count()));
}

class In {
 public:
  explicit In(std::string_view s) : s_(s) {}
  bool empty() const { return s_.empty(); }
  std::string_view rest() { return std::exchange(s_, std::string_view{}); }

  bool u8(std::uint8_t& v) {
    if (s_.empty()) return false;
    v = static_cast<std::uint8_t>(s_[0]);
    s_.remove_prefix(1);
    return true;
  }
  bool u16(std::uint16_t& v) {
    std::uint64_t x = 0;
    if (!fixed(2, x)) return false;
    v = static_cast<std::uint16_t>(x);
    return true;
  }
  bool u32(std::uint32_t& v) {
    std::uint64_t x = 0;
    if (!fixed(4, x)) return false;
    v = static_cast<std::uint32_t>(x);
    return true;
  }
  bool u64(std::uint64_t& v) { return fixed(8, v); }
  bool varint(std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      std::uint8_t b = 0;
      if (!u8(b)) return false;
      v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }
  bool bytes(std::string_view& v) {
    std::uint64_t n = 0;
    if (!varint(n) || n > s_.size()) return false;
    v = s_.substr(0, n);
    s_.remove_prefix(n);
    return true;
  }
  bool skip(std::size_t n) {
    if (n > s_.size()) return false;
    s_.remove_prefix(n);
    return true;
  }
  bool time(BrokerTime& t) {
    std::uint64_t v = 0;
    if (!u64(v)) return false;
    t = BrokerTime(BrokerClock::duration(static_cast<std::int64_t>(v)));
    return true;
  }

 private:
  bool fixed(std::size_t n, std::uint64_t& v) {
    if (s_.size() < n) return false;
    v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<std::uint8_t>(s_[i]);
    s_.remove_prefix(n);
    return true;
  }

  std::string_view s_;
};

bool check_version(In& in) {
  std::uint8_t v = 0;
  return in.u8(v) && v == kRecordVersion;
}

// ---- messages: [flags][expiry?][origin][v5 PUBLISH], the PUBLISH running to the end

constexpr std::uint8_t kMsgHasExpiry = 0x01;

codec::PublishView publish_view(std::string_view topic, std::string_view payload, std::uint8_t qos,
                                bool retain, const codec::Properties* props) {
  codec::PublishView v;
  v.qos = qos;
  v.retain = retain;
  v.topic = topic;
  // Any non-zero id: the codec requires one for QoS > 0 [MQTT-2.2.1-3]; it is not stored.
  v.packet_id = qos > 0 ? 1 : 0;
  v.payload = payload;
  v.props = props;  // encode_publish writes only the PUBLISH properties (Table 2-4)
  return v;
}

void encode_message(const MessageView& m, std::string& out) {
  put_u8(out, m.expires_at ? kMsgHasExpiry : 0);
  if (m.expires_at) put_time(out, *m.expires_at);
  put_bytes(out, m.origin_client_id);
  codec::encode_publish(publish_view(m.topic, m.payload, m.qos, m.retain, m.props),
                        codec::ProtocolVersion::v5, out);
}

bool decode_publish(std::string_view bytes, codec::Publish& out) {
  codec::DecodeOptions opts;
  opts.version = codec::ProtocolVersion::v5;
  codec::DecodeResult r = codec::decode(bytes, opts);
  if (r.status != codec::DecodeStatus::Ok || r.consumed != bytes.size()) return false;
  auto* p = std::get_if<codec::Publish>(&r.packet);
  if (p == nullptr || p->topic.empty()) return false;
  out = std::move(*p);
  return true;
}

bool decode_message(In& in, StoredMessage& out) {
  std::uint8_t flags = 0;
  if (!in.u8(flags) || (flags & ~kMsgHasExpiry) != 0) return false;
  out.expires_at.reset();
  if (flags & kMsgHasExpiry) {
    BrokerTime t;
    if (!in.time(t)) return false;
    out.expires_at = t;
  }
  std::string_view origin;
  if (!in.bytes(origin)) return false;
  codec::Publish p;
  if (!decode_publish(in.rest(), p)) return false;
  out.origin_client_id.assign(origin);
  out.topic = std::move(p.topic);
  out.payload = std::move(p.payload);
  out.qos = p.qos;
  out.retain = p.retain;
  out.props = std::move(p.props);
  return true;
}

// Reads a codec Variable Byte Integer (at most 4 bytes).
bool mqtt_varint(In& in, std::uint32_t& v) {
  v = 0;
  for (int i = 0; i < 4; ++i) {
    std::uint8_t b = 0;
    if (!in.u8(b)) return false;
    v |= static_cast<std::uint32_t>(b & 0x7F) << (7 * i);
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

bool peek_message_bytes(In& in, std::uint64_t& bytes) {
  std::uint8_t flags = 0;
  std::string_view origin;
  if (!in.u8(flags) || ((flags & kMsgHasExpiry) && !in.skip(8)) || !in.bytes(origin)) {
    return false;
  }
  std::uint8_t type = 0;
  std::uint32_t remaining = 0;
  if (!in.u8(type) || (type >> 4) != 3 || !mqtt_varint(in, remaining)) return false;
  std::string_view body = in.rest();
  if (body.size() != remaining) return false;
  In b(body);
  std::uint16_t topic_len = 0;
  std::uint32_t props_len = 0;
  const std::uint8_t qos = (type >> 1) & 0x03;
  if (!b.u16(topic_len) || !b.skip(topic_len) || (qos > 0 && !b.skip(2)) ||
      !mqtt_varint(b, props_len) || !b.skip(props_len)) {
    return false;
  }
  bytes = topic_len + b.rest().size();
  return true;
}

void put_ids(std::string& out, std::span<const std::uint32_t> ids) {
  put_varint(out, ids.size());
  for (std::uint32_t id : ids) put_varint(out, id);
}

bool get_ids(In& in, std::vector<std::uint32_t>& ids) {
  std::uint64_t n = 0;
  if (!in.varint(n)) return false;
  ids.clear();
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint64_t id = 0;
    if (!in.varint(id) || id > std::numeric_limits<std::uint32_t>::max()) return false;
    ids.push_back(static_cast<std::uint32_t>(id));
  }
  return true;
}

constexpr std::uint8_t kDeliveryQos = 0x03;
constexpr std::uint8_t kDeliveryRetain = 0x04;
constexpr std::uint8_t kInflightHasMessage = 0x08;

std::uint8_t delivery_flags(const Delivery& d) {
  return static_cast<std::uint8_t>((d.qos & kDeliveryQos) | (d.retain ? kDeliveryRetain : 0));
}

void append_be(std::string& out, std::uint64_t v, int bytes) {
  char b[8];
  for (int i = 0; i < bytes; ++i) b[i] = static_cast<char>(v >> ((bytes - 1 - i) * 8));
  out.append(b, static_cast<std::size_t>(bytes));
}

void prefixed_name(std::string_view prefix, std::string_view name, bool terminate,
                   std::string& out) {
  out.clear();
  out.reserve(prefix.size() + name.size() + 9);
  out.append(prefix);
  out.append(name);
  if (terminate) out.push_back('\0');
}

bool parse_client_key(std::string_view key, std::string_view prefix, std::size_t tail,
                      std::string_view& client, std::uint64_t& value) {
  if (key.size() < prefix.size() + 1 + tail || key.substr(0, prefix.size()) != prefix) {
    return false;
  }
  const std::size_t sep = key.size() - tail - 1;
  if (key[sep] != '\0') return false;
  client = key.substr(prefix.size(), sep - prefix.size());
  value = 0;
  for (std::size_t i = sep + 1; i < key.size(); ++i) {
    value = (value << 8) | static_cast<std::uint8_t>(key[i]);
  }
  return true;
}

// Session flags.
constexpr std::uint8_t kSesExpiresAt = 0x01;
constexpr std::uint8_t kSesWill = 0x02;
constexpr std::uint8_t kSesWillDue = 0x04;
constexpr std::uint8_t kSesWillDelay = 0x08;
constexpr std::uint8_t kSesKnown = 0x0F;

}  // namespace

// ---- keys

void session_key(std::string_view client, std::string& out) {
  prefixed_name(kSessionPrefix, client, false, out);
}
void queue_prefix(std::string_view client, std::string& out) {
  prefixed_name(kQueuePrefix, client, true, out);
}
void queue_key(std::string_view client, std::uint64_t seq, std::string& out) {
  queue_prefix(client, out);
  append_be(out, seq, 8);  // big-endian: byte order == numeric order
}
void inflight_prefix(std::string_view client, std::string& out) {
  prefixed_name(kInflightPrefix, client, true, out);
}
void inflight_key(std::string_view client, std::uint16_t packet_id, std::string& out) {
  inflight_prefix(client, out);
  append_be(out, packet_id, 2);
}
void retained_key(std::string_view topic, std::string& out) {
  prefixed_name(kRetainedPrefix, topic, false, out);
}

bool parse_queue_key(std::string_view key, std::string_view& client, std::uint64_t& seq) {
  return parse_client_key(key, kQueuePrefix, 8, client, seq);
}
bool parse_inflight_key(std::string_view key, std::string_view& client, std::uint16_t& id) {
  std::uint64_t v = 0;
  if (!parse_client_key(key, kInflightPrefix, 2, client, v)) return false;
  id = static_cast<std::uint16_t>(v);
  return true;
}

// ---- checks

const char* check_name(std::string_view name) {
  if (name.find('\0') != std::string_view::npos) {
    return "client id or topic contains U+0000 [MQTT-1.5.4-2]";
  }
  return nullptr;
}

// What the codec's decoder would refuse when the record is loaded, refused now instead, so
// that everything stored can be read back.
const char* check_message(const MessageView& m) {
  if (m.topic.size() > 65535 || !codec::valid_topic_name(m.topic)) {
    return "topic name is not a valid MQTT topic name [MQTT-3.3.2-1], [MQTT-3.3.2-2]";
  }
  if (m.qos > 2) return "message QoS above 2";
  if (m.props != nullptr) {
    const codec::Properties& p = *m.props;
    if (p.payload_format_indicator && *p.payload_format_indicator > 1) {
      return "payload format indicator is not 0 or 1";
    }
    if (p.response_topic && !codec::valid_topic_name(*p.response_topic)) {
      return "response topic is not a valid topic name [MQTT-3.3.2-14]";
    }
    if (p.content_type && !codec::valid_utf8(*p.content_type)) {
      return "content type is not valid UTF-8 [MQTT-1.5.4-1]";
    }
    for (const codec::UserProperty& up : p.user_properties) {
      if (!codec::valid_utf8(up.first) || !codec::valid_utf8(up.second)) {
        return "user property is not valid UTF-8 [MQTT-1.5.4-1]";
      }
    }
  }
  if (m.payload.size() > kMaxPublishBytes) return "message larger than an MQTT packet";
  const codec::PublishView v = publish_view(m.topic, m.payload, m.qos, m.retain, m.props);
  if (codec::publish_size(v, codec::ProtocolVersion::v5) > kMaxPublishBytes) {
    return "message larger than an MQTT packet";
  }
  return nullptr;
}

const char* check_delivery(const Delivery& d) {
  return d.qos > 2 ? "delivery QoS above 2" : nullptr;
}

const char* check_session(const SessionRecord& s) {
  if (const char* e = check_name(s.client_id)) return e;
  for (const SubscriptionRecord& sub : s.subscriptions) {
    if (sub.max_qos > 2 || sub.retain_handling > 2) return "subscription option out of range";
  }
  if (s.will) {
    const MessageView w{s.will->topic,  s.will->payload, s.will->qos, s.will->retain,
                        &s.will->props, std::nullopt,    {}};
    if (const char* e = check_message(w)) return e;
  }
  return nullptr;
}

// ---- values

void encode_session(const SessionRecord& s, std::string& out) {
  put_u8(out, kRecordVersion);
  put_u8(out, static_cast<std::uint8_t>(s.version));
  put_u32(out, s.expiry_interval);
  const bool delay = s.will && s.will->props.will_delay_interval.has_value();
  put_u8(out,
         static_cast<std::uint8_t>((s.expires_at ? kSesExpiresAt : 0) | (s.will ? kSesWill : 0) |
                                   (s.will_due ? kSesWillDue : 0) | (delay ? kSesWillDelay : 0)));
  if (s.expires_at) put_time(out, *s.expires_at);
  if (s.will_due) put_time(out, *s.will_due);
  if (delay) put_u32(out, *s.will->props.will_delay_interval);
  put_varint(out, s.subscriptions.size());
  for (const SubscriptionRecord& sub : s.subscriptions) {
    put_bytes(out, sub.filter);
    put_u8(out, static_cast<std::uint8_t>((sub.max_qos & 0x03) | (sub.no_local ? 0x04 : 0) |
                                          (sub.retain_as_published ? 0x08 : 0) |
                                          ((sub.retain_handling & 0x03) << 4)));
    put_varint(out, sub.subscription_id);
  }
  put_varint(out, s.inbound_qos2.size());
  for (std::uint16_t id : s.inbound_qos2) put_u16(out, id);
  if (s.will) {
    // The will as a PUBLISH: the Will Delay Interval is not a PUBLISH property (Table 2-4),
    // which is why it is stored above.
    codec::encode_publish(
        publish_view(s.will->topic, s.will->payload, s.will->qos, s.will->retain, &s.will->props),
        codec::ProtocolVersion::v5, out);
  }
}

bool decode_session(std::string_view client, std::string_view value, SessionRecord& out) {
  In in(value);
  std::uint8_t version = 0;
  std::uint8_t flags = 0;
  if (!check_version(in) || !in.u8(version) || !in.u32(out.expiry_interval) || !in.u8(flags) ||
      (flags & ~kSesKnown) != 0) {
    return false;
  }
  if (version != static_cast<std::uint8_t>(codec::ProtocolVersion::v311) &&
      version != static_cast<std::uint8_t>(codec::ProtocolVersion::v5)) {
    return false;
  }
  out.client_id.assign(client);
  out.version = static_cast<codec::ProtocolVersion>(version);
  out.expires_at.reset();
  out.will_due.reset();
  out.will.reset();
  BrokerTime t;
  if (flags & kSesExpiresAt) {
    if (!in.time(t)) return false;
    out.expires_at = t;
  }
  if (flags & kSesWillDue) {
    if (!in.time(t)) return false;
    out.will_due = t;
  }
  std::uint32_t delay = 0;
  if ((flags & kSesWillDelay) && !in.u32(delay)) return false;
  std::uint64_t n = 0;
  if (!in.varint(n)) return false;
  out.subscriptions.clear();
  for (std::uint64_t i = 0; i < n; ++i) {
    SubscriptionRecord sub;
    std::string_view filter;
    std::uint8_t opts = 0;
    std::uint64_t id = 0;
    if (!in.bytes(filter) || !in.u8(opts) || !in.varint(id) ||
        id > std::numeric_limits<std::uint32_t>::max() || (opts & 0xC0) != 0) {
      return false;
    }
    sub.filter.assign(filter);
    sub.max_qos = opts & 0x03;
    sub.no_local = opts & 0x04;
    sub.retain_as_published = opts & 0x08;
    sub.retain_handling = (opts >> 4) & 0x03;
    sub.subscription_id = static_cast<std::uint32_t>(id);
    out.subscriptions.push_back(std::move(sub));
  }
  if (!in.varint(n) || n > 65535) return false;
  out.inbound_qos2.clear();
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint16_t id = 0;
    if (!in.u16(id)) return false;
    out.inbound_qos2.push_back(id);
  }
  if (flags & kSesWill) {
    codec::Publish p;
    if (!decode_publish(in.rest(), p)) return false;
    codec::Will w;
    w.topic = std::move(p.topic);
    w.payload = std::move(p.payload);
    w.qos = p.qos;
    w.retain = p.retain;
    w.props = std::move(p.props);
    if (flags & kSesWillDelay) w.props.will_delay_interval = delay;
    out.will = std::move(w);
  } else if (!in.empty() || (flags & kSesWillDelay)) {
    return false;
  }
  return true;
}

void encode_queue_entry(const Delivery& d, const MessageView& m, std::string& out) {
  put_u8(out, kRecordVersion);
  put_u8(out, delivery_flags(d));
  put_ids(out, d.subscription_ids);
  encode_message(m, out);
}

bool decode_queue_entry(std::uint64_t seq, std::string_view value, QueueEntry& out) {
  In in(value);
  std::uint8_t flags = 0;
  if (!check_version(in) || !in.u8(flags) || (flags & ~(kDeliveryQos | kDeliveryRetain)) ||
      (flags & kDeliveryQos) == 3 || !get_ids(in, out.subscription_ids)) {
    return false;
  }
  out.seq = seq;
  out.qos = flags & kDeliveryQos;
  out.retain = flags & kDeliveryRetain;
  return decode_message(in, out.message);
}

bool peek_queue_entry_bytes(std::string_view value, std::uint64_t& bytes) {
  In in(value);
  std::uint8_t flags = 0;
  std::uint64_t n = 0;
  if (!check_version(in) || !in.u8(flags) || !in.varint(n)) return false;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint64_t id = 0;
    if (!in.varint(id)) return false;
  }
  return peek_message_bytes(in, bytes);
}

void encode_inflight(const InflightInfo& f, const MessageView* m, std::string& out) {
  put_u8(out, kRecordVersion);
  put_u8(out, static_cast<std::uint8_t>(f.stage));
  put_u8(out, static_cast<std::uint8_t>(delivery_flags(f.delivery) |
                                        (m != nullptr ? kInflightHasMessage : 0)));
  put_varint(out, f.order);
  put_ids(out, f.delivery.subscription_ids);
  if (m != nullptr) encode_message(*m, out);
}

bool decode_inflight(std::uint16_t packet_id, std::string_view value, InflightRecord& out) {
  In in(value);
  std::uint8_t stage = 0;
  std::uint8_t flags = 0;
  if (!check_version(in) || !in.u8(stage) ||
      stage > static_cast<std::uint8_t>(InflightStage::await_pubcomp) || !in.u8(flags) ||
      (flags & ~(kDeliveryQos | kDeliveryRetain | kInflightHasMessage)) ||
      (flags & kDeliveryQos) == 3 || !in.varint(out.order) || !get_ids(in, out.subscription_ids)) {
    return false;
  }
  out.packet_id = packet_id;
  out.stage = static_cast<InflightStage>(stage);
  out.qos = flags & kDeliveryQos;
  out.retain = flags & kDeliveryRetain;
  out.message.reset();
  if (flags & kInflightHasMessage) {
    if (!decode_message(in, out.message.emplace())) return false;
  } else if (!in.empty()) {
    return false;
  }
  return true;
}

void encode_retained(const MessageView& m, std::string& out) {
  put_u8(out, kRecordVersion);
  encode_message(m, out);
}

bool decode_retained(std::string_view value, StoredMessage& out) {
  In in(value);
  return check_version(in) && decode_message(in, out);
}

void encode_clock(const ClockRecord& c, std::string& out) {
  put_u8(out, kRecordVersion);
  put_time(out, c.broker);
  put_u64(out, static_cast<std::uint64_t>(c.wall.time_since_epoch().count()));
}

bool decode_clock(std::string_view value, ClockRecord& out) {
  In in(value);
  std::uint64_t wall = 0;
  if (!check_version(in) || !in.time(out.broker) || !in.u64(wall) || !in.empty()) return false;
  out.wall = WallTime(std::chrono::milliseconds(static_cast<std::int64_t>(wall)));
  return true;
}

void encode_format_version(std::string& out) { put_u32(out, kFormatVersion); }

bool decode_format_version(std::string_view value, std::uint32_t& version) {
  In in(value);
  return in.u32(version) && in.empty();
}

}  // namespace tern::storage::format
