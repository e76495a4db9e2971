// Config -> net::ServerOptions / core::BrokerOptions / bridge::BridgeOptions. Every range
// was checked by the loader, so the narrowing casts here cannot lose information.

#include "broker/app/options_map.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "broker/app/files.hpp"
#include "broker/config/quote.hpp"

namespace tern::app {

unsigned resolve_io_threads(unsigned configured, unsigned hardware) {
  if (configured != 0) return configured;
  return std::clamp(hardware, 1u, 4u);
}

config::Config apply_cli(const config::Config& base, const CliOptions& cli,
                         std::vector<config::Error>& errors) {
  config::Config c = base;
  if (cli.port || cli.bind) {
    const std::uint16_t port = cli.port.value_or(1883);
    std::string err;
    if (auto b = config::parse_bind_host(cli.bind.value_or("0.0.0.0"), port, err)) {
      config::Listener l;
      l.name = "mqtt";
      l.bind = *b;
      c.listeners = {l};
    } else {
      errors.push_back(config::Error{"--bind", 0, 0, err});
    }
  }
  if (cli.log_level) c.log.level = *cli.log_level;
  if (cli.data_dir) {
    std::string err;
    if (auto p = config::parse_storage_path(*cli.data_dir, /*allow_relative=*/true, err)) {
      c.storage.path = std::move(*p);
    } else {
      errors.push_back(config::Error{"--data-dir", 0, 0, err});
    }
  }
  for (auto& e : config::validate(c)) errors.push_back(std::move(e));
  return c;
}

tls::ServerOptions to_tls_options(const config::ListenerTls& t) {
  tls::ServerOptions o;
  o.cert_file = t.cert.path;
  o.key_file = t.key.path;
  o.ca_file = t.ca.path;
  o.require_client_cert = t.require_client_cert;
  o.min_version = t.min_version == config::TlsVersion::V1_3 ? tls::Version::v1_3
                                                            : tls::Version::v1_2;
  o.ciphers = t.ciphers;
  return o;
}

net::ListenerOptions to_listener_options(const config::Config& c, const config::Listener& l) {
  net::ListenerOptions o;
  o.name = l.name;
  o.bind = l.bind.to_string();
  o.max_connections = l.max_connections;
  o.transport = l.protocol == config::ListenerProtocol::WebSocket
                    ? net::ListenerTransport::WebSocket
                    : net::ListenerTransport::Mqtt;
  o.ws_path = l.path;
  if (l.tls) {
    o.tls = to_tls_options(*l.tls);
    o.use_cn_as_username = l.tls->use_cn_as_username;
  }
  o.allow_anonymous = l.allow_anonymous.value_or(c.auth.allow_anonymous);
  o.accept_v311 = l.accept_v311;
  o.accept_v5 = l.accept_v5;
  return o;
}

net::ServerOptions to_server_options(const config::Config& c, unsigned hardware_threads) {
  net::ServerOptions n;
  n.listeners.clear();
  for (const auto& l : c.listeners) n.listeners.push_back(to_listener_options(c, l));
  n.connect_rate = c.limits.connect_rate;
  n.io_threads = resolve_io_threads(c.io_threads, hardware_threads);
  n.max_connections = c.limits.max_connections;
  n.outbound_buffer_limit = static_cast<std::size_t>(c.sessions.outbound_buffer_limit);
  n.on_slow_client = c.sessions.on_slow_client == config::SlowClient::Drop
                         ? net::SlowClientPolicy::Drop
                         : net::SlowClientPolicy::Disconnect;
  n.handle_signals = true;

  const config::Storage& s = c.storage;
  net::StorageOptions& st = n.storage;
  st.path = s.path;
  switch (s.sync) {
    case config::SyncMode::Always: st.sync = storage::SyncMode::always; break;
    case config::SyncMode::Batch: st.sync = storage::SyncMode::batch; break;
    case config::SyncMode::None: st.sync = storage::SyncMode::none; break;
  }
  st.batch_window = std::chrono::duration_cast<std::chrono::microseconds>(s.batch_window);
  st.on_corruption = s.on_corruption == config::OnCorruption::Fail
                         ? storage::OnCorruption::fail
                         : storage::OnCorruption::move_aside;
  st.cache_size = static_cast<std::size_t>(s.cache_size);
  st.write_buffer_size = static_cast<std::size_t>(s.write_buffer_size);
  st.queue_window = s.queue_window;
  st.queue_window_bytes = static_cast<std::size_t>(s.queue_window_bytes);
  return n;
}

core::BrokerOptions to_broker_options(const config::Config& c) {
  core::BrokerOptions b;
  const config::Mqtt& m = c.mqtt;
  b.max_packet_size = m.max_packet_size;
  // What clients may have in flight towards us (our Receive Maximum), and what we keep in
  // flight towards a client (a v5 client's own Receive Maximum caps it further).
  b.receive_maximum = m.max_inflight;
  b.max_inflight_out = m.max_inflight_out;
  b.topic_alias_maximum = m.topic_alias_maximum;
  b.max_keepalive = static_cast<std::uint16_t>(m.max_keepalive.count());
  b.retain_available = m.retain_available;
  b.max_retained_bytes = m.max_retained_bytes;
  b.shared_subscriptions = m.shared_subscriptions;
  b.wildcard_subscriptions = m.wildcard_subscriptions;
  b.subscription_identifiers = m.subscription_identifiers;
  b.maximum_qos = m.maximum_qos;
  b.connect_timeout = std::chrono::duration_cast<core::Duration>(m.connect_timeout);
  const config::Sessions& s = c.sessions;
  b.session_expiry_default = static_cast<std::uint32_t>(s.expiry_default.count());
  b.max_session_expiry = static_cast<std::uint32_t>(s.max_session_expiry.count());
  b.max_queued_messages = s.max_queued_messages;
  b.max_queued_bytes = static_cast<std::size_t>(s.max_queued_bytes);
  b.overflow = s.overflow == config::Overflow::DropNewest ? core::OverflowPolicy::DropNewest
                                                          : core::OverflowPolicy::DropOldest;
  b.queue_qos0_offline = s.queue_qos0_offline;
  b.max_subscriptions_per_session = c.limits.max_subscriptions_per_session;
  b.max_subscription_bytes_per_session =
      static_cast<std::size_t>(c.limits.max_subscription_bytes_per_session);
  b.publish_rate = c.limits.publish_rate;
  b.publish_bytes_rate = c.limits.publish_bytes_rate;
  b.max_topic_length = c.limits.max_topic_length;
  b.max_topic_levels = c.limits.max_topic_levels;
  b.memory_budget = c.limits.memory_budget;
  b.dead_letter.enabled = c.dead_letter.enabled;
  b.dead_letter.max_rate = c.dead_letter.max_rate;
  return b;
}

namespace {

bridge::Direction to_direction(config::BridgeDirection d) {
  switch (d) {
    case config::BridgeDirection::Out: return bridge::Direction::Out;
    case config::BridgeDirection::In: return bridge::Direction::In;
    case config::BridgeDirection::Both: return bridge::Direction::Both;
  }
  return bridge::Direction::Out;
}

core::OverflowPolicy to_overflow(config::BridgeOverflow o) {
  switch (o) {
    case config::BridgeOverflow::DropOldest: return core::OverflowPolicy::DropOldest;
    case config::BridgeOverflow::DropNewest: return core::OverflowPolicy::DropNewest;
    case config::BridgeOverflow::Reject: return core::OverflowPolicy::Reject;
  }
  return core::OverflowPolicy::DropOldest;
}

bridge::BridgeOptions to_bridge(const config::Bridge& b, std::vector<config::Error>& errors) {
  bridge::BridgeOptions o;
  o.name = b.name;
  o.remotes.push_back(b.remote.to_string());
  for (const auto& f : b.fallbacks) o.remotes.push_back(f.to_string());
  o.protocol = b.protocol == config::BridgeProtocol::V311 ? codec::ProtocolVersion::v311
                                                          : codec::ProtocolVersion::v5;
  o.client_id = b.client_id;
  o.username = b.username;
  if (b.password) o.password = *b.password;
  if (!b.password_file.empty()) {
    if (auto p = read_secret(b.password_file, errors)) {
      if (p->size() > kMaxPassword) {
        errors.push_back(file_error(b.password_file,
                                    "the password is longer than 65535 bytes [MQTT-3.1.3.5]"));
      } else {
        o.password = std::move(*p);
      }
    }
  }
  o.tls.enabled = b.uses_tls();
  o.tls.ca_file = b.tls.ca.path;
  o.tls.cert_file = b.tls.cert.path;
  o.tls.key_file = b.tls.key.path;
  check_pem(b.tls.ca, kMaxCaFile, errors);
  check_pem(b.tls.cert, kMaxSecretFile, errors);
  check_pem(b.tls.key, kMaxSecretFile, errors);
  if (!b.tls.key_password_file.empty()) {
    if (auto p = read_secret(b.tls.key_password_file, errors)) o.tls.key_password = std::move(*p);
  }
  o.tls.verify = b.tls.verify;
  o.tls.alpn = b.tls.alpn;
  o.keepalive = b.keepalive;
  o.clean_start = b.clean_start;
  o.session_expiry = static_cast<std::uint32_t>(b.session_expiry.count());
  o.reconnect_min = b.reconnect_min;
  o.reconnect_max = b.reconnect_max;
  o.reconnect_jitter = b.reconnect_jitter;
  o.queue_max_messages = b.queue_max_messages;
  o.queue_max_bytes = static_cast<std::size_t>(b.queue_max_bytes);
  o.overflow = to_overflow(b.overflow);
  o.queue_qos0 = b.queue_qos0;
  o.max_inflight = b.max_inflight;
  o.rate = b.rate;
  for (const auto& t : b.topics) {
    bridge::TopicRule r;
    r.pattern = t.pattern;
    r.direction = to_direction(t.direction);
    r.qos = t.qos;
    r.local_prefix = t.local_prefix;
    r.remote_prefix = t.remote_prefix;
    r.priority = t.priority;
    o.topics.push_back(std::move(r));
  }
  return o;
}

}  // namespace

std::vector<bridge::BridgeOptions> to_bridge_options(const config::Config& c,
                                                     std::vector<config::Error>& errors) {
  std::vector<bridge::BridgeOptions> out;
#if !TERN_WITH_BRIDGE
  if (!c.bridges.empty()) {
    errors.push_back(config::Error{"bridges", 0, 0, "this build has no bridge support"});
    return out;
  }
#endif
  out.reserve(c.bridges.size());
  for (const auto& b : c.bridges) out.push_back(to_bridge(b, errors));
  return out;
}

}  // namespace tern::app
