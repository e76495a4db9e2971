// app::to_bridge_options: every bridge key reaches bridge::BridgeOptions, and the files a
// bridge names (password, key password, CA, certificate, key) are read or checked with
// each problem reported at the YAML path and line that named the file. Also the example
// configs in configs/, with their file paths pointed at temporary files.

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bridge/options.hpp"
#include "broker/app/options_map.hpp"
#include "broker/config/config.hpp"

#ifndef TERN_SOURCE_DIR
#error "TERN_SOURCE_DIR must point at the repository root"
#endif

using namespace tern;
using Catch::Matchers::Contains;

namespace {

config::Config load(const std::string& yaml) {
  const auto r = config::load_string(yaml, "t.yaml");
  INFO(r.error_report());
  REQUIRE(r.ok());
  return *r.config;
}

// A private temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/tern-bridge-app-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name, const std::string& content) const {
    const std::string p = path_ + "/" + name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

const char* const kPem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

std::string all_errors(const std::vector<config::Error>& errors) {
  std::string out;
  for (const auto& e : errors) out += config::format_error(e, "t.yaml") + "\n";
  return out;
}

// Every file a bridge names, for pointing them elsewhere.
std::vector<config::FileRef*> file_refs(config::Bridge& b) {
  return {&b.password_file, &b.tls.ca, &b.tls.cert, &b.tls.key, &b.tls.key_password_file};
}

}  // namespace

TEST_CASE("bridge defaults map onto bridge::BridgeOptions' own defaults", "[app][bridge]") {
  const config::Config c = load(
      "bridges:\n  - name: b\n    remote: \"mqtt://127.0.0.1:1883\"\n    topics: [{pattern: "
      "\"a/#\"}]\n");
  std::vector<config::Error> errors;
  const auto v = app::to_bridge_options(c, errors);
  CHECK(errors.empty());
  REQUIRE(v.size() == 1);
  const bridge::BridgeOptions& o = v[0];
  const bridge::BridgeOptions d;
  CHECK(o.name == "b");
  CHECK(o.remotes == std::vector<std::string>{"mqtt://127.0.0.1:1883"});
  CHECK(o.protocol == d.protocol);
  CHECK(o.client_id == d.client_id);
  CHECK(o.username == d.username);
  CHECK(o.password == d.password);
  CHECK(o.tls.enabled == d.tls.enabled);
  CHECK(o.tls.ca_file == d.tls.ca_file);
  CHECK(o.tls.cert_file == d.tls.cert_file);
  CHECK(o.tls.key_file == d.tls.key_file);
  CHECK(o.tls.key_password == d.tls.key_password);
  CHECK(o.tls.verify == d.tls.verify);
  CHECK(o.tls.alpn == d.tls.alpn);
  CHECK(o.keepalive == d.keepalive);
  CHECK(o.clean_start == d.clean_start);
  CHECK(o.session_expiry == d.session_expiry);
  CHECK(o.reconnect_min == d.reconnect_min);
  CHECK(o.reconnect_max == d.reconnect_max);
  CHECK(o.reconnect_jitter == d.reconnect_jitter);
  CHECK(o.queue_max_messages == d.queue_max_messages);
  CHECK(o.queue_max_bytes == d.queue_max_bytes);
  CHECK(o.overflow == d.overflow);
  CHECK(o.queue_qos0 == d.queue_qos0);
  CHECK(o.max_inflight == d.max_inflight);
  CHECK(o.rate == d.rate);
  REQUIRE(o.topics.size() == 1);
  const bridge::TopicRule dr;
  CHECK(o.topics[0].pattern == "a/#");
  CHECK(o.topics[0].direction == dr.direction);
  CHECK(o.topics[0].qos == dr.qos);
  CHECK(o.topics[0].priority == dr.priority);
  CHECK(o.topics[0].local_prefix == dr.local_prefix);
  CHECK(o.topics[0].remote_prefix == dr.remote_prefix);

  CHECK(app::to_bridge_options(config::defaults(), errors).empty());
  CHECK(errors.empty());
}

