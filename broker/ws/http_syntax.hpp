// HTTP/1.1 syntax helpers shared by the two request-head parsers, the WebSocket upgrade
// (broker/ws/handshake.cpp) and the operations endpoint (broker/ops/http_request.cpp):
// header-only, so ops uses them without linking the WebSocket layer (which a build may
// leave out). Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string_view>

namespace tern::http_syntax {

inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// Optional white space (RFC 9110 5.6.3).
inline bool is_ows(char c) { return c == ' ' || c == '\t'; }

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// RFC 9110 5.6.2 tchar.
inline bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

inline bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

}  // namespace tern::http_syntax
