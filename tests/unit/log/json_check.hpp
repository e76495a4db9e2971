// A strict parser for the one JSON shape Tern's log lines have: a flat object whose values
// are strings or integers. Returns nullopt for anything that is not valid JSON of that
// shape (raw control characters, bad escapes, bytes that are not UTF-8, trailing bytes), so
// a test can assert that every line a formatter writes is a JSON document. Test-only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace tern::test {

class FlatJson {
 public:
  // Field name -> value (strings decoded; numbers kept as their text).
  using Object = std::map<std::string, std::string>;

  static std::optional<Object> parse(std::string_view s) {
    FlatJson p(s);
    Object o;
    if (!p.object(o)) return std::nullopt;
    p.ws();
    if (p.i_ != s.size()) return std::nullopt;
    return o;
  }

 private:
  explicit FlatJson(std::string_view s) : s_(s) {}

  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }
  bool eat(char c) {
    ws();
    if (i_ < s_.size() && s_[i_] == c) return ++i_, true;
    return false;
  }
  bool object(Object& o) {
    if (!eat('{')) return false;
    if (eat('}')) return true;
    do {
      std::string key;
      std::string value;
      ws();
      if (!string(key) || !eat(':')) return false;
      ws();
      if (i_ < s_.size() && s_[i_] == '"') {
        if (!string(value)) return false;
      } else if (!number(value)) {
        return false;
      }
      if (!o.emplace(std::move(key), std::move(value)).second) return false;  // duplicate
    } while (eat(','));
    return eat('}');
  }
  bool number(std::string& out) {
    const std::size_t start = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    const std::size_t digits = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    if (i_ == digits || (s_[digits] == '0' && i_ - digits > 1)) return false;
    out.assign(s_.substr(start, i_ - start));
    return true;
  }
  static void put_utf8(std::uint32_t cp, std::string& out) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  // Length of a valid UTF-8 sequence at i_, 0 if none.
  std::size_t utf8_len() const {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s_[k]); };
    const unsigned char c = b(i_);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    std::uint32_t min = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 2, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return 0;
    }
    if (i_ + n > s_.size()) return 0;
    for (std::size_t k = 1; k < n; ++k) {
      if ((b(i_ + k) & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (b(i_ + k) & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
  }
  bool string(std::string& out) {
    if (i_ >= s_.size() || s_[i_] != '"') return false;
    ++i_;
    while (i_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') return ++i_, true;
      if (c < 0x20) return false;  // raw control characters are not allowed in JSON strings
      if (c == '\\') {
        if (++i_ >= s_.size()) return false;
        const char e = s_[i_++];
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            if (i_ + 4 > s_.size()) return false;
            std::uint32_t cp = 0;
            for (int k = 0; k < 4; ++k) {
              const char h = s_[i_++];
              cp <<= 4;
              if (h >= '0' && h <= '9') cp |= static_cast<std::uint32_t>(h - '0');
              else if (h >= 'a' && h <= 'f') cp |= static_cast<std::uint32_t>(h - 'a' + 10);
              else if (h >= 'A' && h <= 'F') cp |= static_cast<std::uint32_t>(h - 'A' + 10);
              else return false;
            }
            if (cp >= 0xD800 && cp <= 0xDFFF) return false;  // no surrogate pairs in our lines
            put_utf8(cp, out);
            break;
          }
          default: return false;
        }
        continue;
      }
      if (c < 0x80) {
        out += static_cast<char>(c);
        ++i_;
        continue;
      }
      const std::size_t n = utf8_len();
      if (n == 0) return false;  // JSON text is UTF-8
      out.append(s_.substr(i_, n));
      i_ += n;
    }
    return false;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

}  // namespace tern::test
