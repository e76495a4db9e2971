// Listener addresses: "host:port", "[v6addr]:port" (port 0 = any free port) parsed and
// resolved to a TCP endpoint. Pure functions; resolve_bind may consult the system resolver.
// Thread safety: reentrant.
#pragma once

#include <asio/ip/tcp.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace tern::net {

struct HostPort {
  std::string host;  // without brackets; empty means "any IPv4 address"
  std::uint16_t port = 0;
};

// Splits a bind string. IPv6 literals must be bracketed ("[::1]:1883") so the port is never
// ambiguous. Returns false with a message on malformed input.
bool parse_bind(std::string_view bind, HostPort& out, std::string& error);

// parse_bind, then the host as an IP literal or, failing that, a name resolved for a passive
// (listening) socket; the first address wins.
bool resolve_bind(std::string_view bind, asio::ip::tcp::endpoint& out, std::string& error);

// The peer address of a connected socket (getpeername); false when it has none (the peer
// is gone, or `fd` is not a socket).
bool peer_endpoint(int fd, asio::ip::tcp::endpoint& out);

// "1.2.3.4:5" or "[::1]:5", for logs.
std::string format_endpoint(const asio::ip::tcp::endpoint& ep);

}  // namespace tern::net
