// Logs of the real binary: `log.to: file:` reopened on SIGHUP (logrotate's move, then HUP),
// no payloads or passwords at info, a client id cannot forge a line, JSON lines parse.
// The broker logs to a file here, so the test reads its port from that file instead of
// using TernBroker (which reads the broker's stdout).

#include <signal.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/harness/broker.hpp"
#include "tests/integration/harness/process.hpp"
#include "tests/integration/harness/raw_client.hpp"
#include "tests/unit/log/json_check.hpp"

#ifndef TERN_BINARY
#error "TERN_BINARY must name the broker executable"
#endif

namespace {

using namespace tern;
using namespace tern::it;
using Catch::Matchers::Contains;

constexpr const char* kPayload = "PAYLOAD-MARKER-7f3a";
constexpr const char* kPassword = "pw-MARKER-91c2";
// A client id that ends the line and starts a forged one.
const std::string kEvilId = "evil\n[2030-01-01 00:00:00.000] [app] [info] forged line";

// Waits up to `timeout` for `needle` in the file at `path`; the file's text at the end.
std::string wait_for_text(const std::string& path, const std::string& needle,
                          Millis timeout = Millis(10000)) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  std::string text;
  while (std::chrono::steady_clock::now() < until) {
    text = read_file(path);
    if (text.find(needle) != std::string::npos) return text;
    sleep_for(Millis(20));
  }
  return text;
}

struct LoggingBroker {
  explicit LoggingBroker(const std::string& format) {
    dir = make_temp_dir("tern-it-logs");
    log_path = dir + "/tern.log";
    const std::string config = dir + "/tern.yaml";
    std::ofstream(config) << "listeners:\n"
                             "  - name: mqtt\n"
                             "    bind: \"127.0.0.1:0\"\n"
                             "log:\n"
                             "  level: info\n"
                             "  format: " << format << "\n"
                             "  to: \"file:" << log_path << "\"\n";
    register_test_log("broker log", log_path);
    register_test_log("broker stdout", dir + "/stdout.txt");
    proc = std::make_unique<Subprocess>(std::vector<std::string>{TERN_BINARY, "--config", config},
                                        dir + "/stdout.txt");
    const std::string text = wait_for_text(log_path, "ready: ");
    // "ready: mqtt=127.0.0.1:<port>" (the JSON line carries the same text).
    static const std::regex ready(R"(ready: mqtt=127\.0\.0\.1:(\d+))");
    std::smatch m;
    INFO("log:\n" << text << "\nstdout:\n" << read_file(dir + "/stdout.txt"));
    REQUIRE(std::regex_search(text, m, ready));
    port = static_cast<std::uint16_t>(std::stoi(m[1]));
  }

  // `client_id` connects with a password and publishes the marker payload (QoS 1) to a
  // subscriber, which receives it.
  void traffic(const std::string& client_id) const {
    RawClient sub(port, codec::ProtocolVersion::v5);
    sub.connect(client_id + "-sub");
    sub.subscribe("logs/test", 1);
    RawClient c(port, codec::ProtocolVersion::v5);
    codec::Connect conn;
    conn.client_id = client_id;
    conn.username = "alice";
    conn.password = kPassword;
    c.connect(conn);
    c.publish("logs/test", kPayload, 1);
    const auto p = sub.recv_publish(Millis(5000));
    REQUIRE(p);
    CHECK(p->payload == kPayload);
    c.disconnect();
    sub.disconnect();
  }

  std::string dir;
  std::string log_path;
  std::uint16_t port = 0;
  std::unique_ptr<Subprocess> proc;
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> v;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

}  // namespace

