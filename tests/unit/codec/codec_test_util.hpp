// Helpers shared by the codec unit tests: byte-array literals and decode shorthands.
#pragma once

#include <catch2/catch.hpp>

#include <initializer_list>
#include <string>
#include <string_view>

#include "broker/codec/codec.hpp"

namespace tern::codec::test {

inline constexpr ProtocolVersion v311 = ProtocolVersion::v311;
inline constexpr ProtocolVersion v5 = ProtocolVersion::v5;

// Builds a byte string from integers and/or text: bytes({0x10, 0x02}) or the `B` builder.
inline std::string bytes(std::initializer_list<int> list) {
  std::string s;
  s.reserve(list.size());
  for (int b : list) s.push_back(static_cast<char>(b));
  return s;
}

inline DecodeResult dec(std::string_view in, ProtocolVersion v = v5,
                        std::uint32_t max_packet_size = 268435460) {
  DecodeOptions o;
  o.version = v;
  o.max_packet_size = max_packet_size;
  return decode(in, o);
}

inline std::string enc(const Packet& p, ProtocolVersion v) {
  std::string out;
  encode(p, v, out);
  return out;
}

// Wraps a body in a fixed header with a one- or two-byte Remaining Length.
inline std::string packet(int first_byte, std::string_view body) {
  std::string s(1, static_cast<char>(first_byte));
  std::size_t n = body.size();
  do {
    std::uint8_t b = n & 0x7F;
    n >>= 7;
    if (n) b |= 0x80;
    s.push_back(static_cast<char>(b));
  } while (n);
  s.append(body);
  return s;
}

// Two-byte length prefix + text.
inline std::string str(std::string_view t) {
  std::string s;
  s.push_back(static_cast<char>(t.size() >> 8));
  s.push_back(static_cast<char>(t.size() & 0xFF));
  s.append(t);
  return s;
}

}  // namespace tern::codec::test

// Asserts that decoding `in` fails with `code`; prints the detail on failure.
#define REQUIRE_DECODE_ERROR(result_expr, code)                        \
  do {                                                                 \
    const ::tern::codec::DecodeResult r_ = (result_expr);              \
    INFO("detail: " << r_.detail);                                     \
    REQUIRE(r_.status == ::tern::codec::DecodeStatus::Error);          \
    REQUIRE(static_cast<int>(r_.reason) == static_cast<int>(code));    \
  } while (0)

#define REQUIRE_DECODE_OK(result_expr)                                 \
  do {                                                                 \
    const ::tern::codec::DecodeResult r_ = (result_expr);              \
    INFO("detail: " << r_.detail);                                     \
    REQUIRE(r_.status == ::tern::codec::DecodeStatus::Ok);             \
  } while (0)
