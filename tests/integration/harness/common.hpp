// Shared includes and small helpers for the integration test files.
// Thread safety: helpers are pure or use only their arguments.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "broker/codec/codec.hpp"
#include "broker/codec/packet.hpp"
#include "tests/integration/harness/broker.hpp"
#include "tests/integration/harness/paho.hpp"
#include "tests/integration/harness/process.hpp"
#include "tests/integration/harness/raw_client.hpp"

namespace tern::it {

using codec::ProtocolVersion;
using namespace std::chrono_literals;

inline const char* version_name(ProtocolVersion v) {
  return v == ProtocolVersion::v5 ? "v5" : "v311";
}
inline const char* paho_version_name(int v) { return v == MQTTVERSION_5 ? "v5" : "v311"; }

// Stopwatch for checks on broker timers (keep-alive, will delay, expiry).
class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  Millis elapsed() const {
    return std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - start_);
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

}  // namespace tern::it
