#include "tests/unit/tls/tls_harness.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace tern::tls::test {
namespace {

struct TempCerts {
  std::string dir;
  bool owned = false;
  TempCerts() {
    if (const char* env = std::getenv("TERN_TEST_CERTS");
        env != nullptr && std::filesystem::exists(std::string(env) + "/ca.crt")) {
      dir = env;
      return;
    }
    char tmpl[] = "/tmp/tern-tls-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir = tmpl;
    owned = true;
    const std::string cmd = std::string("'") + TERN_CERTS_SCRIPT + "' '" + dir + "'";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("generate.sh failed: " + cmd);
  }
  ~TempCerts() {
    std::error_code ec;
    if (owned) std::filesystem::remove_all(dir, ec);
  }
};

}  // namespace

const std::string& cert_dir() {
  static TempCerts certs;
  return certs.dir;
}

std::string cert(std::string_view name) { return cert_dir() + "/" + std::string(name); }

ServerOptions server_options() {
  ServerOptions o;
  o.cert_file = cert("server.crt");
  o.key_file = cert("server.key");
  return o;
}

std::shared_ptr<const ServerContext> make_context(const ServerOptions& o) {
  std::string err;
  auto ctx = ServerContext::create(o, err);
  INFO(err);
  REQUIRE(ctx != nullptr);
  REQUIRE(err.empty());
  return ctx;
}

Client::Client(const ClientOptions& o) {
  ctx_ = SSL_CTX_new(TLS_client_method());
  REQUIRE(ctx_ != nullptr);
  if (!o.ca.empty()) {
    REQUIRE(SSL_CTX_load_verify_locations(ctx_, cert(o.ca).c_str(), nullptr) == 1);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  }
  if (!o.cert.empty()) {
    REQUIRE(SSL_CTX_use_certificate_chain_file(ctx_, cert(o.cert).c_str()) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey_file(ctx_, cert(o.key).c_str(), SSL_FILETYPE_PEM) == 1);
  }
  if (o.min_version != 0) SSL_CTX_set_min_proto_version(ctx_, o.min_version);
  if (o.max_version != 0) SSL_CTX_set_max_proto_version(ctx_, o.max_version);
  if (!o.ciphers.empty()) REQUIRE(SSL_CTX_set_cipher_list(ctx_, o.ciphers.c_str()) == 1);
  if (!o.suites.empty()) REQUIRE(SSL_CTX_set_ciphersuites(ctx_, o.suites.c_str()) == 1);
  ssl_ = SSL_new(ctx_);
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl_, in_, out_);
  SSL_set_connect_state(ssl_);
  SSL_set1_host(ssl_, "localhost");
  SSL_set_tlsext_host_name(ssl_, "localhost");
}

Client::~Client() {
  SSL_free(ssl_);
  SSL_CTX_free(ctx_);
}

void Client::fail(int ret) {
  failed_ = true;
  const int e = SSL_get_error(ssl_, ret);
  char buf[256] = "";
  if (const unsigned long code = ERR_get_error(); code != 0) {
    ERR_error_string_n(code, buf, sizeof(buf));
  }
  error_ = "ssl error " + std::to_string(e) + ": " + buf;
  const long vr = SSL_get_verify_result(ssl_);
  if (vr != X509_V_OK) {
    error_ += std::string(" (verify: ") + X509_verify_cert_error_string(vr) + ")";
  }
  ERR_clear_error();
}

bool Client::step() {
  if (failed_) return false;
  ERR_clear_error();
  if (!done_) {
    const int ret = SSL_do_handshake(ssl_);
    if (ret == 1) {
      done_ = true;
    } else if (SSL_get_error(ssl_, ret) != SSL_ERROR_WANT_READ) {
      fail(ret);
      return false;
    } else {
      return true;
    }
  }
  char buf[16384];
  for (;;) {
    std::size_t n = 0;
    const int ret = SSL_read_ex(ssl_, buf, sizeof(buf), &n);
    if (ret == 1) {
      received_.append(buf, n);
      continue;
    }
    const int e = SSL_get_error(ssl_, ret);
    if (e == SSL_ERROR_WANT_READ) return true;
    if (e == SSL_ERROR_ZERO_RETURN) {
      closed_by_peer_ = true;
      return true;
    }
    fail(ret);
    return false;
  }
}

bool Client::write(std::string_view data) {
  std::size_t n = 0;
  while (!data.empty()) {
    if (SSL_write_ex(ssl_, data.data(), data.size(), &n) != 1) return false;
    data.remove_prefix(n);
  }
  return true;
}

void Client::shutdown() { SSL_shutdown(ssl_); }

std::string Client::take_output() {
  std::string out(static_cast<std::size_t>(BIO_pending(out_)), '\0');
  if (!out.empty()) BIO_read(out_, out.data(), static_cast<int>(out.size()));
  return out;
}

void Client::put_input(std::string_view b) {
  if (!b.empty()) BIO_write(in_, b.data(), static_cast<int>(b.size()));
}

std::string Client::cipher() const { return SSL_get_cipher_name(ssl_); }

bool pump(Client& c, Session& s, std::string& server_plain, std::size_t chunk) {
  for (int round = 0; round < 10000; ++round) {
    c.step();
    const std::string to_server = c.take_output();
    for (std::size_t off = 0; off < to_server.size(); off += chunk) {
      if (!s.feed(std::string_view(to_server).substr(off, chunk), server_plain)) {
        // Deliver the server's alert, as a real connection would before closing.
        c.put_input(s.output());
        s.output().clear();
        c.step();
        return false;
      }
    }
    const bool moved = !to_server.empty() || !s.output().empty();
    c.put_input(s.output());
    s.output().clear();
    if (!moved) return true;
  }
  FAIL("pump did not settle");
  return false;
}

Outcome handshake(Client& c, Session& s) {
  std::string plain;
  const bool server_ok = pump(c, s, plain);
  CHECK(plain.empty());
  return {server_ok && s.handshake_done(), !c.failed() && c.handshake_done()};
}

}  // namespace tern::tls::test
