// Will messages: published on abnormal close, discarded on DISCONNECT, delayed by the v5
// Will Delay Interval and cancelled by a reconnect within it.
#include "tests/integration/harness/common.hpp"

namespace tern::it {
namespace {

codec::Connect connect_with_will(const std::string& id, const std::string& will_topic,
                                 bool clean_start = true) {
  codec::Connect c;
  c.client_id = id;
  c.clean_start = clean_start;
  codec::Will w;
  w.topic = will_topic;
  w.payload = "gone:" + id;
  w.qos = 1;
  c.will = w;
  return c;
}

TEST_CASE("Will is published when a client closes its socket without DISCONNECT") {
  const auto v = GENERATE(ProtocolVersion::v311, ProtocolVersion::v5);
  INFO("will owner " << version_name(v));
  TernBroker broker;
  RawClient watcher(broker.port(), ProtocolVersion::v5);
  REQUIRE(watcher.connect("it-will-watch").reason_code == 0);
  REQUIRE(watcher.subscribe("it/will/#", 1).reason_codes[0] == 1);

  RawClient owner(broker.port(), v);
  REQUIRE(owner.connect(connect_with_will("it-will-owner", "it/will/owner")).reason_code == 0);
  owner.drop();  // no DISCONNECT: the will must go out [MQTT-3.1.2-8]

  auto p = watcher.recv_publish(5s);
  REQUIRE(p);
  CHECK(p->topic == "it/will/owner");
  CHECK(p->payload == "gone:it-will-owner");
  CHECK(p->qos == 1);
  CHECK_FALSE(p->retain);
  CHECK(watcher.no_publish_for(500ms));  // exactly once
}

TEST_CASE("Normal DISCONNECT discards the will, v5 DISCONNECT 0x04 publishes it") {
  const auto v = GENERATE(ProtocolVersion::v311, ProtocolVersion::v5);
  INFO("will owner " << version_name(v));
  TernBroker broker;
  RawClient watcher(broker.port(), ProtocolVersion::v5);
  REQUIRE(watcher.connect("it-will-watch").reason_code == 0);
  REQUIRE(watcher.subscribe("it/will/#", 1).reason_codes[0] == 1);

  {
    RawClient owner(broker.port(), v);
    REQUIRE(owner.connect(connect_with_will("it-will-clean", "it/will/clean")).reason_code == 0);
    owner.disconnect(0x00);  // 3.1.1 [MQTT-3.14.4-3], 5.0 [MQTT-3.14.4-3]: will deleted
  }
  CHECK(watcher.no_publish_for(1500ms));

  if (v == ProtocolVersion::v5) {
    // 5.0 section 3.14.2.1: reason 0x04 "Disconnect with Will Message".
    RawClient owner(broker.port(), v);
    REQUIRE(owner.connect(connect_with_will("it-will-04", "it/will/04")).reason_code == 0);
    owner.disconnect(0x04);
    auto p = watcher.recv_publish(5s);
    REQUIRE(p);
    CHECK(p->topic == "it/will/04");
    CHECK(p->payload == "gone:it-will-04");
  }
}

TEST_CASE("v5 Will Delay Interval delays the will, reconnecting within the delay cancels it",
          "[slow]") {
  TernBroker broker;
  RawClient watcher(broker.port(), ProtocolVersion::v5);
  REQUIRE(watcher.connect("it-will-watch").reason_code == 0);
  REQUIRE(watcher.subscribe("it/will/#", 1).reason_codes[0] == 1);

  auto delayed = [](const std::string& id) {
    auto c = connect_with_will(id, "it/will/" + id);
    c.props.session_expiry_interval = 60;  // outlives the delay, so the delay decides
    c.will->props.will_delay_interval = 2;
    return c;
  };

  SECTION("published after the delay") {
    RawClient owner(broker.port(), ProtocolVersion::v5);
    REQUIRE(owner.connect(delayed("late")).reason_code == 0);
    Stopwatch sw;
    owner.drop();
    // [MQTT-3.1.3-9]: not before the Will Delay Interval has passed.
    CHECK(watcher.no_publish_for(1500ms));
    auto p = watcher.recv_publish(4s);
    REQUIRE(p);
    CHECK(p->topic == "it/will/late");
    INFO("will arrived after " << sw.elapsed().count() << " ms");
    CHECK(sw.elapsed() >= 1900ms);
    CHECK(sw.elapsed() <= 4000ms);
  }

  SECTION("cancelled by a reconnect within the delay") {
    RawClient owner(broker.port(), ProtocolVersion::v5);
    REQUIRE(owner.connect(delayed("back")).reason_code == 0);
    owner.drop();
    sleep_for(500ms);
    RawClient again(broker.port(), ProtocolVersion::v5);
    auto c = delayed("back");
    c.clean_start = false;
    c.will.reset();
    const auto ack = again.connect(c);
    REQUIRE(ack.reason_code == 0);
    CHECK(ack.session_present);
    // [MQTT-3.1.3-9]: a new connection to the session before the delay: no will.
    CHECK(watcher.no_publish_for(3500ms));
    again.disconnect();
  }
}

TEST_CASE("Will with the retain flag is stored as retained, v5 will properties are forwarded") {
  TernBroker broker;
  {
    RawClient owner(broker.port(), ProtocolVersion::v5);
    auto c = connect_with_will("it-will-ret", "it/will/retained");
    c.will->retain = true;
    c.will->props.content_type = "text/plain";
    c.will->props.user_properties = {{"why", "crash"}, {"why", "twice"}};
    c.will->props.payload_format_indicator = 1;
    REQUIRE(owner.connect(c).reason_code == 0);
    owner.drop();
  }
  sleep_for(300ms);  // the will is published when the broker sees the close
  RawClient late(broker.port(), ProtocolVersion::v5);
  REQUIRE(late.connect("it-will-late").reason_code == 0);
  REQUIRE(late.subscribe("it/will/#", 1).reason_codes[0] == 1);
  auto p = late.recv_publish(3s);
  REQUIRE(p);
  CHECK(p->topic == "it/will/retained");
  CHECK(p->retain);  // Will Retain 1: published as a retained message (section 3.1.2.7)
  CHECK(p->payload == "gone:it-will-ret");
  CHECK(p->props.content_type == std::optional<std::string>("text/plain"));
  CHECK(p->props.payload_format_indicator == std::optional<std::uint8_t>(1));
  CHECK(p->props.user_properties ==
        std::vector<codec::UserProperty>{{"why", "crash"}, {"why", "twice"}});
}

}  // namespace
}  // namespace tern::it
