// Brute-force topic matching for tests: the rules of MQTT section 4.7 applied level by
// level, the reference that TopicTree and RetainedStore are checked against.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tern::core::test {

inline std::vector<std::string> split_levels(std::string_view s) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t slash = s.find('/', pos);
    if (slash == std::string_view::npos) {
      out.emplace_back(s.substr(pos));
      return out;
    }
    out.emplace_back(s.substr(pos, slash - pos));
    pos = slash + 1;
  }
}

// REQUIRES: filter and topic non-empty.
inline bool reference_match(std::string_view filter, std::string_view topic) {
  // [MQTT-4.7.2-1] a leading wildcard does not match a '$' topic.
  if (topic.front() == '$' && (filter.front() == '+' || filter.front() == '#')) return false;
  const auto f = split_levels(filter);
  const auto t = split_levels(topic);
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f[i] == "#") return true;  // this level and below, the parent level included
    if (i >= t.size()) return false;
    if (f[i] != "+" && f[i] != t[i]) return false;
  }
  return f.size() == t.size();
}

}  // namespace tern::core::test
