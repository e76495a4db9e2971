// A bridge to one remote (cloud) broker: its local side is a set of core internal sessions
// (one per priority class of its `out` rules, plus one that publishes what `in` rules
// bring down), its remote side a Paho MQTT async client. Owns one thread running an Asio
// loop; Paho callbacks and core's actions only post to it.
// Thread safety: start(), stop() and the destructor from one thread; status() from any.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bridge/options.hpp"

namespace tern::net {
class Server;
}

namespace tern::bridge {

// A snapshot of one bridge, for logs, $SYS and metrics.
struct BridgeStatus {
  std::string name;
  bool connected = false;
  std::string remote;          // the URI connected to (or last tried)
  std::uint64_t connects = 0;  // successful uplink connections since start
  // The durable queue: all of the bridge's out sessions together (core's view).
  std::uint64_t queued = 0;  // RAM window + disk, not yet handed to the bridge
  std::uint64_t on_disk = 0;
  std::uint64_t inflight = 0;  // handed to the bridge, not yet acknowledged upstream
  std::optional<std::chrono::milliseconds> oldest_age;  // of the oldest undelivered one
  // Traffic.
  std::uint64_t forwarded_out = 0;  // acknowledged by the remote (QoS 0: written)
  std::uint64_t forwarded_in = 0;   // handed to the local broker
  // Drops by reason. The first four are core's counters of the out sessions.
  std::uint64_t dropped_oldest = 0;
  std::uint64_t dropped_newest = 0;
  std::uint64_t rejected = 0;           // overflow policy reject (v5 publishers got 0x97)
  std::uint64_t dropped_qos0 = 0;       // QoS 0 while the uplink was down (queue_qos0 off)
  std::uint64_t remote_rejected = 0;    // remote answered PUBACK/PUBREC >= 0x80
  std::uint64_t dropped_too_large = 0;  // over the remote's (or local) Maximum Packet Size
  std::uint64_t dropped_unmapped = 0;   // matched no rule (e.g. a rule since removed)
  std::uint64_t dropped_expired = 0;    // Message Expiry Interval passed before sending
  std::uint64_t dropped_in = 0;         // inbound backlog full while the local side was closed
};

class Bridge {
 public:
  // REQUIRES: `opts` validated (config does it: name, remotes, rules); `server` started
  // and outliving this Bridge.
  Bridge(BridgeOptions opts, net::Server& server);
  // Stops it if running.
  ~Bridge();
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  // Opens the internal sessions (so matching messages queue from now on, also while the
  // uplink is down) and starts connecting upstream. Returns at once. Call once.
  void start();
  // Graceful: disconnects upstream (waiting briefly for in-flight acknowledgements),
  // closes the internal sessions (they stay, queueing, per their expiry) and joins the
  // thread. Idempotent.
  void stop();

  BridgeStatus status() const;
  const BridgeOptions& options() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// The client ids of a bridge's internal sessions: one per priority class of its out (and
// both) rules, highest first, "$bridge/<name>/p<priority>", then "$bridge/<name>/in" when
// it has in (or both) rules.
std::vector<std::string> internal_client_ids(const BridgeOptions& opts);

}  // namespace tern::bridge
