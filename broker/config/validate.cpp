// Rules spanning several fields, checked once every section is read (or on a Config built
// in code). Single-value ranges live in sections.cpp beside the YAML they come from.

#include <string>

#include "broker/config/sections.hpp"

namespace tern::config::detail {
namespace {

std::string listener_path(std::size_t i, const char* key) {
  return "listeners[" + std::to_string(i) + "]." + key;
}

std::string session_expiry_string(Seconds s) {
  return s == kNeverExpires ? "never" : format_duration(s);
}

// The line of `a`, else of `b`: a rule may be broken by a key the file left at its default.
int either_line(const Diagnostics& d, const std::string& a, const std::string& b) {
  const int l = d.line_of(a);
  return l ? l : d.line_of(b);
}

void check_listeners(const Config& c, Diagnostics& d) {
  if (c.listeners.empty()) {
    d.error("listeners", d.line_of("listeners"), "at least one listener is required");
    return;
  }
  for (std::size_t i = 0; i < c.listeners.size(); ++i) {
    const Listener& l = c.listeners[i];
    for (std::size_t j = 0; j < i; ++j) {
      const Listener& o = c.listeners[j];
      if (o.name == l.name) {
        const std::string p = listener_path(i, "name");
        d.error(p, d.line_of(p),
                "duplicate listener name \"" + l.name + "\" (also listeners[" + std::to_string(j) +
                    "])");
      }
      // Port 0 asks the kernel for any free port, so two of those never clash.
      if (l.bind.port == 0 || o.bind.port != l.bind.port || o.bind.ipv6 != l.bind.ipv6) continue;
      const std::string p = listener_path(i, "bind");
      if (o.bind.host == l.bind.host) {
        d.error(p, d.line_of(p),
                l.bind.to_string() + " is already used by listener \"" + o.name + "\" (listeners[" +
                    std::to_string(j) + "])");
      } else if (o.bind.is_wildcard() || l.bind.is_wildcard()) {
        // The kernel refuses the second bind (EADDRINUSE); say why before it does.
        d.error(p, d.line_of(p),
                l.bind.to_string() + " overlaps " + o.bind.to_string() + " of listener \"" +
                    o.name + "\" (listeners[" + std::to_string(j) +
                    "]): the wildcard address already covers this port");
      }
    }
    if (l.max_connections > c.limits.max_connections) {
      const std::string p = listener_path(i, "max_connections");
      d.error(p, d.line_of(p),
              std::to_string(l.max_connections) + " exceeds limits.max_connections (" +
                  std::to_string(c.limits.max_connections) + "), so it could never apply");
    }
  }
}

}  // namespace

void check_config(const Config& c, Diagnostics& d) {
  check_listeners(c, d);
  check_security(c, d);
  check_bridges(c, d);
  check_operations(c, d);
  if (c.sessions.expiry_default > c.sessions.max_session_expiry) {
    d.error("sessions.expiry_default",
            either_line(d, "sessions.expiry_default", "sessions.max_session_expiry"),
            session_expiry_string(c.sessions.expiry_default) +
                " exceeds sessions.max_session_expiry (" +
                session_expiry_string(c.sessions.max_session_expiry) + ")");
  }
  if (c.sessions.outbound_buffer_limit < c.mqtt.max_packet_size) {
    // Otherwise one maximum-size message could never be handed to a client's socket.
    d.error("sessions.outbound_buffer_limit",
            either_line(d, "sessions.outbound_buffer_limit", "mqtt.max_packet_size"),
            format_size(c.sessions.outbound_buffer_limit) +
                " is smaller than mqtt.max_packet_size (" + format_size(c.mqtt.max_packet_size) +
                "); a maximum-size message could never be sent");
  }
}

}  // namespace tern::config::detail
