// Internal sessions (a bridge's local side): the reserved client id prefix, per-session
// queue bounds and overflow policies with their counters and the 0x97 answer of Reject,
// loop prevention by origin prefix, exclusion filters, and session_status.
#include "tests/unit/core/harness.hpp"

namespace tern::core::test {
namespace {

constexpr ConnId kBridgeConn = 1u << 20;  // far from the harness's own ids

// Opens an internal connection and connects it as a persistent v5 client.
ConnId connect_internal(Harness& h, const std::string& id, InternalSessionOptions o,
                        ConnId conn = kBridgeConn) {
  h.broker().on_open_internal(conn, h.now(), std::move(o));
  ConnectArgs a{id};
  a.clean_start = false;
  a.props.session_expiry_interval = 0xFFFFFFFF;
  h.send(conn, Harness::make_connect(a));
  auto acks = h.inbox(conn).packets<codec::Connack>();
  REQUIRE(acks.size() == 1);
  REQUIRE(acks[0].reason_code == 0);
  h.clear(conn);
  return conn;
}

std::uint8_t last_puback(Harness& h, ConnId c) {
  auto acks = h.inbox(c).packets<codec::Puback>();
  REQUIRE_FALSE(acks.empty());
  return acks.back().reason_code;
}

}  // namespace

TEST_CASE("internal: network clients may not use the $bridge/ prefix, internal ones must",
          "[core][internal]") {
  Harness h;
  const ConnId c = h.connect_raw(ConnectArgs{"$bridge/cloud/p0"});
  auto acks = h.inbox(c).packets<codec::Connack>();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].reason_code == u8(codec::ReasonCode::ClientIdentifierNotValid));
  CHECK(h.inbox(c).closed());

  h.broker().on_open_internal(kBridgeConn, h.now(), {});
  h.send(kBridgeConn, Harness::make_connect(ConnectArgs{"plain-id"}));
  auto iacks = h.inbox(kBridgeConn).packets<codec::Connack>();
  REQUIRE(iacks.size() == 1);
  CHECK(iacks[0].reason_code == u8(codec::ReasonCode::ClientIdentifierNotValid));
}

TEST_CASE("internal: loop prevention and exclusion filters", "[core][internal]") {
  Harness h;
  InternalSessionOptions low;
  low.loop_prefix = "$bridge/cloud/";
  low.exclude_filters = {"alarms/#"};
  const ConnId b = connect_internal(h, "$bridge/cloud/p0", low);
  h.subscribe(b, "#", 1);
  InternalSessionOptions in;
  in.loop_prefix = "$bridge/cloud/";
  const ConnId bin = connect_internal(h, "$bridge/cloud/in", in, kBridgeConn + 1);

  const ConnId pub = h.connect("sensor");
  h.publish(pub, "telemetry/t", "1", 1);
  h.publish(pub, "alarms/fire", "2", 1);  // a higher class carries it: excluded here
  h.publish(bin, "cloud/cmd", "3", 1);    // came from the remote: never sent back
  auto got = h.inbox(b).publishes();
  REQUIRE(got.size() == 1);
  CHECK(got[0].msg->topic == "telemetry/t");

  // A network subscriber still gets everything.
  const ConnId sub = h.connect("app");
  h.subscribe(sub, "#", 0);
  h.publish(bin, "cloud/cmd", "4", 1);
  h.publish(pub, "alarms/fire", "5", 1);
  CHECK(h.inbox(sub).publishes().size() == 2);
}

