// The operations sections: `http:` (metrics, health, read-only API), `sys_topics:`,
// `dead_letter:` and `log.levels:`, and the rules spanning them and the listeners
// (check_operations). The token file is only named here; app reads it.

#include <cmath>
#include <string>
#include <string_view>

#include "broker/config/quote.hpp"
#include "broker/config/sections.hpp"

namespace tern::config::detail {
namespace {

// The line of `a`, else of `b`: a rule may be broken by a key left at its default.
int either_line(const Diagnostics& d, const std::string& a, const std::string& b) {
  const int l = d.line_of(a);
  return l ? l : d.line_of(b);
}

// Two binds the kernel would refuse to hold at once. Listeners are bound IPV6_V6ONLY, so
// the families never overlap; port 0 (any free port) never clashes.
bool binds_clash(const BindAddress& a, const BindAddress& b) {
  if (a.port == 0 || a.port != b.port || a.ipv6 != b.ipv6) return false;
  return a.host == b.host || a.is_wildcard() || b.is_wildcard();
}

}  // namespace

void read_http(MapReader& m, Config& c) {
  Http& h = c.http;
  // The section's presence turns the endpoint on; `enabled: false` keeps it written down.
  h.enabled = true;
  m.boolean("enabled", h.enabled);
  if (const YAML::Node* n = m.get("bind")) {
    const std::string path = m.child_path("bind");
    if (auto v = read_string(*n, path, m.diag())) {
      std::string err;
      if (auto b = parse_bind(*v, err)) {
        h.bind = *b;
      } else {
        m.error_at("bind", *n, err);
      }
    }
  }
  m.file("token_file", h.token_file);
}

void read_sys_topics(MapReader& m, Config& c) {
  // Whole seconds: 0 turns the tree off; more than an hour between updates makes the
  // per-minute rates and the uptime meaningless to a dashboard.
  m.seconds("interval", c.sys_topics.interval, Seconds{3600}, false);
}

void read_dead_letter(MapReader& m, Config& c) {
  DeadLetter& dl = c.dead_letter;
  m.boolean("enabled", dl.enabled);
  const YAML::Node* n = m.get("max_rate");
  if (!n) return;
  constexpr double kMin = 1;
  constexpr double kMax = 100'000;
  std::string err;
  std::optional<double> v;
  if (n->IsScalar()) v = parse_rate(n->Scalar(), err);
  // The bucket holds one second's worth (whole dead letters): below 1/s nothing would pass,
  // and 0 is not "unlimited" here, since dead letters must never flood the broker.
  if (!n->IsScalar() || !v || *v < kMin || *v > kMax || *v != std::floor(*v)) {
    m.error_at("max_rate", *n,
               "expected a whole number of dead letters per second from 1 to 100000, e.g. 100 "
               "or \"100/s\" (\"600/m\" = 10/s), got " +
                   describe(*n));
    return;
  }
  dl.max_rate = static_cast<std::uint32_t>(*v);
}

void read_log_levels(MapReader& m, Log& l) {
  const YAML::Node* n = m.get("levels");
  if (!n) return;
  MapReader r(*n, m.child_path("levels"), m.diag());
  if (!r.is_map()) return;
  for (const auto& s : kLogSubsystemNames) {
    const YAML::Node* v = r.get(s.name);
    if (!v) continue;
    std::optional<LogLevel> level;
    if (v->IsScalar()) level = enum_value<LogLevel>(kLogLevels, v->Scalar());
    if (level) {
      l.levels[static_cast<std::size_t>(s.value)] = *level;
    } else {
      r.error_at(s.name, *v,
                 "expected one of " + enum_choices<LogLevel>(kLogLevels) + ", got " +
                     describe(*v));
    }
  }
  r.finish("subsystem");
}

void check_operations(const Config& c, Diagnostics& d) {
  const Http& h = c.http;
  if (!h.enabled) return;
  if (!h.bind.is_loopback() && h.token_file.empty()) {
    // Metrics and the client list name clients, users and topics: off loopback they are
    // for the holder of the token only.
    d.error("http.token_file", either_line(d, "http.bind", "http"),
            "required when http.bind is not a loopback address (127.0.0.0/8, ::1), got " +
                h.bind.to_string() +
                ": set a bearer token file, or bind to 127.0.0.1");
  }
  for (std::size_t i = 0; i < c.listeners.size(); ++i) {
    const Listener& l = c.listeners[i];
    if (!binds_clash(h.bind, l.bind)) continue;
    d.error("http.bind", either_line(d, "http.bind", "http"),
            h.bind.to_string() + " clashes with " + l.bind.to_string() + " of listener " +
                quoted(l.name) + " (listeners[" + std::to_string(i) +
                "]): the HTTP endpoint needs a port of its own");
  }
}

}  // namespace tern::config::detail
