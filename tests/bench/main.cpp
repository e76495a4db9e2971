// tern-bench: an MQTT 3.1.1 / 5.0 load generator for loopback brokers. See README.md.
// Exit codes: 0 run completed, 1 the run failed (connect refused, broker closed a client,
// timeout), 2 usage error, 4 --expect-clean and loss, duplicates or reordering were seen.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <iostream>
#include <map>
#include <string>

#include "tests/bench/runner.hpp"

namespace {

using namespace tern::bench;

// Loopback only: 127.0.0.0/8 or ::1. Literal addresses (and "localhost") only, so no
// resolver can turn a name into a remote target.
bool loopback_endpoint(const std::string& host, std::uint16_t port, asio::ip::tcp::endpoint& ep,
                       std::string& why) {
  asio::error_code ec;
  const asio::ip::address a = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) {
    why = "--host must be a literal loopback address (127.0.0.0/8 or ::1), got '" + host + "'";
    return false;
  }
  const bool ok = a.is_v4() ? a.to_v4().to_bytes()[0] == 127
                            : a.to_v6() == asio::ip::address_v6::loopback();
  if (!ok) {
    why = "refusing non-loopback target " + host + " (only 127.0.0.0/8 and ::1)";
    return false;
  }
  ep = asio::ip::tcp::endpoint(a, port);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tern-bench: MQTT load generator (loopback brokers only)", "tern-bench"};
  std::string scenario;
  std::string host = "127.0.0.1";
  int port = 1883;
  std::string protocol = "5";
  int qos = 0;
  std::size_t publishers = 0;
  std::size_t subscribers = SIZE_MAX;  // not given
  std::string topics = "one";
  double rate = -1;
  double timeout = 0;
  bool json = false;
  bool expect_clean = false;
  Options o;