TEST_CASE("every bridge setting reaches bridge::BridgeOptions", "[app][bridge]") {
  TempDir dir;
  const std::string secret = dir.file("secret", "  s3cr3t with inner space \n\n");
  const std::string kpass = dir.file("kpass", "keypass\r\n");
  const std::string ca = dir.file("ca.pem", kPem);
  const std::string cert = dir.file("cert.pem", kPem);
  const std::string key = dir.file("key.pem", "-----BEGIN PRIVATE KEY-----\nx\n");
  const config::Config c = load(
      "bridges:\n"
      "  - name: cloud\n"
      "    remote: \"ssl://cloud.example.com\"\n"
      "    fallbacks: [\"mqtts://[::1]:18883\", \"mqtts://10.1.2.3:1\"]\n"
      "    protocol: \"3.1.1\"\n"
      "    client_id: gw-1\n"
      "    username: user-1\n"
      "    password_file: " +
      secret +
      "\n"
      "    tls:\n"
      "      ca: " +
      ca +
      "\n"
      "      cert: " +
      cert +
      "\n"
      "      key: " +
      key +
      "\n"
      "      key_password_file: " +
      kpass +
      "\n"
      "      verify: false\n"
      "      alpn: x-amzn-mqtt-ca\n"
      "    keepalive: 45s\n"
      "    clean_start: true\n"
      "    reconnect: {min: 200ms, max: 30s, jitter: false}\n"
      "    queue: {max_messages: 1234, max_bytes: 5MiB, overflow: reject, queue_qos0: true}\n"
      "    drain: {max_inflight: 9, rate: \"30/m\"}\n"
      "    topics:\n"
      "      - {pattern: \"alarms/#\", qos: 2, priority: high, local_prefix: \"l/\", "
      "remote_prefix: \"r/\"}\n"
      "      - {pattern: \"cmd/+\", direction: in, qos: 0}\n"
      "      - {pattern: \"sync/#\", direction: both, priority: -3}\n"
      "  - name: v5\n"
      "    remote: \"tcp://localhost:1884\"\n"
      "    session_expiry: 90m\n"
      "    password: inline\n"
      "    queue: {overflow: drop_newest}\n"
      "    topics: [{pattern: \"#\"}]\n");
  std::vector<config::Error> errors;
  const auto v = app::to_bridge_options(c, errors);
  INFO(all_errors(errors));
  CHECK(errors.empty());
  REQUIRE(v.size() == 2);
  const bridge::BridgeOptions& o = v[0];
  CHECK(o.name == "cloud");
  CHECK(o.remotes == std::vector<std::string>{"mqtts://cloud.example.com:8883",
                                              "mqtts://[::1]:18883", "mqtts://10.1.2.3:1"});
  CHECK(o.protocol == codec::ProtocolVersion::v311);
  CHECK(o.client_id == "gw-1");
  CHECK(o.username == "user-1");
  CHECK(o.password == "s3cr3t with inner space");  // trimmed at both ends only
  CHECK(o.tls.enabled);
  CHECK(o.tls.ca_file == ca);
  CHECK(o.tls.cert_file == cert);
  CHECK(o.tls.key_file == key);
  CHECK(o.tls.key_password == "keypass");
  CHECK_FALSE(o.tls.verify);
  CHECK(o.tls.alpn == "x-amzn-mqtt-ca");
  CHECK(o.keepalive == std::chrono::seconds(45));
  CHECK(o.clean_start);
  CHECK(o.reconnect_min == std::chrono::milliseconds(200));
  CHECK(o.reconnect_max == std::chrono::milliseconds(30000));
  CHECK_FALSE(o.reconnect_jitter);
  CHECK(o.queue_max_messages == 1234);
  CHECK(o.queue_max_bytes == 5u * 1024 * 1024);
  CHECK(o.overflow == core::OverflowPolicy::Reject);
  CHECK(o.queue_qos0);
  CHECK(o.max_inflight == 9);
  CHECK(o.rate == Approx(0.5));
  REQUIRE(o.topics.size() == 3);
  CHECK(o.topics[0].pattern == "alarms/#");
  CHECK(o.topics[0].direction == bridge::Direction::Out);
  CHECK(o.topics[0].qos == 2);
  CHECK(o.topics[0].priority == 1);
  CHECK(o.topics[0].local_prefix == "l/");
  CHECK(o.topics[0].remote_prefix == "r/");
  CHECK(o.topics[1].direction == bridge::Direction::In);
  CHECK(o.topics[1].qos == 0);
  CHECK(o.topics[2].direction == bridge::Direction::Both);
  CHECK(o.topics[2].priority == -3);

  const bridge::BridgeOptions& s = v[1];
  CHECK(s.remotes == std::vector<std::string>{"mqtt://localhost:1884"});
  CHECK_FALSE(s.tls.enabled);
  CHECK(s.protocol == codec::ProtocolVersion::v5);
  CHECK(s.session_expiry == 5400);
  CHECK(s.password == "inline");
  CHECK(s.overflow == core::OverflowPolicy::DropNewest);

  // `never` is MQTT's 0xFFFFFFFF.
  const config::Config n = load(
      "bridges:\n  - {name: n, remote: \"mqtt://h\", session_expiry: never, topics: [{pattern: "
      "a}]}\n");
  CHECK(app::to_bridge_options(n, errors).at(0).session_expiry == 0xFFFFFFFFu);
  CHECK(errors.empty());
}

