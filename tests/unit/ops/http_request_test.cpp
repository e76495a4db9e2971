// The operations endpoint's request parser and response writer (broker/ops/http_request):
// complete and partial heads, each malformed form named after the RFC 9112 rule it
// breaks, the head size limit, and the bytes of a response.
#include <catch2/catch.hpp>

#include <string>

#include "broker/ops/http_request.hpp"

using namespace tern::ops;
using namespace std::string_literals;

namespace {

HttpParseResult parse(const std::string& s) { return parse_http_request(s); }

int error_of(const std::string& s) {
  const HttpParseResult r = parse(s);
  INFO(r.detail);
  return r.status == HttpParseStatus::Error ? r.error_status : 0;
}

}  // namespace

TEST_CASE("http parse: a complete GET with query and headers", "[http]") {
  const std::string head =
      "GET /api/v1/clients?offset=5&limit=2 HTTP/1.1\r\nHost: localhost:9090\r\n"
      "User-Agent: curl/7.88\r\nAuthorization:   Bearer abc  \r\n\r\n";
  const HttpParseResult r = parse(head + "trailing bytes");
  REQUIRE(r.status == HttpParseStatus::Complete);
  CHECK(r.head_size == head.size());
  CHECK(r.request.method == "GET");
  CHECK(r.request.path == "/api/v1/clients");
  CHECK(r.request.query == "offset=5&limit=2");
  CHECK(r.request.minor_version == 1);
  // Names are lower-cased, values trimmed of surrounding whitespace.
  CHECK(r.request.header("authorization") == std::optional<std::string_view>("Bearer abc"));
  CHECK(r.request.header("user-agent") == std::optional<std::string_view>("curl/7.88"));
  CHECK_FALSE(r.request.header("cookie").has_value());
  CHECK(http_query_param(r.request.query, "offset") == std::optional<std::string_view>("5"));
  CHECK(http_query_param(r.request.query, "limit") == std::optional<std::string_view>("2"));
  CHECK_FALSE(http_query_param(r.request.query, "off").has_value());
}

TEST_CASE("http parse: partial heads need more bytes, at every split", "[http]") {
  const std::string head = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  for (std::size_t n = 0; n < head.size(); ++n) {
    INFO("first " << n << " bytes");
    CHECK(parse(head.substr(0, n)).status == HttpParseStatus::NeedMore);
  }
  CHECK(parse(head).status == HttpParseStatus::Complete);
}

TEST_CASE("http parse: bare LF line ends and leading empty lines (RFC 9112 2.2)", "[http]") {
  const HttpParseResult r = parse("\r\nGET /health HTTP/1.0\n\n");
  REQUIRE(r.status == HttpParseStatus::Complete);
  CHECK(r.request.path == "/health");
  CHECK(r.request.minor_version == 0);  // HTTP/1.0 needs no Host
}

TEST_CASE("http parse: absolute-form targets are accepted (RFC 9112 3.2.2)", "[http]") {
  HttpParseResult r = parse("GET http://127.0.0.1:9090/metrics?a=1 HTTP/1.1\r\nHost: h\r\n\r\n");
  REQUIRE(r.status == HttpParseStatus::Complete);
  CHECK(r.request.path == "/metrics");
  CHECK(r.request.query == "a=1");
  r = parse("GET HTTP://h HTTP/1.1\r\nHost: h\r\n\r\n");
  REQUIRE(r.status == HttpParseStatus::Complete);
  CHECK(r.request.path == "/");
}

