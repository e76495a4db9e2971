// CONNECT / CONNACK, sessions at connect time, takeover, keep-alive, connect timeout and
// decode-error answers.
#include "tests/unit/core/harness.hpp"

namespace tern::core::test {
namespace {

using codec::ReasonCode;

TEST_CASE("MQTT-3.1.0-1 first packet must be CONNECT", "[core][connect]") {
  Harness h;
  const ConnId c = h.open();
  h.send(c, codec::Pingreq{});
  CHECK(h.inbox(c).closed());
  CHECK(h.inbox(c).packets<codec::Connack>().empty());
  CHECK(h.inbox(c).packets<codec::Pingresp>().empty());
  CHECK(h.stats().clients_connected == 0);
}

TEST_CASE("MQTT-3.1.0-2 second CONNECT is a protocol error", "[core][connect]") {
  Harness h;
  const ConnId c = h.connect("a");
  h.send(c, Harness::make_connect({"a"}));
  auto d = h.inbox(c).packets<codec::Disconnect>();
  REQUIRE(d.size() == 1);
  CHECK(d[0].reason_code == u8(ReasonCode::ProtocolError));
  CHECK(h.inbox(c).closed());
  CHECK(h.stats().clients_connected == 0);

  // 3.1.1: closed without DISCONNECT.
  const ConnId c2 = h.connect("b", ProtocolVersion::v311);
  h.send(c2, Harness::make_connect({"b", ProtocolVersion::v311}));
  CHECK(h.inbox(c2).packets<codec::Disconnect>().empty());
  CHECK(h.inbox(c2).closed());
}

TEST_CASE("CONNACK v5 announces the server's limits", "[core][connect]") {
  BrokerOptions o;
  o.receive_maximum = 10;
  o.max_packet_size = 5000;
  o.topic_alias_maximum = 7;
  o.retain_available = false;
  o.maximum_qos = 1;
  o.wildcard_subscriptions = false;
  o.subscription_identifiers = false;
  o.shared_subscriptions = false;
  Harness h(o);
  const ConnId c = h.connect_raw({"a"});
  auto acks = h.inbox(c).packets<codec::Connack>();
  REQUIRE(acks.size() == 1);
  const auto& p = acks[0].props;
  CHECK(acks[0].reason_code == 0);
  CHECK(p.receive_maximum == std::optional<std::uint16_t>(10));
  CHECK(p.maximum_packet_size == std::optional<std::uint32_t>(5000));
  CHECK(p.topic_alias_maximum == std::optional<std::uint16_t>(7));
  CHECK(p.retain_available == std::optional<std::uint8_t>(0));
  CHECK(p.maximum_qos == std::optional<std::uint8_t>(1));
  CHECK(p.wildcard_subscription_available == std::optional<std::uint8_t>(0));
  CHECK(p.subscription_identifier_available == std::optional<std::uint8_t>(0));
  CHECK(p.shared_subscription_available == std::optional<std::uint8_t>(0));
  CHECK_FALSE(p.assigned_client_identifier);
  CHECK_FALSE(p.server_keep_alive);

  // Defaults: everything available, so none of those properties is sent.
  Harness d;
  const ConnId c2 = d.connect_raw({"a"});
  const codec::Properties q = d.inbox(c2).packets<codec::Connack>().at(0).props;
  CHECK_FALSE(q.retain_available);
  CHECK_FALSE(q.maximum_qos);
  CHECK_FALSE(q.wildcard_subscription_available);
  CHECK_FALSE(q.shared_subscription_available);
  CHECK(q.receive_maximum == std::optional<std::uint16_t>(32));
}

TEST_CASE("MQTT-3.1.3-6 MQTT-3.1.3-7 empty v5 client id gets an assigned identifier",
          "[core][connect]") {
  Harness h;
  const ConnId a = h.connect_raw({""});
  const ConnId b = h.connect_raw({""});
  auto aa = h.inbox(a).packets<codec::Connack>().at(0);
  auto ab = h.inbox(b).packets<codec::Connack>().at(0);
  CHECK(aa.reason_code == 0);
  REQUIRE(aa.props.assigned_client_identifier);
  REQUIRE(ab.props.assigned_client_identifier);
  CHECK_FALSE(aa.props.assigned_client_identifier->empty());
  CHECK(*aa.props.assigned_client_identifier != *ab.props.assigned_client_identifier);
  CHECK(h.stats().clients_connected == 2);
}

TEST_CASE("MQTT-3.1.3-8 3.1.1 empty client id with clean session 0 is refused with 0x02",
          "[core][connect]") {
  Harness h;
  const ConnId c = h.connect_raw({"", ProtocolVersion::v311, false});
  auto acks = h.inbox(c).packets<codec::Connack>();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].reason_code == 0x02);
  CHECK_FALSE(acks[0].session_present);
  CHECK(h.inbox(c).closed());
  CHECK(h.stats().clients_connected == 0);

