// app's security wiring: listeners, TLS and limits onto net/core options; build_security
// (password file, ACL) with errors at the YAML key; the TLS file checks; the startup
// warnings; and what a SIGHUP reload applies. Certificates come from tests/certs/generate.sh
// at run time.

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "broker/app/options_map.hpp"
#include "broker/app/security.hpp"
#include "broker/auth/password_file.hpp"
#include "broker/config/config.hpp"

#ifndef TERN_SOURCE_DIR
#error "TERN_SOURCE_DIR must point at the repository root"
#endif

using namespace tern;
using Catch::Matchers::Contains;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/tern-app-security-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

// One set of test certificates per run (generate.sh takes a second or two).
const std::string& certs() {
  static const TempDir dir;
  static const bool made = [] {
    const std::string cmd = "'" + std::string(TERN_SOURCE_DIR) + "/tests/certs/generate.sh' '" +
                            dir.path + "'";
    return std::system(cmd.c_str()) == 0;
  }();
  REQUIRE(made);
  return dir.path;
}

config::Config load(const std::string& yaml) {
  const config::LoadResult r = config::load_string(yaml, "t.yaml");
  INFO(r.error_report());
  REQUIRE(r.ok());
  return *r.config;
}

std::string report(const std::vector<config::Error>& errors) {
  std::string out;
  for (const auto& e : errors) out += config::format_error(e, "t.yaml") + "\n";
  return out;
}

// A password file holding `user` with `password` (1 iteration: fast), mode 0600.
void write_passwords(const std::string& path, const std::string& user,
                     const std::string& password) {
  std::string error;
  auto pf = auth::PasswordFile::parse("", path, error);
  REQUIRE(pf);
  REQUIRE(pf->set(user, password, 1, error));
  REQUIRE(pf->save(path, error));
}

std::string tls_listener(const std::string& name, const std::string& port,
                         const std::string& dir, const std::string& extra = "") {
  return "  - name: " + name + "\n    bind: \"127.0.0.1:" + port + "\"\n    tls:\n      cert: " +
         dir + "/server.crt\n      key: " + dir + "/server.key\n" + extra;
}

}  // namespace

TEST_CASE("listeners map onto net::ListenerOptions", "[app][security]") {
  const config::Config c = load(R"(
listeners:
  - name: mqtts
    bind: "0.0.0.0:8883"
    protocols: ["5.0"]
    tls:
      cert: /etc/tern/server.crt
      key: /etc/tern/server.key
      ca: /etc/tern/ca.crt
      require_client_cert: true
      min_version: "1.3"
      ciphers: "TLS_AES_128_GCM_SHA256"
      use_cn_as_username: true
  - name: ws
    bind: "127.0.0.1:8080"
    protocol: websocket
    path: /ws
    allow_anonymous: true
    protocols: ["3.1.1"]
    max_connections: 7
auth:
  allow_anonymous: false
  password_file: /etc/tern/passwd
limits:
  connect_rate: 50/s
)");
  const net::ServerOptions n = app::to_server_options(c, 2);
  REQUIRE(n.listeners.size() == 2);
  const net::ListenerOptions& t = n.listeners[0];
  CHECK(t.name == "mqtts");
  CHECK(t.bind == "0.0.0.0:8883");
  CHECK(t.transport == net::ListenerTransport::Mqtt);
  REQUIRE(t.tls);
  CHECK(t.tls->cert_file == "/etc/tern/server.crt");
  CHECK(t.tls->key_file == "/etc/tern/server.key");
  CHECK(t.tls->ca_file == "/etc/tern/ca.crt");
  CHECK(t.tls->require_client_cert);
  CHECK(t.tls->min_version == tls::Version::v1_3);
  CHECK(t.tls->ciphers == "TLS_AES_128_GCM_SHA256");
  CHECK(t.use_cn_as_username);
  CHECK_FALSE(t.allow_anonymous);  // from auth.allow_anonymous
  CHECK_FALSE(t.accept_v311);
  CHECK(t.accept_v5);
  const net::ListenerOptions& w = n.listeners[1];
  CHECK(w.transport == net::ListenerTransport::WebSocket);
  CHECK(w.ws_path == "/ws");
  CHECK_FALSE(w.tls);
  CHECK_FALSE(w.use_cn_as_username);
  CHECK(w.allow_anonymous);  // the listener's own setting wins
  CHECK(w.accept_v311);
  CHECK_FALSE(w.accept_v5);
  CHECK(w.max_connections == 7);
  CHECK(n.connect_rate == Approx(50.0));
  // build_security makes these; to_server_options leaves them alone.
  CHECK_FALSE(n.authenticator);
  CHECK_FALSE(n.access_policy);

  // The defaults equal net's own.
  const net::ListenerOptions d = app::to_server_options(config::defaults(), 1).listeners.at(0);
  const net::ListenerOptions nd;
  CHECK(d.transport == nd.transport);
  CHECK(d.ws_path == nd.ws_path);
  CHECK_FALSE(d.tls);
  CHECK(d.allow_anonymous == nd.allow_anonymous);
  CHECK(d.use_cn_as_username == nd.use_cn_as_username);
  CHECK(d.accept_v311 == nd.accept_v311);
  CHECK(d.accept_v5 == nd.accept_v5);
  CHECK(app::to_server_options(config::defaults(), 1).connect_rate ==
        net::ServerOptions{}.connect_rate);
}

