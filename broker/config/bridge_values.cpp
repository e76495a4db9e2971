// Value syntax of the `bridges:` section: remote broker addresses and message rates.
// Pure functions; no YAML here (the reader is bridges.cpp).

#include <arpa/inet.h>

#include <charconv>
#include <string>
#include <string_view>

#include "broker/config/config.hpp"
#include "broker/config/enums.hpp"
#include "broker/config/quote.hpp"

namespace tern::config {
using detail::quoted;
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// A DNS name as a resolver takes it: dot-separated labels of 1 to 63 letters, digits, '-'
// (not at either end) or '_' (seen in internal names), at most 253 bytes in all (RFC 1035
// 2.3.4). Anything else (spaces, '%', a user:password@ part) is a mistake worth naming now
// rather than an opaque connect failure at run time.
bool valid_host_name(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t start = 0;
  while (start <= s.size()) {
    const std::size_t dot = std::min(s.find('.', start), s.size());
    const std::string_view label = s.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (char c : label) {
      if (!is_alnum(c) && c != '-' && c != '_') return false;
    }
    start = dot + 1;
  }
  return true;
}

// Dotted digits only: meant as an IPv4 literal, so it must be one ("1.2.3.400" is not a name).
bool looks_like_ipv4(std::string_view s) {
  for (char c : s) {
    if (!is_digit(c) && c != '.') return false;
  }
  return true;
}


}  // namespace

std::optional<RemoteAddress> parse_remote(std::string_view text, std::string& error) {
  const std::string kExpect =
      "expected \"mqtt://host:port\" or \"mqtts://host:port\" (also tcp://, ssl://), e.g. "
      "\"mqtts://broker.example.com:8883\", got " +
      quoted(text);
  const std::size_t sep = text.find("://");
  if (sep == std::string_view::npos) {
    error = kExpect;
    return std::nullopt;
  }
  const std::string_view scheme = text.substr(0, sep);
  RemoteAddress r;
  if (scheme == "mqtt" || scheme == "tcp") {
    r.tls = false;
    r.port = 1883;
  } else if (scheme == "mqtts" || scheme == "ssl") {
    r.tls = true;
    r.port = 8883;
  } else {
    error = "unsupported scheme " + quoted(scheme) + " in " + quoted(text) +
            " (mqtt:// or tcp:// for plain TCP, mqtts:// or ssl:// for TLS)";
    return std::nullopt;
  }
  std::string_view rest = text.substr(sep + 3);
  if (rest.find('@') != std::string_view::npos) {
    // Credentials in a URI end up in logs; they have keys of their own.
    error = "put credentials in username and password_file, not in the address " + quoted(text);
    return std::nullopt;
  }
  if (rest.find_first_of("/?#") != std::string_view::npos) {
    error = "expected no path after host:port in " + quoted(text);
    return std::nullopt;
  }
  std::string_view host;
  std::string_view port;
  bool has_port = false;
  bool v6 = false;
  if (!rest.empty() && rest.front() == '[') {
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos || (close + 1 < rest.size() && rest[close + 1] != ':')) {
      error = kExpect;
      return std::nullopt;
    }
    host = rest.substr(1, close - 1);
    has_port = close + 1 < rest.size();
    if (has_port) port = rest.substr(close + 2);
    v6 = true;
  } else {
    const std::size_t colon = rest.find(':');
    if (colon != std::string_view::npos && rest.find(':', colon + 1) != std::string_view::npos) {
      error = "IPv6 addresses go in brackets, e.g. \"mqtt://[::1]:1883\", got " + quoted(text);
      return std::nullopt;
    }
    host = rest.substr(0, colon);
    has_port = colon != std::string_view::npos;
    if (has_port) port = rest.substr(colon + 1);
  }
  if (host.empty()) {
    error = "missing host in " + quoted(text);
    return std::nullopt;
  }
  if (v6) {
    const auto c = canonical_ip(host, AF_INET6);
    if (!c) {
      error = "not an IPv6 address: " + quoted(host) + " in " + quoted(text);
      return std::nullopt;
    }
    r.host = *c;
  } else if (looks_like_ipv4(host)) {
    const auto c = canonical_ip(host, AF_INET);
    if (!c) {
      error = "not an IPv4 address: " + quoted(host) + " in " + quoted(text);
      return std::nullopt;
    }
    r.host = *c;
  } else if (valid_host_name(host)) {
    r.host = std::string(host);
  } else {
    error = "not a valid host name: " + quoted(host) + " in " + quoted(text);
    return std::nullopt;
  }
  if (has_port) {
    std::uint32_t n = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
    const bool digits_only = !port.empty() && is_digit(port.front());
    if (!digits_only || ec != std::errc() || end != port.data() + port.size() || n == 0 ||
        n > 65535) {
      error = "expected a port from 1 to 65535 in " + quoted(text) + ", got " + quoted(port);
      return std::nullopt;
    }
    r.port = static_cast<std::uint16_t>(n);
  }
  return r;
}

