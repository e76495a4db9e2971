// Configured limits and disabled features, end to end (YAML -> app -> net/core -> wire).
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <thread>

#include "tests/integration/harness/common.hpp"

namespace tern::it {
namespace {

TEST_CASE("A connection that never sends CONNECT is closed after connect_timeout (config 500ms)") {
  if (TernBroker::reference_mode()) return;  // needs our config
  TernBroker broker({"mqtt:\n  connect_timeout: 500ms\n", {}});
  RawClient idle(broker.port(), ProtocolVersion::v5);
  Stopwatch sw;
  REQUIRE(idle.wait_closed(5s));
  INFO("closed after " << sw.elapsed().count() << " ms");
  CHECK(sw.elapsed() >= 400ms);
  CHECK(sw.elapsed() <= 3000ms);
  CHECK(idle.packets_before_close().empty());  // no CONNACK without a CONNECT
}

TEST_CASE("limits.max_connections: 3 refuses the fourth connection and accepts again after one "
          "leaves") {
  if (TernBroker::reference_mode()) return;  // needs our config
  TernBroker broker({"limits:\n  max_connections: 3\n", {}});
  std::vector<std::unique_ptr<RawClient>> cs;
  for (int i = 0; i < 3; ++i) {
    cs.push_back(std::make_unique<RawClient>(broker.port(), ProtocolVersion::v5));
    REQUIRE(cs.back()->connect("it-max-" + std::to_string(i)).reason_code == 0);
  }
  {
    RawClient fourth(broker.port(), ProtocolVersion::v5);  // TCP accept may still succeed
    codec::Connect c;
    c.client_id = "it-max-3";
    fourth.send(c);
    REQUIRE(fourth.wait_closed(3s));
    for (const auto& p : fourth.packets_before_close()) {
      const auto* ack = std::get_if<codec::Connack>(&p);
      REQUIRE(ack != nullptr);
      CHECK(ack->reason_code >= 0x80);  // e.g. 0x97 Quota exceeded / 0x89 Server busy
    }
  }
  cs[0]->disconnect();
  sleep_for(200ms);
  RawClient again(broker.port(), ProtocolVersion::v5);
  CHECK(again.connect("it-max-again").reason_code == 0);
  // The others were never disturbed.
  REQUIRE(cs[1]->subscribe("it/max", 0).reason_codes[0] == 0);
  cs[2]->publish("it/max", "ok", 0);
  auto p = cs[1]->recv_publish(3s);
  REQUIRE(p);
  CHECK(p->payload == "ok");
}

TEST_CASE("maximum_qos: 1 is announced, subscriptions are granted QoS 1 at most, and a v5 QoS 2 "
          "PUBLISH gets DISCONNECT 0x9B") {
  if (TernBroker::reference_mode()) return;  // needs our config
  TernBroker broker({"mqtt:\n  maximum_qos: 1\n", {}});
  RawClient c(broker.port(), ProtocolVersion::v5);
  const auto ack = c.connect("it-maxqos");
  REQUIRE(ack.reason_code == 0);
  CHECK(ack.props.maximum_qos == std::optional<std::uint8_t>(1));  // [MQTT-3.2.2-9]
  CHECK(c.subscribe("it/maxqos", 2).reason_codes[0] == 1);         // downgraded grant
  RawClient v3(broker.port(), ProtocolVersion::v311);
  REQUIRE(v3.connect("it-maxqos-v3").reason_code == 0);
  CHECK(v3.subscribe("it/maxqos", 2).reason_codes[0] == 1);

  codec::Publish p;
  p.topic = "it/maxqos";
  p.payload = "too high";
  p.qos = 2;
  p.packet_id = 1;
  c.send(p);
  REQUIRE(c.wait_closed(3s));
  INFO(c.close_summary());
  const auto d = c.disconnect_seen();
  REQUIRE(d);
  CHECK(d->reason_code == 0x9B);  // [MQTT-3.2.2-11] QoS not supported
  CHECK(v3.no_publish_for(300ms));
}

TEST_CASE("retain_available: false is announced and a v5 retained PUBLISH gets DISCONNECT 0x9A") {
  if (TernBroker::reference_mode()) return;  // needs our config
  TernBroker broker({"mqtt:\n  retain_available: false\n", {}});
  RawClient c(broker.port(), ProtocolVersion::v5);
  const auto ack = c.connect("it-noretain");
  REQUIRE(ack.reason_code == 0);
  CHECK(ack.props.retain_available == std::optional<std::uint8_t>(0));  // 3.2.2.3.5
  codec::Publish p;
  p.topic = "it/noretain";
  p.payload = "x";
  p.retain = true;
  c.send(p);
  REQUIRE(c.wait_closed(3s));
  INFO(c.close_summary());
  const auto d = c.disconnect_seen();
  REQUIRE(d);
  CHECK(d->reason_code == 0x9A);  // [MQTT-3.2.2-14] Retain not supported
}

TEST_CASE("shared_subscriptions and wildcard_subscriptions disabled: announced, and SUBACK "
          "refuses with 0x9E / 0xA2") {
  if (TernBroker::reference_mode()) return;  // needs our config
  TernBroker broker(
      {"mqtt:\n  shared_subscriptions: false\n  wildcard_subscriptions: false\n", {}});
  RawClient c(broker.port(), ProtocolVersion::v5);
  const auto ack = c.connect("it-nofeat");
  REQUIRE(ack.reason_code == 0);
  CHECK(ack.props.shared_subscription_available == std::optional<std::uint8_t>(0));
  CHECK(ack.props.wildcard_subscription_available == std::optional<std::uint8_t>(0));
  CHECK(c.subscribe("$share/g/it/x", 1).reason_codes[0] == 0x9E);  // 3.2.2.3.13
  CHECK(c.subscribe("it/+/x", 1).reason_codes[0] == 0xA2);         // 3.2.2.3.11
  CHECK(c.subscribe("it/plain", 1).reason_codes[0] == 1);
  CHECK(c.is_open());
}

// A 64 KiB outbound limit; packets up to 16 KiB, as the limit must hold one.
constexpr const char* kSlowClientConfig =
    "mqtt:\n  max_packet_size: 16KiB\n"
    "sessions:\n  outbound_buffer_limit: 64KiB\n  on_slow_client: disconnect\n";

TEST_CASE("Slow consumer (config outbound_buffer_limit: 64KiB): a subscriber that stops reading "
          "is disconnected, the rest keep working") {
  if (TernBroker::reference_mode()) return;  // needs our config
  TernBroker broker({kSlowClientConfig, {}});
  RawClient stuck(broker.port(), ProtocolVersion::v311);
  const int small = 4096;  // keep the kernel from absorbing the whole flood
  ::setsockopt(stuck.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  REQUIRE(stuck.connect("it-slow").reason_code == 0);
  REQUIRE(stuck.subscribe("it/slow", 0).reason_codes[0] == 0);

  RawClient fine(broker.port(), ProtocolVersion::v5);
  REQUIRE(fine.connect("it-slow-fine").reason_code == 0);
  REQUIRE(fine.subscribe("it/fine", 0).reason_codes[0] == 0);

  RawClient pub(broker.port(), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-slow-pub").reason_code == 0);
  const std::string kb(1024, 's');
  // ~12 MB at a reader of 0: well past what the kernel buffers on loopback (tcp_wmem up to
  // 4 MB on the broker's side), so the broker's own outbound buffer must pass its limit.
  constexpr int kFlood = 12000;
  for (int i = 0; i < kFlood; ++i) pub.publish("it/slow", kb, 0);
  pub.publish("it/fine", "still fine", 1);
  auto p = fine.recv_publish(5s);
  REQUIRE(p);
  CHECK(p->payload == "still fine");

  // Drain what reached the client before the reset; the broker must have closed it long
  // before the whole flood was through.
  std::size_t got = 0;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  bool closed = false;
  while (!closed && std::chrono::steady_clock::now() < deadline) {
    switch (stuck.recv(2s)) {
      case RecvStatus::Packet: ++got; break;
      case RecvStatus::Closed: closed = true; break;
      default: break;
    }
  }
  INFO("stuck client read " << got << " messages before the close");
  CHECK(closed);
  CHECK(got < kFlood);
  CHECK(pub.is_open());
}

TEST_CASE("A subscriber that keeps reading is not judged slow when many publishers' bursts "
          "reach it at once (outbound_buffer_limit: 64KiB)") {
  if (TernBroker::reference_mode()) return;  // needs our config
  // Each publisher's burst (256 KiB) is 4x the limit, and the bursts arrive together, so the
  // broker reads them in one poll round: what it routes to the subscriber must go to its
  // socket as it gathers, not wait for the round's end and then count as a backlog.
  TernBroker broker({kSlowClientConfig, {}});
  RawClient sub(broker.port(), ProtocolVersion::v5);
  REQUIRE(sub.connect("it-burst-sub").reason_code == 0);
  REQUIRE(sub.subscribe("it/burst/#", 0).reason_codes[0] == 0);

  constexpr int kPublishers = 8;
  constexpr int kPerPublisher = 256;
  constexpr int kTotal = kPublishers * kPerPublisher;
  std::vector<std::unique_ptr<RawClient>> pubs;
  std::vector<std::string> bursts;
  for (int i = 0; i < kPublishers; ++i) {
    pubs.push_back(std::make_unique<RawClient>(broker.port(), ProtocolVersion::v5));
    REQUIRE(pubs.back()->connect("it-burst-pub-" + std::to_string(i)).reason_code == 0);
    std::string bytes;
    codec::Publish p;
    p.topic = "it/burst/" + std::to_string(i);
    p.payload = std::string(1024, 'b');
    for (int k = 0; k < kPerPublisher; ++k) codec::encode(p, codec::ProtocolVersion::v5, bytes);
    bursts.push_back(std::move(bytes));
  }

  std::atomic<int> got{0};
  std::atomic<bool> closed{false};
  std::thread reader([&] {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (got < kTotal && std::chrono::steady_clock::now() < deadline) {
      const RecvStatus st = sub.recv(2s);
      if (st == RecvStatus::Packet) ++got;
      if (st == RecvStatus::Closed) {
        closed = true;
        return;
      }
    }
  });
  for (int i = 0; i < kPublishers; ++i) pubs[i]->send_bytes(bursts[i]);
  reader.join();
  INFO("subscriber received " << got << " of " << kTotal);
  CHECK_FALSE(closed);
  CHECK(got == kTotal);
  CHECK(sub.is_open());
}

}  // namespace
}  // namespace tern::it
