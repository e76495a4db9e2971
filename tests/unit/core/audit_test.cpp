// Conformance audit: one test per spec rule found deviating (or at risk) in core, named
// after the rule. Each drives the broker through packets and a fake clock.
#include <catch2/catch.hpp>

#include <string>

#include "broker/codec/codec.hpp"
#include "tests/unit/core/harness.hpp"

namespace tern::core::test {
namespace {

using codec::ReasonCode;

std::size_t encoded_size(const codec::Packet& p, ProtocolVersion v) {
  std::string out;
  codec::encode(p, v, out);
  return out.size();
}

}  // namespace

TEST_CASE("MQTT-3.2.2-19 refusing CONNACK drops its Reason String past the client's maximum",
          "[core][connect][audit]") {
  Harness h;
  ConnectArgs a{"a"};
  a.props.authentication_method = "SCRAM-SHA-1";  // refused with 0x8C and a reason string
  a.props.maximum_packet_size = 8;
  const ConnId c = h.connect_raw(a);
  auto acks = h.inbox(c).packets<codec::Connack>();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].reason_code == u8(ReasonCode::BadAuthenticationMethod));
  CHECK(encoded_size(acks[0], ProtocolVersion::v5) <= 8);
  CHECK_FALSE(acks[0].props.reason_string);

  // Without a limit the reason string is sent.
  ConnectArgs b{"b"};
  b.props.authentication_method = "SCRAM-SHA-1";
  const ConnId c2 = h.connect_raw(b);
  CHECK(h.inbox(c2).packets<codec::Connack>().at(0).props.reason_string);
}


TEST_CASE("MQTT-3.14.2-3 server DISCONNECT drops its Reason String past the client's maximum",
          "[core][disconnect][audit]") {
  Harness h;
  ConnectArgs a{"a"};
  a.props.maximum_packet_size = 6;
  const ConnId c = h.connect(a);
  h.send(c, codec::Auth{});  // protocol error: DISCONNECT 0x82 with a reason string
  auto d = h.inbox(c).packets<codec::Disconnect>();
  REQUIRE(d.size() == 1);
  CHECK(d[0].reason_code == u8(ReasonCode::ProtocolError));
  CHECK(encoded_size(d[0], ProtocolVersion::v5) <= 6);
}

TEST_CASE("MQTT-3.4.2-2 PUBACK Reason String dropped past the client's maximum",
          "[core][qos][audit]") {
  Harness h;
  ConnectArgs a{"a"};
  a.props.maximum_packet_size = 10;
  const ConnId c = h.connect(a);
  codec::Properties pr;
  pr.payload_format_indicator = 1;
  h.publish(c, "t", std::string("\xff\xfe", 2), 1, false, 5, pr);  // 0x99 with a reason
  auto acks = h.inbox(c).packets<codec::Puback>();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].reason_code == u8(ReasonCode::PayloadFormatInvalid));
  CHECK(encoded_size(acks[0], ProtocolVersion::v5) <= 10);
}

TEST_CASE("MQTT-4.3.3-11 PUBREL for an unknown id: PUBCOMP 0x92 (v5), plain PUBCOMP (3.1.1)",
          "[core][qos][audit]") {
  Harness h;
  const ConnId c5 = h.connect("a");
  h.pubrel(c5, 77);
  auto comps = h.inbox(c5).packets<codec::Pubcomp>();
  REQUIRE(comps.size() == 1);
  CHECK(comps[0].packet_id == 77);
  CHECK(comps[0].reason_code == u8(ReasonCode::PacketIdentifierNotFound));
  CHECK_FALSE(h.inbox(c5).closed());

  const ConnId c3 = h.connect("b", ProtocolVersion::v311);
  h.pubrel(c3, 78);
  comps = h.inbox(c3).packets<codec::Pubcomp>();
  REQUIRE(comps.size() == 1);
  CHECK(comps[0].packet_id == 78);
  CHECK_FALSE(h.inbox(c3).closed());
}

TEST_CASE("MQTT-3.8.4-8 retained delivery QoS is min(retained QoS, granted QoS)",
          "[core][retain][audit]") {
  BrokerOptions o;
  o.maximum_qos = 1;
  Harness h(o);
  const ConnId p = h.connect("p");
  h.publish(p, "r/1", "two", 1, true);
  const ConnId s = h.connect("s");
  CHECK(h.subscribe(s, "r/#", 2) == 1);  // granted downgraded to the server maximum
  auto pubs = h.inbox(s).publishes();
  REQUIRE(pubs.size() == 1);
  CHECK(pubs[0].qos == 1);
  CHECK(pubs[0].retain);
  const ConnId s0 = h.connect("s0");
  CHECK(h.subscribe(s0, "r/1", 0) == 0);
  pubs = h.inbox(s0).publishes();
  REQUIRE(pubs.size() == 1);
  CHECK(pubs[0].qos == 0);
}

TEST_CASE("MQTT-3.3.1-10 empty retained PUBLISH is forwarded (RETAIN 0 in 3.1.1) and clears",
          "[core][retain][audit]") {
  Harness h;
  const ConnId p = h.connect("p");
  h.publish(p, "r", "v", 0, true);
  const ConnId s = h.connect("s", ProtocolVersion::v311);
  h.subscribe(s, "r", 0);
  h.clear(s);
  h.publish(p, "r", "", 0, true);
  auto pubs = h.inbox(s).publishes();
  REQUIRE(pubs.size() == 1);
  CHECK(pubs[0].msg->payload.empty());
  CHECK_FALSE(pubs[0].retain);  // [MQTT-3.3.1-9] (3.1.1) established subscription
  const ConnId s2 = h.connect("s2");
  h.subscribe(s2, "r", 0);
  CHECK(h.inbox(s2).publishes().empty());  // [MQTT-3.3.1-11] nothing retained any more
}

