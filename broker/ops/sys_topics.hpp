// ops::SysPublisher: turns Snapshots into the $SYS/broker/... messages (names close to
// Mosquitto's where the meaning is the same), publishing only what changed since the last
// round (everything on the first) and clearing the retained topics of bridges that went
// away. Owns the last payload per topic (bounded by the topic set of one round).
// Not thread-safe: one caller (loop 0's $SYS timer).
#pragma once

#include <chrono>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/ops/metrics.hpp"
#include "broker/ops/monitor.hpp"

namespace tern::ops {

// One retained QoS 0 message for $SYS. An empty payload deletes the retained message
// [MQTT-3.3.1-10]: used for topics that no longer exist (a removed bridge).
struct SysMessage {
  std::string topic;
  std::string payload;
};

// Every $SYS topic and payload for `s`, in a fixed order.
std::vector<SysMessage> sys_messages(const Snapshot& s);

class SysPublisher {
 public:
  // The messages to publish this round: changed values (all of them on the first round)
  // and, with an empty payload, topics of the previous round that are gone.
  std::vector<SysMessage> round(const Snapshot& s);

 private:
  bool first_ = true;
  std::unordered_map<std::string, std::string> last_;  // topic -> payload last published
};

// The messages as core publishes them: retained, QoS 0, payload format UTF-8, kept in RAM
// only (rebuilt at every start; sparing the flash).
std::vector<core::SystemMessage> to_system_messages(std::vector<SysMessage>&& msgs);

// How often the rate ring is fed, whatever the $SYS interval (also when $SYS is off: the
// HTTP endpoint's figures use the rates too).
inline constexpr std::chrono::seconds kRateSampleInterval{5};

// Registers on `server` (before run()) the rate sampler and, unless `interval` is 0, the
// $SYS publisher: every `interval` on loop 0, a snapshot from `monitor` goes through a
// SysPublisher into Server::publish_system. REQUIRES: monitor outlives server.run().
void schedule_sys_topics(net::Server& server, Monitor& monitor, std::chrono::seconds interval);

}  // namespace tern::ops
