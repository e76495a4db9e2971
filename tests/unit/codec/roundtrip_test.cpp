// Round trips encode -> decode for every packet type with every property it may carry,
// truncation at every byte, and the exactness of publish_size.
#include <vector>

#include "tests/unit/codec/codec_test_util.hpp"

using namespace tern::codec;
using namespace tern::codec::test;

namespace {

std::vector<UserProperty> users() { return {{"k1", "v1"}, {"k1", "v2"}, {"\xC3\xA9", ""}}; }

Properties will_props() {
  Properties p;
  p.will_delay_interval = 30;
  p.payload_format_indicator = 1;
  p.message_expiry_interval = 3600;
  p.content_type = "text/plain";
  p.response_topic = "reply/here";
  p.correlation_data = std::string("\x00\xFF\x01", 3);
  p.user_properties = users();
  return p;
}

Connect full_connect(ProtocolVersion v) {
  Connect c;
  c.version = v;
  c.clean_start = false;
  c.keep_alive = 65535;
  c.client_id = "client-\xE2\x82\xAC";  // euro sign
  c.will = Will{"will/topic", std::string("\x00\x01\x02", 3), 2, true, {}};
  c.username = "user";
  c.password = std::string("\x00pw", 3);
  if (v == v5) {
    c.will->props = will_props();
    c.props.session_expiry_interval = 0xFFFFFFFF;
    c.props.receive_maximum = 100;
    c.props.maximum_packet_size = 1 << 20;
    c.props.topic_alias_maximum = 16;
    c.props.request_response_information = 1;
    c.props.request_problem_information = 0;
    c.props.user_properties = users();
    c.props.authentication_method = "SCRAM-SHA-1";
    c.props.authentication_data = "data";
  }
  return c;
}

Connack full_connack(ProtocolVersion v) {
  Connack c;
  c.session_present = true;
  if (v == v5) {
    Properties& p = c.props;
    p.session_expiry_interval = 120;
    p.receive_maximum = 10;
    p.maximum_qos = 1;
    p.retain_available = 0;
    p.maximum_packet_size = 4096;
    p.assigned_client_identifier = "auto-1";
    p.topic_alias_maximum = 5;
    p.reason_string = "welcome";
    p.user_properties = users();
    p.wildcard_subscription_available = 1;
    p.subscription_identifier_available = 0;
    p.shared_subscription_available = 1;
    p.server_keep_alive = 30;
    p.response_information = "resp/";
    p.server_reference = "other:1883";
    p.authentication_method = "m";
    p.authentication_data = "d";
  }
  return c;
}

Publish full_publish(ProtocolVersion v) {
  Publish p;
  p.qos = 2;
  p.retain = true;
  p.dup = true;
  p.topic = "sensors/\xEF\xBB\xBF/temp";  // U+FEFF kept as is [MQTT-1.5.4-3]
  p.packet_id = 0xBEEF;
  p.payload = std::string("\x00\x01payload\xFF", 10);
  if (v == v5) {
    p.props.payload_format_indicator = 0;
    p.props.message_expiry_interval = 10;
    p.props.topic_alias = 7;
    p.props.response_topic = "r/t";
    p.props.correlation_data = "corr";
    p.props.user_properties = users();
    p.props.subscription_identifiers = {1, 127, 128, 16384, 268435455};
    p.props.content_type = "application/octet-stream";
  }
  return p;
}

template <class Ack>
Ack full_ack(ProtocolVersion v, std::uint8_t rc) {
  Ack a;
  a.packet_id = 0x1234;
  if (v == v5) {
    a.reason_code = rc;
    a.props.reason_string = "because";
    a.props.user_properties = users();
  }
  return a;
}

std::vector<Packet> all_packets(ProtocolVersion v) {
  const bool is5 = v == v5;
  std::vector<Packet> out;
  out.emplace_back(full_connect(v));
  out.emplace_back(full_connack(v));
  out.emplace_back(full_publish(v));
  out.emplace_back(full_ack<Puback>(v, 0x10));
  out.emplace_back(full_ack<Pubrec>(v, 0x80));
  out.emplace_back(full_ack<Pubrel>(v, 0x92));
  out.emplace_back(full_ack<Pubcomp>(v, 0x00));

  Subscribe s;
  s.packet_id = 9;
  s.entries = {{"a/+/c", 0, false, false, 0}, {"#", 1, false, false, 0},
               {"$share/grp/x/#", 2, false, false, 0}};
  if (is5) {
    s.entries[0].no_local = true;
    s.entries[0].retain_handling = 2;
    s.entries[1].retain_as_published = true;
    s.entries[1].retain_handling = 1;
    s.props.subscription_identifiers = {268435455};
    s.props.user_properties = users();
  }
  out.emplace_back(s);

  Suback sa;
  sa.packet_id = 9;
  sa.reason_codes = is5 ? std::vector<std::uint8_t>{0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F,
                                                    0x91, 0x97, 0x9E, 0xA1, 0xA2}
                        : std::vector<std::uint8_t>{0x00, 0x01, 0x02, 0x80};
  if (is5) {
    sa.props.reason_string = "partial";
    sa.props.user_properties = users();
  }
  out.emplace_back(sa);

  Unsubscribe u;
  u.packet_id = 11;
  u.filters = {"a/+/c", "$share/g/#", "x"};
  if (is5) u.props.user_properties = users();
  out.emplace_back(u);

  Unsuback ua;
  ua.packet_id = 11;
  if (is5) {
    ua.reason_codes = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
    ua.props.reason_string = "done";
    ua.props.user_properties = users();
  }
  out.emplace_back(ua);

  out.emplace_back(Pingreq{});
  out.emplace_back(Pingresp{});

  Disconnect d;
  if (is5) {
    d.reason_code = 0x8B;
    d.props.session_expiry_interval = 0;
    d.props.reason_string = "shutting down";
    d.props.user_properties = users();
    d.props.server_reference = "elsewhere";
  }
  out.emplace_back(d);

  if (is5) {
    Auth a;
    a.reason_code = 0x19;
    a.props.authentication_method = "SCRAM-SHA-1";
    a.props.authentication_data = std::string(300, '\x7F');
    a.props.reason_string = "re-auth";
    a.props.user_properties = users();
    out.emplace_back(a);
  }
  return out;
}

const char* type_name(const Packet& p) {
  static const char* const kNames[] = {"CONNECT", "CONNACK",  "PUBLISH",     "PUBACK",
                                       "PUBREC",  "PUBREL",   "PUBCOMP",     "SUBSCRIBE",
                                       "SUBACK",  "UNSUBSCRIBE", "UNSUBACK", "PINGREQ",
                                       "PINGRESP", "DISCONNECT", "AUTH"};
  return kNames[p.index()];
}

}  // namespace

