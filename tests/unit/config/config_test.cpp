// The YAML loader: every key read, every error reported with its path and line, all at once.

#include "broker/config/config.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <string>

#ifndef TERN_SOURCE_DIR
#error "TERN_SOURCE_DIR must point at the repository root"
#endif

using namespace tern::config;
using Catch::Matchers::Contains;

namespace {

// The error report of a YAML text that must fail.
std::string report(const std::string& yaml) {
  const LoadResult r = load_string(yaml, "t.yaml");
  INFO(yaml);
  REQUIRE_FALSE(r.ok());
  REQUIRE_FALSE(r.errors.empty());
  return r.error_report();
}

// The config of a YAML text that must load.
Config ok(const std::string& yaml) {
  const LoadResult r = load_string(yaml, "t.yaml");
  INFO(r.error_report());
  REQUIRE(r.ok());
  REQUIRE(r.errors.empty());
  return *r.config;
}

std::size_t count_lines(const std::string& s) {
  std::size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace

TEST_CASE("configs/tern.yaml loads and equals the built-in defaults", "[config]") {
  const LoadResult r = load_file(std::string(TERN_SOURCE_DIR) + "/configs/tern.yaml");
  INFO(r.error_report());
  REQUIRE(r.ok());
  CHECK(*r.config == defaults());
}

TEST_CASE("defaults match the documented shape", "[config]") {
  const Config c = defaults();
  REQUIRE(c.listeners.size() == 1);
  CHECK(c.listeners[0].name == "mqtt");
  CHECK(c.listeners[0].bind.to_string() == "0.0.0.0:1883");
  CHECK(c.mqtt.max_packet_size == 1024 * 1024);
  CHECK(c.mqtt.max_inflight == 32);
  CHECK(c.mqtt.max_inflight_out == 256);
  CHECK(c.mqtt.topic_alias_maximum == 64);
  CHECK(c.mqtt.max_keepalive == Seconds{0});
  CHECK(c.mqtt.max_retained_bytes == 64 * kMiB);
  CHECK(c.sessions.expiry_default == Seconds{7200});
  CHECK(c.sessions.max_session_expiry == kNeverExpires);
  CHECK(c.sessions.max_queued_messages == 10000);
  CHECK(c.sessions.overflow == Overflow::DropOldest);
  CHECK(c.limits.max_connections == 10000);
  CHECK(c.log.level == LogLevel::Info);
  CHECK(c.io_threads == 0);
  CHECK(validate(c).empty());
}

TEST_CASE("an empty file, or empty sections, keep the defaults", "[config]") {
  CHECK(ok("") == defaults());
  CHECK(ok("# only a comment\n") == defaults());
  CHECK(ok("{}") == defaults());
  CHECK(ok("mqtt:\nsessions:\n  # all commented out\nlog: {}\n") == defaults());
}

TEST_CASE("every key is read", "[config]") {
  const Config c = ok(R"(
listeners:
  - name: plain
    bind: "127.0.0.1:1884"
    protocol: mqtt
    max_connections: 50
  - name: v6
    bind: "[::1]:0"
mqtt:
  max_packet_size: 256KiB
  max_inflight: 100
  topic_alias_maximum: 0
  max_keepalive: 5m
  retain_available: false
  max_retained_bytes: 1GiB
  shared_subscriptions: false
  wildcard_subscriptions: false
  subscription_identifiers: false
  maximum_qos: 1
  connect_timeout: 1500ms
sessions:
  expiry_default: 1h30m
  max_session_expiry: 14d
  max_queued_messages: 7
  max_queued_bytes: 2MiB
  overflow: drop_newest
  queue_qos0_offline: true
  outbound_buffer_limit: 512KiB
  on_slow_client: drop
limits:
  max_connections: 200
  max_subscriptions_per_session: 50
  max_subscription_bytes_per_session: 64KiB
log:
  level: debug
  format: json
  to: file:/var/log/tern.log
io_threads: 3
)");
  REQUIRE(c.listeners.size() == 2);
  CHECK(c.listeners[0].name == "plain");
  CHECK(c.listeners[0].bind == BindAddress{"127.0.0.1", 1884, false});
  CHECK(c.listeners[0].protocol == ListenerProtocol::Mqtt);
  CHECK(c.listeners[0].max_connections == 50);
  CHECK(c.listeners[1].name == "v6");
  CHECK(c.listeners[1].bind == BindAddress{"::1", 0, true});
  CHECK(c.listeners[1].max_connections == 0);

  CHECK(c.mqtt.max_packet_size == 256 * 1024);
  CHECK(c.mqtt.max_inflight == 100);
  CHECK(c.mqtt.topic_alias_maximum == 0);
  CHECK(c.mqtt.max_keepalive == Seconds{300});
  CHECK_FALSE(c.mqtt.retain_available);
  CHECK(c.mqtt.max_retained_bytes == kGiB);
  CHECK_FALSE(c.mqtt.shared_subscriptions);
  CHECK_FALSE(c.mqtt.wildcard_subscriptions);
  CHECK_FALSE(c.mqtt.subscription_identifiers);
  CHECK(c.mqtt.maximum_qos == 1);
  CHECK(c.mqtt.connect_timeout == Millis{1500});

  CHECK(c.sessions.expiry_default == Seconds{5400});
  CHECK(c.sessions.max_session_expiry == Seconds{14 * 86400});
  CHECK(c.sessions.max_queued_messages == 7);
  CHECK(c.sessions.max_queued_bytes == 2 * kMiB);
  CHECK(c.sessions.overflow == Overflow::DropNewest);
  CHECK(c.sessions.queue_qos0_offline);
  CHECK(c.sessions.outbound_buffer_limit == 512 * kKiB);
  CHECK(c.sessions.on_slow_client == SlowClient::Drop);

  CHECK(c.limits.max_connections == 200);
  CHECK(c.limits.max_subscriptions_per_session == 50);
  CHECK(c.limits.max_subscription_bytes_per_session == 64 * kKiB);
  CHECK(c.log.level == LogLevel::Debug);
  CHECK(c.log.format == LogFormat::Json);
  CHECK(c.log.to == LogTarget::File);
  CHECK(c.log.file == "/var/log/tern.log");
  CHECK(log_target_string(c.log) == "file:/var/log/tern.log");
  CHECK(c.io_threads == 3);
}

TEST_CASE("special values: never, plain bytes, YAML boolean spellings, log targets", "[config]") {
  Config c = ok("sessions: {expiry_default: never, max_session_expiry: never}");
  CHECK(c.sessions.expiry_default == kNeverExpires);
  c = ok("sessions: {expiry_default: 0s, max_session_expiry: 0s}");
  CHECK(c.sessions.expiry_default == Seconds{0});
  c = ok("mqtt: {max_packet_size: 16}\nsessions: {outbound_buffer_limit: 1024}");
  CHECK(c.mqtt.max_packet_size == 16);
  c = ok("mqtt: {max_packet_size: 256MiB}\nsessions: {outbound_buffer_limit: 1GiB}");
  CHECK(c.mqtt.max_packet_size == 256 * kMiB);
  c = ok("mqtt: {retain_available: FALSE, shared_subscriptions: False}");
  CHECK_FALSE(c.mqtt.retain_available);
  CHECK_FALSE(c.mqtt.shared_subscriptions);
  c = ok("mqtt: {max_keepalive: 65535s}");
  CHECK(c.mqtt.max_keepalive == Seconds{65535});
  c = ok("log: {to: stderr}");
  CHECK(c.log.to == LogTarget::Stderr);
  c = ok("log: {to: syslog}");
  CHECK(c.log.to == LogTarget::Syslog);
  c = ok("io_threads: 64");
  CHECK(c.io_threads == 64);
  c = ok("listeners:\n  - {name: a, bind: \"0.0.0.0:1883\"}\n  - {name: b, bind: \"[::]:1883\"}");
  CHECK(c.listeners.size() == 2);  // different address families may share a port
  c = ok("listeners:\n  - {name: a, bind: \"127.0.0.1:0\"}\n  - {name: b, bind: \"127.0.0.1:0\"}");
  CHECK(c.listeners.size() == 2);  // port 0 is "any free port": no clash
}

TEST_CASE("the error format: file, line, YAML path, message", "[config][errors]") {
  const LoadResult r = load_string("mqtt:\n  max_inflight: abc\n", "configs/x.yaml");
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].path == "mqtt.max_inflight");
  CHECK(r.errors[0].line == 2);
  CHECK(r.error_report() ==
        "configs/x.yaml:2: mqtt.max_inflight: expected an integer between 1 and 65535, got "
        "\"abc\"\n");
  CHECK(format_error(Error{"a.b", 0, 0, "msg"}, "src") == "src: a.b: msg");
  CHECK(format_error(Error{"", 3, 7, "msg"}, "src") == "src:3:7: msg");
}

