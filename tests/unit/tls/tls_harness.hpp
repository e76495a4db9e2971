// Test harness for unit_tls: generated certificates and an OpenSSL client driven through
// memory BIOs, pumped against a tern::tls::Session.
#pragma once

#include <openssl/ssl.h>

#include <string>
#include <string_view>

#include "broker/tls/tls.hpp"

namespace tern::tls::test {

// The directory holding generate.sh's output (generated once per process if needed).
const std::string& cert_dir();
std::string cert(std::string_view name);  // cert_dir() + "/" + name

// Server options with server.crt/key and nothing else.
ServerOptions server_options();
// create() that must succeed.
std::shared_ptr<const ServerContext> make_context(const ServerOptions& o);

struct ClientOptions {
  std::string ca = "ca.crt";  // names inside cert_dir(); empty = none
  std::string cert;
  std::string key;
  int min_version = 0;  // TLS1_2_VERSION etc.; 0 = library default
  int max_version = 0;
  std::string ciphers;  // TLS 1.2 cipher list, empty = default
  std::string suites;   // TLS 1.3 suites, empty = default
};

class Client {
 public:
  explicit Client(const ClientOptions& o);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Advances the handshake or reads records; false once failed.
  bool step();
  bool write(std::string_view data);
  void shutdown();
  std::string take_output();          // ciphertext for the server
  void put_input(std::string_view b);  // ciphertext from the server

  bool handshake_done() const { return done_; }
  bool failed() const { return failed_; }
  bool got_close_notify() const { return closed_by_peer_; }
  const std::string& error() const { return error_; }
  std::string& received() { return received_; }
  std::string version() const { return SSL_get_version(ssl_); }
  std::string cipher() const;

 private:
  void fail(int ret);
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;   // server -> client
  BIO* out_ = nullptr;  // client -> server
  std::string received_;
  std::string error_;
  bool done_ = false;
  bool failed_ = false;
  bool closed_by_peer_ = false;
};

// Moves bytes both ways until nothing moves. Client->server bytes are fed in pieces of at
// most `chunk` bytes. Returns false if the server's feed() failed; `server_plain`
// collects what the server decrypted.
bool pump(Client& c, Session& s, std::string& server_plain, std::size_t chunk = 1 << 20);

// Runs a handshake to completion (or failure of either side).
struct Outcome {
  bool server_ok;
  bool client_ok;
};
Outcome handshake(Client& c, Session& s);

}  // namespace tern::tls::test
