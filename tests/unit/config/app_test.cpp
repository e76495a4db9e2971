// tern_app: command line parsing, CLI overrides, Config -> net/core options, logging.

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "broker/app/cli.hpp"
#include "broker/app/logging.hpp"
#include "broker/app/options_map.hpp"
#include "broker/config/config.hpp"

using namespace tern;
using Catch::Matchers::Contains;

namespace {

struct Parsed {
  app::CliResult result;
  std::string out;
  std::string err;
};

Parsed parse(std::vector<const char*> args) {
  args.insert(args.begin(), "tern");
  std::ostringstream out;
  std::ostringstream err;
  Parsed p{app::parse_cli(static_cast<int>(args.size()), args.data(), "1.2.3", out, err), "", ""};
  p.out = out.str();
  p.err = err.str();
  return p;
}

config::Config load(const std::string& yaml) {
  const auto r = config::load_string(yaml, "t.yaml");
  INFO(r.error_report());
  REQUIRE(r.ok());
  return *r.config;
}

std::string read_all(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("command line: values", "[app][cli]") {
  auto p =
      parse({"--config", "/etc/tern.yaml", "-p", "1884", "--bind", "::1", "--log-level", "debug"});
  REQUIRE(p.result.options);
  CHECK(p.result.options->config_path == "/etc/tern.yaml");
  CHECK(p.result.options->check_path.empty());
  CHECK(p.result.options->port == 1884);
  CHECK(p.result.options->bind == "::1");
  CHECK(p.result.options->log_level == config::LogLevel::Debug);

  p = parse({});
  REQUIRE(p.result.options);
  CHECK(p.result.options->config_path.empty());
  CHECK_FALSE(p.result.options->port);
  CHECK_FALSE(p.result.options->bind);
  CHECK_FALSE(p.result.options->log_level);

  p = parse({"--check-config", "x.yaml"});
  REQUIRE(p.result.options);
  CHECK(p.result.options->check_path == "x.yaml");
  p = parse({"--port", "0"});
  REQUIRE(p.result.options);
  CHECK(p.result.options->port == 0);
}

TEST_CASE("command line: --version and --help exit 0", "[app][cli]") {
  auto p = parse({"--version"});
  CHECK_FALSE(p.result.options);
  CHECK(p.result.exit_code == 0);
  CHECK(p.out == "tern 1.2.3\n");
  p = parse({"--help"});
  CHECK_FALSE(p.result.options);
  CHECK(p.result.exit_code == 0);
  CHECK_THAT(p.out, Contains("--check-config") && Contains("--bind") && Contains("--log-level") &&
                        Contains("--data-dir DIR") && Contains("storage.path"));
}

TEST_CASE("command line: usage errors exit 2", "[app][cli]") {
  for (auto args : std::vector<std::vector<const char*>>{
           {"--port", "70000"},
           {"--port", "-1"},
           {"--port", "http"},
           {"--log-level", "loud"},
           {"--config", "a.yaml", "--check-config", "b.yaml"},
           {"--frobnicate"},
           {"--config"},
           {"--data-dir"},
       }) {
    auto p = parse(args);
    INFO(args.front());
    CHECK_FALSE(p.result.options);
    CHECK(p.result.exit_code == 2);
    CHECK_FALSE(p.err.empty());
  }
}

TEST_CASE("options -p and --bind replace the listeners with one", "[app][cli]") {
  const config::Config base = load(R"(
listeners:
  - {name: a, bind: "127.0.0.1:2000"}
  - {name: b, bind: "127.0.0.1:2001"}
)");
  std::vector<config::Error> errors;
  app::CliOptions cli;
  CHECK(app::apply_cli(base, cli, errors) == base);
  CHECK(errors.empty());

  cli.port = 1999;
  config::Config c = app::apply_cli(base, cli, errors);
  CHECK(errors.empty());
  REQUIRE(c.listeners.size() == 1);
  CHECK(c.listeners[0].name == "mqtt");
  CHECK(c.listeners[0].bind.to_string() == "0.0.0.0:1999");

  cli.port.reset();
  cli.bind = "::";
  c = app::apply_cli(base, cli, errors);
  CHECK(errors.empty());
  REQUIRE(c.listeners.size() == 1);
  CHECK(c.listeners[0].bind.to_string() == "[::]:1883");

  cli.bind = "localhost";
  c = app::apply_cli(base, cli, errors);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].path == "--bind");
  CHECK_THAT(config::format_error(errors[0], "command line"),
             Contains("command line: --bind: expected an IPv4 or IPv6 address"));