TEST_CASE("unknown keys are errors, with a suggestion when close", "[config][errors]") {
  CHECK_THAT(report("mqtt:\n  max_inflite: 10\n"),
             Contains("t.yaml:2: mqtt.max_inflite: unknown key; did you mean \"max_inflight\"?"));
  CHECK_THAT(report("sesions:\n  overflow: drop_oldest\n"),
             Contains("t.yaml:1: sesions: unknown key; did you mean \"sessions\"?"));
  CHECK_THAT(report("log:\n  colour: red\n"),
             Contains("t.yaml:2: log.colour: unknown key (known keys: level, format, to, levels)"));
  CHECK_THAT(report("listeners:\n  - name: a\n    bind: \"0.0.0.0:1\"\n    binde: x\n"),
             Contains("t.yaml:4: listeners[0].binde: unknown key; did you mean \"bind\"?"));
  CHECK_THAT(report("frobnicate: 1\n"), Contains("t.yaml:1: frobnicate: unknown key"));
}

TEST_CASE("wrong types are errors with the YAML path", "[config][errors]") {
  CHECK_THAT(report("mqtt:\n  max_inflight: [1, 2]\n"),
             Contains("t.yaml:2: mqtt.max_inflight: expected an integer between 1 and 65535, got "
                      "a list"));
  CHECK_THAT(report("mqtt:\n  retain_available: yes\n"),
             Contains("t.yaml:2: mqtt.retain_available: expected true or false, got \"yes\""));
  CHECK_THAT(report("mqtt:\n  retain_available: {a: 1}\n"),
             Contains("mqtt.retain_available: expected true or false, got a mapping"));
  CHECK_THAT(report("mqtt:\n  max_inflight:\n"),
             Contains("t.yaml:2: mqtt.max_inflight: expected an integer between 1 and 65535, got "
                      "nothing (null)"));
  CHECK_THAT(report("mqtt: 5\n"),
             Contains("t.yaml:1: mqtt: expected a mapping of keys to values, got \"5\""));
  CHECK_THAT(report("mqtt: [1]\n"),
             Contains("mqtt: expected a mapping of keys to values, got a list"));
  CHECK_THAT(report("listeners: {name: a}\n"),
             Contains("t.yaml:1: listeners: expected a list of listeners"));
  CHECK_THAT(
      report("listeners:\n  - plain\n"),
      Contains("t.yaml:2: listeners[0]: expected a mapping of keys to values, got \"plain\""));
  CHECK_THAT(report("listeners:\n  -\n"), Contains("listeners[0]: expected a listener mapping"));
  CHECK_THAT(report("listeners:\n  - {name: [a], bind: \"0.0.0.0:1\"}\n"),
             Contains("listeners[0].name: expected a non-empty string, got a list"));
  CHECK_THAT(report("io_threads: -1\n"),
             Contains("t.yaml:1: io_threads: expected an integer between 0 and 64, got \"-1\""));
  CHECK_THAT(report("io_threads: 0x10\n"), Contains("io_threads: expected an integer"));
  CHECK_THAT(report("io_threads: 99999999999999999999999\n"),
             Contains("io_threads: expected an integer"));
  CHECK_THAT(report("- a\n- b\n"),
             Contains("t.yaml:1: expected a mapping of keys to values, got a list"));
  CHECK_THAT(report("just a string\n"), Contains("expected a mapping of keys to values"));
}

