// One reader per YAML section, over the defaults in Config. To add a section: a struct in
// config.hpp, a read_<section>() here, a row in kSections, and its keys in configs/tern.yaml.
// Ranges are checked here, where the YAML value and its line are at hand; rules spanning
// fields are in validate.cpp.

#include "broker/config/sections.hpp"

#include <string>
#include <string_view>

namespace tern::config::detail {
namespace {

constexpr std::uint64_t kTiB = 1024 * kGiB;

// Listener names show up in logs and metrics labels: keep them plain.
bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

void read_listener(MapReader& m, Listener& l) {
  if (const YAML::Node* n = m.get("name")) {
    if (auto v = read_string(*n, m.child_path("name"), m.diag())) {
      if (valid_name(*v)) {
        l.name = *v;
      } else {
        m.diag().error(m.child_path("name"), m.diag().line_for(m.child_path("name"), *n),
                       "expected 1 to 64 letters, digits, '_', '-' or '.', got " + describe(*n));
      }
    }
  } else {
    m.diag().error(m.child_path("name"), m.line(), "required key is missing");
  }
  if (const YAML::Node* n = m.get("bind")) {
    if (auto v = read_string(*n, m.child_path("bind"), m.diag())) {
      std::string err;
      if (auto b = parse_bind(*v, err)) {
        l.bind = *b;
      } else {
        m.diag().error(m.child_path("bind"), m.diag().line_for(m.child_path("bind"), *n), err);
      }
    }
  } else {
    m.diag().error(m.child_path("bind"), m.line(), "required key is missing");
  }
  m.integer("max_connections", l.max_connections, 0, 1'000'000);
  read_listener_security(m, l);
}

void read_listeners(MapReader& top, Config& c) {
  const YAML::Node* n = top.get("listeners");
  if (!n) return;
  Diagnostics& d = top.diag();
  c.listeners.clear();      // a listeners section replaces the default listener
  if (n->IsNull()) return;  // validate.cpp: "at least one listener is required"
  if (!n->IsSequence()) {
    d.error("listeners", d.line_for("listeners", *n),
            "expected a list of listeners (\"- name: ... bind: ...\"), got " + describe(*n));
    return;
  }
  constexpr std::size_t kMaxListeners = 64;
  if (n->size() > kMaxListeners) {
    d.error("listeners", d.line_for("listeners", *n),
            "at most " + std::to_string(kMaxListeners) + " listeners are allowed, got " +
                std::to_string(n->size()));
    return;
  }
  std::size_t i = 0;
  for (const auto& item : *n) {
    const std::string path = "listeners[" + std::to_string(i++) + "]";
    Listener l;
    MapReader m(item, path, d);
    if (!item.IsMap()) {
      if (m.is_map())
        d.error(path, line_of(item), "expected a listener mapping, got " + describe(item));
      continue;
    }
    read_listener(m, l);
    m.finish();
    c.listeners.push_back(std::move(l));
  }
}

void read_mqtt(MapReader& m, Config& c) {
  Mqtt& q = c.mqtt;
  // A Remaining Length tops out just under 256 MiB (MQTT 5.0 1.5.5 Variable Byte Integer);
  // below 16 bytes not even a CONNECT fits.
  m.size("max_packet_size", q.max_packet_size, 16, 256 * kMiB);
  // Receive Maximum 0 is a Protocol Error (MQTT 5.0 3.2.2.3.3).
  m.integer("max_inflight", q.max_inflight, 1, 65535);
  // Towards clients the window is also bounded by a v5 client's Receive Maximum
  // [MQTT-3.3.4-7]; a 3.1.1 client states none, so this alone bounds it.
  m.integer("max_inflight_out", q.max_inflight_out, 1, 65535);
  m.integer("topic_alias_maximum", q.topic_alias_maximum, 0, 65535);
  // Keep Alive and Server Keep Alive are two-byte numbers of seconds (MQTT 5.0 3.1.2.10).
  m.seconds("max_keepalive", q.max_keepalive, Seconds{65535}, false);
  m.boolean("retain_available", q.retain_available);
  m.size("max_retained_bytes", q.max_retained_bytes, kKiB, 64 * kGiB);
  m.boolean("shared_subscriptions", q.shared_subscriptions);
  m.boolean("wildcard_subscriptions", q.wildcard_subscriptions);
  m.boolean("subscription_identifiers", q.subscription_identifiers);
  m.integer("maximum_qos", q.maximum_qos, 0, 2);
  m.duration("connect_timeout", q.connect_timeout, Millis{100}, Millis{3'600'000});
}

void read_sessions(MapReader& m, Config& c) {
  Sessions& s = c.sessions;
  // 0xFFFFFFFF is MQTT's "never" (MQTT 5.0 3.1.2.11.2), spelled `never` here.
  const Seconds kMaxFinite{0xFFFFFFFEu};
  m.seconds("expiry_default", s.expiry_default, kMaxFinite, true);
  m.seconds("max_session_expiry", s.max_session_expiry, kMaxFinite, true);
  m.integer("max_queued_messages", s.max_queued_messages, 1, 10'000'000);
  m.size("max_queued_bytes", s.max_queued_bytes, kKiB, kGiB);
  m.enumeration<Overflow>("overflow", s.overflow, kOverflows);
  m.boolean("queue_qos0_offline", s.queue_qos0_offline);
  m.size("outbound_buffer_limit", s.outbound_buffer_limit, kKiB, kGiB);
  m.enumeration<SlowClient>("on_slow_client", s.on_slow_client, kSlowClients);
}

void read_storage(MapReader& m, Config& c) {
  Storage& s = c.storage;
  if (const YAML::Node* n = m.get("path")) {
    const std::string path = m.child_path("path");
    if (auto v = read_string(*n, path, m.diag())) {
      std::string err;
      // Absolute only: a relative directory would depend on where the broker was started,
      // and a different one silently means starting with no sessions.
      if (auto p = parse_storage_path(*v, /*allow_relative=*/false, err)) {
        s.path = std::move(*p);
      } else {
        m.diag().error(path, m.diag().line_for(path, *n), err);
      }
    }
  }
  m.enumeration<SyncMode>("sync", s.sync, kSyncModes);
  // Longer than a second is no longer a group commit but a stall of every acknowledgement.
  m.duration("batch_window", s.batch_window, Millis{0}, Millis{1000});
  m.enumeration<OnCorruption>("on_corruption", s.on_corruption, kOnCorruptions);
  // 1 GiB caps keep the sizes within a 32-bit size_t (armhf) with room to spare.
  m.size("cache_size", s.cache_size, 0, kGiB);
  // LevelDB clamps its write buffer to at least 64 KiB; say so rather than clamp silently.
  m.size("write_buffer_size", s.write_buffer_size, 64 * kKiB, kGiB);
  m.integer("queue_window", s.queue_window, 1, 10'000'000);
  m.size("queue_window_bytes", s.queue_window_bytes, kKiB, kGiB);
}

// A rate of events per second for a token bucket holding one second's worth: below 1/s
// the bucket never holds a whole token, so nothing would ever pass.
void rate(MapReader& m, std::string_view key, double& out) {
  const YAML::Node* n = m.get(key);
  if (!n) return;
  std::string err;
  std::optional<double> v;
  if (n->IsScalar()) v = parse_rate(n->Scalar(), err);
  if (!n->IsScalar()) err = "expected a rate such as 200 or \"200/s\", got " + describe(*n);
  if (v && *v > 0 && *v < 1) {
    err = "expected at least 1/s (or 0 = unlimited), got " + describe(*n) +
          ": the limit allows a burst of one second's worth, and less than one would let "
          "nothing through";
    v.reset();
  }
  if (v) {
    out = *v;
  } else {
    m.error_at(key, *n, err);
  }
}

void read_limits(MapReader& m, Config& c) {
  m.integer("max_connections", c.limits.max_connections, 1, 1'000'000);
  m.integer("max_subscriptions_per_session", c.limits.max_subscriptions_per_session, 1,
            10'000'000);
  m.size("max_subscription_bytes_per_session", c.limits.max_subscription_bytes_per_session,
         1024, 1024ull * 1024 * 1024);
  Limits& l = c.limits;
  rate(m, "connect_rate", l.connect_rate);
  rate(m, "publish_rate", l.publish_rate);
  if (const YAML::Node* n = m.get("publish_bytes_rate")) {
    std::string err;
    std::optional<std::uint64_t> v;
    if (n->IsScalar()) v = parse_byte_rate(n->Scalar(), err);
    if (!n->IsScalar()) err = "expected a data rate such as \"1MiB/s\", got " + describe(*n);
    if (v) {
      l.publish_bytes_rate = *v;
    } else {
      m.error_at("publish_bytes_rate", *n, err);
    }
  }
  // A topic is an MQTT string: at most 65535 bytes [MQTT-1.5.3], so at most 32768 levels.
  m.integer("max_topic_length", l.max_topic_length, 0, 65535);
  m.integer("max_topic_levels", l.max_topic_levels, 0, 32768);
  // size_t on 32-bit boards caps what RAM can hold anyway.
  m.size("memory_budget", l.memory_budget, 0, kTiB);
}

void read_log(MapReader& m, Config& c) {
  Log& l = c.log;
  m.enumeration<LogLevel>("level", l.level, kLogLevels);
  m.enumeration<LogFormat>("format", l.format, kLogFormats);
  if (const YAML::Node* n = m.get("to")) {
    const std::string s = n->IsScalar() ? n->Scalar() : std::string();
    if (s == "stdout") {
      l.to = LogTarget::Stdout;
    } else if (s == "stderr") {
      l.to = LogTarget::Stderr;
    } else if (s == "syslog") {
      l.to = LogTarget::Syslog;
    } else if (s.starts_with("file:") && s.size() > 6 && s[5] == '/') {
      // Absolute only: a relative path would depend on where the broker was started.
      l.to = LogTarget::File;
      l.file = s.substr(5);
    } else {
      m.diag().error(
          m.child_path("to"), m.diag().line_for(m.child_path("to"), *n),
          "expected stdout | stderr | syslog | file:/absolute/path, got " + describe(*n));
    }
  }
  read_log_levels(m, l);
}

using SectionReader = void (*)(MapReader&, Config&);
struct Section {
  std::string_view key;
  SectionReader read;
};
// The mapping sections. `listeners` (a list) and `io_threads` (a scalar) are read apart.
constexpr Section kSections[] = {
    {"mqtt", read_mqtt},
    {"sessions", read_sessions},
    {"limits", read_limits},
    {"auth", read_auth},
    {"storage", read_storage},
    {"log", read_log},
    {"http", read_http},
    {"sys_topics", read_sys_topics},
    {"dead_letter", read_dead_letter},
};

}  // namespace

void read_config(const YAML::Node& root, Diagnostics& d, Config& c) {
  MapReader top(root, "", d);
  if (!top.is_map()) return;
  read_listeners(top, c);
  for (const auto& s : kSections) {
    const YAML::Node* n = top.get(s.key);
    if (!n) continue;
    MapReader m(*n, std::string(s.key), d);
    if (!m.is_map()) continue;
    s.read(m, c);
    m.finish();
  }
  read_acl(top, c);
  read_bridges(top, c);
  // 0 = one loop per core (capped at 4 by app); more than 64 loops is never useful here.
  top.integer("io_threads", c.io_threads, 0, 64);
  top.finish();
}

}  // namespace tern::config::detail
