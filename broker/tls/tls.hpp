// TLS for listeners as a sans-IO layer: ciphertext from the socket goes in, application
// bytes come out, and the reverse; the caller owns the socket. Two backends behind one
// interface, chosen at build time (CMake TERN_TLS=openssl|mbedtls); both pass one test
// suite. A ServerContext (certificates, settings) is immutable and shared by the sessions
// it creates; reloading certificates means creating a new context for new connections.
// Thread safety: a ServerContext may be shared across threads; a Session is used by one
// thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace tern::tls {

enum class Version : std::uint8_t { v1_2, v1_3 };

struct ServerOptions {
  std::string cert_file;  // PEM: the server certificate, then its chain
  std::string key_file;   // PEM private key (unencrypted)
  std::string ca_file;    // PEM CAs that sign client certificates; empty = none
  bool require_client_cert = false;  // REQUIRES: ca_file set
  Version min_version = Version::v1_2;
  // Backend syntax (OpenSSL cipher list / TLS 1.3 suites; mbed TLS suite names separated
  // by ':'); empty = the backend's defaults.
  std::string ciphers;
};

// True when this build's backend can negotiate TLS 1.3.
bool supports_tls13();

class Session;

class ServerContext {
 public:
  virtual ~ServerContext() = default;
  // Loads and checks the files (key matches certificate, CA parses, version available).
  // On failure returns null with a message naming the file and the problem.
  static std::shared_ptr<const ServerContext> create(const ServerOptions& opts,
                                                     std::string& error);
  virtual std::unique_ptr<Session> new_session() const = 0;
};

// One server-side TLS connection. Feed what the socket read; send what output() holds.
class Session {
 public:
  virtual ~Session() = default;
  // Processes ciphertext from the peer; decrypted application data is appended to
  // `plain`. Returns false on a fatal error (handshake failure, bad record, peer alert);
  // error() then says why, and output() may hold an alert to send before closing.
  virtual bool feed(std::string_view cipher, std::string& plain) = 0;
  // Encrypts application data into output(). Data written before the handshake finished
  // is kept and sent once it has. False after a fatal error or close().
  virtual bool write(std::string_view plain) = 0;
  // Ciphertext to send to the peer (handshake messages, records, alerts). The caller
  // sends it and erases what it sent.
  virtual std::string& output() = 0;
  // Sends close_notify (into output()); later write() calls fail.
  virtual void close() = 0;

  virtual bool handshake_done() const = 0;
  virtual bool peer_closed() const = 0;  // close_notify received
  virtual const std::string& error() const = 0;
  // The Common Name of the verified client certificate, if one was presented.
  virtual std::optional<std::string> peer_common_name() const = 0;
  // "TLSv1.3 TLS_AES_256_GCM_SHA384", for logs; empty before the handshake.
  virtual std::string description() const = 0;
};

}  // namespace tern::tls
