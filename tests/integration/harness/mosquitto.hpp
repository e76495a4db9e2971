// Debian's mosquitto as the "cloud" broker of the bridge tests: a child process on a free
// 127.0.0.1 port (chosen once, kept across stop()/start(), so a bridge's remote address
// stays valid through an outage), with a generated config in its own temp directory, and a
// throwaway test PKI (CA, server certificate for 127.0.0.1 / localhost) made with the
// openssl command-line tool. A MosquittoBroker owns its process; its log is shown when the
// test that used it fails. Thread safety: one thread per object.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "tests/integration/harness/process.hpp"

namespace tern::it {

// A free TCP port on 127.0.0.1 (bound to port 0, then released).
std::uint16_t pick_free_loopback_port();

// Files of a test PKI in one directory, all PEM.
struct TestPki {
  std::string ca_cert;      // the CA that signed server_cert
  std::string server_cert;  // CN=localhost, SAN IP:127.0.0.1 and DNS:localhost
  std::string server_key;
  std::string other_ca_cert;  // an unrelated CA: a client trusting only it must refuse
};

// Generates a TestPki under `dir` with the openssl CLI (EC P-256 keys, valid 2 days).
// REQUIREs that every openssl command succeeds.
TestPki make_test_pki(const std::string& dir);

struct MosquittoOptions {
  // Keep sessions (subscriptions, queued messages) across stop()/start(): mosquitto saves
  // its database on SIGTERM into its temp directory and loads it at start.
  bool persistence = false;
  // A TLS listener instead of plain TCP, with this certificate and key.
  std::optional<std::pair<std::string, std::string>> tls;  // cert file, key file
  // With tls: also a plain TCP listener on plain_port(), for the tests' own clients.
  bool plain_listener_too = false;
  // More mosquitto.conf lines, appended verbatim.
  std::string extra;
};

class MosquittoBroker {
 public:
  // Picks a port and starts mosquitto; REQUIREs it accepts connections within 10 s.
  explicit MosquittoBroker(MosquittoOptions opts = {});
  // Stops it (SIGTERM) if running.
  ~MosquittoBroker();
  MosquittoBroker(const MosquittoBroker&) = delete;
  MosquittoBroker& operator=(const MosquittoBroker&) = delete;

  std::uint16_t port() const { return port_; }
  // The plain listener's port: port() without TLS, else the plain_listener_too one (0 if none).
  std::uint16_t plain_port() const { return opts_.tls ? plain_port_ : port_; }
  // "mqtt://127.0.0.1:<port>", or "mqtts://..." with TLS: the form a bridge's `remote` takes.
  std::string bridge_uri() const;
  bool running() { return proc_ && proc_->running(); }

  // Graceful stop (SIGTERM; SIGKILL after 5 s). Saves the database with persistence on.
  void stop();
  // Starts again on the same port and directory; REQUIREs it listens within 10 s.
  void start();

  std::string log() const;

 private:
  MosquittoOptions opts_;
  std::string dir_;
  std::string config_path_;
  std::string log_path_;
  std::uint16_t port_ = 0;
  std::uint16_t plain_port_ = 0;
  std::unique_ptr<Subprocess> proc_;
};

}  // namespace tern::it