TEST_CASE("internal: queue bounds per session, each overflow policy counted by reason",
          "[core][internal]") {
  for (const OverflowPolicy policy :
       {OverflowPolicy::DropOldest, OverflowPolicy::DropNewest, OverflowPolicy::Reject}) {
    Harness h;
    InternalSessionOptions o;
    o.max_queued_messages = 3;
    o.overflow = policy;
    o.queue_qos0_offline = false;
    const ConnId b = connect_internal(h, "$bridge/x/p0", o);
    h.subscribe(b, "t/#", 1);
    h.closed(b);  // uplink down: the session queues

    const ConnId pub = h.connect("p");
    for (int i = 0; i < 5; ++i) h.publish(pub, "t/" + std::to_string(i), "x", 1);
    h.publish(pub, "t/q0", "x", 0);  // QoS 0 while offline: dropped (queue_qos0 false)
    const auto st = h.broker().session_status("$bridge/x/p0");
    REQUIRE(st.has_value());
    CHECK_FALSE(st->online);
    CHECK(st->queued == 3);
    CHECK(st->dropped_qos0 == 1);
    CHECK(st->oldest.has_value());
    auto acks = h.inbox(pub).packets<codec::Puback>();
    REQUIRE(acks.size() == 5);
    switch (policy) {
      case OverflowPolicy::DropOldest:
        CHECK(st->dropped_oldest == 2);
        CHECK(last_puback(h, pub) == 0);
        break;
      case OverflowPolicy::DropNewest:
        CHECK(st->dropped_newest == 2);
        CHECK(last_puback(h, pub) == 0);
        break;
      case OverflowPolicy::Reject:
        // [MQTT-3.3.4] v5 publishers hear of it: 0x97 Quota exceeded.
        CHECK(st->rejected == 2);
        CHECK(acks[2].reason_code == 0);
        CHECK(acks[3].reason_code == u8(codec::ReasonCode::QuotaExceeded));
        CHECK(acks[4].reason_code == u8(codec::ReasonCode::QuotaExceeded));
        CHECK(h.stats().dropped_rejected == 2);
        break;
    }

    // Reconnected: the queue drains in order (the survivors of the policy).
    const ConnId b2 = kBridgeConn + 10;
    h.broker().on_open_internal(b2, h.now(), o);
    ConnectArgs again{"$bridge/x/p0"};
    again.clean_start = false;
    again.props.session_expiry_interval = 0xFFFFFFFF;
    h.send(b2, Harness::make_connect(again));
    REQUIRE(h.inbox(b2).packets<codec::Connack>().at(0).session_present);
    std::vector<std::string> topics;
    for (const auto& p : h.inbox(b2).publishes()) topics.push_back(p.msg->topic);
    if (policy == OverflowPolicy::DropOldest) {
      CHECK(topics == std::vector<std::string>{"t/2", "t/3", "t/4"});
    } else {
      CHECK(topics == std::vector<std::string>{"t/0", "t/1", "t/2"});
    }
  }
}

TEST_CASE("internal: the in-flight window is the internal client's own Receive Maximum",
          "[core][internal]") {
  BrokerOptions bo;
  bo.max_inflight_out = 4;  // caps network clients only
  Harness h(bo);
  h.broker().on_open_internal(kBridgeConn, h.now(), {});
  ConnectArgs a{"$bridge/w/p0"};
  a.props.receive_maximum = 50;
  h.send(kBridgeConn, Harness::make_connect(a));
  h.clear(kBridgeConn);
  h.subscribe(kBridgeConn, "t", 1);
  const ConnId pub = h.connect("p");
  for (int i = 0; i < 60; ++i) h.publish(pub, "t", "x", 1);
  CHECK(h.inbox(kBridgeConn).publishes().size() == 50);
}

TEST_CASE("internal: sessions of bridges no longer configured are ended at startup",
          "[core][internal]") {
  Harness h;
  const ConnId a = connect_internal(h, "$bridge/old/p0", {});
  const ConnId b = connect_internal(h, "$bridge/cloud/p0", {}, kBridgeConn + 1);
  h.closed(a);
  h.closed(b);
  ConnectArgs app{"app"};
  app.clean_start = false;
  app.props.session_expiry_interval = 3600;
  h.closed(h.connect(app));
  const auto ended = h.broker().end_internal_sessions_except({"$bridge/cloud/p0"}, h.now());
  CHECK(ended == std::vector<std::string>{"$bridge/old/p0"});
  CHECK_FALSE(h.broker().session_status("$bridge/old/p0").has_value());
  CHECK(h.broker().session_status("$bridge/cloud/p0").has_value());
  CHECK(h.broker().session_status("app").has_value());  // network sessions are not touched
}

}  // namespace tern::core::test
