// tls.hpp on OpenSSL 3 (libssl). A context is one SSL_CTX; a session is one SSL whose
// BIO reads straight from the bytes handed to feed() and appends straight to output(), so
// no memory BIO keeps a copy of the ciphertext and SSL_MODE_RELEASE_BUFFERS can free the
// record buffers whenever a connection is idle.
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>

#include "broker/tls/session_base.hpp"
#include "broker/tls/tls.hpp"
#include "broker/tls/tls_util.hpp"

namespace tern::tls {

bool supports_tls13() { return true; }  // OpenSSL 1.1.1 and later

namespace {

// The first queued OpenSSL error as text ("certificate verify failed"), or `fallback`.
std::string ossl_reason(const char* fallback) {
  const unsigned long e = ERR_peek_error();
  std::string out;
  if (e != 0) {
    const char* r = ERR_reason_error_string(e);
    if (r != nullptr) {
      out = r;
    } else {
      char buf[256];
      ERR_error_string_n(e, buf, sizeof(buf));
      out = buf;
    }
  } else {
    out = fallback;
  }
  ERR_clear_error();
  return out;
}

// What the context owns; sessions hold it too, so a context dropped by a reload stays
// valid for the connections it made.
struct Shared {
  SSL_CTX* ctx = nullptr;
  BIO_METHOD* bio_method = nullptr;
  ~Shared() {
    SSL_CTX_free(ctx);
    BIO_meth_free(bio_method);
  }
};

class OsslSession;

// The custom BIO's data pointer is the session.
int bio_write(BIO* b, const char* data, int len);
int bio_read(BIO* b, char* data, int len);
long bio_ctrl(BIO* b, int cmd, long num, void* ptr);
int bio_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

class OsslSession final : public SessionBase {
 public:
  explicit OsslSession(std::shared_ptr<const Shared> shared) : shared_(std::move(shared)) {}
  ~OsslSession() override { SSL_free(ssl_); }  // frees the BIO too

  bool init(std::string& err) {
    ssl_ = SSL_new(shared_->ctx);
    BIO* bio = ssl_ != nullptr ? BIO_new(shared_->bio_method) : nullptr;
    if (bio == nullptr) {
      err = ossl_reason("out of memory");
      return false;
    }
    BIO_set_data(bio, this);
    SSL_set_bio(ssl_, bio, bio);  // one BIO both ways: the SSL takes our one reference
    SSL_set_accept_state(ssl_);
    return true;
  }

  std::string description() const override {
    if (!handshake_done_) return {};
    std::string out = SSL_get_version(ssl_);
    if (const SSL_CIPHER* c = SSL_get_current_cipher(ssl_)) {
      // The IANA name, as the mbed TLS backend reports it.
      const char* name = SSL_CIPHER_standard_name(c);
      out += ' ';
      out += name != nullptr ? name : SSL_CIPHER_get_name(c);
    }
    return out;
  }

  // BIO callbacks.
  int on_read(char* data, int len) {
    if (input_.empty()) return -1;
    const std::size_t n = std::min(input_.size(), static_cast<std::size_t>(len));
    std::memcpy(data, input_.data(), n);
    input_.remove_prefix(n);
    return static_cast<int>(n);
  }
  void on_write(const char* data, int len) { output_.append(data, static_cast<std::size_t>(len)); }
  bool input_empty() const { return input_.empty(); }

 private:
  void begin_feed() override { ERR_clear_error(); }
  void send_close_notify() override {
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
  }

  bool fail(std::string why) {
    failed_ = true;
    error_ = std::move(why);
    pending_.clear();
    pending_.shrink_to_fit();
    return false;
  }

  // The reason for a failed call: OpenSSL's queue, plus the certificate check's detail.
  bool fail_from(int ret, const char* what) {
    const int e = SSL_get_error(ssl_, ret);
    std::string why;
    if (e == SSL_ERROR_SSL) {
      why = ossl_reason(what);
      const long vr = SSL_get_verify_result(ssl_);
      if (vr != X509_V_OK && why == "certificate verify failed") {
        why += ": ";
        why += X509_verify_cert_error_string(vr);
      }
    } else if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN) {
      why = std::string(what) + ": unexpected end of stream";
      ERR_clear_error();
    } else {
      why = std::string(what) + ": error " + std::to_string(e);
      ERR_clear_error();
    }
    return fail(std::move(why));
  }