std::string RemoteAddress::to_string() const {
  const bool v6 = host.find(':') != std::string::npos;
  return std::string(tls ? "mqtts://" : "mqtt://") + (v6 ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

bool Bridge::uses_tls() const {
  if (remote.tls) return true;
  for (const auto& f : fallbacks) {
    if (f.tls) return true;
  }
  return false;
}

std::optional<double> parse_rate(std::string_view text, std::string& error) {
  // Far beyond what any uplink carries; keeps the token bucket's arithmetic sane.
  constexpr double kMaxRate = 1'000'000;
  const std::string kExpect =
      "expected a rate in messages per second such as 100, 2.5, \"100/s\", \"600/m\" or "
      "\"3600/h\" (0 = unlimited), got " +
      quoted(text);
  std::string_view s = text;
  std::size_t n = 0;
  while (n < s.size() && is_digit(s[n])) ++n;
  if (n == 0) {
    error = kExpect;
    return std::nullopt;
  }
  if (n < s.size() && s[n] == '.') {
    const std::size_t frac = n + 1;
    n = frac;
    while (n < s.size() && is_digit(s[n])) ++n;
    if (n == frac) {
      error = kExpect;
      return std::nullopt;
    }
  }
  const std::string_view number = s.substr(0, n);
  const std::string_view unit = s.substr(n);
  double per = 1;
  if (unit.empty() || unit == "/s") {
    per = 1;
  } else if (unit == "/m") {
    per = 60;
  } else if (unit == "/h") {
    per = 3600;
  } else {
    error = kExpect;
    return std::nullopt;
  }
  if (number.size() > 32) {
    error = "rate " + quoted(text) + " is too large (at most 1000000/s)";
    return std::nullopt;
  }
  double v = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), v);
  if (ec != std::errc() || end != number.data() + number.size()) {
    error = kExpect;
    return std::nullopt;
  }
  v /= per;
  if (v > kMaxRate) {
    error = "rate " + quoted(text) + " is too large (at most 1000000/s)";
    return std::nullopt;
  }
  // Slower than one an hour is no drain at all, and its waits overflow clock arithmetic.
  if (v > 0 && v < 1.0 / 3600) {
    error = "rate " + quoted(text) + " is too small (at least 1/h; 0 = unlimited)";
    return std::nullopt;
  }
  return v;
}

std::string_view to_string(BridgeProtocol v) {
  return detail::enum_name<BridgeProtocol>(detail::kBridgeProtocols, v);
}
std::string_view to_string(BridgeDirection v) {
  return detail::enum_name<BridgeDirection>(detail::kBridgeDirections, v);
}
std::string_view to_string(BridgeOverflow v) {
  return detail::enum_name<BridgeOverflow>(detail::kBridgeOverflows, v);
}

}  // namespace tern::config
