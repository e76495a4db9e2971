// core::Broker persistence, sans-IO: which acknowledgements wait for a durable write, what
// commits and failures do to waiting clients, the queue's RAM window, and one LevelDB
// round trip (restore_test.cpp has the restart round trips).
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

TEST_CASE("persist: PUBREC waits for the write, PUBCOMP of a persistent publisher waits too",
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

TEST_CASE("persist: after a kill -9, every acknowledged message is there, the others may not be",
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
