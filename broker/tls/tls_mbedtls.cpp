// tls.hpp on mbed TLS 2.28 (TLS 1.2 only: 2.28's TLS 1.3 is an experimental client-side
// prototype). A context is one mbedtls_ssl_config with its certificates, key and a seeded
// CTR-DRBG; a session is one mbedtls_ssl_context whose bio callbacks read from the bytes
// handed to feed() and append to output().
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

#include "broker/tls/session_base.hpp"
#include "broker/tls/tls.hpp"
#include "broker/tls/tls_util.hpp"

namespace tern::tls {

bool supports_tls13() { return false; }

namespace {

std::string mbed_error(int ret) {
  char buf[160];
  mbedtls_strerror(ret, buf, sizeof(buf));
  return buf;
}

// RFC 8446 6.2 / RFC 5246 7.2 alert descriptions, named as OpenSSL names them.
std::string alert_name(unsigned char code) {
  switch (code) {
    case 0: return "close notify";
    case 10: return "unexpected message";
    case 20: return "bad record mac";
    case 22: return "record overflow";
    case 40: return "handshake failure";
    case 42: return "bad certificate";
    case 43: return "unsupported certificate";
    case 44: return "certificate revoked";
    case 45: return "certificate expired";
    case 46: return "certificate unknown";
    case 47: return "illegal parameter";
    case 48: return "unknown ca";
    case 49: return "access denied";
    case 50: return "decode error";
    case 51: return "decrypt error";
    case 70: return "protocol version";
    case 71: return "insufficient security";
    case 80: return "internal error";
    case 86: return "inappropriate fallback";
    case 90: return "user canceled";
    case 109: return "missing extension";
    case 110: return "unsupported extension";
    case 112: return "unrecognized name";
    case 116: return "certificate required";
    case 120: return "no application protocol";
    default: return "alert " + std::to_string(code);
  }
}

// mbedtls_x509_crt_verify_info's lines joined into one ("The certificate validity has
// expired; ...").
std::string verify_info(std::uint32_t flags) {
  char buf[512];
  const int n = mbedtls_x509_crt_verify_info(buf, sizeof(buf), "", flags);
  std::string out;
  for (std::string_view rest(buf, n > 0 ? static_cast<std::size_t>(n) : 0); !rest.empty();) {
    const std::size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    if (!line.empty()) {
      if (!out.empty()) out += "; ";
      out += line;
    }
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  return out.empty() ? "flags " + std::to_string(flags) : out;
}

// What the context owns; sessions hold it too (mbedtls_ssl_context points into the
// config), so a context dropped by a reload stays valid for the connections it made.
struct Shared {
  mbedtls_ssl_config conf;
  mbedtls_x509_crt chain;
  mbedtls_pk_context key;
  mbedtls_x509_crt ca;
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  std::mutex rng_mu;  // the DRBG is shared by every session, on any thread
  std::vector<int> suites;  // 0-terminated; the config points into it
  bool verify_optional = false;

  Shared() {
    mbedtls_ssl_config_init(&conf);
    mbedtls_x509_crt_init(&chain);
    mbedtls_pk_init(&key);
    mbedtls_x509_crt_init(&ca);
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
  }
  ~Shared() {
    mbedtls_ssl_config_free(&conf);
    mbedtls_x509_crt_free(&chain);
    mbedtls_pk_free(&key);
    mbedtls_x509_crt_free(&ca);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
  }
  Shared(const Shared&) = delete;
  Shared& operator=(const Shared&) = delete;

  static int rng(void* p, unsigned char* out, std::size_t len) {
    auto* self = static_cast<Shared*>(p);
    std::lock_guard<std::mutex> lk(self->rng_mu);
    return mbedtls_ctr_drbg_random(&self->drbg, out, len);
  }
};

// The first Common Name of a certificate subject as UTF-8, or nullopt.
std::optional<std::string> common_name(const mbedtls_x509_crt& crt) {
  for (const mbedtls_x509_name* n = &crt.subject; n != nullptr; n = n->next) {
    if (n->oid.p == nullptr || MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) != 0) continue;
    const std::string_view raw(reinterpret_cast<const char*>(n->val.p), n->val.len);
    std::string cn;
    switch (n->val.tag) {
      case MBEDTLS_ASN1_UTF8_STRING:
      case MBEDTLS_ASN1_PRINTABLE_STRING:
      case MBEDTLS_ASN1_IA5_STRING:
        cn = raw;
        break;
      case MBEDTLS_ASN1_T61_STRING:  // treated as Latin-1, as OpenSSL does
        for (const char ch : raw) {
          const auto c = static_cast<unsigned char>(ch);
          if (c < 0x80) {
            cn += ch;
          } else {
            cn += static_cast<char>(0xC0 | (c >> 6));
            cn += static_cast<char>(0x80 | (c & 0x3F));
          }
        }
        break;
      case MBEDTLS_ASN1_BMP_STRING:  // UCS-2 big-endian
        if (raw.size() % 2 != 0) return std::nullopt;
        for (std::size_t i = 0; i < raw.size(); i += 2) {
          const unsigned u = (static_cast<unsigned char>(raw[i]) << 8) |
                             static_cast<unsigned char>(raw[i + 1]);
          if (u >= 0xD800 && u <= 0xDFFF) return std::nullopt;
          if (u < 0x80) {
            cn += static_cast<char>(u);
          } else if (u < 0x800) {
            cn += static_cast<char>(0xC0 | (u >> 6));
            cn += static_cast<char>(0x80 | (u & 0x3F));
          } else {
            cn += static_cast<char>(0xE0 | (u >> 12));
            cn += static_cast<char>(0x80 | ((u >> 6) & 0x3F));
            cn += static_cast<char>(0x80 | (u & 0x3F));
          }
        }
        break;
      default:
        return std::nullopt;
    }
    if (!valid_common_name(cn)) return std::nullopt;
    return cn;
  }
  return std::nullopt;
}

class MbedSession final : public SessionBase {
 public:
  explicit MbedSession(std::shared_ptr<const Shared> shared) : shared_(std::move(shared)) {
    mbedtls_ssl_init(&ssl_);
  }
  ~MbedSession() override { mbedtls_ssl_free(&ssl_); }
  MbedSession(const MbedSession&) = delete;
  MbedSession& operator=(const MbedSession&) = delete;