TEST_CASE("bad durations and sizes are errors with the YAML path", "[config][errors]") {
  CHECK_THAT(report("sessions:\n  expiry_default: 7200\n"),
             Contains("t.yaml:2: sessions.expiry_default: expected a duration with a unit"));
  CHECK_THAT(report("mqtt:\n  connect_timeout: 10 seconds\n"),
             Contains("t.yaml:2: mqtt.connect_timeout: unknown duration unit"));
  CHECK_THAT(report("mqtt:\n  connect_timeout: [1s]\n"),
             Contains("mqtt.connect_timeout: expected a duration with a unit"));
  CHECK_THAT(report("mqtt:\n  max_keepalive: 1500ms\n"),
             Contains("t.yaml:2: mqtt.max_keepalive: expected a whole number of seconds, got "
                      "\"1500ms\""));
  CHECK_THAT(report("mqtt:\n  max_keepalive: never\n"),
             Contains("mqtt.max_keepalive: expected a duration"));
  CHECK_THAT(report("mqtt:\n  max_packet_size: 1MB\n"),
             Contains("t.yaml:2: mqtt.max_packet_size: ambiguous size unit \"MB\""));
  CHECK_THAT(report("sessions:\n  max_queued_bytes: huge\n"),
             Contains("t.yaml:2: sessions.max_queued_bytes: expected a size"));
  CHECK_THAT(report("sessions:\n  max_queued_bytes: {a: 1}\n"),
             Contains("sessions.max_queued_bytes: expected a size such as \"256KiB\""));
}

