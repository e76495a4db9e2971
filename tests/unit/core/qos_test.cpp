// QoS 0/1/2 state machines in both directions, in-flight window, redelivery on reconnect.
#include "tests/unit/core/harness.hpp"

namespace tern::core::test {
namespace {

using codec::ReasonCode;

ConnectArgs persistent(const std::string& id, ProtocolVersion v = ProtocolVersion::v5) {
  ConnectArgs a{id, v, false};
  if (v == ProtocolVersion::v5) a.props.session_expiry_interval = 3600;
  return a;
}

TEST_CASE("MQTT-3.8.4-8 delivery QoS is the minimum of publish and subscription QoS",
          "[core][qos]") {
  Harness h;
  const ConnId s0 = h.connect("s0");
  const ConnId s2 = h.connect("s2");
  CHECK(h.subscribe(s0, "t", 0) == 0);
  CHECK(h.subscribe(s2, "t", 2) == 2);
  const ConnId p = h.connect("p");
  h.publish(p, "t", "a", 1);
  auto a = h.inbox(s0).publishes();
  auto b = h.inbox(s2).publishes();
  REQUIRE(a.size() == 1);
  REQUIRE(b.size() == 1);
  CHECK(a[0].qos == 0);
  CHECK(a[0].packet_id == 0);
  CHECK(b[0].qos == 1);
  CHECK(b[0].packet_id != 0);
  CHECK(h.stats().messages_received == 1);
  CHECK(h.stats().messages_sent == 2);
}

TEST_CASE("MQTT-4.3.2 inbound QoS 1 is answered with PUBACK after routing", "[core][qos]") {
  Harness h;
  const ConnId s = h.connect("s");
  h.subscribe(s, "t", 1);
  const ConnId p = h.connect("p");
  h.publish(p, "t", "x", 1, false, 77);
  auto acks = h.inbox(p).packets<codec::Puback>();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].packet_id == 77);
  CHECK(acks[0].reason_code == 0);
  CHECK(h.payloads(s) == std::vector<std::string>{"x"});
  // A PUBACK without properties leaves core as a compact SendAck, not a whole Packet.
  CHECK(h.compact_acks() == 1);
}

TEST_CASE("MQTT-4.3.3 inbound QoS 2: PUBREC, duplicate not routed twice, PUBREL -> PUBCOMP",
          "[core][qos]") {
  Harness h;
  const ConnId s = h.connect("s");
  h.subscribe(s, "t", 2);
  const ConnId p = h.connect("p");
  h.publish(p, "t", "once", 2, false, 9);
  CHECK(h.inbox(p).packets<codec::Pubrec>().size() == 1);
  CHECK(h.payloads(s).size() == 1);
  // The client did not see the PUBREC and resends with DUP.
  codec::Publish dup;
  dup.topic = "t";
  dup.payload = "once";
  dup.qos = 2;
  dup.dup = true;
  dup.packet_id = 9;
  h.send(p, dup);
  CHECK(h.inbox(p).packets<codec::Pubrec>().size() == 2);
  CHECK(h.payloads(s).size() == 1);  // routed once
  const std::size_t compact_before = h.compact_acks();
  h.pubrel(p, 9);
  CHECK(h.compact_acks() == compact_before + 1);  // the PUBCOMP
  auto comp = h.inbox(p).packets<codec::Pubcomp>();
  REQUIRE(comp.size() == 1);
  CHECK(comp[0].packet_id == 9);
  CHECK(comp[0].reason_code == 0);
  // The id is free again: a new PUBLISH with it is a new message.
  h.publish(p, "t", "again", 2, false, 9);
  CHECK(h.payloads(s).size() == 2);
  // PUBREL for an unknown id: v5 PUBCOMP 0x92.
  h.pubrel(p, 1234);
  comp = h.inbox(p).packets<codec::Pubcomp>();
  REQUIRE(comp.size() == 2);
  CHECK(comp[1].packet_id == 1234);
  CHECK(comp[1].reason_code == u8(ReasonCode::PacketIdentifierNotFound));
}

