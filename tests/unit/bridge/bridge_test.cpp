// The Bridge in process with a real net::Server on 127.0.0.1 and an uplink that cannot
// connect (a closed loopback port): its internal sessions must queue what its out rules
// match from the first second, apply the queue budget and overflow policy, and stop
// cleanly. No remote broker: the end-to-end tests with mosquitto are in tests/integration.
#include "bridge/bridge.hpp"

#include <arpa/inet.h>
#include <mqtt/async_client.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "broker/net/server.hpp"

using namespace tern;
using namespace std::chrono_literals;

namespace {

// A loopback port nobody listens on: bound to find it, then closed.
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// A started server on 127.0.0.1:0 running on its own thread.
struct RunningServer {
  std::unique_ptr<net::Server> server;
  std::thread thread;
  int port = 0;
  explicit RunningServer(core::BrokerOptions bo = {}) {
    net::ServerOptions so;
    so.listeners[0].bind = "127.0.0.1:0";
    so.handle_signals = false;
    server = std::make_unique<net::Server>(so, std::move(bo));
    std::string err;
    REQUIRE(server->start(err));
    port = server->listeners()[0].port;
    thread = std::thread([this] { server->run(); });
  }
  ~RunningServer() {
    server->stop();
    thread.join();
  }
};

bridge::TopicRule out_rule(std::string pattern, int priority = 0, std::uint8_t qos = 1) {
  bridge::TopicRule r;
  r.pattern = std::move(pattern);
  r.direction = bridge::Direction::Out;
  r.qos = qos;
  r.remote_prefix = "gw/";
  r.priority = priority;
  return r;
}

bridge::BridgeOptions down_bridge() {
  bridge::BridgeOptions o;
  o.name = "cloud";
  o.remotes = {"mqtt://127.0.0.1:" + std::to_string(closed_port())};
  o.client_id = "gw-test";
  o.reconnect_min = 50ms;
  o.reconnect_max = 200ms;
  o.topics = {out_rule("sensors/#"), out_rule("alarms/#", 1)};
  return o;
}

// A local MQTT 5 publisher.
struct Publisher {
  mqtt::async_client client;
  explicit Publisher(int port)
      : client("tcp://127.0.0.1:" + std::to_string(port), "pub-" + std::to_string(port),
               mqtt::create_options(MQTTVERSION_5)) {
    auto o =
        mqtt::connect_options_builder().mqtt_version(MQTTVERSION_5).clean_start(true).finalize();
    client.connect(o)->wait_for(5s);
    REQUIRE(client.is_connected());
  }
  ~Publisher() {
    try {
      client.disconnect()->wait_for(2s);
    } catch (const std::exception&) {
    }
  }
  // The PUBACK's reason code (QoS 1), or 0 for QoS 0 once written.
  int publish(const std::string& topic, int qos) {
    auto tok = client.publish(topic, "payload", 7, qos, false);
    try {
      tok->wait_for(5s);
    } catch (const mqtt::exception& e) {
      return e.get_reason_code();
    }
    return static_cast<int>(tok->get_reason_code());
  }
};

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 5000ms) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

}  // namespace

TEST_CASE("a bridge queues what its out rules match while the uplink is down", "[bridge][local]") {
  RunningServer rs;
  bridge::Bridge b(down_bridge(), *rs.server);
  b.start();
  // Both priority classes exist as (offline) sessions from the start.
  REQUIRE(wait_until([&] {
    return rs.server->session_status("$bridge/cloud/p1").has_value() &&
           rs.server->session_status("$bridge/cloud/p0").has_value();
  }));
  {
    Publisher pub(rs.port);
    for (int i = 0; i < 5; ++i) CHECK(pub.publish("sensors/t" + std::to_string(i), 1) == 0);
    CHECK(pub.publish("alarms/fire", 1) == 0);
    CHECK(pub.publish("other/x", 1) == 0);  // matches no rule: not queued for the bridge
  }
  REQUIRE(wait_until([&] { return b.status().queued == 6; }));
  const bridge::BridgeStatus st = b.status();
  CHECK_FALSE(st.connected);
  CHECK(st.name == "cloud");
  CHECK(st.inflight == 0);
  CHECK(st.forwarded_out == 0);
  CHECK(st.oldest_age.has_value());
  CHECK(rs.server->session_status("$bridge/cloud/p1")->queued == 1);
  CHECK(rs.server->session_status("$bridge/cloud/p0")->queued == 5);
  CHECK_FALSE(rs.server->session_status("$bridge/cloud/p0")->online);
  b.stop();
  b.stop();  // idempotent
  // The sessions stay (they are the queue) after the bridge stopped.
  CHECK(rs.server->session_status("$bridge/cloud/p0")->queued == 5);
}

