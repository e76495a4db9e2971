// core::Broker persistence, sans-IO: what a restart on the same store brings back
// (sessions, subscriptions, QoS state, queues, retained messages), expiry across the
// downtime, and wills owed by the crash. "Restart" drops the Broker without closing anything
// (kill -9) and restores a new one from the same store (see persist_harness.hpp).
#include <algorithm>
#include <string>
#include <vector>

#include "storage/memory_store.hpp"
#include "tests/unit/core/persist_harness.hpp"

namespace tern::core::test {
namespace {

using codec::ReasonCode;
using Strings = std::vector<std::string>;

// ---------------------------------------------------------------------------------------
// 2. Restore round trip
// ---------------------------------------------------------------------------------------

TEST_CASE("restore: sessions and subscriptions with their options route without resubscribing",
          "[core][persist][restore]") {
  storage::MemoryStore store;
  PersistHarness h(&store, auto_commit_setup());

  const ConnId dev = h.connect(persistent_args("dev", 3600));
  codec::SubscribeEntry rap;
  rap.no_local = true;
  rap.retain_as_published = true;
  rap.retain_handling = 1;
  CHECK(h.subscribe(dev, "a/+", 1, rap, 7) == 1);
  CHECK(h.subscribe(dev, "$share/g/s/#", 2, {}, 9) == 2);
  CHECK(h.subscribe(dev, "b/#", 0) == 0);
  h.disconnect(dev);
  const ConnId old = h.connect(persistent_args("old", 0, ProtocolVersion::v311));
  CHECK(h.subscribe(old, "c/#", 1) == 1);
  h.disconnect(old);
  const ConnId tmp = h.connect("tmp");  // expiry 0: never persisted
  h.subscribe(tmp, "a/+", 1);

  h.restart();
  CHECK(h.restore_stats().sessions_restored == 2);
  CHECK(h.stats().sessions == 2);
  CHECK(h.stats().subscriptions == 4);
  CHECK(h.stats().clients_connected == 0);

  // Offline restored sessions receive (queue) without any SUBSCRIBE after the restart.
  const ConnId pub = h.connect("pub");
  h.publish(pub, "a/1", "A", 2);
  h.publish(pub, "s/x", "S", 2);
  h.publish(pub, "c/1", "C", 1);
  h.publish(pub, "a/r", "R", 1, true);
  CHECK(h.stats().queued_messages == 4);

  bool present = false;
  const ConnId dev2 = h.connect(persistent_args("dev", 3600), &present);
  CHECK(present);  // [MQTT-3.2.2-2]
  const auto pubs = h.inbox(dev2).publishes();
  REQUIRE(pubs.size() == 3);
  CHECK(pubs[0].msg->topic == "a/1");
  CHECK(pubs[0].qos == 1);  // granted QoS 1 kept
  CHECK(pubs[0].subscription_ids == std::vector<std::uint32_t>{7});
  CHECK_FALSE(pubs[0].retain);
  CHECK(pubs[1].msg->topic == "s/x");
  CHECK(pubs[1].qos == 2);
  CHECK(pubs[1].subscription_ids == std::vector<std::uint32_t>{9});
  CHECK(pubs[2].msg->topic == "a/r");
  CHECK(pubs[2].retain);  // Retain As Published kept [MQTT-3.3.1-12]
  CHECK(pubs[2].subscription_ids == std::vector<std::uint32_t>{7});
  CHECK(h.ack_all(dev2) == Strings{"A", "S", "R"});

  h.publish(pub, "b/z", "B", 1);  // QoS 0 subscription kept
  const auto b = h.inbox(dev2).publishes();
  REQUIRE(b.size() == 1);
  CHECK(b[0].qos == 0);
  h.clear(dev2);
  h.publish(dev2, "a/self", "X", 0);  // No Local kept [MQTT-3.8.3-3]
  CHECK(h.inbox(dev2).publishes().empty());
  // The subscription exists, so Retain Handling 1 sends no retained message
  // [MQTT-3.3.1-10]: the restore put it back as a subscription, not just as routing.
  CHECK(h.subscribe(dev2, "a/+", 1, rap, 7) == 1);
  CHECK(h.inbox(dev2).publishes().empty());

  present = false;
  const ConnId old2 = h.connect(persistent_args("old", 0, ProtocolVersion::v311), &present);
  CHECK(present);
  CHECK(h.ack_all(old2) == Strings{"C"});

  CHECK_FALSE(h.reconnect_present(persistent_args("tmp")));
}

TEST_CASE("restore: in-flight flows resent first (DUP, same ids, original order), then the queue",
          "[core][persist][restore]") {
  storage::MemoryStore store;
  PersistHarness h(&store, auto_commit_setup());
  ConnectArgs a = persistent_args("inf");
  a.props.receive_maximum = 4;
  const ConnId inf = h.connect(a);
  h.subscribe(inf, "f/#", 2);
  const ConnId pub = h.connect("pub");
  h.publish(pub, "f/1", "1", 1);
  h.publish(pub, "f/2", "2", 2);
  h.publish(pub, "f/3", "3", 2);
  h.publish(pub, "f/4", "4", 1);
  h.publish(pub, "f/5", "5", 1);  // past the client's Receive Maximum: queued
  h.publish(pub, "f/6", "6", 2);
  const auto sent = h.inbox(inf).publishes();
  REQUIRE(sent.size() == 4);
  std::vector<std::uint16_t> ids;
  for (const auto& p : sent) ids.push_back(p.packet_id);
  h.clear(inf);
  h.pubrec(inf, ids[2]);  // f/3 reaches the PUBREL stage
  REQUIRE(h.trace(inf) == Strings{"PUBREL " + std::to_string(ids[2]) + " rc=0"});

  h.restart();  // kill -9 with inf connected
  bool present = false;
  const ConnId inf2 = h.connect(persistent_args("inf"), &present);
  CHECK(present);
  const Strings tr = h.trace(inf2);
  REQUIRE(tr.size() == 6);
  // [MQTT-4.4.0-1] unacknowledged PUBLISH (DUP=1 [MQTT-3.3.1-1]) and PUBREL, in order.
  CHECK(tr[0] == "PUBLISH f/1 1 q1 id=" + std::to_string(ids[0]) + " dup=1");
  CHECK(tr[1] == "PUBLISH f/2 2 q2 id=" + std::to_string(ids[1]) + " dup=1");
  CHECK(tr[2] == "PUBREL " + std::to_string(ids[2]) + " rc=0");
  CHECK(tr[3] == "PUBLISH f/4 4 q1 id=" + std::to_string(ids[3]) + " dup=1");
  const auto pubs = h.inbox(inf2).publishes();
  REQUIRE(pubs.size() == 5);
  CHECK(pubs[3].msg->topic == "f/5");
  CHECK_FALSE(pubs[3].dup);
  CHECK(pubs[3].qos == 1);
  CHECK(pubs[4].msg->topic == "f/6");
  CHECK_FALSE(pubs[4].dup);
  CHECK(pubs[4].qos == 2);
  for (const auto& p : {pubs[3], pubs[4]})  // [MQTT-2.2.1-3] no id of a live flow reused
    CHECK(std::find(ids.begin(), ids.end(), p.packet_id) == ids.end());

  // Completing every flow deletes it: another restart resends nothing.
  const Strings got = h.ack_all(inf2);
  CHECK(got == Strings{"1*", "2*", "4*", "5", "6"});
  h.restart();
  const ConnId inf3 = h.connect(persistent_args("inf"), &present);
  CHECK(present);
  CHECK(h.trace(inf3).empty());
}

TEST_CASE("restore: inbound QoS 2 ids awaiting PUBREL survive, the duplicate is not routed",
          "[core][persist][restore]") {
  storage::MemoryStore store;
  PersistHarness h(&store, auto_commit_setup());
  const ConnId sub = h.connect(persistent_args("sub"));
  h.subscribe(sub, "q/#", 2);
  h.disconnect(sub);
  const ConnId pq = h.connect(persistent_args("pq"));
  h.publish(pq, "q/1", "once", 2, false, 5);
  REQUIRE(h.trace(pq) == Strings{"PUBREC 5 ok"});

  h.restart();
  bool present = false;
  const ConnId pq2 = h.connect(persistent_args("pq"), &present);
  CHECK(present);
  SECTION("the client resends the PUBLISH, then PUBREL") {
    h.publish(pq2, "q/1", "once", 2, false, 5, {}, true);
    CHECK(h.trace(pq2) == Strings{"PUBREC 5 ok"});  // [MQTT-4.3.3-10] acked, not routed
    h.clear(pq2);
  }
  SECTION("the client had the PUBREC and sends PUBREL") {}
  h.pubrel(pq2, 5);
  CHECK(h.trace(pq2) == Strings{"PUBCOMP 5 rc=0"});  // the id was known [MQTT-4.3.3-11]
  h.clear(pq2);

  const ConnId sub2 = h.connect(persistent_args("sub"));
  CHECK(h.ack_all(sub2) == Strings{"once"});
  // [MQTT-4.3.3-12] the id was released: the same id now carries a new message.
  h.publish(pq2, "q/1", "again", 2, false, 5);
  CHECK(h.trace(pq2) == Strings{"PUBREC 5 ok"});
  CHECK(h.ack_all(sub2) == Strings{"again"});
}

TEST_CASE("restore: retained messages come back with their properties, cleared ones do not",
          "[core][persist][restore]") {
  storage::MemoryStore store;
  PersistHarness h(&store, auto_commit_setup());
  const ConnId pub = h.connect("pub");
  codec::Properties props;
  props.content_type = "text/plain";
  props.user_properties = {{"k", "v"}, {"k", "w"}};
  props.payload_format_indicator = 1;
  h.publish(pub, "r/1", "v1", 1, true, 0, props);
  h.publish(pub, "r/2", "v2", 0, true);
  h.publish(pub, "r/3", "v3", 1, true);
  h.publish(pub, "r/3", "", 1, true);  // clears r/3 [MQTT-3.3.1-10]
  h.publish(pub, "r/2", "v2b", 2, true);  // replaces r/2 [MQTT-3.3.1-5]

  h.restart();
  CHECK(h.stats().retained_messages == 2);
  const ConnId sub = h.connect("sub");
  h.subscribe(sub, "r/#", 2);
  auto pubs = h.inbox(sub).publishes();
  REQUIRE(pubs.size() == 2);
  std::sort(pubs.begin(), pubs.end(),
            [](const SendPublish& x, const SendPublish& y) { return x.msg->topic < y.msg->topic; });
  CHECK(pubs[0].msg->topic == "r/1");
  CHECK(pubs[0].msg->payload == "v1");
  CHECK(pubs[0].retain);
  CHECK(pubs[0].qos == 1);
  CHECK(pubs[0].msg->props->content_type == std::optional<std::string>("text/plain"));
  CHECK(pubs[0].msg->props->user_properties == props.user_properties);  // [MQTT-3.3.2-18]
  CHECK(pubs[0].msg->props->payload_format_indicator == std::optional<std::uint8_t>(1));
  CHECK(pubs[1].msg->topic == "r/2");
  CHECK(pubs[1].msg->payload == "v2b");
  CHECK(pubs[1].qos == 2);
  CHECK(pubs[1].retain);
}

TEST_CASE("restore: a clean-start reconnect deletes the stored session", "[core][persist][restore]") {
  storage::MemoryStore store;
  PersistHarness h(&store, auto_commit_setup());
  const ConnId dev = h.connect(persistent_args("dev"));
  h.subscribe(dev, "old/#", 1);
  h.disconnect(dev);
  const ConnId pub = h.connect("pub");
  h.publish(pub, "old/1", "stale", 1);
  REQUIRE(h.stats().queued_messages == 1);

  SECTION("clean start 1 with expiry > 0: a new, empty persistent session replaces it") {
    ConnectArgs a = persistent_args("dev");
    a.clean_start = true;
    bool present = true;
    const ConnId d2 = h.connect(a, &present);
    CHECK_FALSE(present);
    CHECK(h.inbox(d2).publishes().empty());
    h.restart();
    ConnId d3 = 0;
    CHECK(h.reconnect_present(persistent_args("dev"), &d3));
    CHECK(h.trace(d3).empty());  // the old queue is gone
    const ConnId pub2 = h.connect("pub");
    h.publish(pub2, "old/2", "after", 1);
    CHECK(h.inbox(d3).publishes().empty());  // and the old subscription
  }
  SECTION("clean start 1 with expiry 0: nothing remains") {
    bool present = true;
    h.connect(ConnectArgs{"dev"}, &present);
    CHECK_FALSE(present);
    h.restart();
    CHECK(h.restore_stats().sessions_restored == 0);
    CHECK_FALSE(h.reconnect_present(persistent_args("dev")));
  }
}

TEST_CASE("restore: later changes to a session are what comes back", "[core][persist][restore]") {
  storage::MemoryStore store;
  PersistHarness h(&store, auto_commit_setup());
  const ConnId dev = h.connect(persistent_args("dev"));
  h.subscribe(dev, "gone/#", 1);
  h.subscribe(dev, "kept/#", 2, {}, 4);
  codec::Unsubscribe u;
  u.packet_id = 900;
  u.filters = {"gone/#"};
  h.send(dev, u);
  h.subscribe(dev, "kept/#", 1, {}, 5);  // replaces the options [MQTT-3.8.4-3]
  h.disconnect(dev);
  const ConnId e0 = h.connect(persistent_args("e0"));
  h.subscribe(e0, "e0/#", 1);
  codec::Properties zero;
  zero.session_expiry_interval = 0;
  h.disconnect(e0, 0, zero);  // 3.14.2.2.2: DISCONNECT may set it to 0
  const ConnId r0 = h.connect(persistent_args("r0"));
  h.subscribe(r0, "r0/#", 1);
  h.disconnect(r0);
  ConnId r0b = 0;
  CHECK(h.reconnect_present(persistent_args("r0", 0), &r0b));  // resumed, now expiry 0

  h.restart();  // r0 connected at the crash: its session ends with that connection
  CHECK(h.restore_stats().sessions_restored == 1);
  CHECK(h.stats().subscriptions == 1);
  CHECK_FALSE(h.reconnect_present(persistent_args("e0")));
  CHECK_FALSE(h.reconnect_present(persistent_args("r0")));
  const ConnId pub = h.connect("pub");
  h.publish(pub, "gone/1", "no", 1);
  h.publish(pub, "kept/1", "yes", 2);
  bool present = false;
  const ConnId dev2 = h.connect(persistent_args("dev"), &present);
  CHECK(present);
  const auto pubs = h.inbox(dev2).publishes();
  REQUIRE(pubs.size() == 1);
  CHECK(pubs[0].msg->payload == "yes");
  CHECK(pubs[0].qos == 1);
  CHECK(pubs[0].subscription_ids == std::vector<std::uint32_t>{5});
}

// ---------------------------------------------------------------------------------------
// 3. Expiry across restarts
// ---------------------------------------------------------------------------------------

TEST_CASE("expiry: a session that ended during the downtime is gone, others keep their countdown",
          "[core][persist][expiry]") {
  storage::MemoryStore store;
  PersistHarness h(&store, auto_commit_setup());
  for (const auto& [id, expiry] : std::vector<std::pair<std::string, std::uint32_t>>{
           {"short", 100}, {"mid", 150}, {"long", 1000}, {"never", 0xFFFFFFFF}}) {
    const ConnId c = h.connect(persistent_args(id, expiry));
    h.subscribe(c, "x/" + id, 1);
    h.disconnect(c);
  }
  const ConnId pub = h.connect("pub");
  h.publish(pub, "x/short", "q", 1);  // its queue goes with it
  h.closed(pub);
  h.advance(std::chrono::seconds(30));  // 30 s of every countdown pass before the crash

  h.restart(std::chrono::seconds(90));  // 120 s since the disconnects
  CHECK(h.restore_stats().sessions_expired == 1);
  CHECK(h.restore_stats().sessions_restored == 3);
  CHECK(h.stats().sessions == 3);
  CHECK(h.stats().queued_messages == 0);

  // "mid" ends 150 s after its disconnect, not 150 s after the restore.
  h.advance(std::chrono::seconds(29));
  CHECK(h.stats().sessions == 3);
  h.advance(std::chrono::seconds(2));
  CHECK(h.stats().sessions == 2);

  // The deletion was written: a later restart does not bring it back.
  h.restart(std::chrono::days(1000));
  CHECK(h.restore_stats().sessions_restored == 1);  // "long" expired in the downtime
  CHECK(h.restore_stats().sessions_expired == 1);
  CHECK(h.reconnect_present(persistent_args("never")));
  CHECK_FALSE(h.reconnect_present(persistent_args("short")));
  CHECK_FALSE(h.reconnect_present(persistent_args("mid")));
  CHECK_FALSE(h.reconnect_present(persistent_args("long")));
}

TEST_CASE("expiry: queued and retained messages honour Message Expiry across the downtime",
          "[core][persist][expiry]") {
  storage::MemoryStore store;
  PersistHarness h(&store, auto_commit_setup());
  const ConnId m = h.connect(persistent_args("m"));
  h.subscribe(m, "m/#", 1);
  h.disconnect(m);
  const ConnId pub = h.connect("pub");
  codec::Properties p40, p100;
  p40.message_expiry_interval = 40;
  p100.message_expiry_interval = 100;
  h.publish(pub, "m/short", "s", 1, false, 0, p40);
  h.publish(pub, "m/long", "l", 1, false, 0, p100);
  h.publish(pub, "m/none", "n", 1);
  h.publish(pub, "rx/short", "rs", 1, true, 0, p40);
  h.publish(pub, "rx/long", "rl", 1, true, 0, p100);
  h.advance(std::chrono::seconds(20));

  h.restart(std::chrono::seconds(30));  // 50 s after publishing
  CHECK(h.restore_stats().retained_expired == 1);
  CHECK(h.stats().retained_messages == 1);

  const ConnId m2 = h.connect(persistent_args("m"));
  const auto pubs = h.inbox(m2).publishes();
  REQUIRE(pubs.size() == 2);  // [MQTT-3.3.2-5] m/short expired in the downtime
  CHECK(pubs[0].msg->topic == "m/long");
  // [MQTT-3.3.2-6] the lifetime left: 100 - 50.
  CHECK(pubs[0].message_expiry_interval == std::optional<std::uint32_t>(50));
  CHECK(pubs[1].msg->topic == "m/none");
  CHECK_FALSE(pubs[1].message_expiry_interval.has_value());

  const ConnId r = h.connect("r");
  h.subscribe(r, "rx/#", 1);
  const auto ret = h.inbox(r).publishes();
  REQUIRE(ret.size() == 1);
  CHECK(ret[0].msg->topic == "rx/long");
  CHECK(ret[0].message_expiry_interval == std::optional<std::uint32_t>(50));
  h.clear(r);
  h.advance(std::chrono::seconds(51));
  CHECK(h.stats().retained_messages == 0);
}

TEST_CASE("wills: a connection open at the crash publishes its will after the restore",
          "[core][persist][will]") {
  storage::MemoryStore store;
  PersistHarness h(&store, auto_commit_setup());
  const ConnId ws = h.connect(persistent_args("ws"));
  h.subscribe(ws, "will/#", 1);
  h.disconnect(ws);
  ConnectArgs w = persistent_args("w");
  w.will = make_will("will/w", "gone", 1);
  h.connect(w);  // open at the crash
  ConnectArgs n = persistent_args("n");
  n.will = make_will("will/n", "bye", 1);
  h.disconnect(h.connect(n));  // DISCONNECT 0x00: no will [MQTT-3.1.2-10]

  h.restart();
  CHECK(h.restore_stats().wills_published == 1);
  const ConnId ws2 = h.connect(persistent_args("ws"));
  CHECK(h.ack_all(ws2) == Strings{"gone"});  // [MQTT-3.1.2-8]
  // Published once: the next restart does not publish it again.
  h.restart();
  CHECK(h.restore_stats().wills_published == 0);
  const ConnId ws3 = h.connect(persistent_args("ws"));
  CHECK(h.trace(ws3).empty());
}

TEST_CASE("wills: a delayed will keeps its due time across a restart", "[core][persist][will]") {
  storage::MemoryStore store;
  PersistHarness h(&store, auto_commit_setup());
  const ConnId ws = h.connect(persistent_args("ws"));
  h.subscribe(ws, "will/#", 1);
  h.disconnect(ws);
  ConnectArgs w = persistent_args("w", 3600);
  w.will = make_will("will/w", "late", 1, false, 60);
  const ConnId c = h.connect(w);

  SECTION("closed before the crash: due 60 s after the close") {
    h.closed(c);  // network failure: the will waits its delay [MQTT-3.1.3-9]
    h.advance(std::chrono::seconds(20));
    h.restart(std::chrono::seconds(10));  // 30 s of the delay gone
    CHECK(h.restore_stats().wills_published == 0);
    const ConnId ws2 = h.connect(persistent_args("ws"));
    h.advance(std::chrono::seconds(29));
    CHECK(h.payloads(ws2).empty());
    h.advance(std::chrono::seconds(2));
    CHECK(h.ack_all(ws2) == Strings{"late"});
  }
  SECTION("closed before the crash: a session ending first publishes it then") {
    ConnectArgs w2 = persistent_args("w2", 100);
    w2.will = make_will("will/w2", "ended", 1, false, 300);
    h.closed(h.connect(w2));
    h.advance(std::chrono::seconds(20));
    h.restart(std::chrono::seconds(30));
    const ConnId ws2 = h.connect(persistent_args("ws"));
    h.advance(std::chrono::seconds(49));  // 99 s after the close
    CHECK(h.payloads(ws2).empty());
    h.advance(std::chrono::seconds(2));  // [MQTT-3.1.3-9] the session ended before the delay
    CHECK(h.ack_all(ws2) == Strings{"ended"});  // "w" (open at the crash) is not due yet
  }
  SECTION("open at the crash: the delay runs from the restart") {
    h.restart();
    // Counted as a connection the crash closed (RestoreStats), but not yet published.
    CHECK(h.restore_stats().wills_published == 1);
    const ConnId ws2 = h.connect(persistent_args("ws"));
    CHECK(h.payloads(ws2).empty());
    h.advance(std::chrono::seconds(59));
    CHECK(h.payloads(ws2).empty());
    h.advance(std::chrono::seconds(2));
    CHECK(h.ack_all(ws2) == Strings{"late"});
  }
  SECTION("open at the crash, reconnecting within the delay cancels it") {
    h.restart();
    const ConnId ws2 = h.connect(persistent_args("ws"));
    CHECK(h.reconnect_present(persistent_args("w", 3600)));
    h.advance(std::chrono::seconds(120));
    CHECK(h.payloads(ws2).empty());
  }
}


}  // namespace
}  // namespace tern::core::test
