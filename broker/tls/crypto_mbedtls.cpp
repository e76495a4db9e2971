// crypto.hpp on mbed TLS (libmbedcrypto), 2.28 and later.
#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/sha1.h>
#include <mbedtls/version.h>

#include <mutex>

#include "broker/tls/crypto.hpp"

namespace tern::tls {
namespace {

// One seeded DRBG for the process; mbed TLS's DRBG is not thread-safe without
// MBEDTLS_THREADING, so calls are serialised here.
struct Drbg {
  std::mutex mu;
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  bool ok = false;
  Drbg() {
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    static constexpr unsigned char kPers[] = "tern";
    ok = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, kPers,
                               sizeof(kPers) - 1) == 0;
  }
  ~Drbg() {
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
  }
};

Drbg& drbg() {
  static Drbg d;  // constructed on first use, thread-safe
  return d;
}

}  // namespace

std::string backend_name() { return std::string("mbed TLS ") + MBEDTLS_VERSION_STRING; }

std::array<std::uint8_t, 20> sha1(std::string_view data) {
  std::array<std::uint8_t, 20> out{};
  mbedtls_sha1_ret(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  std::size_t n = 0;
  mbedtls_base64_encode(reinterpret_cast<unsigned char*>(out.data()), out.size(), &n,
                        reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  out.resize(n);
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  // mbed TLS accepts embedded line breaks; MQTT-side inputs must be one clean token.
  if (text.size() % 4 != 0) return std::nullopt;
  for (const char c : text) {
    if (c == '\r' || c == '\n' || c == ' ') return std::nullopt;
  }
  std::string out(text.size() / 4 * 3, '\0');
  std::size_t n = 0;
  if (mbedtls_base64_decode(reinterpret_cast<unsigned char*>(out.data()), out.size(), &n,
                            reinterpret_cast<const unsigned char*>(text.data()),
                            text.size()) != 0) {
    return std::nullopt;
  }
  out.resize(n);
  return out;
}

bool pbkdf2_sha512(std::string_view password, std::string_view salt, std::uint32_t iterations,
                   std::span<std::uint8_t> out) {
  if (iterations == 0 || out.empty() || out.size() > UINT32_MAX) return false;
  mbedtls_md_context_t ctx;
  mbedtls_md_init(&ctx);
  bool ok = mbedtls_md_setup(&ctx, mbedtls_md_info_from_type(MBEDTLS_MD_SHA512), 1) == 0 &&
            mbedtls_pkcs5_pbkdf2_hmac(&ctx,
                                      reinterpret_cast<const unsigned char*>(password.data()),
                                      password.size(),
                                      reinterpret_cast<const unsigned char*>(salt.data()),
                                      salt.size(), iterations,
                                      static_cast<std::uint32_t>(out.size()), out.data()) == 0;
  mbedtls_md_free(&ctx);
  return ok;
}

std::array<std::uint8_t, 32> hmac_sha256(std::string_view key, std::string_view data) {
  std::array<std::uint8_t, 32> out{};
  mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                  reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                  reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
  return out;
}

bool random_bytes(std::span<std::uint8_t> out) {
  Drbg& d = drbg();
  std::lock_guard<std::mutex> lk(d.mu);
  if (!d.ok) return false;
  // ctr_drbg hands out at most MBEDTLS_CTR_DRBG_MAX_REQUEST bytes per call.
  std::size_t off = 0;
  while (off < out.size()) {
    const std::size_t n = std::min<std::size_t>(out.size() - off, MBEDTLS_CTR_DRBG_MAX_REQUEST);
    if (mbedtls_ctr_drbg_random(&d.drbg, out.data() + off, n) != 0) return false;
    off += n;
  }
  return true;
}

}  // namespace tern::tls