  bool handshake() override {
    const int ret = SSL_do_handshake(ssl_);
    if (ret != 1) {
      if (SSL_get_error(ssl_, ret) == SSL_ERROR_WANT_READ) return true;
      return fail_from(ret, "handshake failed");
    }
    handshake_done_ = true;
    extract_peer_cn();
    if (!pending_.empty()) {
      std::string p;
      p.swap(pending_);
      return write_now(p);
    }
    return true;
  }

  // Decrypts every complete record; stops when OpenSSL wants more input. Reads through a
  // stack buffer so that `plain` grows by exactly what was decrypted (it is the
  // connection's read buffer; reading in place would add a record's worth of capacity).
  bool read_records(std::string& plain) override {
    char buf[16384];  // one TLS record's plaintext
    for (;;) {
      std::size_t got = 0;
      const int ret = SSL_read_ex(ssl_, buf, sizeof(buf), &got);
      if (ret == 1) {
        plain.append(buf, got);
        continue;
      }
      const int e = SSL_get_error(ssl_, ret);
      if (e == SSL_ERROR_WANT_READ) return true;
      if (e == SSL_ERROR_ZERO_RETURN) {
        peer_closed_ = true;
        return true;
      }
      return fail_from(ret, "read failed");
    }
  }

  bool write_now(std::string_view plain) override {
    ERR_clear_error();
    while (!plain.empty()) {
      std::size_t n = 0;
      const int ret = SSL_write_ex(ssl_, plain.data(), plain.size(), &n);
      if (ret != 1) return fail_from(ret, "write failed");
      plain.remove_prefix(n);
    }
    return true;
  }

  void extract_peer_cn() {
    X509* cert = SSL_get_peer_certificate(ssl_);
    if (cert == nullptr) return;
    // The handshake fails on an unverified certificate; check anyway, the CN may become
    // the username.
    if (SSL_get_verify_result(ssl_) == X509_V_OK) {
      const X509_NAME* name = X509_get_subject_name(cert);
      const int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
      if (idx >= 0) {
        const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
        unsigned char* utf8 = nullptr;
        const int len = ASN1_STRING_to_UTF8(&utf8, data);
        if (len > 0) {
          std::string cn(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
          if (valid_common_name(cn)) peer_cn_ = std::move(cn);
        }
        OPENSSL_free(utf8);
      }
    }
    X509_free(cert);
  }

  std::shared_ptr<const Shared> shared_;
  SSL* ssl_ = nullptr;
};

int bio_write(BIO* b, const char* data, int len) {
  static_cast<OsslSession*>(BIO_get_data(b))->on_write(data, len);
  return len;
}

int bio_read(BIO* b, char* data, int len) {
  BIO_clear_retry_flags(b);
  const int n = static_cast<OsslSession*>(BIO_get_data(b))->on_read(data, len);
  if (n < 0) BIO_set_retry_read(b);
  return n;
}

long bio_ctrl(BIO* b, int cmd, long /*num*/, void* /*ptr*/) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_PENDING:
      return static_cast<OsslSession*>(BIO_get_data(b))->input_empty() ? 0 : 1;
    case BIO_CTRL_WPENDING:
      return 0;  // written bytes are already in output()
    default:
      return 0;
  }
}

class OsslContext final : public ServerContext {
 public:
  explicit OsslContext(std::shared_ptr<const Shared> shared) : shared_(std::move(shared)) {}
  std::unique_ptr<Session> new_session() const override {
    auto s = std::make_unique<OsslSession>(shared_);
    std::string err;
    if (!s->init(err)) return nullptr;  // out of memory
    return s;
  }

 private:
  std::shared_ptr<const Shared> shared_;
};

bool load_error(const char* what, const std::string& path, std::string& error) {
  error = std::string("cannot read ") + what + " " + path + ": " + ossl_reason("invalid PEM");
  return false;
}

// `ciphers` holds TLS 1.2 cipher-list entries and TLS 1.3 suite names (TLS_*), ':'
// separated. The list is the whole allowed set: naming no TLS 1.3 suite turns TLS 1.3
// off, naming only TLS 1.3 suites turns TLS 1.2 off.
bool apply_ciphers(SSL_CTX* ctx, const ServerOptions& opts, std::string& error) {
  std::string v12, v13;
  for (const std::string& tok : split_list(opts.ciphers)) {
    if (tok.rfind("TLS_", 0) == 0) {
      if (!is_tls13_suite(tok)) {
        error = "unknown TLS 1.3 cipher suite '" + tok + "'";
        return false;
      }
      (v13.empty() ? v13 : v13 += ':') += tok;
    } else {
      (v12.empty() ? v12 : v12 += ':') += tok;
    }
  }
  if (v12.empty() && v13.empty()) {
    error = "cipher list '" + opts.ciphers + "' names no cipher";
    return false;
  }
  if (!v12.empty()) {
    if (opts.min_version == Version::v1_3) {
      error = "cipher list names TLS 1.2 ciphers but min_version is 1.3";
      return false;
    }
    if (SSL_CTX_set_cipher_list(ctx, v12.c_str()) != 1) {
      error = "no usable cipher in '" + v12 + "': " + ossl_reason("no cipher match");
      return false;
    }
  } else {
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  }
  if (SSL_CTX_set_ciphersuites(ctx, v13.c_str()) != 1) {
    error = "bad TLS 1.3 cipher suites '" + v13 + "': " + ossl_reason("invalid");
    return false;
  }
  if (v13.empty()) SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
  return true;
}

}  // namespace

