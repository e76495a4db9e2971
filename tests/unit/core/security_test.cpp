// Authentication verdicts (Broker::set_connect_auth) and authorization (AccessPolicy):
// CONNACK codes per version, PUBLISH / will / SUBSCRIBE / delivery checks with their
// answers and counters, $share, offline queues, retained messages, policy reload and
// removal, internal clients, and a session restored without its identity.
#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "storage/memory_store.hpp"
#include "tests/unit/core/harness.hpp"
#include "tests/unit/core/persist_harness.hpp"

namespace tern::core::test {
namespace {

using codec::ReasonCode;
using Strings = std::vector<std::string>;
constexpr ProtocolVersion kV5 = ProtocolVersion::v5;
constexpr ProtocolVersion kV311 = ProtocolVersion::v311;

// A policy made of three lambdas (default: allow), recording what it was asked.
struct TestPolicy final : AccessPolicy {
  using Rule = std::function<bool(const ClientIdentity&, std::string_view, std::string_view)>;
  Rule pub, sub, recv;
  mutable std::vector<std::string> asked;  // "pub|sub|recv <user> <client> <topic>"

  static std::string user(const ClientIdentity& w) { return w.username.value_or("-"); }
  bool may_publish(const ClientIdentity& w, std::string_view cid,
                   std::string_view topic) const override {
    asked.push_back("pub " + user(w) + " " + std::string(cid) + " " + std::string(topic));
    return !pub || pub(w, cid, topic);
  }
  bool may_subscribe(const ClientIdentity& w, std::string_view cid,
                     std::string_view filter) const override {
    asked.push_back("sub " + user(w) + " " + std::string(cid) + " " + std::string(filter));
    return !sub || sub(w, cid, filter);
  }
  bool may_receive(const ClientIdentity& w, std::string_view cid,
                   std::string_view topic) const override {
    asked.push_back("recv " + user(w) + " " + std::string(cid) + " " + std::string(topic));
    return !recv || recv(w, cid, topic);
  }
};

// Denies every topic starting with "secret" for the given verb.
TestPolicy::Rule deny_secret() {
  return [](const ClientIdentity&, std::string_view, std::string_view t) {
    return !t.starts_with("secret");
  };
}

ClientIdentity user_id(std::string name, std::uint16_t listener = 0) {
  ClientIdentity id;
  id.username = std::move(name);
  id.listener = listener;
  return id;
}

// Opens a connection, gives core the transport's verdict, sends CONNECT.
template <class H>
ConnId connect_auth(H& h, const ConnectArgs& a, AuthVerdict v, ClientIdentity id = {}) {
  const ConnId c = h.open();
  h.broker().set_connect_auth(c, v, std::move(id));
  h.send(c, Harness::make_connect(a));
  return c;
}

// Connects with an accepted verdict; removes the CONNACK and events from the inbox and
// keeps what followed (queued messages sent on reconnect).
template <class H>
ConnId connect_as(H& h, const ConnectArgs& a, ClientIdentity id) {
  const ConnId c = connect_auth(h, a, AuthVerdict::Accepted, std::move(id));
  auto& acts = h.inbox(c).actions;
  REQUIRE(!acts.empty());
  auto* sp = std::get_if<SendPacket>(&acts.front());
  REQUIRE(sp != nullptr);
  auto* ack = std::get_if<codec::Connack>(&sp->packet);
  REQUIRE(ack != nullptr);
  REQUIRE(ack->reason_code == 0);
  acts.erase(acts.begin());
  std::erase_if(acts, [](const Action& x) { return std::holds_alternative<ConnectionEvent>(x); });
  return c;
}

bool was_asked(const TestPolicy& p, const std::string& what) {
  return std::find(p.asked.begin(), p.asked.end(), what) != p.asked.end();
}

std::uint8_t connack_code(Harness& h, ConnId c) {
  auto acks = h.inbox(c).packets<codec::Connack>();
  REQUIRE(acks.size() == 1);
  return acks[0].reason_code;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Authentication verdicts
// ---------------------------------------------------------------------------------------

TEST_CASE("auth: each refusing verdict gets its CONNACK code on both versions, then close",
          "[core][auth]") {
  struct Row {
    AuthVerdict verdict;
    ProtocolVersion version;
    std::uint8_t code;
  };
  const Row rows[] = {
      {AuthVerdict::BadCredentials, kV5, 0x86},
      {AuthVerdict::BadCredentials, kV311, 0x04},
      {AuthVerdict::NotAuthorized, kV5, 0x87},
      {AuthVerdict::NotAuthorized, kV311, 0x05},
      {AuthVerdict::VersionRefused, kV5, 0x84},
      {AuthVerdict::VersionRefused, kV311, 0x01},
  };
  for (const Row& r : rows) {
    CAPTURE(static_cast<int>(r.verdict), r.version == kV5);
    Harness h;
    // An existing online session under the same client id must not be touched.
    const ConnId old = h.connect(ConnectArgs{"dev", r.version, false});
    h.subscribe(old, "a/#", 1);
    h.clear(old);

    ConnectArgs a{"dev", r.version, true};  // clean start: would discard the session
    a.will = make_will("wills/dev", "gone");
    const ConnId c = connect_auth(h, a, r.verdict, user_id("mallory"));
    auto acks = h.inbox(c).packets<codec::Connack>();
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].reason_code == r.code);
    CHECK_FALSE(acks[0].session_present);  // v5 [MQTT-3.2.2-6], 3.1.1 [MQTT-3.2.2-4]
    CHECK(h.inbox(c).closed());
    CHECK(h.stats().auth_refused == 1);
    h.closed(c);

    // No takeover, no will: the old connection still works.
    CHECK(h.inbox(old).wire_count() == 0);
    const ConnId pub = h.connect("pub");
    h.publish(pub, "a/1", "still here", 1);
    CHECK(h.payloads(old) == Strings{"still here"});
    CHECK(h.stats().clients_connected == 2);
  }
}

TEST_CASE("auth: Accepted connects, the identity reaches the policy, late verdicts are "
          "ignored",
          "[core][auth]") {
  Harness h;
  auto pol = std::make_shared<TestPolicy>();
  h.broker().set_access_policy(pol);
  const ConnId c = connect_as(h, ConnectArgs{"c1"}, user_id("alice", 2));
  pol->recv = [](const ClientIdentity& w, std::string_view, std::string_view) {
    return w.username == "alice" && w.listener == 2;
  };
  h.subscribe(c, "t", 0);
  // A verdict for a connection past CONNECT changes nothing.
  h.broker().set_connect_auth(c, AuthVerdict::NotAuthorized, {});
  const ConnId pub = h.connect("p");
  h.publish(pub, "t", "x");
  CHECK(h.payloads(c) == Strings{"x"});
  CHECK(h.inbox(c).closed() == false);
  CHECK(h.stats().auth_refused == 0);
  // Without set_connect_auth a client has no username.
  CHECK(was_asked(*pol, "pub - p t"));
  CHECK(was_asked(*pol, "sub alice c1 t"));
}

// ---------------------------------------------------------------------------------------
// PUBLISH
// ---------------------------------------------------------------------------------------

TEST_CASE("acl: denied PUBLISH on v5: QoS 0 dropped, QoS 1 PUBACK 0x87, QoS 2 PUBREC 0x87 "
          "ends the flow",
          "[core][acl]") {
  Harness h;
  auto pol = std::make_shared<TestPolicy>();
  pol->pub = deny_secret();
  h.broker().set_access_policy(pol);
  const ConnId sub = h.connect("sub");
  h.subscribe(sub, "#", 2);
  const ConnId pub = h.connect("pub");

  h.publish(pub, "secret/a", "q0", 0);
  CHECK(h.inbox(pub).wire_count() == 0);
  CHECK_FALSE(h.inbox(pub).closed());

  h.publish(pub, "secret/a", "q1", 1, false, 11);
  auto pa = h.inbox(pub).packets<codec::Puback>();
  REQUIRE(pa.size() == 1);
  CHECK(pa[0].packet_id == 11);
  CHECK(pa[0].reason_code == 0x87);

  h.publish(pub, "secret/a", "q2", 2, false, 12);
  auto pr = h.inbox(pub).packets<codec::Pubrec>();
  REQUIRE(pr.size() == 1);
  CHECK(pr[0].reason_code == 0x87);
  // No id was kept: a PUBREL for it is answered 0x92 (4.3.3).
  h.pubrel(pub, 12);
  auto pc = h.inbox(pub).packets<codec::Pubcomp>();
  REQUIRE(pc.size() == 1);
  CHECK(pc[0].reason_code == 0x92);

  CHECK(h.payloads(sub).empty());
  CHECK(h.stats().denied_publish == 3);

  h.publish(pub, "open/a", "ok", 1, false, 13);
  CHECK(h.payloads(sub) == Strings{"ok"});
}

TEST_CASE("acl: denied PUBLISH on 3.1.1: positive acknowledgements, nothing delivered",
          "[core][acl]") {
  Harness h;
  auto pol = std::make_shared<TestPolicy>();
  pol->pub = deny_secret();
  h.broker().set_access_policy(pol);
  const ConnId sub = h.connect("sub");
  h.subscribe(sub, "#", 2);
  const ConnId pub = h.connect("pub", kV311);

  h.publish(pub, "secret/a", "q0", 0);
  h.publish(pub, "secret/a", "q1", 1, false, 21);
  auto pa = h.inbox(pub).packets<codec::Puback>();
  REQUIRE(pa.size() == 1);
  CHECK(pa[0].reason_code == 0);  // [MQTT-3.3.5-2]

  h.publish(pub, "secret/a", "q2", 2, false, 22);
  auto pr = h.inbox(pub).packets<codec::Pubrec>();
  REQUIRE(pr.size() == 1);
  CHECK(pr[0].reason_code == 0);
  // A resend (DUP) of the same id is acknowledged again and still not delivered.
  h.publish(pub, "secret/a", "q2", 2, false, 22);
  CHECK(h.inbox(pub).packets<codec::Pubrec>().size() == 2);
  h.pubrel(pub, 22);
  auto pc = h.inbox(pub).packets<codec::Pubcomp>();
  REQUIRE(pc.size() == 1);
  CHECK(pc[0].reason_code == 0);
  CHECK_FALSE(h.inbox(pub).closed());

  CHECK(h.payloads(sub).empty());
  CHECK(h.stats().denied_publish == 3);  // the QoS 2 resend hit the kept id, not the ACL
}

TEST_CASE("acl: PUBLISH is checked on the topic an alias resolves to", "[core][acl]") {
  Harness h;
  auto pol = std::make_shared<TestPolicy>();
  pol->pub = deny_secret();
  h.broker().set_access_policy(pol);
  const ConnId sub = h.connect("sub");
  h.subscribe(sub, "#", 1);
  const ConnId pub = h.connect("pub");
  codec::Properties set;
  set.topic_alias = 1;
  h.publish(pub, "secret/x", "first", 1, false, 1, set);  // sets alias 1, denied
  h.publish(pub, "", "by alias", 1, false, 2, set);        // alias 1 -> secret/x
  auto pa = h.inbox(pub).packets<codec::Puback>();
  REQUIRE(pa.size() == 2);
  CHECK(pa[0].reason_code == 0x87);
  CHECK(pa[1].reason_code == 0x87);
  CHECK(pol->asked.back() == "pub - pub secret/x");
  CHECK(h.payloads(sub).empty());
}

TEST_CASE("acl: a denied retained PUBLISH leaves the retained store alone", "[core][acl]") {
  Harness h;
  const ConnId pub = h.connect("pub");
  h.publish(pub, "secret/r", "old", 1, true);
  auto pol = std::make_shared<TestPolicy>();
  pol->pub = deny_secret();
  h.broker().set_access_policy(pol);
  h.publish(pub, "secret/r", "new", 1, true);
  h.publish(pub, "secret/r", "", 1, true);  // would clear it
  CHECK(h.stats().denied_publish == 2);
  CHECK(h.stats().retained_messages == 1);
  const ConnId sub = h.connect("sub");
  h.subscribe(sub, "secret/#", 1);
  CHECK(h.payloads(sub) == Strings{"old"});
}

// ---------------------------------------------------------------------------------------
// Wills
// ---------------------------------------------------------------------------------------

TEST_CASE("acl: a will the client may not publish refuses the CONNECT", "[core][acl][will]") {
  for (const ProtocolVersion v : {kV5, kV311}) {
    Harness h;
    auto pol = std::make_shared<TestPolicy>();
    pol->pub = [](const ClientIdentity& w, std::string_view cid, std::string_view t) {
      // Patterns use the client id and the user: only bob may write under his id.
      return w.username == "bob" && t == "wills/" + std::string(cid);
    };
    h.broker().set_access_policy(pol);
    ConnectArgs a{"dev1", v};
    a.will = make_will("wills/other", "gone");
    const ConnId c = connect_auth(h, a, AuthVerdict::Accepted, user_id("bob"));
    CHECK(connack_code(h, c) == (v == kV5 ? 0x87 : 0x05));
    CHECK(h.inbox(c).closed());
    CHECK(h.stats().denied_publish == 1);
    CHECK(h.stats().auth_refused == 0);
    CHECK_FALSE(h.broker().session_status("dev1").has_value());

    a.will = make_will("wills/dev1", "gone");
    const ConnId ok = connect_auth(h, a, AuthVerdict::Accepted, user_id("bob"));
    CHECK(connack_code(h, ok) == 0);
  }
}

TEST_CASE("acl: a will is checked again when published (policy reloaded meanwhile)",
          "[core][acl][will]") {
  Harness h;
  auto allow = std::make_shared<TestPolicy>();
  h.broker().set_access_policy(allow);
  const ConnId sub = h.connect("sub");
  h.subscribe(sub, "wills/#", 1);

  ConnectArgs a{"dev"};
  a.will = make_will("wills/dev", "gone", 1, true);
  const ConnId c1 = h.connect(a);
  ConnectArgs b{"dev2"};
  b.will = make_will("wills/dev2", "gone2", 1);
  const ConnId c2 = h.connect(b);

  auto deny = std::make_shared<TestPolicy>();
  deny->pub = [](const ClientIdentity&, std::string_view cid, std::string_view) {
    return cid != "dev";
  };
  h.broker().set_access_policy(deny);
  h.closed(c1);  // network failure: the will would go out now
  h.closed(c2);
  CHECK(h.payloads(sub) == Strings{"gone2"});
  CHECK(h.stats().denied_publish == 1);
  CHECK(h.stats().retained_messages == 0);  // the denied will was retained: not stored
}

// ---------------------------------------------------------------------------------------
// SUBSCRIBE
// ---------------------------------------------------------------------------------------

TEST_CASE("acl: a denied SUBSCRIBE filter gets 0x87 (v5) / 0x80 (3.1.1), nothing stored",
          "[core][acl]") {
  for (const ProtocolVersion v : {kV5, kV311}) {
    Harness h;
    auto pol = std::make_shared<TestPolicy>();
    pol->sub = deny_secret();
    h.broker().set_access_policy(pol);
    const ConnId c = h.connect("c", v);

    codec::Subscribe s;
    s.packet_id = 5;
    for (const char* f : {"open/#", "secret/#", "$share/g/secret/x"}) {
      codec::SubscribeEntry e;
      e.filter = f;
      e.max_qos = 1;
      s.entries.push_back(e);
    }
    h.send(c, std::move(s));
    auto acks = h.inbox(c).packets<codec::Suback>();
    REQUIRE(acks.size() == 1);
    const std::uint8_t no = v == kV5 ? 0x87 : 0x80;
    CHECK(acks[0].reason_codes == std::vector<std::uint8_t>{1, no, no});
    // $share/<group>/ is not part of the filter the policy sees.
    CHECK(was_asked(*pol, "sub - c secret/x"));
    CHECK(h.stats().denied_subscribe == 2);
    CHECK(h.stats().subscriptions == 1);

    // Nothing was stored: with the policy gone, secret messages still do not arrive.
    h.broker().set_access_policy(nullptr);
    h.clear(c);
    const ConnId pub = h.connect("pub");
    h.publish(pub, "secret/x", "s");
    h.publish(pub, "open/x", "o");
    CHECK(h.payloads(c) == Strings{"o"});
  }
}

// ---------------------------------------------------------------------------------------
// Delivery
// ---------------------------------------------------------------------------------------

TEST_CASE("acl: may_receive filters online delivery, retained messages and offline queues",
          "[core][acl]") {
  Harness h;
  const ConnId pub = h.connect("pub");
  h.publish(pub, "secret/r", "retained secret", 0, true);
  h.publish(pub, "open/r", "retained open", 0, true);

  auto pol = std::make_shared<TestPolicy>();
  pol->recv = [](const ClientIdentity& w, std::string_view, std::string_view t) {
    return w.username == "root" || !t.starts_with("secret");
  };
  h.broker().set_access_policy(pol);

  ConnectArgs pa{"reader", kV5, false};
  pa.props.session_expiry_interval = 600;
  const ConnId r = connect_as(h, pa, user_id("eve"));
  const ConnId root = connect_as(h, ConnectArgs{"root"}, user_id("root"));
  h.subscribe(r, "#", 1);  // subscribing to everything is allowed...
  h.subscribe(root, "#", 1);
  // ...but the retained secret is not sent to eve.
  CHECK(h.payloads(r) == Strings{"retained open"});
  CHECK(h.payloads(root).size() == 2);
  CHECK(h.stats().denied_receive == 1);
  h.clear(r);

  h.publish(pub, "secret/1", "s1", 1);
  h.publish(pub, "open/1", "o1", 1);
  CHECK(h.payloads(r) == Strings{"o1"});
  CHECK(h.stats().denied_receive == 2);
  h.puback(r, h.inbox(r).publishes().at(0).packet_id);

  // Offline: the denied message is not even queued.
  h.disconnect(r);
  h.closed(r);
  h.publish(pub, "secret/2", "s2", 1);
  h.publish(pub, "open/2", "o2", 1);
  CHECK(h.stats().denied_receive == 3);
  CHECK(h.broker().session_status("reader")->queued == 1);
  // The offline check used the identity of the session's last connection.
  CHECK(was_asked(*pol, "recv eve reader open/2"));

  const ConnId r2 = connect_as(h, pa, user_id("eve"));
  CHECK(h.payloads(r2) == Strings{"o2"});
}

TEST_CASE("acl: a shared group's message goes to a member that may read it", "[core][acl]") {
  Harness h;
  auto pol = std::make_shared<TestPolicy>();
  pol->recv = [](const ClientIdentity& w, std::string_view, std::string_view) {
    return w.username != "guest";
  };
  h.broker().set_access_policy(pol);
  const ConnId g1 = connect_as(h, ConnectArgs{"g1"}, user_id("guest"));
  const ConnId g2 = connect_as(h, ConnectArgs{"g2"}, user_id("worker"));
  CHECK(h.subscribe(g1, "$share/grp/jobs/#", 1) == 1);
  CHECK(h.subscribe(g2, "$share/grp/jobs/#", 1) == 1);
  const ConnId pub = h.connect("pub");
  for (int i = 0; i < 4; ++i) h.publish(pub, "jobs/" + std::to_string(i), std::to_string(i));
  CHECK(h.payloads(g1).empty());
  CHECK(h.payloads(g2) == Strings{"0", "1", "2", "3"});
  CHECK(h.stats().denied_receive == 0);  // the group's copy was not lost

  // No member may read it: dropped and counted once.
  const ConnId g3 = connect_as(h, ConnectArgs{"g3"}, user_id("guest"));
  CHECK(h.subscribe(g3, "$share/only-guests/x", 1) == 1);
  h.publish(pub, "x", "nobody");
  CHECK(h.payloads(g3).empty());
  CHECK(h.stats().denied_receive == 1);
}

TEST_CASE("acl: reload re-checks queued messages, null policy restores full access",
          "[core][acl]") {
  Harness h;
  ConnectArgs pa{"reader", kV5, false};
  pa.props.session_expiry_interval = 600;
  ConnId r = connect_as(h, pa, user_id("eve"));
  h.subscribe(r, "#", 1);
  h.disconnect(r);
  h.closed(r);
  const ConnId pub = h.connect("pub");
  h.publish(pub, "secret/1", "queued before the policy", 1);

  auto pol = std::make_shared<TestPolicy>();
  pol->recv = deny_secret();
  pol->pub = deny_secret();
  h.broker().set_access_policy(pol);
  h.publish(pub, "open/1", "o1", 1);
  r = connect_as(h, pa, user_id("eve"));
  CHECK(h.payloads(r) == Strings{"o1"});  // the queued secret never reaches the socket
  CHECK(h.stats().denied_receive == 1);
  CHECK(h.stats().queued_messages == 0);

  h.broker().set_access_policy(nullptr);
  h.clear(r);
  h.publish(pub, "secret/2", "s2", 1);
  CHECK(h.payloads(r) == Strings{"s2"});
  CHECK(h.stats().denied_publish == 0);
  CHECK(h.stats().denied_receive == 1);
}

TEST_CASE("acl: internal clients are never asked", "[core][acl][internal]") {
  Harness h;
  auto pol = std::make_shared<TestPolicy>();
  pol->pub = [](auto&&...) { return false; };
  pol->sub = [](auto&&...) { return false; };
  pol->recv = [](auto&&...) { return false; };
  h.broker().set_access_policy(pol);
  constexpr ConnId kBridge = 1u << 20;
  h.broker().on_open_internal(kBridge, h.now(), {});
  ConnectArgs a{"$bridge/up/0"};
  a.will = make_will("bridge/status", "down");
  h.send(kBridge, Harness::make_connect(a));
  REQUIRE(connack_code(h, kBridge) == 0);
  h.clear(kBridge);
  CHECK(h.subscribe(kBridge, "#", 1) == 1);
  h.publish(kBridge, "any/topic", "from remote", 1, false, 3);
  auto acks = h.inbox(kBridge).packets<codec::Puback>();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].reason_code < 0x80);
  h.clear(kBridge);
  const ConnId pub = h.connect("pub");  // a network client: denied
  h.publish(pub, "x", "y", 0);
  CHECK(h.payloads(kBridge).empty());
  CHECK(h.stats().denied_publish == 1);
  CHECK(pol->asked == Strings{"pub - pub x"});
}

