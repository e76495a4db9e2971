// The bridge's remote side: a Paho MQTT C++ async_client wrapped so that every Paho
// callback becomes one UplinkEvent handed to a sink (which only posts it to the bridge's
// loop). Paho keeps its in-flight messages in memory across reconnects, so a remote that
// resumes the session gets them again from Paho with the same packet ids [MQTT-4.4.0-1].
// Thread safety: connect/publish/subscribe/disconnect from the bridge's thread (stop()
// after joining it); the sink is called on Paho's threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "bridge/options.hpp"
#include "bridge/rules.hpp"
#include "broker/codec/packet.hpp"

namespace tern::bridge {

struct UplinkConnected {
  std::string server_uri;
  bool session_present = false;
  // From the v5 CONNACK (3.1.1: the defaults).
  std::uint16_t receive_maximum = 65535;
  std::uint8_t maximum_qos = 2;
  bool retain_available = true;
  std::uint32_t maximum_packet_size = 0;  // 0 = no limit
};
struct UplinkConnectFailed {
  int rc = 0;      // Paho return code
  int reason = 0;  // v5 CONNACK reason code, 255 when none
  std::string message;
};
struct UplinkLost {
  std::string cause;
  int reason = -1;  // v5 DISCONNECT reason from the server, -1 when the link broke
};
// A publish finished: acknowledged (QoS 1 PUBACK, QoS 2 PUBCOMP; QoS 0: written) or failed.
struct UplinkDelivered {
  std::uint64_t send_id = 0;
  bool ok = false;
  int rc = 0;      // Paho return code (failure)
  int reason = 0;  // v5 reason code from the remote; 255 = none (3.1.1)
};
struct UplinkMessage {
  std::string topic;
  std::string payload;
  std::uint8_t qos = 0;
  bool retain = false;
  codec::Properties props;  // forwarded ones only
};
struct UplinkSubscribed {
  bool ok = false;
  std::string filter;
  int reason = 0;  // v5 SUBACK reason code; 255 when none
  std::string message;
};
struct UplinkSslError {
  std::string message;
};

using UplinkEvent = std::variant<UplinkConnected, UplinkConnectFailed, UplinkLost, UplinkDelivered,
                                 UplinkMessage, UplinkSubscribed, UplinkSslError>;

// One message to publish upstream, already mapped to its remote topic.
struct OutgoingPublish {
  std::string topic;
  const std::string* payload = nullptr;  // borrowed for the call
  std::uint8_t qos = 0;
  bool retain = false;
  const codec::Properties* props = nullptr;     // stored properties, may be null
  std::optional<std::uint32_t> message_expiry;  // remaining seconds
};

// "mqtt://h:p" -> "tcp://h:p", "mqtts://h:p" -> "ssl://h:p" (the schemes Paho knows);
// a missing port gets 1883 / 8883. Others ("tcp://", "ssl://", "ws://", "wss://") pass.
std::string paho_uri(const std::string& uri);
bool is_tls_uri(const std::string& uri);

class Uplink {
 public:
  using Sink = std::function<void(UplinkEvent&&)>;
  // Throws std::runtime_error when Paho refuses the options (e.g. a malformed URI).
  Uplink(const BridgeOptions& opts, Sink sink);
  ~Uplink();
  Uplink(const Uplink&) = delete;
  Uplink& operator=(const Uplink&) = delete;

  // Starts one connection attempt over all remotes in order; the result is an event.
  // `fresh_session` forces Clean Start (3.1.1: clean session) for this attempt.
  void connect(bool fresh_session = false);
  enum class PublishResult : std::uint8_t {
    Ok,       // an UplinkDelivered with `send_id` follows
    Busy,     // not now (not connected, Paho's window full): try again after an event
    Refused,  // Paho will never take this message (e.g. a property it rejects)
  };
  PublishResult publish(std::uint64_t send_id, const OutgoingPublish& m, int& rc);
  // Subscribes to the in rules' remote filters, one event per filter (v5: No Local, so what the
  // bridge publishes never comes back; Retain As Published, so retained messages stay retained).
  void subscribe(const std::vector<Filter>& filters);
  // Graceful DISCONNECT, waiting up to `timeout` for in-flight acknowledgements.
  void disconnect(std::chrono::milliseconds timeout);
  bool is_v5() const { return v5_; }

 private:
  struct State;
  std::unique_ptr<State> s_;
  bool v5_ = true;
};

}  // namespace tern::bridge
