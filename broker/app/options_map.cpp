// Config -> net::ServerOptions / core::BrokerOptions. Every range was checked by the loader,
// so the narrowing casts here cannot lose information.

#include "broker/app/options_map.hpp"

#include <algorithm>
#include <string>

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

net::ServerOptions to_server_options(const config::Config& c, unsigned hardware_threads) {
  net::ServerOptions n;
  n.listeners.clear();
  for (const auto& l : c.listeners) {
    n.listeners.push_back(net::ListenerOptions{l.name, l.bind.to_string(), l.max_connections});
  }
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
  // One knob for both directions: what we let clients have in flight towards us (our
  // Receive Maximum) and what we keep in flight towards 3.1.1 clients.
  b.receive_maximum = m.max_inflight;
  b.max_inflight_out = m.max_inflight;
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
  return b;
}

}  // namespace tern::app
