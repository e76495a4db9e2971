// The HTTP/1.1 request head of the operations endpoint (RFC 9112) and its responses: a
// strict, bounded parser of one request head (request line + header fields) and the
// serialiser of a `Connection: close` response. No sockets, no I/O: the HTTP server feeds
// bytes, the router (http_router.hpp) decides. Thread safety: pure functions and values.
//
// Hand-written rather than a library on purpose: GUIDE §3 lists no HTTP library, Debian's
// choices are large (Boost.Beast) or thread-per-connection (cpp-httplib), and the endpoint
// needs only one GET per connection with no body, keep-alive, chunking or upgrades. The
// WebSocket handshake (broker/ws/handshake.hpp) parses a head too, but only as part of
// answering an upgrade; it exposes no general parser to reuse.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tern::ops {

// A request head (request line and header fields, up to the empty line) longer than this
// is answered with 431 and the connection closed: no client of a metrics/health endpoint
// needs more, and it bounds the memory a connection can hold.
inline constexpr std::size_t kMaxHttpHeadBytes = 8 * 1024;
inline constexpr std::size_t kMaxHttpHeaderFields = 64;

struct HttpRequest {
  std::string method;  // case-sensitive token (RFC 9110 9.1): "GET", "HEAD", ...
  std::string target;  // the request-target as sent
  std::string path;    // its path ("/metrics"), from origin or absolute form
  std::string query;   // after '?', without it; may be empty
  int minor_version = 1;  // HTTP/1.<minor>
  // Field names lower-cased; values with surrounding whitespace removed; in order.
  std::vector<std::pair<std::string, std::string>> headers;

  // The value of the only field named `lower_name`; nullopt when absent. `count` (optional)
  // receives how many fields have that name.
  std::optional<std::string_view> header(std::string_view lower_name,
                                         std::size_t* count = nullptr) const;
};

enum class HttpParseStatus : std::uint8_t {
  Complete,  // `request` and `head_size` are set
  NeedMore,  // no empty line yet, and the head is still under the limit
  Error,     // `status` (400, 431, 505) and `detail` are set
};

struct HttpParseResult {
  HttpParseStatus status = HttpParseStatus::NeedMore;
  HttpRequest request;
  std::size_t head_size = 0;  // bytes of the head, the empty line included
  int error_status = 0;       // HTTP status to answer with, Error only
  std::string detail;         // why, for logs and the error body
};

// Parses the head at the start of `bytes` (what has arrived so far). Lines end in CRLF;
// a bare LF is accepted as well (RFC 9112 2.2 allows a recipient to). Rejected (400):
// a malformed request line, a non-token method, a target that is neither origin-form nor
// absolute-form, obsolete line folding, whitespace before a colon [RFC 9112 5.1], a field
// with a control character, more than kMaxHttpHeaderFields fields, and an HTTP/1.1
// request without exactly one Host field [RFC 9112 3.2]. 505 for a version other than
// HTTP/1.0 or 1.1; 431 once `max_head` bytes arrived without the end of the head.
HttpParseResult parse_http_request(std::string_view bytes,
                                   std::size_t max_head = kMaxHttpHeadBytes);

// Case-insensitive ASCII comparison (header names, auth schemes).
bool http_iequals(std::string_view a, std::string_view b);

// The value of query parameter `name` ("offset=10&limit=5"), percent-decoding not applied
// (the endpoint's parameters are numbers); nullopt when absent.
std::optional<std::string_view> http_query_param(std::string_view query, std::string_view name);

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Extra fields, e.g. {"WWW-Authenticate", "Bearer"} or {"Allow", "GET, HEAD"}.
  std::vector<std::pair<std::string, std::string>> headers;
};

// "Not Found" for 404 ...; "Error" for a status it does not know.
std::string_view http_reason(int status);

// A response with a one-line text body naming the status and `detail`.
HttpResponse http_error_response(int status, std::string_view detail = {});

// The bytes on the wire: status line, Content-Type, Content-Length, Cache-Control:
// no-store (figures are live), Connection: close (one request per connection), the extra
// headers, then the body unless `head_only` (a HEAD request: same fields, no body,
// RFC 9110 9.3.2).
std::string serialize_http_response(const HttpResponse& r, bool head_only = false);

}  // namespace tern::ops
