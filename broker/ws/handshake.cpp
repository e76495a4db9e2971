#include "broker/ws/handshake.hpp"

#include <cstdint>

#include "broker/tls/crypto.hpp"
#include "broker/ws/http_syntax.hpp"

namespace tern::ws {

namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

using http_syntax::iequals;
using http_syntax::is_ows;
using http_syntax::is_token;
using http_syntax::trim;

// True if the comma-separated list `value` (RFC 7230 7: "#rule", empty elements allowed)
// holds `token`.
bool list_has(std::string_view value, std::string_view token, bool case_sensitive) {
  while (true) {
    const std::size_t comma = value.find(',');
    const std::string_view item = trim(value.substr(0, comma));
    if (case_sensitive ? item == token : iequals(item, token)) return true;
    if (comma == std::string_view::npos) return false;
    value.remove_prefix(comma + 1);
  }
}

std::string_view status_text(int status) {
  switch (status) {
    case 101: return "Switching Protocols";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 426: return "Upgrade Required";
    case 431: return "Request Header Fields Too Large";
    default: return "Error";
  }
}

UpgradeAnswer refuse(int status, std::string detail, std::string_view extra = {}) {
  UpgradeAnswer a;
  a.status = status;
  a.response = http_error(status, extra);
  a.detail = std::move(detail);
  return a;
}

// The path of a request target: origin form "/p?q" or absolute form "http://h/p?q"
// (RFC 7230 5.3); the query is ignored.
std::string_view target_path(std::string_view target) {
  if (target.front() != '/') {
    const std::size_t scheme = target.find("://");
    if (scheme == std::string_view::npos) return {};
    const std::size_t slash = target.find('/', scheme + 3);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  return target.substr(0, target.find('?'));
}

}  // namespace

std::string http_error(int status, std::string_view extra_headers) {
  std::string r = "HTTP/1.1 ";
  r += std::to_string(status);
  r += ' ';
  r += status_text(status);
  r += "\r\nConnection: close\r\nContent-Length: 0\r\n";
  r += extra_headers;
  r += "\r\n";
  return r;
}

std::string accept_key(std::string_view key) {
  std::string in(key);
  in += kGuid;
  const auto digest = tls::sha1(in);
  return tls::base64_encode(
      std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

UpgradeAnswer answer_upgrade(std::string_view request, std::string_view path) {
  // Lines end in CRLF; a bare LF is tolerated (RFC 7230 3.5), a CR elsewhere is not.
  auto next_line = [&request](std::string_view& line) {
    const std::size_t nl = request.find('\n');
    if (nl == std::string_view::npos) return false;
    line = request.substr(0, nl);
    request.remove_prefix(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return true;
  };

  std::string_view line;
  // RFC 7230 3.5: a server SHOULD ignore empty lines received before the request line.
  do {
    if (!next_line(line)) return refuse(400, "empty request");
  } while (line.empty());

  // Request line: method SP request-target SP HTTP-version (RFC 7230 3.1.1).
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos ||
      sp2 == sp1 + 1) {
    return refuse(400, "malformed request line");
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  for (char c : line) {
    if (static_cast<unsigned char>(c) < 0x21 && c != ' ') {
      return refuse(400, "control character in the request line");
    }
  }
  // RFC 6455 4.1: the method MUST be GET and the HTTP version at least 1.1.
  if (version.size() != 8 || version.substr(0, 7) != "HTTP/1." || version[7] < '1' ||
      version[7] > '9') {
    return refuse(400, "HTTP version must be 1.1");
  }
  if (method != "GET") return refuse(405, "method is not GET", "Allow: GET\r\n");

  int hosts = 0;
  int versions = 0;
  int keys = 0;
  bool upgrade = false;
  bool connection = false;
  bool mqtt = false;
  bool body = false;
  std::string_view ws_version;
  std::string_view key;
  while (next_line(line) && !line.empty()) {
    // Obsolete line folding is refused by servers that do not unfold (RFC 7230 3.2.4).
    if (is_ows(line.front())) return refuse(400, "folded header line");
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return refuse(400, "header line without a colon");
    const std::string_view name = line.substr(0, colon);
    // No whitespace between the field name and the colon (RFC 7230 3.2.4).
    if (!is_token(name)) return refuse(400, "malformed header name");
    const std::string_view value = trim(line.substr(colon + 1));
    for (char c : value) {
      const auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7F) {
        return refuse(400, "control character in a header value");
      }
    }
    if (iequals(name, "Host")) {
      ++hosts;
    } else if (iequals(name, "Upgrade")) {
      upgrade = upgrade || list_has(value, "websocket", false);
    } else if (iequals(name, "Connection")) {
      connection = connection || list_has(value, "upgrade", false);
    } else if (iequals(name, "Sec-WebSocket-Version")) {
      ++versions;
      ws_version = value;
    } else if (iequals(name, "Sec-WebSocket-Key")) {
      ++keys;
      key = value;
    } else if (iequals(name, "Sec-WebSocket-Protocol")) {
      // [MQTT-6.0.0-3] the client offers "mqtt"; subprotocol names compare exactly.
      mqtt = mqtt || list_has(value, "mqtt", true);
    } else if (iequals(name, "Content-Length")) {
      body = body || value != "0";
    } else if (iequals(name, "Transfer-Encoding")) {
      body = true;
    }
  }

  if (target.empty() || (target.front() != '/' && target_path(target).empty())) {
    return refuse(400, "malformed request target");
  }
  if (!path.empty() && target_path(target) != path) {
    return refuse(404, "request target is not the WebSocket path");
  }
  if (hosts != 1) return refuse(400, "request needs exactly one Host header");
  if (!upgrade) return refuse(400, "no \"Upgrade: websocket\"");
  if (!connection) return refuse(400, "no \"Connection: Upgrade\"");
  // RFC 6455 4.4: an unsupported (or absent) version gets 426 naming the one we speak.
  if (versions != 1 || ws_version != "13") {
    return refuse(426, "Sec-WebSocket-Version is not 13",
                  "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
  }
  if (keys != 1) return refuse(400, "request needs exactly one Sec-WebSocket-Key");
  // RFC 6455 4.1: the key is the base64 of 16 random bytes.
  const auto raw = tls::base64_decode(key);
  if (!raw || raw->size() != 16) return refuse(400, "Sec-WebSocket-Key is not 16 bytes");
  if (!mqtt) return refuse(400, "the \"mqtt\" subprotocol is not offered");
  // A GET with a body would leave us guessing where the frames begin.
  if (body) return refuse(400, "upgrade request with a body");

  UpgradeAnswer a;
  a.status = 101;
  a.response =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ";
  a.response += accept_key(key);
  // [MQTT-6.0.0-4] the subprotocol selected and returned is "mqtt".
  a.response += "\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";
  return a;
}

}  // namespace tern::ws