  bool init() {
    if (mbedtls_ssl_setup(&ssl_, &shared_->conf) != 0) return false;
    mbedtls_ssl_set_bio(&ssl_, this, &MbedSession::send_cb, &MbedSession::recv_cb, nullptr);
    mbedtls_ssl_set_verify(&ssl_, &MbedSession::verify_cb, this);
    return true;
  }

  std::string description() const override {
    if (!handshake_done_) return {};
    // "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256" -> the IANA name, as OpenSSL reports it.
    std::string suite = mbedtls_ssl_get_ciphersuite(&ssl_);
    std::replace(suite.begin(), suite.end(), '-', '_');
    return std::string(mbedtls_ssl_get_version(&ssl_)) + " " + suite;
  }

 private:
  void send_close_notify() override { mbedtls_ssl_close_notify(&ssl_); }

  static int send_cb(void* p, const unsigned char* buf, std::size_t len) {
    auto* self = static_cast<MbedSession*>(p);
    // Every call starts a record (we always take all of it): note alerts we sent.
    if (len > 0 && buf[0] == MBEDTLS_SSL_MSG_ALERT) self->alert_sent_ = true;
    self->output_.append(reinterpret_cast<const char*>(buf), len);
    return static_cast<int>(len);
  }

  static int recv_cb(void* p, unsigned char* buf, std::size_t len) {
    auto* self = static_cast<MbedSession*>(p);
    if (self->input_.empty()) return MBEDTLS_ERR_SSL_WANT_READ;
    const std::size_t n = std::min(len, self->input_.size());
    std::memcpy(buf, self->input_.data(), n);
    self->input_.remove_prefix(n);
    return static_cast<int>(n);
  }

  // Called for each certificate of the client's chain. With an optional client
  // certificate mbed TLS would finish the handshake despite a failed check; a presented
  // certificate must verify, so the failure is made fatal here.
  static int verify_cb(void* p, mbedtls_x509_crt* /*crt*/, int /*depth*/,
                       std::uint32_t* flags) {
    auto* self = static_cast<MbedSession*>(p);
    self->verify_flags_ |= *flags;
    if (*flags != 0 && self->shared_->verify_optional) return MBEDTLS_ERR_X509_FATAL_ERROR;
    return 0;
  }

  bool fail(std::string why, unsigned char alert) {
    // mbed TLS sends an alert for most failures, not all (e.g. a missing client
    // certificate); the peer deserves to know why it is being dropped.
    if (!alert_sent_ && alert != 0) {
      mbedtls_ssl_send_alert_message(&ssl_, MBEDTLS_SSL_ALERT_LEVEL_FATAL, alert);
    }
    failed_ = true;
    error_ = std::move(why);
    pending_.clear();
    pending_.shrink_to_fit();
    return false;
  }