  // With clean session 1 the server assigns one (not announced in 3.1.1).
  const ConnId c2 = h.connect_raw({"", ProtocolVersion::v311, true});
  auto ok = h.inbox(c2).packets<codec::Connack>();
  REQUIRE(ok.size() == 1);
  CHECK(ok[0].reason_code == 0);
}

TEST_CASE("MQTT-3.2.2-1 MQTT-3.2.2-2 MQTT-3.2.2-3 session present flag", "[core][connect]") {
  for (auto v : {ProtocolVersion::v311, ProtocolVersion::v5}) {
    Harness h;
    ConnectArgs a{"dev", v, false};
    if (v == ProtocolVersion::v5) a.props.session_expiry_interval = 100;
    ConnId c = h.connect_raw(a);
    CHECK_FALSE(h.inbox(c).packets<codec::Connack>().at(0).session_present);
    h.disconnect(c);
    h.closed(c);
    c = h.connect_raw(a);  // resume
    CHECK(h.inbox(c).packets<codec::Connack>().at(0).session_present);
    h.disconnect(c);
    h.closed(c);
    a.clean_start = true;  // discard
    c = h.connect_raw(a);
    CHECK_FALSE(h.inbox(c).packets<codec::Connack>().at(0).session_present);
  }
}

TEST_CASE("session expiry beyond max_session_expiry is capped and returned in CONNACK",
          "[core][connect]") {
  BrokerOptions o;
  o.max_session_expiry = 60;
  Harness h(o);
  ConnectArgs a{"a"};
  a.props.session_expiry_interval = 3600;
  const ConnId c = h.connect_raw(a);
  CHECK(h.inbox(c).packets<codec::Connack>().at(0).props.session_expiry_interval ==
        std::optional<std::uint32_t>(60));
  a.client_id = "b";
  a.props.session_expiry_interval = 30;
  const ConnId c2 = h.connect_raw(a);
  CHECK_FALSE(h.inbox(c2).packets<codec::Connack>().at(0).props.session_expiry_interval);
}

TEST_CASE("MQTT-3.2.2-21 Server Keep Alive when max_keepalive caps the client",
          "[core][connect][keepalive]") {
  BrokerOptions o;
  o.max_keepalive = 30;
  Harness h(o);
  ConnectArgs a{"a"};
  a.keep_alive = 600;
  ConnId c = h.connect_raw(a);
  CHECK(h.inbox(c).packets<codec::Connack>().at(0).props.server_keep_alive ==
        std::optional<std::uint16_t>(30));
  a = {"b"};
  a.keep_alive = 0;
  const ConnId b = h.connect_raw(a);
  CHECK(h.inbox(b).packets<codec::Connack>().at(0).props.server_keep_alive ==
        std::optional<std::uint16_t>(30));
  a = {"c"};
  a.keep_alive = 10;
  c = h.connect_raw(a);
  CHECK_FALSE(h.inbox(c).packets<codec::Connack>().at(0).props.server_keep_alive);
  // The server's value is the one enforced, also for a client that asked for none:
  // 30 s * 1.5.
  h.clear(b);
  h.advance(44s);
  CHECK_FALSE(h.inbox(b).closed());
  h.advance(2s);
  CHECK(h.inbox(b).closed());
}