TEST_CASE("inbound QoS 2 state survives a reconnect of a persistent session", "[core][qos]") {
  Harness h;
  const ConnId s = h.connect("s");
  h.subscribe(s, "t", 2);
  ConnId p = h.connect(persistent("p"));
  h.publish(p, "t", "m", 2, false, 5);
  h.closed(p);  // connection lost before PUBREL
  p = h.connect(persistent("p"));
  codec::Publish dup;
  dup.topic = "t";
  dup.payload = "m";
  dup.qos = 2;
  dup.dup = true;
  dup.packet_id = 5;
  h.send(p, dup);
  CHECK(h.payloads(s).size() == 1);
  h.pubrel(p, 5);
  CHECK(h.inbox(p).packets<codec::Pubcomp>().at(0).reason_code == 0);
}

TEST_CASE("receive maximum exceeded inbound -> DISCONNECT 0x93", "[core][qos][flow]") {
  BrokerOptions o;
  o.receive_maximum = 2;
  Harness h(o);
  const ConnId p = h.connect("p");
  h.publish(p, "t", "1", 2, false, 1);
  h.publish(p, "t", "2", 2, false, 2);
  CHECK_FALSE(h.inbox(p).closed());
  h.pubrel(p, 1);  // one completes: room for one more
  h.publish(p, "t", "3", 2, false, 3);
  CHECK_FALSE(h.inbox(p).closed());
  h.publish(p, "t", "4", 2, false, 4);
  auto d = h.inbox(p).packets<codec::Disconnect>();
  REQUIRE(d.size() == 1);
  CHECK(d[0].reason_code == u8(ReasonCode::ReceiveMaximumExceeded));
  CHECK(h.inbox(p).closed());
}

TEST_CASE("outbound QoS 1: PUBACK completes, unknown PUBACK ignored", "[core][qos]") {
  Harness h;
  const ConnId s = h.connect("s");
  h.subscribe(s, "t", 1);
  const ConnId p = h.connect("p");
  h.publish(p, "t", "a", 1);
  auto pubs = h.inbox(s).publishes();
  REQUIRE(pubs.size() == 1);
  h.clear(s);
  h.puback(s, 999);  // unknown: nothing happens
  CHECK(h.inbox(s).actions.empty());
  CHECK_FALSE(h.inbox(s).closed());
  h.puback(s, pubs[0].packet_id);
  CHECK(h.inbox(s).actions.empty());
}

TEST_CASE("outbound QoS 2: PUBREC -> PUBREL -> PUBCOMP, failure PUBREC ends the flow",
          "[core][qos]") {
  BrokerOptions o;
  o.max_inflight_out = 1;
  Harness h(o);
  const ConnId s = h.connect("s");
  h.subscribe(s, "t", 2);
  const ConnId p = h.connect("p");
  h.publish(p, "t", "a", 2);
  h.publish(p, "t", "b", 2);
  auto pubs = h.inbox(s).publishes();
  REQUIRE(pubs.size() == 1);  // window of 1
  const auto id = pubs[0].packet_id;
  CHECK(pubs[0].qos == 2);
  h.clear(s);
  h.pubrec(s, id);
  auto rel = h.inbox(s).packets<codec::Pubrel>();
  REQUIRE(rel.size() == 1);
  CHECK(rel[0].packet_id == id);
  CHECK(h.inbox(s).publishes().empty());  // still in flight until PUBCOMP
  h.pubrec(s, id);                        // duplicate PUBREC: PUBREL again
  CHECK(h.inbox(s).packets<codec::Pubrel>().size() == 2);
  h.clear(s);
  h.pubcomp(s, id);
  pubs = h.inbox(s).publishes();
  REQUIRE(pubs.size() == 1);
  CHECK(pubs[0].msg->payload == "b");
  h.clear(s);
  // A PUBREC with a failure code ends the flow: no PUBREL, next one goes out.
  h.publish(p, "t", "c", 2);
  h.pubrec(s, pubs[0].packet_id, u8(ReasonCode::UnspecifiedError));
  CHECK(h.inbox(s).packets<codec::Pubrel>().empty());
  REQUIRE(h.inbox(s).publishes().size() == 1);
  CHECK(h.inbox(s).publishes()[0].msg->payload == "c");
  // PUBREC for an unknown id (v5): PUBREL 0x92.
  h.clear(s);
  h.pubrec(s, 4321);
  auto r = h.inbox(s).packets<codec::Pubrel>();
  REQUIRE(r.size() == 1);
  CHECK(r[0].reason_code == u8(ReasonCode::PacketIdentifierNotFound));
}

