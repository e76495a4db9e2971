// The operations sections: http (presence enables, the token off loopback, the port against
// the listeners), sys_topics, dead_letter, log.levels, and configs/operations.yaml.

#include <catch2/catch.hpp>
#include <string>

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
  INFO(yaml);
  INFO(r.error_report());
  REQUIRE(r.ok());
  return *r.config;
}

std::size_t count_lines(const std::string& s) {
  std::size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

constexpr std::size_t idx(LogSubsystem s) { return static_cast<std::size_t>(s); }

}  // namespace

TEST_CASE("operations defaults: http off on loopback, $SYS every 10s, no dead letters",
          "[config][ops]") {
  const Config c = defaults();
  CHECK_FALSE(c.http.enabled);
  CHECK(c.http.bind.to_string() == "127.0.0.1:9090");
  CHECK(c.http.token_file.empty());
  CHECK(c.sys_topics.interval == Seconds{10});
  CHECK_FALSE(c.dead_letter.enabled);
  CHECK(c.dead_letter.max_rate == 100);
  for (const auto& l : c.log.levels) CHECK_FALSE(l.has_value());
  CHECK(validate(c).empty());
}

TEST_CASE("http: the section's presence turns the endpoint on", "[config][ops]") {
  CHECK(ok("http:\n").http.enabled);
  CHECK(ok("http: {}\n").http.enabled);
  const Config c = ok("http:\n  bind: \"127.0.0.1:9100\"\n");
  CHECK(c.http.enabled);
  CHECK(c.http.bind.to_string() == "127.0.0.1:9100");
  CHECK_FALSE(ok("http:\n  enabled: false\n").http.enabled);
  CHECK(ok("http:\n  enabled: true\n").http.enabled);
  const Config t = ok("http:\n  bind: \"0.0.0.0:9090\"\n  token_file: /etc/tern/http.token\n");
  CHECK(t.http.token_file.path == "/etc/tern/http.token");
  CHECK(t.http.token_file.yaml_path == "http.token_file");
  CHECK(t.http.token_file.line == 3);
}

TEST_CASE("http: a bind off loopback needs token_file", "[config][ops][errors]") {
  CHECK_THAT(report("http:\n  bind: \"0.0.0.0:9090\"\n"),
             Contains("t.yaml:2: http.token_file: required when http.bind is not a loopback "
                      "address (127.0.0.0/8, ::1), got 0.0.0.0:9090"));
  CHECK_THAT(report("listeners:\n  - {name: a, bind: \"0.0.0.0:1883\"}\nhttp:\n  bind: "
                    "\"[::]:9090\"\n"),
             Contains("t.yaml:4: http.token_file: required"));
  CHECK_THAT(report("http:\n  bind: \"192.168.1.10:9090\"\n"), Contains("http.token_file"));
  // Loopback in all its spellings needs none.
  for (const char* bind : {"127.0.0.1:9090", "127.8.9.10:9090", "[::1]:9090",
                           "[::ffff:127.0.0.1]:9090", "[0:0::1]:9090"}) {
    INFO(bind);
    CHECK(ok(std::string("http:\n  bind: \"") + bind + "\"\n").http.enabled);
  }
  // Off, it is not listening anywhere.
  CHECK_FALSE(ok("http:\n  enabled: false\n  bind: \"0.0.0.0:9090\"\n").http.enabled);
  // A Config built in code is held to the same rule.
  Config c = defaults();
  c.http.enabled = true;
  c.http.bind = BindAddress{"0.0.0.0", 9090, false};
  const auto errors = validate(c);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].path == "http.token_file");
  c.http.token_file = FileRef{"/etc/tern/http.token", "", 0};
  CHECK(validate(c).empty());
}

TEST_CASE("http: the port is not an MQTT listener's", "[config][ops][errors]") {
  CHECK_THAT(report("http:\n  bind: \"127.0.0.1:1883\"\n"),
             Contains("t.yaml:2: http.bind: 127.0.0.1:1883 clashes with 0.0.0.0:1883 of "
                      "listener \"mqtt\" (listeners[0])"));
  CHECK_THAT(report("listeners:\n  - {name: a, bind: \"127.0.0.1:9090\"}\nhttp:\n"),
             Contains("t.yaml:3: http.bind: 127.0.0.1:9090 clashes with 127.0.0.1:9090 of "
                      "listener \"a\""));
  CHECK_THAT(report("listeners:\n  - {name: a, bind: \"[::]:9090\"}\nhttp:\n  bind: "
                    "\"[::1]:9090\"\n"),
             Contains("http.bind: [::1]:9090 clashes with [::]:9090"));
  // Other addresses of one family, the other family, or any free port: no clash.
  ok("listeners:\n  - {name: a, bind: \"127.0.0.2:9090\"}\nhttp:\n");
  ok("listeners:\n  - {name: a, bind: \"[::]:9090\"}\nhttp:\n");
  ok("listeners:\n  - {name: a, bind: \"0.0.0.0:0\"}\nhttp:\n  bind: \"127.0.0.1:0\"\n");
  // Off, it holds no port.
  ok("http:\n  enabled: false\n  bind: \"127.0.0.1:1883\"\n");
  // A listener moved in code onto the HTTP port (e.g. by --port) is caught by validate().
  Config c = defaults();
  c.http.enabled = true;
  c.listeners[0].bind.port = 9090;
  const auto errors = validate(c);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].path == "http.bind");
}