TEST_CASE("CONNECT with an Authentication Method is refused with 0x8C", "[core][connect]") {
  Harness h;
  ConnectArgs a{"a"};
  a.props.authentication_method = "SCRAM-SHA-1";
  const ConnId c = h.connect_raw(a);
  auto acks = h.inbox(c).packets<codec::Connack>();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].reason_code == u8(ReasonCode::BadAuthenticationMethod));
  CHECK(h.inbox(c).closed());
}

TEST_CASE("AUTH after CONNECT without a method is a protocol error", "[core][connect]") {
  Harness h;
  const ConnId c = h.connect("a");
  h.send(c, codec::Auth{});
  auto d = h.inbox(c).packets<codec::Disconnect>();
  REQUIRE(d.size() == 1);
  CHECK(d[0].reason_code == u8(ReasonCode::ProtocolError));
  CHECK(h.inbox(c).closed());
}

TEST_CASE("v5 will QoS above Maximum QoS or retained will without retain support is refused",
          "[core][connect]") {
  BrokerOptions o;
  o.maximum_qos = 1;
  o.retain_available = false;
  Harness h(o);
  ConnectArgs a{"a"};
  a.will = make_will("w", "x", 2);
  ConnId c = h.connect_raw(a);
  CHECK(h.inbox(c).packets<codec::Connack>().at(0).reason_code ==
        u8(ReasonCode::QosNotSupported));  // [MQTT-3.2.2-12]
  a.will = make_will("w", "x", 0, true);
  c = h.connect_raw(a);
  CHECK(h.inbox(c).packets<codec::Connack>().at(0).reason_code ==
        u8(ReasonCode::RetainNotSupported));  // [MQTT-3.2.2-13]
}

TEST_CASE("connect timeout closes a silent connection", "[core][connect][timer]") {
  BrokerOptions o;
  o.connect_timeout = 5s;
  Harness h(o);
  const ConnId c = h.open();
  REQUIRE(h.broker().next_deadline());
  h.advance(4s);
  CHECK_FALSE(h.inbox(c).closed());
  h.advance(1s);
  CHECK(h.inbox(c).closed());
  CHECK(h.inbox(c).packets<codec::Connack>().empty());
  h.closed(c);
  // A connection that sent CONNECT is not affected.
  const ConnId c2 = h.connect("a");
  h.advance(60s);
  CHECK_FALSE(h.inbox(c2).closed());
}

TEST_CASE("MQTT-3.1.2-24 keep-alive: no packet within 1.5x closes with 0x8D",
          "[core][keepalive]") {
  Harness h;
  ConnectArgs a{"a"};
  a.keep_alive = 10;
  const ConnId c = h.connect(a);
  h.advance(14s);
  h.send(c, codec::Pingreq{});
  CHECK(h.inbox(c).packets<codec::Pingresp>().size() == 1);  // [MQTT-3.12.4-1]
  h.advance(14s);  // 14 s since the PINGREQ: still alive
  CHECK_FALSE(h.inbox(c).closed());
  h.advance(1s);
  auto d = h.inbox(c).packets<codec::Disconnect>();
  REQUIRE(d.size() == 1);
  CHECK(d[0].reason_code == u8(ReasonCode::KeepAliveTimeout));
  CHECK(h.inbox(c).closed());
  CHECK(h.stats().clients_connected == 0);

  // 3.1.1: closed, no DISCONNECT.
  ConnectArgs b{"b", ProtocolVersion::v311};
  b.keep_alive = 2;
  const ConnId c2 = h.connect(b);
  h.advance(3s);
  CHECK(h.inbox(c2).closed());
  CHECK(h.inbox(c2).packets<codec::Disconnect>().empty());
}

