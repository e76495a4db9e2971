// tern-bench's scenario runner: owns every client connection, drives the phases (connect,
// subscribe, publish for the duration, drain, report) on one io_context, and counts what
// each subscriber receives. Thread safety: none; everything runs on the io thread.
#pragma once

#include <asio.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "tests/bench/client.hpp"
#include "tests/bench/stats.hpp"

namespace tern::bench {

enum class Scenario : std::uint8_t { FanIn, FanOut, Latency, Conns, Queue };

// queue scenario: which part this process runs. Fill and drain in separate processes let a
// caller restart the broker in between (the queue then comes back from disk). Receive: fresh
// subscribers (clean start) take what another process's fill sent, e.g. forwarded by a
// bridge to another broker; they announce "ready" on stderr once subscribed.
enum class QueuePhase : std::uint8_t { Both, Fill, Drain, Receive };

struct Options {
  Scenario scenario = Scenario::FanIn;
  asio::ip::tcp::endpoint target;
  codec::ProtocolVersion version = codec::ProtocolVersion::v5;
  std::uint8_t qos = 0;
  std::size_t payload = 64;       // bytes, at least kHeaderBytes
  std::size_t publishers = 1;
  std::size_t subscribers = 1;
  bool topic_each = false;        // fan-in: one topic per publisher, wildcard subscriber
  std::size_t inflight = 64;      // per publisher, end to end (and unacked for QoS > 0)
  double rate = 0;                // total messages/s; 0 = as fast as the window allows
  double duration_s = 5;
  double timeout_s = 35;          // hard bound on the whole run
  std::size_t clients = 1000;     // conns
  std::uint16_t keep_alive = 30;  // seconds
  std::size_t connect_batch = 256;  // connections being opened at once
  // Total messages over all publishers (publisher i sends count/P, the first count%P one
  // more); 0 = bounded by the duration only. With a count the run ends when all arrived.
  std::uint64_t count = 0;
  // > 0: subscribers hold persistent sessions (v5 Session Expiry Interval; 3.1.1 clean
  // session 0), so a broker with storage must store what they are sent.
  std::uint32_t session_expiry = 0;
  QueuePhase queue_phase = QueuePhase::Both;
  // Run nonce (topic prefix, client ids, payload tag); 0 = random. The fill and drain
  // halves of a queue run must share it.
  std::uint32_t nonce = 0;
  // Fill the bytes after the header with fresh pseudo-random bytes in every message, so a
  // store that compresses (LevelDB tables: Snappy) sees realistic data, not 'x' runs.
  bool random_filler = false;
  // Prepended to every topic and filter ("tern-bench/<nonce>/t..."): a receive run on the
  // far side of a bridge uses the bridge's remote prefix.
  std::string topic_prefix;
};

// Every payload starts with: run nonce (4), publisher id (4), sequence (8), send time (8,
// steady clock ns), little endian; the rest is filler up to Options::payload.
inline constexpr std::size_t kHeaderBytes = 24;

struct Report {
  std::string error;            // empty when the run completed
  bool timed_out = false;
  double elapsed_s = 0;         // publishing window (or hold time for conns)
  std::uint64_t sent = 0;
  std::uint64_t expected = 0;   // sent x subscribers that should receive each message
  std::uint64_t delivered = 0;  // unique deliveries, whole run including drain
  std::uint64_t delivered_in_window = 0;
  std::uint64_t lost = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t reordered = 0;
  std::uint64_t foreign = 0;    // deliveries that are not this run's messages
  std::uint64_t stalls = 0;     // QoS 0 windows reopened after no progress (messages lost)
  std::uint64_t acks_missing = 0;
  LatencyHistogram latency;
  std::size_t connected = 0;    // conns: clients that got a successful CONNACK
  std::size_t connect_failed = 0;
  std::size_t alive_at_end = 0;
  double bench_cpu_s = 0;
  // queue scenario. Fill: from the first PUBLISH until the last acknowledgement, with every
  // subscriber offline. Drain: from the subscribers' reconnect until the last delivery
  // (these are also elapsed_s and delivered_in_window, so msgs_per_s is the drain rate).
  std::uint32_t nonce = 0;
  double fill_s = 0;
  std::uint64_t acked = 0;      // publishes acknowledged (PUBACK / PUBCOMP) without error
  std::size_t session_missing = 0;  // reconnects answered with session present 0
  // Steady clock (CLOCK_MONOTONIC) ns: subscribers ready (queue drain/receive), first and
  // last unique delivery. A receive run's elapsed_s is last - first.
  std::uint64_t ready_ns = 0;
  std::uint64_t first_delivery_ns = 0;
  std::uint64_t last_delivery_ns = 0;

  double fill_msgs_per_s() const { return fill_s > 0 ? acked / fill_s : 0; }

  double msgs_per_s() const { return elapsed_s > 0 ? delivered_in_window / elapsed_s : 0; }
  bool clean() const {
    return error.empty() && !timed_out && lost == 0 && duplicates == 0 && reordered == 0 &&
           foreign == 0 && session_missing == 0 && acks_missing == 0;
  }
};

// Runs one scenario to completion (or the hard timeout) and returns what it measured.
Report run(const Options& opts);

void print_text(const Options& o, const Report& r, std::ostream& out);
void print_json(const Options& o, const Report& r, std::ostream& out);
const char* to_string(Scenario s);

}  // namespace tern::bench