TEST_CASE("round trip of every packet type with all properties") {
  for (ProtocolVersion v : {v311, v5}) {
    for (const Packet& p : all_packets(v)) {
      DYNAMIC_SECTION(type_name(p) << (v == v5 ? " 5.0" : " 3.1.1")) {
        const std::string wire = enc(p, v);
        const DecodeResult r = dec(wire, v);
        INFO("detail: " << r.detail);
        REQUIRE(r.status == DecodeStatus::Ok);
        CHECK(r.consumed == wire.size());
        CHECK(r.packet == p);
        // Encoding is deterministic: decode -> encode gives the same bytes.
        CHECK(enc(r.packet, v) == wire);
      }
    }
  }
}

TEST_CASE("every truncation of a round-tripped packet needs more bytes") {
  for (ProtocolVersion v : {v311, v5}) {
    for (const Packet& p : all_packets(v)) {
      DYNAMIC_SECTION(type_name(p) << (v == v5 ? " 5.0" : " 3.1.1")) {
        const std::string wire = enc(p, v);
        for (std::size_t n = 0; n < wire.size(); ++n) {
          const DecodeResult r = dec(std::string_view(wire).substr(0, n), v);
          INFO("prefix length " << n);
          REQUIRE(r.status == DecodeStatus::NeedMore);
        }
      }
    }
  }
}

TEST_CASE("3.1.1 encoding drops properties and v5-only fields") {
  Publish p = full_publish(v5);
  const std::string w = enc(p, v311);
  const DecodeResult r = dec(w, v311);
  REQUIRE(r.status == DecodeStatus::Ok);
  const Publish& got = std::get<Publish>(r.packet);
  CHECK(got.topic == p.topic);
  CHECK(got.payload == p.payload);
  CHECK(got.props == Properties{});
}

TEST_CASE("publish_size equals the bytes encode_publish appends") {
  Properties stored;
  stored.payload_format_indicator = 1;
  stored.content_type = "ct";
  stored.response_topic = "resp";
  stored.correlation_data = "cd";
  stored.user_properties = users();
  stored.message_expiry_interval = 100;
  const std::uint32_t ids[] = {1, 200, 70000};

  for (ProtocolVersion v : {v311, v5}) {
    for (std::size_t payload_len : {0u, 1u, 100u, 120u, 127u, 128u, 16383u, 16384u, 2097152u}) {
      for (int variant = 0; variant < 4; ++variant) {
        const std::string payload(payload_len, 'p');
        PublishView view;
        view.qos = static_cast<std::uint8_t>(variant % 3);
        view.packet_id = view.qos ? 77 : 0;
        view.retain = variant & 1;
        view.topic = (variant == 3 && v == v5) ? "" : "some/topic";  // 3.1.1 has no alias
        view.payload = payload;
        if (variant >= 1) view.props = &stored;
        if (variant >= 2) {
          view.message_expiry_interval = 5;
          view.subscription_identifiers = ids;
        }
        if (variant == 3) view.topic_alias = 4;
        std::string out = "prefix";
        encode_publish(view, v, out);
        INFO("payload " << payload_len << " variant " << variant);
        REQUIRE(out.size() - 6 == publish_size(view, v));
        REQUIRE(out.substr(0, 6) == "prefix");  // appends, never overwrites
        // And the bytes decode to what the view described.
        const DecodeResult r = dec(std::string_view(out).substr(6), v);
        REQUIRE(r.status == DecodeStatus::Ok);
        const Publish& got = std::get<Publish>(r.packet);
        CHECK(got.qos == view.qos);
        CHECK(got.retain == view.retain);
        CHECK(got.topic == view.topic);
        CHECK(got.payload.size() == payload_len);
      }
    }
  }
}