  const std::map<std::string, Scenario> kScenarios{{"fanin", Scenario::FanIn},
                                                   {"fanout", Scenario::FanOut},
                                                   {"latency", Scenario::Latency},
                                                   {"conns", Scenario::Conns},
                                                   {"queue", Scenario::Queue}};
  const std::map<std::string, QueuePhase> kPhases{
      {"both", QueuePhase::Both},
      {"fill", QueuePhase::Fill},
      {"drain", QueuePhase::Drain},
      {"receive", QueuePhase::Receive}};
  std::string phase = "both";
  app.add_option("scenario", scenario,
                 "fanin: P publishers -> 1 subscriber; fanout: 1 publisher -> S subscribers; "
                 "latency: fixed rate, percentiles; conns: C idle clients with keep-alive; "
                 "queue: P publishers fill S offline persistent sessions, which then "
                 "reconnect and drain")
      ->required()
      ->check(CLI::IsMember({"fanin", "fanout", "latency", "conns", "queue"}));
  app.add_option("--host", host, "Broker address: 127.0.0.0/8 or ::1 only")->capture_default_str();
  app.add_option("-p,--port", port, "Broker port")->check(CLI::Range(1, 65535))->capture_default_str();
  app.add_option("--protocol", protocol, "MQTT version")
      ->check(CLI::IsMember({"3.1.1", "5"}))
      ->capture_default_str();
  app.add_option("-q,--qos", qos, "QoS of publishes and subscriptions")
      ->check(CLI::Range(0, 2))
      ->capture_default_str();
  app.add_option("--payload", o.payload, "Payload bytes (at least 24: the header)")
      ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 20))
      ->capture_default_str();
  app.add_option("-P,--publishers", publishers,
                 "Publishers (default: fanin 4, otherwise 1)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10000}));
  app.add_option("-S,--subscribers", subscribers,
                 "Subscribers (default: fanout 8, otherwise 1; queue --phase fill may have 0: "
                 "publish only)")
      ->check(CLI::Range(std::size_t{0}, std::size_t{10000}));
  app.add_option("--topics", topics,
                 "fanin: 'one' shared topic, or 'each' publisher its own with a wildcard "
                 "subscriber")
      ->check(CLI::IsMember({"one", "each"}))
      ->capture_default_str();
  app.add_option("--inflight", o.inflight,
                 "Messages in flight per publisher: sent but not yet received by the "
                 "subscribers (and, for QoS 1/2, not yet acknowledged)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{65535}))
      ->capture_default_str();
  app.add_option("--rate", rate,
                 "Total messages/s, 0 = as fast as the window allows (default: latency 1000, "
                 "otherwise 0)")
      ->check(CLI::Range(0.0, 1e8));
  app.add_option("-d,--duration", o.duration_s, "Seconds of publishing (conns: holding)")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  app.add_option("--timeout", timeout, "Hard bound on the whole run, seconds (default duration + 30)")
      ->check(CLI::Range(1.0, 7200.0));
  app.add_option("-C,--clients", o.clients, "conns: idle clients")
      ->check(CLI::Range(std::size_t{1}, std::size_t{200000}))
      ->capture_default_str();
  app.add_option("--keepalive", o.keep_alive, "Keep alive seconds (0 = none)")
      ->capture_default_str();
  app.add_option("--connect-batch", o.connect_batch, "Connections opened at once")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10000}))
      ->capture_default_str();
  app.add_option("-n,--count", o.count,
                 "Total messages (all publishers); the run ends when all arrived. 0 = "
                 "bounded by --duration only (queue: fill until either)")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--session-expiry", o.session_expiry,
                 "Subscribers hold persistent sessions with this expiry, seconds (v5; "
                 "3.1.1: clean session 0). queue default 300")
      ->capture_default_str();
  app.add_option("--phase", phase,
                 "queue: both, or only fill / only drain (a later run with the same --nonce, "
                 "-P, -S and --count), e.g. across a broker restart; receive: fresh "
                 "subscribers take a fill's messages (same --nonce, -P, --count) from "
                 "wherever they went, e.g. through a bridge, after printing 'ready' on stderr")
      ->check(CLI::IsMember({"both", "fill", "drain", "receive"}))
      ->capture_default_str();
  app.add_option("--topic-prefix", o.topic_prefix,
                 "Prepended to every topic and filter (e.g. a bridge's remote prefix)");
  app.add_option("--nonce", o.nonce, "Run nonce (0 = random); reported in the output")
      ->capture_default_str();
  app.add_flag("--random-payload", o.random_filler,
               "Fresh pseudo-random bytes after the 24-byte header in every message "
               "(default: 'x' filler)");
  app.add_flag("--json", json, "Print one JSON object instead of text");
  app.add_flag("--expect-clean", expect_clean,
               "Exit 4 unless the run saw zero loss, duplicates and reordering");

  CLI11_PARSE(app, argc, argv);

  std::string why;
  if (!loopback_endpoint(host, static_cast<std::uint16_t>(port), o.target, why)) {
    std::cerr << "tern-bench: " << why << "\n";
    return 2;
  }
  o.scenario = kScenarios.at(scenario);
  o.version = protocol == "5" ? tern::codec::ProtocolVersion::v5 : tern::codec::ProtocolVersion::v311;
  o.qos = static_cast<std::uint8_t>(qos);
  o.publishers = publishers ? publishers : (o.scenario == Scenario::FanIn ? 4 : 1);
  o.subscribers =
      subscribers != SIZE_MAX ? subscribers : (o.scenario == Scenario::FanOut ? 8 : 1);
  if (o.scenario == Scenario::FanOut) o.publishers = 1;
  if (o.scenario != Scenario::FanOut && o.scenario != Scenario::Queue) o.subscribers = 1;
  o.queue_phase = kPhases.at(phase);
  const bool fill_only = o.scenario == Scenario::Queue && o.queue_phase == QueuePhase::Fill;
  if (o.subscribers == 0 && !fill_only) {
    std::cerr << "tern-bench: -S 0 only with queue --phase fill\n";
    return 2;
  }
  if (o.scenario == Scenario::Queue) {
    if (o.qos == 0) {
      std::cerr << "tern-bench: queue needs --qos 1 or 2 (offline QoS 0 is not queued)\n";
      return 2;
    }
    // receive subscribers are fresh and only take what arrives while they are connected.
    if (o.session_expiry == 0 && o.queue_phase != QueuePhase::Receive) o.session_expiry = 300;
    if ((o.queue_phase == QueuePhase::Drain || o.queue_phase == QueuePhase::Receive) &&
        (o.count == 0 || o.nonce == 0)) {
      std::cerr << "tern-bench: --phase " << phase
                << " needs the fill run's --nonce and --count\n";
      return 2;
    }
  }
  o.topic_each = topics == "each";
  o.rate = rate >= 0 ? rate : (o.scenario == Scenario::Latency ? 1000 : 0);
  o.timeout_s = timeout > 0 ? timeout : o.duration_s + 30;

  const Report r = run(o);
  if (json) {
    print_json(o, r, std::cout);
  } else {
    print_text(o, r, std::cout);
  }
  if (!r.error.empty() || r.timed_out) return 1;
  if (expect_clean && !r.clean()) return 4;
  return 0;
}
