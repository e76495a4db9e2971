// Many concurrent clients on one broker: every client both publishes and receives.
#include <sys/resource.h>

#include <memory>
#include <vector>

#include "tests/integration/harness/common.hpp"

namespace tern::it {
namespace {

// Each client needs a descriptor here and one in the broker (a child: it inherits ours).
void ensure_fd_limit(rlim_t want) {
  rlimit rl{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &rl) == 0);
  if (rl.rlim_cur >= want) return;
  rl.rlim_cur = std::min(want, rl.rlim_max);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &rl) == 0);
  REQUIRE(rl.rlim_cur >= want);
}

TEST_CASE("1000 concurrent clients (v3.1.1 and v5) each receive what was sent to them and the "
          "common broadcast", "[slow]") {
  constexpr int kClients = 1000;
  ensure_fd_limit(4 * kClients);
  TernBroker broker;
  Stopwatch sw;

  std::vector<std::unique_ptr<RawClient>> clients;
  clients.reserve(kClients);
  // Pipelined: all CONNECTs, then all CONNACKs, so setup is not 1000 round trips in a row.
  for (int i = 0; i < kClients; ++i) {
    const auto v = i % 2 == 0 ? ProtocolVersion::v311 : ProtocolVersion::v5;
    clients.push_back(std::make_unique<RawClient>(broker.port(), v));
    codec::Connect c;
    c.client_id = "it-load-" + std::to_string(i);
    c.version = v;
    clients.back()->send(c);
  }
  for (int i = 0; i < kClients; ++i) {
    INFO("client " << i);
    REQUIRE(clients[i]->expect<codec::Connack>(20s).reason_code == 0);
  }
  for (int i = 0; i < kClients; ++i) {
    codec::Subscribe s;
    s.packet_id = clients[i]->next_packet_id();
    s.entries.push_back({"it/load/" + std::to_string(i), 1});
    s.entries.push_back({"it/load/all", 0});
    clients[i]->send(s);
  }
  for (int i = 0; i < kClients; ++i) {
    INFO("client " << i);
    const auto ack = clients[i]->expect<codec::Suback>(20s);
    REQUIRE(ack.reason_codes == std::vector<std::uint8_t>{1, 0});
  }
  INFO("connected and subscribed after " << sw.elapsed().count() << " ms");

  // Everyone publishes (QoS 1) to the next client's topic; client 0 also broadcasts.
  for (int i = 0; i < kClients; ++i) {
    codec::Publish p;
    p.topic = "it/load/" + std::to_string((i + 1) % kClients);
    p.payload = "from " + std::to_string(i);
    p.qos = 1;
    p.packet_id = clients[i]->next_packet_id();
    clients[i]->send(p);
  }
  {
    codec::Publish all;
    all.topic = "it/load/all";
    all.payload = "to all";
    clients[0]->send(all);
  }

  int complete = 0;
  for (int i = 0; i < kClients; ++i) {
    INFO("client " << i);
    auto& c = *clients[i];
    bool puback = false, direct = false, broadcast = false;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!(puback && direct && broadcast) && std::chrono::steady_clock::now() < deadline) {
      const auto st = c.recv(2s);
      if (st == RecvStatus::Timeout) continue;
      REQUIRE(st == RecvStatus::Packet);
      const auto& pk = c.last_packet();
      if (std::holds_alternative<codec::Puback>(pk)) {
        puback = true;
      } else if (const auto* p = std::get_if<codec::Publish>(&pk)) {
        if (p->topic == "it/load/all") {
          CHECK(p->payload == "to all");
          CHECK_FALSE(broadcast);
          broadcast = true;
        } else {
          CHECK(p->topic == "it/load/" + std::to_string(i));
          CHECK(p->payload == "from " + std::to_string((i + kClients - 1) % kClients));
          CHECK_FALSE(direct);
          direct = true;
          codec::Puback a;
          a.packet_id = p->packet_id;
          c.send(a);
        }
      } else {
        FAIL("unexpected " << describe(pk));
      }
    }
    CHECK(puback);
    CHECK(direct);
    CHECK(broadcast);
    complete += puback && direct && broadcast;
  }
  CHECK(complete == kClients);
  INFO("whole exchange took " << sw.elapsed().count() << " ms");
  CHECK(sw.elapsed() < 60s);
}

}  // namespace
}  // namespace tern::it
