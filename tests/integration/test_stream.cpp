// The byte stream and volume: packets split or merged across TCP segments, large payloads,
// a long ordered QoS 1 stream, topic aliases under a tiny alias budget.
#include <map>

#include "tests/integration/harness/common.hpp"

namespace tern::it {
namespace {

TEST_CASE("Packets arriving one byte at a time, and several in one segment, are decoded") {
  TernBroker broker;
  RawClient sub(broker.port(), ProtocolVersion::v5);
  REQUIRE(sub.connect("it-frag-sub").reason_code == 0);
  REQUIRE(sub.subscribe("it/frag/#", 1).reason_codes[0] == 1);

  RawClient pub(broker.port(), ProtocolVersion::v5);
  // CONNECT itself trickles in byte by byte.
  codec::Connect c;
  c.client_id = "it-frag-pub";
  std::string bytes;
  codec::encode(c, ProtocolVersion::v5, bytes);
  for (char b : bytes) {
    pub.send_bytes(std::string_view(&b, 1));
    sleep_for(2ms);
  }
  REQUIRE(pub.expect<codec::Connack>().reason_code == 0);

  codec::Publish p;
  p.topic = "it/frag/slow";
  p.payload = std::string(300, 'x');  // two-byte remaining length, split between its bytes
  p.qos = 1;
  p.packet_id = 1;
  bytes.clear();
  codec::encode(p, ProtocolVersion::v5, bytes);
  for (char b : bytes) {
    pub.send_bytes(std::string_view(&b, 1));
    sleep_for(1ms);
  }
  CHECK(pub.expect<codec::Puback>().packet_id == 1);

  // Ten PUBLISHes and a PINGREQ in a single write.
  bytes.clear();
  for (std::uint16_t i = 0; i < 10; ++i) {
    codec::Publish q;
    q.topic = "it/frag/batch";
    q.payload = "b" + std::to_string(i);
    q.qos = 1;
    q.packet_id = static_cast<std::uint16_t>(10 + i);
    codec::encode(q, ProtocolVersion::v5, bytes);
  }
  codec::encode(codec::Pingreq{}, ProtocolVersion::v5, bytes);
  pub.send_bytes(bytes);
  for (std::uint16_t i = 0; i < 10; ++i) CHECK(pub.expect<codec::Puback>().packet_id == 10 + i);
  pub.expect<codec::Pingresp>();

  auto first = sub.recv_publish(3s);
  REQUIRE(first);
  CHECK(first->payload == std::string(300, 'x'));
  for (int i = 0; i < 10; ++i) {
    auto m = sub.recv_publish(3s);
    REQUIRE(m);
    CHECK(m->payload == "b" + std::to_string(i));
  }
}

TEST_CASE("Large payload (512 KiB) round trip through Paho v3.1.1 and v5") {
  const int version = GENERATE(MQTTVERSION_3_1_1, MQTTVERSION_5);
  INFO("Paho " << paho_version_name(version));
  TernBroker broker;
  PahoClient sub(broker.uri(), "it-big-sub", version);
  sub.connect();
  REQUIRE(sub.subscribe("it/big", 1) == 1);
  PahoClient pub(broker.uri(), "it-big-pub", version);
  pub.connect();
  std::string payload(512 * 1024, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 131 + 7);
  pub.publish("it/big", payload, 1);
  auto m = sub.next(10s);
  REQUIRE(m);
  CHECK(m->get_payload().size() == payload.size());
  CHECK(m->get_payload_str() == payload);
}

TEST_CASE("5000 QoS 1 messages from one publisher arrive complete and in order", "[slow]") {
  TernBroker broker;
  RawClient sub(broker.port(), ProtocolVersion::v5);
  REQUIRE(sub.connect("it-stream-sub").reason_code == 0);
  REQUIRE(sub.subscribe("it/stream", 1).reason_codes[0] == 1);
  RawClient pub(broker.port(), ProtocolVersion::v311);
  REQUIRE(pub.connect("it-stream-pub").reason_code == 0);

  constexpr int kCount = 5000;
  constexpr int kWindow = 16;  // publisher's own in-flight window, under the broker's 32
  int sent = 0, acked = 0, received = 0;
  Stopwatch sw;
  while (received < kCount && sw.elapsed() < 60s) {
    while (sent < kCount && sent - acked < kWindow) {
      codec::Publish p;
      p.topic = "it/stream";
      p.payload = std::to_string(sent);
      p.qos = 1;
      p.packet_id = static_cast<std::uint16_t>(sent % 60000 + 1);
      pub.send(p);
      ++sent;
    }
    while (acked < sent && pub.recv(Millis(0)) == RecvStatus::Packet) {
      REQUIRE(std::holds_alternative<codec::Puback>(pub.last_packet()));
      ++acked;
    }
    // Block briefly only when a message is known to be on its way to the subscriber.
    while (auto m = sub.recv_publish(Millis(received < acked ? 50 : 0))) {
      REQUIRE(m->payload == std::to_string(received));  // [MQTT-4.6.0-6]
      ++received;
    }
  }
  INFO("took " << sw.elapsed().count() << " ms");
  CHECK(received == kCount);
  CHECK(sub.no_publish_for(300ms));
}

TEST_CASE("Topic aliases towards a client allowing only one: every message still resolves to "
          "its topic") {
  if (TernBroker::reference_mode()) return;  // mosquitto sends no aliases at all
  TernBroker broker;
  RawClient sub(broker.port(), ProtocolVersion::v5);
  codec::Connect c;
  c.client_id = "it-alias1";
  c.props.topic_alias_maximum = 1;
  REQUIRE(sub.connect(c).reason_code == 0);
  REQUIRE(sub.subscribe("it/a1/#", 0).reason_codes[0] == 0);
  RawClient pub(broker.port(), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-alias1-pub").reason_code == 0);
  const std::vector<std::string> topics = {"it/a1/x", "it/a1/y", "it/a1/x", "it/a1/x",
                                           "it/a1/y", "it/a1/z", "it/a1/z"};
  for (std::size_t i = 0; i < topics.size(); ++i) pub.publish(topics[i], std::to_string(i), 1);

  std::map<std::uint16_t, std::string> aliases;  // the client's side of the mapping
  for (std::size_t i = 0; i < topics.size(); ++i) {
    INFO("message " << i);
    auto m = sub.recv_publish(3s);
    REQUIRE(m);
    CHECK(m->payload == std::to_string(i));
    std::string topic = m->topic;
    if (m->props.topic_alias) {
      const auto a = *m->props.topic_alias;
      CHECK(a == 1);  // [MQTT-3.3.2-11] within the client's maximum
      if (topic.empty()) {
        REQUIRE(aliases.count(a) == 1);  // set before use (5.0 section 3.3.2.3.4)
        topic = aliases[a];
      } else {
        aliases[a] = topic;
      }
    }
    CHECK(topic == topics[i]);
  }
}

}  // namespace
}  // namespace tern::it
