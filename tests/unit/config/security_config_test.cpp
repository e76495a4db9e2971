// The security keys of the YAML loader: listeners' protocol/path/tls/allow_anonymous/
// protocols, auth, acl and the new limits; each bad value an error with its path and line;
// the security example configs say what their comments say (storage_config_test loads every
// file in configs/). Opening the files is app's job.

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
  INFO(r.error_report());
  REQUIRE(r.ok());
  return *r.config;
}

// A one-listener config with `extra` lines (indented 4) under the listener.
std::string listener(const std::string& extra) {
  return "listeners:\n  - name: l\n    bind: \"127.0.0.1:8883\"\n" + extra;
}

}  // namespace

TEST_CASE("security defaults: anonymous allowed, no ACL, no rate limits, 128MiB budget",
          "[config][security]") {
  const Config c = defaults();
  CHECK(c.auth.allow_anonymous);
  CHECK(c.auth.password_file.empty());
  CHECK_FALSE(c.acl);
  REQUIRE(c.listeners.size() == 1);
  CHECK(c.listeners[0].protocol == ListenerProtocol::Mqtt);
  CHECK_FALSE(c.listeners[0].tls);
  CHECK_FALSE(c.listeners[0].allow_anonymous);
  CHECK(c.listeners[0].accept_v311);
  CHECK(c.listeners[0].accept_v5);
  CHECK(c.limits.connect_rate == 0);
  CHECK(c.limits.publish_rate == 0);
  CHECK(c.limits.publish_bytes_rate == 0);
  CHECK(c.limits.max_topic_length == 0);
  CHECK(c.limits.max_topic_levels == 0);
  CHECK(c.limits.memory_budget == 128 * kMiB);
  // An empty acl section is a policy: deny everything not granted (there is nothing granted).
  const Config e = ok("acl:\n");
  REQUIRE(e.acl);
  CHECK_FALSE(e.acl->default_allow);
  CHECK(e.acl->rules.empty());
}

TEST_CASE("every security key is read", "[config][security]") {
  const Config c = ok(R"(
listeners:
  - name: mqtts
    bind: "0.0.0.0:8883"
    allow_anonymous: false
    protocols: ["3.1.1"]
    tls:
      cert: /etc/tern/server.crt
      key: /etc/tern/server.key
      ca: /etc/tern/ca.crt
      require_client_cert: true
      min_version: 1.3
      ciphers: "ECDHE+AESGCM"
      use_cn_as_username: true
  - name: ws
    bind: "0.0.0.0:8080"
    protocol: websocket
    path: /mqtt/v1
    allow_anonymous: true
    protocols: ["5.0", "3.1.1"]
auth:
  allow_anonymous: false
  password_file: /etc/tern/passwd
acl:
  default: allow
  rules:
    - {user: "*", topic: "devices/%c/#", access: readwrite}
    - {user: dashboard, client: dash-1, topic: "#", access: read}
    - {user: anonymous, topic: "public/+", access: write}
    - {topic: "secret/%u/#", access: deny}
limits:
  connect_rate: 600/m
  publish_rate: 2.5
  publish_bytes_rate: 1MiB/s
  max_topic_length: 1024
  max_topic_levels: 8
  memory_budget: 0
)");
  REQUIRE(c.listeners.size() == 2);
  const Listener& t = c.listeners[0];
  CHECK(t.protocol == ListenerProtocol::Mqtt);
  CHECK(t.allow_anonymous == std::optional<bool>(false));
  CHECK(t.accept_v311);
  CHECK_FALSE(t.accept_v5);
  REQUIRE(t.tls);
  CHECK(t.tls->cert.path == "/etc/tern/server.crt");
  CHECK(t.tls->cert.yaml_path == "listeners[0].tls.cert");
  CHECK(t.tls->cert.line == 8);
  CHECK(t.tls->key.path == "/etc/tern/server.key");
  CHECK(t.tls->ca.path == "/etc/tern/ca.crt");
  CHECK(t.tls->require_client_cert);
  CHECK(t.tls->min_version == TlsVersion::V1_3);
  CHECK(t.tls->ciphers == "ECDHE+AESGCM");
  CHECK(t.tls->use_cn_as_username);
  const Listener& w = c.listeners[1];
  CHECK(w.protocol == ListenerProtocol::WebSocket);
  CHECK(w.path == "/mqtt/v1");
  CHECK(w.allow_anonymous == std::optional<bool>(true));
  CHECK(w.accept_v311);
  CHECK(w.accept_v5);
  CHECK_FALSE(w.tls);

  CHECK_FALSE(c.auth.allow_anonymous);
  CHECK(c.auth.password_file.path == "/etc/tern/passwd");
  CHECK(c.auth.password_file.yaml_path == "auth.password_file");
  CHECK(c.auth.password_file.line == 23);

  REQUIRE(c.acl);
  CHECK(c.acl->default_allow);
  REQUIRE(c.acl->rules.size() == 4);
  CHECK(c.acl->rules[0] == AclRule{"*", "", "devices/%c/#", AclAccess::ReadWrite});
  CHECK(c.acl->rules[1] == AclRule{"dashboard", "dash-1", "#", AclAccess::Read});
  CHECK(c.acl->rules[2] == AclRule{"anonymous", "", "public/+", AclAccess::Write});
  CHECK(c.acl->rules[3] == AclRule{"", "", "secret/%u/#", AclAccess::Deny});

  CHECK(c.limits.connect_rate == Approx(10.0));
  CHECK(c.limits.publish_rate == Approx(2.5));
  CHECK(c.limits.publish_bytes_rate == kMiB);
  CHECK(c.limits.max_topic_length == 1024);
  CHECK(c.limits.max_topic_levels == 8);
  CHECK(c.limits.memory_budget == 0);
}

