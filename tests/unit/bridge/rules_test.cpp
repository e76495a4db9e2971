// Topic matching, prefix remapping and the compiled rule set of a bridge.
#include "bridge/rules.hpp"

#include <catch2/catch.hpp>

#include "bridge/bridge.hpp"
#include "bridge/uplink.hpp"

using namespace tern::bridge;

namespace {

TopicRule rule(std::string pattern, Direction d, std::uint8_t qos = 1, std::string local = "",
               std::string remote = "", int priority = 0) {
  TopicRule r;
  r.pattern = std::move(pattern);
  r.direction = d;
  r.qos = qos;
  r.local_prefix = std::move(local);
  r.remote_prefix = std::move(remote);
  r.priority = priority;
  return r;
}

BridgeOptions options(std::vector<TopicRule> rules) {
  BridgeOptions o;
  o.name = "cloud";
  o.remotes = {"mqtt://127.0.0.1:1883"};
  o.topics = std::move(rules);
  return o;
}

}  // namespace

TEST_CASE("topic_matches follows the MQTT wildcard rules [MQTT-4.7.1-2]", "[bridge][rules]") {
  struct Row {
    const char* filter;
    const char* topic;
    bool match;
  };
  const Row rows[] = {
      {"a/b", "a/b", true},
      {"a/b", "a/c", false},
      {"a/b", "a/b/c", false},
      {"a/b/c", "a/b", false},
      {"a/+", "a/b", true},
      {"a/+", "a/", true},  // '+' matches an empty level
      {"a/+", "a/b/c", false},
      {"+/+", "/x", true},
      {"+", "a", true},
      {"+", "a/b", false},
      {"#", "a/b/c", true},
      {"a/#", "a", true},  // '#' includes the parent level
      {"a/#", "a/b/c", true},
      {"a/#", "ab", false},
      {"a/+/c/#", "a/x/c", true},
      {"a/+/c/#", "a/x/d/e", false},
      {"sensors/#", "sensors", true},
      {"", "a", false},
  };
  for (const Row& r : rows) {
    INFO(r.filter << " vs " << r.topic);
    CHECK(topic_matches(r.filter, r.topic) == r.match);
  }
}

TEST_CASE("wildcards at the first level do not match $-topics [MQTT-4.7.2-1]", "[bridge][rules]") {
  CHECK_FALSE(topic_matches("#", "$SYS/broker/uptime"));
  CHECK_FALSE(topic_matches("+/broker/uptime", "$SYS/broker/uptime"));
  CHECK_FALSE(topic_matches("#", "$bridge/cloud/p0"));
  CHECK(topic_matches("$SYS/#", "$SYS/broker/uptime"));
  CHECK(topic_matches("$SYS/+/uptime", "$SYS/broker/uptime"));
}

TEST_CASE("map_topic swaps prefixes and refuses what is not a topic name", "[bridge][rules]") {
  CHECK(map_topic("sensors/t1", "", "gw-1/") == "gw-1/sensors/t1");
  CHECK(map_topic("gw-1/cmd/x", "gw-1/", "cloud/") == "cloud/cmd/x");
  CHECK(map_topic("a/b", "a/", "") == "b");
  CHECK_FALSE(map_topic("other/x", "gw-1/", "").has_value());  // prefix absent
  CHECK_FALSE(map_topic("gw/", "gw/", "").has_value());        // empty result [MQTT-4.7.3-1]
  CHECK_FALSE(map_topic(std::string(65530, 'x'), "", "prefix/").has_value());  // too long
  CHECK(strip_prefix("gw/a", "gw/") == std::string_view("a"));
  CHECK_FALSE(strip_prefix("g", "gw/").has_value());
}

