#include "broker/net/endpoint.hpp"

#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>

#include <sys/socket.h>

namespace tern::net {

bool parse_bind(std::string_view bind, HostPort& out, std::string& error) {
  std::string_view host;
  std::string_view port;
  if (!bind.empty() && bind.front() == '[') {
    const auto close = bind.find(']');
    if (close == std::string_view::npos) {
      error = "unterminated '[' in \"" + std::string(bind) + "\"";
      return false;
    }
    host = bind.substr(1, close - 1);
    if (host.empty()) {
      error = "empty IPv6 address in \"" + std::string(bind) + "\"";
      return false;
    }
    if (close + 1 >= bind.size() || bind[close + 1] != ':') {
      error = "expected \"[address]:port\", got \"" + std::string(bind) + "\"";
      return false;
    }
    port = bind.substr(close + 2);
  } else {
    const auto colon = bind.rfind(':');
    if (colon == std::string_view::npos) {
      error = "expected \"host:port\", got \"" + std::string(bind) + "\"";
      return false;
    }
    host = bind.substr(0, colon);
    port = bind.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      error = "IPv6 addresses must be bracketed, e.g. \"[::1]:1883\", got \"" +
              std::string(bind) + "\"";
      return false;
    }
  }
  if (port.empty() || port.size() > 5) {
    error = "invalid port in \"" + std::string(bind) + "\"";
    return false;
  }
  std::uint32_t value = 0;
  for (const char c : port) {
    if (c < '0' || c > '9') {
      error = "invalid port in \"" + std::string(bind) + "\"";
      return false;
    }
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (value > 65535) {
    error = "port out of range in \"" + std::string(bind) + "\"";
    return false;
  }
  out.host = std::string(host);
  out.port = static_cast<std::uint16_t>(value);
  return true;
}

bool resolve_bind(std::string_view bind, asio::ip::tcp::endpoint& out, std::string& error) {
  HostPort hp;
  if (!parse_bind(bind, hp, error)) return false;
  if (hp.host.empty()) {
    out = asio::ip::tcp::endpoint(asio::ip::address_v4::any(), hp.port);
    return true;
  }
  asio::error_code ec;
  const auto addr = asio::ip::make_address(hp.host, ec);
  if (!ec) {
    out = asio::ip::tcp::endpoint(addr, hp.port);
    return true;
  }
  // A host name (e.g. "localhost"): startup only, so a blocking lookup is fine.
  asio::io_context ctx;
  asio::ip::tcp::resolver resolver(ctx);
  const auto results =
      resolver.resolve(hp.host, std::to_string(hp.port),
                       asio::ip::resolver_base::passive | asio::ip::resolver_base::numeric_service,
                       ec);
  if (ec || results.empty()) {
    error = "cannot resolve \"" + hp.host + "\": " + (ec ? ec.message() : "no address");
    return false;
  }
  out = results.begin()->endpoint();
  return true;
}

bool peer_endpoint(int fd, asio::ip::tcp::endpoint& out) {
  asio::ip::tcp::endpoint ep;
  auto len = static_cast<socklen_t>(ep.capacity());
  if (::getpeername(fd, ep.data(), &len) != 0 || len > ep.capacity()) return false;
  ep.resize(len);
  out = ep;
  return true;
}

std::string format_endpoint(const asio::ip::tcp::endpoint& ep) {
  const auto addr = ep.address().to_string();
  const auto port = std::to_string(ep.port());
  return ep.address().is_v6() ? "[" + addr + "]:" + port : addr + ":" + port;
}

}  // namespace tern::net
