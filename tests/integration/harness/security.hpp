// Fixtures of the security tests: the test PKI (tests/certs/generate.sh, made once per test
// process into a temp directory removed at exit), password files written by `tern passwd`
// and by Debian's `mosquitto_passwd`, and a SIGHUP reload that waits for the broker's
// "reload done" line. Thread safety: call from the test thread.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tests/integration/harness/broker.hpp"
#include "tests/integration/harness/paho.hpp"

namespace tern::it {

// Paths of the files generate.sh writes (see its header for what each one is).
struct TestCerts {
  std::string dir;
  std::string file(const std::string& name) const { return dir + "/" + name; }
  std::string ca() const { return file("ca.crt"); }
  std::string other_ca() const { return file("other-ca.crt"); }
};

// Generated on first use (REQUIREs that generate.sh succeeds).
const TestCerts& test_certs();

// `tern passwd --iterations N FILE add|change|delete USER` with `password` on stdin.
// Returns the command's exit status (0 on success); its output is in `output` if given.
int tern_passwd(const std::string& file, const std::string& command, const std::string& user,
                const std::string& password = "", std::string* output = nullptr);
// `mosquitto_passwd -b [-c] FILE USER PASSWORD` (Debian's tool, its own $7$ format).
void mosquitto_passwd(const std::string& file, const std::string& user,
                      const std::string& password, bool create);

// Sends SIGHUP and waits (REQUIRE, 10 s) until the log shows one more "reload done" line
// than before: a reload that failed fails the test.
void reload(TernBroker& broker);
// How many times `needle` occurs in the broker's log so far.
std::size_t log_count(const TernBroker& broker, const std::string& needle);

// Overwrites the broker's config file (its temp dir's tern.yaml; "@DIR@" expanded) so a
// reload reads `yaml`.
void rewrite_config(TernBroker& broker, std::string yaml);

// Connects several Paho clients at once (REQUIRE, 10 s). Paho C's threads notice a new
// connection attempt only between their ~1 s polls once another client is connected, so
// one after the other costs about 2 s per client; together they share that wait.
void connect_all(const std::vector<std::pair<PahoClient*, mqtt::connect_options>>& clients);

// Copies a file (REQUIRE).
void copy_file(const std::string& from, const std::string& to);

}  // namespace tern::it