  bool fail_from(int ret, const char* what) {
    if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
      // The peer's alert: in_msg holds [level, description].
      const unsigned char desc = ssl_.in_msg != nullptr ? ssl_.in_msg[1] : 255;
      alert_sent_ = true;  // no answer to a fatal alert
      return fail("peer sent alert: " + alert_name(desc), 0);
    }
    if (ret == MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE) {
      // Checks after the chain verification (key usage) report only through the flags.
      const std::uint32_t vr = mbedtls_ssl_get_verify_result(&ssl_);
      if (vr != 0 && vr != 0xFFFFFFFFu) verify_flags_ |= vr;
    }
    if (verify_flags_ != 0 || ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
      return fail("certificate verify failed: " + verify_info(verify_flags_),
                  MBEDTLS_SSL_ALERT_MSG_BAD_CERT);
    }
    switch (ret) {
      case MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE:
        return fail("peer did not return a certificate", MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE);
      case MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN:
      case MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE:
        return fail("no shared cipher", MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE);
      case MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION:
        return fail("unsupported protocol version", MBEDTLS_SSL_ALERT_MSG_PROTOCOL_VERSION);
      default:
        return fail(std::string(what) + ": " + mbed_error(ret),
                    handshake_done_ ? 0 : MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE);
    }
  }

  bool handshake() override {
    const int ret = mbedtls_ssl_handshake(&ssl_);
    if (ret == MBEDTLS_ERR_SSL_WANT_READ) return true;
    if (ret != 0) return fail_from(ret, "handshake failed");
    handshake_done_ = true;
    if (const mbedtls_x509_crt* peer = mbedtls_ssl_get_peer_cert(&ssl_)) {
      // Backstop for checks the callback does not see (key usage in optional mode).
      const std::uint32_t vr = mbedtls_ssl_get_verify_result(&ssl_);
      if (vr != 0) {
        handshake_done_ = false;
        verify_flags_ |= vr;
        return fail("certificate verify failed: " + verify_info(vr),
                    MBEDTLS_SSL_ALERT_MSG_BAD_CERT);
      }
      peer_cn_ = common_name(*peer);
    }
    if (!pending_.empty()) {
      std::string p;
      p.swap(pending_);
      return write_now(p);
    }
    return true;
  }

  // Decrypts every complete record; stops when mbed TLS wants more input. Reads through a
  // stack buffer so that `plain` grows by exactly what was decrypted.
  bool read_records(std::string& plain) override {
    unsigned char buf[16384];  // one TLS record's plaintext
    for (;;) {
      const int ret = mbedtls_ssl_read(&ssl_, buf, sizeof(buf));
      if (ret > 0) {
        plain.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(ret));
        continue;
      }
      if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == 0) return true;
      if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
        peer_closed_ = true;
        return true;
      }
      return fail_from(ret, "read failed");
    }
  }

  bool write_now(std::string_view plain) override {
    while (!plain.empty()) {
      const int ret = mbedtls_ssl_write(
          &ssl_, reinterpret_cast<const unsigned char*>(plain.data()), plain.size());
      if (ret <= 0) return fail_from(ret, "write failed");
      plain.remove_prefix(static_cast<std::size_t>(ret));
    }
    return true;
  }

  std::shared_ptr<const Shared> shared_;
  mbedtls_ssl_context ssl_;
  std::uint32_t verify_flags_ = 0;
  bool alert_sent_ = false;
};

class MbedContext final : public ServerContext {
 public:
  explicit MbedContext(std::shared_ptr<const Shared> shared) : shared_(std::move(shared)) {}
  std::unique_ptr<Session> new_session() const override {
    auto s = std::make_unique<MbedSession>(shared_);
    if (!s->init()) return nullptr;  // out of memory
    return s;
  }

 private:
  std::shared_ptr<const Shared> shared_;
};

// mbed TLS computes an EC group's fixed-point table (for k*G) on first use and stores it
// in the group without a lock. The server key and the CA keys are shared by sessions on
// every io thread, so the tables are built here, before the context is shared.
void precompute_ec(mbedtls_pk_context& pk, Shared& sh) {
  if (!mbedtls_pk_can_do(&pk, MBEDTLS_PK_ECKEY)) return;
  mbedtls_ecp_keypair* kp = mbedtls_pk_ec(pk);
  mbedtls_ecp_point r;
  mbedtls_mpi one;
  mbedtls_ecp_point_init(&r);
  mbedtls_mpi_init(&one);
  if (mbedtls_mpi_lset(&one, 1) == 0) {
    mbedtls_ecp_mul(&kp->grp, &r, &one, &kp->grp.G, &Shared::rng, &sh);
  }
  mbedtls_mpi_free(&one);
  mbedtls_ecp_point_free(&r);
}

// Parses a PEM certificate file; every certificate in it must parse.
bool load_certs(mbedtls_x509_crt* crt, const std::string& path, const char* what,
                std::string& error) {
  if (!readable(path, what, error)) return false;
  const int ret = mbedtls_x509_crt_parse_file(crt, path.c_str());
  if (ret != 0) {
    error = std::string("cannot read ") + what + " " + path + ": " +
            (ret > 0 ? std::to_string(ret) + " certificate(s) failed to parse" : mbed_error(ret));
    return false;
  }
  return true;
}

