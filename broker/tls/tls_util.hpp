// Private helpers shared by the two TLS backends (not part of tls.hpp's interface).
// Thread safety: pure functions.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace tern::tls {

// Splits a ':'-separated list (spaces and ',' also separate), dropping empty entries.
inline std::vector<std::string> split_list(std::string_view list) {
  std::vector<std::string> out;
  std::string cur;
  for (const char c : list) {
    if (c == ':' || c == ',' || c == ' ') {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

// The five TLS 1.3 suites of RFC 8446 (IANA names).
inline bool is_tls13_suite(std::string_view name) {
  static constexpr std::string_view kSuites[] = {
      "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
      "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"};
  return std::find(std::begin(kSuites), std::end(kSuites), name) != std::end(kSuites);
}

// A Common Name usable as a username: non-empty, no NUL or other control characters
// (a certificate could carry "admin\0.evil"), at most 65535 bytes (an MQTT string).
inline bool valid_common_name(std::string_view cn) {
  if (cn.empty() || cn.size() > 65535) return false;
  return std::none_of(cn.begin(), cn.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
}

// True if `path` opens for reading; otherwise `error` says "cannot read <what> <path>:
// <strerror>" (the libraries' own messages for a missing file are vague).
inline bool readable(const std::string& path, const char* what, std::string& error) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    error = std::string("cannot read ") + what + " " + path + ": " + std::strerror(errno);
    return false;
  }
  std::fclose(f);
  return true;
}

}  // namespace tern::tls
