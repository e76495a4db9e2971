// Retained messages: stored, sent to new subscriptions with RETAIN=1, cleared by an empty
// payload, and the v5 Retain Handling options.
#include "tests/integration/harness/common.hpp"

namespace tern::it {
namespace {

TEST_CASE("Retained message: a new subscriber gets it with the retain flag, an established one "
          "gets live messages without it, an empty payload clears it") {
  const int version = GENERATE(MQTTVERSION_3_1_1, MQTTVERSION_5);
  INFO("Paho " << paho_version_name(version));
  TernBroker broker;

  PahoClient pub(broker.uri(), "it-ret-pub", version);
  pub.connect();
  pub.publish("it/ret/state", "on", 1, /*retain=*/true);

  PahoClient sub(broker.uri(), "it-ret-sub", version);
  sub.connect();
  REQUIRE(sub.subscribe("it/ret/#", 1) == 1);
  auto m = sub.next(5s);
  REQUIRE(m);
  CHECK(m->get_topic() == "it/ret/state");
  CHECK(m->get_payload_str() == "on");
  CHECK(m->is_retained());  // 3.1.1 [MQTT-3.3.1-8], 5.0 [MQTT-3.3.1-9]
  CHECK(m->get_qos() == 1);
  CHECK(sub.quiet_for(300ms));

  // A retained publish matching an established subscription is forwarded with RETAIN=0:
  // 3.1.1 [MQTT-3.3.1-9]; 5.0 [MQTT-3.3.1-12] (Retain As Published is 0 here).
  pub.publish("it/ret/state", "off", 1, /*retain=*/true);
  m = sub.next(5s);
  REQUIRE(m);
  CHECK(m->get_payload_str() == "off");
  CHECK_FALSE(m->is_retained());

  // The store now holds "off" (it replaced "on"): 3.1.1 [MQTT-3.3.1-5], 5.0 [MQTT-3.3.1-5].
  {
    PahoClient late(broker.uri(), "it-ret-late", version);
    late.connect();
    REQUIRE(late.subscribe("it/ret/state", 0) == 0);
    m = late.next(5s);
    REQUIRE(m);
    CHECK(m->get_payload_str() == "off");
    CHECK(m->is_retained());
    CHECK(m->get_qos() == 0);  // min(1, 0)
    CHECK(late.quiet_for(300ms));
  }

  // Empty retained payload clears it (3.1.1 [MQTT-3.3.1-10], 5.0 [MQTT-3.3.1-6]) and is not
  // stored itself (3.1.1 [MQTT-3.3.1-11], 5.0 [MQTT-3.3.1-7]).
  pub.publish("it/ret/state", "", 1, /*retain=*/true);
  PahoClient after(broker.uri(), "it-ret-after", version);
  after.connect();
  REQUIRE(after.subscribe("it/ret/#", 1) == 1);
  CHECK(after.quiet_for(700ms));

  // A non-retained publish does not touch the store (5.0 [MQTT-3.3.1-8]).
  pub.publish("it/ret/other", "kept", 0, /*retain=*/true);
  pub.publish("it/ret/other", "live", 0, /*retain=*/false);
  PahoClient last(broker.uri(), "it-ret-last", version);
  last.connect();
  REQUIRE(last.subscribe("it/ret/other", 0) == 0);
  m = last.next(5s);
  REQUIRE(m);
  CHECK(m->get_payload_str() == "kept");
}

TEST_CASE("v5 Retain Handling: 0 sends retained messages, 1 only for a new subscription, 2 never") {
  TernBroker broker;
  RawClient pub(broker.port(), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-rh-pub").reason_code == 0);
  pub.publish("it/rh/a", "retained-a", 1, /*retain=*/true);

  RawClient sub(broker.port(), ProtocolVersion::v5);
  REQUIRE(sub.connect("it-rh-sub").reason_code == 0);

  // Retain Handling 2: no retained messages at subscribe time [MQTT-3.3.1-11].
  REQUIRE(sub.subscribe("it/rh/#", 1, /*retain_handling=*/2).reason_codes[0] == 1);
  CHECK(sub.no_publish_for(700ms));

  // Retain Handling 1 on an existing subscription: none [MQTT-3.3.1-10].
  REQUIRE(sub.subscribe("it/rh/#", 1, /*retain_handling=*/1).reason_codes[0] == 1);
  CHECK(sub.no_publish_for(700ms));

  // Retain Handling 1 on a new subscription: sent, with RETAIN=1.
  REQUIRE(sub.subscribe("it/rh/a", 1, /*retain_handling=*/1).reason_codes[0] == 1);
  auto p = sub.recv_publish(5s);
  REQUIRE(p);
  CHECK(p->topic == "it/rh/a");
  CHECK(p->payload == "retained-a");
  CHECK(p->retain);
  CHECK(sub.no_publish_for(500ms));

  // Retain Handling 0 (default): sent on every subscribe, even re-subscribing [MQTT-3.3.1-9].
  REQUIRE(sub.subscribe("it/rh/a", 1, /*retain_handling=*/0).reason_codes[0] == 1);
  p = sub.recv_publish(5s);
  REQUIRE(p);
  CHECK(p->payload == "retained-a");
  CHECK(p->retain);
}

}  // namespace
}  // namespace tern::it
