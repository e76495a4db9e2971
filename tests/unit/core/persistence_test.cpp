// core::Broker persistence, sans-IO: which acknowledgements wait for a durable write, what
// a restart on the same store brings back (sessions, subscriptions, QoS state, queues,
// retained messages, wills), expiry across the downtime, and the queue's RAM window.
// "Commit" is Store::write + on_persisted by hand; "restart" drops the Broker without
// closing anything (kill -9) and restores a new one from the same store.
#include <algorithm>
#include <string>
#include <vector>

#include "storage/leveldb_store.hpp"
#include "storage/memory_store.hpp"
#include "tests/unit/core/persist_harness.hpp"

namespace tern::core::test {
namespace {

using codec::ReasonCode;
using Strings = std::vector<std::string>;

PersistSetup auto_commit_setup(std::size_t window = 256) {
  PersistSetup s;
  s.auto_commit = true;
  s.queue_window = window;
  return s;
}

Strings numbers(int from, int to) {  // "from" .. "to - 1"
  Strings out;
  for (int i = from; i < to; ++i) out.push_back(std::to_string(i));
  return out;
}

// ---------------------------------------------------------------------------------------
// 1. Acknowledgements that promise durability wait for the commit
// ---------------------------------------------------------------------------------------

TEST_CASE("persist: PUBACK to a message for a persistent session waits for its request",
          "[core][persist]") {
  storage::MemoryStore store;
  PersistHarness h(&store, {});
  const ConnId sub = h.connect(persistent_args("sub"));
  h.subscribe(sub, "p/#", 2);
  SECTION("subscriber offline: the message is queued") { h.disconnect(sub); }
  SECTION("subscriber online: the message is in flight") {}
  h.commit();
  REQUIRE(h.pending() == 0);

  const ConnId pub = h.connect("pub");  // clean start, expiry 0: nothing of it persists
  // An unrelated write still waiting (another persistent session subscribing), so the
  // publish is not the first request: only the token that carries the message releases
  // the PUBACK.
  const ConnId other = h.connect(persistent_args("other"));
  h.subscribe(other, "o/#", 1);

  const std::uint16_t id = h.publish(pub, "p/1", "m1", 1);
  CHECK(h.inbox(pub).packets<codec::Puback>().empty());
  CHECK(h.stats().acks_waiting == 1);
  const auto tokens = h.pending_tokens();
  REQUIRE(!tokens.empty());
  for (std::size_t i = 1; i < tokens.size(); ++i) CHECK(tokens[i] > tokens[i - 1]);

  h.write_pending();
  for (std::size_t i = 0; i + 1 < tokens.size(); ++i) h.report(tokens[i]);
  CHECK(h.inbox(pub).packets<codec::Puback>().empty());
  h.report(tokens.back());
  const auto acks = h.inbox(pub).packets<codec::Puback>();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].packet_id == id);
  CHECK(acks[0].reason_code == 0);
  CHECK(h.stats().acks_waiting == 0);
}

TEST_CASE("persist: PUBREC waits for the write; PUBCOMP of a persistent publisher waits too",
          "[core][persist]") {
  storage::MemoryStore store;
  PersistHarness h(&store, {});
  const ConnId sub = h.connect(persistent_args("sub"));
  h.subscribe(sub, "p/#", 2);
  h.disconnect(sub);
  h.commit();

  SECTION("non-persistent publisher: PUBREC waits, PUBCOMP does not") {
    const ConnId pub = h.connect("pub");
    h.publish(pub, "p/1", "m", 2, false, 21);
    CHECK(h.trace(pub).empty());
    REQUIRE(h.pending() > 0);
    h.commit();
    CHECK(h.trace(pub) == Strings{"PUBREC 21 ok"});
    h.clear(pub);
    h.pubrel(pub, 21);
    CHECK(h.trace(pub) == Strings{"PUBCOMP 21 rc=0"});
  }
  SECTION("persistent publisher: its inbound QoS 2 id is stored, so PUBCOMP waits for the "
          "write that removes it") {
    const ConnId pub = h.connect(persistent_args("pub"));
    h.commit();
    h.publish(pub, "p/1", "m", 2, false, 22);
    CHECK(h.trace(pub).empty());
    h.commit();
    CHECK(h.trace(pub) == Strings{"PUBREC 22 ok"});
    h.clear(pub);
    h.pubrel(pub, 22);
    CHECK(h.trace(pub).empty());
    CHECK(h.stats().acks_waiting == 1);
    REQUIRE(h.pending() > 0);
    h.commit();
    CHECK(h.trace(pub) == Strings{"PUBCOMP 22 rc=0"});
  }
}