TEST_CASE("http: values and keys are checked", "[config][ops][errors]") {
  CHECK_THAT(report("http:\n  bind: \"127.0.0.1\"\n"),
             Contains("t.yaml:2: http.bind: expected \"host:port\""));
  CHECK_THAT(report("http:\n  bind: \"localhost:9090\"\n"), Contains("http.bind: not an IPv4"));
  CHECK_THAT(report("http:\n  token_file: http.token\n"),
             Contains("t.yaml:2: http.token_file: expected an absolute path"));
  CHECK_THAT(report("http:\n  enabled: yes\n"),
             Contains("t.yaml:2: http.enabled: expected true or false"));
  CHECK_THAT(report("http:\n  binds: \"127.0.0.1:9090\"\n"),
             Contains("t.yaml:2: http.binds: unknown key; did you mean \"bind\"?"));
  CHECK_THAT(report("http: 9090\n"), Contains("t.yaml:1: http: expected a mapping"));
}

TEST_CASE("sys_topics: interval 0 (off) or whole seconds from 1s to 1h", "[config][ops]") {
  CHECK(ok("sys_topics:\n  interval: 0s\n").sys_topics.interval == Seconds{0});
  CHECK(ok("sys_topics:\n  interval: 1s\n").sys_topics.interval == Seconds{1});
  CHECK(ok("sys_topics:\n  interval: 1m30s\n").sys_topics.interval == Seconds{90});
  CHECK(ok("sys_topics:\n  interval: 1h\n").sys_topics.interval == Seconds{3600});
  CHECK(ok("sys_topics:\n").sys_topics.interval == Seconds{10});
  CHECK_THAT(report("sys_topics:\n  interval: 1h1s\n"),
             Contains("t.yaml:2: sys_topics.interval: expected a duration between 0s and 1h"));
  CHECK_THAT(report("sys_topics:\n  interval: 1500ms\n"),
             Contains("sys_topics.interval: expected a whole number of seconds"));
  CHECK_THAT(report("sys_topics:\n  interval: 10\n"),
             Contains("sys_topics.interval: expected a duration"));
  CHECK_THAT(report("sys_topics:\n  enabled: false\n"),
             Contains("t.yaml:2: sys_topics.enabled: unknown key"));
}

TEST_CASE("dead_letter: enabled, and max_rate 1 to 100000 whole per second", "[config][ops]") {
  const Config c = ok("dead_letter:\n  enabled: true\n  max_rate: 250/s\n");
  CHECK(c.dead_letter.enabled);
  CHECK(c.dead_letter.max_rate == 250);
  CHECK(ok("dead_letter: {max_rate: 50}\n").dead_letter.max_rate == 50);
  CHECK_FALSE(ok("dead_letter: {max_rate: 50}\n").dead_letter.enabled);
  CHECK(ok("dead_letter: {max_rate: 600/m}\n").dead_letter.max_rate == 10);
  CHECK(ok("dead_letter: {max_rate: 3600/h}\n").dead_letter.max_rate == 1);
  CHECK(ok("dead_letter: {max_rate: 1}\n").dead_letter.max_rate == 1);
  CHECK(ok("dead_letter: {max_rate: 100000/s}\n").dead_letter.max_rate == 100000);
  for (const char* bad : {"0", "100001", "2.5", "30/m", "1/h", "fast", "-1", "\"\"", "[1]"}) {
    INFO(bad);
    CHECK_THAT(report(std::string("dead_letter:\n  max_rate: ") + bad + "\n"),
               Contains("t.yaml:2: dead_letter.max_rate: expected a whole number of dead "
                        "letters per second from 1 to 100000"));
  }
  CHECK_THAT(report("dead_letter:\n  enabled: on\n"),
             Contains("t.yaml:2: dead_letter.enabled: expected true or false"));
  CHECK_THAT(report("dead_letter:\n  topic: dlq\n"),
             Contains("t.yaml:2: dead_letter.topic: unknown key"));
}