  errors.clear();
  app::CliOptions level;
  level.log_level = config::LogLevel::Trace;
  c = app::apply_cli(base, level, errors);
  CHECK(errors.empty());
  CHECK(c.log.level == config::LogLevel::Trace);
  CHECK(c.listeners == base.listeners);
}

TEST_CASE("option -p onto the HTTP port is refused, the operations sections pass through",
          "[app][cli]") {
  const config::Config base = load(R"(
http:
  bind: "127.0.0.1:9090"
sys_topics: {interval: 30s}
dead_letter: {enabled: true, max_rate: 50}
log:
  levels: {net: warn}
)");
  std::vector<config::Error> errors;
  app::CliOptions cli;
  cli.port = 1884;
  config::Config c = app::apply_cli(base, cli, errors);
  CHECK(errors.empty());
  CHECK(c.http == base.http);
  CHECK(c.sys_topics == base.sys_topics);
  CHECK(c.dead_letter == base.dead_letter);
  CHECK(c.log.levels == base.log.levels);
  cli.port = 9090;  // the new listener would take the HTTP endpoint's port
  c = app::apply_cli(base, cli, errors);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].path == "http.bind");
  CHECK_THAT(errors[0].message, Contains("clashes with 0.0.0.0:9090 of listener \"mqtt\""));
}

TEST_CASE("io_threads 0 means the core count, at most 4", "[app]") {
  CHECK(app::resolve_io_threads(0, 8) == 4);
  CHECK(app::resolve_io_threads(0, 4) == 4);
  CHECK(app::resolve_io_threads(0, 2) == 2);
  CHECK(app::resolve_io_threads(0, 0) == 1);  // hardware_concurrency() unknown
  CHECK(app::resolve_io_threads(3, 8) == 3);
  CHECK(app::resolve_io_threads(16, 2) == 16);  // an explicit value is taken as given
}

TEST_CASE("defaults map onto net's and core's own defaults", "[app]") {
  const config::Config c = config::defaults();
  const net::ServerOptions n = app::to_server_options(c, 2);
  const net::ServerOptions nd;
  REQUIRE(n.listeners.size() == 1);
  CHECK(n.listeners[0].name == nd.listeners[0].name);
  CHECK(n.listeners[0].bind == nd.listeners[0].bind);
  CHECK(n.listeners[0].max_connections == nd.listeners[0].max_connections);
  CHECK(n.io_threads == 2);
  CHECK(n.max_connections == nd.max_connections);
  CHECK(n.outbound_buffer_limit == nd.outbound_buffer_limit);
  CHECK(n.on_slow_client == nd.on_slow_client);
  CHECK(n.handle_signals);

  const core::BrokerOptions b = app::to_broker_options(c);
  const core::BrokerOptions bd;
  CHECK(b.max_packet_size == bd.max_packet_size);
  CHECK(b.receive_maximum == bd.receive_maximum);
  CHECK(b.max_inflight_out == bd.max_inflight_out);
  CHECK(b.topic_alias_maximum == bd.topic_alias_maximum);
  CHECK(b.max_keepalive == bd.max_keepalive);
  CHECK(b.retain_available == bd.retain_available);
  CHECK(b.max_retained_bytes == bd.max_retained_bytes);
  CHECK(b.shared_subscriptions == bd.shared_subscriptions);
  CHECK(b.wildcard_subscriptions == bd.wildcard_subscriptions);
  CHECK(b.subscription_identifiers == bd.subscription_identifiers);
  CHECK(b.maximum_qos == bd.maximum_qos);
  CHECK(b.session_expiry_default == bd.session_expiry_default);
  CHECK(b.max_session_expiry == bd.max_session_expiry);
  CHECK(b.max_queued_messages == bd.max_queued_messages);
  CHECK(b.max_queued_bytes == bd.max_queued_bytes);
  CHECK(b.overflow == bd.overflow);
  CHECK(b.queue_qos0_offline == bd.queue_qos0_offline);
  CHECK(b.connect_timeout == bd.connect_timeout);
}