TEST_CASE("bridge files that cannot be used are errors at the key that named them",
          "[app][bridge]") {
  TempDir dir;
  const std::string empty = dir.file("empty", " \n\t\n");
  const std::string der = dir.file("der.crt", std::string("\x30\x82\x01\x0a", 4));
  const std::string big = dir.file("big", std::string(70000, 'p'));
  const std::string huge = dir.file("huge", std::string((1 << 20) + 1, 'p'));
  const std::string missing = dir.path() + "/missing";
  const config::Config c = load(
      "bridges:\n"
      "  - name: a\n"
      "    remote: \"mqtts://h\"\n"
      "    username: u\n"
      "    password_file: " +
      missing +
      "\n"
      "    tls:\n"
      "      ca: " +
      dir.path() +
      "\n"
      "      cert: " +
      der +
      "\n"
      "      key: " +
      missing +
      "\n"
      "      key_password_file: " +
      empty +
      "\n"
      "    topics: [{pattern: a}]\n"
      "  - name: b\n"
      "    remote: \"mqtt://h\"\n"
      "    password_file: " +
      empty +
      "\n"
      "    topics: [{pattern: a}]\n"
      "  - name: c\n"
      "    remote: \"mqtt://h\"\n"
      "    password_file: " +
      big +
      "\n"
      "    topics: [{pattern: a}]\n"
      "  - name: d\n"
      "    remote: \"mqtt://h\"\n"
      "    password_file: " +
      huge +
      "\n"
      "    topics: [{pattern: a}]\n");
  std::vector<config::Error> errors;
  const auto v = app::to_bridge_options(c, errors);
  CHECK(v.size() == 4);
  const std::string text = all_errors(errors);
  INFO(text);
  CHECK(errors.size() == 8);
  CHECK_THAT(text, Contains("t.yaml:5: bridges[0].password_file: cannot read \"" + missing +
                            "\": No such file or directory"));
  CHECK_THAT(text,
             Contains("t.yaml:7: bridges[0].tls.ca: \"" + dir.path() + "\" is not a regular file"));
  CHECK_THAT(text, Contains("t.yaml:8: bridges[0].tls.cert: \"" + der +
                            "\" is not a PEM file (no \"-----BEGIN\" line)"));
  CHECK_THAT(text, Contains("t.yaml:9: bridges[0].tls.key: cannot read \"" + missing + "\""));
  CHECK_THAT(text,
             Contains("t.yaml:10: bridges[0].tls.key_password_file: \"" + empty + "\" is empty"));
  CHECK_THAT(text, Contains("t.yaml:14: bridges[1].password_file: \"" + empty + "\" is empty"));
  CHECK_THAT(text, Contains("t.yaml:18: bridges[2].password_file: the password is longer than "
                            "65535 bytes"));
  CHECK_THAT(text,
             Contains("t.yaml:22: bridges[3].password_file: \"" + huge + "\" is larger than 1MiB"));
  // Nothing secret in the messages.
  CHECK(text.find("ppppp") == std::string::npos);
  CHECK_FALSE(v[1].password);

  // An unreadable file (as the broker's user would see it); root reads everything.
  if (geteuid() != 0) {
    const std::string locked = dir.file("locked", "secret\n");
    REQUIRE(chmod(locked.c_str(), 0) == 0);
    const config::Config l = load(
        "bridges:\n  - name: a\n    remote: \"mqtt://h\"\n"
        "    password_file: " +
        locked + "\n    topics: [{pattern: a}]\n");
    errors.clear();
    app::to_bridge_options(l, errors);
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0].message, Contains("Permission denied"));
    CHECK(errors[0].path == "bridges[0].password_file");
    CHECK(errors[0].line == 4);
  }
}

