// Options of one bridge (the `bridges:` list in the YAML, CONFIG.md): the remote broker,
// how to connect to it, the topic rules, the durable queue's budget and the drain pacing.
// Built by app from config; immutable once the Bridge is constructed.
// Thread safety: plain values.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "broker/core/broker.hpp"

namespace tern::bridge {

enum class Direction : std::uint8_t { Out, In, Both };

// One topic rule. `pattern` is a filter with wildcards on the side the message comes
// from: for out, a local filter (the bridge subscribes to local_prefix + pattern); for
// in, a remote filter (it subscribes upstream to remote_prefix + pattern). A message's
// topic is mapped by swapping the prefixes: local_prefix + X  <->  remote_prefix + X.
struct TopicRule {
  std::string pattern;
  Direction direction = Direction::Out;
  std::uint8_t qos = 1;
  std::string local_prefix;
  std::string remote_prefix;
  // Out rules: higher drains first after an outage; each priority keeps its own order.
  // 0 = normal; config names: low = -1, normal = 0, high = 1.
  int priority = 0;
};

struct TlsOptions {
  bool enabled = false;  // mqtts:// / ssl:// remotes
  std::string ca_file;   // empty = the system's CA store
  std::string cert_file;
  std::string key_file;
  std::string key_password;
  bool verify = true;    // verify the server's certificate and host name
  std::string alpn;      // e.g. "x-amzn-mqtt-ca" for AWS IoT on port 443; empty = none
};

struct BridgeOptions {
  std::string name;                  // [A-Za-z0-9_-]+, unique; names the internal sessions
  std::vector<std::string> remotes;  // "mqtt://host:port", "mqtts://host:port"; first = main
  codec::ProtocolVersion protocol = codec::ProtocolVersion::v5;
  std::string client_id;             // at the remote
  std::string username;
  std::optional<std::string> password;  // read from password_file by app
  TlsOptions tls;
  std::chrono::seconds keepalive{60};
  bool clean_start = false;
  std::uint32_t session_expiry = 7 * 24 * 3600;  // seconds, v5 (3.1.1: clean session 0)
  std::chrono::milliseconds reconnect_min{1000};
  std::chrono::milliseconds reconnect_max{120000};
  bool reconnect_jitter = true;
  // The durable queue (core internal sessions, one per priority), for all priorities.
  std::size_t queue_max_messages = 1000000;
  std::size_t queue_max_bytes = 512u << 20;
  core::OverflowPolicy overflow = core::OverflowPolicy::DropOldest;
  bool queue_qos0 = false;  // QoS 0 messages while the uplink is down: queue or drop
  // Drain pacing.
  std::uint16_t max_inflight = 64;  // upstream, also bounded by the remote's Receive Maximum
  double rate = 0;                  // messages/s upstream, 0 = unlimited
  std::vector<TopicRule> topics;
};

}  // namespace tern::bridge
