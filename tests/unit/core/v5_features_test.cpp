// MQTT 5 features: topic aliases both ways, subscription identifiers, message expiry,
// maximum packet size, property forwarding, SUBSCRIBE/UNSUBSCRIBE reason codes.
#include "tests/unit/core/harness.hpp"

namespace tern::core::test {
namespace {

using codec::ReasonCode;

// Encodes a SendPublish the way net will and decodes it back as the client would.
codec::Publish wire_roundtrip(const SendPublish& sp, ProtocolVersion v) {
  codec::PublishView view;
  view.qos = sp.qos;
  view.retain = sp.retain;
  view.dup = sp.dup;
  view.topic = sp.omit_topic ? std::string_view{} : std::string_view{sp.msg->topic};
  view.packet_id = sp.packet_id;
  view.payload = sp.msg->payload;
  view.props = sp.msg->props.get();
  view.message_expiry_interval = sp.message_expiry_interval;
  view.topic_alias = sp.topic_alias;
  view.subscription_identifiers = sp.subscription_ids;
  std::string bytes;
  codec::encode_publish(view, v, bytes);
  REQUIRE(bytes.size() == codec::publish_size(view, v));
  codec::DecodeOptions o;
  o.version = v;
  auto r = codec::decode(bytes, o);
  REQUIRE(r.status == codec::DecodeStatus::Ok);
  return std::get<codec::Publish>(r.packet);
}

TEST_CASE("inbound topic alias: set, reuse, invalid values", "[core][v5][alias]") {
  BrokerOptions o;
  o.topic_alias_maximum = 4;
  Harness h(o);
  const ConnId s = h.connect("s");
  h.subscribe(s, "#");
  const ConnId p = h.connect("p");
  codec::Properties pr;
  pr.topic_alias = 2;
  h.publish(p, "long/topic/name", "1", 0, false, 0, pr);
  h.publish(p, "", "2", 0, false, 0, pr);  // empty topic: resolved by alias
  auto pubs = h.inbox(s).publishes();
  REQUIRE(pubs.size() == 2);
  CHECK(pubs[1].msg->topic == "long/topic/name");
  CHECK_FALSE(pubs[1].msg->props->topic_alias);  // [MQTT-3.3.2-7] never forwarded
  h.publish(p, "other", "3", 0, false, 0, pr);   // remap alias 2
  h.publish(p, "", "4", 0, false, 0, pr);
  CHECK(h.inbox(s).publishes().at(3).msg->topic == "other");

  SECTION("alias 0 -> DISCONNECT 0x94") {
    pr.topic_alias = 0;
    h.publish(p, "x", "y", 0, false, 0, pr);
    CHECK(h.inbox(p).packets<codec::Disconnect>().at(0).reason_code ==
          u8(ReasonCode::TopicAliasInvalid));
  }
  SECTION("alias above our maximum -> DISCONNECT 0x94") {
    pr.topic_alias = 5;
    h.publish(p, "x", "y", 0, false, 0, pr);
    CHECK(h.inbox(p).packets<codec::Disconnect>().at(0).reason_code ==
          u8(ReasonCode::TopicAliasInvalid));
  }
  SECTION("unknown alias with empty topic -> protocol error") {
    pr.topic_alias = 3;
    h.publish(p, "", "y", 0, false, 0, pr);
    CHECK(h.inbox(p).packets<codec::Disconnect>().at(0).reason_code ==
          u8(ReasonCode::ProtocolError));
  }
  SECTION("aliases do not survive the connection") {
    h.disconnect(p);
    const ConnId p2 = h.connect("p");
    pr.topic_alias = 2;
    h.publish(p2, "", "y", 0, false, 0, pr);
    CHECK(h.inbox(p2).packets<codec::Disconnect>().at(0).reason_code ==
          u8(ReasonCode::ProtocolError));
  }
}

TEST_CASE("outbound topic alias honours the client's Topic Alias Maximum",
          "[core][v5][alias]") {
  Harness h;
  ConnectArgs a{"s"};
  a.props.topic_alias_maximum = 2;
  const ConnId s = h.connect(a);
  h.subscribe(s, "#");
  const ConnId plain = h.connect("plain");  // no aliases allowed
  h.subscribe(plain, "#");
  const ConnId p = h.connect("p");
  for (const char* t : {"a", "a", "b", "a", "c", "c"}) h.publish(p, t, t, 0);
  auto pubs = h.inbox(s).publishes();
  REQUIRE(pubs.size() == 6);
  CHECK(pubs[0].topic_alias == 1);
  CHECK_FALSE(pubs[0].omit_topic);  // first use: topic + alias
  CHECK(pubs[1].topic_alias == 1);
  CHECK(pubs[1].omit_topic);  // then alias only
  CHECK(pubs[2].topic_alias == 2);
  CHECK_FALSE(pubs[2].omit_topic);
  CHECK(pubs[3].omit_topic);
  // Out of aliases: recycle one, sending the topic with it.
  CHECK(pubs[4].topic_alias >= 1);
  CHECK(pubs[4].topic_alias <= 2);
  CHECK_FALSE(pubs[4].omit_topic);
  CHECK(pubs[5].omit_topic);
  CHECK(pubs[5].topic_alias == pubs[4].topic_alias);
  // The client's view, decoded from the wire, resolves every topic.
  std::map<std::uint16_t, std::string> client_map;
  for (const auto& sp : pubs) {
    codec::Publish got = wire_roundtrip(sp, ProtocolVersion::v5);
    REQUIRE(got.props.topic_alias);
    if (!got.topic.empty()) client_map[*got.props.topic_alias] = got.topic;
    CHECK(client_map[*got.props.topic_alias] == sp.msg->topic);
  }
  for (const auto& sp : h.inbox(plain).publishes()) CHECK(sp.topic_alias == 0);
}

TEST_CASE("subscription identifier stored with the subscription and sent on delivery",
          "[core][v5]") {
  Harness h;
  const ConnId s = h.connect("s");
  h.subscribe(s, "a/#", 0, {}, 42);
  const ConnId p = h.connect("p");
  h.publish(p, "a/b", "x");
  auto pubs = h.inbox(s).publishes();
  REQUIRE(pubs.size() == 1);
  CHECK(pubs[0].subscription_ids == std::vector<std::uint32_t>{42});
  codec::Publish got = wire_roundtrip(pubs[0], ProtocolVersion::v5);
  CHECK(got.props.subscription_identifiers == std::vector<std::uint32_t>{42});
  // Replacing the subscription without an identifier removes it.
  h.clear(s);
  h.subscribe(s, "a/#", 0);
  h.publish(p, "a/b", "y");
  CHECK(h.inbox(s).publishes().at(0).subscription_ids.empty());
}

TEST_CASE("MQTT-3.3.2-6 Message Expiry Interval: remaining time sent on delivery",
          "[core][v5][expiry]") {
  Harness h;
  ConnectArgs a{"s", ProtocolVersion::v5, false};
  a.props.session_expiry_interval = 3600;
  ConnId s = h.connect(a);
  h.subscribe(s, "t", 1);
  h.closed(s);
  const ConnId p = h.connect("p");
  codec::Properties pr;
  pr.message_expiry_interval = 10;
  h.publish(p, "t", "m", 1, false, 0, pr);
  h.advance(3s);
  s = h.connect_raw(a);
  auto pubs = h.inbox(s).publishes();
  REQUIRE(pubs.size() == 1);
  CHECK(pubs[0].message_expiry_interval == std::optional<std::uint32_t>(7));
  // Forwarded directly: the full interval.
  h.clear(s);
  h.publish(p, "t", "n", 1, false, 0, pr);
  CHECK(h.inbox(s).publishes().at(0).message_expiry_interval ==
        std::optional<std::uint32_t>(10));
  // Without expiry: none sent.
  h.clear(s);
  h.publish(p, "t", "o", 1);
  CHECK_FALSE(h.inbox(s).publishes().at(0).message_expiry_interval);
}

TEST_CASE("MQTT-3.3.2-5 expired messages are dropped from queues", "[core][v5][expiry]") {
  Harness h;
  ConnectArgs a{"s", ProtocolVersion::v5, false};
  a.props.session_expiry_interval = 3600;
  ConnId s = h.connect(a);
  h.subscribe(s, "t", 1);
  h.closed(s);
  const ConnId p = h.connect("p");
  codec::Properties pr;
  pr.message_expiry_interval = 5;
  h.publish(p, "t", "short", 1, false, 0, pr);
  h.publish(p, "t", "long", 1);
  CHECK(h.stats().queued_messages == 2);
  h.advance(5s);  // the queue sweep runs from the timer
  CHECK(h.stats().queued_messages == 1);
  CHECK(h.stats().dropped_expired == 1);
  s = h.connect_raw(a);
  CHECK(h.payloads(s) == std::vector<std::string>{"long"});
}

TEST_CASE("expired messages waiting behind the in-flight window are not sent",
          "[core][v5][expiry]") {
  Harness h;
  ConnectArgs a{"s"};
  a.props.receive_maximum = 1;
  const ConnId s = h.connect(a);
  h.subscribe(s, "t", 1);
  const ConnId p = h.connect("p");
  codec::Properties pr;
  pr.message_expiry_interval = 2;
  h.publish(p, "t", "first", 1);
  h.publish(p, "t", "expiring", 1, false, 0, pr);
  h.publish(p, "t", "last", 1);
  auto pubs = h.inbox(s).publishes();
  REQUIRE(pubs.size() == 1);
  h.advance(3s);
  h.clear(s);
  h.puback(s, pubs[0].packet_id);
  CHECK(h.payloads(s) == std::vector<std::string>{"last"});
  CHECK(h.stats().dropped_expired == 1);
}

TEST_CASE("MQTT-3.1.2-25 PUBLISH larger than the client's Maximum Packet Size is dropped",
          "[core][v5][limits]") {
  Harness h;
  ConnectArgs a{"s"};
  a.props.maximum_packet_size = 64;
  const ConnId s = h.connect(a);
  h.subscribe(s, "t", 1);
  const ConnId p = h.connect("p");
  h.publish(p, "t", std::string(100, 'x'), 1);
  h.publish(p, "t", "small", 1);
  auto pubs = h.inbox(s).publishes();
  REQUIRE(pubs.size() == 1);
  CHECK(pubs[0].msg->payload == "small");
  CHECK(h.stats().dropped_too_large == 1);
  // The dropped one did not take an in-flight slot: acknowledging the small one clears all.
  CHECK(wire_roundtrip(pubs[0], ProtocolVersion::v5).payload == "small");
  // The boundary is the encoded size, exactly.
  codec::PublishView v;
  v.qos = 1;
  v.topic = "t";
  v.packet_id = 1;
  std::string payload(64, 'y');
  while (true) {
    v.payload = payload;
    if (codec::publish_size(v, ProtocolVersion::v5) <= 64) break;
    payload.pop_back();
  }
  h.clear(s);
  h.publish(p, "t", payload, 1);
  CHECK(h.inbox(s).publishes().size() == 1);
  h.publish(p, "t", payload + "z", 1);
  CHECK(h.inbox(s).publishes().size() == 1);
  CHECK(h.stats().dropped_too_large == 2);
}

TEST_CASE("MQTT-3.3.2-17 MQTT-3.3.2-18 MQTT-3.3.2-20 message properties forwarded unchanged",
          "[core][v5]") {
  Harness h;
  const ConnId s = h.connect("s");
  h.subscribe(s, "t");
  const ConnId old = h.connect("old", ProtocolVersion::v311);
  h.subscribe(old, "t");
  const ConnId p = h.connect("p");
  codec::Properties pr;
  pr.payload_format_indicator = 1;
  pr.content_type = "application/json";
  pr.response_topic = "reply/here";
  pr.correlation_data = std::string("\x00\x01", 2);
  pr.user_properties = {{"b", "2"}, {"a", "1"}, {"b", "3"}};
  h.publish(p, "t", "{}", 0, false, 0, pr);
  auto got = wire_roundtrip(h.inbox(s).publishes().at(0), ProtocolVersion::v5);
  CHECK(got.props.payload_format_indicator == pr.payload_format_indicator);
  CHECK(got.props.content_type == pr.content_type);
  CHECK(got.props.response_topic == pr.response_topic);
  CHECK(got.props.correlation_data == pr.correlation_data);
  CHECK(got.props.user_properties == pr.user_properties);
  // The 3.1.1 subscriber gets the same message without properties.
  auto got311 = wire_roundtrip(h.inbox(old).publishes().at(0), ProtocolVersion::v311);
  CHECK(got311.payload == "{}");
  CHECK(got311.props == codec::Properties{});
}

TEST_CASE("SUBSCRIBE reason codes in order, invalid and unsupported filters",
          "[core][subscribe]") {
  BrokerOptions o;
  o.maximum_qos = 1;
  SECTION("v5 codes") {
    Harness h(o);
    const ConnId c = h.connect("c");
    codec::Subscribe s;
    s.packet_id = 7;
    s.entries = {{"a/b", 0}, {"a/#/b", 1}, {"x/+", 2}, {"$share/g/y", 1}};
    h.send(c, s);
    auto ack = h.inbox(c).packets<codec::Suback>().at(0);
    CHECK(ack.packet_id == 7);
    CHECK(ack.reason_codes ==
          std::vector<std::uint8_t>{0, u8(ReasonCode::TopicFilterInvalid), 1, 1});
    CHECK(h.stats().subscriptions == 3);
  }
  SECTION("3.1.1: 0x80 for failures") {
    Harness h(o);
    const ConnId c = h.connect("c", ProtocolVersion::v311);
    codec::Subscribe s;
    s.packet_id = 7;
    s.entries = {{"a+", 0}, {"ok", 2}};
    h.send(c, s);
    CHECK(h.inbox(c).packets<codec::Suback>().at(0).reason_codes ==
          std::vector<std::uint8_t>{0x80, 1});
  }
  SECTION("features switched off") {
    o.wildcard_subscriptions = false;
    o.shared_subscriptions = false;
    o.subscription_identifiers = false;
    Harness h(o);
    const ConnId c = h.connect("c");
    codec::Subscribe s;
    s.packet_id = 1;
    s.entries = {{"a/+", 0}, {"$share/g/t", 0}};
    h.send(c, s);
    CHECK(h.inbox(c).packets<codec::Suback>().at(0).reason_codes ==
          std::vector<std::uint8_t>{u8(ReasonCode::WildcardSubscriptionsNotSupported),
                                    u8(ReasonCode::SharedSubscriptionsNotSupported)});
    s.entries = {{"plain", 0}};
    s.props.subscription_identifiers = {5};
    h.send(c, s);
    CHECK(h.inbox(c).packets<codec::Suback>().at(1).reason_codes ==
          std::vector<std::uint8_t>{u8(ReasonCode::SubscriptionIdentifiersNotSupported)});
    CHECK(h.stats().subscriptions == 0);
  }
}

TEST_CASE("UNSUBSCRIBE: v5 0x00 or 0x11 per filter, 3.1.1 empty UNSUBACK",
          "[core][subscribe]") {
  Harness h;
  const ConnId c = h.connect("c");
  h.subscribe(c, "a");
  codec::Unsubscribe u;
  u.packet_id = 9;
  u.filters = {"a", "b"};
  h.send(c, u);
  auto ack = h.inbox(c).packets<codec::Unsuback>().at(0);
  CHECK(ack.packet_id == 9);
  CHECK(ack.reason_codes ==
        std::vector<std::uint8_t>{0, u8(ReasonCode::NoSubscriptionExisted)});
  CHECK(h.stats().subscriptions == 0);
  const ConnId p = h.connect("p");
  h.publish(p, "a", "x");
  CHECK(h.inbox(c).publishes().empty());

  const ConnId old = h.connect("old", ProtocolVersion::v311);
  h.subscribe(old, "a");
  h.send(old, u);
  auto ack2 = h.inbox(old).packets<codec::Unsuback>().at(0);
  CHECK(ack2.packet_id == 9);
  CHECK(ack2.reason_codes.empty());
}

}  // namespace
}  // namespace tern::core::test

