// Quoting of user-supplied text inside config error messages: at most 64 characters, with
// control characters masked so a hostile file cannot forge log lines.
// Thread safety: a pure function.
#pragma once

#include <string>
#include <string_view>

namespace tern::config::detail {

inline std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s.substr(0, 64)) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += '?';
    } else {
      out += c;
    }
  }
  if (s.size() > 64) out += "...";
  out += '"';
  return out;
}

}  // namespace tern::config::detail
