// The yaml-cpp adapter: typed reads with YAML paths and lines in every error.
// yaml-cpp throws only while parsing (caught in config.cpp); the reads here use only
// non-throwing accessors (Type(), Scalar(), iteration).

#include "broker/config/reader.hpp"
#include "broker/config/quote.hpp"

#include <algorithm>
#include <limits>
#include <string>
#include <utility>

namespace tern::config::detail {
namespace {


bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

void Diagnostics::error(std::string path, int line, std::string message, int column) {
  errors_.push_back(Error{std::move(path), line, column, std::move(message)});
}

int Diagnostics::line_of(const std::string& path) const {
  const auto it = lines_.find(path);
  return it == lines_.end() ? 0 : it->second;
}

void Diagnostics::note_key(const std::string& path) {
  if (!keys_) return;
  std::string pattern;
  pattern.reserve(path.size());
  for (std::size_t i = 0; i < path.size(); ++i) {
    pattern += path[i];
    if (path[i] == '[') {
      while (i + 1 < path.size() && path[i + 1] != ']') ++i;  // "[12]" -> "[]"
    }
  }
  keys_->insert(std::move(pattern));
}

int Diagnostics::line_for(const std::string& path, const YAML::Node& n) const {
  const int l = line_of(path);
  return l ? l : detail::line_of(n);
}

int line_of(const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  return m.line >= 0 ? m.line + 1 : 0;
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar: return quoted(n.Scalar());
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Null: return "nothing (null)";
    case YAML::NodeType::Undefined: break;
  }
  return "nothing";
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Keys are short; a single-row Levenshtein is plenty.
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::optional<std::uint64_t> read_uint(const YAML::Node& n, const std::string& path, Diagnostics& d,
                                       std::uint64_t min, std::uint64_t max) {
  const auto fail = [&] {
    d.error(path, d.line_for(path, n),
            "expected an integer between " + std::to_string(min) + " and " + std::to_string(max) +
                ", got " + describe(n));
    return std::nullopt;
  };
  if (!n.IsScalar() || !all_digits(n.Scalar())) return fail();
  const std::string& s = n.Scalar();
  std::uint64_t v = 0;
  for (char c : s) {
    const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
    if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return fail();
    v = v * 10 + digit;
    if (v > max) return fail();  // digits only ever grow the value
  }
  if (v < min || v > max) return fail();
  return v;
}

std::optional<std::string> read_string(const YAML::Node& n, const std::string& path,
                                       Diagnostics& d) {
  if (!n.IsScalar() || n.Scalar().empty()) {
    d.error(path, d.line_for(path, n), "expected a non-empty string, got " + describe(n));
    return std::nullopt;
  }
  return n.Scalar();
}

MapReader::MapReader(const YAML::Node& node, std::string path, Diagnostics& diag)
    : diag_(diag), path_(std::move(path)), line_(line_of(node)) {
  if (!node.IsDefined() || node.IsNull()) return;  // an empty section keeps its defaults
  if (!node.IsMap()) {
    is_map_ = false;
    diag_.error(path_, line_, "expected a mapping of keys to values, got " + describe(node));
    return;
  }
  for (const auto& kv : node) {
    const int key_line = line_of(kv.first);
    if (!kv.first.IsScalar()) {
      diag_.error(path_, key_line, "keys must be plain names, got " + describe(kv.first));
      continue;
    }
    const std::string& key = kv.first.Scalar();
    const auto dup = std::find_if(entries_.begin(), entries_.end(),
                                  [&](const Entry& e) { return e.key == key; });
    if (dup != entries_.end()) {
      // yaml-cpp silently keeps the first of two equal keys; we refuse the ambiguity.
      diag_.error(child_path(key), key_line,
                  "duplicate key (first at line " + std::to_string(dup->line) + ")");
      continue;
    }
    entries_.push_back(Entry{key, kv.second, key_line});
  }
}

std::string MapReader::child_path(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

const YAML::Node* MapReader::get(std::string_view key) {
  known_.push_back(Known{std::string(key), true});
  diag_.note_key(child_path(key));
  for (auto& e : entries_) {
    if (e.key == key) {
      e.used = true;
      // A null value's mark is the next token's (often the next line): use its key's line.
      const int vl = e.value.IsNull() ? 0 : line_of(e.value);
      diag_.note_line(child_path(key), vl ? vl : e.line);
      return &e.value;
    }
  }
  return nullptr;
}

void MapReader::duration(std::string_view key, Millis& out, Millis min, Millis max) {
  const YAML::Node* n = get(key);
  if (!n) return;
  const std::string path = child_path(key);
  std::string err;
  std::optional<Millis> v;
  if (n->IsScalar()) v = parse_duration(n->Scalar(), err);
  if (!n->IsScalar()) {
    err = "expected a duration with a unit (ms, s, m, h, d), e.g. \"30s\", got " + describe(*n);
  } else if (v && (*v < min || *v > max)) {
    err = "expected a duration between " + format_duration(min) + " and " + format_duration(max) +
          ", got " + describe(*n);
    v.reset();
  }
  if (!v) {
    diag_.error(path, diag_.line_for(path, *n), err);
    return;
  }
  out = *v;
}

void MapReader::seconds(std::string_view key, Seconds& out, Seconds max, bool allow_never) {
  const YAML::Node* n = get(key);
  if (!n) return;
  const std::string path = child_path(key);
  if (allow_never && n->IsScalar() && n->Scalar() == "never") {
    out = kNeverExpires;
    return;
  }
  std::string err;
  std::optional<Millis> v;
  if (n->IsScalar()) v = parse_duration(n->Scalar(), err);
  if (!n->IsScalar()) {
    err = std::string("expected a duration with a unit (s, m, h, d)") +
          (allow_never ? " or never" : "") + ", got " + describe(*n);
  } else if (v && v->count() % 1000 != 0) {
    // MQTT carries these intervals in whole seconds.
    err = "expected a whole number of seconds, got " + describe(*n);
    v.reset();
  } else if (v && *v > max) {
    err = "expected a duration between 0s and " + format_duration(max) +
          (allow_never ? " or never" : "") + ", got " + describe(*n);
    v.reset();
  }
  if (!v) {
    diag_.error(path, diag_.line_for(path, *n), err);
    return;
  }
  out = std::chrono::duration_cast<Seconds>(*v);
}

void MapReader::boolean(std::string_view key, bool& out) {
  const YAML::Node* n = get(key);
  if (!n) return;
  // YAML 1.2 core schema booleans only: "yes", "on" and friends are YAML 1.1 traps.
  if (n->IsScalar()) {
    const std::string& s = n->Scalar();
    if (s == "true" || s == "True" || s == "TRUE") {
      out = true;
      return;
    }
    if (s == "false" || s == "False" || s == "FALSE") {
      out = false;
      return;
    }
  }
  diag_.error(child_path(key), diag_.line_for(child_path(key), *n),
              "expected true or false, got " + describe(*n));
}

void MapReader::string(std::string_view key, std::string& out, bool required) {
  const YAML::Node* n = get(key);
  if (!n) {
    if (required) diag_.error(child_path(key), line_, "required key is missing");
    return;
  }
  if (auto v = read_string(*n, child_path(key), diag_)) out = *v;
}

void MapReader::file(std::string_view key, FileRef& out) {
  constexpr std::size_t kMaxPath = 4096;  // PATH_MAX on Linux
  const YAML::Node* n = get(key);
  if (!n) return;
  const std::string path = child_path(key);
  const auto v = read_string(*n, path, diag_);
  if (!v) return;
  if (v->find('\0') != std::string::npos || v->size() > kMaxPath) {
    error_at(key, *n, "expected a file path of at most 4096 bytes without NUL bytes");
  } else if (v->front() != '/') {
    error_at(key, *n, "expected an absolute path (starting with /), got " + describe(*n));
  } else {
    out = FileRef{*v, path, diag_.line_for(path, *n)};
  }
}

void MapReader::error_at(std::string_view key, const YAML::Node& n, std::string message) {
  const std::string p = child_path(key);
  diag_.error(p, diag_.line_for(p, n), std::move(message));
}

void MapReader::unsupported(std::string_view key, std::string_view message) {
  for (auto& e : entries_) {
    if (e.key == key) {
      e.used = true;
      diag_.error(child_path(key), e.line, std::string(message));
    }
  }
  known_.push_back(Known{std::string(key), false});
}

std::optional<std::uint64_t> MapReader::read_size(std::string_view key, std::uint64_t min,
                                                  std::uint64_t max) {
  const YAML::Node* n = get(key);
  if (!n) return std::nullopt;
  std::string err;
  std::optional<std::uint64_t> v;
  if (n->IsScalar()) v = parse_size(n->Scalar(), err);
  if (!n->IsScalar()) {
    err = "expected a size such as \"256KiB\" or a number of bytes, got " + describe(*n);
  } else if (v && (*v < min || *v > max)) {
    err = "expected a size between " + format_size(min) + " and " + format_size(max) + ", got " +
          describe(*n);
    v.reset();
  }
  if (!v) diag_.error(child_path(key), diag_.line_for(child_path(key), *n), err);
  return v;
}

void MapReader::finish(std::string_view noun) {
  for (const auto& e : entries_) {
    if (e.used) continue;
    std::string best;
    // Close enough to be a typo, not so loose that "a" suggests "acl".
    std::size_t best_d = std::max<std::size_t>(1, e.key.size() / 3) + 1;
    for (const auto& k : known_) {
      const std::size_t d = edit_distance(e.key, k.key);
      if (d < best_d) {
        best_d = d;
        best = k.key;
      }
    }
    std::string msg = "unknown " + std::string(noun.empty() ? "key" : noun);
    if (!best.empty()) msg += "; did you mean \"" + best + "\"?";
    if (best.empty() || !noun.empty()) {
      std::string list;
      std::vector<std::string_view> listed;  // a reader may ask for a key twice
      for (const auto& k : known_) {
        if (!k.supported || std::find(listed.begin(), listed.end(), k.key) != listed.end())
          continue;
        listed.push_back(k.key);
        if (!list.empty()) list += ", ";
        list += k.key;
      }
      if (!list.empty()) {
        msg += noun.empty() ? " (known keys: " : " (" + std::string(noun) + "s: ";
        msg += list + ")";
      }
    }
    diag_.error(child_path(e.key), e.line, msg);
  }
}

}  // namespace tern::config::detail