TEST_CASE("out of range values are errors naming the range", "[config][errors]") {
  CHECK_THAT(report("mqtt:\n  max_inflight: 0\n"),
             Contains("mqtt.max_inflight: expected an integer between 1 and 65535, got \"0\""));
  CHECK_THAT(report("mqtt:\n  max_inflight: 65536\n"),
             Contains("mqtt.max_inflight: expected an integer between 1 and 65535, got \"65536\""));
  CHECK_THAT(report("mqtt:\n  maximum_qos: 3\n"),
             Contains("mqtt.maximum_qos: expected an integer between 0 and 2, got \"3\""));
  CHECK_THAT(report("mqtt:\n  max_packet_size: 8\n"),
             Contains("mqtt.max_packet_size: expected a size between 16B and 256MiB, got \"8\""));
  CHECK_THAT(report("mqtt:\n  max_packet_size: 257MiB\n"),
             Contains("mqtt.max_packet_size: expected a size between 16B and 256MiB"));
  CHECK_THAT(report("mqtt:\n  max_keepalive: 65536s\n"),
             Contains("mqtt.max_keepalive: expected a duration between 0s and 18h12m15s"));
  CHECK_THAT(
      report("mqtt:\n  connect_timeout: 50ms\n"),
      Contains("mqtt.connect_timeout: expected a duration between 100ms and 1h, got \"50ms\""));
  CHECK_THAT(report("sessions:\n  expiry_default: 50000d\n"),
             Contains("sessions.expiry_default: expected a duration between 0s and") &&
                 Contains("or never"));
  CHECK_THAT(report("sessions:\n  max_queued_messages: 0\n"),
             Contains("sessions.max_queued_messages: expected an integer between 1 and 10000000"));
  CHECK_THAT(report("limits:\n  max_connections: 0\n"),
             Contains("limits.max_connections: expected an integer between 1 and 1000000"));
  CHECK_THAT(report("io_threads: 65\n"),
             Contains("io_threads: expected an integer between 0 and 64"));
  CHECK_THAT(report("listeners:\n  - name: a\n    bind: \"0.0.0.0:1883\"\n"
                    "  - name: b\n    bind: \"0.0.0.0:99999\"\n"),
             Contains("t.yaml:5: listeners[1].bind: port 99999 out of range (0-65535)"));
}

