#include "broker/ops/monitor.hpp"

#include <utility>

namespace tern::ops {

Monitor::Monitor(const net::Server& server, std::string version, BridgeSource bridges)
    : server_(server),
      version_(std::move(version)),
      started_(Clock::now()),
      bridges_(std::move(bridges)) {
  sample();  // the rates' baseline: counters as the broker starts
}

void Monitor::set_bridge_source(BridgeSource bridges) {
  std::lock_guard<std::mutex> lk(bridges_mu_);
  bridges_ = std::move(bridges);
}

Snapshot Monitor::snapshot() const {
  Snapshot s;
  s.version = version_;
  s.uptime = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_);
  s.broker = server_.broker_stats();  // takes the broker lock briefly
  s.server = server_.stats();
  for (net::ListenerStats& l : server_.listener_stats()) {
    s.listeners.push_back(
        ListenerFigures{std::move(l.name), l.connections_open, l.connections_accepted});
  }
  s.storage = storage_figures(server_.storage_stats());
  {
    std::lock_guard<std::mutex> lk(bridges_mu_);
    if (bridges_) s.bridges = bridges_();
  }
  std::lock_guard<std::mutex> lk(mu_);
  s.rates_1min = rates_.rates();
  return s;
}

void Monitor::sample() {
  const core::BrokerStats b = server_.broker_stats();
  const RateCounters c{b.messages_received, b.messages_sent, b.bytes_received, b.bytes_sent};
  std::lock_guard<std::mutex> lk(mu_);
  rates_.add(Clock::now(), c);
}

StorageFigures storage_figures(const net::StorageStats& st) {
  StorageFigures f;
  f.enabled = st.enabled;
  f.last_commit_ok = st.committer.last_write_ok;
  f.size_bytes = st.size_bytes;
  f.commits = st.committer.batches;
  f.writes = st.committer.groups;
  f.failed = st.committer.failed;
  f.rejected = st.committer.rejected;
  f.bytes_written = st.committer.bytes_written;
  f.pending_batches = st.depth.batches;
  f.commit_latency = st.committer.latency;
  return f;
}

}  // namespace tern::ops