TEST_CASE("MQTT-3.1.4-3 takeover: old connection gets DISCONNECT 0x8E and is closed",
          "[core][connect][takeover]") {
  Harness h;
  ConnectArgs a{"dev"};
  a.clean_start = false;
  a.props.session_expiry_interval = 100;
  const ConnId old = h.connect(a);
  h.subscribe(old, "t", 1);
  const ConnId now = h.connect_raw(a);
  auto d = h.inbox(old).packets<codec::Disconnect>();
  REQUIRE(d.size() == 1);
  CHECK(d[0].reason_code == u8(ReasonCode::SessionTakenOver));
  CHECK(h.inbox(old).closed());
  bool taken = false;
  for (const auto& e : h.inbox(old).events())
    taken = taken || e.kind == ConnectionEvent::Kind::TakenOver;
  CHECK(taken);
  auto ack = h.inbox(now).packets<codec::Connack>();
  REQUIRE(ack.size() == 1);
  CHECK(ack[0].session_present);
  CHECK(h.stats().clients_connected == 1);
  // The subscription moved with the session; the old connection gets nothing more.
  h.clear(old);
  h.clear(now);
  const ConnId pub = h.connect("pub");
  h.publish(pub, "t", "m", 1);
  CHECK(h.payloads(now) == std::vector<std::string>{"m"});
  CHECK(h.inbox(old).publishes().empty());
  // The late on_closed of the old connection must not disturb the new one.
  h.closed(old);
  CHECK(h.stats().clients_connected == 2);
  h.publish(pub, "t", "n", 0);
  CHECK(h.payloads(now) == std::vector<std::string>{"m", "n"});
}

TEST_CASE("takeover publishes the old connection's will unless a delay lets it be cancelled",
          "[core][takeover][will]") {
  Harness h;
  const ConnId watcher = h.connect("w");
  h.subscribe(watcher, "will/#");

  // No delay: published at takeover.
  ConnectArgs a{"dev"};
  a.will = make_will("will/dev", "gone");
  h.connect(a);
  a.will.reset();
  h.connect(a);
  CHECK(h.payloads(watcher) == std::vector<std::string>{"gone"});
  h.clear(watcher);

  // Delay and the new connection resumes the session: cancelled [MQTT-3.1.3-9].
  ConnectArgs b{"dev2"};
  b.clean_start = false;
  b.props.session_expiry_interval = 100;
  b.will = make_will("will/dev2", "gone2", 0, false, 30);
  h.connect(b);
  b.will.reset();
  h.connect(b);
  h.advance(60s);
  CHECK(h.payloads(watcher).empty());

  // Delay but the new connection starts clean: the old session ends, will published.
  ConnectArgs c{"dev3"};
  c.clean_start = false;
  c.props.session_expiry_interval = 100;
  c.will = make_will("will/dev3", "gone3", 0, false, 30);
  h.connect(c);
  c.will.reset();
  c.clean_start = true;
  h.connect(c);
  CHECK(h.payloads(watcher) == std::vector<std::string>{"gone3"});
}