TEST_CASE("every setting reaches net and core", "[app]") {
  const config::Config c = load(R"(
listeners:
  - {name: a, bind: "127.0.0.1:0", max_connections: 5}
  - {name: b, bind: "[::1]:1884"}
mqtt:
  max_packet_size: 64KiB
  max_inflight: 10
  max_inflight_out: 11
  topic_alias_maximum: 3
  max_keepalive: 2m
  retain_available: false
  max_retained_bytes: 1MiB
  shared_subscriptions: false
  wildcard_subscriptions: false
  subscription_identifiers: false
  maximum_qos: 1
  connect_timeout: 2500ms
sessions:
  expiry_default: 1h
  max_session_expiry: 1d
  max_queued_messages: 9
  max_queued_bytes: 3MiB
  overflow: drop_newest
  queue_qos0_offline: true
  outbound_buffer_limit: 128KiB
  on_slow_client: drop
limits: {max_connections: 77, max_subscriptions_per_session: 12, max_subscription_bytes_per_session: 2KiB}
io_threads: 3
)");
  const net::ServerOptions n = app::to_server_options(c, 8);
  REQUIRE(n.listeners.size() == 2);
  CHECK(n.listeners[0].name == "a");
  CHECK(n.listeners[0].bind == "127.0.0.1:0");
  CHECK(n.listeners[0].max_connections == 5);
  CHECK(n.listeners[1].name == "b");
  CHECK(n.listeners[1].bind == "[::1]:1884");
  CHECK(n.io_threads == 3);
  CHECK(n.max_connections == 77);
  CHECK(n.outbound_buffer_limit == 128 * 1024);
  CHECK(n.on_slow_client == net::SlowClientPolicy::Drop);

  const core::BrokerOptions b = app::to_broker_options(c);
  CHECK(b.max_packet_size == 64 * 1024);
  CHECK(b.receive_maximum == 10);
  CHECK(b.max_inflight_out == 11);
  CHECK(b.topic_alias_maximum == 3);
  CHECK(b.max_keepalive == 120);
  CHECK_FALSE(b.retain_available);
  CHECK(b.max_retained_bytes == 1024 * 1024);
  CHECK_FALSE(b.shared_subscriptions);
  CHECK_FALSE(b.wildcard_subscriptions);
  CHECK_FALSE(b.subscription_identifiers);
  CHECK(b.maximum_qos == 1);
  CHECK(b.connect_timeout == std::chrono::milliseconds(2500));
  CHECK(b.session_expiry_default == 3600);
  CHECK(b.max_session_expiry == 86400);
  CHECK(b.max_queued_messages == 9);
  CHECK(b.max_subscriptions_per_session == 12);
  CHECK(b.max_subscription_bytes_per_session == 2048);
  CHECK(b.max_queued_bytes == 3 * 1024 * 1024);
  CHECK(b.overflow == core::OverflowPolicy::DropNewest);
  CHECK(b.queue_qos0_offline);

  const config::Config never = load("sessions: {expiry_default: never}");
  CHECK(app::to_broker_options(never).session_expiry_default == 0xFFFFFFFFu);
  CHECK(app::to_broker_options(never).max_session_expiry == 0xFFFFFFFFu);
}

