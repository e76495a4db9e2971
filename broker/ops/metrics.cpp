// Prometheus text exposition format 0.0.4 for an ops::Snapshot.
// https://prometheus.io/docs/instrumenting/exposition_formats/
#include "broker/ops/metrics.hpp"

#include <charconv>
#include <cmath>
#include <string_view>

namespace tern::ops {

std::vector<std::pair<std::string, std::uint64_t>> dropped_by_reason(const Snapshot& s) {
  const core::BrokerStats& b = s.broker;
  return {
      {"queue_full", b.dropped_queue_full},
      {"expired", b.dropped_expired},
      {"too_large", b.dropped_too_large},
      {"qos0_offline", b.dropped_qos0_offline},
      {"retained_quota", b.dropped_retained_quota},
      // The names of core's DropReason ($DLQ/<reason>/...) where they are the same drop.
      {"rejected", b.dropped_rejected_by_client},  // MQTT 5 PUBACK/PUBREC >= 0x80
      {"queue_rejected", b.dropped_rejected},      // a full internal queue, policy reject
      {"memory_budget", b.dropped_memory_budget},
      {"slow_client", s.server.slow_client_dropped},
  };
}

std::uint64_t clients_disconnected(const Snapshot& s) {
  const core::BrokerStats& b = s.broker;
  return b.sessions > b.clients_connected ? b.sessions - b.clients_connected : 0;
}

namespace {

struct Label {
  std::string_view name;
  std::string_view value;
};

void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    // Shortest round-trip digits in fixed notation: "0.0005", not "5e-04", so `le` labels
    // read as people expect (both forms are valid for Prometheus). 330 chars fit any double.
    char buf[330];
    const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
    out.append(buf, r.ptr);
  }
}

