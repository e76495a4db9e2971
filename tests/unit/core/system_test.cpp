// The broker's own topics: $SYS/... and $DLQ/... refused from clients (v5 0x87, 3.1.1
// acknowledged and dropped, as a will, from a bridge), Broker::publish_system (retained
// and live, properties, ACL reads, [MQTT-4.7.2-1]) and Broker::client_infos paging.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tests/unit/core/harness.hpp"

namespace tern::core::test {
namespace {

using codec::ReasonCode;
constexpr ProtocolVersion kV311 = ProtocolVersion::v311;
constexpr ConnId kBridgeConn = 1u << 20;

SystemMessage sys(std::string topic, std::string payload, bool retain = true) {
  SystemMessage m;
  m.topic = std::move(topic);
  m.payload = std::move(payload);
  m.retain = retain;
  return m;
}

}  // namespace

TEST_CASE("sys: which topics are the broker's", "[core][sys]") {
  for (const char* t : {"$SYS", "$SYS/", "$SYS/broker/uptime", "$DLQ", "$DLQ/expired/a/b"})
    CHECK(is_broker_topic(t));
  for (const char* t : {"$SYSTEM/x", "$DLQX", "SYS/x", "a/$SYS", "$sys/x", "", "$", "$share"})
    CHECK_FALSE(is_broker_topic(t));
  CHECK(is_dead_letter_topic("$DLQ/queue_full/t"));
  CHECK_FALSE(is_dead_letter_topic("$SYS/broker/uptime"));
}

TEST_CASE("sys: v5 PUBLISH to $SYS or $DLQ is refused with 0x87", "[core][sys]") {
  Harness h;
  const ConnId watch = h.connect("watch");
  h.subscribe(watch, "$SYS/#", 2);
  h.subscribe(watch, "$DLQ/#", 2);
  const ConnId pub = h.connect("pub");

  h.publish(pub, "$SYS/broker/uptime", "1", 1, true);
  auto acks = h.inbox(pub).packets<codec::Puback>();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].reason_code == u8(ReasonCode::NotAuthorized));

  h.publish(pub, "$DLQ/expired/x", "2", 2);
  auto recs = h.inbox(pub).packets<codec::Pubrec>();
  REQUIRE(recs.size() == 1);
  CHECK(recs[0].reason_code == u8(ReasonCode::NotAuthorized));

  h.publish(pub, "$SYS", "3", 0);  // QoS 0: nothing to answer, dropped
  CHECK(h.inbox(watch).publishes().empty());
  CHECK(h.stats().denied_system_topic == 3);
  CHECK(h.stats().messages_received == 0);
  CHECK_FALSE(h.inbox(pub).closed());

  // Not stored as retained either: a later subscriber gets nothing.
  const ConnId late = h.connect("late");
  h.subscribe(late, "$SYS/#", 1);
  CHECK(h.inbox(late).publishes().empty());

  // Other '$' topics stay open to clients (4.7.2 only says SHOULD).
  const ConnId other = h.connect("other");
  h.subscribe(other, "$SYSTEM/#", 1);
  h.publish(pub, "$SYSTEM/x", "ok", 1);
  CHECK(h.payloads(other) == std::vector<std::string>{"ok"});
}

TEST_CASE("sys: 3.1.1 PUBLISH to $SYS is acknowledged and dropped [MQTT-3.3.5-2]",
          "[core][sys]") {
  Harness h;
  const ConnId watch = h.connect("watch");
  h.subscribe(watch, "$SYS/#", 2);
  const ConnId pub = h.connect("pub", kV311);

  h.publish(pub, "$SYS/x", "1", 1, false, 10);
  auto acks = h.inbox(pub).packets<codec::Puback>();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].reason_code == 0);

  h.publish(pub, "$SYS/y", "2", 2, false, 11);
  auto recs = h.inbox(pub).packets<codec::Pubrec>();
  REQUIRE(recs.size() == 1);
  h.publish(pub, "$SYS/y", "2", 2, false, 11);  // a resend: acknowledged, still dropped
  CHECK(h.inbox(pub).packets<codec::Pubrec>().size() == 2);
  h.pubrel(pub, 11);
  auto comps = h.inbox(pub).packets<codec::Pubcomp>();
  REQUIRE(comps.size() == 1);
  CHECK(comps[0].reason_code == 0);

  CHECK(h.inbox(watch).publishes().empty());
  CHECK(h.stats().denied_system_topic == 2);
  CHECK_FALSE(h.inbox(pub).closed());
}