TEST_CASE("log file: reopened on SIGHUP after logrotate moved it", "[log]") {
  LoggingBroker b("text");
  b.traffic("before-rotate");
  wait_for_text(b.log_path, "client 'before-rotate-sub' disconnected");

  // logrotate without copytruncate: rename, then HUP (postrotate).
  const std::string rotated = b.log_path + ".1";
  REQUIRE(std::rename(b.log_path.c_str(), rotated.c_str()) == 0);
  REQUIRE(kill(b.proc->pid(), SIGHUP) == 0);
  std::string fresh = wait_for_text(b.log_path, "reload done");
  CHECK_THAT(fresh, Contains("[app] [info] SIGHUP: reloading"));
  CHECK_THAT(fresh, Contains("reload done"));

  b.traffic("after-rotate");
  wait_for_text(b.log_path, "client 'after-rotate-sub' disconnected");
  CHECK(b.proc->terminate(Millis(10000)) == 0);

  const std::string old_text = read_file(rotated);
  fresh = read_file(b.log_path);
  CHECK_THAT(old_text, Contains("[app] [info] ready: mqtt=127.0.0.1:"));
  CHECK_THAT(old_text, Contains("[net] [info] client 'before-rotate' connected"));
  CHECK(old_text.find("SIGHUP") == std::string::npos);
  CHECK(old_text.find("after-rotate") == std::string::npos);
  CHECK_THAT(fresh, Contains("[net] [info] client 'after-rotate' connected"));
  CHECK_THAT(fresh, Contains("[app] [info] tern stopped"));
  CHECK(fresh.find("before-rotate") == std::string::npos);
  for (const std::string& t : {old_text, fresh}) {
    CHECK(t.find(kPayload) == std::string::npos);
    CHECK(t.find(kPassword) == std::string::npos);
  }
}

TEST_CASE("log file: a client id cannot forge a line, no payload at info", "[log]") {
  LoggingBroker b("text");
  {
    RawClient c(b.port, codec::ProtocolVersion::v5);
    c.send(codec::Connect{codec::ProtocolVersion::v5, true, 0, kEvilId, {}, {}, {}, {}});
    c.recv(Millis(2000));  // CONNACK (accepted or refused: either way the id is logged)
  }
  b.traffic("plain");
  wait_for_text(b.log_path, "client 'plain-sub' disconnected");
  CHECK(b.proc->terminate(Millis(10000)) == 0);
  const std::string text = read_file(b.log_path);
  CHECK_THAT(text, Contains("evil\\x0a[2030-01-01"));
  for (const std::string& line : lines_of(text)) {
    INFO(line);
    CHECK(line.rfind("[2030-01-01", 0) == std::string::npos);
    // Every line is "[<time>] [<subsystem>] [<level>] ...".
    CHECK(std::regex_search(line, std::regex(R"(^\[[0-9-]+ [0-9:.]+\] \[[a-z]+\] \[[a-z]+\] )")));
  }
  CHECK(text.find(kPayload) == std::string::npos);
  CHECK(text.find(kPassword) == std::string::npos);
}

TEST_CASE("log file: JSON lines, each one object with ts, level, subsystem, msg", "[log]") {
  LoggingBroker b("json");
  {
    RawClient c(b.port, codec::ProtocolVersion::v5);
    c.send(codec::Connect{codec::ProtocolVersion::v5, true, 0, kEvilId, {}, {}, {}, {}});
    c.recv(Millis(2000));
  }
  b.traffic("json-client");
  wait_for_text(b.log_path, "client 'json-client-sub' disconnected");
  REQUIRE(kill(b.proc->pid(), SIGHUP) == 0);  // reopen of the same path: appends
  wait_for_text(b.log_path, "reload done");
  CHECK(b.proc->terminate(Millis(10000)) == 0);
  const std::string text = read_file(b.log_path);
  const auto lines = lines_of(text);
  REQUIRE(lines.size() >= 6);
  bool saw_net = false;
  for (const std::string& line : lines) {
    INFO(line);
    const auto o = test::FlatJson::parse(line);
    REQUIRE(o);
    for (const char* f : {"ts", "level", "subsystem", "msg"}) CHECK(o->count(f) == 1);
    if (o->at("subsystem") == "net" && o->at("msg").find("json-client") != std::string::npos) {
      saw_net = true;
    }
  }
  CHECK(saw_net);
  CHECK_THAT(text, Contains("tern stopped"));
  CHECK(text.find(kPayload) == std::string::npos);
  CHECK(text.find(kPassword) == std::string::npos);
}
