// Helpers for the WebSocket layer tests: a client's upgrade request and masked frames, and
// a parser for the server's frames.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/ws/websocket.hpp"

namespace tern::ws::test {

using Headers = std::vector<std::pair<std::string, std::string>>;

inline Headers default_headers() {
  return {{"Host", "127.0.0.1:8080"},
          {"Upgrade", "websocket"},
          {"Connection", "Upgrade"},
          {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
          {"Sec-WebSocket-Version", "13"},
          {"Sec-WebSocket-Protocol", "mqtt"}};
}

inline std::string request(const Headers& headers = default_headers(),
                           std::string_view line = "GET /mqtt HTTP/1.1") {
  std::string r(line);
  r += "\r\n";
  for (const auto& [name, value] : headers) r += name + ": " + value + "\r\n";
  r += "\r\n";
  return r;
}

// The default headers with `name` replaced by `value`, or removed when value is nullptr.
inline Headers with(std::string_view name, const char* value) {
  Headers h;
  for (auto& kv : default_headers()) {
    if (kv.first == name) {
      if (value != nullptr) h.emplace_back(kv.first, value);
    } else {
      h.push_back(kv);
    }
  }
  return h;
}

enum class LenForm { Auto, Ext16, Ext64 };

// A client frame with the raw first byte `b0` (FIN, RSV, opcode).
inline std::string frame(std::uint8_t b0, std::string_view payload, bool masked = true,
                         LenForm form = LenForm::Auto, std::uint32_t key = 0x37FA213D) {
  std::string f;
  f.push_back(static_cast<char>(b0));
  const std::uint8_t m = masked ? 0x80 : 0;
  const std::uint64_t len = payload.size();
  if (form == LenForm::Auto) form = len < 126 ? LenForm::Auto : len <= 0xFFFF ? LenForm::Ext16 : LenForm::Ext64;
  if (form == LenForm::Auto) {
    f.push_back(static_cast<char>(m | len));
  } else if (form == LenForm::Ext16) {
    f.push_back(static_cast<char>(m | 126));
    f.push_back(static_cast<char>(len >> 8));
    f.push_back(static_cast<char>(len));
  } else {
    f.push_back(static_cast<char>(m | 127));
    for (int s = 56; s >= 0; s -= 8) f.push_back(static_cast<char>(len >> s));
  }
  const std::uint8_t k[4] = {static_cast<std::uint8_t>(key >> 24),
                             static_cast<std::uint8_t>(key >> 16),
                             static_cast<std::uint8_t>(key >> 8), static_cast<std::uint8_t>(key)};
  if (masked) f.append(reinterpret_cast<const char*>(k), 4);
  for (std::size_t i = 0; i < payload.size(); ++i) {
    f.push_back(masked ? static_cast<char>(payload[i] ^ static_cast<char>(k[i % 4])) : payload[i]);
  }
  return f;
}

inline std::string binary(std::string_view payload, bool fin = true) {
  return frame(fin ? 0x82 : 0x02, payload);
}
inline std::string continuation(std::string_view payload, bool fin = true) {
  return frame(fin ? 0x80 : 0x00, payload);
}
inline std::string close_payload(std::uint16_t code, std::string_view reason = {}) {
  std::string p;
  p.push_back(static_cast<char>(code >> 8));
  p.push_back(static_cast<char>(code));
  p += reason;
  return p;
}

struct ServerFrame {
  std::uint8_t b0 = 0;
  std::string payload;
  std::uint8_t opcode() const { return b0 & 0x0F; }
  bool fin() const { return (b0 & 0x80) != 0; }
  std::uint16_t close_code() const {
    REQUIRE(payload.size() >= 2);
    return static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                      static_cast<std::uint8_t>(payload[1]));
  }
};

// Parses server frames, requiring them unmasked (RFC 6455 5.1) with minimal lengths.
inline std::vector<ServerFrame> parse_frames(std::string_view s) {
  std::vector<ServerFrame> out;
  std::size_t p = 0;
  while (p < s.size()) {
    REQUIRE(s.size() - p >= 2);
    ServerFrame f;
    f.b0 = static_cast<std::uint8_t>(s[p]);
    const auto b1 = static_cast<std::uint8_t>(s[p + 1]);
    REQUIRE((b1 & 0x80) == 0);
    REQUIRE((f.b0 & 0x70) == 0);
    p += 2;
    std::uint64_t len = b1 & 0x7F;
    if (len == 126) {
      REQUIRE(s.size() - p >= 2);
      len = (std::uint64_t{static_cast<std::uint8_t>(s[p])} << 8) | static_cast<std::uint8_t>(s[p + 1]);
      REQUIRE(len >= 126);
      p += 2;
    } else if (len == 127) {
      REQUIRE(s.size() - p >= 8);
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<std::uint8_t>(s[p + i]);
      REQUIRE(len > 0xFFFF);
      REQUIRE((len >> 63) == 0);
      p += 8;
    }
    REQUIRE(s.size() - p >= len);
    f.payload = std::string(s.substr(p, len));
    p += len;
    out.push_back(std::move(f));
  }
  return out;
}

// A session past a successful upgrade with its 101 answer removed from output().
inline ServerSession open_session(Options opts = {}) {
  ServerSession s(std::move(opts));
  std::string app;
  REQUIRE(s.feed(request(), app));
  REQUIRE(s.open());
  REQUIRE(s.output().rfind("HTTP/1.1 101 ", 0) == 0);
  REQUIRE(app.empty());
  s.output().clear();
  return s;
}

inline std::string pseudo_random_bytes(std::size_t n, std::uint32_t seed) {
  std::string s(n, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return s;
}

}  // namespace tern::ws::test