TEST_CASE("sys: a will on $SYS or $DLQ refuses the CONNECT", "[core][sys]") {
  Harness h;
  ConnectArgs a5{"w5"};
  a5.will = make_will("$SYS/broker/fake", "x");
  const ConnId c5 = h.connect_raw(a5);
  auto ack5 = h.inbox(c5).packets<codec::Connack>();
  REQUIRE(ack5.size() == 1);
  CHECK(ack5[0].reason_code == u8(ReasonCode::NotAuthorized));
  CHECK(h.inbox(c5).closed());

  ConnectArgs a3{"w3", kV311};
  a3.will = make_will("$DLQ/x", "x");
  const ConnId c3 = h.connect_raw(a3);
  auto ack3 = h.inbox(c3).packets<codec::Connack>();
  REQUIRE(ack3.size() == 1);
  CHECK(ack3[0].reason_code == static_cast<std::uint8_t>(codec::ConnackCode311::NotAuthorized));
  CHECK(h.inbox(c3).closed());
  CHECK(h.stats().denied_system_topic == 2);
}

TEST_CASE("sys: a bridge (internal client) may not publish to $SYS either", "[core][sys]") {
  Harness h;
  h.broker().on_open_internal(kBridgeConn, h.now(), {});
  h.send(kBridgeConn, Harness::make_connect(ConnectArgs{"$bridge/cloud/in"}));
  h.clear(kBridgeConn);
  const ConnId watch = h.connect("watch");
  h.subscribe(watch, "$SYS/#", 1);
  h.publish(kBridgeConn, "$SYS/broker/version", "spoof", 1);
  auto acks = h.inbox(kBridgeConn).packets<codec::Puback>();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].reason_code == u8(ReasonCode::NotAuthorized));
  CHECK(h.inbox(watch).publishes().empty());
}

TEST_CASE("sys: publish_system delivers live and retained, '#' never sees it",
          "[core][sys]") {
  Harness h;
  const ConnId live = h.connect("live");
  h.subscribe(live, "$SYS/broker/#", 1);
  const ConnId all = h.connect("all");
  h.subscribe(all, "#", 1);
  h.subscribe(all, "+/broker/uptime", 1);
  const ConnId offline_sub = [&] {
    ConnectArgs a{"away"};
    a.clean_start = false;
    a.props.session_expiry_interval = 600;
    const ConnId c = h.connect(a);
    h.subscribe(c, "$SYS/broker/uptime", 1);
    h.disconnect(c);
    h.closed(c);
    return c;
  }();
  (void)offline_sub;

  SystemMessage m = sys("$SYS/broker/uptime", "42");
  m.qos = 1;
  m.props.content_type = "text/plain";
  m.props.user_properties = {{"unit", "s"}};
  m.props.message_expiry_interval = 60;
  m.props.topic_alias = 3;  // per connection: never taken from the caller
  REQUIRE(h.publish_system(m));

  const auto got = h.inbox(live).publishes();
  REQUIRE(got.size() == 1);
  CHECK(got[0].msg->topic == "$SYS/broker/uptime");
  CHECK(got[0].msg->payload == "42");
  CHECK(got[0].qos == 1);
  CHECK_FALSE(got[0].retain);  // live delivery: RETAIN 0 [MQTT-3.3.1-12]
  CHECK(got[0].msg->props->content_type == "text/plain");
  REQUIRE(got[0].msg->props->user_properties.size() == 1);
  CHECK(got[0].message_expiry_interval == 60u);
  CHECK(got[0].topic_alias == 0);
  CHECK(h.inbox(all).publishes().empty());  // [MQTT-4.7.2-1]
  CHECK(h.stats().system_published == 1);
  CHECK(h.stats().messages_received == 0);
  CHECK(h.stats().retained_messages == 1);
  CHECK(h.stats().queued_messages == 1);  // for the offline session, like any QoS 1 message

  // Retained: a new subscriber gets it with RETAIN 1 [MQTT-3.3.1-9].
  const ConnId late = h.connect("late");
  h.subscribe(late, "$SYS/#", 0);
  const auto ret = h.inbox(late).publishes();
  REQUIRE(ret.size() == 1);
  CHECK(ret[0].retain);
  CHECK(ret[0].msg->payload == "42");

  // An empty retained payload clears it [MQTT-3.3.1-6].
  REQUIRE(h.publish_system(sys("$SYS/broker/uptime", "")));
  CHECK(h.stats().retained_messages == 0);

  // Not published: invalid topic names, a bad QoS, a payload falsely announced as UTF-8.
  CHECK_FALSE(h.publish_system(sys("$SYS/+/x", "1")));
  CHECK_FALSE(h.publish_system(sys("", "1")));
  SystemMessage bad_qos = sys("$SYS/x", "1");
  bad_qos.qos = 3;
  CHECK_FALSE(h.publish_system(bad_qos));
  SystemMessage bad_utf8 = sys("$SYS/x", std::string("\xff\xfe", 2));
  bad_utf8.props.payload_format_indicator = 1;
  CHECK_FALSE(h.publish_system(bad_utf8));
  CHECK(h.stats().system_published == 2);
}