TEST_CASE("MQTT-4.9.0 in-flight window = client Receive Maximum, queued in order",
          "[core][qos][flow]") {
  Harness h;
  ConnectArgs a{"s"};
  a.props.receive_maximum = 2;
  const ConnId s = h.connect(a);
  h.subscribe(s, "t", 1);
  const ConnId p = h.connect("p");
  for (int i = 0; i < 5; ++i) h.publish(p, "t", std::to_string(i), 1);
  auto pubs = h.inbox(s).publishes();
  REQUIRE(pubs.size() == 2);
  CHECK(pubs[0].msg->payload == "0");
  CHECK(pubs[1].msg->payload == "1");
  CHECK(pubs[0].packet_id != pubs[1].packet_id);  // [MQTT-2.2.1-3]
  CHECK(h.stats().queued_messages == 3);
  h.clear(s);
  h.puback(s, pubs[1].packet_id);  // out of order ack frees one slot
  auto next = h.inbox(s).publishes();
  REQUIRE(next.size() == 1);
  CHECK(next[0].msg->payload == "2");
  h.clear(s);
  h.puback(s, pubs[0].packet_id);
  h.puback(s, next[0].packet_id);
  CHECK(h.payloads(s) == std::vector<std::string>{"3", "4"});
  CHECK(h.stats().queued_messages == 0);
  // QoS 0 is not limited by the window.
  h.clear(s);
  const ConnId s0 = h.connect("s0");
  h.subscribe(s0, "q0", 0);
  h.subscribe(s, "q0", 0);
  for (int i = 0; i < 5; ++i) h.publish(p, "q0", "z", 0);
  CHECK(h.inbox(s).publishes().size() == 5);
}

TEST_CASE("3.1.1 window is max_inflight_out", "[core][qos][flow]") {
  BrokerOptions o;
  o.max_inflight_out = 3;
  Harness h(o);
  const ConnId s = h.connect("s", ProtocolVersion::v311);
  h.subscribe(s, "t", 1);
  const ConnId p = h.connect("p");
  for (int i = 0; i < 10; ++i) h.publish(p, "t", "m", 1);
  CHECK(h.inbox(s).publishes().size() == 3);
}

TEST_CASE("MQTT-4.4.0-1 reconnect resends unacknowledged PUBLISH (DUP) and PUBREL in order",
          "[core][qos][session]") {
  Harness h;
  for (auto v : {ProtocolVersion::v5, ProtocolVersion::v311}) {
    DYNAMIC_SECTION("version " << static_cast<int>(v)) {
      ConnId s = h.connect(persistent("s", v));
      h.subscribe(s, "t", 2);
      const ConnId p = h.connect("p");
      h.publish(p, "t", "m1", 2);
      h.publish(p, "t", "m2", 1);
      h.publish(p, "t", "m3", 2);
      auto first = h.inbox(s).publishes();
      REQUIRE(first.size() == 3);
      h.pubrec(s, first[0].packet_id);  // m1 moves on to PUBREL
      h.closed(s);                      // lost before anything else
      h.publish(p, "t", "m4", 1);       // queued while offline
      s = h.connect_raw(persistent("s", v));
      auto& acts = h.inbox(s).actions;
      // CONNACK, PUBREL(m1), PUBLISH m2 dup, PUBLISH m3 dup, then m4 new.
      REQUIRE(acts.size() >= 5);
      CHECK(std::holds_alternative<codec::Connack>(std::get<SendPacket>(acts[0]).packet));
      CHECK(std::get<SendPacket>(acts[0]).version == v);
      std::vector<std::string> order;
      for (const auto& a : acts) {
        if (auto* sp = std::get_if<SendPacket>(&a)) {
          if (auto* r = std::get_if<codec::Pubrel>(&sp->packet)) {
            CHECK(r->packet_id == first[0].packet_id);
            order.push_back("rel");
          }
        } else if (auto* pb = std::get_if<SendPublish>(&a)) {
          order.push_back(pb->msg->payload + (pb->dup ? "d" : ""));
          if (pb->msg->payload == "m2") CHECK(pb->packet_id == first[1].packet_id);
          if (pb->msg->payload == "m3") CHECK(pb->packet_id == first[2].packet_id);
        }
      }
      CHECK(order == std::vector<std::string>{"rel", "m2d", "m3d", "m4"});
      h.disconnect(s);
      h.closed(s);
      ConnectArgs clean{"s", v, true};
      h.connect(clean);  // discard the session for the next section
    }
  }
}