TEST_CASE("acl: a restored session's queue is checked with the reconnected identity",
          "[core][acl][persist]") {
  storage::MemoryStore store;
  PersistSetup setup;
  setup.auto_commit = true;
  PersistHarness h(&store, setup);
  ConnId r = connect_as(h, persistent_args("reader"), user_id("eve"));
  h.subscribe(r, "#", 1);
  h.disconnect(r);
  h.restart();

  auto pol = std::make_shared<TestPolicy>();
  pol->recv = [](const ClientIdentity& w, std::string_view, std::string_view t) {
    return w.username == "root" || !t.starts_with("secret");
  };
  h.broker().set_access_policy(pol);
  const ConnId pub = h.connect("pub");
  h.publish(pub, "secret/1", "s1", 1);  // identity unknown: queued, unchecked
  h.publish(pub, "open/1", "o1", 1);
  CHECK(h.stats().denied_receive == 0);
  CHECK(h.broker().session_status("reader")->queued == 2);

  r = connect_as(h, persistent_args("reader"), user_id("eve"));
  CHECK(h.ack_all(r) == Strings{"o1"});
  CHECK(h.stats().denied_receive == 1);
  CHECK(h.stats().queued_messages == 0);

  // The same after a restart that leaves the messages on disk: read back, then checked.
  h.disconnect(r);
  h.publish(pub, "secret/2", "s2", 1);
  h.publish(pub, "open/2", "o2", 1);
  CHECK(h.stats().denied_receive == 2);  // identity known again: not even queued
  h.restart();
  h.broker().set_access_policy(pol);
  r = connect_as(h, persistent_args("reader"), user_id("eve"));
  CHECK(h.ack_all(r) == Strings{"o2"});
}

}  // namespace tern::core::test