TEST_CASE("the new limits reach core::BrokerOptions", "[app][security]") {
  const config::Config c = load(
      "limits: {publish_rate: 20/s, publish_bytes_rate: 64KiB/s, max_topic_length: 300, "
      "max_topic_levels: 9, memory_budget: 32MiB}");
  const core::BrokerOptions b = app::to_broker_options(c);
  CHECK(b.publish_rate == Approx(20.0));
  CHECK(b.publish_bytes_rate == 64 * 1024);
  CHECK(b.max_topic_length == 300);
  CHECK(b.max_topic_levels == 9);
  CHECK(b.memory_budget == 32 * 1024 * 1024);
  const core::BrokerOptions d = app::to_broker_options(config::defaults());
  const core::BrokerOptions core_defaults;
  CHECK(d.publish_rate == core_defaults.publish_rate);
  CHECK(d.publish_bytes_rate == core_defaults.publish_bytes_rate);
  CHECK(d.max_topic_length == core_defaults.max_topic_length);
  CHECK(d.max_topic_levels == core_defaults.max_topic_levels);
  // Ours is deliberate: a Pi should not be OOM-killed by queues (README "Securing Tern").
  CHECK(d.memory_budget == 128 * 1024 * 1024);
}

TEST_CASE("build_security: the password file is read, errors name auth.password_file",
          "[app][security]") {
  TempDir dir;
  std::vector<config::Error> errors;
  {
    // Missing: the error names the key and line, and says how to create the file.
    const config::Config c =
        load("# x\nauth:\n  password_file: " + dir.path + "/missing\n");
    CHECK_FALSE(app::build_security(c, errors));
    const std::string r = report(errors);
    CHECK_THAT(r, Contains("t.yaml:3: auth.password_file: cannot read \"" + dir.path +
                           "/missing\": No such file or directory (create it with: tern passwd"));
  }
  {
    errors.clear();
    const config::Config c = load("auth:\n  password_file: " + dir.path + "\n");
    CHECK_FALSE(app::build_security(c, errors));
    CHECK_THAT(report(errors), Contains("t.yaml:2: auth.password_file: \"" + dir.path +
                                        "\" is not a regular file"));
  }
  {
    errors.clear();
    const std::string bad = dir.path + "/bad";
    std::ofstream(bad) << "alice:$7$notahash\n";
    const config::Config c = load("auth:\n  password_file: " + bad + "\n");
    CHECK_FALSE(app::build_security(c, errors));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].path == "auth.password_file");
    CHECK(errors[0].line == 2);
    CHECK_THAT(errors[0].message, Contains(bad + ":1"));
  }
  {
    errors.clear();
    const std::string good = dir.path + "/passwd";
    write_passwords(good, "alice", "s3cret");
    const config::Config c = load("auth:\n  allow_anonymous: false\n  password_file: " + good +
                                  "\nacl:\n  default: deny\n  rules:\n    - {user: \"*\", "
                                  "topic: \"devices/%c/#\", access: readwrite}\n");
    const auto s = app::build_security(c, errors);
    INFO(report(errors));
    REQUIRE(s);
    CHECK(errors.empty());
    CHECK(s->users == 1);
    REQUIRE(s->authenticator);
    auth::Request ok_req;
    ok_req.username = "alice";
    ok_req.password = "s3cret";
    CHECK(s->authenticator->check(ok_req).outcome == auth::Outcome::Accepted);
    auth::Request bad_req = ok_req;
    bad_req.password = "wrong";
    CHECK(s->authenticator->check(bad_req).outcome == auth::Outcome::BadCredentials);
    auth::Request anon;
    anon.allow_anonymous = false;
    CHECK(s->authenticator->check(anon).outcome != auth::Outcome::Accepted);
    REQUIRE(s->acl);
    core::ClientIdentity alice{std::string("alice"), 0};
    CHECK(s->acl->may_publish(alice, "dev-1", "devices/dev-1/temp"));
    CHECK_FALSE(s->acl->may_publish(alice, "dev-1", "devices/dev-2/temp"));
    CHECK_FALSE(s->acl->may_publish(core::ClientIdentity{}, "dev-1", "devices/dev-1/temp"));
  }
  {
    // No auth, no acl: an authenticator that admits anonymous clients, and no policy.
    errors.clear();
    const auto s = app::build_security(config::defaults(), errors);
    REQUIRE(s);
    CHECK(s->users == 0);
    REQUIRE(s->authenticator);
    CHECK_FALSE(s->acl);
    auth::Request anon;
    anon.allow_anonymous = true;
    CHECK(s->authenticator->check(anon).outcome == auth::Outcome::Accepted);
  }
}

