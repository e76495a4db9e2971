// Connection life: keep-alive enforcement, session takeover, graceful shutdown.
#include <csignal>

#include "tests/integration/harness/common.hpp"

namespace tern::it {
namespace {

TEST_CASE("Keep-alive: a silent client with keep-alive 1s is disconnected after ~1.5s and its "
          "will is published") {
  const auto v = GENERATE(ProtocolVersion::v311, ProtocolVersion::v5);
  INFO("silent client " << version_name(v));
  TernBroker broker;
  RawClient watcher(broker.port(), ProtocolVersion::v5);
  REQUIRE(watcher.connect("it-ka-watch").reason_code == 0);
  REQUIRE(watcher.subscribe("it/ka/#", 1).reason_codes[0] == 1);

  RawClient silent(broker.port(), v);
  codec::Connect c;
  c.client_id = "it-ka-silent";
  c.keep_alive = 1;
  c.will = codec::Will{"it/ka/will", "silent died", 1, false, {}};
  const auto ack = silent.connect(c);
  REQUIRE(ack.reason_code == 0);
  Stopwatch sw;
  // [MQTT-3.1.2-24]: closed within one and a half times the keep-alive (1.5 s); we allow
  // scheduling slack up to 2.5 s, and it must not happen before the keep-alive itself.
  REQUIRE(silent.wait_closed(5s));
  INFO("closed after " << sw.elapsed().count() << " ms");
  CHECK(sw.elapsed() >= 1000ms);
  CHECK(sw.elapsed() <= 2500ms);
  if (v == ProtocolVersion::v5) {
    INFO(silent.close_summary());
    if (auto d = silent.disconnect_seen()) CHECK(d->reason_code == 0x8D);  // Keep Alive timeout
  } else {
    INFO(silent.close_summary());
    CHECK_FALSE(silent.disconnect_seen());  // a 3.1.1 server never sends DISCONNECT
  }
  auto will = watcher.recv_publish(3s);  // [MQTT-3.1.2-8]: not a normal disconnect
  REQUIRE(will);
  CHECK(will->topic == "it/ka/will");
  CHECK(will->payload == "silent died");
}

TEST_CASE("Keep-alive: a client sending PINGREQ within its keep-alive stays connected") {
  TernBroker broker;
  RawClient c(broker.port(), ProtocolVersion::v5);
  codec::Connect cn;
  cn.client_id = "it-ka-ping";
  cn.keep_alive = 1;
  REQUIRE(c.connect(cn).reason_code == 0);
  for (int i = 0; i < 6; ++i) {
    sleep_for(500ms);
    c.send(codec::Pingreq{});
    c.expect<codec::Pingresp>(2s);  // [MQTT-3.12.4-1]
  }
  CHECK(c.is_open());
}

TEST_CASE("Server keep-alive (config max_keepalive: 2s) is announced to v5 clients and enforced") {
  if (TernBroker::reference_mode()) return;  // needs our config
  TernBroker broker({"mqtt:\n  max_keepalive: 2s\n", {}});
  RawClient c(broker.port(), ProtocolVersion::v5);
  codec::Connect cn;
  cn.client_id = "it-ska";
  cn.keep_alive = 60;
  const auto ack = c.connect(cn);
  REQUIRE(ack.reason_code == 0);
  // [MQTT-3.2.2-21]: the client must use the Server Keep Alive instead of its own.
  CHECK(ack.props.server_keep_alive == std::optional<std::uint16_t>(2));
  Stopwatch sw;
  REQUIRE(c.wait_closed(6s));
  INFO("closed after " << sw.elapsed().count() << " ms");
  CHECK(sw.elapsed() >= 2000ms);
  CHECK(sw.elapsed() <= 4000ms);
}

TEST_CASE("Session takeover: a second client with the same id disconnects the first (v5: "
          "DISCONNECT 0x8E) and works, with clean start 0 it keeps the session") {
  const auto v = GENERATE(ProtocolVersion::v311, ProtocolVersion::v5);
  INFO("clients " << version_name(v));
  TernBroker broker;
  RawClient first(broker.port(), v);
  REQUIRE(first.connect("it-takeover", /*clean_start=*/false, 300).reason_code == 0);
  REQUIRE(first.subscribe("it/takeover/#", 1).reason_codes[0] == 1);

  RawClient second(broker.port(), v);
  const auto ack = second.connect("it-takeover", /*clean_start=*/false, 300);
  REQUIRE(ack.reason_code == 0);
  CHECK(ack.session_present);  // the existing session is taken over, not discarded

  // [MQTT-3.1.4-3]: the existing connection is closed; 5.0 sends DISCONNECT 0x8E first.
  REQUIRE(first.wait_closed(3s));
  if (v == ProtocolVersion::v5) {
    INFO(first.close_summary());
    const auto d = first.disconnect_seen();
    REQUIRE(d);
    CHECK(d->reason_code == 0x8E);
  } else {
    INFO(first.close_summary());
    CHECK_FALSE(first.disconnect_seen());
  }

  // The session's subscription now delivers to the second connection.
  RawClient pub(broker.port(), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-takeover-pub").reason_code == 0);
  pub.publish("it/takeover/x", "to second", 1);
  auto p = second.recv_publish(5s);
  REQUIRE(p);
  CHECK(p->payload == "to second");
  // And the second client itself publishes and subscribes normally.
  REQUIRE(second.subscribe("it/takeover2", 0).reason_codes[0] == 0);
  second.publish("it/takeover2", "self", 0);
  p = second.recv_publish(5s);
  REQUIRE(p);
  CHECK(p->payload == "self");
}

TEST_CASE("SIGTERM: the broker tells v5 clients DISCONNECT 0x8B, closes them and exits 0") {
  TernBroker broker;
  RawClient v5(broker.port(), ProtocolVersion::v5);
  REQUIRE(v5.connect("it-term-v5").reason_code == 0);
  RawClient v3(broker.port(), ProtocolVersion::v311);
  REQUIRE(v3.connect("it-term-v3").reason_code == 0);
  const int status = broker.stop(5000ms);
  CHECK(status == 0);
  REQUIRE(v5.wait_closed(2s));
  if (!TernBroker::reference_mode()) {
    INFO(v5.close_summary());
    const auto d = v5.disconnect_seen();
    REQUIRE(d);
    CHECK(d->reason_code == 0x8B);  // Server shutting down
  }
  REQUIRE(v3.wait_closed(2s));
  INFO(v3.close_summary());
  CHECK_FALSE(v3.disconnect_seen());
}

}  // namespace
}  // namespace tern::it