TEST_CASE("bad enum values list the allowed ones", "[config][errors]") {
  CHECK_THAT(report("sessions:\n  overflow: drop_random\n"),
             Contains("t.yaml:2: sessions.overflow: expected one of drop_oldest | drop_newest, got "
                      "\"drop_random\""));
  CHECK_THAT(report("sessions:\n  on_slow_client: wait\n"),
             Contains("sessions.on_slow_client: expected one of disconnect | drop"));
  CHECK_THAT(report("log:\n  level: verbose\n"),
             Contains("log.level: expected one of trace | debug | info | warn | error | critical | "
                      "off, got \"verbose\""));
  CHECK_THAT(report("log:\n  format: xml\n"), Contains("log.format: expected one of text | json"));
  CHECK_THAT(report("log:\n  to: file:relative.log\n"),
             Contains("log.to: expected stdout | stderr | syslog | file:/absolute/path"));
  CHECK_THAT(report("log:\n  to: \"file:\"\n"), Contains("log.to: expected stdout"));
  CHECK_THAT(report("log:\n  to: [stdout]\n"), Contains("log.to: expected stdout"));
  CHECK_THAT(report("listeners:\n  - {name: a, bind: \"0.0.0.0:1\", protocol: coap}\n"),
             Contains("listeners[0].protocol: expected one of mqtt | websocket, got \"coap\""));
}

TEST_CASE("listener rules: required keys, unique names, distinct binds", "[config][errors]") {
  CHECK_THAT(
      report("listeners:\n  - name: a\n    bind: \"0.0.0.0:1883\"\n"
             "  - name: a\n    bind: \"0.0.0.0:1884\"\n"),
      Contains("t.yaml:4: listeners[1].name: duplicate listener name \"a\" (also listeners[0])"));
  CHECK_THAT(report("listeners:\n  - name: a\n    bind: \"0.0.0.0:1883\"\n"
                    "  - name: b\n    bind: \"0.0.0.0:1883\"\n"),
             Contains("t.yaml:5: listeners[1].bind: 0.0.0.0:1883 is already used by listener \"a\" "
                      "(listeners[0])"));
  CHECK_THAT(report("listeners:\n  - {name: a, bind: \"[::]:1883\"}\n"
                    "  - {name: b, bind: \"[0::0]:1883\"}\n"),
             Contains("listeners[1].bind: [::]:1883 is already used by listener \"a\""));
  CHECK_THAT(report("listeners:\n  - {name: a, bind: \"0.0.0.0:1883\"}\n"
                    "  - {name: b, bind: \"127.0.0.1:1883\"}\n"),
             Contains("listeners[1].bind: 127.0.0.1:1883 overlaps 0.0.0.0:1883 of listener \"a\""));
  CHECK_THAT(report("listeners:\n  - bind: \"0.0.0.0:1883\"\n"),
             Contains("t.yaml:2: listeners[0].name: required key is missing"));
  CHECK_THAT(report("listeners:\n  - name: a\n"),
             Contains("t.yaml:2: listeners[0].bind: required key is missing"));
  CHECK_THAT(report("listeners:\n  - {name: \"my listener\", bind: \"0.0.0.0:1\"}\n"),
             Contains("listeners[0].name: expected 1 to 64 letters"));
  CHECK_THAT(report("listeners: []\n"),
             Contains("t.yaml:1: listeners: at least one listener is required"));
  CHECK_THAT(report("listeners:\n"), Contains("listeners: at least one listener is required"));
  CHECK_THAT(
      report("listeners:\n  - {name: a, bind: \"0.0.0.0:1\", max_connections: 20000}\n"),
      Contains("listeners[0].max_connections: 20000 exceeds limits.max_connections (10000)"));
  std::string many = "listeners:\n";
  for (int i = 0; i < 65; ++i) {
    many += "  - {name: l" + std::to_string(i) + ", bind: \"127.0.0.1:" + std::to_string(2000 + i) +
            "\"}\n";
  }
  CHECK_THAT(report(many), Contains("listeners: at most 64 listeners are allowed"));
}

