// ops::Monitor: builds ops::Snapshots of a running net::Server (plus bridge figures from
// a caller-supplied source) and keeps the ring of samples behind the per-minute rates.
// Borrows the Server (must outlive it). Thread safety: snapshot() and sample() may be
// called from any thread (HTTP thread, loop 0's $SYS timer); an internal mutex guards the
// ring, the Server takes its own locks briefly.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "broker/ops/metrics.hpp"
#include "broker/ops/rates.hpp"

namespace tern::ops {

class Monitor {
 public:
  using Clock = std::chrono::steady_clock;
  // Called on whichever thread asks for a snapshot: must be thread-safe and quick.
  using BridgeSource = std::function<std::vector<BridgeFigures>()>;

  Monitor(const net::Server& server, std::string version, BridgeSource bridges = {});

  // Replaces the bridge source; an empty one before the bridges it reads go away (the
  // HTTP thread may be taking a snapshot meanwhile: this waits for it). Thread-safe.
  void set_bridge_source(BridgeSource bridges);

  // A fresh snapshot (rates from the samples so far). Thread-safe.
  Snapshot snapshot() const;
  // Feeds the rate ring with the current counters; call every few seconds (the $SYS
  // timer does). Thread-safe.
  void sample();

 private:
  const net::Server& server_;
  const std::string version_;
  const Clock::time_point started_;
  mutable std::mutex mu_;
  RateTracker rates_;         // under mu_
  mutable std::mutex bridges_mu_;
  BridgeSource bridges_;      // under bridges_mu_ (held while it runs)
};

// net's storage figures as a Snapshot's.
StorageFigures storage_figures(const net::StorageStats& st);

}  // namespace tern::ops