TEST_CASE("encode_publish applies the per-delivery overrides") {
  Properties stored;
  stored.message_expiry_interval = 100;
  stored.topic_alias = 9;                      // another connection's alias: never forwarded
  stored.subscription_identifiers = {42};      // the publisher's: never forwarded
  stored.user_properties = {{"a", "1"}, {"b", "2"}};
  stored.session_expiry_interval = 7;          // not a PUBLISH property: never written
  const std::uint32_t ids[] = {3, 4};

  PublishView view;
  view.qos = 1;
  view.packet_id = 5;
  view.topic = "t";
  view.payload = "x";
  view.props = &stored;
  view.message_expiry_interval = 60;
  view.topic_alias = 2;
  view.subscription_identifiers = ids;

  std::string out;
  encode_publish(view, v5, out);
  const DecodeResult r = dec(out, v5);
  REQUIRE(r.status == DecodeStatus::Ok);
  const Publish& got = std::get<Publish>(r.packet);
  CHECK(got.props.message_expiry_interval == 60u);
  CHECK(got.props.topic_alias == 2);
  CHECK(got.props.subscription_identifiers == std::vector<std::uint32_t>{3, 4});
  CHECK(got.props.user_properties == stored.user_properties);
  CHECK_FALSE(got.props.session_expiry_interval.has_value());

  // Without overrides: the stored expiry, no alias, no subscription identifiers.
  PublishView plain = view;
  plain.message_expiry_interval.reset();
  plain.topic_alias = 0;
  plain.subscription_identifiers = {};
  out.clear();
  encode_publish(plain, v5, out);
  const DecodeResult r2 = dec(out, v5);
  REQUIRE(r2.status == DecodeStatus::Ok);
  const Publish& got2 = std::get<Publish>(r2.packet);
  CHECK(got2.props.message_expiry_interval == 100u);
  CHECK_FALSE(got2.props.topic_alias.has_value());
  CHECK(got2.props.subscription_identifiers.empty());
}

TEST_CASE("varint encoding uses the minimum number of bytes [MQTT-1.5.5-1]") {
  struct Case {
    std::uint32_t value;
    std::string wire;
  };
  const Case cases[] = {
      {0, bytes({0x00})},
      {127, bytes({0x7F})},
      {128, bytes({0x80, 0x01})},
      {16383, bytes({0xFF, 0x7F})},
      {16384, bytes({0x80, 0x80, 0x01})},
      {2097151, bytes({0xFF, 0xFF, 0x7F})},
      {2097152, bytes({0x80, 0x80, 0x80, 0x01})},
      {268435455, bytes({0xFF, 0xFF, 0xFF, 0x7F})},
  };
  for (const Case& c : cases) {
    std::string out;
    encode_varint(c.value, out);
    CHECK(out == c.wire);
    CHECK(varint_size(c.value) == c.wire.size());
  }
}

TEST_CASE("encode_ack writes the same bytes as encode() of the acknowledgement without "
          "properties, and they decode back", "[codec][encode]") {
  for (const ProtocolVersion v : {v311, v5}) {
    for (const PacketType t :
         {PacketType::Puback, PacketType::Pubrec, PacketType::Pubrel, PacketType::Pubcomp}) {
      for (const std::uint16_t id : {std::uint16_t{1}, std::uint16_t{0x1234}, std::uint16_t{65535}}) {
        // Reason codes each type may carry: PUBACK/PUBREC 0x10, 0x87; PUBREL/PUBCOMP 0x92.
        const bool release = t == PacketType::Pubrel || t == PacketType::Pubcomp;
        const std::vector<std::uint8_t> reasons =
            release ? std::vector<std::uint8_t>{0x00, 0x92}
                    : std::vector<std::uint8_t>{0x00, 0x10, 0x87};
        for (const std::uint8_t reason : reasons) {
          PubAck a;
          a.packet_id = id;
          a.reason_code = v == v5 ? reason : 0;
          Packet p;
          switch (t) {
            case PacketType::Puback: p = Puback{a}; break;
            case PacketType::Pubrec: p = Pubrec{a}; break;
            case PacketType::Pubrel: p = Pubrel{a}; break;
            default: p = Pubcomp{a}; break;
          }
          std::string expected, got;
          encode(p, v, expected);
          encode_ack(t, id, a.reason_code, v, got);
          INFO("version " << static_cast<int>(v) << " type " << static_cast<int>(t) << " id "
                          << id << " reason " << static_cast<int>(reason));
          CHECK(got == expected);
          const DecodeResult r = dec(got, v);
          REQUIRE(r.status == DecodeStatus::Ok);
          CHECK(r.packet == p);
        }
      }
    }
  }
}