TEST_CASE("cross-field rules", "[config][errors]") {
  CHECK_THAT(
      report("sessions:\n  expiry_default: 2d\n  max_session_expiry: 1d\n"),
      Contains("t.yaml:2: sessions.expiry_default: 2d exceeds sessions.max_session_expiry (1d)"));
  // The rule is broken by a key left at its default: point at the key that was set.
  CHECK_THAT(
      report("sessions:\n  max_session_expiry: 1h\n"),
      Contains("t.yaml:2: sessions.expiry_default: 2h exceeds sessions.max_session_expiry (1h)"));
  CHECK_THAT(report("sessions:\n  max_session_expiry: 1h\n  expiry_default: never\n"),
             Contains("sessions.expiry_default: never exceeds"));
  CHECK_THAT(report("mqtt:\n  max_packet_size: 2MiB\n"),
             Contains("t.yaml:2: sessions.outbound_buffer_limit: 1MiB is smaller than "
                      "mqtt.max_packet_size (2MiB)"));
}

TEST_CASE("YAML syntax errors report line and column", "[config][errors]") {
  const LoadResult r = load_string("mqtt:\n  max_inflight: 10\n  bad: [1, 2\n", "t.yaml");
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].line >= 3);
  CHECK(r.errors[0].column > 0);
  CHECK_THAT(r.error_report(), Contains("YAML syntax error"));
  CHECK_THAT(r.error_report(),
             Contains("t.yaml:" + std::to_string(r.errors[0].line) + ":" +
                      std::to_string(r.errors[0].column) + ": YAML syntax error"));

  const LoadResult tab = load_string("mqtt:\n  a: 1\n b: 2\n", "t.yaml");
  REQUIRE_FALSE(tab.ok());
  CHECK(tab.errors[0].line == 3);
  CHECK_THAT(tab.error_report(), Contains("t.yaml:3:"));

  CHECK_THAT(report("mqtt: {max_inflight: 10\n"), Contains("YAML syntax error"));
  CHECK_THAT(report("a: b: c\n"), Contains("YAML syntax error"));
  // yaml-cpp's nesting guard keeps a hostile file from exhausting the stack.
  CHECK_THAT(report(std::string(5000, '[')), Contains("YAML syntax error"));
}

TEST_CASE("input that sends yaml-cpp 0.7's LoadAll into an endless loop is an error",
          "[config][errors]") {
  // jbeder/yaml-cpp#1040: LoadAll(",") allocates until the process dies.
  const LoadResult comma = load_string(",", "t.yaml");
  REQUIRE_FALSE(comma.ok());
  CHECK(comma.error_report() == "t.yaml:1:1: YAML syntax error: unexpected ','\n");
  CHECK_THAT(report("# config\n,a\n"), Contains("t.yaml:2:1: YAML syntax error: unexpected ','"));
  // The reproducer from falcosecurity/falco#3281.
  CHECK_THAT(report("- macro: x\n  condition:\n    (a in (-1, 1001) and b in (\n\"/x.sh\",\n"
                    "    \"-c rsync\"\n    )  )  \n    )"),
             Contains("t.yaml:4:1: YAML syntax error: unexpected '\"'"));
}

TEST_CASE("duplicate keys and extra documents are errors", "[config][errors]") {
  CHECK_THAT(report("mqtt:\n  max_inflight: 10\n  max_inflight: 20\n"),
             Contains("t.yaml:3: mqtt.max_inflight: duplicate key (first at line 2)"));
  CHECK_THAT(report("io_threads: 1\nio_threads: 2\n"), Contains("io_threads: duplicate key"));
  CHECK_THAT(report("io_threads: 1\n---\nio_threads: 2\n"),
             Contains("only one YAML document is allowed"));
  CHECK_THAT(report("? [a, b]\n: 1\n"), Contains("keys must be plain names"));
}

