// tern-paho-pub: publishes --count QoS 1 messages into a loopback broker with Eclipse Paho
// MQTT C++ (async_client, the library Tern's bridge uses upstream), keeping --window
// unacknowledged, and reports the rate. bridge_bench.py uses it to separate what Paho costs
// from what the bridge and core add. Payloads carry tern-bench's 24-byte header (publisher
// 0), so `tern-bench queue --phase receive` checks loss, duplicates and order.
// Modes: direct (the next PUBLISH is issued from Paho's own callback thread: Paho's ceiling)
// and handoff (each acknowledgement is posted to one Asio thread that publishes the next,
// as the bridge does: Paho plus one thread hop per message).
// Exit codes: 0 all acknowledged, 1 connect or publish failure or timeout, 2 usage.

#include <mqtt/async_client.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace {

using Clock = std::chrono::steady_clock;

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count());
}

struct Run {
  std::string topic;
  std::size_t payload = 64;
  std::uint32_t nonce = 1;
  std::uint64_t count = 0;
  bool handoff = false;
  mqtt::async_client* client = nullptr;

  std::atomic<std::uint64_t> sent{0};   // sequence numbers handed out (1-based)
  std::atomic<std::uint64_t> acked{0};
  std::atomic<std::uint64_t> failed{0};
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::optional<asio::io_context> io;  // handoff mode

  // Publishes one more message if any is left. Callable from any thread: each sequence
  // number is taken exactly once.
  void publish_next(mqtt::iaction_listener& listener) {
    const std::uint64_t seq = sent.fetch_add(1) + 1;
    if (seq > count) return;
    std::string p(std::max<std::size_t>(payload, 24), 'x');
    const std::uint32_t pub = 0;
    const std::uint64_t t = now_ns();
    std::memcpy(p.data(), &nonce, 4);  // host order, as tern-bench writes and reads it
    std::memcpy(p.data() + 4, &pub, 4);
    std::memcpy(p.data() + 8, &seq, 8);
    std::memcpy(p.data() + 16, &t, 8);
    try {
      client->publish(mqtt::make_message(topic, p, 1, false), nullptr, listener);
    } catch (const mqtt::exception&) {
      on_result(false);
    }
  }

  void on_result(bool ok) {
    (ok ? acked : failed).fetch_add(1);
    if (acked.load() + failed.load() >= count) {
      std::lock_guard<std::mutex> lk(mu);
      done = true;
      cv.notify_all();
    }
  }
};