TEST_CASE("log.levels: a level per subsystem over log.level", "[config][ops]") {
  const Config c = ok("log:\n  level: warn\n  levels:\n    bridge: debug\n    net: error\n");
  CHECK(c.log.level == LogLevel::Warn);
  CHECK(c.log.levels[idx(LogSubsystem::Bridge)] == LogLevel::Debug);
  CHECK(c.log.levels[idx(LogSubsystem::Net)] == LogLevel::Error);
  for (auto s : {LogSubsystem::App, LogSubsystem::Core, LogSubsystem::Storage,
                 LogSubsystem::Auth, LogSubsystem::Tls, LogSubsystem::Http}) {
    CHECK_FALSE(c.log.levels[idx(s)].has_value());
  }
  // Every subsystem by its name.
  const Config all = ok(
      "log:\n  levels: {app: trace, net: debug, core: info, storage: warn, bridge: error, "
      "auth: critical, tls: off, http: info}\n");
  CHECK(all.log.levels[idx(LogSubsystem::App)] == LogLevel::Trace);
  CHECK(all.log.levels[idx(LogSubsystem::Storage)] == LogLevel::Warn);
  CHECK(all.log.levels[idx(LogSubsystem::Auth)] == LogLevel::Critical);
  CHECK(all.log.levels[idx(LogSubsystem::Tls)] == LogLevel::Off);
  CHECK(all.log.levels[idx(LogSubsystem::Http)] == LogLevel::Info);
  CHECK(ok("log:\n  levels:\n") == defaults());
}

TEST_CASE("log.levels: an unknown subsystem lists the valid ones", "[config][ops][errors]") {
  const std::string kList = "(subsystems: app, net, core, storage, bridge, auth, tls, http)";
  const std::string typo = report("log:\n  levels:\n    netw: debug\n");
  CHECK_THAT(typo, Contains("t.yaml:3: log.levels.netw: unknown subsystem; did you mean \"net\"? " +
                            kList));
  CHECK(count_lines(typo) == 1);
  CHECK_THAT(report("log:\n  levels:\n    mqtt: debug\n"),
             Contains("t.yaml:3: log.levels.mqtt: unknown subsystem " + kList));
  CHECK_THAT(report("log:\n  levels:\n    net: verbose\n"),
             Contains("t.yaml:3: log.levels.net: expected one of trace | debug | info | warn | "
                      "error | critical | off, got \"verbose\""));
  CHECK_THAT(report("log:\n  levels: debug\n"),
             Contains("t.yaml:2: log.levels: expected a mapping"));
  CHECK_THAT(report("log:\n  levels:\n    net: warn\n    net: info\n"),
             Contains("t.yaml:4: log.levels.net: duplicate key"));
}

TEST_CASE("log subsystem names and loopback addresses", "[config][ops]") {
  CHECK(to_string(LogSubsystem::App) == "app");
  CHECK(to_string(LogSubsystem::Storage) == "storage");
  CHECK(to_string(LogSubsystem::Http) == "http");
  std::string err;
  const auto loopback = [&](const char* s) {
    const auto b = parse_bind(s, err);
    REQUIRE(b);
    return b->is_loopback();
  };
  CHECK(loopback("127.0.0.1:1"));
  CHECK(loopback("127.255.0.1:1"));
  CHECK(loopback("[::1]:1"));
  CHECK(loopback("[::ffff:127.0.0.1]:1"));
  CHECK_FALSE(loopback("0.0.0.0:1"));
  CHECK_FALSE(loopback("128.0.0.1:1"));
  CHECK_FALSE(loopback("10.127.0.1:1"));
  CHECK_FALSE(loopback("[::]:1"));
  CHECK_FALSE(loopback("[::2]:1"));
  CHECK_FALSE(loopback("[::ffff:10.0.0.1]:1"));
}

TEST_CASE("configs/operations.yaml loads and says what its comments say", "[config][ops]") {
  const LoadResult r = load_file(std::string(TERN_SOURCE_DIR) + "/configs/operations.yaml");
  INFO(r.error_report());
  REQUIRE(r.ok());
  const Config& c = *r.config;
  CHECK(c.http.enabled);
  CHECK(c.http.bind.is_loopback());
  CHECK(c.http.bind.port == 9090);
  CHECK(c.sys_topics.interval == Seconds{10});
  CHECK(c.dead_letter.enabled);
  CHECK(c.dead_letter.max_rate == 100);
  CHECK(c.log.format == LogFormat::Json);
  CHECK(c.log.to == LogTarget::File);
  CHECK(c.log.file == "/var/log/tern/tern.log");
  CHECK(c.log.levels[idx(LogSubsystem::Bridge)] == LogLevel::Debug);
  CHECK(c.log.levels[idx(LogSubsystem::Net)] == LogLevel::Warn);
  CHECK(validate(c).empty());
}
