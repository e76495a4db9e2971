// Sessions: offline queues and their bounds, session expiry (CONNECT and DISCONNECT),
// stats gauges, timers at scale.
#include "tests/unit/core/harness.hpp"

#include <vector>

#include "broker/core/session.hpp"
#include "broker/core/timer_queue.hpp"

namespace tern::core::test {
namespace {

using codec::ReasonCode;

ConnectArgs persistent(const std::string& id, std::uint32_t expiry = 3600) {
  ConnectArgs a{id, ProtocolVersion::v5, false};
  a.props.session_expiry_interval = expiry;
  return a;
}

TEST_CASE("offline persistent session queues QoS 1/2, QoS 0 dropped unless configured",
          "[core][session][queue]") {
  for (bool queue0 : {false, true}) {
    BrokerOptions o;
    o.queue_qos0_offline = queue0;
    Harness h(o);
    ConnId s = h.connect(persistent("s"));
    h.subscribe(s, "t", 2);
    h.disconnect(s);
    h.closed(s);
    const ConnId p = h.connect("p");
    h.publish(p, "t", "q0", 0);
    h.publish(p, "t", "q1", 1);
    h.publish(p, "t", "q2", 2);
    CHECK(h.stats().queued_messages == (queue0 ? 3u : 2u));
    CHECK(h.stats().dropped_qos0_offline == (queue0 ? 0u : 1u));
    s = h.connect_raw(persistent("s"));
    const auto want = queue0 ? std::vector<std::string>{"q0", "q1", "q2"}
                             : std::vector<std::string>{"q1", "q2"};
    CHECK(h.payloads(s) == want);
    CHECK(h.stats().queued_messages == 0);
  }
}

TEST_CASE("3.1.1 clean session 0 keeps the session, clean session 1 does not",
          "[core][session]") {
  Harness h;
  ConnId s = h.connect(ConnectArgs{"s", ProtocolVersion::v311, false});
  h.subscribe(s, "t", 1);
  h.closed(s);
  const ConnId p = h.connect("p");
  h.publish(p, "t", "kept", 1);
  s = h.connect_raw(ConnectArgs{"s", ProtocolVersion::v311, false});
  CHECK(h.inbox(s).packets<codec::Connack>().at(0).session_present);
  CHECK(h.payloads(s) == std::vector<std::string>{"kept"});

  ConnId c = h.connect(ConnectArgs{"c", ProtocolVersion::v311, true});
  h.subscribe(c, "t", 1);
  h.closed(c);
  CHECK(h.stats().subscriptions == 1);  // only s's
  c = h.connect_raw(ConnectArgs{"c", ProtocolVersion::v311, false});
  CHECK_FALSE(h.inbox(c).packets<codec::Connack>().at(0).session_present);
}

TEST_CASE("offline queue overflow: DropOldest keeps the newest", "[core][session][queue]") {
  BrokerOptions o;
  o.max_queued_messages = 3;
  o.overflow = OverflowPolicy::DropOldest;
  Harness h(o);
  ConnId s = h.connect(persistent("s"));
  h.subscribe(s, "t", 1);
  h.closed(s);
  const ConnId p = h.connect("p");
  for (int i = 0; i < 5; ++i) h.publish(p, "t", std::to_string(i), 1);
  CHECK(h.stats().queued_messages == 3);
  CHECK(h.stats().dropped_queue_full == 2);
  s = h.connect_raw(persistent("s"));
  CHECK(h.payloads(s) == std::vector<std::string>{"2", "3", "4"});
}

TEST_CASE("offline queue overflow: DropNewest keeps the oldest", "[core][session][queue]") {
  BrokerOptions o;
  o.max_queued_messages = 3;
  o.overflow = OverflowPolicy::DropNewest;
  Harness h(o);
  ConnId s = h.connect(persistent("s"));
  h.subscribe(s, "t", 1);
  h.closed(s);
  const ConnId p = h.connect("p");
  for (int i = 0; i < 5; ++i) h.publish(p, "t", std::to_string(i), 1);
  CHECK(h.stats().dropped_queue_full == 2);
  s = h.connect_raw(persistent("s"));
  CHECK(h.payloads(s) == std::vector<std::string>{"0", "1", "2"});
}

TEST_CASE("offline queue bounded in bytes", "[core][session][queue]") {
  BrokerOptions o;
  o.max_queued_bytes = 25;  // topic "t" + 10-byte payload = 11 bytes each
  Harness h(o);
  ConnId s = h.connect(persistent("s"));
  h.subscribe(s, "t", 1);
  h.closed(s);
  const ConnId p = h.connect("p");
  for (char c = 'a'; c < 'e'; ++c) h.publish(p, "t", std::string(10, c), 1);
  CHECK(h.stats().queued_messages == 2);
  CHECK(h.stats().dropped_queue_full == 2);
  h.publish(p, "t", std::string(100, 'z'), 1);  // can never fit
  CHECK(h.stats().dropped_queue_full == 3);
  s = h.connect_raw(persistent("s"));
  CHECK(h.payloads(s) == std::vector<std::string>{std::string(10, 'c'), std::string(10, 'd')});
}

TEST_CASE("session expiry removes an offline session and its subscriptions",
          "[core][session][expiry]") {
  Harness h;
  ConnId s = h.connect(persistent("s", 60));
  h.subscribe(s, "t", 1);
  h.closed(s);
  const ConnId p = h.connect("p");
  h.publish(p, "t", "q", 1);
  CHECK(h.stats().sessions == 2);
  CHECK(h.stats().queued_messages == 1);
  h.advance(59s);
  CHECK(h.stats().sessions == 2);
  h.advance(1s);
  CHECK(h.stats().sessions == 1);
  CHECK(h.stats().subscriptions == 0);
  CHECK(h.stats().queued_messages == 0);
  s = h.connect_raw(persistent("s", 60));
  CHECK_FALSE(h.inbox(s).packets<codec::Connack>().at(0).session_present);
  CHECK(h.inbox(s).publishes().empty());
}

TEST_CASE("session expiry 0xFFFFFFFF never expires", "[core][session][expiry]") {
  Harness h;
  ConnId s = h.connect(persistent("s", 0xFFFFFFFF));
  h.closed(s);
  h.advance(std::chrono::hours(24 * 365));
  CHECK(h.stats().sessions == 1);
}

TEST_CASE("DISCONNECT may change the session expiry, not from 0 [MQTT-3.14.2-2]",
          "[core][session][expiry]") {
  Harness h;
  SECTION("shortened to 0 ends the session at close") {
    const ConnId s = h.connect(persistent("s", 600));
    codec::Properties pr;
    pr.session_expiry_interval = 0;
    h.disconnect(s, 0, pr);
    h.closed(s);
    CHECK(h.stats().sessions == 0);
  }
  SECTION("lengthened") {
    const ConnId s = h.connect(persistent("s", 10));
    codec::Properties pr;
    pr.session_expiry_interval = 100;
    h.disconnect(s, 0, pr);
    h.advance(50s);
    CHECK(h.stats().sessions == 1);
    h.advance(50s);
    CHECK(h.stats().sessions == 0);
  }
  SECTION("0 in CONNECT, non-zero in DISCONNECT: protocol error") {
    ConnectArgs a{"s"};
    a.will = make_will("w", "x");
    const ConnId s = h.connect(a);
    const ConnId watcher = h.connect("watcher");
    h.subscribe(watcher, "w");
    codec::Properties pr;
    pr.session_expiry_interval = 100;
    h.disconnect(s, 0, pr);
    auto d = h.inbox(s).packets<codec::Disconnect>();
    REQUIRE(d.size() == 1);
    CHECK(d[0].reason_code == u8(ReasonCode::ProtocolError));
    CHECK(h.inbox(s).closed());
    CHECK(h.payloads(watcher) == std::vector<std::string>{"x"});  // not a normal disconnect
    CHECK(h.stats().sessions == 1);  // only watcher: s ended with its connection
  }
}

TEST_CASE("stats: connected gauge and high-water mark", "[core][stats]") {
  Harness h;
  const ConnId a = h.connect("a");
  const ConnId b = h.connect("b");
  CHECK(h.stats().clients_connected == 2);
  h.closed(a);
  CHECK(h.stats().clients_connected == 1);
  CHECK(h.stats().clients_maximum == 2);
  h.disconnect(b);
  h.closed(b);
  CHECK(h.stats().clients_connected == 0);
  CHECK(h.stats().sessions == 0);
  const ConnId c = h.connect("c");
  h.subscribe(c, "t");
  h.publish(c, "t", "12345");
  CHECK(h.stats().messages_received == 1);
  CHECK(h.stats().bytes_received == 5);
  CHECK(h.stats().messages_sent == 1);
  CHECK(h.stats().bytes_sent == 5);
}

TEST_CASE("next_deadline tracks the earliest timer, idle clients cost one entry each",
          "[core][timer]") {
  Harness h;
  CHECK_FALSE(h.broker().next_deadline());
  std::vector<ConnId> conns;
  for (int i = 0; i < 2000; ++i) {
    ConnectArgs a{"c" + std::to_string(i)};
    a.keep_alive = 60;
    conns.push_back(h.connect(a));
  }
  const Time t0 = h.now();
  auto first = h.broker().next_deadline();
  REQUIRE(first);
  // Deadlines that move later are re-armed lazily: the connect timeout entry may wake
  // the loop once, after which the keep-alive deadline is exact.
  CHECK(*first <= t0 + 90s);
  h.advance(10s);
  REQUIRE(h.broker().next_deadline());
  CHECK(*h.broker().next_deadline() == t0 + 90s);
  h.advance(20s);
  // Everyone pings repeatedly: deadlines move later, the heap does not grow.
  for (int round = 0; round < 5; ++round) {
    for (ConnId c : conns) h.send(c, codec::Pingreq{});
    h.advance(30s);
  }
  for (ConnId c : conns) h.send(c, codec::Pingreq{});
  h.advance(89s);
  CHECK(h.stats().clients_connected == 2000);
  h.advance(1s);
  CHECK(h.stats().clients_connected == 0);
  for (ConnId c : conns) h.closed(c);
  CHECK_FALSE(h.broker().next_deadline());
}

TEST_CASE("connection churn leaves no timer garbage behind", "[core][timer]") {
  Harness h;
  for (int i = 0; i < 5000; ++i) {
    ConnectArgs a{"c"};
    a.keep_alive = 65535;
    const ConnId c = h.connect(a);
    h.disconnect(c);
    h.closed(c);
    h.clear(c);
  }
  // Stale entries are compacted: the next deadline may still be a stale one, but
  // running it finds nothing and the queue drains.
  h.advance(std::chrono::hours(30));
  CHECK_FALSE(h.broker().next_deadline());
}

TEST_CASE("timer entries carry their owner in the id's top bits", "[core][timer]") {
  const Time t = Time{} + std::chrono::seconds(5);
  const ConnId internal = (ConnId{1} << 62) | 77;  // an internal client's id
  const ConnId network = (ConnId{123456} << 24) | 42;
  for (const ConnId id : {ConnId{1}, network, internal}) {
    const TimerEntry e(t, TimerOwner::Connection, id);
    CHECK(e.owner() == TimerOwner::Connection);
    CHECK(e.id() == id);
  }
  for (const std::uint64_t key : {std::uint64_t{1}, std::uint64_t{1} << 40}) {
    const TimerEntry e(t, TimerOwner::Session, key);
    CHECK(e.owner() == TimerOwner::Session);
    CHECK(e.id() == key);
  }
  const TimerEntry r(t, TimerOwner::Retained, 0);
  CHECK(r.owner() == TimerOwner::Retained);
  CHECK(r.id() == 0);
  CHECK(sizeof(TimerEntry) == 16);
}

TEST_CASE("a session's subscription map and inbound QoS 2 ids exist only while in use",
          "[core][session]") {
  Session s;
  CHECK(s.subscriptions.empty());
  CHECK(s.subscriptions.begin() == s.subscriptions.end());
  CHECK_FALSE(s.subscriptions.contains("a/b"));
  CHECK(s.subscriptions.erase("a/b") == 0);
  CHECK(s.subscriptions.insert_or_assign("a/b", SubOptions{}).second);
  CHECK_FALSE(s.subscriptions.insert_or_assign("a/b", SubOptions{}).second);
  CHECK(s.subscriptions.insert_or_assign("c/#", SubOptions{}).second);
  CHECK(s.subscriptions.size() == 2);
  CHECK(s.subscriptions.contains("c/#"));
  std::vector<std::string> filters;
  for (const auto& [f, o] : s.subscriptions) filters.push_back(f);
  CHECK(filters == std::vector<std::string>{"a/b", "c/#"});
  CHECK(s.subscriptions.erase("a/b") == 1);
  CHECK(s.subscriptions.erase("c/#") == 1);
  CHECK(s.subscriptions.empty());
  CHECK(s.subscriptions.begin() == s.subscriptions.end());

  CHECK_FALSE(s.has_inbound_qos2(7));
  CHECK_FALSE(s.remove_inbound_qos2(7));
  s.add_inbound_qos2(9);
  s.add_inbound_qos2(7);
  s.add_inbound_qos2(9);
  CHECK(s.inbound_qos2_ids() == std::vector<std::uint16_t>{7, 9});
  CHECK(s.remove_inbound_qos2(7));
  CHECK(s.remove_inbound_qos2(9));
  CHECK_FALSE(s.inbound_qos2);  // freed with the last id
  s.set_inbound_qos2({5, 3, 5, 65535});
  CHECK(s.inbound_qos2_ids() == std::vector<std::uint16_t>{3, 5, 65535});
  CHECK(s.has_inbound_qos2(65535));
  s.set_inbound_qos2({});
  CHECK_FALSE(s.inbound_qos2);

  s.add_subscription_bytes(10);
  s.add_subscription_bytes(UINT32_MAX - 5);  // saturates: a quota above 4 GiB is no limit
  CHECK(s.subscription_bytes == UINT32_MAX);
  s.remove_subscription_bytes(SIZE_MAX);
  CHECK(s.subscription_bytes == 0);
}

}  // namespace
}  // namespace tern::core::test
