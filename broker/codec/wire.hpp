// Codec-internal wire primitives: a bounds-checked Reader over untrusted bytes, and two
// writers with one interface (Appender appends, Counter only counts) so that every encoder
// is written once and its size is computed by the same code that writes it.
// Thread safety: plain values; no shared state. Not part of the public codec interface.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace tern::codec::wire {

// Largest Variable Byte Integer (section 1.5.5).
inline constexpr std::uint32_t kMaxVarint = 268'435'455;

enum class VarintStatus : std::uint8_t { Ok, Truncated, Malformed };

// Parses a Variable Byte Integer from [p, p+n). On Ok sets `value` and `len` (1..4).
// Malformed: a fifth byte would be needed, or the encoding is not the shortest one.
// [MQTT-1.5.5-1] (v5) makes the minimum number of bytes a MUST for the sender; MQTT 3.1.1
// section 2.2.3 defines the same minimal encoding algorithm. We reject non-minimal forms so
// that every length has exactly one accepted encoding (no parser differentials).
inline VarintStatus parse_varint(const unsigned char* p, std::size_t n, std::uint32_t& value,
                                 std::size_t& len) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    if (i >= n) return VarintStatus::Truncated;
    const std::uint32_t b = p[i];
    v |= (b & 0x7Fu) << (7 * i);
    if ((b & 0x80u) == 0) {
      if (i > 0 && b == 0) return VarintStatus::Malformed;  // non-minimal (trailing 0x00)
      value = v;
      len = i + 1;
      return VarintStatus::Ok;
    }
  }
  return VarintStatus::Malformed;  // continuation bit set on the fourth byte
}

inline std::size_t varint_len(std::uint32_t v) {
  return v < 128u ? 1 : v < 16'384u ? 2 : v < 2'097'152u ? 3 : 4;
}

// True when `s` holds '+' or '#'. Eight bytes at a time: std::string_view::find_first_of
// calls memchr once per character, which dominated PUBLISH decoding in profiles.
inline bool has_wildcard(std::string_view s) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ull;
  constexpr std::uint64_t kHigh = 0x8080808080808080ull;
  auto has_zero_byte = [](std::uint64_t w) { return ((w - kOnes) & ~w & kHigh) != 0; };
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (has_zero_byte(w ^ (kOnes * '+')) || has_zero_byte(w ^ (kOnes * '#'))) return true;
  }
  for (; i < s.size(); ++i) {
    if (s[i] == '+' || s[i] == '#') return true;
  }
  return false;
}

// Reads big-endian fields from an exact span. Every read is bounds-checked and returns
// false when the span is exhausted; it never reads past the end.
class Reader {
 public:
  Reader(const char* p, std::size_t n)
      : p_(reinterpret_cast<const unsigned char*>(p)), end_(p_ + n) {}

  std::size_t remaining() const { return static_cast<std::size_t>(end_ - p_); }
  bool empty() const { return p_ == end_; }

  bool u8(std::uint8_t& v) {
    if (p_ == end_) return false;
    v = *p_++;
    return true;
  }
  bool u16(std::uint16_t& v) {
    if (remaining() < 2) return false;
    v = static_cast<std::uint16_t>((p_[0] << 8) | p_[1]);
    p_ += 2;
    return true;
  }
  bool u32(std::uint32_t& v) {
    if (remaining() < 4) return false;
    v = (std::uint32_t{p_[0]} << 24) | (std::uint32_t{p_[1]} << 16) |
        (std::uint32_t{p_[2]} << 8) | std::uint32_t{p_[3]};
    p_ += 4;
    return true;
  }
  VarintStatus varint(std::uint32_t& v) {
    std::size_t len = 0;
    const VarintStatus s = parse_varint(p_, remaining(), v, len);
    if (s == VarintStatus::Ok) p_ += len;
    return s;
  }
  bool bytes(std::size_t n, std::string_view& v) {
    if (remaining() < n) return false;
    v = std::string_view(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return true;
  }
  // Two Byte Integer length followed by that many bytes: Binary Data and UTF-8 strings
  // share this shape (section 1.5.4 / 1.5.6); the caller validates text.
  bool prefixed(std::string_view& v) {
    std::uint16_t n = 0;
    return u16(n) && bytes(n, v);
  }
  std::string_view rest() {
    std::string_view v(reinterpret_cast<const char*>(p_), remaining());
    p_ = end_;
    return v;
  }
  // Splits off the next n bytes as their own reader. REQUIRES: n <= remaining().
  Reader take(std::size_t n) {
    Reader r(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return r;
  }

 private:
  const unsigned char* p_;
  const unsigned char* end_;
};

// Appends big-endian fields to a caller's buffer.
class Appender {
 public:
  explicit Appender(std::string& out) : out_(out) {}
  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(std::uint16_t v) {
    const char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
    out_.append(b, 2);
  }
  void u32(std::uint32_t v) {
    const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                       static_cast<char>(v >> 8), static_cast<char>(v)};
    out_.append(b, 4);
  }
  void varint(std::uint32_t v) {
    char b[4];
    std::size_t n = 0;
    do {
      std::uint8_t byte = v & 0x7F;
      v >>= 7;
      if (v != 0) byte |= 0x80;
      b[n++] = static_cast<char>(byte);
    } while (v != 0 && n < 4);
    out_.append(b, n);
  }
  void raw(std::string_view s) { out_.append(s.data(), s.size()); }
  // REQUIRES: s.size() <= 65535 (callers build valid packets).
  void prefixed(std::string_view s) {
    u16(static_cast<std::uint16_t>(s.size()));
    raw(s);
  }

 private:
  std::string& out_;
};

// Same interface as Appender; only adds up the bytes that would be written.
class Counter {
 public:
  void u8(std::uint8_t) { n_ += 1; }
  void u16(std::uint16_t) { n_ += 2; }
  void u32(std::uint32_t) { n_ += 4; }
  void varint(std::uint32_t v) { n_ += varint_len(v); }
  void raw(std::string_view s) { n_ += s.size(); }
  void prefixed(std::string_view s) { n_ += 2 + s.size(); }
  std::size_t size() const { return n_; }

 private:
  std::size_t n_ = 0;
};

}  // namespace tern::codec::wire