TEST_CASE("MQTT-4.13.1-1 decode error before CONNECT answers with CONNACK then closes",
          "[core][decode]") {
  Harness h;
  // v5 CONNECT: CONNACK carrying the reason.
  ConnId c = h.open();
  h.decode_error(c, ReasonCode::MalformedPacket, 5);
  auto acks = h.inbox(c).packets<codec::Connack>();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].reason_code == u8(ReasonCode::MalformedPacket));
  CHECK(h.inbox(c).closed());
  CHECK(std::get<SendPacket>(h.inbox(c).actions.at(0)).version == ProtocolVersion::v5);

  // [MQTT-3.1.2-2] unsupported level 3: 3.1.1-format CONNACK 0x01.
  c = h.open();
  h.decode_error(c, ReasonCode::UnsupportedProtocolVersion, 3);
  acks = h.inbox(c).packets<codec::Connack>();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].reason_code == 0x01);
  CHECK(std::get<SendPacket>(h.inbox(c).actions.at(0)).version == ProtocolVersion::v311);
  CHECK(h.inbox(c).closed());

  // Level above 5: v5 format 0x84.
  c = h.open();
  h.decode_error(c, ReasonCode::UnsupportedProtocolVersion, 6);
  acks = h.inbox(c).packets<codec::Connack>();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].reason_code == u8(ReasonCode::UnsupportedProtocolVersion));

  // 3.1.1 malformed CONNECT: closed without CONNACK.
  c = h.open();
  h.decode_error(c, ReasonCode::MalformedPacket, 4);
  CHECK(h.inbox(c).packets<codec::Connack>().empty());
  CHECK(h.inbox(c).closed());

  // Nothing readable: just closed.
  c = h.open();
  h.decode_error(c, ReasonCode::MalformedPacket, 0);
  CHECK(h.inbox(c).packets<codec::Connack>().empty());
  CHECK(h.inbox(c).closed());
}

TEST_CASE("MQTT-4.13.1-1 decode error after CONNECT: v5 DISCONNECT with reason, 3.1.1 close",
          "[core][decode]") {
  Harness h;
  const ConnId a = h.connect("a");
  h.decode_error(a, ReasonCode::PacketTooLarge);
  auto d = h.inbox(a).packets<codec::Disconnect>();
  REQUIRE(d.size() == 1);
  CHECK(d[0].reason_code == u8(ReasonCode::PacketTooLarge));
  CHECK(h.inbox(a).closed());

  const ConnId b = h.connect("b", ProtocolVersion::v311);
  h.decode_error(b, ReasonCode::MalformedPacket);
  CHECK(h.inbox(b).packets<codec::Disconnect>().empty());
  CHECK(h.inbox(b).closed());
  CHECK(h.stats().clients_connected == 0);
  // Packets arriving after the close decision are ignored.
  h.clear(b);
  h.send(b, codec::Pingreq{});
  CHECK(h.inbox(b).actions.empty());
}

TEST_CASE("MQTT-3.1.2-29 Request Problem Information 0: no reason string on SUBACK",
          "[core][connect]") {
  Harness h;
  ConnectArgs a{"a"};
  a.props.request_problem_information = 0;
  const ConnId c = h.connect(a);
  codec::Subscribe s;
  s.packet_id = 1;
  s.entries.push_back({"a/#/b", 0});
  h.send(c, s);
  auto acks = h.inbox(c).packets<codec::Suback>();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].reason_codes.at(0) == u8(ReasonCode::TopicFilterInvalid));
  CHECK_FALSE(acks[0].props.reason_string);

  ConnectArgs b{"b"};
  const ConnId c2 = h.connect(b);
  h.send(c2, s);
  CHECK(h.inbox(c2).packets<codec::Suback>().at(0).props.reason_string);
}

TEST_CASE("shutdown sends DISCONNECT 0x8B to v5 clients and closes everyone",
          "[core][connect]") {
  Harness h;
  const ConnId a = h.connect("a");
  const ConnId b = h.connect("b", ProtocolVersion::v311);
  const ConnId c = h.open();
  h.broker().shutdown(h.now());
  h.advance(0s);
  // shutdown() appends actions outside the harness's send(); collect via advance.
  CHECK(h.inbox(a).packets<codec::Disconnect>().at(0).reason_code ==
        u8(ReasonCode::ServerShuttingDown));
  CHECK(h.inbox(a).closed());
  CHECK(h.inbox(b).packets<codec::Disconnect>().empty());
  CHECK(h.inbox(b).closed());
  CHECK(h.inbox(c).closed());
}

}  // namespace
}  // namespace tern::core::test