TEST_CASE("ACL rules map onto auth::AclOptions", "[app][security]") {
  const config::Config c = load(
      "acl:\n  default: allow\n  rules:\n"
      "    - {user: u, client: c, topic: \"a/%u\", access: read}\n"
      "    - {topic: \"b/#\", access: write}\n"
      "    - {user: \"*\", topic: \"c\", access: readwrite}\n"
      "    - {user: anonymous, topic: \"#\", access: deny}\n");
  const auth::AclOptions o = app::to_acl_options(*c.acl);
  CHECK(o.default_allow);
  REQUIRE(o.rules.size() == 4);
  CHECK(o.rules[0].user == "u");
  CHECK(o.rules[0].client == "c");
  CHECK(o.rules[0].topic == "a/%u");
  CHECK(o.rules[0].access == auth::Access::Read);
  CHECK(o.rules[1].user.empty());
  CHECK(o.rules[1].access == auth::Access::Write);
  CHECK(o.rules[2].access == auth::Access::ReadWrite);
  CHECK(o.rules[3].user == "anonymous");
  CHECK(o.rules[3].access == auth::Access::Deny);
}

TEST_CASE("check_listener_files: TLS files are checked and reported at their key",
          "[app][security]") {
  const std::string& d = certs();
  std::vector<config::Error> errors;
  {
    const config::Config c = load("listeners:\n" + tls_listener("s", "0", d,
                                                                "      ca: " + d + "/ca.crt\n"));
    app::check_listener_files(c, true, errors);
    INFO(report(errors));
    CHECK(errors.empty());
  }
  {
    errors.clear();
    const config::Config c = load("listeners:\n  - name: s\n    bind: \"127.0.0.1:0\"\n"
                                  "    tls:\n      cert: " + d + "/nope.crt\n      key: " + d +
                                  "/server.key\n      ca: " + TERN_SOURCE_DIR + "/README.md\n");
    app::check_listener_files(c, true, errors);
    const std::string r = report(errors);
    CHECK_THAT(r, Contains("t.yaml:5: listeners[0].tls.cert: cannot read \"" + d + "/nope.crt\""));
    CHECK_THAT(r, Contains("t.yaml:7: listeners[0].tls.ca: ") && Contains("is not a PEM file"));
    CHECK(errors.size() == 2);
  }
  {
    // Each file reads, but the key is another certificate's: found when the context is built.
    errors.clear();
    const config::Config c = load("listeners:\n  - name: s\n    bind: \"127.0.0.1:0\"\n"
                                  "    tls:\n      cert: " + d + "/server.crt\n      key: " + d +
                                  "/other-server.key\n");
    app::check_listener_files(c, false, errors);
    CHECK(errors.empty());
    app::check_listener_files(c, true, errors);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].path == "listeners[0].tls");
    CHECK(errors[0].line == 5);
  }
  {
    errors.clear();
    const config::Config c = load("listeners:\n" + tls_listener("s", "0", d,
                                                                "      min_version: \"1.3\"\n"));
    app::check_listener_files(c, true, errors);
    if (tls::supports_tls13()) {
      CHECK(errors.empty());
    } else {
      REQUIRE(errors.size() == 1);
      CHECK(errors[0].path == "listeners[0].tls.min_version");
      CHECK_THAT(errors[0].message, Contains("TLS 1.3 is not available"));
    }
  }
}