TEST_CASE("JSON log lines stay valid JSON whatever the bytes", "[app][log]") {
  std::string out;
  app::json_escape("plain", out);
  CHECK(out == "plain");
  out.clear();
  app::json_escape(
      "q\"b\\n\nt\tc\x01"
      "\x7f",
      out);
  CHECK(out == "q\\\"b\\\\n\\nt\\tc\\u0001\\u007f");
  out.clear();
  app::json_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", out);  // valid UTF-8 is kept
  CHECK(out == "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  out.clear();
  // Invalid: lone continuation, overlong, truncated, surrogate, above U+10FFFF.
  app::json_escape("\x80|\xc0\xaf|\xe2\x82|\xed\xa0\x80|\xf4\x90\x80\x80", out);
  CHECK(out ==
        "\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd\\ufffd");

  app::JsonFormatter f;
  spdlog::details::log_msg msg("tern", spdlog::level::warn, "client \"x\" gone");
  spdlog::memory_buf_t buf;
  f.format(msg, buf);
  const std::string line(buf.data(), buf.size());
  CHECK_THAT(line, Contains("{\"ts\":\"") &&
                       Contains("Z\",\"level\":\"warning\",\"subsystem\":\"tern\"") &&
                       Contains(",\"msg\":\"client \\\"x\\\" gone\"}\n"));
  CHECK(line.back() == '\n');
}

TEST_CASE("logging to a file, as text and as JSON", "[app][log]") {
  char path[] = "/tmp/tern-log-test-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  config::Log log;
  log.to = config::LogTarget::File;
  log.file = path;
  log.level = config::LogLevel::Info;
  std::string error;
  REQUIRE(app::setup_logging(log, error));
  spdlog::debug("hidden below the level");
  spdlog::info("hello {}", 42);
  std::string text = read_all(path);
  CHECK_THAT(text, Contains("[info] hello 42"));
  CHECK(text.find("hidden") == std::string::npos);

  log.format = config::LogFormat::Json;
  REQUIRE(app::setup_logging(log, error));
  spdlog::error("bad \"thing\"");
  text = read_all(path);  // appended, not truncated
  CHECK_THAT(text, Contains("[info] hello 42"));
  CHECK_THAT(text, Contains("\"level\":\"error\"") && Contains("\"msg\":\"bad \\\"thing\\\"\"}"));

  config::Log bad;
  bad.to = config::LogTarget::File;
  // spdlog creates missing directories, so make the parent a regular file: it cannot open.
  bad.file = std::string(path) + "/tern.log";
  CHECK_FALSE(app::setup_logging(bad, error));
  CHECK_THAT(error, Contains("cannot open log file:" + bad.file));

  REQUIRE(app::setup_logging(config::Log{}, error));  // back to stdout for other tests
  std::remove(path);
}

TEST_CASE("command line: --data-dir", "[app][cli][storage]") {
  auto p = parse({"--data-dir", "/var/lib/tern"});
  REQUIRE(p.result.options);
  CHECK(p.result.options->data_dir == "/var/lib/tern");
  p = parse({"--data-dir=data", "-p", "0"});
  REQUIRE(p.result.options);
  CHECK(p.result.options->data_dir == "data");
  CHECK(p.result.options->port == 0);
  p = parse({"--log-level", "warn"});
  REQUIRE(p.result.options);
  CHECK_FALSE(p.result.options->data_dir);
}

TEST_CASE("option --data-dir overrides storage.path and turns persistence on",
          "[app][cli][storage]") {
  const config::Config base = load(
      "storage: {path: /var/lib/tern, sync: always, queue_window: 16}\n"
      "listeners:\n  - {name: a, bind: \"127.0.0.1:2000\"}\n");
  std::vector<config::Error> errors;
  app::CliOptions cli;
  CHECK(app::apply_cli(base, cli, errors).storage.path == "/var/lib/tern");

  cli.data_dir = "/tmp/tern-data";
  config::Config c = app::apply_cli(base, cli, errors);
  CHECK(errors.empty());
  CHECK(c.storage.path == "/tmp/tern-data");
  CHECK(c.storage.sync == config::SyncMode::Always);  // the other storage keys stay
  CHECK(c.storage.queue_window == 16);
  CHECK(c.listeners == base.listeners);

  // From the defaults (in memory), --data-dir alone turns persistence on.
  const config::Config mem = config::defaults();
  REQUIRE_FALSE(mem.storage.enabled());
  cli.data_dir = "data/";  // relative, as typed in a shell; the trailing slash goes
  c = app::apply_cli(mem, cli, errors);
  CHECK(errors.empty());
  CHECK(c.storage.enabled());
  CHECK(c.storage.path == "data");
  CHECK(app::to_server_options(c, 1).storage.path == "data");

  for (const char* bad : {"", "/", ".", "..", "x/.."}) {
    errors.clear();
    cli.data_dir = bad;
    c = app::apply_cli(base, cli, errors);
    INFO(bad);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].path == "--data-dir");
    CHECK(c.storage.path == "/var/lib/tern");  // unchanged
  }
  CHECK_THAT(config::format_error(errors[0], "command line"),
             Contains("command line: --data-dir: expected a directory of its own"));
}