TEST_CASE("a full bridge queue with overflow reject answers v5 publishers 0x97",
          "[bridge][local]") {
  RunningServer rs;
  bridge::BridgeOptions o = down_bridge();
  o.queue_max_messages = 2;
  o.overflow = core::OverflowPolicy::Reject;
  bridge::Bridge b(o, *rs.server);
  b.start();
  REQUIRE(wait_until([&] { return rs.server->session_status("$bridge/cloud/p0").has_value(); }));
  REQUIRE(wait_until([&] { return !rs.server->session_status("$bridge/cloud/p0")->online; }));
  Publisher pub(rs.port);
  CHECK(pub.publish("sensors/1", 1) == 0);
  CHECK(pub.publish("sensors/2", 1) == 0);
  CHECK(pub.publish("sensors/3", 1) == 0x97);  // [MQTT-3.4.2.1] Quota exceeded
  const bridge::BridgeStatus st = b.status();
  CHECK(st.queued == 2);
  CHECK(st.rejected == 1);
  CHECK(st.dropped_oldest == 0);
}

TEST_CASE("drop_oldest keeps the newest messages within the budget, per class", "[bridge][local]") {
  RunningServer rs;
  bridge::BridgeOptions o = down_bridge();
  o.queue_max_messages = 3;
  o.overflow = core::OverflowPolicy::DropOldest;
  bridge::Bridge b(o, *rs.server);
  b.start();
  REQUIRE(wait_until([&] {
    auto s = rs.server->session_status("$bridge/cloud/p0");
    return s && !s->online;
  }));
  Publisher pub(rs.port);
  for (int i = 0; i < 5; ++i) CHECK(pub.publish("sensors/" + std::to_string(i), 1) == 0);
  CHECK(pub.publish("alarms/a", 1) == 0);  // its own class has its own budget
  REQUIRE(wait_until([&] { return b.status().queued == 4; }));
  const bridge::BridgeStatus st = b.status();
  CHECK(st.dropped_oldest == 2);
  CHECK(rs.server->session_status("$bridge/cloud/p1")->queued == 1);
}

TEST_CASE("QoS 0 while the uplink is down is dropped and counted unless queue_qos0",
          "[bridge][local]") {
  for (bool queue_qos0 : {false, true}) {
    RunningServer rs;
    bridge::BridgeOptions o = down_bridge();
    o.queue_qos0 = queue_qos0;
    bridge::Bridge b(o, *rs.server);
    b.start();
    REQUIRE(wait_until([&] {
      auto s = rs.server->session_status("$bridge/cloud/p0");
      return s && !s->online;
    }));
    {
      Publisher pub(rs.port);
      pub.publish("sensors/q0", 0);
      pub.publish("sensors/q1", 1);  // after the QoS 0 one: once it is queued, so is that
    }
    REQUIRE(wait_until([&] { return b.status().queued >= 1; }));
    const bridge::BridgeStatus st = b.status();
    INFO("queue_qos0 " << queue_qos0);
    CHECK(st.queued == (queue_qos0 ? 2u : 1u));
    CHECK(st.dropped_qos0 == (queue_qos0 ? 0u : 1u));
  }
}

