// Retained messages through the broker: store, replace, clear, Retain Handling, quota,
// shared subscriptions, expiry, retain not available.
#include "tests/unit/core/harness.hpp"

namespace tern::core::test {
namespace {

using codec::ReasonCode;

TEST_CASE("MQTT-3.3.1-8 retained message sent on subscribe with RETAIN 1",
          "[core][retain]") {
  Harness h;
  const ConnId p = h.connect("p");
  h.publish(p, "a/b", "v1", 1, true);
  h.publish(p, "a/b", "v2", 1, true);  // [MQTT-3.3.1-5] replaces
  h.publish(p, "a/c", "c", 0, true);
  CHECK(h.stats().retained_messages == 2);
  for (auto v : {ProtocolVersion::v5, ProtocolVersion::v311}) {
    const ConnId s = h.connect(ConnectArgs{"s" + std::to_string(static_cast<int>(v)), v});
    h.subscribe(s, "a/b", 2);
    auto pubs = h.inbox(s).publishes();
    REQUIRE(pubs.size() == 1);
    CHECK(pubs[0].msg->payload == "v2");
    CHECK(pubs[0].retain);
    CHECK(pubs[0].qos == 1);  // min(published 1, granted 2)
  }
}

TEST_CASE("MQTT-3.3.1-6 MQTT-3.3.1-7 empty retained payload clears, still delivered",
          "[core][retain]") {
  Harness h;
  const ConnId p = h.connect("p");
  h.publish(p, "t", "keep", 0, true);
  const ConnId live = h.connect("live");
  h.subscribe(live, "t");
  h.clear(live);
  h.publish(p, "t", "", 0, true);
  auto pubs = h.inbox(live).publishes();
  REQUIRE(pubs.size() == 1);  // current subscribers still get it
  CHECK(pubs[0].msg->payload.empty());
  CHECK(h.stats().retained_messages == 0);
  const ConnId late = h.connect("late");
  h.subscribe(late, "t");
  CHECK(h.inbox(late).publishes().empty());
}

TEST_CASE("MQTT-3.3.1-9 MQTT-3.3.1-10 MQTT-3.3.1-11 Retain Handling 0, 1 and 2",
          "[core][retain]") {
  Harness h;
  const ConnId p = h.connect("p");
  h.publish(p, "t", "r", 0, true);
  const ConnId s = h.connect("s");
  codec::SubscribeEntry e;
  SECTION("0: sent on every subscribe") {
    e.retain_handling = 0;
    h.subscribe(s, "t", 0, e);
    h.subscribe(s, "t", 0, e);
    CHECK(h.inbox(s).publishes().size() == 2);
  }
  SECTION("1: only when the subscription is new") {
    e.retain_handling = 1;
    h.subscribe(s, "t", 0, e);
    h.subscribe(s, "t", 0, e);
    CHECK(h.inbox(s).publishes().size() == 1);
  }
  SECTION("2: never") {
    e.retain_handling = 2;
    h.subscribe(s, "t", 0, e);
    CHECK(h.inbox(s).publishes().empty());
    // Still a normal subscription.
    h.publish(p, "t", "live", 0);
    CHECK(h.payloads(s) == std::vector<std::string>{"live"});
  }
}

TEST_CASE("retained messages are sent after the SUBACK, matching wildcards",
          "[core][retain]") {
  Harness h;
  const ConnId p = h.connect("p");
  h.publish(p, "x/1", "a", 0, true);
  h.publish(p, "x/2/3", "b", 0, true);
  h.publish(p, "$SYS/x", "sys", 0, true);
  const ConnId s = h.connect("s");
  codec::Subscribe sub;
  sub.packet_id = 5;
  sub.entries.push_back({"#", 0});
  h.send(s, sub);
  auto& acts = h.inbox(s).actions;
  REQUIRE(acts.size() == 3);
  CHECK(std::holds_alternative<codec::Suback>(std::get<SendPacket>(acts[0]).packet));
  auto got = h.payloads(s);
  std::sort(got.begin(), got.end());
  CHECK(got == std::vector<std::string>{"a", "b"});  // [MQTT-4.7.2-1] not $SYS
}

TEST_CASE("shared subscriptions get no retained messages", "[core][retain][shared]") {
  Harness h;
  const ConnId p = h.connect("p");
  h.publish(p, "t", "r", 0, true);
  const ConnId s = h.connect("s");
  h.subscribe(s, "$share/g/t");
  CHECK(h.inbox(s).publishes().empty());
}

TEST_CASE("retain not available: v5 retained PUBLISH -> DISCONNECT 0x9A, 3.1.1 not stored",
          "[core][retain]") {
  BrokerOptions o;
  o.retain_available = false;
  Harness h(o);
  const ConnId s = h.connect("s");
  h.subscribe(s, "t");
  const ConnId p = h.connect("p");
  h.publish(p, "t", "x", 0, true);
  auto d = h.inbox(p).packets<codec::Disconnect>();
  REQUIRE(d.size() == 1);
  CHECK(d[0].reason_code == u8(ReasonCode::RetainNotSupported));
  CHECK(h.inbox(s).publishes().empty());

  const ConnId old = h.connect("old", ProtocolVersion::v311);
  h.publish(old, "t", "y", 0, true);
  CHECK(h.payloads(s) == std::vector<std::string>{"y"});
  CHECK(h.stats().retained_messages == 0);
}

TEST_CASE("max_retained_bytes: v5 QoS 1 gets PUBACK 0x97, 3.1.1 delivered but not stored",
          "[core][retain][limits]") {
  BrokerOptions o;
  o.max_retained_bytes = 20;
  Harness h(o);
  const ConnId s = h.connect("s");
  h.subscribe(s, "#");
  const ConnId p = h.connect("p");
  h.publish(p, "a", "0123456789", 1, true);  // 11 bytes: fits
  CHECK(h.stats().retained_messages == 1);
  h.publish(p, "b", "0123456789", 1, true);  // 22 bytes total: refused
  auto acks = h.inbox(p).packets<codec::Puback>();
  REQUIRE(acks.size() == 2);
  CHECK(acks[0].reason_code == 0);
  CHECK(acks[1].reason_code == u8(ReasonCode::QuotaExceeded));
  CHECK(h.payloads(s).size() == 1);  // refused message not forwarded
  CHECK(h.stats().retained_messages == 1);
  CHECK(h.stats().dropped_retained_quota == 1);
  // Replacing the same topic only counts the difference.
  h.publish(p, "a", "9876543210", 1, true);
  CHECK(h.inbox(p).packets<codec::Puback>().at(2).reason_code == 0);

  const ConnId old = h.connect("old", ProtocolVersion::v311);
  h.publish(old, "c", "0123456789", 1, true);
  CHECK(h.inbox(old).packets<codec::Puback>().at(0).reason_code == 0);
  CHECK(h.stats().dropped_retained_quota == 2);
  CHECK(h.stats().retained_messages == 1);
}

TEST_CASE("retained messages expire with their Message Expiry Interval",
          "[core][retain][expiry]") {
  Harness h;
  const ConnId p = h.connect("p");
  codec::Properties pr;
  pr.message_expiry_interval = 10;
  h.publish(p, "t", "short", 0, true, 0, pr);
  h.publish(p, "u", "forever", 0, true);
  CHECK(h.stats().retained_messages == 2);
  h.advance(4s);
  const ConnId s = h.connect("s");
  h.subscribe(s, "t");
  auto pubs = h.inbox(s).publishes();
  REQUIRE(pubs.size() == 1);
  CHECK(pubs[0].message_expiry_interval == std::optional<std::uint32_t>(6));
  REQUIRE(h.broker().next_deadline());
  h.advance(6s);
  CHECK(h.stats().retained_messages == 1);
  const ConnId s2 = h.connect("s2");
  h.subscribe(s2, "#");
  CHECK(h.payloads(s2) == std::vector<std::string>{"forever"});
}

}  // namespace
}  // namespace tern::core::test