TEST_CASE("storage defaults map onto net::StorageOptions' own defaults", "[app][storage]") {
  const net::StorageOptions n = app::to_server_options(config::defaults(), 1).storage;
  const net::StorageOptions d;
  CHECK(n.path.empty());
  CHECK(n.path == d.path);
  CHECK(n.sync == d.sync);
  CHECK(n.batch_window == d.batch_window);
  CHECK(n.on_corruption == d.on_corruption);
  CHECK(n.cache_size == d.cache_size);
  CHECK(n.write_buffer_size == d.write_buffer_size);
  CHECK(n.queue_window == d.queue_window);
  CHECK(n.queue_window_bytes == d.queue_window_bytes);
}

TEST_CASE("every storage setting reaches net::StorageOptions", "[app][storage]") {
  net::StorageOptions n = app::to_server_options(load(R"(
storage:
  path: /data/tern
  sync: always
  batch_window: 250ms
  on_corruption: fail
  cache_size: 3MiB
  write_buffer_size: 128KiB
  queue_window: 17
  queue_window_bytes: 2KiB
)"),
                                                 1)
                             .storage;
  CHECK(n.path == "/data/tern");
  CHECK(n.sync == storage::SyncMode::always);
  CHECK(n.batch_window == std::chrono::microseconds(250'000));
  CHECK(n.on_corruption == storage::OnCorruption::fail);
  CHECK(n.cache_size == 3u * 1024 * 1024);
  CHECK(n.write_buffer_size == 128u * 1024);
  CHECK(n.queue_window == 17);
  CHECK(n.queue_window_bytes == 2048);

  n = app::to_server_options(load("storage: {sync: none, batch_window: 0ms, cache_size: 0}"), 1)
          .storage;
  CHECK(n.path.empty());
  CHECK(n.sync == storage::SyncMode::none);
  CHECK(n.batch_window == std::chrono::microseconds(0));
  CHECK(n.cache_size == 0);
  n = app::to_server_options(load("storage: {sync: batch, batch_window: 1s}"), 1).storage;
  CHECK(n.sync == storage::SyncMode::batch);
  CHECK(n.batch_window == std::chrono::microseconds(1'000'000));
  n = app::to_server_options(load("storage: {on_corruption: move_aside}"), 1).storage;
  CHECK(n.on_corruption == storage::OnCorruption::move_aside);
}