TEST_CASE("a bridge without a reachable remote stops promptly", "[bridge][local]") {
  RunningServer rs;
  bridge::BridgeOptions o = down_bridge();
  o.remotes = {"mqtt://127.0.0.1:" + std::to_string(closed_port()),
               "mqtt://127.0.0.1:" + std::to_string(closed_port())};  // a fallback too
  bridge::Bridge b(o, *rs.server);
  b.start();
  std::this_thread::sleep_for(300ms);  // several failed attempts (backoff 50-200 ms)
  const auto t0 = std::chrono::steady_clock::now();
  b.stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
  CHECK_FALSE(b.status().connected);
  CHECK(b.status().connects == 0);
}

TEST_CASE("overlapping classes queue a message once, in the highest class that matches",
          "[bridge][local]") {
  RunningServer rs;
  bridge::BridgeOptions o = down_bridge();
  o.topics = {out_rule("#", 0), out_rule("alarms/#", 1)};  // "#" also matches alarms/...
  bridge::Bridge b(o, *rs.server);
  b.start();
  REQUIRE(wait_until([&] {
    auto lo = rs.server->session_status("$bridge/cloud/p0");
    auto hi = rs.server->session_status("$bridge/cloud/p1");
    return lo && hi && !lo->online && !hi->online;
  }));
  {
    Publisher pub(rs.port);
    CHECK(pub.publish("alarms/fire", 1) == 0);
    CHECK(pub.publish("sensors/t", 1) == 0);
  }
  REQUIRE(wait_until([&] { return b.status().queued == 2; }));
  CHECK(rs.server->session_status("$bridge/cloud/p1")->queued == 1);
  CHECK(rs.server->session_status("$bridge/cloud/p0")->queued == 1);
}

TEST_CASE("a bridge queue's overflow goes to $DLQ/bridge_overflow/<topic> naming the bridge",
          "[bridge][local][dlq]") {
  core::BrokerOptions bo;
  bo.dead_letter.enabled = true;
  RunningServer rs(bo);
  bridge::BridgeOptions o = down_bridge();
  o.queue_max_messages = 1;
  o.overflow = core::OverflowPolicy::DropOldest;
  bridge::Bridge b(o, *rs.server);
  b.start();
  REQUIRE(wait_until([&] {
    auto s = rs.server->session_status("$bridge/cloud/p0");
    return s && !s->online;
  }));

  mqtt::async_client ops("tcp://127.0.0.1:" + std::to_string(rs.port), "ops",
                         mqtt::create_options(MQTTVERSION_5));
  ops.start_consuming();
  ops.connect(mqtt::connect_options_builder().mqtt_version(MQTTVERSION_5).finalize())
      ->wait_for(5s);
  REQUIRE(ops.is_connected());
  ops.subscribe("$DLQ/#", 1)->wait_for(5s);

  Publisher pub(rs.port);
  CHECK(pub.publish("sensors/1", 1) == 0);
  CHECK(pub.publish("sensors/2", 1) == 0);  // the queue holds one: sensors/1 is dropped
  mqtt::const_message_ptr m;
  REQUIRE(ops.try_consume_message_for(&m, 5s));
  REQUIRE(m);
  CHECK(m->get_topic() == "$DLQ/bridge_overflow/sensors/1");
  CHECK(m->to_string() == "payload");
  CHECK(m->get_qos() == 1);
  const mqtt::properties& props = m->get_properties();
  REQUIRE(props.count(mqtt::property::USER_PROPERTY) == 3);
  CHECK(std::get<1>(mqtt::get<mqtt::string_pair>(props, mqtt::property::USER_PROPERTY, 0)) ==
        "bridge_overflow");
  CHECK(std::get<1>(mqtt::get<mqtt::string_pair>(props, mqtt::property::USER_PROPERTY, 1)) ==
        "cloud");
  CHECK(std::get<1>(mqtt::get<mqtt::string_pair>(props, mqtt::property::USER_PROPERTY, 2)) ==
        "sensors/1");
  CHECK(b.status().dropped_oldest == 1);
  CHECK(rs.server->broker_stats().dead_lettered == 1);
  ops.disconnect()->wait_for(2s);
}