TEST_CASE("out rules form one class per priority, highest first", "[bridge][rules]") {
  const BridgeOptions o = options({
      rule("sensors/#", Direction::Out, 1, "", "gw/", 0),
      rule("alarms/#", Direction::Out, 2, "", "gw/", 1),
      rule("bulk/#", Direction::Out, 0, "", "gw/", -1),
      rule("status/#", Direction::Both, 1, "local/", "gw/", 0),
      rule("cmd/#", Direction::In, 2, "cloud/", "gw/"),
  });
  const RuleSet rs(o);
  const auto& classes = rs.out_classes();
  REQUIRE(classes.size() == 3);
  CHECK(classes[0].priority == 1);
  CHECK(classes[0].client_id == "$bridge/cloud/p1");
  CHECK(classes[1].priority == 0);
  CHECK(classes[1].client_id == "$bridge/cloud/p0");
  CHECK(classes[2].client_id == "$bridge/cloud/p-1");
  // Local filters carry the local prefix; rule order is kept within a class.
  REQUIRE(classes[1].filters.size() == 2);
  CHECK(classes[1].filters[0].filter == "sensors/#");
  CHECK(classes[1].filters[1].filter == "local/status/#");
  CHECK(classes[0].filters[0].qos == 2);
  // In filters are remote ones: remote prefix + pattern, both rules included.
  REQUIRE(rs.in_filters().size() == 2);
  CHECK(rs.in_filters()[0].filter == "gw/status/#");
  CHECK(rs.in_filters()[1].filter == "gw/cmd/#");
  CHECK(rs.has_in());
  CHECK(rs.in_client_id() == "$bridge/cloud/in");
  CHECK(rs.loop_prefix() == "$bridge/cloud/");

  CHECK(internal_client_ids(o) == std::vector<std::string>{"$bridge/cloud/p1", "$bridge/cloud/p0",
                                                           "$bridge/cloud/p-1",
                                                           "$bridge/cloud/in"});
}

TEST_CASE("map_out maps with the first matching rule of the class", "[bridge][rules]") {
  const RuleSet rs(options({
      rule("a/special", Direction::Out, 1, "", "first/"),
      rule("a/#", Direction::Out, 1, "", "second/"),
      rule("x/#", Direction::Both, 1, "loc/", "rem/"),
  }));
  REQUIRE(rs.out_classes().size() == 1);
  CHECK(rs.map_out(0, "a/special") == "first/a/special");
  CHECK(rs.map_out(0, "a/other") == "second/a/other");
  CHECK(rs.map_out(0, "loc/x/1") == "rem/x/1");
  CHECK_FALSE(rs.map_out(0, "zzz").has_value());  // e.g. a filter of an older config
  CHECK_FALSE(rs.map_out(7, "a/other").has_value());
  CHECK(rs.is_both(0, "loc/x/1"));
  CHECK_FALSE(rs.is_both(0, "a/other"));
}

TEST_CASE("map_in maps remote topics to local ones with the rule's QoS", "[bridge][rules]") {
  const RuleSet rs(options({
      rule("commands/#", Direction::In, 1, "cloud/", "gw-1/"),
      rule("config/+", Direction::In, 2, "", ""),
      rule("sensors/#", Direction::Out, 1, "", "gw-1/"),
  }));
  auto m = rs.map_in("gw-1/commands/reboot");
  REQUIRE(m);
  CHECK(m->local_topic == "cloud/commands/reboot");
  CHECK(m->qos == 1);
  m = rs.map_in("config/x");
  REQUIRE(m);
  CHECK(m->local_topic == "config/x");
  CHECK(m->qos == 2);
  CHECK_FALSE(rs.map_in("gw-1/sensors/t").has_value());  // an out rule does not map in
  CHECK_FALSE(rs.map_in("config/x/y").has_value());
}

TEST_CASE("a bridge without out rules has no out class, without in rules no in session",
          "[bridge][rules]") {
  const RuleSet only_in(options({rule("c/#", Direction::In)}));
  CHECK(only_in.out_classes().empty());
  CHECK(only_in.has_in());
  const RuleSet only_out(options({rule("s/#", Direction::Out)}));
  CHECK_FALSE(only_out.has_in());
  CHECK(only_out.in_client_id().empty());
}

TEST_CASE("remote URIs are given to Paho with its schemes and a port", "[bridge][uplink]") {
  CHECK(paho_uri("mqtt://cloud.example.com:1884") == "tcp://cloud.example.com:1884");
  CHECK(paho_uri("mqtts://cloud.example.com:8884") == "ssl://cloud.example.com:8884");
  CHECK(paho_uri("mqtt://cloud.example.com") == "tcp://cloud.example.com:1883");
  CHECK(paho_uri("mqtts://cloud.example.com") == "ssl://cloud.example.com:8883");
  CHECK(paho_uri("mqtts://[::1]") == "ssl://[::1]:8883");
  CHECK(paho_uri("mqtt://[::1]:1999") == "tcp://[::1]:1999");
  CHECK(paho_uri("tcp://h:1") == "tcp://h:1");
  CHECK(paho_uri("wss://h:443/mqtt") == "wss://h:443/mqtt");
  CHECK(is_tls_uri("mqtts://h"));
  CHECK(is_tls_uri("ssl://h:1"));
  CHECK_FALSE(is_tls_uri("mqtt://h"));
}
