// Minimal JSON writing for the HTTP endpoint's bodies (/health, /api/v1/*): string
// escaping and a small builder that keeps commas and nesting right. Output only: the
// endpoint never parses JSON. Strings are escaped by log::json_escape (the
// JSON log lines' escaping). Thread safety: a JsonWriter is a value used by one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tern::ops {

// Appends `s` as the body of a JSON string (no quotes): escapes quotes, backslashes and
// control characters; bytes that are not UTF-8 become U+FFFD, so a client id or topic
// with invalid bytes (3.1.1 clients are not all strict) still yields valid JSON.
void http_json_escape(std::string_view s, std::string& out);

// Builds one JSON document into a string. Call key() before each value inside an object.
// Misuse (a value without a key in an object) is a programming error (assert).
class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view k);
  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(bool b);
  JsonWriter& value(std::uint64_t n);
  JsonWriter& value(std::int64_t n);
  JsonWriter& value(double d);  // non-finite values are written as null
  JsonWriter& null();
  // The value, or null when absent (an unset optional, an empty string).
  template <typename T>
  JsonWriter& value_or_null(const std::optional<T>& v) {
    return v ? value(*v) : null();
  }
  JsonWriter& value_or_null(std::string_view s) { return s.empty() ? null() : value(s); }
  // The document so far (complete once every object and array is closed).
  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void before_value();
  std::string out_;
  // Per open container: true while it has no element yet.
  std::vector<bool> first_;
  bool after_key_ = false;
};

}  // namespace tern::ops
