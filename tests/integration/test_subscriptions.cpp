// Subscription semantics end to end: v5 subscription options (No Local, Retain As Published,
// Subscription Identifier), UNSUBSCRIBE, and $-topics versus wildcards.
#include <algorithm>

#include "tests/integration/harness/common.hpp"

namespace tern::it {
namespace {

TEST_CASE("v5 No Local: a client's own publications are not sent back to it") {
  TernBroker broker;
  RawClient c(broker.port(), ProtocolVersion::v5);
  REQUIRE(c.connect("it-nolocal").reason_code == 0);
  REQUIRE(c.subscribe("it/nl/#", 1, 0, /*no_local=*/true).reason_codes[0] == 1);
  c.publish("it/nl/self", "mine", 1);
  CHECK(c.no_publish_for(500ms));  // [MQTT-3.8.3-3]

  RawClient other(broker.port(), ProtocolVersion::v5);
  REQUIRE(other.connect("it-nolocal-other").reason_code == 0);
  other.publish("it/nl/other", "theirs", 1);
  auto p = c.recv_publish(3s);
  REQUIRE(p);
  CHECK(p->payload == "theirs");
}

TEST_CASE("v5 Retain As Published keeps RETAIN=1 on live retained messages, otherwise 0") {
  TernBroker broker;
  RawClient rap(broker.port(), ProtocolVersion::v5);
  REQUIRE(rap.connect("it-rap").reason_code == 0);
  codec::Subscribe s;
  s.packet_id = rap.next_packet_id();
  codec::SubscribeEntry e;
  e.filter = "it/rap";
  e.max_qos = 1;
  e.retain_as_published = true;
  s.entries.push_back(e);
  rap.send(s);
  REQUIRE(rap.expect<codec::Suback>().reason_codes == std::vector<std::uint8_t>{1});

  RawClient plain(broker.port(), ProtocolVersion::v5);
  REQUIRE(plain.connect("it-rap-plain").reason_code == 0);
  REQUIRE(plain.subscribe("it/rap", 1).reason_codes[0] == 1);

  RawClient pub(broker.port(), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-rap-pub").reason_code == 0);
  pub.publish("it/rap", "r", 1, /*retain=*/true);
  auto a = rap.recv_publish(3s);
  REQUIRE(a);
  CHECK(a->retain);  // [MQTT-3.3.1-13]
  auto b = plain.recv_publish(3s);
  REQUIRE(b);
  CHECK_FALSE(b->retain);  // [MQTT-3.3.1-12]
}

TEST_CASE("v5 Subscription Identifier is returned with each matching PUBLISH") {
  TernBroker broker;
  RawClient c(broker.port(), ProtocolVersion::v5);
  const auto ack = c.connect("it-subid");
  REQUIRE(ack.reason_code == 0);
  for (auto [filter, id] : {std::pair<const char*, std::uint32_t>{"it/sid/+", 7},
                            std::pair<const char*, std::uint32_t>{"it/sid/#", 300}}) {
    codec::Subscribe s;
    s.packet_id = c.next_packet_id();
    s.entries.push_back({filter, 1});
    s.props.subscription_identifiers.push_back(id);
    c.send(s);
    REQUIRE(c.expect<codec::Suback>().reason_codes == std::vector<std::uint8_t>{1});
  }
  RawClient pub(broker.port(), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-subid-pub").reason_code == 0);
  pub.publish("it/sid/x", "both", 1);
  pub.publish("it/sid/x/y", "deep", 1);

  // Overlapping subscriptions: one PUBLISH per subscription or one carrying both ids
  // [MQTT-3.3.4-3], [MQTT-3.3.4-4], [MQTT-3.3.4-5].
  std::vector<std::uint32_t> ids_both;
  std::vector<std::uint32_t> ids_deep;
  while (auto p = c.recv_publish(700ms)) {
    auto& into = p->payload == "both" ? ids_both : ids_deep;
    CHECK_FALSE(p->props.subscription_identifiers.empty());
    into.insert(into.end(), p->props.subscription_identifiers.begin(),
                p->props.subscription_identifiers.end());
  }
  std::sort(ids_both.begin(), ids_both.end());
  CHECK(ids_both == std::vector<std::uint32_t>{7, 300});
  CHECK(ids_deep == std::vector<std::uint32_t>{300});
}

TEST_CASE("UNSUBSCRIBE stops delivery and is acknowledged with the same packet id") {
  const auto v = GENERATE(ProtocolVersion::v311, ProtocolVersion::v5);
  INFO("client " << version_name(v));
  TernBroker broker;
  RawClient c(broker.port(), v);
  REQUIRE(c.connect("it-unsub").reason_code == 0);
  REQUIRE(c.subscribe("it/unsub/#", 1).reason_codes[0] == 1);
  c.publish("it/unsub/a", "before", 0);
  auto p = c.recv_publish(3s);
  REQUIRE(p);
  CHECK(p->payload == "before");

  codec::Unsubscribe u;
  u.packet_id = c.next_packet_id();
  u.filters = {"it/unsub/#", "it/never/subscribed"};
  c.send(u);
  const auto ack = c.expect<codec::Unsuback>();
  CHECK(ack.packet_id == u.packet_id);  // [MQTT-3.10.4-4]
  if (v == ProtocolVersion::v5) {
    // [MQTT-3.11.3-1]: one reason code per filter: Success, No subscription existed.
    CHECK(ack.reason_codes == std::vector<std::uint8_t>{0x00, 0x11});
  }
  c.publish("it/unsub/a", "after", 0);
  CHECK(c.no_publish_for(500ms));  // [MQTT-3.10.4-2]
}

TEST_CASE("Overlapping subscriptions: the message reaches the client at the highest granted QoS") {
  const auto v = GENERATE(ProtocolVersion::v311, ProtocolVersion::v5);
  INFO("client " << version_name(v));
  TernBroker broker;
  RawClient c(broker.port(), v);
  REQUIRE(c.connect("it-overlap").reason_code == 0);
  REQUIRE(c.subscribe("it/ov/#", 0).reason_codes[0] == 0);
  REQUIRE(c.subscribe("it/ov/x", 2).reason_codes[0] == 2);
  RawClient pub(broker.port(), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-overlap-pub").reason_code == 0);
  pub.publish("it/ov/x", "both", 2);
  std::vector<std::uint8_t> qos;
  while (auto p = c.recv_publish(700ms)) qos.push_back(p->qos);
  // 3.1.1 [MQTT-3.3.5-1]: delivered respecting the maximum QoS of all matching
  // subscriptions; 5.0 [MQTT-3.3.4-2]: may be one copy per subscription.
  REQUIRE_FALSE(qos.empty());
  CHECK(qos.size() <= 2);
  CHECK(*std::max_element(qos.begin(), qos.end()) == 2);
}

TEST_CASE("Invalid topic filters are refused (failure SUBACK or close), never granted") {
  const auto v = GENERATE(ProtocolVersion::v311, ProtocolVersion::v5);
  INFO("client " << version_name(v));
  TernBroker broker;
  for (const char* filter : {"it/#/x", "it/a+", "it/#x", "$share/g", "$share//it/x",
                             "$share/g+/it/x"}) {
    INFO("filter " << filter);
    RawClient c(broker.port(), v);
    REQUIRE(c.connect("it-badfilter").reason_code == 0);
    codec::Subscribe s;
    s.packet_id = 1;
    s.entries.push_back({filter, 1});
    c.send(s);
    const auto st = c.recv(3s);
    if (st == RecvStatus::Packet) {
      INFO("got " << describe(c.last_packet()));
      const auto* ack = std::get_if<codec::Suback>(&c.last_packet());
      const auto* d = std::get_if<codec::Disconnect>(&c.last_packet());
      CHECK((ack != nullptr || d != nullptr));
      // [MQTT-4.7.1-1..3], [MQTT-4.8.2-1], [MQTT-4.8.2-2]: 0x80 (3.1.1) or 0x8F (5.0).
      if (ack) CHECK(ack->reason_codes == std::vector<std::uint8_t>{
                         static_cast<std::uint8_t>(v == ProtocolVersion::v5 ? 0x8F : 0x80)});
      if (d) CHECK(d->reason_code >= 0x80);
    } else {
      CHECK(st == RecvStatus::Closed);  // closing the connection is also allowed
    }
  }
}

TEST_CASE("A leading U+FEFF in a topic is kept, not stripped") {
  TernBroker broker;
  RawClient c(broker.port(), ProtocolVersion::v5);
  REQUIRE(c.connect("it-bom").reason_code == 0);
  const std::string bom_topic = "\xEF\xBB\xBFit/bom";
  REQUIRE(c.subscribe(bom_topic, 0).reason_codes[0] == 0);
  REQUIRE(c.subscribe("it/bom", 0).reason_codes[0] == 0);
  c.publish(bom_topic, "with bom", 0);
  auto p = c.recv_publish(3s);
  REQUIRE(p);
  CHECK(p->topic == bom_topic);  // [MQTT-1.5.4-3]
  CHECK(c.no_publish_for(300ms));  // and "it/bom" is a different topic
}

TEST_CASE("Topics starting with $ are not matched by filters starting with # or +") {
  TernBroker broker;
  RawClient wild(broker.port(), ProtocolVersion::v311);
  REQUIRE(wild.connect("it-dollar-wild").reason_code == 0);
  REQUIRE(wild.subscribe("#", 0).reason_codes[0] == 0);
  REQUIRE(wild.subscribe("+/x", 0).reason_codes[0] == 0);
  RawClient exact(broker.port(), ProtocolVersion::v311);
  REQUIRE(exact.connect("it-dollar-exact").reason_code == 0);
  REQUIRE(exact.subscribe("$it/x", 0).reason_codes[0] == 0);

  RawClient pub(broker.port(), ProtocolVersion::v311);
  REQUIRE(pub.connect("it-dollar-pub").reason_code == 0);
  pub.publish("$it/x", "dollar", 0);
  auto p = exact.recv_publish(3s);
  REQUIRE(p);
  CHECK(p->topic == "$it/x");
  // [MQTT-4.7.2-1]: neither "#" nor "+/x" may match "$it/x".
  while (auto q = wild.recv_publish(500ms)) CHECK(q->topic != "$it/x");
}

}  // namespace
}  // namespace tern::it
