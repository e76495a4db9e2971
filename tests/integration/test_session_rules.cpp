// Session lifetime rules over real connections: clean start, session expiry, client
// identifiers; and the harness's crash/restart support.
#include "tests/integration/harness/common.hpp"

namespace tern::it {
namespace {

TEST_CASE("Clean start / clean session 1 discards the previous session") {
  const auto v = GENERATE(ProtocolVersion::v311, ProtocolVersion::v5);
  INFO("client " << version_name(v));
  TernBroker broker;
  {
    RawClient c(broker.port(), v);
    REQUIRE(c.connect("it-clean", false, 300).reason_code == 0);
    REQUIRE(c.subscribe("it/clean", 1).reason_codes[0] == 1);
    c.disconnect();
  }
  RawClient c(broker.port(), v);
  const auto ack = c.connect("it-clean", /*clean_start=*/true, 300);
  REQUIRE(ack.reason_code == 0);
  CHECK_FALSE(ack.session_present);  // [MQTT-3.2.2-1] (3.1.1), [MQTT-3.2.2-2] (5.0)
  RawClient pub(broker.port(), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-clean-pub").reason_code == 0);
  pub.publish("it/clean", "old subscription", 1);
  CHECK(c.no_publish_for(500ms));  // the subscription went with the old session
}

TEST_CASE("v5 Session Expiry Interval: a session is kept within it and gone after it") {
  TernBroker broker;
  {
    RawClient c(broker.port(), ProtocolVersion::v5);
    REQUIRE(c.connect("it-sexp", true, /*session_expiry=*/1).reason_code == 0);
    REQUIRE(c.subscribe("it/sexp", 1).reason_codes[0] == 1);
    c.disconnect();
  }
  RawClient pub(broker.port(), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-sexp-pub").reason_code == 0);
  pub.publish("it/sexp", "queued", 1);
  sleep_for(2200ms);
  RawClient c(broker.port(), ProtocolVersion::v5);
  const auto ack = c.connect("it-sexp", false, 300);
  REQUIRE(ack.reason_code == 0);
  // [MQTT-3.1.2-23]: the session (and what was queued for it) ended after 1 s.
  CHECK_FALSE(ack.session_present);
  CHECK(c.no_publish_for(500ms));
  c.disconnect();

  // Session expiry 0 (the default): the session ends with the connection.
  {
    RawClient z(broker.port(), ProtocolVersion::v5);
    REQUIRE(z.connect("it-sexp0", false).reason_code == 0);
    REQUIRE(z.subscribe("it/sexp0", 1).reason_codes[0] == 1);
    z.disconnect();
  }
  RawClient z(broker.port(), ProtocolVersion::v5);
  CHECK_FALSE(z.connect("it-sexp0", false).session_present);
}

TEST_CASE("QoS 0 messages for an offline session: dropped by default, queued with "
          "queue_qos0_offline: true") {
  if (TernBroker::reference_mode()) return;  // needs our config
  const bool queue = GENERATE(false, true);
  INFO("queue_qos0_offline " << queue);
  TernBroker broker({std::string("sessions:\n  queue_qos0_offline: ") + (queue ? "true" : "false") +
                         "\n",
                     {}});
  {
    RawClient c(broker.port(), ProtocolVersion::v5);
    REQUIRE(c.connect("it-q0", true, 300).reason_code == 0);
    REQUIRE(c.subscribe("it/q0", 1).reason_codes[0] == 1);
    c.disconnect();
  }
  RawClient pub(broker.port(), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-q0-pub").reason_code == 0);
  pub.publish("it/q0", "zero", 0);
  pub.publish("it/q0", "one", 1);
  RawClient c(broker.port(), ProtocolVersion::v5);
  REQUIRE(c.connect("it-q0", false, 300).session_present);
  std::vector<std::string> got;
  while (auto p = c.recv_publish(700ms)) got.push_back(p->payload);
  CHECK(got == (queue ? std::vector<std::string>{"zero", "one"} : std::vector<std::string>{"one"}));
}

TEST_CASE("sessions.expiry_default (1s) ends a 3.1.1 clean-session-0 session after it") {
  if (TernBroker::reference_mode()) return;  // needs our config
  TernBroker broker({"sessions:\n  expiry_default: 1s\n", {}});
  {
    RawClient c(broker.port(), ProtocolVersion::v311);
    REQUIRE(c.connect("it-v3exp", false).reason_code == 0);
    c.disconnect();
  }
  {
    RawClient c(broker.port(), ProtocolVersion::v311);
    CHECK(c.connect("it-v3exp", false).session_present);  // within the second: kept
    c.disconnect();
  }
  sleep_for(2200ms);
  RawClient c(broker.port(), ProtocolVersion::v311);
  CHECK_FALSE(c.connect("it-v3exp", false).session_present);
}

TEST_CASE("sessions.max_session_expiry (5s) caps a v5 client's request and tells it in CONNACK") {
  if (TernBroker::reference_mode()) return;  // needs our config
  // expiry_default may not exceed the cap (config validation), so it is lowered too.
  TernBroker broker({"sessions:\n  max_session_expiry: 5s\n  expiry_default: 5s\n", {}});
  RawClient c(broker.port(), ProtocolVersion::v5);
  const auto ack = c.connect("it-cap", true, 300);
  REQUIRE(ack.reason_code == 0);
  // 5.0 section 3.2.2.3.2: a server using another value than asked sends it in CONNACK.
  CHECK(ack.props.session_expiry_interval == std::optional<std::uint32_t>(5));
}

TEST_CASE("Client identifiers: v5 empty id gets an Assigned Client Identifier, 3.1.1 empty id "
          "with clean session 0 is refused with 0x02") {
  TernBroker broker;
  {
    RawClient c(broker.port(), ProtocolVersion::v5);
    const auto ack = c.connect("");
    REQUIRE(ack.reason_code == 0);
    REQUIRE(ack.props.assigned_client_identifier.has_value());  // [MQTT-3.2.2-16]
    CHECK_FALSE(ack.props.assigned_client_identifier->empty());
  }
  {
    RawClient c(broker.port(), ProtocolVersion::v311);
    const auto ack = c.connect("", /*clean_start=*/true);
    CHECK(ack.reason_code == 0);  // [MQTT-3.1.3-6]: accepted, an id is assigned
  }
  {
    RawClient c(broker.port(), ProtocolVersion::v311);
    codec::Connect cn;
    cn.client_id = "";
    cn.clean_start = false;
    const auto ack = c.connect(cn);
    CHECK(ack.reason_code == 0x02);  // [MQTT-3.1.3-8] identifier rejected
    CHECK(c.wait_closed(3s));        // [MQTT-3.2.2-5]
  }
}

TEST_CASE("Harness: kill -9 and restart on the same port give a fresh working broker") {
  TernBroker broker;
  const auto port = broker.port();
  {
    RawClient c(broker.port(), ProtocolVersion::v5);
    REQUIRE(c.connect("it-crash").reason_code == 0);
    CHECK(broker.kill9() == 128 + 9);
    CHECK(c.wait_closed(3s));
  }
  broker.restart();
  CHECK(broker.port() == port);
  RawClient c(broker.port(), ProtocolVersion::v5);
  REQUIRE(c.connect("it-crash").reason_code == 0);
  REQUIRE(c.subscribe("it/crash", 0).reason_codes[0] == 0);
  c.publish("it/crash", "back", 0);
  auto p = c.recv_publish(3s);
  REQUIRE(p);
  CHECK(p->payload == "back");
}

}  // namespace
}  // namespace tern::it
