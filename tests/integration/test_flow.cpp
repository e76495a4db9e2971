// Flow control and bounds seen from the wire: Receive Maximum both ways, the client's
// Maximum Packet Size, bounded offline queues, exactly-once for inbound QoS 2.
#include <vector>

#include "tests/integration/harness/common.hpp"

namespace tern::it {
namespace {

TEST_CASE("v5 Receive Maximum 2 from the client: at most 2 unacknowledged QoS 1 PUBLISH in "
          "flight, the next one after each PUBACK") {
  TernBroker broker;
  RawClient sub(broker.port(), ProtocolVersion::v5);
  codec::Connect c;
  c.client_id = "it-rm-sub";
  c.props.receive_maximum = 2;
  REQUIRE(sub.connect(c).reason_code == 0);
  REQUIRE(sub.subscribe("it/rm", 1).reason_codes[0] == 1);

  RawClient pub(broker.port(), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-rm-pub").reason_code == 0);
  for (int i = 0; i < 5; ++i) pub.publish("it/rm", "m" + std::to_string(i), 1);

  std::vector<codec::Publish> got;
  while (auto p = sub.recv_publish(700ms, /*ack=*/false)) got.push_back(*p);
  // [MQTT-3.3.4-9]: no more than Receive Maximum unacknowledged QoS>0 PUBLISH packets.
  REQUIRE(got.size() == 2);
  CHECK(got[0].payload == "m0");
  CHECK(got[1].payload == "m1");

  for (int next = 2; next < 5; ++next) {
    codec::Puback ack;
    ack.packet_id = got[next - 2].packet_id;
    sub.send(ack);
    auto p = sub.recv_publish(3s, /*ack=*/false);
    REQUIRE(p);
    CHECK(p->payload == "m" + std::to_string(next));  // order kept [MQTT-4.6.0-6]
    got.push_back(*p);
    CHECK(sub.no_publish_for(200ms));  // still only 2 in flight
  }
}

TEST_CASE("v5 Receive Maximum of the broker (config max_inflight: 2): a client exceeding it gets "
          "DISCONNECT 0x93") {
  if (TernBroker::reference_mode()) return;  // needs our config
  TernBroker broker({"mqtt:\n  max_inflight: 2\n", {}});
  RawClient pub(broker.port(), ProtocolVersion::v5);
  const auto ack = pub.connect("it-rm-over");
  REQUIRE(ack.reason_code == 0);
  REQUIRE(ack.props.receive_maximum == std::optional<std::uint16_t>(2));
  // QoS 2 messages stay in flight until PUBCOMP: send three without PUBREL.
  for (std::uint16_t id = 1; id <= 3; ++id) {
    codec::Publish p;
    p.topic = "it/rm/over";
    p.payload = "x";
    p.qos = 2;
    p.packet_id = id;
    pub.send(p);
  }
  REQUIRE(pub.wait_closed(3s));
  INFO(pub.close_summary());
  const auto d = pub.disconnect_seen();
  REQUIRE(d);
  CHECK(d->reason_code == 0x93);  // [MQTT-3.3.4-8] Receive Maximum exceeded
}

TEST_CASE("v5 Maximum Packet Size from the client: a message too large for it is not sent, "
          "smaller ones are") {
  TernBroker broker;
  RawClient sub(broker.port(), ProtocolVersion::v5);
  codec::Connect c;
  c.client_id = "it-mps-sub";
  c.props.maximum_packet_size = 128;
  REQUIRE(sub.connect(c).reason_code == 0);
  REQUIRE(sub.subscribe("it/mps", 1).reason_codes[0] == 1);

  RawClient pub(broker.port(), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-mps-pub").reason_code == 0);
  pub.publish("it/mps", std::string(300, 'L'), 1);
  pub.publish("it/mps", "small", 1);
  // [MQTT-3.1.2-24]: never a packet above the client's maximum; it is discarded
  // [MQTT-3.1.2-25] and the stream goes on.
  auto p = sub.recv_publish(3s);
  REQUIRE(p);
  CHECK(p->payload == "small");
  CHECK(sub.no_publish_for(300ms));
  CHECK(sub.is_open());
}

TEST_CASE("Offline queue bound (config max_queued_messages: 5): drop_oldest keeps the newest, "
          "drop_newest keeps the oldest") {
  if (TernBroker::reference_mode()) return;  // needs our config
  const std::string policy = GENERATE(std::string("drop_oldest"), std::string("drop_newest"));
  INFO("overflow " << policy);
  TernBroker broker({"sessions:\n  max_queued_messages: 5\n  overflow: " + policy + "\n", {}});
  {
    RawClient sub(broker.port(), ProtocolVersion::v5);
    REQUIRE(sub.connect("it-queue", true, 300).reason_code == 0);
    REQUIRE(sub.subscribe("it/queue", 1).reason_codes[0] == 1);
    sub.disconnect();
  }
  RawClient pub(broker.port(), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-queue-pub").reason_code == 0);
  for (int i = 0; i < 10; ++i) pub.publish("it/queue", "m" + std::to_string(i), 1);

  RawClient sub(broker.port(), ProtocolVersion::v5);
  REQUIRE(sub.connect("it-queue", false, 300).session_present);
  std::vector<std::string> got;
  while (auto p = sub.recv_publish(700ms)) got.push_back(p->payload);
  const std::vector<std::string> want =
      policy == "drop_oldest" ? std::vector<std::string>{"m5", "m6", "m7", "m8", "m9"}
                              : std::vector<std::string>{"m0", "m1", "m2", "m3", "m4"};
  CHECK(got == want);
}

TEST_CASE("Inbound QoS 2 is exactly once: a PUBLISH resent with DUP before PUBREL is "
          "acknowledged but not delivered again") {
  const auto v = GENERATE(ProtocolVersion::v311, ProtocolVersion::v5);
  INFO("publisher " << version_name(v));
  TernBroker broker;
  RawClient sub(broker.port(), ProtocolVersion::v5);
  REQUIRE(sub.connect("it-eo-sub").reason_code == 0);
  REQUIRE(sub.subscribe("it/eo", 2).reason_codes[0] == 2);

  RawClient pub(broker.port(), v);
  REQUIRE(pub.connect("it-eo-pub").reason_code == 0);
  codec::Publish p;
  p.topic = "it/eo";
  p.payload = "once";
  p.qos = 2;
  p.packet_id = 7;
  pub.send(p);
  CHECK(pub.expect<codec::Pubrec>().packet_id == 7);
  p.dup = true;
  pub.send(p);
  // Section 4.3.3 (both versions): PUBREC again, and no duplicate onward delivery.
  CHECK(pub.expect<codec::Pubrec>().packet_id == 7);
  codec::Pubrel rel;
  rel.packet_id = 7;
  pub.send(rel);
  CHECK(pub.expect<codec::Pubcomp>().packet_id == 7);

  auto m = sub.recv_publish(3s);
  REQUIRE(m);
  CHECK(m->payload == "once");
  CHECK(sub.no_publish_for(500ms));

  // After PUBCOMP the id is free: the same id now carries a new message (section 4.3.3).
  p.dup = false;
  p.payload = "twice";
  pub.send(p);
  CHECK(pub.expect<codec::Pubrec>().packet_id == 7);
  pub.send(rel);
  CHECK(pub.expect<codec::Pubcomp>().packet_id == 7);
  m = sub.recv_publish(3s);
  REQUIRE(m);
  CHECK(m->payload == "twice");
}

}  // namespace
}  // namespace tern::it