TEST_CASE("data rates in bytes per second", "[config][units][security]") {
  std::string err;
  CHECK(parse_byte_rate("1MiB/s", err) == kMiB);
  CHECK(parse_byte_rate("64KiB", err) == 64 * kKiB);
  CHECK(parse_byte_rate("500000", err) == 500000u);
  CHECK(parse_byte_rate("500/s", err) == 500u);
  CHECK(parse_byte_rate("0", err) == 0u);
  CHECK(parse_byte_rate("1GiB/s", err) == kGiB);
  for (const char* bad : {"", "/s", "fast", "1MiB/m", "1MiB/", "-1", "1.5MiB/s", "1MiB /s"}) {
    err.clear();
    INFO(bad);
    CHECK_FALSE(parse_byte_rate(bad, err));
    CHECK_THAT(err, Contains("expected a data rate in bytes per second"));
  }
  CHECK_FALSE(parse_byte_rate("1MB/s", err));
  CHECK_THAT(err, Contains("ambiguous size unit \"MB\""));
  CHECK_FALSE(parse_byte_rate("2GiB/s", err));
  CHECK_THAT(err, Contains("too large (at most 1GiB/s)"));
}

TEST_CASE("listener security keys: each bad value is an error with its path and line",
          "[config][security][errors]") {
  CHECK_THAT(report(listener("    protocol: coap\n")),
             Contains("t.yaml:4: listeners[0].protocol: expected one of mqtt | websocket, got "
                      "\"coap\""));
  CHECK_THAT(report(listener("    path: /mqtt\n")),
             Contains("t.yaml:4: listeners[0].path: path applies to WebSocket listeners only"));
  CHECK_THAT(report(listener("    protocol: websocket\n    path: mqtt\n")),
             Contains("t.yaml:5: listeners[0].path: expected an HTTP path starting with '/'"));
  CHECK_THAT(report(listener("    protocol: websocket\n    path: \"/a b\"\n")),
             Contains("listeners[0].path: expected an HTTP path"));
  CHECK_THAT(report(listener("    protocol: websocket\n    path: \"/a?x=1\"\n")),
             Contains("listeners[0].path: expected an HTTP path"));
  CHECK_THAT(report(listener("    allow_anonymous: yes\n")),
             Contains("t.yaml:4: listeners[0].allow_anonymous: expected true or false"));
  CHECK_THAT(report(listener("    protocols: []\n")),
             Contains("t.yaml:4: listeners[0].protocols: expected a non-empty list of \"3.1.1\" "
                      "and/or \"5.0\", got a list"));
  CHECK_THAT(report(listener("    protocols: \"5.0\"\n")),
             Contains("listeners[0].protocols: expected a non-empty list"));
  CHECK_THAT(report(listener("    protocols:\n      - \"3.1\"\n")),
             Contains("t.yaml:5: listeners[0].protocols[0]: expected \"3.1.1\" or \"5.0\", got "
                      "\"3.1\""));
  CHECK_THAT(report(listener("    protocols: [\"5.0\", 5.0]\n")),
             Contains("listeners[0].protocols[1]: listed twice: \"5.0\""));
  CHECK_THAT(report(listener("    tls:\n")),
             Contains("t.yaml:4: listeners[0].tls: expected the TLS settings"));
  CHECK_THAT(report(listener("    tls: /etc/tern/server.crt\n")),
             Contains("listeners[0].tls: expected a mapping of keys to values"));
  const std::string missing = report(listener("    tls:\n      ca: /etc/tern/ca.crt\n"));
  CHECK_THAT(missing, Contains("t.yaml:5: listeners[0].tls.cert: required key is missing"));
  CHECK_THAT(missing, Contains("t.yaml:5: listeners[0].tls.key: required key is missing"));
  CHECK_THAT(report(listener("    tls:\n      cert: server.crt\n      key: /k\n")),
             Contains("t.yaml:5: listeners[0].tls.cert: expected an absolute path (starting "
                      "with /), got \"server.crt\""));
  const std::string tls = "    tls:\n      cert: /c\n      key: /k\n";
  CHECK_THAT(report(listener(tls + "      min_version: 1.1\n")),
             Contains("t.yaml:7: listeners[0].tls.min_version: expected one of 1.2 | 1.3, got "
                      "\"1.1\""));
  CHECK_THAT(report(listener(tls + "      require_client_cert: true\n")),
             Contains("t.yaml:7: listeners[0].tls.require_client_cert: client certificates need "
                      "tls.ca"));
  CHECK_THAT(report(listener(tls + "      use_cn_as_username: true\n")),
             Contains("t.yaml:7: listeners[0].tls.use_cn_as_username: the CN is only trusted "
                      "from a verified client certificate: set tls.ca"));
  CHECK_THAT(report(listener(tls + "      ciphers: \"\"\n")),
             Contains("listeners[0].tls.ciphers: expected a non-empty string"));
  CHECK_THAT(report(listener(tls + "      cipher: ECDHE\n")),
             Contains("t.yaml:7: listeners[0].tls.cipher: unknown key; did you mean \"ciphers\"?"));
  CHECK_THAT(report(listener(tls + "      verify: true\n")),
             Contains("listeners[0].tls.verify: unknown key"));
}