std::shared_ptr<const ServerContext> ServerContext::create(const ServerOptions& opts,
                                                           std::string& error) {
  ERR_clear_error();
  if (opts.require_client_cert && opts.ca_file.empty()) {
    error = "require_client_cert needs a CA file to verify client certificates";
    return nullptr;
  }
  auto shared = std::make_shared<Shared>();
  shared->ctx = SSL_CTX_new(TLS_server_method());
  // A fixed type: BIO_get_new_index() hands out one of ~128 indices per call, and every
  // certificate reload creates a context. 127 is below the dynamic range and above
  // OpenSSL's own types; the type only matters to BIO_find_type(), which nobody calls.
  static constexpr int kBioType = (BIO_TYPE_START - 1) | BIO_TYPE_SOURCE_SINK;
  shared->bio_method = BIO_meth_new(kBioType, "tern");
  if (shared->ctx == nullptr || shared->bio_method == nullptr ||
      BIO_meth_set_write(shared->bio_method, bio_write) != 1 ||
      BIO_meth_set_read(shared->bio_method, bio_read) != 1 ||
      BIO_meth_set_ctrl(shared->bio_method, bio_ctrl) != 1 ||
      BIO_meth_set_create(shared->bio_method, bio_create) != 1) {
    error = "cannot create TLS context: " + ossl_reason("out of memory");
    return nullptr;
  }
  SSL_CTX* ctx = shared->ctx;
  SSL_CTX_set_min_proto_version(ctx, opts.min_version == Version::v1_3 ? TLS1_3_VERSION
                                                                      : TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                               SSL_OP_NO_COMPRESSION);
  // Idle connections give their 2 x ~17 KiB record buffers back (gateways hold many).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // No server-side session cache (it would grow with every client); resumption still works
  // through stateless tickets, one per connection instead of OpenSSL's default two.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 1);
  static constexpr unsigned char kSidCtx[] = "tern";
  SSL_CTX_set_session_id_context(ctx, kSidCtx, sizeof(kSidCtx) - 1);

  if (!readable(opts.cert_file, "certificate", error)) return nullptr;
  if (SSL_CTX_use_certificate_chain_file(ctx, opts.cert_file.c_str()) != 1) {
    load_error("certificate", opts.cert_file, error);
    return nullptr;
  }
  if (!readable(opts.key_file, "key", error)) return nullptr;
  if (SSL_CTX_use_PrivateKey_file(ctx, opts.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    const unsigned long e = ERR_peek_last_error();
    if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      error = "key " + opts.key_file + " does not match certificate " + opts.cert_file;
    } else {
      load_error("key", opts.key_file, error);
    }
    return nullptr;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    error = "key " + opts.key_file + " does not match certificate " + opts.cert_file;
    return nullptr;
  }
  if (!opts.ca_file.empty()) {
    if (!readable(opts.ca_file, "CA file", error)) return nullptr;
    if (SSL_CTX_load_verify_locations(ctx, opts.ca_file.c_str(), nullptr) != 1) {
      load_error("CA file", opts.ca_file, error);
      return nullptr;
    }
    // Tell clients which CAs we accept, so they pick the right certificate.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(opts.ca_file.c_str());
    if (names == nullptr) {
      load_error("CA file", opts.ca_file, error);
      return nullptr;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    // With a CA, a client certificate is asked for and, if given, must verify.
    SSL_CTX_set_verify(ctx,
                       SSL_VERIFY_PEER |
                           (opts.require_client_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                       nullptr);
  }
  if (!opts.ciphers.empty() && !apply_ciphers(ctx, opts, error)) return nullptr;
  ERR_clear_error();
  return std::make_shared<OsslContext>(std::move(shared));
}

}  // namespace tern::tls
