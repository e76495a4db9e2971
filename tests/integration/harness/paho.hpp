// A Paho MQTT C++ client (the real third-party client) wrapped for tests: every call waits
// with a timeout and fails the test instead of hanging; received messages are collected
// through Paho's consumer queue. Owns its async_client; disconnects it on destruction.
// Thread safety: use from the test thread only (Paho's own threads feed the queue).
#pragma once

#include <mqtt/async_client.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/harness/process.hpp"

namespace tern::it {

class PahoClient {
 public:
  // `mqtt_version` is MQTTVERSION_3_1_1 or MQTTVERSION_5. No client-side persistence.
  PahoClient(const std::string& uri, const std::string& client_id, int mqtt_version);
  ~PahoClient();
  PahoClient(const PahoClient&) = delete;
  PahoClient& operator=(const PahoClient&) = delete;

  int version() const { return version_; }
  mqtt::async_client& client() { return *cli_; }

  // Options for this client's version: clean session/start, keep-alive 30 s. For v5 a
  // session expiry is sent when given; for 3.1.1 a persistent session is clean=false.
  mqtt::connect_options_builder options(bool clean = true,
                                        std::optional<std::uint32_t> session_expiry = {}) const;
  // Connects (REQUIRE within 10 s) and returns the CONNACK data.
  mqtt::connect_response connect(mqtt::connect_options opts);
  mqtt::connect_response connect() { return connect(options().finalize()); }
  // Subscribes and returns the granted QoS / reason code.
  int subscribe(const std::string& filter, int qos,
                const mqtt::subscribe_options& opts = mqtt::subscribe_options());
  // Publishes and waits for the QoS flow to complete.
  void publish(const std::string& topic, const std::string& payload, int qos,
               bool retain = false, const mqtt::properties& props = mqtt::properties());
  void disconnect();

  // Next message within `timeout` (nullptr on timeout).
  mqtt::const_message_ptr next(Millis timeout);
  // Up to `n` messages, waiting at most `timeout` in total.
  std::vector<mqtt::const_message_ptr> collect(std::size_t n, Millis timeout);
  // True when no message arrives within `d`.
  bool quiet_for(Millis d);
  // True when Paho reported the connection lost (a null entry in the consumer queue).
  bool connection_lost() const { return lost_; }

 private:
  int version_;
  std::unique_ptr<mqtt::async_client> cli_;
  bool lost_ = false;
};

}  // namespace tern::it
