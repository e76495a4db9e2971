// Persistent sessions: messages queued while offline, resumed in order with Session Present,
// redelivery of unacknowledged QoS 1/2 with DUP, and message expiry while queued.
#include "tests/integration/harness/common.hpp"

namespace tern::it {
namespace {

TEST_CASE("Persistent session resume (Paho v3.1.1 clean session 0, v5 clean start 0 + session "
          "expiry): offline messages arrive in order with session present") {
  const int version = GENERATE(MQTTVERSION_3_1_1, MQTTVERSION_5);
  INFO("Paho " << paho_version_name(version));
  TernBroker broker;
  const std::string id = std::string("it-persist-") + paho_version_name(version);

  {
    PahoClient sub(broker.uri(), id, version);
    const auto ack = sub.connect(sub.options(/*clean=*/false, /*session_expiry=*/300).finalize());
    // A fresh broker has no session for this id: 3.1.1 [MQTT-3.2.2-2], 5.0 [MQTT-3.2.2-3].
    CHECK_FALSE(ack.is_session_present());
    REQUIRE(sub.subscribe("it/persist/#", 2) == 2);
    sub.disconnect();
  }

  PahoClient pub(broker.uri(), "it-persist-pub", version);
  pub.connect();
  for (int i = 0; i < 5; ++i) {
    pub.publish("it/persist/q1", "m" + std::to_string(i), 1);
  }
  pub.publish("it/persist/q2", "m5", 2);

  PahoClient sub(broker.uri(), id, version);
  const auto ack = sub.connect(sub.options(/*clean=*/false, /*session_expiry=*/300).finalize());
  // 3.1.1 [MQTT-3.2.2-2], 5.0 [MQTT-3.2.2-2]: the session was kept.
  CHECK(ack.is_session_present());
  const auto got = sub.collect(6, 10s);
  REQUIRE(got.size() == 6);
  for (int i = 0; i < 6; ++i) {
    INFO("message " << i);
    // [MQTT-4.6.0-6]: messages to the subscriber in the order they were published.
    CHECK(got[i]->get_payload_str() == "m" + std::to_string(i));
    CHECK(got[i]->get_qos() == (i < 5 ? 1 : 2));
  }
  CHECK(sub.quiet_for(500ms));
}

TEST_CASE("Unacknowledged QoS 1 PUBLISH is resent with DUP=1 and the same packet id on "
          "session resume") {
  const auto v = GENERATE(ProtocolVersion::v311, ProtocolVersion::v5);
  INFO("subscriber " << version_name(v));
  TernBroker broker;

  RawClient sub(broker.port(), v);
  REQUIRE(sub.connect("it-dup", /*clean_start=*/false, /*session_expiry=*/300).reason_code == 0);
  REQUIRE(sub.subscribe("it/dup", 1).reason_codes[0] == 1);

  RawClient pub(broker.port(), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-dup-pub").reason_code == 0);
  pub.publish("it/dup", "first", 1);

  auto p1 = sub.recv_publish(5s, /*ack=*/false);
  REQUIRE(p1);
  CHECK_FALSE(p1->dup);  // first delivery [MQTT-3.3.1-1]
  CHECK(p1->qos == 1);
  CHECK(p1->packet_id != 0);
  sub.drop();  // no PUBACK

  RawClient again(broker.port(), v);
  const auto ack = again.connect("it-dup", /*clean_start=*/false, /*session_expiry=*/300);
  REQUIRE(ack.reason_code == 0);
  CHECK(ack.session_present);
  // [MQTT-4.4.0-1]: resend unacknowledged PUBLISH with the original packet id, DUP=1
  // [MQTT-3.3.1-1].
  auto p2 = again.recv_publish(5s, /*ack=*/true);
  REQUIRE(p2);
  CHECK(p2->dup);
  CHECK(p2->packet_id == p1->packet_id);
  CHECK(p2->topic == "it/dup");
  CHECK(p2->payload == "first");
  CHECK(p2->qos == 1);
  CHECK(again.no_publish_for(500ms));
  again.drop();

  // Acknowledged now: a further resume brings nothing.
  RawClient third(broker.port(), v);
  REQUIRE(third.connect("it-dup", false, 300).session_present);
  CHECK(third.no_publish_for(700ms));
}

TEST_CASE("QoS 2 resume: unacknowledged PUBLISH resent with DUP, after PUBREC the PUBREL is "
          "resent instead") {
  const auto v = GENERATE(ProtocolVersion::v311, ProtocolVersion::v5);
  INFO("subscriber " << version_name(v));
  TernBroker broker;
  RawClient sub(broker.port(), v);
  REQUIRE(sub.connect("it-dup2", false, 300).reason_code == 0);
  REQUIRE(sub.subscribe("it/dup2", 2).reason_codes[0] == 2);
  RawClient pub(broker.port(), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-dup2-pub").reason_code == 0);
  pub.publish("it/dup2", "two", 2);

  auto p1 = sub.recv_publish(5s, /*ack=*/false);
  REQUIRE(p1);
  REQUIRE(p1->qos == 2);
  sub.drop();

  RawClient s2(broker.port(), v);
  REQUIRE(s2.connect("it-dup2", false, 300).session_present);
  auto p2 = s2.recv_publish(5s, /*ack=*/false);
  REQUIRE(p2);
  CHECK(p2->dup);
  CHECK(p2->packet_id == p1->packet_id);
  codec::Pubrec rec;
  rec.packet_id = p2->packet_id;
  s2.send(rec);
  auto rel = s2.expect<codec::Pubrel>();
  CHECK(rel.packet_id == p1->packet_id);
  s2.drop();  // no PUBCOMP

  RawClient s3(broker.port(), v);
  REQUIRE(s3.connect("it-dup2", false, 300).session_present);
  // [MQTT-4.4.0-1]: after PUBREC, the PUBREL is what is resent (never the PUBLISH again).
  auto rel2 = s3.expect<codec::Pubrel>();
  CHECK(rel2.packet_id == p1->packet_id);
  codec::Pubcomp comp;
  comp.packet_id = rel2.packet_id;
  s3.send(comp);
  CHECK(s3.no_publish_for(700ms));
}

TEST_CASE("Message expiry: a queued message past its expiry is dropped, a live one is delivered "
          "with the remaining interval") {
  TernBroker broker;
  {
    RawClient sub(broker.port(), ProtocolVersion::v5);
    REQUIRE(sub.connect("it-exp", /*clean_start=*/true, /*session_expiry=*/300).reason_code == 0);
    REQUIRE(sub.subscribe("it/exp", 1).reason_codes[0] == 1);
    sub.disconnect();
  }
  RawClient pub(broker.port(), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-exp-pub").reason_code == 0);
  codec::Properties short_life, long_life;
  short_life.message_expiry_interval = 1;
  long_life.message_expiry_interval = 10;
  pub.publish("it/exp", "short", 1, false, short_life);
  pub.publish("it/exp", "long", 1, false, long_life);
  pub.publish("it/exp", "forever", 1, false, {});
  sleep_for(2200ms);

  RawClient sub(broker.port(), ProtocolVersion::v5);
  REQUIRE(sub.connect("it-exp", false, 300).session_present);
  auto a = sub.recv_publish(5s);
  REQUIRE(a);
  // [MQTT-3.3.2-5]: "short" expired while queued and must not be delivered.
  CHECK(a->payload == "long");
  REQUIRE(a->props.message_expiry_interval.has_value());
  // [MQTT-3.3.2-6]: the forwarded interval is the received one minus the time waited.
  CHECK(*a->props.message_expiry_interval < 10);
  CHECK(*a->props.message_expiry_interval >= 6);
  auto b = sub.recv_publish(5s);
  REQUIRE(b);
  CHECK(b->payload == "forever");
  CHECK_FALSE(b->props.message_expiry_interval.has_value());
  CHECK(sub.no_publish_for(500ms));
}

}  // namespace
}  // namespace tern::it