struct Listener : mqtt::iaction_listener {
  Run* run = nullptr;
  std::size_t window = 1;
  // Only the first message is published by the starting thread; its acknowledgement opens
  // the window and from then on each one publishes the next, all on one thread (Paho's
  // callback thread or the handoff loop), so messages leave in sequence order.
  void handle(bool ok) {
    const bool first = run->acked.load() + run->failed.load() == 0;
    run->on_result(ok);
    for (std::size_t i = 0, n = first ? window : 1; i < n; ++i) run->publish_next(*this);
  }
  void on_success(const mqtt::token&) override {
    if (run->handoff) {
      asio::post(*run->io, [this] { handle(true); });
    } else {
      handle(true);
    }
  }
  void on_failure(const mqtt::token&) override {
    if (run->handoff) {
      asio::post(*run->io, [this] { handle(false); });
    } else {
      handle(false);
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tern-paho-pub: QoS 1 publisher on Paho MQTT C++ (loopback brokers only)",
               "tern-paho-pub"};
  int port = 1883;
  std::uint64_t count = 100000;
  int window = 64;
  std::uint32_t nonce = 1;
  std::size_t payload = 64;
  std::string prefix;
  std::string mode = "direct";
  std::string protocol = "5";
  double timeout_s = 120;
  app.add_option("-p,--port", port, "Broker port on 127.0.0.1")->check(CLI::Range(1, 65535));
  app.add_option("-n,--count", count, "Messages")->check(CLI::Range(std::uint64_t{1},
                                                                    std::uint64_t{1} << 32));
  app.add_option("--window", window, "Unacknowledged messages (Paho max_inflight; the "
                                     "broker's Receive Maximum caps it)")
      ->check(CLI::Range(1, 65535));
  app.add_option("--nonce", nonce, "Run nonce (the receiver's --nonce)")->required();
  app.add_option("--payload", payload, "Payload bytes (at least 24)");
  app.add_option("--topic-prefix", prefix, "Topic is <prefix>tern-bench/<nonce>/t");
  app.add_option("--mode", mode, "direct | handoff")->check(CLI::IsMember({"direct", "handoff"}));
  app.add_option("--protocol", protocol, "MQTT version")->check(CLI::IsMember({"3.1.1", "5"}));
  app.add_option("--timeout", timeout_s, "Bound on the run, seconds");
  CLI11_PARSE(app, argc, argv);

  const bool v5 = protocol == "5";
  Run run;
  run.topic = prefix + "tern-bench/" + std::to_string(nonce) + "/t";
  run.payload = payload;
  run.nonce = nonce;
  run.count = count;
  run.handoff = mode == "handoff";
  Listener listener;
  listener.run = &run;

  // Literal loopback only: nothing else can be targeted.
  const std::string uri = "tcp://127.0.0.1:" + std::to_string(port);
  mqtt::async_client client(uri, "tern-paho-pub-" + std::to_string(nonce),
                            mqtt::create_options(v5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1));
  run.client = &client;
  mqtt::connect_options_builder b;
  b.mqtt_version(v5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1)
      .keep_alive_interval(std::chrono::seconds(60))
      .max_inflight(window);
  if (v5) {
    b.clean_start(true);
  } else {
    b.clean_session(true);
  }
  int receive_max = 65535;
  std::size_t connack_props = 0;
  // Paho C 1.3's receive thread may sit in a 1 s poll before it sends CONNECT on a socket
  // whose TCP connect completed; reported so a drain's reconnect time can be compared.
  const auto c0 = Clock::now();
  double connect_ms = 0;
  try {
    mqtt::token_ptr tok = client.connect(b.finalize());
    tok->wait();
    connect_ms = std::chrono::duration<double, std::milli>(Clock::now() - c0).count();
    if (v5) {
      const mqtt::connect_response rsp = tok->get_connect_response();
      const mqtt::properties& props = rsp.get_properties();
      connack_props = props.size();
      if (props.contains(mqtt::property::RECEIVE_MAXIMUM)) {
        receive_max = mqtt::get<std::uint16_t>(props, mqtt::property::RECEIVE_MAXIMUM);
      }
    }
  } catch (const mqtt::exception& e) {
    std::cerr << "tern-paho-pub: connect failed: " << e.what() << "\n";
    return 1;
  }
  const int effective = std::min(window, receive_max);

  std::thread loop;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  if (run.handoff) {
    run.io.emplace(1);
    work.emplace(run.io->get_executor());
    loop = std::thread([&run] { run.io->run(); });
  }
  const double cpu0 = cpu_seconds();
  const auto t0 = Clock::now();
  listener.window = static_cast<std::size_t>(effective);
  auto start = [&] { run.publish_next(listener); };
  if (run.handoff) {
    asio::post(*run.io, start);
  } else {
    start();
  }
  bool finished = false;
  {
    std::unique_lock<std::mutex> lk(run.mu);
    finished = run.cv.wait_for(lk, std::chrono::duration<double>(timeout_s),
                               [&run] { return run.done; });
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  try {
    client.disconnect()->wait_for(std::chrono::seconds(5));
  } catch (const mqtt::exception&) {
    // leaving anyway
  }
  if (run.handoff) {
    work.reset();
    run.io->stop();
    loop.join();
  }
  std::cout << "{\"mode\":\"" << mode << "\",\"window\":" << effective
            << ",\"receive_maximum\":" << receive_max
            << ",\"connack_properties\":" << connack_props << ",\"connect_ms\":" << connect_ms
            << ",\"count\":" << count
            << ",\"acked\":" << run.acked.load() << ",\"failed\":" << run.failed.load()
            << ",\"elapsed_s\":" << elapsed
            << ",\"msgs_per_s\":" << (elapsed > 0 ? run.acked.load() / elapsed : 0)
            << ",\"cpu_s\":" << cpu << ",\"nonce\":" << nonce
            << ",\"timed_out\":" << (finished ? "false" : "true") << "}" << std::endl;
  return finished && run.failed.load() == 0 ? 0 : 1;
}