TEST_CASE("http parse: malformed request lines are 400", "[http]") {
  CHECK(error_of("GET\r\n\r\n") == 400);
  CHECK(error_of("GET /metrics\r\n\r\n") == 400);
  CHECK(error_of("GET  /metrics HTTP/1.1\r\nHost: h\r\n\r\n") == 400);  // two spaces
  CHECK(error_of("GET /metrics HTTP/1.1 extra\r\nHost: h\r\n\r\n") == 400);
  CHECK(error_of("G(T /metrics HTTP/1.1\r\nHost: h\r\n\r\n") == 400);  // not a token
  CHECK(error_of("GET /metrics http/1.1\r\nHost: h\r\n\r\n") == 400);  // case-sensitive
  CHECK(error_of("GET /metrics HTTP/1\r\nHost: h\r\n\r\n") == 400);
  CHECK(error_of("GET * HTTP/1.1\r\nHost: h\r\n\r\n") == 400);          // OPTIONS only
  CHECK(error_of("GET host:80 HTTP/1.1\r\nHost: h\r\n\r\n") == 400);    // CONNECT only
  CHECK(error_of("GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
  CHECK(error_of("GET /m\x01 HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
  CHECK(error_of("GET /\xC3\xA9 HTTP/1.1\r\nHost: h\r\n\r\n") == 400);  // raw 8-bit
  CHECK(error_of("GET http:///m HTTP/1.1\r\nHost: h\r\n\r\n") == 400);  // no authority
  CHECK(error_of("\r\n\r\n\r\n\r\n\r\n\r\n") == 400);  // only empty lines
}

TEST_CASE("http parse: versions other than 1.0 and 1.1 are 505", "[http]") {
  CHECK(error_of("GET / HTTP/2.0\r\nHost: h\r\n\r\n") == 505);
  CHECK(error_of("GET / HTTP/1.2\r\nHost: h\r\n\r\n") == 505);
  CHECK(error_of("GET / HTTP/0.9\r\n\r\n") == 505);
}

TEST_CASE("http parse: HTTP/1.1 needs exactly one Host (RFC 9112 3.2)", "[http]") {
  CHECK(error_of("GET / HTTP/1.1\r\n\r\n") == 400);
  CHECK(error_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == 400);
  CHECK(error_of("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n") == 400);
  CHECK(parse("GET / HTTP/1.1\r\nhOsT: a\r\n\r\n").status == HttpParseStatus::Complete);
}

TEST_CASE("http parse: malformed header fields are 400 (RFC 9112 5)", "[http]") {
  // Whitespace between the field name and the colon [RFC 9112 5.1].
  CHECK(error_of("GET / HTTP/1.1\r\nHost : h\r\n\r\n") == 400);
  // Obsolete line folding [RFC 9112 5.2].
  CHECK(error_of("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  2\r\n\r\n") == 400);
  CHECK(error_of("GET / HTTP/1.1\r\nHost: h\r\nno colon here\r\n\r\n") == 400);
  CHECK(error_of("GET / HTTP/1.1\r\nHost: h\r\n: empty name\r\n\r\n") == 400);
  CHECK(error_of("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n"s) == 400);
  // A CR that does not end a line [RFC 9112 2.2].
  CHECK(error_of("GET / HTTP/1.1\r\nHost: h\rX-Evil: 1\r\n\r\n") == 400);
  // obs-text in a value is allowed.
  CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\nX-A: caf\xC3\xA9\r\n\r\n").status ==
        HttpParseStatus::Complete);
}

TEST_CASE("http parse: a head over the limit is 431, also without a line end", "[http]") {
  std::string big = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(kMaxHttpHeadBytes, 'a');
  CHECK(error_of(big) == 431);
  CHECK(error_of(big + "\r\n\r\n") == 431);
  CHECK(error_of(std::string(kMaxHttpHeadBytes + 5, 'G')) == 431);
  // Just under the limit is fine.
  std::string fits = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: ";
  fits += std::string(kMaxHttpHeadBytes - fits.size() - 4, 'a') + "\r\n\r\n";
  REQUIRE(fits.size() == kMaxHttpHeadBytes);
  CHECK(parse(fits).status == HttpParseStatus::Complete);
  // Too many fields.
  std::string many = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (std::size_t i = 0; i < kMaxHttpHeaderFields; ++i) {
    many += "X-" + std::to_string(i) + ": 1\r\n";
  }
  CHECK(error_of(many + "\r\n") == 431);
}

TEST_CASE("http response: status line, fields, Connection: close, HEAD without body",
          "[http]") {
  HttpResponse r;
  r.status = 401;
  r.body = "no\n";
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  const std::string wire = serialize_http_response(r);
  CHECK(wire.rfind("HTTP/1.1 401 Unauthorized\r\n", 0) == 0);
  CHECK(wire.find("\r\nContent-Length: 3\r\n") != std::string::npos);
  CHECK(wire.find("\r\nConnection: close\r\n") != std::string::npos);
  CHECK(wire.find("\r\nWWW-Authenticate: Bearer\r\n") != std::string::npos);
  CHECK(wire.substr(wire.size() - 7) == "\r\n\r\nno\n");
  const std::string head = serialize_http_response(r, /*head_only=*/true);
  CHECK(head.find("Content-Length: 3\r\n") != std::string::npos);  // as for GET
  CHECK(head.substr(head.size() - 4) == "\r\n\r\n");

  const HttpResponse e = http_error_response(404, "nothing here");
  CHECK(e.status == 404);
  CHECK(e.body == "404 Not Found: nothing here\n");
  CHECK(http_reason(431) == "Request Header Fields Too Large");
}
