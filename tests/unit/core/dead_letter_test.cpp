// The dead-letter topic (BrokerOptions::dead_letter): each drop reason yields exactly one
// dead letter on $DLQ/<reason>/<original topic> with the original payload, QoS, content
// type, payload format and user properties plus dlq_reason / dlq_client / dlq_topic;
// disabled = none; the rate limit; no loops; ACL reads and [MQTT-4.7.2-1] on $DLQ.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/unit/core/harness.hpp"

namespace tern::core::test {
namespace {

using codec::ReasonCode;
constexpr ConnId kBridgeConn = 1u << 20;

BrokerOptions dlq_options(std::uint32_t max_rate = 100) {
  BrokerOptions o;
  o.dead_letter.enabled = true;
  o.dead_letter.max_rate = max_rate;
  return o;
}

std::optional<std::string> user_prop(const Message& m, std::string_view name) {
  for (const auto& [k, v] : m.props->user_properties)
    if (k == name) return v;
  return std::nullopt;
}

// A client watching every dead letter.
ConnId watcher(Harness& h, const std::string& id = "ops") {
  const ConnId w = h.connect(id);
  REQUIRE(h.subscribe(w, "$DLQ/#", 2) == 2);
  return w;
}

// A persistent session subscribed to `filter`, then offline.
void offline_subscriber(Harness& h, const std::string& id, const std::string& filter,
                        std::uint8_t qos = 1) {
  ConnectArgs a{id};
  a.clean_start = false;
  a.props.session_expiry_interval = 3600;
  const ConnId c = h.connect(a);
  h.subscribe(c, filter, qos);
  h.disconnect(c);
  h.closed(c);
}

// The one dead letter `w` received; checks the parts every dead letter shares.
SendPublish only_dead_letter(Harness& h, ConnId w, const std::string& reason,
                             const std::string& client, const std::string& topic) {
  auto got = h.inbox(w).publishes();
  REQUIRE(got.size() == 1);
  const Message& m = *got[0].msg;
  CHECK(m.topic == "$DLQ/" + reason + "/" + topic);
  CHECK_FALSE(m.retain);
  CHECK_FALSE(got[0].retain);
  CHECK(user_prop(m, "dlq_reason") == reason);
  CHECK(user_prop(m, "dlq_client") == client);
  CHECK(user_prop(m, "dlq_topic") == topic);
  return got[0];
}

}  // namespace

TEST_CASE("dlq: reasons are named in one place", "[core][dlq]") {
  CHECK(to_string(DropReason::QueueFull) == "queue_full");
  CHECK(to_string(DropReason::MemoryBudget) == "memory_budget");
  CHECK(to_string(DropReason::Expired) == "expired");
  CHECK(to_string(DropReason::TooLarge) == "too_large");
  CHECK(to_string(DropReason::Rejected) == "rejected");
  CHECK(to_string(DropReason::BridgeOverflow) == "bridge_overflow");
}

TEST_CASE("dlq: queue_full (drop oldest) keeps payload, QoS and properties", "[core][dlq]") {
  BrokerOptions o = dlq_options();
  o.max_queued_messages = 2;
  Harness h(o);
  offline_subscriber(h, "slow", "t/#");
  const ConnId w = watcher(h);
  const ConnId pub = h.connect("pub");

  codec::Properties props;
  props.content_type = "text/plain";
  props.payload_format_indicator = 1;
  props.user_properties = {{"site", "north"}, {"site", "south"}};
  props.response_topic = "reply/here";
  h.publish(pub, "t/a", "first", 1, false, 0, props);
  h.publish(pub, "t/b", "second", 1);
  CHECK(h.inbox(w).publishes().empty());
  h.publish(pub, "t/c", "third", 1);  // pushes "first" out of slow's queue

  CHECK(h.stats().dropped_queue_full == 1);
  const SendPublish dl = only_dead_letter(h, w, "queue_full", "slow", "t/a");
  const Message& m = *dl.msg;
  CHECK(m.payload == "first");
  CHECK(m.qos == 1);
  CHECK(dl.qos == 1);
  CHECK(m.props->content_type == "text/plain");
  CHECK(m.props->payload_format_indicator == 1);
  CHECK_FALSE(m.props->response_topic.has_value());
  // The publisher's user properties first, in order [MQTT-3.3.2-18], then ours.
  REQUIRE(m.props->user_properties.size() == 5);
  CHECK(m.props->user_properties[0] == codec::UserProperty{"site", "north"});
  CHECK(m.props->user_properties[1] == codec::UserProperty{"site", "south"});
  CHECK(h.stats().dead_lettered == 1);
  CHECK(h.stats().messages_received == 3);  // the dead letter is not a received message
}

TEST_CASE("dlq: queue_full (drop newest) dead-letters the refused message", "[core][dlq]") {
  BrokerOptions o = dlq_options();
  o.max_queued_messages = 1;
  o.overflow = OverflowPolicy::DropNewest;
  Harness h(o);
  offline_subscriber(h, "slow", "t/#", 2);
  const ConnId w = watcher(h);
  const ConnId pub = h.connect("pub");
  h.publish(pub, "t/1", "kept", 2);
  h.publish(pub, "t/2", "refused", 0);  // QoS 0 queues offline only when configured
  CHECK(h.inbox(w).publishes().empty());
  h.publish(pub, "t/3", "refused", 2);
  const SendPublish dl = only_dead_letter(h, w, "queue_full", "slow", "t/3");
  CHECK(dl.msg->payload == "refused");
  CHECK(dl.msg->qos == 2);
}

TEST_CASE("dlq: queue_full for an online client behind its in-flight window",
          "[core][dlq]") {
  BrokerOptions o = dlq_options();
  o.max_queued_messages = 1;
  o.max_inflight_out = 1;
  Harness h(o);
  const ConnId sub = h.connect("busy", ProtocolVersion::v311);
  h.subscribe(sub, "t", 1);
  const ConnId w = watcher(h);
  const ConnId pub = h.connect("pub");
  h.publish(pub, "t", "1", 1);  // in flight
  h.publish(pub, "t", "2", 1);  // queued
  h.publish(pub, "t", "3", 1);  // "2" dropped
  const SendPublish dl = only_dead_letter(h, w, "queue_full", "busy", "t");
  CHECK(dl.msg->payload == "2");
}

TEST_CASE("dlq: memory_budget", "[core][dlq]") {
  BrokerOptions o = dlq_options();
  o.memory_budget = 16;
  Harness h(o);
  offline_subscriber(h, "slow", "big/#");
  const ConnId w = watcher(h);
  const ConnId pub = h.connect("pub");
  h.publish(pub, "big/x", std::string(64, 'x'), 1);
  CHECK(h.stats().dropped_memory_budget == 1);
  const SendPublish dl = only_dead_letter(h, w, "memory_budget", "slow", "big/x");
  CHECK(dl.msg->payload == std::string(64, 'x'));
}

TEST_CASE("dlq: expired in an offline queue, and when draining", "[core][dlq]") {
  Harness h(dlq_options());
  offline_subscriber(h, "slow", "e/#");
  const ConnId w = watcher(h);
  const ConnId pub = h.connect("pub");
  codec::Properties props;
  props.message_expiry_interval = 5;
  h.publish(pub, "e/1", "stale", 1, false, 0, props);
  CHECK(h.inbox(w).publishes().empty());
  h.advance(6s);  // the session's timer sweeps its queue [MQTT-3.3.2-5]
  CHECK(h.stats().dropped_expired == 1);
  const SendPublish dl = only_dead_letter(h, w, "expired", "slow", "e/1");
  CHECK(dl.msg->payload == "stale");
  // The dead letter itself does not inherit the expiry.
  CHECK_FALSE(dl.msg->expires_at.has_value());
  CHECK_FALSE(dl.message_expiry_interval.has_value());
}

TEST_CASE("dlq: expired behind a full in-flight window", "[core][dlq]") {
  BrokerOptions o = dlq_options();
  o.max_inflight_out = 1;
  Harness h(o);
  const ConnId sub = h.connect("busy", ProtocolVersion::v311);
  h.subscribe(sub, "t", 1);
  const ConnId w = watcher(h);
  const ConnId pub = h.connect("pub");
  h.publish(pub, "t", "first", 1);
  codec::Properties props;
  props.message_expiry_interval = 2;
  h.publish(pub, "t", "short-lived", 1, false, 0, props);
  const auto first = h.inbox(sub).publishes();
  REQUIRE(first.size() == 1);
  h.clear(sub);
  h.advance(3s);
  h.puback(sub, first[0].packet_id);  // the window opens: the queued one has expired
  CHECK(h.inbox(sub).publishes().empty());
  CHECK(h.stats().dropped_expired == 1);
  only_dead_letter(h, w, "expired", "busy", "t");
}

TEST_CASE("dlq: too_large for the receiver's Maximum Packet Size", "[core][dlq]") {
  Harness h(dlq_options());
  ConnectArgs a{"tiny"};
  a.props.maximum_packet_size = 64;
  const ConnId sub = h.connect(a);
  h.subscribe(sub, "t", 0);
  const ConnId w = watcher(h);
  const ConnId pub = h.connect("pub");
  h.publish(pub, "t", std::string(100, 'z'), 0);
  CHECK(h.inbox(sub).publishes().empty());  // [MQTT-3.1.2-25]
  CHECK(h.stats().dropped_too_large == 1);
  const SendPublish dl = only_dead_letter(h, w, "too_large", "tiny", "t");
  CHECK(dl.msg->qos == 0);
}

TEST_CASE("dlq: rejected by an MQTT 5 receiver (PUBACK and PUBREC >= 0x80)",
          "[core][dlq]") {
  Harness h(dlq_options());
  const ConnId sub = h.connect("picky");
  h.subscribe(sub, "t/#", 2);
  const ConnId w = watcher(h);
  const ConnId pub = h.connect("pub");

  h.publish(pub, "t/1", "no thanks", 1);
  auto got = h.inbox(sub).publishes();
  REQUIRE(got.size() == 1);
  h.puback(sub, got[0].packet_id, u8(ReasonCode::ImplementationSpecificError));
  CHECK(h.stats().dropped_rejected_by_client == 1);
  only_dead_letter(h, w, "rejected", "picky", "t/1");
  h.clear(w);
  h.clear(sub);

  h.publish(pub, "t/2", "nor this", 2);
  got = h.inbox(sub).publishes();
  REQUIRE(got.size() == 1);
  h.pubrec(sub, got[0].packet_id, u8(ReasonCode::NotAuthorized));
  CHECK(h.stats().dropped_rejected_by_client == 2);
  const SendPublish dl = only_dead_letter(h, w, "rejected", "picky", "t/2");
  CHECK(dl.msg->qos == 2);
  h.clear(w);

  // A success code below 0x80 (0x10 No matching subscribers) is no rejection.
  h.publish(pub, "t/3", "fine", 1);
  got = h.inbox(sub).publishes();
  REQUIRE(!got.empty());
  h.puback(sub, got.back().packet_id, u8(ReasonCode::NoMatchingSubscribers));
  CHECK(h.inbox(w).publishes().empty());
  CHECK(h.stats().dropped_rejected_by_client == 2);
}

TEST_CASE("dlq: bridge_overflow names the bridge, for each overflow policy",
          "[core][dlq][internal]") {
  for (const OverflowPolicy policy :
       {OverflowPolicy::DropOldest, OverflowPolicy::DropNewest, OverflowPolicy::Reject}) {
    Harness h(dlq_options());
    InternalSessionOptions io;
    io.max_queued_messages = 1;
    io.overflow = policy;
    io.dead_letter_name = "cloud";
    h.broker().on_open_internal(kBridgeConn, h.now(), io);
    ConnectArgs a{"$bridge/cloud/p0"};
    a.clean_start = false;
    a.props.session_expiry_interval = 0xFFFFFFFF;
    h.send(kBridgeConn, Harness::make_connect(a));
    h.subscribe(kBridgeConn, "up/#", 1);
    h.closed(kBridgeConn);  // uplink down: the session queues

    const ConnId w = watcher(h);
    const ConnId pub = h.connect("pub");
    h.publish(pub, "up/1", "one", 1);
    h.publish(pub, "up/2", "two", 1);
    const SendPublish dl = only_dead_letter(h, w, "bridge_overflow", "cloud",
                                            policy == OverflowPolicy::DropOldest ? "up/1" : "up/2");
    CHECK(dl.msg->qos == 1);
    // Reject still answers the v5 publisher 0x97 [core internal sessions].
    if (policy == OverflowPolicy::Reject) {
      auto acks = h.inbox(pub).packets<codec::Puback>();
      REQUIRE(acks.size() == 2);
      CHECK(acks[1].reason_code == u8(ReasonCode::QuotaExceeded));
    }
  }
}

TEST_CASE("dlq: disabled (the default) publishes no dead letter", "[core][dlq]") {
  BrokerOptions o;
  o.max_queued_messages = 1;
  Harness h(o);
  offline_subscriber(h, "slow", "t");
  const ConnId w = watcher(h);
  const ConnId pub = h.connect("pub");
  h.publish(pub, "t", "1", 1);
  h.publish(pub, "t", "2", 1);
  CHECK(h.stats().dropped_queue_full == 1);
  CHECK(h.inbox(w).publishes().empty());
  CHECK(h.stats().dead_lettered == 0);
  CHECK(h.stats().dead_letter_rate_limited == 0);
}

TEST_CASE("dlq: rate limited by a token bucket of max_rate per second", "[core][dlq]") {
  BrokerOptions o = dlq_options(2);
  o.max_queued_messages = 1;
  Harness h(o);
  offline_subscriber(h, "slow", "t");
  const ConnId w = watcher(h);
  const ConnId pub = h.connect("pub");
  for (int i = 0; i < 6; ++i) h.publish(pub, "t", std::to_string(i), 1);  // 5 drops
  CHECK(h.stats().dropped_queue_full == 5);
  CHECK(h.stats().dead_lettered == 2);  // the burst: one second's worth
  CHECK(h.stats().dead_letter_rate_limited == 3);
  CHECK(h.payloads(w) == std::vector<std::string>{"0", "1"});
  h.clear(w);

  h.advance(500ms);  // one token back
  h.publish(pub, "t", "6", 1);
  h.publish(pub, "t", "7", 1);
  CHECK(h.payloads(w) == std::vector<std::string>{"5"});
  CHECK(h.stats().dead_letter_rate_limited == 4);
  h.clear(w);
  h.advance(10s);  // refills to the burst, no more
  for (int i = 8; i < 12; ++i) h.publish(pub, "t", std::to_string(i), 1);
  CHECK(h.payloads(w).size() == 2);
}

TEST_CASE("dlq: a dropped dead letter is not dead-lettered again", "[core][dlq]") {
  BrokerOptions o = dlq_options();
  o.max_queued_messages = 1;
  Harness h(o);
  offline_subscriber(h, "slow", "t");
  // Two watchers that cannot take dead letters: one offline with a full queue, one whose
  // Maximum Packet Size is below any dead letter's.
  offline_subscriber(h, "dlq-offline", "$DLQ/#");
  ConnectArgs a{"dlq-tiny"};
  a.props.maximum_packet_size = 40;
  const ConnId tiny = h.connect(a);
  h.subscribe(tiny, "$DLQ/#", 1);
  const ConnId w = watcher(h);
  const ConnId pub = h.connect("pub");
  for (int i = 0; i < 4; ++i) h.publish(pub, "t", std::to_string(i), 1);  // 3 drops

  CHECK(h.stats().dead_lettered == 3);
  CHECK(h.payloads(w) == std::vector<std::string>{"0", "1", "2"});
  CHECK(h.inbox(tiny).publishes().empty());
  // dlq-offline's queue overflowed twice and dlq-tiny refused three: counted, and none of
  // them became a $DLQ/.../$DLQ/... message.
  CHECK(h.stats().dropped_queue_full == 3 + 2);
  CHECK(h.stats().dropped_too_large == 3);
  for (const auto& p : h.inbox(w).publishes()) CHECK(p.msg->topic == "$DLQ/queue_full/t");
}

TEST_CASE("dlq: a dead letter that pushes an ordinary message out of a queue dead-letters "
          "that one within the same event", "[core][dlq]") {
  BrokerOptions o = dlq_options();
  o.max_queued_messages = 1;
  Harness h(o);
  offline_subscriber(h, "slow", "t");
  {
    ConnectArgs a{"mixed"};
    a.clean_start = false;
    a.props.session_expiry_interval = 3600;
    const ConnId c = h.connect(a);
    h.subscribe(c, "x", 1);
    h.subscribe(c, "$DLQ/#", 1);
    h.disconnect(c);
    h.closed(c);
  }
  const ConnId pub = h.connect("pub");
  h.publish(pub, "x", "old-x", 1);  // fills mixed's queue
  h.publish(pub, "t", "1", 1);      // fills slow's queue
  const ConnId w = watcher(h);
  h.publish(pub, "t", "2", 1);  // "1" dropped -> its dead letter pushes "old-x" out
  const auto got = h.inbox(w).publishes();
  REQUIRE(got.size() == 2);
  CHECK(got[0].msg->topic == "$DLQ/queue_full/t");
  CHECK(got[1].msg->topic == "$DLQ/queue_full/x");
  CHECK(got[1].msg->payload == "old-x");
  CHECK(user_prop(*got[1].msg, "dlq_client") == "mixed");
  // The last dead letter pushed the first out of mixed's queue: counted, not re-lettered.
  CHECK(h.stats().dropped_queue_full == 3);
  CHECK(h.stats().dead_lettered == 2);
}

namespace {
struct ReadPolicy final : AccessPolicy {
  bool may_publish(const ClientIdentity&, std::string_view, std::string_view) const override {
    return true;
  }
  bool may_subscribe(const ClientIdentity&, std::string_view, std::string_view) const override {
    return true;
  }
  // Only "ops" may read dead letters.
  bool may_receive(const ClientIdentity& who, std::string_view,
                   std::string_view topic) const override {
    return !topic.starts_with("$DLQ/") || who.username == "ops";
  }
};
}  // namespace

TEST_CASE("dlq: deliveries are read-checked, '#' never matches $DLQ [MQTT-4.7.2-1]",
          "[core][dlq][acl]") {
  BrokerOptions o = dlq_options();
  o.max_queued_messages = 1;
  Harness h(o);
  h.broker().set_access_policy(std::make_shared<ReadPolicy>());
  auto connect_user = [&](const std::string& id, const std::string& user) {
    const ConnId c = h.open();
    ClientIdentity who;
    who.username = user;
    h.broker().set_connect_auth(c, AuthVerdict::Accepted, who);
    h.send(c, Harness::make_connect(ConnectArgs{id}));
    h.clear(c);
    return c;
  };
  offline_subscriber(h, "slow", "t");
  const ConnId ops = connect_user("ops-client", "ops");
  h.subscribe(ops, "$DLQ/#", 1);
  const ConnId nosy = connect_user("nosy-client", "nosy");
  h.subscribe(nosy, "$DLQ/+/t", 1);
  const ConnId all = connect_user("all-client", "ops");
  h.subscribe(all, "#", 1);
  h.subscribe(all, "+/queue_full/t", 1);
  const ConnId pub = connect_user("pub", "pub");
  h.publish(pub, "t", "1", 1);
  h.publish(pub, "t", "2", 1);

  CHECK(h.payloads(ops) == std::vector<std::string>{"1"});
  CHECK(h.inbox(nosy).publishes().empty());
  CHECK(h.stats().denied_receive >= 1);
  // The '#' subscriber gets the two live messages and no dead letter.
  for (const auto& p : h.inbox(all).publishes()) CHECK(p.msg->topic == "t");
}

}  // namespace tern::core::test
