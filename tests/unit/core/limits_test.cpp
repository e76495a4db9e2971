// Limits in core: per-connection publish rates (token buckets at their edges, refill,
// v5 0x96 / 3.1.1 close, internal clients exempt), topic length and level limits
// (PUBLISH, SUBSCRIBE, will), and the memory budget of queued messages with and without
// persistence.
#include <string>
#include <vector>

#include "storage/memory_store.hpp"
#include "tests/unit/core/harness.hpp"
#include "tests/unit/core/persist_harness.hpp"

namespace tern::core::test {
namespace {

using Strings = std::vector<std::string>;
constexpr ProtocolVersion kV5 = ProtocolVersion::v5;
constexpr ProtocolVersion kV311 = ProtocolVersion::v311;

std::vector<std::uint8_t> disconnect_codes(Harness& h, ConnId c) {
  std::vector<std::uint8_t> out;
  for (const auto& d : h.inbox(c).packets<codec::Disconnect>()) out.push_back(d.reason_code);
  return out;
}

std::uint8_t suback_code(Harness& h, ConnId c, const std::string& filter) {
  h.clear(c);
  codec::Subscribe s;
  s.packet_id = 77;
  codec::SubscribeEntry e;
  e.filter = filter;
  e.max_qos = 1;
  s.entries.push_back(e);
  h.send(c, std::move(s));
  auto acks = h.inbox(c).packets<codec::Suback>();
  REQUIRE(acks.size() == 1);
  REQUIRE(acks[0].reason_codes.size() == 1);
  return acks[0].reason_codes[0];
}

ConnectArgs offline_args(const std::string& id) {
  ConnectArgs a{id, kV5, false};
  a.props.session_expiry_interval = 3600;
  return a;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Publish rates
// ---------------------------------------------------------------------------------------

TEST_CASE("limits: publish_rate: exactly the limit passes, one more disconnects",
          "[core][limits]") {
  BrokerOptions o;
  o.publish_rate = 5;
  for (const ProtocolVersion v : {kV5, kV311}) {
    Harness h(o);
    const ConnId sub = h.connect("sub");
    h.subscribe(sub, "#", 0);
    ConnectArgs a{"pub", v};
    a.will = make_will("status/pub", "rate-limited");
    const ConnId pub = h.connect(a);
    for (int i = 0; i < 5; ++i) h.publish(pub, "t", std::to_string(i));
    CHECK_FALSE(h.inbox(pub).closed());
    CHECK(h.stats().rate_limited == 0);
    h.publish(pub, "t", "one too many");
    CHECK(h.inbox(pub).closed());
    // v5: DISCONNECT 0x96 Message rate too high; 3.1.1 cannot be told.
    CHECK(disconnect_codes(h, pub) ==
          (v == kV5 ? std::vector<std::uint8_t>{0x96} : std::vector<std::uint8_t>{}));
    CHECK(h.stats().rate_limited == 1);
    // The over-limit message is not routed; the will goes out (a server-side close).
    CHECK(h.payloads(sub) == Strings{"0", "1", "2", "3", "4", "rate-limited"});
  }
}

TEST_CASE("limits: publish_rate refills with time, up to one second's worth",
          "[core][limits]") {
  BrokerOptions o;
  o.publish_rate = 5;
  Harness h(o);
  const ConnId pub = h.connect("pub");
  for (int i = 0; i < 5; ++i) h.publish(pub, "t", "x");
  h.advance(200ms);  // one token back
  h.publish(pub, "t", "x");
  CHECK_FALSE(h.inbox(pub).closed());
  h.advance(10s);  // capped at one second's worth
  for (int i = 0; i < 5; ++i) h.publish(pub, "t", "x");
  CHECK_FALSE(h.inbox(pub).closed());
  h.publish(pub, "t", "x");
  CHECK(h.inbox(pub).closed());
  CHECK(h.stats().rate_limited == 1);

  // A steady publisher at the rate is never limited.
  const ConnId steady = h.connect("steady");
  for (int i = 0; i < 50; ++i) {
    h.publish(steady, "t", "x");
    h.advance(200ms);
  }
  CHECK_FALSE(h.inbox(steady).closed());
}

TEST_CASE("limits: publish_bytes_rate counts payload bytes", "[core][limits]") {
  BrokerOptions o;
  o.publish_bytes_rate = 100;
  Harness h(o);
  const ConnId a = h.connect("a");
  for (int i = 0; i < 10; ++i) h.publish(a, "t", std::string(10, 'x'), 1);
  CHECK_FALSE(h.inbox(a).closed());
  h.publish(a, "t", "y", 1);
  CHECK(h.inbox(a).closed());
  CHECK(disconnect_codes(h, a) == std::vector<std::uint8_t>{0x96});

  const ConnId b = h.connect("b");
  h.publish(b, "t", std::string(100, 'x'));
  CHECK_FALSE(h.inbox(b).closed());
  h.advance(500ms);
  h.publish(b, "t", std::string(51, 'x'));
  CHECK(h.inbox(b).closed());
  CHECK(h.stats().rate_limited == 2);
}

TEST_CASE("limits: internal clients are exempt from publish rates", "[core][limits]") {
  BrokerOptions o;
  o.publish_rate = 1;
  o.publish_bytes_rate = 1;
  Harness h(o);
  constexpr ConnId kBridge = 1u << 20;
  h.broker().on_open_internal(kBridge, h.now(), {});
  h.send(kBridge, Harness::make_connect(ConnectArgs{"$bridge/up/0"}));
  h.clear(kBridge);
  for (int i = 0; i < 20; ++i) h.publish(kBridge, "t", "payload");
  CHECK_FALSE(h.inbox(kBridge).closed());
  CHECK(h.stats().rate_limited == 0);
}

// ---------------------------------------------------------------------------------------
// Topic limits
// ---------------------------------------------------------------------------------------

TEST_CASE("limits: PUBLISH topics over length or levels", "[core][limits]") {
  BrokerOptions o;
  o.max_topic_levels = 3;
  o.max_topic_length = 16;
  Harness h(o);
  const ConnId sub = h.connect("sub");
  h.subscribe(sub, "#", 2);

  SECTION("v5: QoS 0 dropped, QoS 1/2 answered 0x90 Topic Name invalid") {
    const ConnId pub = h.connect("pub");
    h.publish(pub, "a/b/c", "3 levels", 1, false, 1);
    h.publish(pub, std::string(16, 'a'), "16 bytes", 1, false, 2);
    h.publish(pub, "a/b/c/d", "4 levels", 1, false, 3);
    h.publish(pub, std::string(17, 'a'), "17 bytes", 1, false, 4);
    h.publish(pub, "a/b/c/d", "q0", 0);
    h.publish(pub, "a/b/c/d", "q2", 2, false, 5);
    auto pa = h.inbox(pub).packets<codec::Puback>();
    REQUIRE(pa.size() == 4);
    CHECK(pa[0].reason_code < 0x80);
    CHECK(pa[1].reason_code < 0x80);
    CHECK(pa[2].reason_code == 0x90);
    CHECK(pa[3].reason_code == 0x90);
    auto pr = h.inbox(pub).packets<codec::Pubrec>();
    REQUIRE(pr.size() == 1);
    CHECK(pr[0].reason_code == 0x90);
    CHECK_FALSE(h.inbox(pub).closed());
    CHECK(h.payloads(sub) == Strings{"3 levels", "16 bytes"});
    CHECK(h.stats().topic_refused == 4);
  }
  SECTION("3.1.1: the connection is closed") {
    const ConnId pub = h.connect("pub", kV311);
    h.publish(pub, "a/b/c/d", "4 levels", 1, false, 3);
    CHECK(h.inbox(pub).closed());
    CHECK(h.inbox(pub).packets<codec::Puback>().empty());
    CHECK(h.payloads(sub).empty());
    CHECK(h.stats().topic_refused == 1);
  }
}

TEST_CASE("limits: SUBSCRIBE filters and will topics over the limits", "[core][limits]") {
  BrokerOptions o;
  o.max_topic_levels = 3;
  o.max_topic_length = 16;
  Harness h(o);
  const ConnId v5 = h.connect("v5");
  const ConnId v3 = h.connect("v3", kV311);
  CHECK(suback_code(h, v5, "a/b/#") == 1);
  CHECK(suback_code(h, v5, "a/b/c/#") == 0x8F);
  CHECK(suback_code(h, v3, "a/b/c/#") == 0x80);
  CHECK(suback_code(h, v5, std::string(17, 'a')) == 0x8F);
  // $share/<group>/ is not part of the topic filter.
  CHECK(suback_code(h, v5, "$share/a-long-group/a/b/c") == 1);
  CHECK(h.stats().topic_refused == 3);
  CHECK(h.stats().subscriptions == 2);

  for (const ProtocolVersion v : {kV5, kV311}) {
    ConnectArgs a{"w", v};
    a.will = make_will("a/b/c/d", "gone");
    const ConnId c = h.connect_raw(a);
    auto acks = h.inbox(c).packets<codec::Connack>();
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].reason_code == (v == kV5 ? 0x90 : 0x05));
    CHECK(h.inbox(c).closed());
  }
  CHECK(h.stats().topic_refused == 5);
}

// ---------------------------------------------------------------------------------------
// Memory budget
// ---------------------------------------------------------------------------------------

TEST_CASE("limits: memory_budget without persistence drops what would pass it",
          "[core][limits][memory]") {
  BrokerOptions o;
  o.memory_budget = 100;
  Harness h(o);
  ConnId s1 = h.connect(offline_args("s1"));
  ConnId s2 = h.connect(offline_args("s2"));
  const ConnId online = h.connect("online");
  h.subscribe(s1, "m/#", 1);
  h.subscribe(s2, "m/#", 1);
  h.subscribe(online, "m/#", 1);
  h.disconnect(s1);
  h.closed(s1);
  h.disconnect(s2);
  h.closed(s2);

  const ConnId pub = h.connect("pub");
  const std::string payload(27, 'p');  // "m/N" + 27 bytes = 30 bytes a message
  for (int i = 0; i < 4; ++i) h.publish(pub, "m/" + std::to_string(i), payload, 1);
  // Three messages fit (each counted once although two queues hold it); the fourth
  // is dropped for both offline sessions.
  CHECK(h.stats().queued_bytes == 90);
  CHECK(h.stats().queued_messages == 6);
  CHECK(h.stats().dropped_memory_budget == 2);
  CHECK(h.stats().dropped_queue_full == 0);
  // The online session with room in its window got every message directly.
  CHECK(h.payloads(online).size() == 4);

  s1 = h.connect(offline_args("s1"));  // CONNACK cleared; the queue drains after it
  CHECK(h.stats().queued_bytes == 90);  // s2 still holds the same three messages
  s2 = h.connect(offline_args("s2"));
  CHECK(h.stats().queued_bytes == 0);
  CHECK(h.stats().queued_messages == 0);

  // Room again: queueing works.
  h.disconnect(s1);
  h.closed(s1);
  h.publish(pub, "m/9", payload, 1);
  CHECK(h.stats().queued_bytes == 30);
  CHECK(h.stats().dropped_memory_budget == 2);
  // A session that ends with messages queued gives their bytes back.
  h.connect(ConnectArgs{"s1"});  // clean start: the old session and its queue are discarded
  CHECK(h.stats().queued_bytes == 0);
  CHECK(h.stats().queued_messages == 0);
}

TEST_CASE("limits: memory_budget with persistence keeps the rest on disk only",
          "[core][limits][memory][persist]") {
  storage::MemoryStore store;
  PersistSetup setup;
  setup.opts.memory_budget = 100;
  setup.auto_commit = true;
  PersistHarness h(&store, setup);
  const ConnId s = h.connect(persistent_args("s"));
  h.subscribe(s, "m/#", 1);
  h.disconnect(s);

  const ConnId pub = h.connect("pub");
  const std::string payload(27, 'p');
  Strings want;
  for (int i = 0; i < 10; ++i) {
    h.publish(pub, "m/" + std::to_string(i), payload + std::to_string(i), 1);
    want.push_back(payload + std::to_string(i));
  }
  // 31 bytes each: three in RAM, the rest on disk; nothing dropped.
  CHECK(h.stats().dropped_memory_budget == 0);
  CHECK(h.stats().queued_messages == 10);
  CHECK(h.stats().queued_bytes == 93);
  CHECK(h.stats().queued_on_disk == 7);

  SECTION("drained in order") {
    ConnId c = 0;
    h.reconnect_present(persistent_args("s"), &c);
    CHECK(h.ack_all(c) == want);
    CHECK(h.stats().queued_bytes == 0);
    CHECK(h.stats().queued_messages == 0);
  }
  SECTION("after a restart the loaded head stays within the budget") {
    h.restart();
    CHECK(h.stats().queued_messages == 10);
    CHECK(h.stats().queued_bytes <= 100);
    CHECK(h.stats().queued_on_disk == 7);
    ConnId c = 0;
    h.reconnect_present(persistent_args("s"), &c);
    CHECK(h.ack_all(c) == want);
    CHECK(h.stats().queued_bytes == 0);
  }
}

}  // namespace tern::core::test