namespace tern::core::test {
namespace {

TEST_CASE("outbound aliases are also bounded by our topic_alias_maximum", "[core][v5][alias]") {
  BrokerOptions o;
  o.topic_alias_maximum = 1;
  Harness h(o);
  ConnectArgs a{"s"};
  a.props.topic_alias_maximum = 10;
  const ConnId s = h.connect(a);
  h.subscribe(s, "#");
  const ConnId p = h.connect("p");
  for (const char* t : {"a", "b", "c"}) h.publish(p, t, t, 0);
  for (const auto& sp : h.inbox(s).publishes()) CHECK(sp.topic_alias == 1);
}

}  // namespace
TEST_CASE("MQTT-3.3.4-6 a client PUBLISH carrying a Subscription Identifier is a protocol error",
          "[core][v5]") {
  Harness h;
  const ConnId s = h.connect("s");
  h.subscribe(s, "t");
  const ConnId p = h.connect("p");
  codec::Properties pr;
  pr.subscription_identifiers.push_back(7);
  h.publish(p, "t", "x", 1, false, 0, pr);
  CHECK(h.inbox(p).packets<codec::Disconnect>().at(0).reason_code ==
        u8(ReasonCode::ProtocolError));
  CHECK(h.inbox(p).closed());
  CHECK(h.inbox(s).publishes().empty());  // not routed
}

}  // namespace tern::core::test
