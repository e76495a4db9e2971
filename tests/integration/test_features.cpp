// MQTT 5.0 features through the real broker: shared subscriptions and topic aliases.
#include <map>
#include <set>

#include "tests/integration/harness/common.hpp"

namespace tern::it {
namespace {

TEST_CASE("Shared subscription $share/g/t with two v5 subscribers: each message goes to exactly "
          "one of them, together they get all") {
  TernBroker broker;
  PahoClient a(broker.uri(), "it-share-a", MQTTVERSION_5);
  PahoClient b(broker.uri(), "it-share-b", MQTTVERSION_5);
  a.connect();
  b.connect();
  REQUIRE(a.subscribe("$share/g/it/shared/#", 1) == 1);
  REQUIRE(b.subscribe("$share/g/it/shared/#", 1) == 1);
  // A normal subscriber beside the group gets its own copy of everything [MQTT-4.8.2].
  PahoClient plain(broker.uri(), "it-share-plain", MQTTVERSION_5);
  plain.connect();
  REQUIRE(plain.subscribe("it/shared/#", 1) == 1);

  PahoClient pub(broker.uri(), "it-share-pub", MQTTVERSION_5);
  pub.connect();
  constexpr int kCount = 40;
  for (int i = 0; i < kCount; ++i) pub.publish("it/shared/x", std::to_string(i), 1);

  std::map<std::string, int> deliveries;
  std::size_t from_a = 0, from_b = 0;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (from_a + from_b < kCount && std::chrono::steady_clock::now() < deadline) {
    if (auto m = a.next(20ms)) {
      ++deliveries[m->get_payload_str()];
      ++from_a;
    }
    if (auto m = b.next(20ms)) {
      ++deliveries[m->get_payload_str()];
      ++from_b;
    }
  }
  CHECK(a.quiet_for(300ms));
  CHECK(b.quiet_for(300ms));
  INFO("a got " << from_a << ", b got " << from_b);
  CHECK(from_a + from_b == kCount);
  for (int i = 0; i < kCount; ++i) {
    INFO("message " << i);
    CHECK(deliveries[std::to_string(i)] == 1);
  }
  CHECK(plain.collect(kCount, 10s).size() == kCount);
}

TEST_CASE("Topic alias towards a v5 subscriber: full topic + alias first, then empty topic + "
          "same alias, none for a client that allows none") {
  // Aliasing towards clients is a broker choice (mosquitto never does it); Tern does.
  if (TernBroker::reference_mode()) return;
  TernBroker broker;
  RawClient sub(broker.port(), ProtocolVersion::v5);
  codec::Connect c;
  c.client_id = "it-alias-sub";
  c.props.topic_alias_maximum = 5;
  REQUIRE(sub.connect(c).reason_code == 0);
  REQUIRE(sub.subscribe("it/alias/out", 0).reason_codes[0] == 0);

  RawClient no_alias(broker.port(), ProtocolVersion::v5);
  REQUIRE(no_alias.connect("it-alias-none").reason_code == 0);
  REQUIRE(no_alias.subscribe("it/alias/out", 0).reason_codes[0] == 0);

  RawClient pub(broker.port(), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-alias-pub").reason_code == 0);
  for (int i = 0; i < 3; ++i) pub.publish("it/alias/out", "m" + std::to_string(i), 1);

  auto first = sub.recv_publish(5s);
  REQUIRE(first);
  CHECK(first->topic == "it/alias/out");
  REQUIRE(first->props.topic_alias.has_value());
  const auto alias = *first->props.topic_alias;
  // [MQTT-3.3.2-11]: an alias the server sends is in 1..the client's Topic Alias Maximum.
  CHECK(alias >= 1);
  CHECK(alias <= 5);
  for (int i = 1; i < 3; ++i) {
    auto next = sub.recv_publish(5s);
    REQUIRE(next);
    CHECK(next->payload == "m" + std::to_string(i));
    CHECK(next->topic.empty());  // the established alias stands for the topic
    REQUIRE(next->props.topic_alias.has_value());
    CHECK(*next->props.topic_alias == alias);
  }

  // [MQTT-3.3.2-11]: no alias to a client that sent no Topic Alias Maximum (it means 0).
  for (int i = 0; i < 3; ++i) {
    auto m = no_alias.recv_publish(5s);
    REQUIRE(m);
    CHECK(m->topic == "it/alias/out");
    CHECK_FALSE(m->props.topic_alias.has_value());
  }
}

TEST_CASE("Topic alias from a v5 publisher is understood, can be remapped, and is per "
          "connection") {
  TernBroker broker;
  PahoClient sub(broker.uri(), "it-alias-in-sub", MQTTVERSION_3_1_1);
  sub.connect();
  REQUIRE(sub.subscribe("it/alias/#", 1) == 1);

  RawClient pub(broker.port(), ProtocolVersion::v5);
  const auto ack = pub.connect("it-alias-in-pub");
  REQUIRE(ack.reason_code == 0);
  // [MQTT-3.2.2-17]: absent means 0 (no aliases allowed); the default config allows some.
  REQUIRE(ack.props.topic_alias_maximum.value_or(0) >= 2);

  codec::Properties alias1;
  alias1.topic_alias = 1;
  pub.publish("it/alias/in", "a", 1, false, alias1);  // establishes 1 -> it/alias/in
  pub.publish("", "b", 1, false, alias1);             // uses it
  pub.publish("it/alias/in2", "c", 1, false, alias1);  // remaps 1 -> it/alias/in2
  pub.publish("", "d", 1, false, alias1);

  const auto got = sub.collect(4, 5s);
  REQUIRE(got.size() == 4);
  CHECK(got[0]->get_topic() == "it/alias/in");
  CHECK(got[1]->get_topic() == "it/alias/in");
  CHECK(got[1]->get_payload_str() == "b");
  CHECK(got[2]->get_topic() == "it/alias/in2");
  CHECK(got[3]->get_topic() == "it/alias/in2");
  CHECK(got[3]->get_payload_str() == "d");
  pub.disconnect();

  // [MQTT-3.3.2-7]: mappings do not carry over to a new connection: alias 1 unknown now.
  RawClient again(broker.port(), ProtocolVersion::v5);
  REQUIRE(again.connect("it-alias-in-pub").reason_code == 0);
  codec::Publish p;
  p.topic = "";
  p.payload = "e";
  p.props.topic_alias = 1;
  again.send(p);
  REQUIRE(again.wait_closed(3s));
  INFO(again.close_summary());
  const auto d = again.disconnect_seen();
  REQUIRE(d);
  // 5.0 section 3.3.4: empty topic with no mapping is a Protocol Error.
  CHECK((d->reason_code == 0x82 || d->reason_code == 0x94));
  CHECK(sub.quiet_for(300ms));
}

TEST_CASE("Topic alias 0 or above topic_alias_maximum (config: 10) disconnects the publisher "
          "(0x94 above the maximum)") {
  if (TernBroker::reference_mode()) return;  // needs our config
  const std::uint16_t bad_alias = GENERATE(std::uint16_t{0}, std::uint16_t{11});
  INFO("alias " << bad_alias);
  TernBroker broker({"mqtt:\n  topic_alias_maximum: 10\n", {}});
  RawClient pub(broker.port(), ProtocolVersion::v5);
  const auto ack = pub.connect("it-alias-bad");
  REQUIRE(ack.reason_code == 0);
  CHECK(ack.props.topic_alias_maximum == std::optional<std::uint16_t>(10));
  // Built by hand: our encoder treats alias 0 as "no alias" and would leave it out.
  const std::string topic = "it/alias/bad";
  std::string body;
  body.push_back(0);
  body.push_back(static_cast<char>(topic.size()));
  body += topic;
  body += std::string("\x03\x23", 2);  // property length 3: Topic Alias (0x23), two bytes
  body.push_back(static_cast<char>(bad_alias >> 8));
  body.push_back(static_cast<char>(bad_alias & 0xFF));
  body += "x";
  std::string packet(1, '\x30');
  codec::encode_varint(static_cast<std::uint32_t>(body.size()), packet);
  pub.send_bytes(packet + body);
  REQUIRE(pub.wait_closed(3s));
  INFO(pub.close_summary());
  const auto d = pub.disconnect_seen();
  REQUIRE(d);
  if (bad_alias == 0) {
    // [MQTT-3.3.2-8] forbids alias 0; the reason code table defines 0x94 only for "greater
    // than the maximum", so both Protocol Error and Topic Alias Invalid are defensible.
    CHECK((d->reason_code == 0x82 || d->reason_code == 0x94));
  } else {
    CHECK(d->reason_code == 0x94);  // above our maximum [MQTT-3.3.2-9]: Topic Alias Invalid
  }
}

}  // namespace
}  // namespace tern::it