TEST_CASE("MQTT-3.3.5-1 3.1.1 overlapping subscriptions: one copy at the highest QoS",
          "[core][routing]") {
  Harness h;
  const ConnId s = h.connect("s", ProtocolVersion::v311);
  h.subscribe(s, "a/+", 0);
  h.subscribe(s, "a/#", 2);
  h.subscribe(s, "a/b", 1);
  const ConnId p = h.connect("p");
  h.publish(p, "a/b", "x", 2);
  auto pubs = h.inbox(s).publishes();
  REQUIRE(pubs.size() == 1);
  CHECK(pubs[0].qos == 2);
}

TEST_CASE("MQTT-3.3.4-2 MQTT-3.3.4-4 v5 overlapping subscriptions: one copy, every id",
          "[core][routing]") {
  Harness h;
  const ConnId s = h.connect("s");
  h.subscribe(s, "a/+", 1, {}, 11);
  h.subscribe(s, "a/#", 0, {}, 22);
  h.subscribe(s, "#", 0);  // no identifier
  const ConnId p = h.connect("p");
  h.publish(p, "a/b", "x", 2);
  auto pubs = h.inbox(s).publishes();
  REQUIRE(pubs.size() == 1);
  CHECK(pubs[0].qos == 1);
  auto ids = pubs[0].subscription_ids;
  std::sort(ids.begin(), ids.end());
  CHECK(ids == std::vector<std::uint32_t>{11, 22});
}

TEST_CASE("MQTT-3.8.3-3 No Local: not delivered back to the publishing client",
          "[core][routing]") {
  Harness h;
  const ConnId a = h.connect("a");
  codec::SubscribeEntry nl;
  nl.no_local = true;
  h.subscribe(a, "t", 1, nl);
  const ConnId b = h.connect("b");
  h.subscribe(b, "t", 1, nl);
  h.publish(a, "t", "from-a", 1);
  CHECK(h.inbox(a).publishes().empty());
  CHECK(h.payloads(b) == std::vector<std::string>{"from-a"});
  // Without No Local the publisher gets its own message.
  h.subscribe(a, "t", 1);
  h.publish(a, "t", "again", 0);
  CHECK(h.payloads(a) == std::vector<std::string>{"again"});
}

TEST_CASE("MQTT-3.3.1-12 MQTT-3.3.1-13 RETAIN on normal delivery follows Retain As Published",
          "[core][routing][retain]") {
  Harness h;
  const ConnId plain = h.connect("plain");
  h.subscribe(plain, "t", 0);
  const ConnId rap = h.connect("rap");
  codec::SubscribeEntry o;
  o.retain_as_published = true;
  h.subscribe(rap, "t", 0, o);
  const ConnId old = h.connect("old", ProtocolVersion::v311);
  h.subscribe(old, "t", 0);
  const ConnId p = h.connect("p");
  h.publish(p, "t", "r", 0, true);
  CHECK_FALSE(h.inbox(plain).publishes().at(0).retain);
  CHECK(h.inbox(rap).publishes().at(0).retain);
  CHECK_FALSE(h.inbox(old).publishes().at(0).retain);  // 3.1.1 [MQTT-3.3.1-9]
  h.clear_all();
  h.publish(p, "t", "n", 0, false);
  CHECK_FALSE(h.inbox(rap).publishes().at(0).retain);
}

TEST_CASE("shared subscriptions: one member per message, round robin", "[core][shared]") {
  Harness h;
  const ConnId a = h.connect("a");
  const ConnId b = h.connect("b");
  const ConnId c = h.connect("c");
  h.subscribe(a, "$share/g/t/#", 1);
  h.subscribe(b, "$share/g/t/#", 1);
  h.subscribe(c, "t/x", 0);  // a normal subscriber gets every message
  const ConnId p = h.connect("p");
  for (int i = 0; i < 6; ++i) h.publish(p, "t/x", std::to_string(i), 0);
  CHECK(h.inbox(a).publishes().size() == 3);
  CHECK(h.inbox(b).publishes().size() == 3);
  CHECK(h.inbox(c).publishes().size() == 6);
  // Alternation, not two in a row to the same member.
  auto pa = h.payloads(a);
  CHECK(pa == std::vector<std::string>{"0", "2", "4"});
}