namespace {
struct SysReadPolicy final : AccessPolicy {
  bool may_publish(const ClientIdentity&, std::string_view, std::string_view) const override {
    return true;
  }
  bool may_subscribe(const ClientIdentity&, std::string_view, std::string_view) const override {
    return true;
  }
  bool may_receive(const ClientIdentity& who, std::string_view,
                   std::string_view topic) const override {
    return !topic.starts_with("$SYS/") || who.username == "admin";
  }
};
}  // namespace

TEST_CASE("sys: publish_system deliveries are read-checked by the AccessPolicy",
          "[core][sys][acl]") {
  Harness h;
  h.broker().set_access_policy(std::make_shared<SysReadPolicy>());
  auto connect_user = [&](const std::string& id, const std::string& user) {
    const ConnId c = h.open();
    ClientIdentity who;
    who.username = user;
    h.broker().set_connect_auth(c, AuthVerdict::Accepted, who);
    h.send(c, Harness::make_connect(ConnectArgs{id}));
    h.clear(c);
    return c;
  };
  const ConnId admin = connect_user("a", "admin");
  const ConnId guest = connect_user("g", "guest");
  h.subscribe(admin, "$SYS/#", 0);
  h.subscribe(guest, "$SYS/#", 0);
  // Shared groups too: the member that may not read it does not swallow the copy.
  h.subscribe(guest, "$share/g/$SYS/broker/clients", 0);
  h.subscribe(admin, "$share/g/$SYS/broker/clients", 0);
  REQUIRE(h.publish_system(sys("$SYS/broker/clients", "3")));
  CHECK(h.payloads(admin) == std::vector<std::string>{"3", "3"});
  CHECK(h.inbox(guest).publishes().empty());

  // Retained copies are checked as well.
  const ConnId guest2 = connect_user("g2", "guest");
  h.subscribe(guest2, "$SYS/#", 0);
  CHECK(h.inbox(guest2).publishes().empty());
}

TEST_CASE("sys: client_infos pages sessions by client id", "[core][sys][clients]") {
  Harness h;
  const ConnId d = h.connect("dora", kV311);
  (void)d;
  ConnectArgs ca{"carl"};
  ca.keep_alive = 30;
  ca.clean_start = false;
  ca.props.session_expiry_interval = 120;
  const ConnId c = h.connect(ca);
  h.subscribe(c, "a/#", 1);
  h.subscribe(c, "b", 0);
  h.disconnect(c);
  h.closed(c);  // offline, keeps its session
  const ConnId pub = h.connect("bob");
  h.publish(pub, "a/1", "x", 1);  // queued for carl
  const ConnId e = h.open();
  ClientIdentity who;
  who.username = "eve-user";
  who.listener = 2;
  h.broker().set_connect_auth(e, AuthVerdict::Accepted, who);
  ConnectArgs ea{"eve"};
  ea.keep_alive = 15;
  h.send(e, Harness::make_connect(ea));
  h.connect("alice");

  ClientPage p = h.broker().client_infos(0, 2);
  CHECK(p.total == 5);
  REQUIRE(p.clients.size() == 2);
  CHECK(p.clients[0].client_id == "alice");
  CHECK(p.clients[1].client_id == "bob");

  p = h.broker().client_infos(2, 2);
  REQUIRE(p.clients.size() == 2);
  const ClientInfo& carl = p.clients[0];
  CHECK(carl.client_id == "carl");
  CHECK_FALSE(carl.connected);
  CHECK(carl.conn == 0);
  CHECK(carl.subscriptions == 2);
  CHECK(carl.queued == 1);
  CHECK(carl.session_expiry_interval == 120);
  REQUIRE(carl.expires_at.has_value());
  CHECK(*carl.expires_at == h.now() + 120s);
  const ClientInfo& dora = p.clients[1];
  CHECK(dora.client_id == "dora");
  CHECK(dora.connected);
  CHECK(dora.version == kV311);
  CHECK(dora.clean_start);
  CHECK(dora.session_expiry_interval == 0);

  p = h.broker().client_infos(4, 100);
  REQUIRE(p.clients.size() == 1);
  const ClientInfo& eve = p.clients[0];
  CHECK(eve.client_id == "eve");
  CHECK(eve.connected);
  CHECK(eve.conn == e);
  CHECK(eve.username == "eve-user");
  CHECK(eve.listener == 2);
  CHECK(eve.keep_alive == 15);
  CHECK(eve.version == ProtocolVersion::v5);
  CHECK(eve.connected_since == h.now());
  CHECK_FALSE(eve.internal);

  p = h.broker().client_infos(5, 10);
  CHECK(p.clients.empty());
  CHECK(p.total == 5);
  CHECK(h.broker().client_infos(0, 0).clients.empty());
  CHECK(h.broker().client_infos(0, 1u << 30).clients.size() == 5);  // capped, not refused
}

}  // namespace tern::core::test
