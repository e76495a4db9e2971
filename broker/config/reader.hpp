// Internal to tern_config: the yaml-cpp adapter. MapReader reads one YAML mapping into
// typed fields, reporting each bad value with its YAML path and line into Diagnostics, and
// at finish() reports every key no reader asked for. Adding a key to a section is one call.
// Thread safety: none; one MapReader and one Diagnostics per load.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "broker/config/config.hpp"
#include "broker/config/enums.hpp"

namespace tern::config::detail {

// Collects errors, and the line of every value read so cross-field rules checked after
// parsing can still point at a line.
class Diagnostics {
 public:
  void error(std::string path, int line, std::string message, int column = 0);
  bool empty() const { return errors_.empty(); }
  std::vector<Error>& errors() { return errors_; }
  void note_line(const std::string& path, int line) { lines_[path] = line; }
  int line_of(const std::string& path) const;
  // The line recorded for `path`, else the node's own. A null value has no mark of its own
  // (yaml-cpp gives it the next token's), so its key's line is recorded instead.
  int line_for(const std::string& path, const YAML::Node& n) const;
  // When set, every key a MapReader asks for is added to `keys` as its path with list
  // indices dropped ("listeners[].tls.cert"): config_keys() learns the accepted keys so.
  void record_keys(std::set<std::string>* keys) { keys_ = keys; }
  void note_key(const std::string& path);

 private:
  std::vector<Error> errors_;
  std::map<std::string, int> lines_;
  std::set<std::string>* keys_ = nullptr;
};

// 1-based line of `n`, 0 when yaml-cpp has none.
int line_of(const YAML::Node& n);
// What the node holds, for "got ..." in messages: "\"abc\"", "a list", "a mapping", "null".
std::string describe(const YAML::Node& n);
// Edit distance, for "did you mean".
std::size_t edit_distance(std::string_view a, std::string_view b);

// Scalar readers usable outside a mapping (list items). Each returns nullopt after
// reporting the error at `path`.
std::optional<std::uint64_t> read_uint(const YAML::Node& n, const std::string& path, Diagnostics& d,
                                       std::uint64_t min, std::uint64_t max);
std::optional<std::string> read_string(const YAML::Node& n, const std::string& path,
                                       Diagnostics& d);

class MapReader {
 public:
  // `node` may be undefined or null (an empty section); anything but a mapping is an error.
  MapReader(const YAML::Node& node, std::string path, Diagnostics& diag);
  MapReader(const MapReader&) = delete;
  MapReader& operator=(const MapReader&) = delete;

  bool is_map() const { return is_map_; }
  const std::string& path() const { return path_; }
  int line() const { return line_; }
  std::string child_path(std::string_view key) const;
  Diagnostics& diag() { return diag_; }

  // Declares `key` known and returns its value, or nullptr when absent.
  const YAML::Node* get(std::string_view key);

  // REQUIRES: [min, max] fits T.
  template <class T>
  void integer(std::string_view key, T& out, std::uint64_t min, std::uint64_t max) {
    if (const YAML::Node* n = get(key)) {
      if (auto v = read_uint(*n, child_path(key), diag_, min, max)) out = static_cast<T>(*v);
    }
  }
  template <class T>
  void size(std::string_view key, T& out, std::uint64_t min, std::uint64_t max) {
    if (max > std::numeric_limits<T>::max()) max = std::numeric_limits<T>::max();
    if (auto v = read_size(key, min, max)) out = static_cast<T>(*v);
  }
  void duration(std::string_view key, Millis& out, Millis min, Millis max);
  // Whole seconds, 0 .. `max`; with `allow_never`, also `never` (= kNeverExpires).
  void seconds(std::string_view key, Seconds& out, Seconds max, bool allow_never);
  void boolean(std::string_view key, bool& out);
  template <class E>
  void enumeration(std::string_view key, E& out, std::span<const EnumName<E>> table) {
    if (const YAML::Node* n = get(key)) {
      const std::string path = child_path(key);
      if (n->IsScalar()) {
        if (auto v = enum_value(table, n->Scalar())) {
          out = *v;
          return;
        }
      }
      diag_.error(path, diag_.line_for(path, *n),
                  "expected one of " + enum_choices(table) + ", got " + describe(*n));
    }
  }
  // A non-empty string. `required`: absence is an error too.
  void string(std::string_view key, std::string& out, bool required);
  // A file named by its absolute path (a relative one would depend on the working
  // directory), at most 4096 bytes without NUL; `out` records this key's path and line.
  void file(std::string_view key, FileRef& out);
  // Reports `message` at `key` (whose value is `n`), on the value's line.
  void error_at(std::string_view key, const YAML::Node& n, std::string message);
  // A key from the planned configuration shape that this build does not implement yet:
  // present, it is an error, so nobody believes the setting took effect.
  void unsupported(std::string_view key, std::string_view message);

  // Reports the keys nobody asked for, with a suggestion when one known key is close.
  // `noun` (e.g. "subsystem"): the keys are names from a fixed set, so the message says
  // "unknown subsystem" and always lists the valid ones.
  void finish(std::string_view noun = {});

 private:
  std::optional<std::uint64_t> read_size(std::string_view key, std::uint64_t min,
                                         std::uint64_t max);

  struct Entry {
    std::string key;
    YAML::Node value;
    int line = 0;
    bool used = false;
  };
  struct Known {
    std::string key;
    bool supported = true;
  };
  Diagnostics& diag_;
  std::string path_;
  int line_ = 0;
  bool is_map_ = true;
  std::vector<Entry> entries_;
  std::vector<Known> known_;
};

}  // namespace tern::config::detail
