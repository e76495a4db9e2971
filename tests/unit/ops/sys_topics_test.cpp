// $SYS: the topic set and payloads for a snapshot, and SysPublisher's change detection.
#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "broker/ops/sys_topics.hpp"
#include "tests/unit/ops/fixture.hpp"

using namespace tern;

namespace {

std::map<std::string, std::string> as_map(const std::vector<ops::SysMessage>& v) {
  std::map<std::string, std::string> m;
  for (const auto& x : v) m[x.topic] = x.payload;
  return m;
}

}  // namespace

TEST_CASE("$SYS: the topic set with Mosquitto names and payloads", "[ops][sys]") {
  const auto m = as_map(ops::sys_messages(ops::test::populated_snapshot()));
  const std::map<std::string, std::string> expected = {
      {"$SYS/broker/version", "tern version 0.1.0"},
      {"$SYS/broker/uptime", "123 seconds"},
      {"$SYS/broker/clients/connected", "7"},
      {"$SYS/broker/clients/disconnected", "5"},
      {"$SYS/broker/clients/total", "12"},
      {"$SYS/broker/clients/maximum", "9"},
      {"$SYS/broker/messages/received", "1000"},
      {"$SYS/broker/messages/sent", "2500"},
      {"$SYS/broker/bytes/received", "64000"},
      {"$SYS/broker/bytes/sent", "160000"},
      {"$SYS/broker/load/messages/received/1min", "120.00"},
      {"$SYS/broker/load/messages/sent/1min", "300.00"},
      {"$SYS/broker/load/bytes/received/1min", "7680.00"},
      {"$SYS/broker/load/bytes/sent/1min", "19200.00"},
      {"$SYS/broker/retained messages/count", "5"},
      {"$SYS/broker/subscriptions/count", "21"},
      {"$SYS/broker/messages/queued", "33"},
      {"$SYS/broker/messages/dropped/queue_full", "3"},
      {"$SYS/broker/messages/dropped/expired", "4"},
      {"$SYS/broker/messages/dropped/slow_client", "11"},
      {"$SYS/broker/store/size", "1048576"},
      {"$SYS/broker/bridges/cloud/state", "connected"},
      {"$SYS/broker/bridges/cloud/queue/depth", "17"},
      {"$SYS/broker/bridges/cloud/queue/oldest_age", "4"},
      {"$SYS/broker/bridges/cloud/dropped/dropped_oldest", "2"},
      {"$SYS/broker/bridges/cloud/dropped/remote_rejected", "1"},
  };
  for (const auto& [topic, payload] : expected) {
    INFO(topic);
    REQUIRE(m.count(topic) == 1);
    CHECK(m.at(topic) == payload);
  }
  // One topic per drop reason, the same reasons as the metrics.
  for (const auto& [reason, n] : ops::dropped_by_reason(ops::test::populated_snapshot())) {
    CHECK(m.count("$SYS/broker/messages/dropped/" + reason) == 1);
  }
  // Every topic is a valid topic name under $SYS/broker/ (no wildcards, no empty payload).
  for (const auto& [topic, payload] : m) {
    CHECK(topic.rfind("$SYS/broker/", 0) == 0);
    CHECK(topic.find_first_of("+#") == std::string::npos);
    CHECK(!payload.empty());
  }
}

TEST_CASE("$SYS: only changed values after the first round", "[ops][sys]") {
  ops::Snapshot s = ops::test::populated_snapshot();
  ops::SysPublisher pub;
  const auto first = pub.round(s);
  CHECK(first.size() == ops::sys_messages(s).size());  // everything once

  CHECK(pub.round(s).empty());  // nothing changed

  s.broker.clients_connected = 8;  // connected, disconnected (12 - 8), total stay 12
  s.uptime += std::chrono::milliseconds(200);  // same whole second: not republished
  const auto m = as_map(pub.round(s));
  CHECK(m.size() == 2);
  CHECK(m.at("$SYS/broker/clients/connected") == "8");
  CHECK(m.at("$SYS/broker/clients/disconnected") == "4");

  s.uptime += std::chrono::seconds(10);
  s.bridges[0].connected = false;
  const auto m2 = as_map(pub.round(s));
  CHECK(m2.size() == 2);
  CHECK(m2.at("$SYS/broker/uptime") == "133 seconds");
  CHECK(m2.at("$SYS/broker/bridges/cloud/state") == "disconnected");
}

TEST_CASE("$SYS: a removed bridge's retained topics are cleared once", "[ops][sys]") {
  ops::Snapshot s = ops::test::populated_snapshot();
  ops::SysPublisher pub;
  (void)pub.round(s);
  s.bridges.clear();
  const auto cleared = pub.round(s);
  REQUIRE(!cleared.empty());
  for (const auto& m : cleared) {
    CHECK(m.topic.rfind("$SYS/broker/bridges/cloud/", 0) == 0);
    CHECK(m.payload.empty());  // zero-length retained payload deletes it [MQTT-3.3.1-10]
  }
  CHECK(pub.round(s).empty());  // and the state no longer holds them (bounded)
}

TEST_CASE("$SYS: bridge names cannot inject topic levels or wildcards", "[ops][sys]") {
  ops::Snapshot s;
  s.version = "v";
  ops::BridgeFigures b;
  b.name = "a/+/#";
  s.bridges.push_back(b);
  const auto m = as_map(ops::sys_messages(s));
  CHECK(m.count("$SYS/broker/bridges/a____/state") == 1);
}

TEST_CASE("$SYS: core messages are retained QoS 0 UTF-8 and RAM only", "[ops][sys]") {
  auto msgs = ops::to_system_messages({{"$SYS/broker/uptime", "5 seconds"}});
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].topic == "$SYS/broker/uptime");
  CHECK(msgs[0].payload == "5 seconds");
  CHECK(msgs[0].retain);
  CHECK(msgs[0].qos == 0);
  CHECK(!msgs[0].store_retained);
  CHECK(msgs[0].props.payload_format_indicator == std::optional<std::uint8_t>(1));
}