TEST_CASE("shared subscriptions prefer online members, all offline -> one session queues",
          "[core][shared]") {
  Harness h;
  ConnId a = h.connect(persistent("a"));
  ConnId b = h.connect(persistent("b"));
  h.subscribe(a, "$share/g/t", 1);
  h.subscribe(b, "$share/g/t", 1);
  h.closed(a);  // a offline (session kept)
  const ConnId p = h.connect("p");
  for (int i = 0; i < 4; ++i) h.publish(p, "t", std::to_string(i), 1);
  CHECK(h.inbox(b).publishes().size() == 4);  // every message to the online member
  h.clear(b);
  h.closed(b);
  h.publish(p, "t", "q1", 1);
  h.publish(p, "t", "q2", 1);
  CHECK(h.stats().queued_messages == 2);  // each queued once, not once per member
  a = h.connect_raw(persistent("a"));  // keep the inbox: queued messages follow CONNACK
  b = h.connect_raw(persistent("b"));
  std::vector<std::string> got;
  for (ConnId c : {a, b})
    for (const auto& pb : h.inbox(c).publishes())
      if (!pb.dup) got.push_back(pb.msg->payload);  // b also resends its unacked 0..3
  std::sort(got.begin(), got.end());
  CHECK(got == std::vector<std::string>{"q1", "q2"});
}

TEST_CASE("MQTT-3.8.3-4 No Local on a shared subscription is a protocol error",
          "[core][shared]") {
  Harness h;
  const ConnId a = h.connect("a");
  codec::Subscribe s;
  s.packet_id = 3;
  codec::SubscribeEntry e;
  e.filter = "$share/g/t";
  e.no_local = true;
  s.entries.push_back(e);
  h.send(a, s);
  CHECK(h.inbox(a).packets<codec::Suback>().empty());
  auto d = h.inbox(a).packets<codec::Disconnect>();
  REQUIRE(d.size() == 1);
  CHECK(d[0].reason_code == u8(ReasonCode::ProtocolError));
  CHECK(h.stats().subscriptions == 0);
}

TEST_CASE("MQTT-3.2.2-11 PUBLISH above Maximum QoS -> DISCONNECT 0x9B", "[core][qos]") {
  BrokerOptions o;
  o.maximum_qos = 1;
  Harness h(o);
  const ConnId s = h.connect("s");
  CHECK(h.subscribe(s, "t", 2) == 1);  // granted at most the maximum
  const ConnId p = h.connect("p");
  h.publish(p, "t", "x", 2);
  auto d = h.inbox(p).packets<codec::Disconnect>();
  REQUIRE(d.size() == 1);
  CHECK(d[0].reason_code == u8(ReasonCode::QosNotSupported));
  CHECK(h.inbox(s).publishes().empty());
}

TEST_CASE("payload format indicator 1 with invalid UTF-8 is refused with 0x99",
          "[core][qos][v5]") {
  Harness h;
  const ConnId s = h.connect("s");
  h.subscribe(s, "t", 1);
  const ConnId p = h.connect("p");
  codec::Properties pr;
  pr.payload_format_indicator = 1;
  h.publish(p, "t", "\xff\xfe", 1, false, 10, pr);
  auto acks = h.inbox(p).packets<codec::Puback>();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].reason_code == u8(ReasonCode::PayloadFormatInvalid));
  h.publish(p, "t", "\xff", 2, false, 11, pr);
  auto recs = h.inbox(p).packets<codec::Pubrec>();
  REQUIRE(recs.size() == 1);
  CHECK(recs[0].reason_code == u8(ReasonCode::PayloadFormatInvalid));
  h.pubrel(p, 11);  // the flow ended at PUBREC: the id is unknown
  CHECK(h.inbox(p).packets<codec::Pubcomp>().at(0).reason_code ==
        u8(ReasonCode::PacketIdentifierNotFound));
  CHECK(h.inbox(s).publishes().empty());
  h.publish(p, "t", "ok \xc3\xa9", 1, false, 12, pr);  // valid UTF-8 goes through
  CHECK(h.payloads(s) == std::vector<std::string>{"ok \xc3\xa9"});
  h.publish(p, "t", "\xff", 0, false, 0, pr);
  CHECK(h.inbox(p).packets<codec::Disconnect>().at(0).reason_code ==
        u8(ReasonCode::PayloadFormatInvalid));
}

}  // namespace
}  // namespace tern::core::test
