// The HTTP/1.1 upgrade request of a WebSocket connection carrying MQTT (RFC 6455 section
// 4.2, MQTT 5.0 section 6): checks one complete request and builds the answer, either 101
// Switching Protocols or an HTTP error with Connection: close. Private to tern_ws (exposed
// for its unit tests). Thread safety: a pure function.
#pragma once

#include <string>
#include <string_view>

namespace tern::ws {

struct UpgradeAnswer {
  int status = 0;        // 101 on success, else the HTTP status sent
  std::string response;  // the whole HTTP response
  std::string detail;    // why it failed, for logs; empty on success
};

// REQUIRES: `request` is the request line and headers up to and including the empty line.
// `path` is the accepted request target ("" accepts any); a query string is ignored.
UpgradeAnswer answer_upgrade(std::string_view request, std::string_view path);

// A bare HTTP error answer (used for 431 when the request never ends).
std::string http_error(int status, std::string_view extra_headers = {});

// RFC 6455 section 1.3: base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
std::string accept_key(std::string_view key);

}  // namespace tern::ws
