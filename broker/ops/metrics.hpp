// ops::Snapshot: one consistent copy of every figure the broker exposes (core, net,
// listeners, bridges, storage, per-minute rates), and its Prometheus text rendering.
// Plain values, no references into the broker: build it anywhere, read it anywhere.
// render_prometheus() is a pure function (thread-safe).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "broker/core/broker.hpp"
#include "broker/net/server.hpp"
#include "storage/latency.hpp"

namespace tern::ops {

struct ListenerFigures {
  std::string name;
  std::uint64_t connections_open = 0;      // gauge
  std::uint64_t connections_accepted = 0;  // counter since start
};

// One bridge, as plain figures (ops stays free of Paho; app fills this from
// bridge::BridgeStatus).
struct BridgeFigures {
  std::string name;
  bool connected = false;
  std::uint64_t connects = 0;       // counter
  std::uint64_t queued = 0;         // gauge: waiting to go upstream (RAM + disk)
  std::uint64_t on_disk = 0;        // gauge
  std::uint64_t inflight = 0;       // gauge: sent upstream, not yet acknowledged
  std::optional<double> oldest_age_seconds;  // of the oldest undelivered message
  std::uint64_t forwarded_out = 0;  // counter
  std::uint64_t forwarded_in = 0;   // counter
  // Counters by reason ("dropped_oldest", "remote_rejected", ...), fixed order.
  std::vector<std::pair<std::string, std::uint64_t>> dropped;
};

struct StorageFigures {
  bool enabled = false;              // a storage path is configured
  bool last_commit_ok = true;        // the newest write succeeded
  std::uint64_t size_bytes = 0;      // approximate size on disk
  std::uint64_t commits = 0;         // batches made durable
  std::uint64_t writes = 0;          // LevelDB writes (group commits)
  std::uint64_t failed = 0;          // batches whose write failed
  std::uint64_t rejected = 0;        // batches refused: queue full (backpressure)
  std::uint64_t bytes_written = 0;   // counter: batch bytes written (flash wear)
  std::uint64_t pending_batches = 0; // gauge
  storage::LatencyHistogram commit_latency;  // submit -> durable, per batch
};

// Per-minute rates over the last minute (Mosquitto's load/.../1min), from RateTracker.
struct Rates {
  double messages_received = 0;
  double messages_sent = 0;
  double bytes_received = 0;
  double bytes_sent = 0;
};

struct Snapshot {
  std::string version;
  std::chrono::milliseconds uptime{0};  // steady clock, since the broker started
  core::BrokerStats broker;
  net::ServerStats server;
  std::vector<ListenerFigures> listeners;
  std::vector<BridgeFigures> bridges;
  StorageFigures storage;
  Rates rates_1min;
};

// Messages the broker dropped, by reason: one list for $SYS and Prometheus so the names
// agree ("queue_full", "expired", "too_large", ...). Fixed order, zeros included.
std::vector<std::pair<std::string, std::uint64_t>> dropped_by_reason(const Snapshot& s);

// Offline persistent sessions (Mosquitto's clients/disconnected).
std::uint64_t clients_disconnected(const Snapshot& s);

// Prometheus text exposition format 0.0.4: every family with # HELP and # TYPE, names
// prefixed tern_, counters ending in _total, label values escaped.
std::string render_prometheus(const Snapshot& s);

}  // namespace tern::ops