TEST_CASE("TLS and WebSocket listeners load (tls: makes mqtts or wss)", "[config][security]") {
  const Config c = ok(listener("    tls: {cert: /c, key: /k}\n") +
                      "  - {name: w, bind: \"127.0.0.1:8080\", protocol: websocket}\n"
                      "  - {name: wss, bind: \"127.0.0.1:8443\", protocol: websocket, "
                      "path: \"/\", tls: {cert: /c, key: /k, ca: /ca, "
                      "require_client_cert: true}}\n");
  REQUIRE(c.listeners.size() == 3);
  CHECK(c.listeners[0].tls);
  CHECK(c.listeners[0].tls->min_version == TlsVersion::V1_2);
  CHECK(c.listeners[0].tls->ca.empty());
  CHECK(c.listeners[1].protocol == ListenerProtocol::WebSocket);
  CHECK(c.listeners[1].path == "/mqtt");  // the default path
  CHECK_FALSE(c.listeners[1].tls);
  CHECK(c.listeners[2].path == "/");
  REQUIRE(c.listeners[2].tls);
  CHECK(c.listeners[2].tls->require_client_cert);
}

TEST_CASE("a listener nobody could connect to is an error", "[config][security][errors]") {
  CHECK_THAT(report("auth:\n  allow_anonymous: false\n"),
             Contains("t.yaml:2: auth.allow_anonymous: listener \"mqtt\" refuses anonymous "
                      "clients, but there is no auth.password_file and no "
                      "tls.use_cn_as_username: no client could connect to it"));
  CHECK_THAT(report(listener("    allow_anonymous: false\n")),
             Contains("t.yaml:4: listeners[0].allow_anonymous: listener \"l\" refuses"));
  // A password file, or client certificates naming the user, make it usable.
  ok("auth:\n  allow_anonymous: false\n  password_file: /etc/tern/passwd\n");
  ok("auth:\n  allow_anonymous: false\n" +
     listener("    tls: {cert: /c, key: /k, ca: /ca, use_cn_as_username: true}\n"));
  // A listener may allow what auth refuses.
  const Config c = ok("auth:\n  allow_anonymous: false\n" +
                      listener("    allow_anonymous: true\n"));
  CHECK(c.listeners[0].allow_anonymous == std::optional<bool>(true));
}