TEST_CASE("several errors are reported at once, in file order", "[config][errors]") {
  const LoadResult r = load_string(R"(listeners:
  - name: a
    bind: "0.0.0.0:99999"
mqtt:
  max_inflight: abc
  max_packet_size: 1MB
  retain_avialable: true
sessions:
  overflow: sometimes
  expiry_default: 30
log:
  level: loud
storage:
  sync: sometimes
io_threads: many
)",
                                   "configs/x.yaml");
  REQUIRE_FALSE(r.ok());
  const std::string text = r.error_report();
  INFO(text);
  CHECK(r.errors.size() == 9);
  CHECK(count_lines(text) == 9);
  CHECK_THAT(text, Contains("configs/x.yaml:3: listeners[0].bind: port 99999 out of range"));
  CHECK_THAT(text, Contains("configs/x.yaml:5: mqtt.max_inflight: expected an integer between 1 "
                            "and 65535, got \"abc\""));
  CHECK_THAT(text, Contains("configs/x.yaml:6: mqtt.max_packet_size:"));
  CHECK_THAT(text, Contains("configs/x.yaml:7: mqtt.retain_avialable: unknown key; did you mean "
                            "\"retain_available\"?"));
  CHECK_THAT(text, Contains("configs/x.yaml:9: sessions.overflow:"));
  CHECK_THAT(text, Contains("configs/x.yaml:10: sessions.expiry_default:"));
  CHECK_THAT(text, Contains("configs/x.yaml:12: log.level:"));
  CHECK_THAT(text, Contains("configs/x.yaml:14: storage.sync: expected one of always | batch | "
                            "none, got \"sometimes\""));
  CHECK_THAT(text, Contains("configs/x.yaml:15: io_threads:"));
  for (std::size_t i = 1; i < r.errors.size(); ++i) CHECK(r.errors[i - 1].line <= r.errors[i].line);
}

TEST_CASE("the error list is bounded", "[config][errors]") {
  std::string yaml;
  for (int i = 0; i < 300; ++i) yaml += "unknown_" + std::to_string(i) + ": 1\n";
  const LoadResult r = load_string(yaml, "t.yaml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.errors.size() == kMaxErrors + 1);
  CHECK_THAT(r.errors.back().message, Contains("and 200 more errors"));

  const LoadResult big = load_string(std::string(kMaxFileBytes + 1, '#'), "big.yaml");
  REQUIRE_FALSE(big.ok());
  CHECK_THAT(big.error_report(), Contains("big.yaml: file is larger than 1MiB"));
}

TEST_CASE("load_file reads a file and reports one it cannot read", "[config]") {
  const LoadResult missing = load_file("/nonexistent/tern.yaml");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error_report() ==
        "/nonexistent/tern.yaml: cannot read file: No such file or directory\n");

  const LoadResult dir = load_file("/");
  REQUIRE_FALSE(dir.ok());
  CHECK_THAT(dir.error_report(), Contains("/: cannot read file"));

  char path[] = "/tmp/tern-config-test-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  {
    std::ofstream f(path);
    f << "mqtt:\n  max_inflight: 7\n  topic_alias_maximum: x\n";
  }
  const LoadResult bad = load_file(path);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error_report() == std::string(path) +
                                  ":3: mqtt.topic_alias_maximum: expected an integer between 0 "
                                  "and 65535, got \"x\"\n");
  {
    std::ofstream f(path);
    f << "mqtt:\n  max_inflight: 7\n";
  }
  const LoadResult good = load_file(path);
  REQUIRE(good.ok());
  CHECK(good.config->mqtt.max_inflight == 7);
  std::remove(path);
}

TEST_CASE("validate() applies the cross-field rules to a Config built in code", "[config]") {
  Config c = defaults();
  CHECK(validate(c).empty());
  c.listeners.push_back(c.listeners.front());
  const auto errors = validate(c);
  REQUIRE(errors.size() == 2);  // same name and same bind
  CHECK(errors[0].line == 0);
  CHECK(format_error(errors[0], "cli") ==
        "cli: listeners[1].name: duplicate listener name \"mqtt\" (also listeners[0])");
  c.listeners.clear();
  REQUIRE(validate(c).size() == 1);
  CHECK(validate(c)[0].message == "at least one listener is required");
}