TEST_CASE("MQTT-3.1.3-9 will delay longer than session expiry: sent when the session ends",
          "[core][will][audit]") {
  Harness h;
  const ConnId s = h.connect("s");
  h.subscribe(s, "w", 0);
  ConnectArgs a{"a"};
  a.props.session_expiry_interval = 2;
  a.will = make_will("w", "gone", 0, false, 10);
  const ConnId c = h.connect(a);
  h.closed(c);
  h.clear(s);
  h.advance(1s);
  CHECK(h.payloads(s).empty());
  h.advance(1500ms);
  CHECK(h.payloads(s) == std::vector<std::string>{"gone"});
  h.clear(s);
  h.advance(20s);
  CHECK(h.payloads(s).empty());  // once only
}

TEST_CASE("MQTT-3.1.2-10 DISCONNECT 0x00 deletes the will even with a will delay",
          "[core][will][audit]") {
  Harness h;
  const ConnId s = h.connect("s");
  h.subscribe(s, "w", 0);
  ConnectArgs a{"a"};
  a.props.session_expiry_interval = 100;
  a.will = make_will("w", "gone", 0, false, 5);
  const ConnId c = h.connect(a);
  h.disconnect(c, 0);
  h.closed(c);
  h.clear(s);
  h.advance(200s);  // past the delay and the session's end
  CHECK(h.payloads(s).empty());
}

TEST_CASE("MQTT-3.1.2-22 keep-alive 0 means no keep-alive timeout", "[core][keepalive][audit]") {
  Harness h;
  ConnectArgs a{"a"};
  a.keep_alive = 0;
  const ConnId c = h.connect(a);
  h.advance(std::chrono::hours(48));
  CHECK_FALSE(h.inbox(c).closed());
}

TEST_CASE("MQTT-3.3.2-11 Topic Alias Maximum 0 (or absent): the server never sends an alias",
          "[core][v5][alias][audit]") {
  Harness h;
  ConnectArgs a{"a"};
  a.props.topic_alias_maximum = 0;
  const ConnId c = h.connect(a);
  h.subscribe(c, "t", 0);
  for (int i = 0; i < 3; ++i) h.publish(c, "t", "x");
  auto pubs = h.inbox(c).publishes();
  REQUIRE(pubs.size() == 3);
  for (const auto& p : pubs) {
    CHECK(p.topic_alias == 0);
    CHECK_FALSE(p.omit_topic);
  }
}

TEST_CASE("MQTT-2.2.1-3 an outbound packet id is free again only after its flow completes",
          "[core][qos][audit]") {
  Harness h;
  const ConnId s = h.connect("s");
  h.subscribe(s, "t", 2);
  const ConnId p = h.connect("p");
  h.publish(p, "t", "1", 1);
  h.publish(p, "t", "2", 2);
  auto pubs = h.inbox(s).publishes();
  REQUIRE(pubs.size() == 2);
  CHECK(pubs[0].packet_id != pubs[1].packet_id);
  CHECK(pubs[0].packet_id != 0);
  CHECK(pubs[1].packet_id != 0);
}

}  // namespace tern::core::test

namespace tern::core::test {

TEST_CASE("subscriptions per session are bounded: 0x97 (v5) / 0x80 (3.1.1) past the quota",
          "[core][subscribe][audit]") {
  BrokerOptions o;
  o.max_subscriptions_per_session = 3;
  o.max_subscription_bytes_per_session = 64;
  Harness h(o);
  const ConnId c = h.connect("a");
  CHECK(h.subscribe(c, "a/1", 1) == 1);
  CHECK(h.subscribe(c, "a/2", 1) == 1);
  CHECK(h.subscribe(c, "a/3", 1) == 1);
  CHECK(h.subscribe(c, "a/4", 1) == u8(codec::ReasonCode::QuotaExceeded));
  CHECK(h.subscribe(c, "a/3", 2) == 2);  // replacing an existing one is always allowed
  h.send(c, codec::Unsubscribe{9, {"a/1"}, {}});
  CHECK(h.subscribe(c, "a/4", 1) == 1);  // room again after UNSUBSCRIBE
  CHECK(h.stats().subscriptions == 3);

  const ConnId c3 = h.connect("b", ProtocolVersion::v311);
  CHECK(h.subscribe(c3, std::string(70, 'x'), 0) == 0x80);  // past the byte quota
  CHECK(h.subscribe(c3, std::string(60, 'x'), 0) == 0);
  CHECK(h.subscribe(c3, "yyyyy", 0) == 0x80);  // 60 + 5 > 64
}

}  // namespace tern::core::test

namespace tern::core::test {

TEST_CASE("MQTT-4.7.2-1 a client may publish to a $-topic, leading wildcards do not match it",
          "[core][topic][audit]") {
  Harness h;
  const ConnId all = h.connect("all");
  h.subscribe(all, "#", 0);
  const ConnId plus = h.connect("plus");
  h.subscribe(plus, "+/B", 0);
  const ConnId dollar = h.connect("dollar");
  h.subscribe(dollar, "$TopicA/#", 0);
  const ConnId p = h.connect("p", ProtocolVersion::v311);
  h.publish(p, "$TopicA/B", "x", 1);
  CHECK(h.inbox(p).packets<codec::Puback>().size() == 1);
  CHECK_FALSE(h.inbox(p).closed());
  CHECK(h.payloads(all).empty());
  CHECK(h.payloads(plus).empty());
  CHECK(h.payloads(dollar) == std::vector<std::string>{"x"});
}

}  // namespace tern::core::test
