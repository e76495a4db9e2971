#include "broker/ops/http_sources.hpp"

#include <string>

namespace tern::ops {

HttpSources http_sources(const net::Server& server, const Monitor& monitor) {
  HttpSources s;
  s.metrics = [&monitor] { return render_prometheus(monitor.snapshot()); };
  s.clients = [&server](std::size_t offset, std::size_t limit) {
    return server.clients(offset, limit);
  };
  s.bridges = [&monitor] { return monitor.snapshot().bridges; };
  return s;
}

HealthSources health_sources(net::Server& server, std::size_t listeners, bool storage_enabled) {
  HealthSources h;
  h.listeners = [&server, listeners] {
    const std::vector<net::BoundListener>& bound = server.listeners();  // fixed after start()
    HealthCheck c;
    c.ok = !bound.empty() && bound.size() == listeners;
    c.detail = std::to_string(bound.size()) + " of " + std::to_string(listeners) + " bound";
    return c;
  };
  h.heartbeat = [&server] { return server.loop_heartbeat(); };
  h.storage_enabled = storage_enabled;
  h.last_commit = [&server] {
    HealthCheck c;
    const net::StorageStats st = server.storage_stats();
    if (st.enabled && !st.committer.last_write_ok) {
      c.ok = false;
      c.detail = "the latest commit failed (" + std::to_string(st.committer.failed) +
                 " failed batches so far)";
    }
    return c;
  };
  h.probe_storage = [&server](std::function<void(const storage::Status&)> done) {
    server.probe_storage(std::move(done));
  };
  return h;
}

}  // namespace tern::ops
