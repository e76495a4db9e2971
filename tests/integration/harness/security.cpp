#include "tests/integration/harness/security.hpp"

#include <signal.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/integration/harness/process.hpp"

#ifndef TERN_BINARY
#error "TERN_BINARY must name the broker executable"
#endif
#ifndef TERN_SOURCE_DIR
#error "TERN_SOURCE_DIR must name the source tree (for tests/certs/generate.sh)"
#endif

namespace tern::it {
namespace {

// Removes the PKI directory when the test process ends: one set of certificates serves
// every test case (generating them takes about a second of openssl CLI time).
struct CertsHolder {
  TestCerts certs;
  ~CertsHolder() {
    if (!certs.dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(certs.dir, ec);
    }
  }
};

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size()) {
    s.replace(at, from.size(), to);
  }
  return s;
}

}  // namespace

const TestCerts& test_certs() {
  static CertsHolder holder;
  if (holder.certs.dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/tern-it-pki-XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    const std::string log = tmpl + "/generate.log";
    const auto r = run_command({"bash", std::string(TERN_SOURCE_DIR) + "/tests/certs/generate.sh",
                                tmpl},
                               Millis(60000), log);
    INFO("generate.sh output: " << r.output);
    REQUIRE(r.status == 0);
    holder.certs.dir = tmpl;
  }
  return holder.certs;
}

int tern_passwd(const std::string& file, const std::string& command, const std::string& user,
                const std::string& password, std::string* output) {
  // Few iterations: the tests check the format and the flow, not the cost.
  const std::string out = file + ".passwd.log";
  // "list" takes no user: "$@" passes exactly the words given.
  std::vector<std::string> argv = {
      "sh", "-c", "pw=$1; shift; printf '%s\\n' \"$pw\" | \"$0\" passwd --iterations 1000 \"$@\"",
      TERN_BINARY, password, file, command};
  if (!user.empty()) argv.push_back(user);
  const auto r = run_command(argv, Millis(20000), out);
  if (output) *output = r.output;
  INFO("tern passwd " << command << " " << user << ": " << r.output);
  REQUIRE_FALSE(r.timed_out);
  return r.status;
}

void mosquitto_passwd(const std::string& file, const std::string& user,
                      const std::string& password, bool create) {
  std::vector<std::string> argv = {"mosquitto_passwd", "-b"};
  if (create) argv.push_back("-c");
  for (const auto& a : {file, user, password}) argv.push_back(a);
  const auto r = run_command(argv, Millis(20000), file + ".mosquitto_passwd.log");
  INFO("mosquitto_passwd: " << r.output);
  REQUIRE(r.status == 0);
}

std::size_t log_count(const TernBroker& broker, const std::string& needle) {
  const std::string log = broker.log();
  std::size_t n = 0;
  for (std::size_t at = 0; (at = log.find(needle, at)) != std::string::npos; at += needle.size()) {
    ++n;
  }
  return n;
}

void reload(TernBroker& broker) {
  const std::size_t done = log_count(broker, "reload done");
  const std::size_t failed = log_count(broker, "reload failed");
  REQUIRE(broker.pid() > 0);
  REQUIRE(::kill(broker.pid(), SIGHUP) == 0);
  for (int i = 0; i < 200; ++i) {
    if (log_count(broker, "reload done") > done) return;
    INFO("broker log:\n" << broker.log());
    REQUIRE(log_count(broker, "reload failed") == failed);
    sleep_for(Millis(50));
  }
  INFO("broker log:\n" << broker.log());
  FAIL("no \"reload done\" within 10 s of SIGHUP");
}

void rewrite_config(TernBroker& broker, std::string yaml) {
  yaml = replace_all(std::move(yaml), kDirPlaceholder, broker.dir());
  const std::string path = broker.dir() + "/tern.yaml";
  REQUIRE(std::filesystem::exists(path));
  std::ofstream(path, std::ios::trunc) << yaml;
}

void connect_all(const std::vector<std::pair<PahoClient*, mqtt::connect_options>>& clients) {
  std::vector<mqtt::token_ptr> tokens;
  for (const auto& [c, opts] : clients) tokens.push_back(c->client().connect(opts));
  for (auto& t : tokens) REQUIRE(t->wait_for(Millis(10000)));
}

void copy_file(const std::string& from, const std::string& to) {
  std::error_code ec;
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing, ec);
  INFO("copy " << from << " -> " << to << ": " << ec.message());
  REQUIRE_FALSE(ec);
}

}  // namespace tern::it