TEST_CASE("persist: a retained QoS 1 message is acked only once stored", "[core][persist]") {
  storage::MemoryStore store;
  PersistHarness h(&store, {});
  const ConnId pub = h.connect("pub");
  h.publish(pub, "r/1", "keep", 1, true, 31);  // no subscriber at all
  CHECK(h.inbox(pub).packets<codec::Puback>().empty());
  REQUIRE(h.pending() > 0);
  h.commit();
  CHECK(h.trace(pub) == Strings{"PUBACK 31 ok"});
}

TEST_CASE("persist: a message nobody must store is acked at once and writes nothing",
          "[core][persist]") {
  storage::MemoryStore store;
  PersistHarness h(&store, {});
  const ConnId sub = h.connect("sub");  // expiry 0
  h.subscribe(sub, "t/#", 2);
  const ConnId pub = h.connect("pub");
  REQUIRE(h.pending() == 0);

  h.publish(pub, "t/1", "a", 1, false, 41);
  h.publish(pub, "nobody/1", "b", 1, false, 42);
  h.publish(pub, "t/2", "c", 2, false, 43);
  CHECK(h.trace(pub) == Strings{"PUBACK 41 ok", "PUBACK 42 ok", "PUBREC 43 ok"});
  h.clear(pub);
  h.pubrel(pub, 43);
  CHECK(h.trace(pub) == Strings{"PUBCOMP 43 rc=0"});
  CHECK(h.pending() == 0);
  CHECK(h.stats().acks_waiting == 0);
  // The non-persistent subscriber's own QoS flows write nothing either.
  for (const auto& p : h.inbox(sub).publishes()) {
    if (p.qos == 1) h.puback(sub, p.packet_id);
    if (p.qos == 2) {
      h.pubrec(sub, p.packet_id);
      h.pubcomp(sub, p.packet_id);
    }
  }
  CHECK(h.pending() == 0);
}

TEST_CASE("persist: acknowledgements of one connection stay in order", "[core][persist]") {
  storage::MemoryStore store;
  PersistHarness h(&store, {});
  const ConnId sub = h.connect(persistent_args("sub"));
  h.subscribe(sub, "p/#", 1);
  h.disconnect(sub);
  h.commit();

  const ConnId pub = h.connect("pub");
  const ConnId pub2 = h.connect("pub2");
  h.publish(pub, "p/1", "durable", 1, false, 51);   // waits for its write
  h.publish(pub, "np/1", "volatile", 1, false, 52);  // needs no write, but follows 51
  h.publish(pub, "np/2", "volatile", 2, false, 53);
  CHECK(h.trace(pub).empty());
  CHECK(h.stats().acks_waiting >= 1);
  // Another connection's ack is not held by pub's.
  h.publish(pub2, "np/3", "other", 1, false, 54);
  CHECK(h.trace(pub2) == Strings{"PUBACK 54 ok"});

  h.commit();
  CHECK(h.trace(pub) == Strings{"PUBACK 51 ok", "PUBACK 52 ok", "PUBREC 53 ok"});
  CHECK(h.stats().acks_waiting == 0);
}

TEST_CASE("persist: after a kill -9, every acknowledged message is there; the others may not be",
          "[core][persist]") {
  storage::MemoryStore store;
  PersistHarness h(&store, {});
  const ConnId sub = h.connect(persistent_args("sub"));
  h.subscribe(sub, "p/#", 2);
  h.disconnect(sub);
  h.commit();
  const ConnId pub = h.connect("pub");
  h.publish(pub, "p/1", "acked1", 1, false, 71);
  h.publish(pub, "p/2", "acked2", 2, false, 72);
  h.commit();
  REQUIRE(h.trace(pub) == Strings{"PUBACK 71 ok", "PUBREC 72 ok"});
  h.publish(pub, "p/3", "unacked", 1, false, 73);
  REQUIRE(h.inbox(pub).packets<codec::Puback>().size() == 1);
  h.restart();  // the request carrying p/3 never reached the store
  h.set_auto_commit(true);
  const ConnId sub2 = h.connect(persistent_args("sub"));
  CHECK(h.ack_all(sub2) == Strings{"acked1", "acked2"});
}