TEST_CASE("startup warnings: anonymous or clear-text passwords on the network, readable secrets",
          "[app][security]") {
  CHECK(config::BindAddress{"127.0.0.1", 1, false}.is_loopback());
  CHECK(config::BindAddress{"127.1.2.3", 1, false}.is_loopback());
  CHECK(config::BindAddress{"::1", 1, true}.is_loopback());
  CHECK(config::BindAddress{"::ffff:127.0.0.1", 1, true}.is_loopback());
  CHECK_FALSE(config::BindAddress{"0.0.0.0", 1, false}.is_loopback());
  CHECK_FALSE(config::BindAddress{"::", 1, true}.is_loopback());
  CHECK_FALSE(config::BindAddress{"192.168.1.2", 1, false}.is_loopback());

  // The default config: anonymous on 0.0.0.0.
  std::vector<std::string> w = app::security_warnings(config::defaults());
  REQUIRE(w.size() == 1);
  CHECK_THAT(w[0], Contains("listener \"mqtt\" (0.0.0.0:1883) accepts anonymous clients from the "
                            "network"));
  // Loopback only: nothing to say.
  CHECK(app::security_warnings(load("listeners:\n  - {name: a, bind: \"127.0.0.1:1883\"}\n"))
            .empty());

  TempDir dir;
  const std::string pw = dir.path + "/passwd";
  write_passwords(pw, "alice", "x");
  const config::Config c = load("auth:\n  allow_anonymous: false\n  password_file: " + pw + "\n");
  w = app::security_warnings(c);
  REQUIRE(w.size() == 1);  // saved 0600: only the clear-text warning
  CHECK_THAT(w[0], Contains("listener \"mqtt\" (0.0.0.0:1883) has no TLS: passwords cross the "
                            "network in clear text"));
  REQUIRE(chmod(pw.c_str(), 0644) == 0);
  w = app::security_warnings(c);
  REQUIRE(w.size() == 2);
  CHECK_THAT(w[1], Contains("password file \"" + pw + "\" (auth.password_file) can be read by "
                            "other users; chmod 600 it"));
}

