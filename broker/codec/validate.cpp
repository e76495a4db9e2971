// UTF-8, topic name and topic filter validation (sections 1.5.4, 4.7 and 4.8.2).
#include <algorithm>
#include <cstring>

#include "broker/codec/codec.hpp"
#include "broker/codec/wire.hpp"

namespace tern::codec {
namespace {

constexpr std::uint64_t kHighBits = 0x8080808080808080ull;
constexpr std::uint64_t kLowBits = 0x0101010101010101ull;

bool is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

}  // namespace

bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    // Fast path: eight ASCII bytes, none of them NUL.
    if (end - p >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      const bool has_zero = ((w - kLowBits) & ~w & kHighBits) != 0;
      if ((w & kHighBits) == 0 && !has_zero) {
        p += 8;
        continue;
      }
    }
    const unsigned char c = *p;
    if (c < 0x80) {
      if (c == 0) return false;  // [MQTT-1.5.4-2] no U+0000
      ++p;
      continue;
    }
    // Table 3-7 of the Unicode standard: exact ranges exclude overlong forms, surrogates
    // (U+D800..U+DFFF) and code points above U+10FFFF [MQTT-1.5.4-1].
    std::size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;  // 0x80..0xC1 (continuation or overlong lead) or 0xF5..0xFF
    }
    if (static_cast<std::size_t>(end - p) <= need) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (std::size_t i = 2; i <= need; ++i) {
      if (!is_cont(p[i])) return false;
    }
    p += need + 1;
  }
  return true;
}

bool valid_topic_name(std::string_view s) {
  // [MQTT-4.7.3-1] at least one character; [MQTT-4.7.3-3] at most 65535 bytes.
  if (s.empty() || s.size() > 65535) return false;
  // [MQTT-3.3.2-2] / [MQTT-4.7.1-1] wildcards are for filters only.
  if (wire::has_wildcard(s)) return false;
  return valid_utf8(s);
}

namespace {

// A plain (non-shared) filter: each '+' or '#' occupies a whole level, '#' only last
// [MQTT-4.7.1-1], [MQTT-4.7.1-2].
bool valid_plain_filter(std::string_view s) {
  if (s.empty()) return false;  // [MQTT-4.7.3-1]
  std::size_t level_start = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '/') {
      level_start = i + 1;
    } else if (c == '+') {
      if (i != level_start) return false;
      if (i + 1 < s.size() && s[i + 1] != '/') return false;
    } else if (c == '#') {
      if (i != level_start || i + 1 != s.size()) return false;
    }
  }
  return true;
}

constexpr std::string_view kSharePrefix = "$share/";

}  // namespace

bool valid_topic_filter(std::string_view s) {
  if (s.empty() || s.size() > 65535) return false;
  if (!valid_utf8(s)) return false;
  if (s.substr(0, kSharePrefix.size()) == kSharePrefix) {
    // [MQTT-4.8.2-1] a ShareName of at least one character; [MQTT-4.8.2-2] no '/', '+' or
    // '#' in it, and it is followed by '/' and a Topic Filter.
    const std::string_view rest = s.substr(kSharePrefix.size());
    const std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos || slash == 0) return false;
    const std::string_view group = rest.substr(0, slash);
    if (wire::has_wildcard(group)) return false;
    return valid_plain_filter(rest.substr(slash + 1));
  }
  return valid_plain_filter(s);
}

std::optional<SharedFilter> parse_shared(std::string_view s) {
  if (s.substr(0, kSharePrefix.size()) != kSharePrefix) return std::nullopt;
  const std::string_view rest = s.substr(kSharePrefix.size());
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  return SharedFilter{rest.substr(0, slash), rest.substr(slash + 1)};
}

bool topic_matches(std::string_view filter, std::string_view topic) {
  if (!topic.empty() && topic.front() == '$' && !filter.empty() &&
      (filter.front() == '+' || filter.front() == '#'))
    return false;  // [MQTT-4.7.2-1]
  std::size_t f = 0;
  std::size_t t = 0;
  for (;;) {
    const std::size_t fe = std::min(filter.find('/', f), filter.size());
    const std::string_view flevel = filter.substr(f, fe - f);
    if (flevel == "#") return true;  // [MQTT-4.7.1-2] this level and all below
    const std::size_t te = std::min(topic.find('/', t), topic.size());
    if (flevel != "+" && flevel != topic.substr(t, te - t)) return false;
    const bool f_last = fe == filter.size();
    const bool t_last = te == topic.size();
    if (f_last || t_last) {
      if (f_last && t_last) return true;
      // "a/#" also matches "a": the filter's one remaining level is '#'.
      return t_last && filter.substr(fe + 1) == "#";
    }
    f = fe + 1;
    t = te + 1;
  }
}

}  // namespace tern::codec