TEST_CASE("persist: a failed commit closes the waiting connection without its ack",
          "[core][persist]") {
  storage::MemoryStore store;
  PersistHarness h(&store, {});
  const ConnId sub = h.connect(persistent_args("sub"));
  h.subscribe(sub, "p/#", 1);
  h.disconnect(sub);
  h.commit();
  const ConnId bystander = h.connect("bystander");

  SECTION("v5: DISCONNECT 0x80") {
    const ConnId pub = h.connect("pub");
    h.publish(pub, "p/1", "lost", 1, false, 61);
    h.fail_pending();
    CHECK(h.trace(pub) == Strings{"DISCONNECT 128", "CLOSE"});
  }
  SECTION("3.1.1: closed, no DISCONNECT") {
    const ConnId pub = h.connect("pub", ProtocolVersion::v311);
    h.publish(pub, "p/1", "lost", 1, false, 61);
    h.fail_pending();
    CHECK(h.trace(pub) == Strings{"CLOSE"});
  }
  CHECK(h.stats().storage_failures == 1);
  CHECK(h.stats().acks_waiting == 0);
  CHECK_FALSE(h.inbox(bystander).closed());
}

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

TEST_CASE("restore: inbound QoS 2 ids awaiting PUBREL survive; the duplicate is not routed",
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

TEST_CASE("restore: retained messages come back with their properties; cleared ones do not",
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
  CHECK(pubs[0].msg->props.content_type == std::optional<std::string>("text/plain"));
  CHECK(pubs[0].msg->props.user_properties == props.user_properties);  // [MQTT-3.3.2-18]
  CHECK(pubs[0].msg->props.payload_format_indicator == std::optional<std::uint8_t>(1));
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

TEST_CASE("expiry: a session that ended during the downtime is gone; others keep their countdown",
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

// ---------------------------------------------------------------------------------------
// 4. The RAM window of a queue
// ---------------------------------------------------------------------------------------

TEST_CASE("window: 1000 queued messages, 8 in RAM, all delivered in order",
          "[core][persist][window]") {
  storage::MemoryStore store;
  PersistHarness h(&store, auto_commit_setup(8));
  const ConnId q = h.connect(persistent_args("q"));
  h.subscribe(q, "q/#", 1);
  h.disconnect(q);
  const ConnId pub = h.connect("pub");
  for (int i = 0; i < 1000; ++i) h.publish(pub, "q/x", std::to_string(i), 1);
  CHECK(h.stats().queued_messages == 1000);
  CHECK(h.stats().queued_on_disk >= 1000 - 8);
  CHECK(h.stats().queued_on_disk <= 1000);

  SECTION("drained in one go") {
    ConnectArgs a = persistent_args("q");
    a.props.receive_maximum = 10;
    const ConnId q2 = h.connect(a);
    CHECK(h.ack_all(q2) == numbers(0, 1000));
    CHECK(h.stats().queued_messages == 0);
    CHECK(h.stats().queued_on_disk == 0);
    h.restart();  // nothing comes back
    const ConnId q3 = h.connect(persistent_args("q"));
    CHECK(h.trace(q3).empty());
  }
  SECTION("restored while the queue is on disk") {
    h.restart();
    CHECK(h.stats().queued_messages == 1000);
    CHECK(h.stats().queued_on_disk >= 1000 - 8);
    const ConnId q2 = h.connect(persistent_args("q"));
    CHECK(h.ack_all(q2) == numbers(0, 1000));
  }
  SECTION("a restart in the middle of draining") {
    ConnectArgs a = persistent_args("q");
    a.props.receive_maximum = 10;
    const ConnId q2 = h.connect(a);
    Strings acked;
    std::vector<SendPublish> unacked;
    while (acked.size() < 500) {
      const auto pubs = h.inbox(q2).publishes();
      h.clear(q2);
      REQUIRE(!pubs.empty());
      for (const auto& p : pubs) {
        CHECK_FALSE(p.dup);
        if (acked.size() < 500) {
          acked.push_back(p.msg->payload);
          h.puback(q2, p.packet_id);
        } else {
          unacked.push_back(p);
        }
      }
    }
    for (const auto& p : h.inbox(q2).publishes()) unacked.push_back(p);
    CHECK(acked == numbers(0, 500));
    REQUIRE(!unacked.empty());
    CHECK(unacked.size() <= 10);

    h.restart();
    CHECK(h.stats().queued_messages == 1000 - 500 - unacked.size());
    const ConnId q3 = h.connect(persistent_args("q"));
    const auto first = h.inbox(q3).publishes();
    REQUIRE(first.size() >= unacked.size());
    for (std::size_t i = 0; i < unacked.size(); ++i) {  // resent first, same ids, DUP
      CHECK(first[i].msg->payload == unacked[i].msg->payload);
      CHECK(first[i].packet_id == unacked[i].packet_id);
      CHECK(first[i].dup);
    }
    const Strings rest = h.ack_all(q3);
    Strings all = acked;
    for (std::string s : rest) {
      if (!s.empty() && s.back() == '*') s.pop_back();
      all.push_back(s);
    }
    CHECK(all == numbers(0, 1000));  // none lost, none twice
    CHECK(h.stats().queued_on_disk == 0);
  }
}

TEST_CASE("window: draining while the appends are not yet committed loses nothing",
          "[core][persist][window]") {
  storage::MemoryStore store;
  PersistSetup s;
  s.queue_window = 8;
  PersistHarness h(&store, s);
  const ConnId q = h.connect(persistent_args("q"));
  h.subscribe(q, "q/#", 1);
  h.disconnect(q);
  h.commit();
  const ConnId pub = h.connect("pub");
  for (int i = 0; i < 100; ++i) h.publish(pub, "q/x", std::to_string(i), 1);
  CHECK(h.inbox(pub).packets<codec::Puback>().empty());
  // The storage thread lags: the subscriber drains before anything reached the store.
  // What is beyond the RAM window cannot be read back yet; delivery may pause until the
  // commit, but nothing is skipped, reordered or sent twice.
  ConnectArgs a = persistent_args("q");
  a.props.receive_maximum = 4;
  const ConnId q2 = h.connect(a);
  Strings got = h.ack_all(q2);
  for (int i = 100; i < 150; ++i) h.publish(pub, "q/x", std::to_string(i), 1);
  const Strings more = h.ack_all(q2);
  got.insert(got.end(), more.begin(), more.end());
  CHECK(got == numbers(0, static_cast<int>(got.size())));  // an in-order prefix so far
  for (int round = 0; round < 200 && got.size() < 150; ++round) {
    h.commit();  // the committer catches up; the session resumes
    const Strings next = h.ack_all(q2);
    got.insert(got.end(), next.begin(), next.end());
  }
  CHECK(got == numbers(0, 150));
  h.commit();
  CHECK(h.inbox(pub).packets<codec::Puback>().size() == 150);
  CHECK(h.stats().queued_messages == 0);
  CHECK(h.stats().queued_on_disk == 0);
  h.restart();
  const ConnId q3 = h.connect(persistent_args("q"));
  CHECK(h.trace(q3).empty());
}

TEST_CASE("window: queue limits count the entries on disk", "[core][persist][window]") {
  storage::MemoryStore store;
  PersistSetup s = auto_commit_setup(8);
  s.opts.max_queued_messages = 100;
  SECTION("drop_oldest") {
    s.opts.overflow = OverflowPolicy::DropOldest;
    PersistHarness h(&store, s);
    const ConnId q = h.connect(persistent_args("q"));
    h.subscribe(q, "q/#", 1);
    h.disconnect(q);
    const ConnId pub = h.connect("pub");
    for (int i = 0; i < 1000; ++i) h.publish(pub, "q/x", std::to_string(i), 1);
    CHECK(h.stats().queued_messages == 100);
    CHECK(h.stats().dropped_queue_full == 900);
    CHECK(h.stats().queued_on_disk >= 100 - 8);
    SECTION("drained") {
      const ConnId q2 = h.connect(persistent_args("q"));
      CHECK(h.ack_all(q2) == numbers(900, 1000));
    }
    SECTION("after a restart the limit still counts them") {
      h.restart();
      CHECK(h.stats().queued_messages == 100);
      const ConnId pub2 = h.connect("pub");
      h.publish(pub2, "q/x", "1000", 1);
      CHECK(h.stats().queued_messages == 100);
      CHECK(h.stats().dropped_queue_full == 1);
      const ConnId q2 = h.connect(persistent_args("q"));
      CHECK(h.ack_all(q2) == numbers(901, 1001));
    }
  }
  SECTION("drop_newest") {
    s.opts.overflow = OverflowPolicy::DropNewest;
    PersistHarness h(&store, s);
    const ConnId q = h.connect(persistent_args("q"));
    h.subscribe(q, "q/#", 1);
    h.disconnect(q);
    const ConnId pub = h.connect("pub");
    for (int i = 0; i < 1000; ++i) h.publish(pub, "q/x", std::to_string(i), 1);
    CHECK(h.stats().queued_messages == 100);
    CHECK(h.stats().dropped_queue_full == 900);
    h.restart();
    const ConnId pub2 = h.connect("pub");
    h.publish(pub2, "q/x", "1000", 1);
    CHECK(h.stats().dropped_queue_full == 1);
    const ConnId q2 = h.connect(persistent_args("q"));
    CHECK(h.ack_all(q2) == numbers(0, 100));
  }
}

// ---------------------------------------------------------------------------------------
// 5. Nothing to write
// ---------------------------------------------------------------------------------------

TEST_CASE("persist: QoS 0 between online clients writes nothing", "[core][persist]") {
  storage::MemoryStore store;
  PersistHarness h(&store, {});
  const ConnId sub = h.connect(persistent_args("sub"));
  h.subscribe(sub, "t/#", 1);
  const ConnId pub = h.connect(persistent_args("pub"));
  h.commit();
  const auto writes = store.stats().writes;
  for (int i = 0; i < 50; ++i) h.publish(pub, "t/x", std::to_string(i), 0);
  CHECK(h.payloads(sub) == numbers(0, 50));
  CHECK(h.pending() == 0);
  CHECK(store.stats().writes == writes);
}

TEST_CASE("persist: without enable_persistence nothing is ever requested", "[core][persist]") {
  storage::MemoryStore store;
  PersistSetup s;
  s.persistence = false;
  PersistHarness h(&store, s);
  const ConnId sub = h.connect(persistent_args("sub"));
  h.subscribe(sub, "t/#", 2);
  h.disconnect(sub);
  const ConnId pub = h.connect(persistent_args("pub"));
  h.publish(pub, "t/1", "a", 1, false, 1);
  h.publish(pub, "t/2", "b", 2, true, 2);
  h.pubrel(pub, 2);
  h.publish(pub, "r/1", "c", 1, true, 3);
  // Acked at once: nothing waits for a commit that will never come.
  CHECK(h.trace(pub) ==
        Strings{"PUBACK 1 ok", "PUBREC 2 ok", "PUBCOMP 2 rc=0", "PUBACK 3 ok"});
  CHECK(h.pending() == 0);
  CHECK(h.stats().acks_waiting == 0);
  const ConnId sub2 = h.connect(persistent_args("sub"));
  CHECK(h.ack_all(sub2) == Strings{"a", "b"});
  CHECK(h.pending() == 0);
  CHECK(store.stats().writes == 0);
}

// ---------------------------------------------------------------------------------------
// The same with LevelDB on disk: a queue longer than the window read back from the files.
// ---------------------------------------------------------------------------------------

TEST_CASE("restore from LevelDB: session, queue past the window, in-flight and retained",
          "[core][persist][leveldb]") {
  PersistTempDir dir;
  REQUIRE(!dir.path().empty());
  storage::LevelDbOptions lo;
  lo.path = dir.path() + "/db";
  std::unique_ptr<storage::LevelDbStore> db;
  std::optional<storage::Recovery> recovered;
  REQUIRE(storage::LevelDbStore::open(lo, db, recovered).ok());

  PersistHarness h(db.get(), auto_commit_setup(4));
  ConnectArgs a = persistent_args("sub");
  a.props.receive_maximum = 2;
  const ConnId sub = h.connect(a);
  h.subscribe(sub, "l/#", 1, {}, 3);
  const ConnId pub = h.connect("pub");
  h.publish(pub, "l/r", "keep", 1, true);
  for (int i = 0; i < 40; ++i) h.publish(pub, "l/x", std::to_string(i), 1);
  const auto inflight = h.inbox(sub).publishes();
  REQUIRE(inflight.size() == 2);  // "keep" and "0" in flight, the rest queued

  h.crash();
  db.reset();  // closes the files, as the process exit would
  REQUIRE(storage::LevelDbStore::open(lo, db, recovered).ok());
  CHECK_FALSE(recovered.has_value());
  h.restart(std::chrono::seconds(5), db.get());
  CHECK(h.restore_stats().sessions_restored == 1);
  CHECK(h.stats().retained_messages == 1);
  CHECK(h.stats().queued_messages == 39);

  const ConnId sub2 = h.connect(persistent_args("sub"));
  const auto first = h.inbox(sub2).publishes();
  REQUIRE(first.size() >= 2);
  CHECK(first[0].packet_id == inflight[0].packet_id);
  CHECK(first[0].subscription_ids == std::vector<std::uint32_t>{3});
  Strings expect{"keep*", "0*"};
  for (const auto& x : numbers(1, 40)) expect.push_back(x);
  CHECK(h.ack_all(sub2) == expect);

  const ConnId r = h.connect("r");
  h.subscribe(r, "l/r", 0);
  CHECK(h.payloads(r) == Strings{"keep"});
}

}  // namespace
}  // namespace tern::core::test