TEST_CASE("auth: each bad value is an error with its path and line",
          "[config][security][errors]") {
  CHECK_THAT(report("auth:\n  allow_anonymous: maybe\n"),
             Contains("t.yaml:2: auth.allow_anonymous: expected true or false, got \"maybe\""));
  CHECK_THAT(report("auth:\n  password_file: passwd\n"),
             Contains("t.yaml:2: auth.password_file: expected an absolute path"));
  CHECK_THAT(report("auth:\n  password_file: [a]\n"),
             Contains("auth.password_file: expected a non-empty string, got a list"));
  CHECK_THAT(report("auth:\n  pasword_file: /etc/tern/passwd\n"),
             Contains("t.yaml:2: auth.pasword_file: unknown key; did you mean "
                      "\"password_file\"?"));
  CHECK_THAT(report("auth: true\n"),
             Contains("t.yaml:1: auth: expected a mapping of keys to values"));
}

TEST_CASE("acl: each bad value is an error with its path and line",
          "[config][security][errors]") {
  CHECK_THAT(report("acl:\n  default: maybe\n"),
             Contains("t.yaml:2: acl.default: expected one of allow | deny, got \"maybe\""));
  CHECK_THAT(report("acl:\n  rules: {topic: a}\n"),
             Contains("t.yaml:2: acl.rules: expected a list of rules"));
  CHECK_THAT(report("acl:\n  rules:\n    - a/b\n"),
             Contains("t.yaml:3: acl.rules[0]: expected a rule mapping"));
  CHECK_THAT(report("acl:\n  rules:\n    - {user: x}\n"),
             Contains("t.yaml:3: acl.rules[0].topic: required key is missing") &&
                 Contains("t.yaml:3: acl.rules[0].access: required key is missing (read | write "
                          "| readwrite | deny)"));
  const auto rule = [](const std::string& body) {
    return report("acl:\n  rules:\n    - " + body + "\n");
  };
  CHECK_THAT(rule("{topic: a, access: publish}"),
             Contains("t.yaml:3: acl.rules[0].access: expected one of read | write | readwrite "
                      "| deny, got \"publish\""));
  CHECK_THAT(rule("{topic: \"a/b#\", access: read}"),
             Contains("acl.rules[0].topic: not a valid topic filter"));
  CHECK_THAT(rule("{topic: \"a/#/b\", access: read}"),
             Contains("acl.rules[0].topic: not a valid topic filter"));
  CHECK_THAT(rule("{topic: \"\", access: read}"),
             Contains("acl.rules[0].topic: expected a non-empty string"));
  CHECK_THAT(rule("{topic: \"devices/%u%c\", access: read}"),
             Contains("acl.rules[0].topic: \"%u\" and \"%c\" must fill a whole level"));
  CHECK_THAT(rule("{topic: \"devices/x%c/#\", access: read}"),
             Contains("must fill a whole level"));
  CHECK_THAT(rule("{topic: \"a/%x\", access: read}"), Contains("must fill a whole level"));
  CHECK_THAT(rule("{topic: \"$share/g/a/#\", access: read}"),
             Contains("acl.rules[0].topic: ACL patterns apply to the filter inside a shared "
                      "subscription"));
  CHECK_THAT(rule("{user: anonymous, topic: \"home/%u/#\", access: read}"),
             Contains("acl.rules[0].topic: a rule for anonymous clients cannot use %u"));
  CHECK_THAT(rule("{user: \"\", topic: a, access: read}"),
             Contains("acl.rules[0].user: expected a non-empty string"));
  CHECK_THAT(rule("{user: [a], topic: a, access: read}"),
             Contains("acl.rules[0].user: expected a non-empty string, got a list"));
  CHECK_THAT(rule("{client: {a: 1}, topic: a, access: read}"),
             Contains("acl.rules[0].client: expected a non-empty string, got a mapping"));
  CHECK_THAT(rule("{user: x, topic: a, access: read, qos: 1}"),
             Contains("t.yaml:3: acl.rules[0].qos: unknown key"));
  CHECK_THAT(report("acl:\n  default: deny\n  rule: []\n"),
             Contains("t.yaml:3: acl.rule: unknown key; did you mean \"rules\"?"));
  // Valid patterns: %u/%c as whole levels, wildcards, '$' topics.
  const Config c = ok(
      "acl:\n  rules:\n    - {topic: \"%u\", access: read}\n    - {topic: \"%c/+/%u/#\", "
      "access: write}\n    - {topic: \"$SYS/#\", access: read}\n    - {topic: \"#\", access: "
      "deny}\n");
  REQUIRE(c.acl);
  CHECK(c.acl->rules.size() == 4);
  std::string many = "acl:\n  rules:\n";
  for (int i = 0; i < 10001; ++i) many += "    - {topic: a, access: read}\n";
  CHECK_THAT(report(many), Contains("acl.rules: at most 10000 rules are allowed"));
}