TEST_CASE("plan_reload: security is applied, TLS is reloaded, other changes need a restart",
          "[app][security]") {
  const std::string& d = certs();
  TempDir dir;
  const std::string pw = dir.path + "/passwd";
  write_passwords(pw, "alice", "one");
  const std::string base = "listeners:\n" + tls_listener("s", "0", d) +
                           "  - {name: p, bind: \"127.0.0.1:0\"}\n"
                           "auth:\n  password_file: " + pw + "\n";
  const config::Config running = load(base);
  std::vector<config::Error> errors;

  // Same file: everything reloads, nothing needs a restart.
  auto plan = app::plan_reload(running, running, errors);
  INFO(report(errors));
  REQUIRE(plan);
  CHECK(plan->needs_restart.empty());
  REQUIRE(plan->tls.size() == 1);
  CHECK(plan->tls[0].first == "s");
  CHECK(plan->tls[0].second.cert_file == d + "/server.crt");
  CHECK(plan->security.users == 1);
  CHECK_FALSE(plan->security.acl);

  // New password, an ACL, a new key pair and require_client_cert: all applied.
  write_passwords(pw, "bob", "two");
  const config::Config next = load(
      "listeners:\n  - name: s\n    bind: \"127.0.0.1:0\"\n    tls:\n      cert: " + d +
      "/server-rsa.crt\n      key: " + d + "/server-rsa.key\n      ca: " + d +
      "/ca.crt\n      require_client_cert: true\n"
      "  - {name: p, bind: \"127.0.0.1:0\"}\nauth:\n  password_file: " + pw +
      "\nacl:\n  rules:\n    - {user: bob, topic: \"#\", access: readwrite}\n");
  plan = app::plan_reload(running, next, errors);
  INFO(report(errors));
  REQUIRE(plan);
  CHECK(plan->needs_restart.empty());
  REQUIRE(plan->tls.size() == 1);
  CHECK(plan->tls[0].second.cert_file == d + "/server-rsa.crt");
  CHECK(plan->tls[0].second.require_client_cert);
  REQUIRE(plan->security.acl);
  auth::Request bob;
  bob.username = "bob";
  bob.password = "two";
  CHECK(plan->security.authenticator->check(bob).outcome == auth::Outcome::Accepted);

  // Other sections, anonymous access and the CN rule are only named.
  const config::Config other = load(base + "mqtt:\n  max_inflight: 5\nlog:\n  level: debug\n"
                                           "limits:\n  publish_rate: 10/s\n");
  plan = app::plan_reload(running, other, errors);
  REQUIRE(plan);
  CHECK(plan->needs_restart == std::vector<std::string>{"mqtt", "limits", "log"});
  config::Config anon = running;
  anon.auth.allow_anonymous = false;
  plan = app::plan_reload(running, anon, errors);
  REQUIRE(plan);
  CHECK(plan->needs_restart == std::vector<std::string>{"auth.allow_anonymous"});
  config::Config cn = running;
  cn.listeners[0].tls->ca = config::FileRef{d + "/ca.crt", "x", 0};
  cn.listeners[0].tls->use_cn_as_username = true;
  plan = app::plan_reload(running, cn, errors);
  REQUIRE(plan);
  CHECK(plan->needs_restart == std::vector<std::string>{"listeners"});

  // A broken password file or certificate: no plan, the running state stays.
  CHECK(errors.empty());
  std::ofstream(pw) << "garbage\n";
  CHECK_FALSE(app::plan_reload(running, running, errors));
  CHECK_THAT(report(errors), Contains("auth.password_file"));
  errors.clear();
  write_passwords(pw, "alice", "one");
  config::Config broken = running;
  broken.listeners[0].tls->key =
      config::FileRef{d + "/other-server.key", "listeners[0].tls.key", 6};
  CHECK_FALSE(app::plan_reload(running, broken, errors));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].path == "listeners[0].tls");
}
