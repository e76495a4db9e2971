// storage::Status: the result of every storage operation (no exceptions leave the module).
// A small value type: a code plus an optional message for logs. Thread safety: a value;
// safe to copy and move between threads.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace tern::storage {

enum class StatusCode : std::uint8_t {
  ok,
  not_found,         // the record does not exist (not an error for most callers)
  corruption,        // the store's data cannot be read back: see StoreOptions::on_corruption
  io_error,          // the operating system refused (disk full, permissions, lock held, ...)
  invalid_argument,  // a caller's input cannot be stored (e.g. a '\0' in a client id)
  busy,              // a bounded queue is full: retry later or shed load
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status ok_status() { return {}; }
  static Status not_found(std::string msg = {}) { return {StatusCode::not_found, std::move(msg)}; }
  static Status corruption(std::string msg) { return {StatusCode::corruption, std::move(msg)}; }
  static Status io_error(std::string msg) { return {StatusCode::io_error, std::move(msg)}; }
  static Status invalid_argument(std::string msg) {
    return {StatusCode::invalid_argument, std::move(msg)};
  }
  static Status busy(std::string msg) { return {StatusCode::busy, std::move(msg)}; }

  bool ok() const { return code_ == StatusCode::ok; }
  bool is_not_found() const { return code_ == StatusCode::not_found; }
  bool is_corruption() const { return code_ == StatusCode::corruption; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "corruption: <message>", for logs.
  std::string to_string() const;

 private:
  Status(StatusCode c, std::string msg) : code_(c), message_(std::move(msg)) {}

  StatusCode code_ = StatusCode::ok;
  std::string message_;
};

const char* to_string(StatusCode c);

}  // namespace tern::storage
