// A populated ops::Snapshot for the ops unit tests: every figure non-zero and distinct,
// a listener and a bridge whose names need escaping.
#pragma once

#include "broker/ops/metrics.hpp"

namespace tern::ops::test {

inline Snapshot populated_snapshot() {
  Snapshot s;
  s.version = "0.1.0";
  s.uptime = std::chrono::milliseconds(123456);
  core::BrokerStats& b = s.broker;
  b.clients_connected = 7;
  b.clients_maximum = 9;
  b.sessions = 12;
  b.subscriptions = 21;
  b.retained_messages = 5;
  b.queued_messages = 33;
  b.messages_received = 1000;
  b.messages_sent = 2500;
  b.bytes_received = 64000;
  b.bytes_sent = 160000;
  b.dropped_queue_full = 3;
  b.dropped_expired = 4;
  b.dropped_too_large = 1;
  b.dropped_qos0_offline = 2;
  b.dropped_memory_budget = 6;
  s.server.connections_open = 8;
  s.server.connections_accepted = 40;
  s.server.slow_client_dropped = 11;
  s.listeners.push_back(ListenerFigures{"mqtt", 6, 30});
  s.listeners.push_back(ListenerFigures{"od\"d\\na\nme", 2, 10});
  s.storage.enabled = true;
  s.storage.size_bytes = 1 << 20;
  s.storage.commits = 50;
  s.storage.writes = 20;
  for (int i = 0; i < 30; ++i) s.storage.commit_latency.record(std::chrono::microseconds(700));
  for (int i = 0; i < 15; ++i) s.storage.commit_latency.record(std::chrono::microseconds(20000));
  for (int i = 0; i < 5; ++i) s.storage.commit_latency.record(std::chrono::seconds(9));
  BridgeFigures br;
  br.name = "cloud";
  br.connected = true;
  br.queued = 17;
  br.oldest_age_seconds = 4.5;
  br.forwarded_out = 99;
  br.dropped = {{"dropped_oldest", 2}, {"remote_rejected", 1}};
  s.bridges.push_back(br);
  s.rates_1min = Rates{120, 300, 7680, 19200};
  return s;
}

}  // namespace tern::ops::test