// `ciphers`: mbed TLS suite names ("TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"; the IANA
// spelling with '_' is accepted too), ':' separated.
bool apply_ciphers(Shared& sh, const std::string& list, std::string& error) {
  for (std::string name : split_list(list)) {
    const std::string given = name;
    std::replace(name.begin(), name.end(), '_', '-');
    const int id = mbedtls_ssl_get_ciphersuite_id(name.c_str());
    if (id == 0) {
      error = "unknown cipher suite '" + given + "'";
      if (is_tls13_suite(given)) error += " (this mbed TLS build has no TLS 1.3)";
      return false;
    }
    sh.suites.push_back(id);
  }
  if (sh.suites.empty()) {
    error = "cipher list '" + list + "' names no cipher";
    return false;
  }
  sh.suites.push_back(0);
  mbedtls_ssl_conf_ciphersuites(&sh.conf, sh.suites.data());
  return true;
}

}  // namespace

std::shared_ptr<const ServerContext> ServerContext::create(const ServerOptions& opts,
                                                           std::string& error) {
  if (opts.min_version == Version::v1_3) {
    error = std::string("TLS 1.3 is not available with mbed TLS ") + MBEDTLS_VERSION_STRING +
            " (min_version must be 1.2)";
    return nullptr;
  }
  if (opts.require_client_cert && opts.ca_file.empty()) {
    error = "require_client_cert needs a CA file to verify client certificates";
    return nullptr;
  }
  auto sh = std::make_shared<Shared>();
  static constexpr unsigned char kPers[] = "tern tls";
  int ret = mbedtls_ctr_drbg_seed(&sh->drbg, mbedtls_entropy_func, &sh->entropy, kPers,
                                  sizeof(kPers) - 1);
  if (ret != 0) {
    error = "cannot seed the random generator: " + mbed_error(ret);
    return nullptr;
  }
  ret = mbedtls_ssl_config_defaults(&sh->conf, MBEDTLS_SSL_IS_SERVER,
                                    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
  if (ret != 0) {
    error = "cannot create TLS context: " + mbed_error(ret);
    return nullptr;
  }
  mbedtls_ssl_conf_rng(&sh->conf, &Shared::rng, sh.get());
  mbedtls_ssl_conf_min_version(&sh->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                               MBEDTLS_SSL_MINOR_VERSION_3);  // TLS 1.2
  mbedtls_ssl_conf_renegotiation(&sh->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);

  if (!load_certs(&sh->chain, opts.cert_file, "certificate", error)) return nullptr;
  if (!readable(opts.key_file, "key", error)) return nullptr;
  ret = mbedtls_pk_parse_keyfile(&sh->key, opts.key_file.c_str(), nullptr);
  if (ret != 0) {
    error = "cannot read key " + opts.key_file + ": " + mbed_error(ret);
    return nullptr;
  }
  if (mbedtls_pk_check_pair(&sh->chain.pk, &sh->key) != 0) {
    error = "key " + opts.key_file + " does not match certificate " + opts.cert_file;
    return nullptr;
  }
  ret = mbedtls_ssl_conf_own_cert(&sh->conf, &sh->chain, &sh->key);
  if (ret != 0) {
    error = "cannot use certificate " + opts.cert_file + ": " + mbed_error(ret);
    return nullptr;
  }
  if (opts.ca_file.empty()) {
    mbedtls_ssl_conf_authmode(&sh->conf, MBEDTLS_SSL_VERIFY_NONE);
  } else {
    if (!load_certs(&sh->ca, opts.ca_file, "CA file", error)) return nullptr;
    mbedtls_ssl_conf_ca_chain(&sh->conf, &sh->ca, nullptr);
    // With a CA, a client certificate is asked for and, if given, must verify
    // (MbedSession::verify_cb makes that so in the optional mode).
    sh->verify_optional = !opts.require_client_cert;
    mbedtls_ssl_conf_authmode(&sh->conf, opts.require_client_cert
                                             ? MBEDTLS_SSL_VERIFY_REQUIRED
                                             : MBEDTLS_SSL_VERIFY_OPTIONAL);
  }
  if (!opts.ciphers.empty() && !apply_ciphers(*sh, opts.ciphers, error)) return nullptr;
  precompute_ec(sh->key, *sh);
  for (mbedtls_x509_crt* c = &sh->ca; c != nullptr && c->raw.p != nullptr; c = c->next) {
    precompute_ec(c->pk, *sh);
  }
  return std::make_shared<MbedContext>(std::move(sh));
}

}  // namespace tern::tls
