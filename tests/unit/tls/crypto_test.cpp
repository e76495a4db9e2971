// crypto.hpp on this build's backend: RFC vectors.
#include <catch2/catch.hpp>
#include <string>

#include "broker/tls/crypto.hpp"

using namespace tern::tls;

namespace {

template <std::size_t N>
std::string hex(const std::array<std::uint8_t, N>& a) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const std::uint8_t b : a) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::string raw(const std::array<std::uint8_t, 20>& a) {
  return std::string(reinterpret_cast<const char*>(a.data()), a.size());
}

}  // namespace

TEST_CASE("backend_name names the library", "[crypto]") {
  const std::string name = backend_name();
  CHECK(name.find(std::string_view(TERN_TLS_BACKEND) == "mbedtls" ? "mbed TLS" : "OpenSSL") == 0);
}

TEST_CASE("sha1: FIPS 180 vectors and the RFC 6455 accept key", "[crypto]") {
  CHECK(hex(sha1("abc")) == "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(hex(sha1("")) == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  CHECK(hex(sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  // RFC 6455 section 1.3.
  CHECK(base64_encode(raw(sha1("dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))) ==
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_CASE("base64: RFC 4648 section 10 vectors and malformed input", "[crypto]") {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, enc] : vectors) {
    CHECK(base64_encode(plain) == enc);
    CHECK(base64_decode(enc) == std::optional<std::string>(plain));
  }
  const std::string bin("\x00\xff\x10\x80", 4);
  CHECK(base64_decode(base64_encode(bin)) == std::optional<std::string>(bin));
  for (const char* bad : {"Zm9", "Zm9v!", "Zg=a", "=Zg=", "Zg==Zg==", "Zm9v\n", "Z===", "Zm 9"}) {
    INFO(bad);
    CHECK_FALSE(base64_decode(bad).has_value());
  }
}

TEST_CASE("pbkdf2_sha512 known vectors", "[crypto]") {
  std::array<std::uint8_t, 64> out{};
  REQUIRE(pbkdf2_sha512("password", "salt", 1, out));
  CHECK(hex(out) ==
        "867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252"
        "c02d470a285a0501bad999bfe943c08f050235d7d68b1da55e63f73b60a57fce");
  REQUIRE(pbkdf2_sha512("password", "salt", 2, out));
  CHECK(hex(out) ==
        "e1d9c16aa681708a45f5c7c4e215ceb66e011a2e9f0040713f18aefdb866d53c"
        "f76cab2868a39b9f7840edce4fef5a82be67335c77a6068e04112754f27ccf4e");
  REQUIRE(pbkdf2_sha512("passwordPASSWORDpassword", "saltSALTsaltSALTsaltSALTsaltSALTsalt",
                        4096, out));
  CHECK(hex(out) ==
        "8c0511f4c6e597c6ac6315d8f0362e225f3c501495ba23b868c005174dc4ee71"
        "115b59f9e60cd9532fa33e0f75aefe30225c583a186cd82bd4daea9724a3d3b8");
}

TEST_CASE("hmac_sha256: RFC 4231 test case 2", "[crypto]") {
  CHECK(hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("random_bytes and constant_time_equal", "[crypto]") {
  std::array<std::uint8_t, 32> a{}, b{};
  REQUIRE(random_bytes(a));
  REQUIRE(random_bytes(b));
  CHECK(a != b);
  std::array<std::uint8_t, 5000> big{};  // larger than one DRBG request
  REQUIRE(random_bytes(big));
  CHECK(constant_time_equal("", ""));
  CHECK(constant_time_equal("secret", "secret"));
  CHECK_FALSE(constant_time_equal("secret", "secreT"));
  CHECK_FALSE(constant_time_equal("secret", "Secret"));
  CHECK_FALSE(constant_time_equal("secret", "secrets"));
  CHECK_FALSE(constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
}
