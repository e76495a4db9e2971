// storage::Status text for logs.
#include "storage/status.hpp"

namespace tern::storage {

const char* to_string(StatusCode c) {
  switch (c) {
    case StatusCode::ok:
      return "ok";
    case StatusCode::not_found:
      return "not found";
    case StatusCode::corruption:
      return "corruption";
    case StatusCode::io_error:
      return "I/O error";
    case StatusCode::invalid_argument:
      return "invalid argument";
    case StatusCode::busy:
      return "busy";
  }
  return "unknown";
}

std::string Status::to_string() const {
  std::string s = storage::to_string(code_);
  if (!message_.empty()) {
    s += ": ";
    s += message_;
  }
  return s;
}

}  // namespace tern::storage