TEST_CASE("limits: rates, topic bounds and the memory budget", "[config][security][errors]") {
  CHECK_THAT(report("limits:\n  connect_rate: 0.5/s\n"),
             Contains("t.yaml:2: limits.connect_rate: expected at least 1/s (or 0 = unlimited)"));
  CHECK_THAT(report("limits:\n  publish_rate: 30/m\n"),
             Contains("limits.publish_rate: expected at least 1/s"));
  CHECK_THAT(report("limits:\n  connect_rate: fast\n"),
             Contains("t.yaml:2: limits.connect_rate: expected a rate in messages per second"));
  CHECK_THAT(report("limits:\n  publish_rate: [1]\n"),
             Contains("limits.publish_rate: expected a rate such as 200"));
  CHECK_THAT(report("limits:\n  publish_rate: 2000000/s\n"), Contains("too large"));
  CHECK_THAT(report("limits:\n  publish_bytes_rate: 1MB/s\n"),
             Contains("t.yaml:2: limits.publish_bytes_rate: ambiguous size unit \"MB\""));
  CHECK_THAT(report("limits:\n  publish_bytes_rate: {a: 1}\n"),
             Contains("limits.publish_bytes_rate: expected a data rate such as \"1MiB/s\""));
  CHECK_THAT(report("limits:\n  max_topic_length: 65536\n"),
             Contains("limits.max_topic_length: expected an integer between 0 and 65535"));
  CHECK_THAT(report("limits:\n  max_topic_levels: 40000\n"),
             Contains("limits.max_topic_levels: expected an integer between 0 and 32768"));
  CHECK_THAT(report("limits:\n  memory_budget: lots\n"),
             Contains("t.yaml:2: limits.memory_budget: expected a size"));
  CHECK_THAT(report("limits:\n  memory_budget: 2TiB\n"),
             Contains("limits.memory_budget: expected a size between 0B and 1TiB"));
  const Config c = ok("limits: {connect_rate: 1/s, publish_rate: 3600/h, publish_bytes_rate: 0}");
  CHECK(c.limits.connect_rate == Approx(1.0));
  CHECK(c.limits.publish_rate == Approx(1.0));
  CHECK(c.limits.publish_bytes_rate == 0);
}

