// Paho C++ publishers and subscribers (3.1.1 and 5.0, mixed) through the real broker.
#include <map>
#include <set>

#include "tests/integration/harness/common.hpp"

namespace tern::it {
namespace {

TEST_CASE("Paho QoS 0/1/2 round trips, v3.1.1 and v5 mixed: payload and topic intact, QoS "
          "downgraded to the subscription maximum") {
  const int pub_version = GENERATE(MQTTVERSION_3_1_1, MQTTVERSION_5);
  const int sub_version = GENERATE(MQTTVERSION_3_1_1, MQTTVERSION_5);
  INFO("publisher " << paho_version_name(pub_version) << ", subscriber "
                    << paho_version_name(sub_version));
  TernBroker broker;

  PahoClient sub(broker.uri(), "it-qos-sub", sub_version);
  sub.connect();
  for (int sq = 0; sq <= 2; ++sq) {
    // [MQTT-3.9.3-1] the granted QoS is the one asked for when the server supports it.
    CHECK(sub.subscribe("it/qos/sub" + std::to_string(sq) + "/#", sq) == sq);
  }

  PahoClient pub(broker.uri(), "it-qos-pub", pub_version);
  pub.connect();
  // Binary payload with NUL and high bytes: must arrive byte for byte.
  auto payload_for = [](int pq, int sq) {
    std::string p = "p" + std::to_string(pq) + "s" + std::to_string(sq);
    p += std::string("\x00\xff\x80\r\n", 5);
    return p;
  };
  for (int sq = 0; sq <= 2; ++sq) {
    for (int pq = 0; pq <= 2; ++pq) {
      pub.publish("it/qos/sub" + std::to_string(sq) + "/from" + std::to_string(pq),
                  payload_for(pq, sq), pq);
    }
  }

  const auto got = sub.collect(9, 10s);
  REQUIRE(got.size() == 9);
  std::set<std::string> seen;
  for (const auto& m : got) {
    const auto& topic = m->get_topic();
    INFO("topic " << topic);
    REQUIRE(topic.size() == std::string("it/qos/subS/fromP").size());
    const int sq = topic[10] - '0';
    const int pq = topic[16] - '0';
    REQUIRE(topic == "it/qos/sub" + std::to_string(sq) + "/from" + std::to_string(pq));
    CHECK(m->get_payload_str() == payload_for(pq, sq));
    // [MQTT-3.8.4-8] delivered QoS is min(published QoS, granted QoS).
    CHECK(m->get_qos() == std::min(pq, sq));
    CHECK_FALSE(m->is_retained());
    CHECK(seen.insert(topic).second);  // exactly once each (QoS 0 on loopback does not drop)
  }
  CHECK(sub.quiet_for(300ms));  // and nothing more (no duplicates)
}

TEST_CASE("Paho v5 publish with properties: user properties, content type, response topic and "
          "correlation data reach a v5 subscriber unchanged") {
  TernBroker broker;
  PahoClient sub(broker.uri(), "it-props-sub", MQTTVERSION_5);
  sub.connect();
  REQUIRE(sub.subscribe("it/props", 1) == 1);
  PahoClient pub(broker.uri(), "it-props-pub", MQTTVERSION_5);
  pub.connect();
  mqtt::properties props;
  props.add({mqtt::property::USER_PROPERTY, "k1", "v1"});
  props.add({mqtt::property::USER_PROPERTY, "k1", "v2"});
  props.add({mqtt::property::CONTENT_TYPE, "text/plain"});
  props.add({mqtt::property::RESPONSE_TOPIC, "it/reply"});
  props.add({mqtt::property::CORRELATION_DATA, std::string("\x01\x02", 2)});
  props.add({mqtt::property::PAYLOAD_FORMAT_INDICATOR, 1});
  pub.publish("it/props", "hello", 1, false, props);

  auto m = sub.next(5s);
  REQUIRE(m);
  const auto& got = m->get_properties();
  // [MQTT-3.3.2-17], [MQTT-3.3.2-18]: user properties forwarded unaltered, in order.
  REQUIRE(got.count(mqtt::property::USER_PROPERTY) == 2);
  auto up0 = mqtt::get<mqtt::string_pair>(got, mqtt::property::USER_PROPERTY, 0);
  auto up1 = mqtt::get<mqtt::string_pair>(got, mqtt::property::USER_PROPERTY, 1);
  CHECK(std::get<0>(up0) == "k1");
  CHECK(std::get<1>(up0) == "v1");
  CHECK(std::get<1>(up1) == "v2");
  CHECK(mqtt::get<std::string>(got, mqtt::property::CONTENT_TYPE) == "text/plain");  // [MQTT-3.3.2-20]
  CHECK(mqtt::get<std::string>(got, mqtt::property::RESPONSE_TOPIC) == "it/reply");  // [MQTT-3.3.2-15]
  CHECK(mqtt::get<std::string>(got, mqtt::property::CORRELATION_DATA) ==
        std::string("\x01\x02", 2));                                                   // [MQTT-3.3.2-16]
  CHECK(mqtt::get<std::uint8_t>(got, mqtt::property::PAYLOAD_FORMAT_INDICATOR) == 1);  // [MQTT-3.3.2-4]
}

}  // namespace
}  // namespace tern::it
