// The `bridges:` section of the loader: every key and its default, remote addresses and
// rates, each bad value with its YAML path and line, the rules spanning fields, and the
// bridge example configs in configs/. (Reading the files a bridge names is app's job:
// bridge_app_test.cpp.)

#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

#include "broker/config/config.hpp"

#ifndef TERN_SOURCE_DIR
#error "TERN_SOURCE_DIR must point at the repository root"
#endif

using namespace tern::config;
using Catch::Matchers::Contains;

namespace {

std::string report(const std::string& yaml) {
  const LoadResult r = load_string(yaml, "t.yaml");
  INFO(yaml);
  REQUIRE_FALSE(r.ok());
  return r.error_report();
}

Config ok(const std::string& yaml) {
  const LoadResult r = load_string(yaml, "t.yaml");
  INFO(r.error_report());
  REQUIRE(r.ok());
  return *r.config;
}

// A valid bridge with `extra` lines (indented 4) appended to its mapping. Line 1 is
// "bridges:", line 2 "  - name: b", line 3 remote, line 4 topics, line 5 the rule; extra
// lines start at line 6.
std::string bridge(const std::string& extra = "") {
  return "bridges:\n"
         "  - name: b\n"
         "    remote: \"mqtt://127.0.0.1:1883\"\n"
         "    topics:\n"
         "      - {pattern: \"a/#\"}\n" +
         extra;
}

// The same with a TLS remote.
std::string tls_bridge(const std::string& extra = "") {
  return "bridges:\n"
         "  - name: b\n"
         "    remote: \"mqtts://cloud.example.com\"\n"
         "    topics:\n"
         "      - {pattern: \"a/#\"}\n" +
         extra;
}

// A bridge whose only rule is `rule` (a flow mapping's inside), on line 5.
std::string rule(const std::string& r) {
  return "bridges:\n"
         "  - name: b\n"
         "    remote: \"mqtt://127.0.0.1:1883\"\n"
         "    topics:\n"
         "      - {" +
         r + "}\n";
}

std::size_t count_lines(const std::string& s) {
  std::size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace

TEST_CASE("bridges: none by default, an empty list or key is none", "[config][bridge]") {
  CHECK(defaults().bridges.empty());
  CHECK(ok("bridges: []\n").bridges.empty());
  CHECK(ok("bridges:\n").bridges.empty());
}

TEST_CASE("bridges: a minimal bridge gets the documented defaults", "[config][bridge]") {
  const Config c = ok(bridge());
  REQUIRE(c.bridges.size() == 1);
  const Bridge& b = c.bridges[0];
  CHECK(b.name == "b");
  CHECK(b.remote == RemoteAddress{false, "127.0.0.1", 1883});
  CHECK(b.fallbacks.empty());
  CHECK(b.protocol == BridgeProtocol::V5);
  CHECK(b.client_id.empty());
  CHECK(b.username.empty());
  CHECK(b.password_file.empty());
  CHECK_FALSE(b.password);
  CHECK(b.tls == BridgeTls{});
  CHECK(b.tls.verify);
  CHECK_FALSE(b.uses_tls());
  CHECK(b.keepalive == Seconds{60});
  CHECK_FALSE(b.clean_start);
  CHECK(b.session_expiry == Seconds{7 * 86400});
  CHECK(b.reconnect_min == Millis{1000});
  CHECK(b.reconnect_max == Millis{120000});
  CHECK(b.reconnect_jitter);
  CHECK(b.queue_max_messages == 1000000);
  CHECK(b.queue_max_bytes == 512 * kMiB);
  CHECK(b.overflow == BridgeOverflow::DropOldest);
  CHECK_FALSE(b.queue_qos0);
  CHECK(b.max_inflight == 64);
  CHECK(b.rate == 0);
  REQUIRE(b.topics.size() == 1);
  const BridgeTopic& t = b.topics[0];
  CHECK(t.pattern == "a/#");
  CHECK(t.direction == BridgeDirection::Out);
  CHECK(t.qos == 1);
  CHECK(t.priority == 0);
  CHECK(t.local_prefix.empty());
  CHECK(t.remote_prefix.empty());
  // Only the name, the remote and the rules are not defaults.
  Bridge d;
  d.name = b.name;
  d.remote = b.remote;
  d.topics = b.topics;
  CHECK(b == d);
}

TEST_CASE("bridges: every key is read", "[config][bridge]") {
  const Config c = ok(R"(
bridges:
  - name: cloud_1-x
    remote: "ssl://cloud.example.com:8884"
    fallbacks: ["mqtts://[2001:db8::0:1]", "mqtts://10.0.0.2:9999"]
    protocol: "3.1.1"
    client_id: gw-0042
    username: "gw-0042 é"
    password_file: /etc/tern/cloud.secret
    tls:
      ca: /etc/tern/ca.crt
      cert: /etc/tern/gw.crt
      key: /etc/tern/gw.key
      key_password_file: /etc/tern/gw.key.pass
      verify: false
      alpn: x-amzn-mqtt-ca
    keepalive: 2m
    clean_start: true
    reconnect: {min: 250ms, max: 10m, jitter: false}
    queue: {max_messages: 5000, max_bytes: 3MiB, overflow: reject, queue_qos0: true}
    drain: {max_inflight: 7, rate: 120/m}
    topics:
      - pattern: "alarms/+/#"
        direction: out
        qos: 2
        priority: high
        local_prefix: "site/"
        remote_prefix: "gw/"
      - {pattern: "cmd/#", direction: in, qos: 0, local_prefix: "cloud/"}
      - {pattern: "x", direction: both, priority: low}
      - {pattern: "y/#", priority: -7}
      - {pattern: "z/#", priority: "42", remote_prefix: ""}
  - name: second
    remote: "tcp://localhost"
    session_expiry: never
    password: inline-secret
    username: u
    topics: [{pattern: "#"}]
)");
  REQUIRE(c.bridges.size() == 2);
  const Bridge& b = c.bridges[0];
  CHECK(b.name == "cloud_1-x");
  CHECK(b.remote == RemoteAddress{true, "cloud.example.com", 8884});
  REQUIRE(b.fallbacks.size() == 2);
  CHECK(b.fallbacks[0] == RemoteAddress{true, "2001:db8::1", 8883});
  CHECK(b.fallbacks[1] == RemoteAddress{true, "10.0.0.2", 9999});
  CHECK(b.uses_tls());
  CHECK(b.protocol == BridgeProtocol::V311);
  CHECK(b.client_id == "gw-0042");
  CHECK(b.username == "gw-0042 é");
  CHECK(b.password_file.path == "/etc/tern/cloud.secret");
  CHECK(b.password_file.yaml_path == "bridges[0].password_file");
  CHECK(b.password_file.line == 9);
  CHECK_FALSE(b.password);
  CHECK(b.tls.ca.path == "/etc/tern/ca.crt");
  CHECK(b.tls.ca.yaml_path == "bridges[0].tls.ca");
  CHECK(b.tls.ca.line == 11);
  CHECK(b.tls.cert.path == "/etc/tern/gw.crt");
  CHECK(b.tls.key.path == "/etc/tern/gw.key");
  CHECK(b.tls.key.line == 13);
  CHECK(b.tls.key_password_file.path == "/etc/tern/gw.key.pass");
  CHECK(b.tls.key_password_file.yaml_path == "bridges[0].tls.key_password_file");
  CHECK_FALSE(b.tls.verify);
  CHECK(b.tls.alpn == "x-amzn-mqtt-ca");
  CHECK(b.keepalive == Seconds{120});
  CHECK(b.clean_start);
  CHECK(b.session_expiry == Seconds{7 * 86400});  // left at its default (3.1.1)
  CHECK(b.reconnect_min == Millis{250});
  CHECK(b.reconnect_max == Millis{600000});
  CHECK_FALSE(b.reconnect_jitter);
  CHECK(b.queue_max_messages == 5000);
  CHECK(b.queue_max_bytes == 3 * kMiB);
  CHECK(b.overflow == BridgeOverflow::Reject);
  CHECK(b.queue_qos0);
  CHECK(b.max_inflight == 7);
  CHECK(b.rate == Approx(2.0));
  REQUIRE(b.topics.size() == 5);
  CHECK(b.topics[0] == BridgeTopic{"alarms/+/#", BridgeDirection::Out, 2, 1, "site/", "gw/"});
  CHECK(b.topics[1] == BridgeTopic{"cmd/#", BridgeDirection::In, 0, 0, "cloud/", ""});
  CHECK(b.topics[2] == BridgeTopic{"x", BridgeDirection::Both, 1, -1, "", ""});
  CHECK(b.topics[3].priority == -7);
  CHECK(b.topics[4].priority == 42);

  const Bridge& s = c.bridges[1];
  CHECK(s.remote == RemoteAddress{false, "localhost", 1883});
  CHECK(s.session_expiry == kNeverExpires);
  CHECK(s.password == "inline-secret");
  CHECK(s.topics.size() == 1);
  CHECK(to_string(s.protocol) == "5.0");
  CHECK(to_string(b.protocol) == "3.1.1");
  CHECK(to_string(b.overflow) == "reject");
  CHECK(to_string(b.topics[1].direction) == "in");
}

TEST_CASE("bridge remote addresses", "[config][bridge][units]") {
  std::string err;
  const auto parse = [&](std::string_view s) { return parse_remote(s, err); };
  CHECK(parse("mqtt://broker") == RemoteAddress{false, "broker", 1883});
  CHECK(parse("tcp://broker:1") == RemoteAddress{false, "broker", 1});
  CHECK(parse("mqtts://broker") == RemoteAddress{true, "broker", 8883});
  CHECK(parse("ssl://a-b.c_d.example:65535") == RemoteAddress{true, "a-b.c_d.example", 65535});
  CHECK(parse("mqtt://[::1]:1884") == RemoteAddress{false, "::1", 1884});
  CHECK(parse("mqtt://[0:0::1]") == RemoteAddress{false, "::1", 1883});
  CHECK(parse("mqtt://127.0.0.1:18830") == RemoteAddress{false, "127.0.0.1", 18830});
  CHECK(RemoteAddress{true, "::1", 8883}.to_string() == "mqtts://[::1]:8883");
  CHECK(RemoteAddress{false, "broker", 1883}.to_string() == "mqtt://broker:1883");

  const auto refused = [&](std::string_view s, const std::string& why) {
    err.clear();
    INFO(s);
    CHECK_FALSE(parse_remote(s, err));
    CHECK_THAT(err, Contains(why));
  };
  refused("broker:1883", "expected \"mqtt://host:port\" or \"mqtts://host:port\"");
  refused("", "expected \"mqtt://host:port\"");
  refused("http://broker:80", "unsupported scheme \"http\"");
  refused("wss://broker:443", "unsupported scheme \"wss\"");
  refused("MQTT://broker", "unsupported scheme");
  refused("mqtt://", "missing host");
  refused("mqtt://:1883", "missing host");
  refused("mqtt://broker:0", "expected a port from 1 to 65535");
  refused("mqtt://broker:65536", "expected a port from 1 to 65535");
  refused("mqtt://broker:", "expected a port from 1 to 65535");
  refused("mqtt://broker:+1", "expected a port from 1 to 65535");
  refused("mqtt://broker:18x", "expected a port from 1 to 65535");
  refused("mqtt://user:pw@broker", "put credentials in username and password_file");
  refused("mqtt://broker/path", "expected no path");
  refused("mqtt://broker?x=1", "expected no path");
  refused("mqtt://::1:1883", "IPv6 addresses go in brackets");
  refused("mqtt://[::g]:1883", "not an IPv6 address");
  refused("mqtt://[::1", "expected \"mqtt://host:port\"");
  refused("mqtt://[::1]x", "expected \"mqtt://host:port\"");
  refused("mqtt://1.2.3.400", "not an IPv4 address");
  refused("mqtt://bad host", "not a valid host name");
  refused("mqtt://-bad.example", "not a valid host name");
  refused("mqtt://a..b", "not a valid host name");
  refused("mqtt://" + std::string(64, 'a') + ".com", "not a valid host name");
  refused("mqtt://br\x01oker", "not a valid host name: \"br?oker\"");
}

TEST_CASE("bridge drain rates", "[config][bridge][units]") {
  std::string err;
  CHECK(parse_rate("0", err) == 0.0);
  CHECK(parse_rate("100", err) == 100.0);
  CHECK(parse_rate("2.5", err) == 2.5);
  CHECK(parse_rate("100/s", err) == 100.0);
  CHECK(parse_rate("600/m", err) == 10.0);
  CHECK(*parse_rate("1/h", err) == Approx(1.0 / 3600));
  CHECK(parse_rate("1000000/s", err) == 1e6);
  for (const char* bad :
       {"", "-1", "fast", "1e3", ".5", "5.", "100/x", "100 /s", "100/sec", "0x10", "1,5"}) {
    INFO(bad);
    err.clear();
    CHECK_FALSE(parse_rate(bad, err));
    CHECK_THAT(err, Contains("expected a rate in messages per second"));
  }
  CHECK_FALSE(parse_rate("1000001", err));
  CHECK_THAT(err, Contains("too large"));
  CHECK_FALSE(parse_rate(std::string(40, '9'), err));
  CHECK_THAT(err, Contains("too large"));
  CHECK_FALSE(parse_rate("0.5/h", err));
  CHECK_THAT(err, Contains("too small (at least 1/h; 0 = unlimited)"));
}

TEST_CASE("bridges: each bad value is an error with its path and line", "[config][bridge]") {
  // The list and its items.
  CHECK_THAT(report("bridges: cloud\n"),
             Contains("t.yaml:1: bridges: expected a list of bridges, got \"cloud\""));
  CHECK_THAT(report("bridges:\n  - cloud\n"),
             Contains("t.yaml:2: bridges[0]: expected a bridge mapping"));
  {
    std::string many = "bridges:\n";
    for (int i = 0; i < 17; ++i) many += "  - {name: b" + std::to_string(i) + "}\n";
    CHECK_THAT(report(many), Contains("t.yaml:2: bridges: at most 16 bridges are allowed, got 17"));
  }
  // name and remote are required.
  const std::string missing = report("bridges:\n  - topics: [{pattern: a}]\n");
  CHECK_THAT(missing, Contains("t.yaml:2: bridges[0].name: required key is missing"));
  CHECK_THAT(missing, Contains("t.yaml:2: bridges[0].remote: required key is missing"));
  CHECK_THAT(
      report("bridges:\n  - name: \"a b\"\n    remote: mqtt://x\n    topics: [{pattern: a}]\n"),
      Contains("t.yaml:2: bridges[0].name: expected 1 to 64 letters, digits, '_' or '-', "
               "got \"a b\""));
  CHECK_THAT(report("bridges:\n  - name: a.b\n    remote: mqtt://x\n    topics: [{pattern: a}]\n"),
             Contains("bridges[0].name: expected 1 to 64 letters"));
  CHECK_THAT(report("bridges:\n  - name: " + std::string(65, 'n') +
                    "\n    remote: mqtt://x\n    topics: [{pattern: a}]\n"),
             Contains("bridges[0].name: expected 1 to 64 letters"));
  CHECK_THAT(report("bridges:\n  - name: a\n    remote: cloud:1883\n    topics: [{pattern: a}]\n"),
             Contains("t.yaml:3: bridges[0].remote: expected \"mqtt://host:port\""));
  CHECK_THAT(report(bridge("    fallbacks: mqtt://x\n")),
             Contains("t.yaml:6: bridges[0].fallbacks: expected a list of addresses, got "
                      "\"mqtt://x\""));
  CHECK_THAT(report(bridge("    fallbacks:\n      - mqtt://ok\n      - \"ftp://x\"\n")),
             Contains("t.yaml:8: bridges[0].fallbacks[1]: unsupported scheme \"ftp\""));

  CHECK_THAT(report(bridge("    protocol: 5\n")),
             Contains("t.yaml:6: bridges[0].protocol: expected one of 3.1.1 | 5.0, got \"5\""));
  CHECK_THAT(report(bridge("    client_id: \"\"\n")),
             Contains("t.yaml:6: bridges[0].client_id: expected a non-empty string"));
  CHECK_THAT(report(bridge("    client_id: \"a\\0b\"\n")),
             Contains("t.yaml:6: bridges[0].client_id: not valid UTF-8, or contains U+0000"));
  CHECK_THAT(report(bridge("    username: \"\xff\"\n")),
             Contains("t.yaml:6: bridges[0].username: not valid UTF-8"));
  CHECK_THAT(report(bridge("    username: " + std::string(65536, 'u') + "\n")),
             Contains("t.yaml:6: bridges[0].username: longer than 65535 bytes"));
  CHECK_THAT(report(bridge("    password: " + std::string(65536, 'p') + "\n")),
             Contains("t.yaml:6: bridges[0].password: longer than 65535 bytes"));
  CHECK_THAT(report(bridge("    password_file: secret.txt\n")),
             Contains("t.yaml:6: bridges[0].password_file: expected an absolute path (starting "
                      "with /), got \"secret.txt\""));
  CHECK_THAT(report(bridge("    password_file: [a]\n")),
             Contains("t.yaml:6: bridges[0].password_file: expected a non-empty string, got a "
                      "list"));

  CHECK_THAT(report(tls_bridge("    tls: true\n")),
             Contains("t.yaml:6: bridges[0].tls: expected a mapping of keys to values"));
  CHECK_THAT(report(tls_bridge("    tls:\n      ca: ca.pem\n")),
             Contains("t.yaml:7: bridges[0].tls.ca: expected an absolute path"));
  CHECK_THAT(report(tls_bridge("    tls:\n      cert: c.pem\n      key: /k\n")),
             Contains("t.yaml:7: bridges[0].tls.cert: expected an absolute path"));
  CHECK_THAT(report(tls_bridge("    tls:\n      cert: /c\n      key: k.pem\n")),
             Contains("t.yaml:8: bridges[0].tls.key: expected an absolute path"));
  CHECK_THAT(
      report(tls_bridge("    tls:\n      key: /k\n      cert: /c\n      key_password_file: p\n")),
      Contains("t.yaml:9: bridges[0].tls.key_password_file: expected an absolute path"));
  CHECK_THAT(report(tls_bridge("    tls:\n      verify: no\n")),
             Contains("t.yaml:7: bridges[0].tls.verify: expected true or false, got \"no\""));
  CHECK_THAT(report(tls_bridge("    tls:\n      alpn: " + std::string(256, 'a') + "\n")),
             Contains("t.yaml:7: bridges[0].tls.alpn: an ALPN protocol name is at most 255 bytes"));
  CHECK_THAT(report(tls_bridge("    tls:\n      verfy: false\n")),
             Contains("t.yaml:7: bridges[0].tls.verfy: unknown key; did you mean \"verify\"?"));

  CHECK_THAT(report(bridge("    keepalive: 60\n")),
             Contains("t.yaml:6: bridges[0].keepalive: expected a duration"));
  CHECK_THAT(report(bridge("    keepalive: 65536s\n")),
             Contains("t.yaml:6: bridges[0].keepalive: expected a duration between 0s and "));
  CHECK_THAT(report(bridge("    keepalive: 1500ms\n")),
             Contains("bridges[0].keepalive: expected a whole number of seconds"));
  CHECK_THAT(report(bridge("    clean_start: yes\n")),
             Contains("t.yaml:6: bridges[0].clean_start: expected true or false"));
  CHECK_THAT(report(bridge("    session_expiry: forever\n")),
             Contains("t.yaml:6: bridges[0].session_expiry: expected a duration"));

  CHECK_THAT(report(bridge("    reconnect: {min: 1ms}\n")),
             Contains("t.yaml:6: bridges[0].reconnect.min: expected a duration between 10ms and "
                      "1h"));
  CHECK_THAT(report(bridge("    reconnect: {max: 2d}\n")),
             Contains("t.yaml:6: bridges[0].reconnect.max: expected a duration between 10ms and "
                      "1d"));
  CHECK_THAT(report(bridge("    reconnect: {jitter: 1}\n")),
             Contains("bridges[0].reconnect.jitter: expected true or false"));
  CHECK_THAT(report(bridge("    reconnect: 5s\n")),
             Contains("t.yaml:6: bridges[0].reconnect: expected a mapping"));

  CHECK_THAT(report(bridge("    queue: {max_messages: 0}\n")),
             Contains("t.yaml:6: bridges[0].queue.max_messages: expected an integer between 1 "
                      "and 100000000"));
  CHECK_THAT(report(bridge("    queue: {max_bytes: 512MB}\n")),
             Contains("bridges[0].queue.max_bytes: ambiguous size unit \"MB\""));
  CHECK_THAT(report(bridge("    queue: {max_bytes: 1000}\n")),
             Contains("bridges[0].queue.max_bytes: expected a size between 1KiB and"));
  CHECK_THAT(report(bridge("    queue: {overflow: block}\n")),
             Contains("t.yaml:6: bridges[0].queue.overflow: expected one of drop_oldest | "
                      "drop_newest | reject, got \"block\""));
  CHECK_THAT(report(bridge("    queue: {queue_qos0: maybe}\n")),
             Contains("bridges[0].queue.queue_qos0: expected true or false"));
  CHECK_THAT(report(bridge("    queue: {max_mesages: 5}\n")),
             Contains("bridges[0].queue.max_mesages: unknown key; did you mean \"max_messages\"?"));

  CHECK_THAT(report(bridge("    drain: {max_inflight: 0}\n")),
             Contains("t.yaml:6: bridges[0].drain.max_inflight: expected an integer between 1 and "
                      "65535"));
  CHECK_THAT(report(bridge("    drain: {max_inflight: 65536}\n")),
             Contains("bridges[0].drain.max_inflight: expected an integer between 1 and 65535"));
  CHECK_THAT(report(bridge("    drain: {rate: fast}\n")),
             Contains("t.yaml:6: bridges[0].drain.rate: expected a rate in messages per second"));
  CHECK_THAT(report(bridge("    drain: {rate: [1]}\n")),
             Contains("t.yaml:6: bridges[0].drain.rate: expected a rate such as 100"));

  CHECK_THAT(report(bridge("    remot: x\n")),
             Contains("t.yaml:6: bridges[0].remot: unknown key; did you mean \"remote\"?"));
}

TEST_CASE("bridge topic rules: each bad value is an error with its path and line",
          "[config][bridge]") {
  CHECK_THAT(report("bridges:\n  - name: b\n    remote: mqtt://x\n    topics: a/#\n"),
             Contains("t.yaml:4: bridges[0].topics: expected a list of topic rules, got \"a/#\""));
  CHECK_THAT(report("bridges:\n  - name: b\n    remote: mqtt://x\n    topics:\n      - a/#\n"),
             Contains("t.yaml:5: bridges[0].topics[0]: expected a rule mapping"));
  CHECK_THAT(report(rule("direction: out")),
             Contains("t.yaml:5: bridges[0].topics[0].pattern: required key is missing"));
  CHECK_THAT(report(rule("pattern: \"\"")),
             Contains("t.yaml:5: bridges[0].topics[0].pattern: expected a non-empty string"));
  for (const char* bad : {"a/#/b", "a#", "a/b+", "+a", "#/x", "a\\0b"}) {
    CHECK_THAT(report(rule(std::string("pattern: \"") + bad + "\"")),
               Contains("t.yaml:5: bridges[0].topics[0].pattern: not a valid topic filter"));
  }
  CHECK_THAT(report(rule("pattern: \"$share/g/a/#\"")),
             Contains("bridges[0].topics[0].pattern: a bridge rule cannot use a shared "
                      "subscription ($share/)"));
  CHECK_THAT(report(rule("pattern: a, direction: up")),
             Contains("t.yaml:5: bridges[0].topics[0].direction: expected one of out | in | both, "
                      "got \"up\""));
  CHECK_THAT(report(rule("pattern: a, qos: 3")),
             Contains("t.yaml:5: bridges[0].topics[0].qos: expected an integer between 0 and 2, "
                      "got \"3\""));
  for (const char* bad : {"urgent", "101", "-101", "1.5", "--1", "-", "1000"}) {
    CHECK_THAT(report(rule(std::string("pattern: a, priority: \"") + bad + "\"")),
               Contains("t.yaml:5: bridges[0].topics[0].priority: expected low | normal | high or "
                        "an integer from -100 to 100"));
  }
  CHECK_THAT(report(rule("pattern: a, local_prefix: \"site/+/\"")),
             Contains("t.yaml:5: bridges[0].topics[0].local_prefix: a prefix is part of topic "
                      "names and cannot contain wildcards"));
  CHECK_THAT(report(rule("pattern: a, remote_prefix: \"#\"")),
             Contains("bridges[0].topics[0].remote_prefix: a prefix is part of topic names"));
  CHECK_THAT(report(rule("pattern: a, remote_prefix: [x]")),
             Contains("bridges[0].topics[0].remote_prefix: expected a topic prefix"));
  CHECK_THAT(report(rule("pattern: a, remote_prefix: \"\xc3\"")),
             Contains("bridges[0].topics[0].remote_prefix: expected at most 65535 bytes of valid "
                      "UTF-8"));
  CHECK_THAT(report(rule("pattern: a, prefix: x/")),
             Contains("t.yaml:5: bridges[0].topics[0].prefix: unknown key"));
  {
    std::string many = "bridges:\n  - name: b\n    remote: mqtt://x\n    topics:\n";
    for (int i = 0; i < 1001; ++i) many += "      - {pattern: t" + std::to_string(i) + "}\n";
    CHECK_THAT(report(many),
               Contains("bridges[0].topics: at most 1000 topic rules are allowed, got 1001"));
  }
}

TEST_CASE("bridges: rules spanning fields", "[config][bridge]") {
  // Unique names.
  CHECK_THAT(report("bridges:\n"
                    "  - {name: a, remote: \"mqtt://x\", topics: [{pattern: a}]}\n"
                    "  - {name: a, remote: \"mqtt://y\", topics: [{pattern: a}]}\n"),
             Contains("t.yaml:3: bridges[1].name: duplicate bridge name \"a\" (also bridges[0])"));
  // One client id on one remote: they would take each other's session over.
  CHECK_THAT(report("bridges:\n"
                    "  - {name: a, remote: \"mqtt://x\", client_id: gw, topics: [{pattern: a}]}\n"
                    "  - {name: b, remote: \"mqtt://x:1883\", client_id: gw, topics: [{pattern: "
                    "a}]}\n"),
             Contains("t.yaml:3: bridges[1].client_id: bridges[0] connects to the same remote "
                      "with the same client id \"gw\""));
  ok("bridges:\n"
     "  - {name: a, remote: \"mqtt://x\", client_id: gw, topics: [{pattern: a}]}\n"
     "  - {name: b, remote: \"mqtt://x:1884\", client_id: gw, topics: [{pattern: a}]}\n"
     "  - {name: c, remote: \"mqtt://x\", topics: [{pattern: a}]}\n");
  // At least one rule.
  CHECK_THAT(report("bridges:\n  - name: b\n    remote: mqtt://x\n"),
             Contains("t.yaml:2: bridges[0].topics: a bridge needs at least one topic rule"));
  CHECK_THAT(report("bridges:\n  - name: b\n    remote: mqtt://x\n    topics: []\n"),
             Contains("t.yaml:4: bridges[0].topics: a bridge needs at least one topic rule"));
  // Credentials.
  CHECK_THAT(report(bridge("    password: a\n    password_file: /s\n")),
             Contains("t.yaml:6: bridges[0].password: give either password or password_file, "
                      "not both"));
  CHECK_THAT(report(bridge("    protocol: \"3.1.1\"\n    password_file: /s\n")),
             Contains("t.yaml:7: bridges[0].password_file: MQTT 3.1.1 sends a password only with "
                      "a username [MQTT-3.1.2-22]"));
  CHECK_THAT(report(bridge("    protocol: \"3.1.1\"\n    password: p\n")),
             Contains("t.yaml:7: bridges[0].password: MQTT 3.1.1 sends a password only with"));
  ok(bridge("    protocol: \"3.1.1\"\n    username: u\n    password: p\n"));
  ok(bridge("    password: p\n"));  // MQTT 5 allows a password alone (3.1.2.9)
  // session_expiry is MQTT 5's.
  CHECK_THAT(
      report(bridge("    protocol: \"3.1.1\"\n    session_expiry: 1d\n")),
      Contains("t.yaml:7: bridges[0].session_expiry: session_expiry needs protocol \"5.0\""));
  // TLS settings need a TLS remote; every address uses the same transport.
  CHECK_THAT(report(bridge("    tls: {ca: /ca.pem}\n")),
             Contains("t.yaml:6: bridges[0].tls: TLS settings would be ignored: the remote is "
                      "plain TCP"));
  CHECK_THAT(report(bridge("    tls: {verify: false}\n")),
             Contains("TLS settings would be ignored"));
  CHECK_THAT(report(bridge("    tls: {alpn: x}\n")), Contains("TLS settings would be ignored"));
  ok(bridge("    tls: {verify: true}\n"));  // the default, so nothing is ignored
  CHECK_THAT(report(tls_bridge("    fallbacks: [\"mqtt://backup\"]\n")),
             Contains("t.yaml:6: bridges[0].fallbacks[0]: every address of a bridge must use the "
                      "same transport: remote is TLS (mqtts://), this one is plain TCP"));
  CHECK_THAT(report(bridge("    fallbacks: [\"mqtt://b\", \"ssl://backup\"]\n")),
             Contains("bridges[0].fallbacks[1]: every address of a bridge must use the same "
                      "transport: remote is plain TCP (mqtt://), this one is TLS"));
  // A client certificate and its key go together.
  CHECK_THAT(report(tls_bridge("    tls:\n      cert: /c.pem\n")),
             Contains("t.yaml:7: bridges[0].tls.cert: a client certificate needs its private key"));
  CHECK_THAT(report(tls_bridge("    tls:\n      ca: /ca.pem\n      key: /k.pem\n")),
             Contains("t.yaml:8: bridges[0].tls.key: a client certificate needs its private key"));
  CHECK_THAT(report(tls_bridge("    tls:\n      key_password_file: /p\n")),
             Contains("t.yaml:7: bridges[0].tls.key_password_file: tls.key_password_file without "
                      "tls.key"));
  // Backoff bounds.
  CHECK_THAT(report(bridge("    reconnect: {min: 10s, max: 5s}\n")),
             Contains("t.yaml:6: bridges[0].reconnect.min: expected 0 < reconnect.min <= "
                      "reconnect.max, got min 10s and max 5s"));
  CHECK_THAT(report(bridge("    reconnect:\n      min: 3m\n")),
             Contains("t.yaml:7: bridges[0].reconnect.min: expected 0 < reconnect.min <= "
                      "reconnect.max, got min 3m and max 2m"));
  // The filter each side subscribes to is prefix + pattern.
  CHECK_THAT(report(rule("pattern: \"#\", local_prefix: site")),
             Contains("t.yaml:5: bridges[0].topics[0].local_prefix: local_prefix + pattern gives "
                      "\"site#\", not a valid local topic filter (end the prefix with '/'?)"));
  CHECK_THAT(
      report(rule("pattern: \"+/x\", direction: in, remote_prefix: gw")),
      Contains("bridges[0].topics[0].remote_prefix: remote_prefix + pattern gives \"gw+/x\", "
               "not a valid remote topic filter"));
  CHECK_THAT(report(rule("pattern: \"g/a\", direction: in, remote_prefix: \"$share/\"")),
             Contains("bridges[0].topics[0].remote_prefix: remote_prefix + pattern gives "
                      "\"$share/g/a\""));
  // An out rule's remote prefix is only a topic prefix: no filter is built from it.
  ok(rule("pattern: \"#\", direction: out, remote_prefix: gw"));
  ok(rule("pattern: \"#\", direction: in, local_prefix: gw"));
  CHECK_THAT(report(rule("pattern: \"#\", direction: both, remote_prefix: gw")),
             Contains("remote_prefix + pattern gives \"gw#\""));
  // Priority orders the upstream drain: meaningless on in rules.
  CHECK_THAT(report(rule("pattern: a, direction: in, priority: high")),
             Contains("t.yaml:5: bridges[0].topics[0].priority: priority orders what the bridge "
                      "sends upstream"));
  ok(rule("pattern: a, direction: in, priority: normal"));
  ok(rule("pattern: a, direction: both, priority: high"));
}

TEST_CASE("bridges: out rules of different priorities may overlap", "[config][bridge]") {
  // The bridge's lower classes exclude the filters of higher ones, so "alarms high,
  // everything else normal" sends each message once, in the higher class.
  const auto rules = [](const std::string& a, const std::string& b) {
    return "bridges:\n  - name: b\n    remote: \"mqtt://x\"\n    topics:\n      - {" + a +
           "}\n      - {" + b + "}\n";
  };
  ok(rules("pattern: \"alarms/#\", priority: high", "pattern: \"#\""));
  ok(rules("pattern: \"alarms/#\", priority: high", "pattern: \"#\", direction: both"));
}

TEST_CASE("bridges: every error at once, in file order", "[config][bridge]") {
  const LoadResult r = load_string(R"(bridges:
  - name: "bad name"
    remote: "http://x"
    protocol: "4"
    tls: {verify: maybe}
    queue: {overflow: never}
    drain: {rate: "lots"}
    topics:
      - {pattern: "a/#/b", qos: 5}
      - {pattern: ok, priority: top}
  - name: second
    remote: "mqtt://ok"
    topics: [{pattern: "#", direction: sideways}]
)",
                                   "t.yaml");
  REQUIRE_FALSE(r.ok());
  const std::string text = r.error_report();
  INFO(text);
  CHECK(count_lines(text) == 10);
  CHECK_THAT(text, Contains("t.yaml:2: bridges[0].name:"));
  CHECK_THAT(text, Contains("t.yaml:3: bridges[0].remote:"));
  CHECK_THAT(text, Contains("t.yaml:4: bridges[0].protocol:"));
  CHECK_THAT(text, Contains("t.yaml:5: bridges[0].tls.verify:"));
  CHECK_THAT(text, Contains("t.yaml:6: bridges[0].queue.overflow:"));
  CHECK_THAT(text, Contains("t.yaml:7: bridges[0].drain.rate:"));
  CHECK_THAT(text, Contains("t.yaml:9: bridges[0].topics[0].pattern:"));
  CHECK_THAT(text, Contains("t.yaml:9: bridges[0].topics[0].qos:"));
  CHECK_THAT(text, Contains("t.yaml:10: bridges[0].topics[1].priority:"));
  CHECK_THAT(text, Contains("t.yaml:13: bridges[1].topics[0].direction:"));
  // In file order.
  CHECK(text.find("t.yaml:2:") < text.find("t.yaml:7:"));
  CHECK(text.find("t.yaml:7:") < text.find("t.yaml:13:"));
}

TEST_CASE("validate() applies the bridge rules to a Config built in code", "[config][bridge]") {
  Config c = defaults();
  Bridge b;
  b.name = "x";
  b.remote = RemoteAddress{false, "h", 1883};
  b.topics.push_back(BridgeTopic{"a/#", BridgeDirection::Out, 1, 0, "", ""});
  c.bridges.push_back(b);
  CHECK(validate(c).empty());

  c.bridges.push_back(b);  // same name
  c.bridges[1].topics.clear();
  c.bridges[1].topics.push_back(BridgeTopic{"a#", BridgeDirection::In, 3, 2, "", ""});
  c.bridges[1].reconnect_min = Millis{0};
  c.bridges[1].password = "p";
  c.bridges[1].password_file = FileRef{"/p", "", 0};
  c.bridges[1].tls.cert = FileRef{"/c", "", 0};
  const auto errors = validate(c);
  std::string all;
  for (const auto& e : errors) all += format_error(e, "code") + "\n";
  INFO(all);
  CHECK_THAT(all, Contains("code: bridges[1].name: duplicate bridge name"));
  CHECK_THAT(all, Contains("code: bridges[1].topics[0].pattern: not a valid topic filter: \"a#\""));
  CHECK_THAT(all, Contains("code: bridges[1].topics[0].qos: expected 0, 1 or 2"));
  CHECK_THAT(all, Contains("code: bridges[1].topics[0].priority:"));
  CHECK_THAT(all, Contains("code: bridges[1].reconnect.min: expected 0 < reconnect.min"));
  CHECK_THAT(all, Contains("code: bridges[1].password: give either password or password_file"));
  CHECK_THAT(all, Contains("code: bridges[1].tls: TLS settings would be ignored"));
  CHECK_THAT(all,
             Contains("code: bridges[1].tls.cert: a client certificate needs its private key"));

  c.bridges.pop_back();
  c.bridges[0].name.clear();
  c.bridges[0].remote.host.clear();
  c.bridges[0].topics.clear();
  all.clear();
  for (const auto& e : validate(c)) all += format_error(e, "code") + "\n";
  CHECK_THAT(all, Contains("bridges[0].name: a bridge needs a name"));
  CHECK_THAT(all, Contains("bridges[0].remote: a bridge needs a remote address"));
  CHECK_THAT(all, Contains("bridges[0].topics: a bridge needs at least one topic rule"));
}

TEST_CASE("the bridge example configs load and say what their comments say", "[config][bridge]") {
  const std::string dir = std::string(TERN_SOURCE_DIR) + "/configs/";
  {
    const LoadResult r = load_file(dir + "bridge-tls.yaml");
    INFO(r.error_report());
    REQUIRE(r.ok());
    REQUIRE(r.config->bridges.size() == 1);
    const Bridge& b = r.config->bridges[0];
    CHECK(b.remote.tls);
    CHECK(b.uses_tls());
    CHECK(b.fallbacks.size() == 1);
    CHECK(b.protocol == BridgeProtocol::V5);
    CHECK_FALSE(b.username.empty());
    CHECK_FALSE(b.password_file.empty());
    CHECK_FALSE(b.password);  // the example shows the recommended way
    CHECK(b.tls.verify);
    CHECK(r.config->storage.enabled());  // durable only with storage
    bool in = false, out_high = false, both = false;
    for (const auto& t : b.topics) {
      in = in || t.direction == BridgeDirection::In;
      both = both || t.direction == BridgeDirection::Both;
      out_high = out_high || (t.direction == BridgeDirection::Out && t.priority > 0);
    }
    CHECK(in);
    CHECK(both);
    CHECK(out_high);
  }
  {
    const LoadResult r = load_file(dir + "bridge-aws-iot.yaml");
    INFO(r.error_report());
    REQUIRE(r.ok());
    REQUIRE(r.config->bridges.size() == 1);
    const Bridge& b = r.config->bridges[0];
    CHECK(b.remote.tls);
    CHECK(b.remote.port == 8883);
    CHECK_THAT(b.remote.host, Contains(".amazonaws.com"));
    // Mutual TLS: a device certificate, its key and Amazon's root CA; no password.
    CHECK_FALSE(b.tls.cert.empty());
    CHECK_FALSE(b.tls.key.empty());
    CHECK_THAT(b.tls.ca.path, Contains("AmazonRootCA1"));
    CHECK(b.tls.verify);
    CHECK_FALSE(b.password);
    CHECK(b.password_file.empty());
    CHECK(b.client_id == "gw-0042");                   // the thing name
    for (const auto& t : b.topics) CHECK(t.qos <= 1);  // AWS IoT has no QoS 2
    CHECK(b.max_inflight <= 100);
    CHECK(b.rate > 0);
    CHECK(b.rate <= 100);
  }
  {
    const LoadResult r = load_file(dir + "bridge-azure-iot-hub.yaml");
    INFO(r.error_report());
    REQUIRE(r.ok());
    REQUIRE(r.config->bridges.size() == 1);
    const Bridge& b = r.config->bridges[0];
    CHECK(b.remote == RemoteAddress{true, "my-hub.azure-devices.net", 8883});
    CHECK(b.protocol == BridgeProtocol::V311);
    CHECK(b.client_id == "gw-0042");
    CHECK(b.username == "my-hub.azure-devices.net/gw-0042/?api-version=2021-04-12");
    CHECK_FALSE(b.password_file.empty());  // the SAS token
    CHECK(b.keepalive <= Seconds{1177});
    REQUIRE(b.topics.size() == 2);
    CHECK(b.topics[0].direction == BridgeDirection::Out);
    CHECK(b.topics[0].remote_prefix + b.topics[0].pattern == "devices/gw-0042/messages/events/#");
    CHECK(b.topics[1].direction == BridgeDirection::In);
    CHECK(b.topics[1].remote_prefix + b.topics[1].pattern ==
          "devices/gw-0042/messages/devicebound/#");
    for (const auto& t : b.topics) CHECK(t.qos <= 1);  // IoT Hub has no QoS 2
  }
}