void append_number(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// Label values: backslash, double quote and line feed are escaped (format 0.0.4).
void append_label_value(std::string& out, std::string_view v) {
  for (const char c : v) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  // HELP text is fixed ASCII here, without backslashes or line feeds to escape.
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  template <class V>
  void sample(std::string_view name, std::initializer_list<Label> labels, V value) {
    out_ += name;
    if (labels.size() > 0) {
      out_ += '{';
      bool first = true;
      for (const Label& l : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += l.name;
        out_ += "=\"";
        append_label_value(out_, l.value);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    append_number(out_, value);
    out_ += '\n';
  }

  // A family with one unlabelled sample.
  template <class V>
  void single(std::string_view name, std::string_view type, std::string_view help, V value) {
    family(name, type, help);
    sample(name, {}, value);
  }

 private:
  std::string& out_;
};

constexpr std::string_view kCounter = "counter";
constexpr std::string_view kGauge = "gauge";

double seconds(std::chrono::milliseconds d) { return static_cast<double>(d.count()) / 1000.0; }

void render_broker(Writer& w, const Snapshot& s) {
  const core::BrokerStats& b = s.broker;
  w.family("tern_build_info", kGauge, "Tern version (always 1).");
  w.sample("tern_build_info", {{"version", s.version}}, std::uint64_t{1});
  w.single("tern_uptime_seconds", kGauge, "Seconds since the broker started.",
           seconds(s.uptime));

  w.single("tern_clients_connected", kGauge, "Connected clients.", b.clients_connected);
  w.single("tern_clients_maximum", kGauge, "Most clients connected at once since start.",
           b.clients_maximum);
  w.single("tern_clients_disconnected", kGauge,
           "Persistent sessions whose client is not connected.", clients_disconnected(s));
  w.single("tern_sessions", kGauge, "Sessions, connected and offline.", b.sessions);
  w.single("tern_subscriptions", kGauge, "Subscriptions, all sessions together.",
           b.subscriptions);
  w.single("tern_retained_messages", kGauge, "Retained messages stored.", b.retained_messages);
  w.single("tern_messages_queued", kGauge, "Messages queued for sessions (RAM and disk).",
           b.queued_messages);
  w.single("tern_messages_queued_on_disk", kGauge,
           "Queued messages kept on disk outside the RAM window.", b.queued_on_disk);
  w.single("tern_queued_bytes", kGauge, "Bytes of queued messages counted against memory_budget.",
           b.queued_bytes);
  w.single("tern_acks_waiting_commit", kGauge,
           "Acknowledgements waiting for a storage commit.", b.acks_waiting);

  w.single("tern_messages_received_total", kCounter, "PUBLISH packets received.",
           b.messages_received);
  w.single("tern_messages_sent_total", kCounter, "PUBLISH packets sent.", b.messages_sent);
  w.single("tern_bytes_received_total", kCounter, "PUBLISH payload bytes received.",
           b.bytes_received);
  w.single("tern_bytes_sent_total", kCounter, "PUBLISH payload bytes sent.", b.bytes_sent);

  w.family("tern_messages_dropped_total", kCounter, "Messages dropped, by reason.");
  for (const auto& [reason, n] : dropped_by_reason(s)) {
    w.sample("tern_messages_dropped_total", {{"reason", reason}}, n);
  }
  w.family("tern_denied_total", kCounter,
           "Operations refused by the ACL (or publishes to $SYS/$DLQ), by action.");
  w.sample("tern_denied_total", {{"action", "publish"}}, b.denied_publish);
  w.sample("tern_denied_total", {{"action", "subscribe"}}, b.denied_subscribe);
  w.sample("tern_denied_total", {{"action", "receive"}}, b.denied_receive);
  w.sample("tern_denied_total", {{"action", "publish_system_topic"}}, b.denied_system_topic);
  w.single("tern_dead_letters_total", kCounter, "Dropped messages republished to $DLQ/.",
           b.dead_lettered);
  w.single("tern_dead_letters_rate_limited_total", kCounter,
           "Drops not republished to $DLQ/: over dead_letter.max_rate.",
           b.dead_letter_rate_limited);
  w.single("tern_system_messages_total", kCounter, "Messages the broker published itself ($SYS).",
           b.system_published);
  w.single("tern_publish_rate_disconnects_total", kCounter,
           "Clients disconnected for exceeding publish_rate.", b.rate_limited);
  w.single("tern_topics_refused_total", kCounter,
           "Topics refused over max_topic_length or max_topic_levels.", b.topic_refused);
  w.single("tern_storage_commit_failures_reported_total", kCounter,
           "Commits core was told had failed (clients disconnected without acknowledgement).",
           b.storage_failures);
}

void render_net(Writer& w, const Snapshot& s) {
  const net::ServerStats& n = s.server;
  w.single("tern_connections_open", kGauge, "Open client sockets, all listeners.",
           n.connections_open);
  w.single("tern_connections_accepted_total", kCounter, "Connections accepted.",
           n.connections_accepted);
  w.family("tern_connections_refused_total", kCounter, "Connections refused, by reason.");
  w.sample("tern_connections_refused_total", {{"reason", "limit"}}, n.connections_refused);
  w.sample("tern_connections_refused_total", {{"reason", "rate"}}, n.connections_rate_limited);
  w.sample("tern_connections_refused_total", {{"reason", "auth"}}, n.auth_failures);
  w.single("tern_slow_client_disconnects_total", kCounter,
           "Clients disconnected over outbound_buffer_limit.", n.slow_client_disconnects);
  w.single("tern_malformed_packets_total", kCounter, "Connections closed over malformed input.",
           n.malformed_packets);
  w.single("tern_tls_handshake_failures_total", kCounter, "Failed TLS handshakes.",
           n.tls_handshake_failures);
  w.single("tern_websocket_failures_total", kCounter,
           "Bad WebSocket upgrades and frame violations.", n.websocket_failures);
  w.single("tern_outbound_bytes_queued", kGauge, "Encoded bytes waiting to be written.",
           n.outbound_bytes_queued);

  if (s.listeners.empty()) return;
  w.family("tern_listener_connections", kGauge, "Open connections per listener.");
  for (const ListenerFigures& l : s.listeners) {
    w.sample("tern_listener_connections", {{"listener", l.name}}, l.connections_open);
  }
  w.family("tern_listener_connections_accepted_total", kCounter,
           "Connections accepted per listener.");
  for (const ListenerFigures& l : s.listeners) {
    w.sample("tern_listener_connections_accepted_total", {{"listener", l.name}},
             l.connections_accepted);
  }
}

void render_storage(Writer& w, const Snapshot& s) {
  const StorageFigures& st = s.storage;
  w.single("tern_storage_enabled", kGauge, "1 when a storage path is configured.",
           std::uint64_t{st.enabled ? 1u : 0u});
  if (!st.enabled) return;
  w.single("tern_storage_size_bytes", kGauge, "Size of the storage directory on disk.",
           st.size_bytes);
  w.single("tern_storage_last_commit_ok", kGauge, "1 when the newest storage write succeeded.",
           std::uint64_t{st.last_commit_ok ? 1u : 0u});
  w.single("tern_storage_commits_total", kCounter, "Batches made durable.", st.commits);
  w.single("tern_storage_writes_total", kCounter, "Storage writes (group commits).", st.writes);
  w.single("tern_storage_commit_failures_total", kCounter, "Batches whose write failed.",
           st.failed);
  w.single("tern_storage_rejected_total", kCounter,
           "Batches refused because the storage queue was full.", st.rejected);
  w.single("tern_storage_written_bytes_total", kCounter, "Batch bytes written to storage.",
           st.bytes_written);
  w.single("tern_storage_pending_batches", kGauge, "Batches waiting to be written.",
           st.pending_batches);

  const storage::LatencyHistogram& h = st.commit_latency;
  constexpr std::string_view kName = "tern_storage_commit_latency_seconds";
  w.family(kName, "histogram", "Time from submitting a batch to its durable write.");
  std::uint64_t cumulative = 0;
  std::string le;
  for (std::size_t i = 0; i < storage::LatencyHistogram::kBoundsUs.size(); ++i) {
    cumulative += h.counts[i];
    le.clear();
    append_number(le, static_cast<double>(storage::LatencyHistogram::kBoundsUs[i]) / 1e6);
    w.sample("tern_storage_commit_latency_seconds_bucket", {{"le", le}}, cumulative);
  }
  w.sample("tern_storage_commit_latency_seconds_bucket", {{"le", "+Inf"}}, h.count);
  w.sample("tern_storage_commit_latency_seconds_sum", {}, static_cast<double>(h.sum_us) / 1e6);
  w.sample("tern_storage_commit_latency_seconds_count", {}, h.count);
}

void render_bridges(Writer& w, const Snapshot& s) {
  if (s.bridges.empty()) return;
  w.family("tern_bridge_connected", kGauge, "1 while the bridge's uplink is connected.");
  for (const BridgeFigures& b : s.bridges) {
    w.sample("tern_bridge_connected", {{"bridge", b.name}}, std::uint64_t{b.connected ? 1u : 0u});
  }
  w.family("tern_bridge_connects_total", kCounter, "Successful uplink connections.");
  for (const BridgeFigures& b : s.bridges) {
    w.sample("tern_bridge_connects_total", {{"bridge", b.name}}, b.connects);
  }
  w.family("tern_bridge_queue_depth", kGauge, "Messages waiting to go upstream (RAM and disk).");
  for (const BridgeFigures& b : s.bridges) {
    w.sample("tern_bridge_queue_depth", {{"bridge", b.name}}, b.queued);
  }
  w.family("tern_bridge_queue_on_disk", kGauge, "Queued messages kept on disk.");
  for (const BridgeFigures& b : s.bridges) {
    w.sample("tern_bridge_queue_on_disk", {{"bridge", b.name}}, b.on_disk);
  }
  w.family("tern_bridge_inflight", kGauge, "Messages sent upstream, not yet acknowledged.");
  for (const BridgeFigures& b : s.bridges) {
    w.sample("tern_bridge_inflight", {{"bridge", b.name}}, b.inflight);
  }
  w.family("tern_bridge_oldest_age_seconds", kGauge,
           "Age of the oldest message waiting to go upstream (0 when none).");
  for (const BridgeFigures& b : s.bridges) {
    w.sample("tern_bridge_oldest_age_seconds", {{"bridge", b.name}},
             b.oldest_age_seconds.value_or(0.0));
  }
  w.family("tern_bridge_forwarded_total", kCounter, "Messages forwarded, by direction.");
  for (const BridgeFigures& b : s.bridges) {
    w.sample("tern_bridge_forwarded_total", {{"bridge", b.name}, {"direction", "out"}},
             b.forwarded_out);
    w.sample("tern_bridge_forwarded_total", {{"bridge", b.name}, {"direction", "in"}},
             b.forwarded_in);
  }
  w.family("tern_bridge_dropped_total", kCounter, "Messages a bridge dropped, by reason.");
  for (const BridgeFigures& b : s.bridges) {
    for (const auto& [reason, n] : b.dropped) {
      w.sample("tern_bridge_dropped_total", {{"bridge", b.name}, {"reason", reason}}, n);
    }
  }
}

}  // namespace

std::string render_prometheus(const Snapshot& s) {
  std::string out;
  out.reserve(8192);
  Writer w(out);
  render_broker(w, s);
  render_net(w, s);
  render_storage(w, s);
  render_bridges(w, s);
  return out;
}

}  // namespace tern::ops
