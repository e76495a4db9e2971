// Cryptographic primitives Tern needs outside the TLS record layer (WebSocket accept keys,
// password hashing), implemented by the TLS backend chosen at build time (TERN_TLS=openssl
// or mbedtls), so that a build links exactly one crypto library.
// Thread safety: every function is reentrant and may be called from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace tern::tls {

// "OpenSSL 3.0.11" or "mbed TLS 2.28.3": the library this build uses, for logs.
std::string backend_name();

std::array<std::uint8_t, 20> sha1(std::string_view data);
// RFC 4648 base64 with padding.
std::string base64_encode(std::string_view bytes);
// nullopt on malformed input (bad characters or padding).
std::optional<std::string> base64_decode(std::string_view text);

// PBKDF2-HMAC-SHA512 (RFC 8018) into `out`. False only if the library fails.
// REQUIRES: iterations >= 1, !out.empty().
bool pbkdf2_sha512(std::string_view password, std::string_view salt, std::uint32_t iterations,
                   std::span<std::uint8_t> out);
// HMAC-SHA256 of `data` under `key`.
std::array<std::uint8_t, 32> hmac_sha256(std::string_view key, std::string_view data);

// Cryptographically secure random bytes. False if the library's generator failed.
bool random_bytes(std::span<std::uint8_t> out);

// Compares in time that depends only on the lengths, not on where the contents differ.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace tern::tls
