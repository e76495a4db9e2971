// config_keys(): the keys the loader accepts, learnt from the readers themselves. Every
// reader asks its MapReader for each key it knows whether or not the file has it (that is
// how unknown keys are found), so reading a probe document with the key recording on
// yields a section's keys. A key whose value, given as a mapping or as a list of one
// mapping, makes new keys appear below it is a nested section; the probe grows until no
// key adds more. The errors the probes cause are ignored.

#include <yaml-cpp/yaml.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "broker/config/config.hpp"
#include "broker/config/reader.hpp"
#include "broker/config/sections.hpp"

namespace tern::config {
namespace {

// The probe document: mappings and lists of one mapping; leaves are left out (absent
// keys are still asked for).
struct Probe {
  bool list = false;  // a list holding one mapping with `keys`
  std::map<std::string, Probe> keys;
};

std::string emit(const Probe& p) {
  std::string out = "{";
  for (const auto& [k, v] : p.keys) {
    if (out.size() > 1) out += ", ";
    out += k + ": " + emit(v);
  }
  out += "}";
  return p.list ? "[" + out + "]" : out;
}

std::set<std::string> read_probe(const Probe& root) {
  std::set<std::string> keys;
  detail::Diagnostics d;
  d.record_keys(&keys);
  Config c = defaults();
  detail::read_config(YAML::Load(emit(root)), d, c);
  return keys;
}

// Splits "bridges[].tls.ca" into the probe's keys: "bridges", "tls", "ca" (a "[]" says the
// value is a list, which the probe records in Probe::list).
std::vector<std::string> split(const std::string& path) {
  std::vector<std::string> out;
  std::string cur;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '.') {
      out.push_back(cur);
      cur.clear();
    } else if (path[i] == '[') {
      i = path.find(']', i);
    } else {
      cur += path[i];
    }
  }
  out.push_back(cur);
  return out;
}

// The probe node for `path`, which must lie under nodes already in the probe.
Probe& node_at(Probe& root, const std::vector<std::string>& parts) {
  Probe* p = &root;
  for (const auto& k : parts) p = &p->keys[k];
  return *p;
}

bool has_children(const std::set<std::string>& keys, const std::string& prefix) {
  const auto it = keys.lower_bound(prefix);
  return it != keys.end() && it->starts_with(prefix);
}

}  // namespace

std::vector<std::string> config_keys() {
  Probe root;
  std::set<std::string> keys = read_probe(root);
  std::set<std::string> tried;
  // A few hundred keys at most; the bound only guards against a reader that invents keys.
  constexpr std::size_t kMaxKeys = 10'000;
  bool grew = true;
  while (grew && keys.size() < kMaxKeys) {
    grew = false;
    const std::set<std::string> snapshot = keys;
    for (const auto& k : snapshot) {
      if (!tried.insert(k).second) continue;
      const std::vector<std::string> parts = split(k);
      for (const bool list : {false, true}) {
        Probe& n = node_at(root, parts);
        n.list = list;
        std::set<std::string> found = read_probe(root);
        if (has_children(found, k + (list ? "[]." : "."))) {
          keys.insert(found.begin(), found.end());
          grew = true;
          break;
        }
        // A leaf: take it out again so it does not disturb the other probes.
        Probe& parent = parts.size() == 1 ? root : node_at(root, {parts.begin(), parts.end() - 1});
        parent.keys.erase(parts.back());
      }
    }
  }
  return {keys.begin(), keys.end()};
}

}  // namespace tern::config
