#include "broker/ops/http_request.hpp"

#include <string>

#include "broker/ws/http_syntax.hpp"

namespace tern::ops {

namespace {

using http_syntax::is_ows;
using http_syntax::is_token;
using http_syntax::lower;
using http_syntax::trim;

// A field value may hold visible ASCII, SP, HTAB and obs-text (RFC 9110 5.5); any other
// control character (NUL, CR, DEL, ...) makes the request invalid.
bool valid_field_value(std::string_view v) {
  for (char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7F) return false;
  }
  return true;
}

// Visible ASCII only: a request-target never holds spaces, controls or raw 8-bit bytes
// (RFC 3986 characters, percent-encoded otherwise), nor a fragment.
bool valid_target_chars(std::string_view t) {
  for (char ch : t) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7F || c == '#') return false;
  }
  return true;
}

HttpParseResult fail(int status, std::string detail) {
  HttpParseResult r;
  r.status = HttpParseStatus::Error;
  r.error_status = status;
  r.detail = std::move(detail);
  return r;
}

// Splits `target` into path and query. Origin form "/p?q" or absolute form
// "http://host/p?q" (RFC 9112 3.2.2: a server MUST accept it). False for anything else
// (asterisk form is for OPTIONS, authority form for CONNECT: neither is served here).
bool split_target(std::string_view target, std::string& path, std::string& query) {
  if (target.empty() || !valid_target_chars(target)) return false;
  if (target.front() != '/') {
    std::size_t skip = 0;
    if (http_iequals(target.substr(0, 7), "http://")) {
      skip = 7;
    } else if (http_iequals(target.substr(0, 8), "https://")) {
      skip = 8;
    } else {
      return false;
    }
    target.remove_prefix(skip);
    const std::size_t end = target.find_first_of("/?");
    if (end == 0) return false;  // no authority
    target = end == std::string_view::npos ? std::string_view("/") : target.substr(end);
    if (target.front() == '?') {  // "http://h?q": path-abempty is empty, i.e. "/"
      path = "/";
      query = std::string(target.substr(1));
      return true;
    }
  }
  const std::size_t q = target.find('?');
  path = std::string(target.substr(0, q));
  query = q == std::string_view::npos ? std::string() : std::string(target.substr(q + 1));
  return true;
}

}  // namespace

bool http_iequals(std::string_view a, std::string_view b) { return http_syntax::iequals(a, b); }

std::optional<std::string_view> HttpRequest::header(std::string_view lower_name,
                                                    std::size_t* count) const {
  std::optional<std::string_view> found;
  std::size_t n = 0;
  for (const auto& [name, value] : headers) {
    if (name == lower_name) {
      if (!found) found = value;
      ++n;
    }
  }
  if (count != nullptr) *count = n;
  return found;
}

HttpParseResult parse_http_request(std::string_view bytes, std::size_t max_head) {
  const std::string_view window = bytes.substr(0, max_head);
  HttpParseResult r;
  std::size_t pos = 0;
  bool have_request_line = false;
  std::size_t leading_empty = 0;
  while (true) {
    const std::size_t nl = window.find('\n', pos);
    if (nl == std::string_view::npos) {
      if (bytes.size() >= max_head) {
        return fail(431, "request head longer than " + std::to_string(max_head) + " bytes");
      }
      r.status = HttpParseStatus::NeedMore;
      return r;
    }
    std::string_view line = window.substr(pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // A CR not ending a line is invalid (RFC 9112 2.2: a recipient must reject it or
    // treat it as a space; rejecting leaves no room for smuggling).
    if (line.find('\r') != std::string_view::npos) return fail(400, "bare CR in the head");

    if (!have_request_line) {
      // RFC 9112 2.2: empty lines before the request line are ignored (a few of them).
      if (line.empty()) {
        if (++leading_empty > 4) return fail(400, "empty lines instead of a request line");
        continue;
      }
      const std::size_t sp1 = line.find(' ');
      const std::size_t sp2 =
          sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
      if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
        return fail(400, "malformed request line");
      }
      const std::string_view method = line.substr(0, sp1);
      const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
      const std::string_view version = line.substr(sp2 + 1);
      if (!is_token(method)) return fail(400, "malformed method");
      // HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 2.3), case-sensitive.
      if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
          version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
        return fail(400, "malformed HTTP version");
      }
      if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
        return fail(505, "HTTP version not supported (HTTP/1.0 and HTTP/1.1 are)");
      }
      r.request.method = std::string(method);
      r.request.target = std::string(target);
      r.request.minor_version = version[7] - '0';
      if (!split_target(target, r.request.path, r.request.query)) {
        return fail(400, "malformed request target");
      }
      have_request_line = true;
      continue;
    }

    if (line.empty()) break;  // end of the head
    if (is_ows(line.front())) return fail(400, "obsolete line folding");
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return fail(400, "header field without a colon");
    const std::string_view name = line.substr(0, colon);
    // RFC 9112 5.1: no whitespace between name and colon; a server MUST reject it (400).
    if (!is_token(name)) return fail(400, "malformed header field name");
    const std::string_view value = trim(line.substr(colon + 1));
    if (!valid_field_value(value)) return fail(400, "control character in a header field");
    if (r.request.headers.size() >= kMaxHttpHeaderFields) {
      return fail(431, "more than " + std::to_string(kMaxHttpHeaderFields) + " header fields");
    }
    std::string lname(name);
    for (char& c : lname) c = lower(c);
    r.request.headers.emplace_back(std::move(lname), std::string(value));
  }

  // RFC 9112 3.2: a server MUST answer 400 to an HTTP/1.1 request without a Host field or
  // with more than one.
  std::size_t hosts = 0;
  r.request.header("host", &hosts);
  if (r.request.minor_version == 1 && hosts != 1) {
    return fail(400, hosts == 0 ? "HTTP/1.1 request without Host" : "more than one Host");
  }
  if (hosts > 1) return fail(400, "more than one Host");
  r.status = HttpParseStatus::Complete;
  r.head_size = pos;
  return r;
}

std::optional<std::string_view> http_query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    const std::size_t eq = item.find('=');
    if (item.substr(0, eq) == name) {
      return eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::string_view http_reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

HttpResponse http_error_response(int status, std::string_view detail) {
  HttpResponse r;
  r.status = status;
  r.body = std::to_string(status) + " " + std::string(http_reason(status));
  if (!detail.empty()) {
    r.body += ": ";
    r.body += detail;
  }
  r.body += '\n';
  return r;
}

std::string serialize_http_response(const HttpResponse& r, bool head_only) {
  std::string out;
  out.reserve(160 + r.body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(r.status);
  out += ' ';
  out += http_reason(r.status);
  out += "\r\nContent-Type: ";
  out += r.content_type;
  out += "\r\nContent-Length: ";
  out += std::to_string(r.body.size());
  out += "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
         "Connection: close\r\n";
  for (const auto& [name, value] : r.headers) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  out += "\r\n";
  if (!head_only) out += r.body;
  return out;
}

}  // namespace tern::ops