TEST_CASE("the bridge example configs map onto BridgeOptions", "[app][bridge]") {
  const std::string src = std::string(TERN_SOURCE_DIR) + "/configs/";
  for (const char* name : {"bridge-tls.yaml", "bridge-aws-iot.yaml", "bridge-azure-iot-hub.yaml"}) {
    INFO(name);
    const auto r = config::load_file(src + name);
    INFO(r.error_report());
    REQUIRE(r.ok());
    config::Config c = *r.config;
    REQUIRE(c.bridges.size() == 1);

    // As written, the only possible errors are about the files they name (which exist on
    // a configured gateway, not here), each at the key that named it.
    std::vector<std::string> file_keys;
    for (config::FileRef* f : file_refs(c.bridges[0])) {
      if (!f->empty()) file_keys.push_back(f->yaml_path);
    }
    CHECK_FALSE(file_keys.empty());
    std::vector<config::Error> errors;
    app::to_bridge_options(c, errors);
    for (const auto& e : errors) {
      INFO(config::format_error(e, name));
      CHECK(std::find(file_keys.begin(), file_keys.end(), e.path) != file_keys.end());
      CHECK(e.line > 0);
    }

    // Pointed at real files, it maps without errors.
    TempDir dir;
    for (config::FileRef* f : file_refs(c.bridges[0])) {
      if (f->empty()) continue;
      const bool pem = f->yaml_path.find(".tls.") != std::string::npos &&
                       f->yaml_path.find("key_password") == std::string::npos;
      f->path = dir.file(std::to_string(f->line), pem ? kPem : "SharedAccessSignature sr=x\n");
    }
    errors.clear();
    const auto v = app::to_bridge_options(c, errors);
    INFO(all_errors(errors));
    CHECK(errors.empty());
    REQUIRE(v.size() == 1);
    const bridge::BridgeOptions& o = v[0];
    CHECK(o.tls.enabled);
    CHECK(o.tls.verify);
    CHECK(o.remotes.front().starts_with("mqtts://"));
    CHECK_FALSE(o.topics.empty());
    if (std::string(name) == "bridge-azure-iot-hub.yaml") {
      CHECK(o.protocol == codec::ProtocolVersion::v311);
      CHECK(o.remotes == std::vector<std::string>{"mqtts://my-hub.azure-devices.net:8883"});
      CHECK(o.password == "SharedAccessSignature sr=x");  // the SAS token, trimmed
      CHECK(o.username == "my-hub.azure-devices.net/gw-0042/?api-version=2021-04-12");
      CHECK(o.client_id == "gw-0042");
    }
    if (std::string(name) == "bridge-aws-iot.yaml") {
      CHECK_FALSE(o.password);
      CHECK_FALSE(o.tls.cert_file.empty());
      CHECK_FALSE(o.tls.key_file.empty());
      CHECK(o.client_id == "gw-0042");
    }
    if (std::string(name) == "bridge-tls.yaml") {
      CHECK(o.remotes.size() == 2);
      CHECK(o.password == "SharedAccessSignature sr=x");
    }
  }
}