TEST_CASE("validate() applies the security rules to a Config built in code",
          "[config][security]") {
  Config c = defaults();
  c.listeners[0].tls = ListenerTls{};
  c.listeners[0].tls->require_client_cert = true;
  c.listeners[0].path = "/ws";
  c.listeners[0].accept_v311 = false;
  c.listeners[0].accept_v5 = false;
  std::string all;
  for (const auto& e : validate(c)) all += format_error(e, "code") + "\n";
  CHECK_THAT(all, Contains("code: listeners[0].tls.cert: a TLS listener needs cert"));
  CHECK_THAT(all, Contains("code: listeners[0].tls.key: a TLS listener needs key"));
  CHECK_THAT(all, Contains("code: listeners[0].tls.require_client_cert: client certificates"));
  CHECK_THAT(all, Contains("code: listeners[0].path: path applies to WebSocket listeners only"));
  CHECK_THAT(all, Contains("code: listeners[0].protocols: at least one MQTT version"));
  c = defaults();
  c.auth.allow_anonymous = false;
  REQUIRE(validate(c).size() == 1);
  CHECK(validate(c)[0].path == "auth.allow_anonymous");
}

TEST_CASE("configs/secure.yaml and configs/mtls.yaml load and say what their comments say",
          "[config][security]") {
  const std::string dir = std::string(TERN_SOURCE_DIR) + "/configs/";
  {
    const LoadResult r = load_file(dir + "secure.yaml");
    INFO(r.error_report());
    REQUIRE(r.ok());
    const Config& c = *r.config;
    CHECK_FALSE(c.auth.allow_anonymous);
    CHECK_FALSE(c.auth.password_file.empty());
    bool mqtts = false, wss = false;
    for (const auto& l : c.listeners) {
      const bool anonymous = l.allow_anonymous.value_or(c.auth.allow_anonymous);
      // Anonymous clients only where only this host can reach.
      if (anonymous) CHECK(l.bind.host.starts_with("127."));
      mqtts = mqtts || (l.tls && l.protocol == ListenerProtocol::Mqtt);
      wss = wss || (l.tls && l.protocol == ListenerProtocol::WebSocket && l.path == "/mqtt");
    }
    CHECK(mqtts);
    CHECK(wss);
    REQUIRE(c.acl);
    CHECK_FALSE(c.acl->default_allow);
    bool per_client = false, deny = false, per_user = false;
    for (const auto& rule : c.acl->rules) {
      per_client = per_client || rule.topic.find("%c") != std::string::npos;
      per_user = per_user || rule.topic.find("%u") != std::string::npos;
      deny = deny || rule.access == AclAccess::Deny;
    }
    CHECK(per_client);
    CHECK(per_user);
    CHECK(deny);
    CHECK(c.limits.connect_rate > 0);
    CHECK(c.limits.publish_rate > 0);
    CHECK(c.limits.publish_bytes_rate > 0);
    CHECK(c.limits.memory_budget > 0);
    CHECK(c.limits.max_topic_levels > 0);
  }
  {
    const LoadResult r = load_file(dir + "mtls.yaml");
    INFO(r.error_report());
    REQUIRE(r.ok());
    const Config& c = *r.config;
    CHECK_FALSE(c.auth.allow_anonymous);
    CHECK(c.auth.password_file.empty());  // certificates are the credentials
    REQUIRE(c.listeners.size() == 1);
    REQUIRE(c.listeners[0].tls);
    CHECK(c.listeners[0].tls->require_client_cert);
    CHECK(c.listeners[0].tls->use_cn_as_username);
    CHECK_FALSE(c.listeners[0].tls->ca.empty());
    REQUIRE(c.acl);
    CHECK_FALSE(c.acl->default_allow);
  }
}
