// The Store contract, run against MemoryStore and LevelDbStore (real LevelDB in /tmp).
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "storage_test_util.hpp"

using namespace tern::storage;
using namespace tern::storage::test;

namespace {

struct MemoryFixture {
  MemoryFixture() : store_(std::make_unique<MemoryStore>()) {}
  Store& store() { return *store_; }
  // A memory store has nothing to reopen: its state simply persists in the object.
  void reopen() {}

  std::unique_ptr<MemoryStore> store_;
};

struct LevelDbFixture {
  LevelDbFixture() { open(); }
  Store& store() { return *store_; }
  void reopen() {
    store_.reset();
    open();
  }
  void open() {
    LevelDbOptions o;
    o.path = dir_.db_path();
    std::optional<Recovery> rec;
    REQUIRE(LevelDbStore::open(o, store_, rec).ok());
    REQUIRE_FALSE(rec.has_value());
  }

  TempDir dir_;
  std::unique_ptr<LevelDbStore> store_;
};

Loaded load_all(Store& s, LoadOptions opts = {}) {
  Loaded v;
  LoadStats stats;
  REQUIRE(s.load(v, opts, stats).ok());
  CHECK(stats.bad_records == 0);
  CHECK(stats.orphans == 0);
  CHECK_FALSE(stats.recovered.has_value());
  CHECK(stats.sessions == v.sessions.size());
  CHECK(stats.retained == v.retained.size());
  return v;
}

void commit(Store& s, const Batch& b) { REQUIRE(s.write(b, true).ok()); }

void append(Batch& b, const std::string& client, std::uint64_t seq, const StoredMessage& m,
            std::uint8_t qos = 1, std::vector<std::uint32_t> ids = {}) {
  b.append_queue(client, seq, Delivery{qos, false, ids}, m.view());
}

std::vector<std::uint64_t> seqs(const std::vector<QueueEntry>& v) {
  std::vector<std::uint64_t> out;
  for (const QueueEntry& e : v) out.push_back(e.seq);
  return out;
}

}  // namespace

TEMPLATE_TEST_CASE("store: a new store is empty", "[storage][contract]", MemoryFixture,
                   LevelDbFixture) {
  TestType f;
  Loaded v = load_all(f.store());
  CHECK(v.sessions.empty());
  CHECK(v.retained.empty());
  ClockRecord c;
  CHECK(f.store().read_clock(c).is_not_found());
  std::vector<QueueEntry> out;
  REQUIRE(f.store().read_queue("nobody", 0, 10, 1 << 20, out).ok());
  CHECK(out.empty());
}

TEMPLATE_TEST_CASE("store: sessions round trip with every field", "[storage][contract]",
                   MemoryFixture, LevelDbFixture) {
  TestType f;
  const SessionRecord full = full_session("dev-1");
  SessionRecord v311;
  v311.client_id = "old";
  v311.version = tern::codec::ProtocolVersion::v311;
  v311.expiry_interval = 0xFFFFFFFF;
  SessionRecord no_delay = full_session("dev-2");
  no_delay.will->props.will_delay_interval.reset();
  no_delay.will_due.reset();
  no_delay.expires_at.reset();
  SessionRecord utf8 = full_session("g\xC3\xA9r\xC3\xA9 / + # $");  // any UTF-8 but U+0000
  utf8.will->topic = "status/g\xC3\xA9r\xC3\xA9";
  utf8.will->payload.clear();
  utf8.will->qos = 0;

  Batch b;
  b.put_session(full);
  b.put_session(v311);
  b.put_session(no_delay);
  b.put_session(utf8);
  REQUIRE(b.status().ok());
  commit(f.store(), b);
  f.reopen();

  Loaded v = load_all(f.store());
  REQUIRE(v.sessions.size() == 4);
  CHECK(v.sessions["dev-1"].record == full);
  CHECK(v.sessions["old"].record == v311);
  CHECK(v.sessions["dev-2"].record == no_delay);
  CHECK(v.sessions[utf8.client_id].record == utf8);
  // Sessions come in client-id order.
  CHECK(v.order == std::vector<std::string>{"dev-1", "dev-2", utf8.client_id, "old"});

  // Replacing a session keeps one record with the new content.
  SessionRecord changed = full;
  changed.subscriptions.pop_back();
  changed.will.reset();
  changed.will_due.reset();
  changed.inbound_qos2.clear();
  Batch b2;
  b2.put_session(changed);
  commit(f.store(), b2);
  Loaded v2 = load_all(f.store());
  CHECK(v2.sessions.size() == 4);
  CHECK(v2.sessions["dev-1"].record == changed);
}

TEMPLATE_TEST_CASE("store: messages keep topic, payload, flags and PUBLISH properties",
                   "[storage][contract]", MemoryFixture, LevelDbFixture) {
  TestType f;
  const StoredMessage full = full_message("a/b", std::string("bin\0ary\xFF", 8), 2);
  StoredMessage empty = plain_message("e", "", 0);
  empty.origin_client_id.clear();
  StoredMessage big = plain_message("big", std::string(1 << 20, 'x'), 1);
  // Per-connection / per-delivery properties are not part of the stored message
  // [MQTT-3.3.2-7], [MQTT-3.3.4-6].
  StoredMessage with_alias = full_message("alias", "p", 1);
  with_alias.props.topic_alias = 5;
  with_alias.props.subscription_identifiers = {1, 2};

  Batch b;
  b.put_session(full_session("c"));
  append(b, "c", 1, full, 2, {3, 268'435'455});
  append(b, "c", 2, empty, 0);
  append(b, "c", 3, big, 1);
  append(b, "c", 4, with_alias, 1);
  commit(f.store(), b);
  f.reopen();

  LoadOptions lo;
  lo.queue_window_bytes = 4 << 20;
  Loaded v = load_all(f.store(), lo);
  const LoadedSession& s = v.sessions["c"];
  REQUIRE(s.head.size() == 4);
  CHECK(s.head[0].message == full);
  CHECK(s.head[0].qos == 2);
  CHECK(s.head[0].subscription_ids == std::vector<std::uint32_t>{3, 268'435'455});
  CHECK(s.head[1].message == empty);
  CHECK(s.head[1].qos == 0);
  CHECK(s.head[2].message == big);
  StoredMessage expected = with_alias;
  expected.props.topic_alias.reset();
  expected.props.subscription_identifiers.clear();
  CHECK(s.head[3].message == expected);
  CHECK(s.info.bytes == full.topic.size() + full.payload.size() + 1 + 3 + (1u << 20) + 5 + 1);
}

TEMPLATE_TEST_CASE("store: queues keep their order across reopen", "[storage][contract]",
                   MemoryFixture, LevelDbFixture) {
  TestType f;
  {
    Batch b;
    b.put_session(full_session("q"));
    commit(f.store(), b);
  }
  // 300 entries over 30 batches; sequence numbers cross byte boundaries (255 -> 256) so a
  // key encoding that does not sort numerically would show.
  std::uint64_t seq = 200;
  for (int i = 0; i < 30; ++i) {
    Batch b;
    for (int j = 0; j < 10; ++j, ++seq) {
      append(b, "q", seq, plain_message("t/" + std::to_string(seq), std::to_string(seq)));
    }
    commit(f.store(), b);
  }
  {
    Batch b;
    b.remove_queue("q", 200);             // the head, as delivery pops it
    b.remove_queue_range("q", 300, 309);  // a dropped range
    commit(f.store(), b);
  }
  f.reopen();

  LoadOptions lo;
  lo.queue_window = 50;
  Loaded v = load_all(f.store(), lo);
  const LoadedSession& s = v.sessions["q"];
  CHECK(s.info.count == 289);
  CHECK(s.info.first_seq == 201);
  CHECK(s.info.last_seq == 499);
  REQUIRE(s.head.size() == 50);
  for (std::size_t i = 0; i < s.head.size(); ++i) {
    CHECK(s.head[i].seq == 201 + i);
    CHECK(s.head[i].message.payload == std::to_string(201 + i));
  }

  // The rest, window by window, from where the head ended.
  std::vector<QueueEntry> all = s.head;
  for (;;) {
    std::vector<QueueEntry> w;
    REQUIRE(f.store().read_queue("q", all.back().seq + 1, 64, 1 << 20, w).ok());
    if (w.empty()) break;
    CHECK(w.size() <= 64);
    all.insert(all.end(), w.begin(), w.end());
  }
  REQUIRE(all.size() == 289);
  for (std::size_t i = 1; i < all.size(); ++i) CHECK(all[i - 1].seq < all[i].seq);
  for (const QueueEntry& e : all) CHECK((e.seq < 300 || e.seq > 309));
}

TEMPLATE_TEST_CASE("store: read_queue honours its count and byte limits", "[storage][contract]",
                   MemoryFixture, LevelDbFixture) {
  TestType f;
  Batch b;
  b.put_session(full_session("w"));
  for (std::uint64_t seq = 1; seq <= 10; ++seq) {
    append(b, "w", seq, plain_message("tt", std::string(98, 'p')));  // 100 bytes each
  }
  // A neighbour whose key shares the prefix "w": must never show up in w's queue.
  b.put_session(full_session("w2"));
  append(b, "w2", 1, plain_message("x", "y"));
  commit(f.store(), b);

  std::vector<QueueEntry> out;
  REQUIRE(f.store().read_queue("w", 0, 3, 1 << 20, out).ok());
  CHECK(seqs(out) == std::vector<std::uint64_t>{1, 2, 3});
  out.clear();
  REQUIRE(f.store().read_queue("w", 5, 100, 250, out).ok());
  CHECK(seqs(out) == std::vector<std::uint64_t>{5, 6, 7});  // stops once 250 is reached
  out.clear();
  REQUIRE(f.store().read_queue("w", 9, 100, 1, out).ok());
  CHECK(seqs(out) == std::vector<std::uint64_t>{9});  // always the first one
  out.clear();
  REQUIRE(f.store().read_queue("w", 11, 100, 1 << 20, out).ok());
  CHECK(out.empty());
  REQUIRE(f.store().read_queue("w", 0, 0, 1 << 20, out).ok());
  CHECK(out.empty());

  LoadOptions lo;
  lo.queue_window = 100;
  lo.queue_window_bytes = 300;
  Loaded v = load_all(f.store(), lo);
  CHECK(v.sessions["w"].head.size() == 3);  // the byte bound of the window
  CHECK(v.sessions["w"].info.count == 10);
  CHECK(v.sessions["w"].info.bytes == 1000);
  CHECK(v.sessions["w2"].info.count == 1);
}

TEMPLATE_TEST_CASE("store: in-flight flows round trip in send order", "[storage][contract]",
                   MemoryFixture, LevelDbFixture) {
  TestType f;
  const StoredMessage m1 = full_message("f/1", "one", 1);
  const StoredMessage m2 = plain_message("f/2", "two", 2);
  const StoredMessage m3 = plain_message("f/3", "three", 2);
  const std::vector<std::uint32_t> ids{4, 9};
  Batch b;
  b.put_session(full_session("inf"));
  // Packet ids wrapped: 65535 was sent before 1 and 2.
  b.put_inflight("inf", InflightInfo{65535, 10, InflightStage::await_puback, {1, true, ids}},
                 m1.view());
  b.put_inflight("inf", InflightInfo{1, 11, InflightStage::await_pubrec, {2, false, {}}},
                 m2.view());
  b.put_inflight("inf", InflightInfo{2, 12, InflightStage::await_pubrec, {2, false, {}}},
                 m3.view());
  REQUIRE(b.status().ok());
  commit(f.store(), b);
  f.reopen();

  Loaded v = load_all(f.store());
  const auto& fl = v.sessions["inf"].inflight;
  REQUIRE(fl.size() == 3);
  CHECK(fl[0].packet_id == 65535);
  CHECK(fl[0].order == 10);
  CHECK(fl[0].stage == InflightStage::await_puback);
  CHECK(fl[0].qos == 1);
  CHECK(fl[0].retain);
  CHECK(fl[0].subscription_ids == ids);
  CHECK(fl[0].message == m1);
  CHECK(fl[1].packet_id == 1);
  CHECK(fl[1].stage == InflightStage::await_pubrec);
  CHECK(fl[1].message == m2);
  CHECK(fl[2].packet_id == 2);

  // PUBREC for id 1: the stage changes and the message need not be rewritten; PUBACK for
  // 65535: the flow goes.
  Batch b2;
  b2.put_inflight("inf", InflightInfo{1, 11, InflightStage::await_pubcomp, {2, false, {}}});
  b2.delete_inflight("inf", 65535);
  commit(f.store(), b2);
  f.reopen();
  Loaded v2 = load_all(f.store());
  const auto& fl2 = v2.sessions["inf"].inflight;
  REQUIRE(fl2.size() == 2);
  CHECK(fl2[0].packet_id == 1);
  CHECK(fl2[0].stage == InflightStage::await_pubcomp);
  CHECK_FALSE(fl2[0].message.has_value());
  CHECK(fl2[1].packet_id == 2);
  CHECK(fl2[1].message == m3);
}

TEMPLATE_TEST_CASE("store: retained messages are put, replaced and deleted", "[storage][contract]",
                   MemoryFixture, LevelDbFixture) {
  TestType f;
  Batch b;
  b.put_retained(full_message("home/temp", "20", 1).view());
  b.put_retained(plain_message("home/hum", "40", 0).view());
  b.put_retained(plain_message("$SYS/x", "s", 0).view());
  commit(f.store(), b);
  f.reopen();
  Loaded v = load_all(f.store());
  REQUIRE(v.retained.size() == 3);
  CHECK(v.retained["home/temp"] == full_message("home/temp", "20", 1));
  CHECK(v.retained["$SYS/x"].payload == "s");

  Batch b2;
  b2.put_retained(plain_message("home/temp", "21", 2).view());  // replace [MQTT-3.3.1-5]
  b2.delete_retained("home/hum");
  b2.delete_retained("never/stored");
  commit(f.store(), b2);
  f.reopen();
  Loaded v2 = load_all(f.store());
  REQUIRE(v2.retained.size() == 2);
  CHECK(v2.retained["home/temp"] == plain_message("home/temp", "21", 2));
  CHECK(v2.retained.count("home/hum") == 0);
}

TEMPLATE_TEST_CASE("store: within one group the last op per key wins, superseded puts are "
                   "not written",
                   "[storage][contract]", MemoryFixture, LevelDbFixture) {
  TestType f;
  const std::string big(4096, 'x');
  // A message put and deleted within one group (sent and acknowledged before the commit)
  // never reaches the log: the group writes far less than the payload.
  Batch put;
  put.put_retained(plain_message("gone", big, 1).view());
  put.put_retained(plain_message("back", "old", 1).view());
  Batch del;
  del.delete_retained("gone");
  del.delete_retained("back");
  Batch again;
  again.put_retained(plain_message("back", "new", 1).view());
  const Batch* group[] = {&put, &del, &again};
  const std::uint64_t before = f.store().stats().bytes_written;
  REQUIRE(f.store().write_group(std::span<const Batch* const>(group, 3), true).ok());
  CHECK(f.store().stats().bytes_written - before < big.size());
  f.reopen();
  Loaded v = load_all(f.store());
  CHECK(v.retained.count("gone") == 0);
  REQUIRE(v.retained.count("back") == 1);
  CHECK(v.retained["back"].payload == "new");
}

TEMPLATE_TEST_CASE("store: a key inserted and deleted within one group is never written, a "
                   "stored key is still deleted",
                   "[storage][contract]", MemoryFixture, LevelDbFixture) {
  TestType f;
  const std::string big(4096, 'x');
  const StoredMessage m = plain_message("t", big);
  const InflightInfo flow{7, 1, InflightStage::await_puback, {1, false, {}}};
  {
    Batch b;
    b.put_session(full_session("c"));
    append(b, "c", 1, m);  // stays: stored before the group below
    b.add_inflight("c", InflightInfo{9, 1, InflightStage::await_puback, {1, false, {}}},
                   m.view());  // stays
    commit(f.store(), b);
  }
  // Queued, moved into flight and acknowledged before the commit: nothing reaches the log
  // but the delete of the entry stored earlier.
  Batch b1;
  append(b1, "c", 2, m);
  Batch b2;
  b2.remove_queue("c", 1);
  b2.remove_queue("c", 2);
  b2.add_inflight("c", flow, m.view());
  Batch b3;
  b3.delete_inflight("c", 7);
  b3.delete_inflight("c", 9);
  // Inserted, deleted and inserted again: the last insert stays.
  Batch b4;
  b4.add_inflight("c", InflightInfo{8, 2, InflightStage::await_puback, {1, false, {}}},
                  m.view());
  b4.delete_inflight("c", 8);
  b4.add_inflight("c", InflightInfo{8, 3, InflightStage::await_pubrec, {2, false, {}}},
                  m.view());
  // A plain put over a stored key (a PUBREC's stage change) then a delete: the delete is
  // written, the stored record must go.
  Batch b0;
  b0.add_inflight("c", InflightInfo{5, 4, InflightStage::await_pubrec, {2, false, {}}},
                  m.view());
  commit(f.store(), b0);
  Batch b5;
  b5.put_inflight("c", InflightInfo{5, 4, InflightStage::await_pubcomp, {2, false, {}}});
  b5.delete_inflight("c", 5);
  const Batch* group[] = {&b1, &b2, &b3, &b4, &b5};
  const StoreStats before = f.store().stats();
  REQUIRE(f.store().write_group(std::span<const Batch* const>(group, 5), true).ok());
  const StoreStats after = f.store().stats();
  // One message written (the insert of id 8), not the three others.
  CHECK(after.bytes_written - before.bytes_written < 2 * big.size());
  CHECK(after.bytes_written - before.bytes_written > big.size());
  CHECK(after.writes == before.writes + 1);
  f.reopen();
  Loaded v = load_all(f.store());
  REQUIRE(v.sessions.count("c") == 1);
  CHECK(v.sessions["c"].info.count == 0);
  const auto& fl = v.sessions["c"].inflight;
  REQUIRE(fl.size() == 1);
  CHECK(fl[0].packet_id == 8);
  CHECK(fl[0].order == 3);
  CHECK(fl[0].stage == InflightStage::await_pubrec);

  // A group that cancels out entirely writes nothing and is still a success.
  Batch c1;
  c1.add_inflight("c", flow, m.view());
  append(c1, "c", 3, m);
  Batch c2;
  c2.delete_inflight("c", 7);
  c2.remove_queue("c", 3);
  const Batch* group2[] = {&c1, &c2};
  const StoreStats before2 = f.store().stats();
  REQUIRE(f.store().write_group(std::span<const Batch* const>(group2, 2), true).ok());
  const StoreStats after2 = f.store().stats();
  CHECK(after2.writes == before2.writes);
  CHECK(after2.bytes_written == before2.bytes_written);
  CHECK(after2.batches == before2.batches + 2);
  f.reopen();
  Loaded v2 = load_all(f.store());
  CHECK(v2.sessions["c"].inflight.size() == 1);
  CHECK(v2.sessions["c"].info.count == 0);
}

TEMPLATE_TEST_CASE("store: records encoded at write time keep the message alive and match the "
                   "ones encoded at once",
                   "[storage][contract]", MemoryFixture, LevelDbFixture) {
  TestType f;
  const StoredMessage expect = full_message("later/t", "payload", 2);
  const std::vector<std::uint32_t> ids{3, 70000};
  auto shared = std::make_shared<StoredMessage>(expect);
  Batch b;
  b.put_session(full_session("c"));
  // The batch holds the only reference once the caller lets go; the ids are copied.
  {
    std::vector<std::uint32_t> scratch = ids;
    b.append_queue("c", 1, Delivery{2, true, scratch}, shared->view(), shared);
    b.add_inflight("c", InflightInfo{5, 9, InflightStage::await_pubrec, {2, false, scratch}},
                   shared->view(), shared);
    scratch.assign(8, 0);
  }
  // Cancelled within the batch: never encoded, never written.
  b.add_inflight("c", InflightInfo{6, 10, InflightStage::await_puback, {1, false, {}}},
                 shared->view(), shared);
  b.delete_inflight("c", 6);
  std::weak_ptr<StoredMessage> alive = shared;
  shared.reset();
  CHECK_FALSE(alive.expired());
  CHECK(b.byte_size() > 2 * expect.payload.size());  // counted before it is encoded
  REQUIRE(b.status().ok());
  commit(f.store(), b);
  b.clear();
  CHECK(alive.expired());
  f.reopen();
  Loaded v = load_all(f.store());
  const LoadedSession& ls = v.sessions["c"];
  REQUIRE(ls.head.size() == 1);
  CHECK(ls.head[0].seq == 1);
  CHECK(ls.head[0].qos == 2);
  CHECK(ls.head[0].retain);
  CHECK(ls.head[0].subscription_ids == ids);
  CHECK(ls.head[0].message == expect);
  REQUIRE(ls.inflight.size() == 1);
  CHECK(ls.inflight[0].packet_id == 5);
  CHECK(ls.inflight[0].order == 9);
  CHECK(ls.inflight[0].stage == InflightStage::await_pubrec);
  CHECK(ls.inflight[0].qos == 2);
  CHECK(ls.inflight[0].subscription_ids == ids);
  CHECK(ls.inflight[0].message == expect);

  // Invalid input is refused at once, as for records encoded at once.
  Batch bad;
  StoredMessage wild = plain_message("a/+", "x");
  bad.append_queue("c", 2, Delivery{1, false, {}}, wild.view(),
                   std::make_shared<StoredMessage>(wild));
  CHECK(bad.status().code() == StatusCode::invalid_argument);
}

TEMPLATE_TEST_CASE("store: a range delete catches keys inserted earlier in the group",
                   "[storage][contract]", MemoryFixture, LevelDbFixture) {
  TestType f;
  const StoredMessage m = plain_message("t", "p");
  {
    Batch b;
    b.put_session(full_session("c"));
    append(b, "c", 1, m);
    commit(f.store(), b);
  }
  Batch b1;
  append(b1, "c", 2, m);
  b1.add_inflight("c", InflightInfo{3, 1, InflightStage::await_puback, {1, false, {}}},
                  m.view());
  Batch b2;
  b2.clear_queue("c");
  // Inserted after the range delete: stays.
  append(b2, "c", 3, m);
  const Batch* group[] = {&b1, &b2};
  REQUIRE(f.store().write_group(std::span<const Batch* const>(group, 2), true).ok());
  f.reopen();
  Loaded v = load_all(f.store());
  REQUIRE(v.sessions.count("c") == 1);
  CHECK(seqs(v.sessions["c"].head) == std::vector<std::uint64_t>{3});
  CHECK(v.sessions["c"].inflight.size() == 1);
}

TEMPLATE_TEST_CASE("store: deleting a session removes its queue and in-flight flows only",
                   "[storage][contract]", MemoryFixture, LevelDbFixture) {
  TestType f;
  const StoredMessage m = plain_message("t", "p");
  Batch b;
  // Client ids that are prefixes of each other, or of each other's keys.
  for (const char* c : {"a", "ab", "a/b", "b"}) {
    b.put_session(full_session(c));
    for (std::uint64_t seq = 1; seq <= 5; ++seq) append(b, c, seq, m);
    b.put_inflight(c, InflightInfo{7, 1, InflightStage::await_puback, {1, false, {}}}, m.view());
  }
  b.put_retained(m.view());
  commit(f.store(), b);

  Batch del;
  del.delete_session("a");
  commit(f.store(), del);
  f.reopen();
  Loaded v = load_all(f.store());  // also checks: no orphans left behind
  CHECK(v.order == std::vector<std::string>{"a/b", "ab", "b"});
  for (const char* c : {"ab", "a/b", "b"}) {
    CHECK(v.sessions[c].info.count == 5);
    CHECK(v.sessions[c].inflight.size() == 1);
  }
  CHECK(v.retained.size() == 1);
  std::vector<QueueEntry> out;
  REQUIRE(f.store().read_queue("a", 0, 100, 1 << 20, out).ok());
  CHECK(out.empty());

  // clear_queue empties one queue and keeps the session.
  Batch clear;
  clear.clear_queue("ab");
  commit(f.store(), clear);
  Loaded v2 = load_all(f.store());
  CHECK(v2.sessions["ab"].info.count == 0);
  CHECK(v2.sessions["ab"].inflight.size() == 1);
  CHECK(v2.sessions["a/b"].info.count == 5);
}

TEMPLATE_TEST_CASE("store: a batch is atomic: an invalid op writes nothing", "[storage][contract]",
                   MemoryFixture, LevelDbFixture) {
  TestType f;
  const StoredMessage m = plain_message("t", "p");
  Batch good;
  good.put_session(full_session("ok"));
  append(good, "ok", 1, m);

  Batch bad;
  bad.put_retained(m.view());
  bad.put_session(full_session(std::string("nul\0id", 6)));  // U+0000 [MQTT-1.5.4-2]
  bad.put_retained(plain_message("after", "x").view());
  CHECK(bad.status().code() == StatusCode::invalid_argument);

  const Batch* group[] = {&good, &bad};
  Status s = f.store().write_group(group, true);
  CHECK(s.code() == StatusCode::invalid_argument);
  Loaded v = load_all(f.store());
  CHECK(v.sessions.empty());
  CHECK(v.retained.empty());
  CHECK(f.store().stats().writes == 0);

  // Each kind of bad input is refused.
  StoredMessage qos3 = m;
  qos3.qos = 3;
  StoredMessage bad_response = m;
  bad_response.props.response_topic = "reply/#";  // [MQTT-3.3.2-14]
  SessionRecord wild_will = full_session("w");
  wild_will.will->topic = "will/+";  // a topic name has no wildcards [MQTT-3.3.2-2]
  Batch b1, b2, b3, b4, b5, b6, b7, b8;
  b1.put_retained(qos3.view());
  b2.put_retained(plain_message("", "x").view());
  b3.put_inflight("c", InflightInfo{0, 1, InflightStage::await_puback, {1, false, {}}}, m.view());
  b4.put_inflight("c", InflightInfo{1, 1, InflightStage::await_puback, {1, false, {}}});
  b5.append_queue("c", 1, Delivery{3, false, {}}, m.view());
  b6.put_retained(plain_message("a/#", "x").view());
  b7.append_queue("c", 1, Delivery{1, false, {}}, bad_response.view());
  b8.put_session(wild_will);
  for (const Batch* x : {&b1, &b2, &b3, &b4, &b5, &b6, &b7, &b8}) {
    CHECK(x->status().code() == StatusCode::invalid_argument);
    CHECK(f.store().write(*x, false).code() == StatusCode::invalid_argument);
  }
}

TEMPLATE_TEST_CASE("store: ops apply in order within a group", "[storage][contract]", MemoryFixture,
                   LevelDbFixture) {
  TestType f;
  const StoredMessage m = plain_message("t", "p");
  // Appended then deleted within one group: the range delete must also catch keys that
  // the same group put earlier (they are not yet visible in the store).
  Batch b1;
  b1.put_session(full_session("gone"));
  append(b1, "gone", 1, m);
  b1.put_inflight("gone", InflightInfo{3, 1, InflightStage::await_puback, {1, false, {}}},
                  m.view());
  Batch b2;
  b2.delete_session("gone");
  // Deleted then recreated: the later ops win.
  Batch b3;
  b3.put_session(full_session("back"));
  append(b3, "back", 1, m);
  Batch b4;
  b4.delete_session("back");
  b4.put_session(full_session("back"));
  append(b4, "back", 2, m);
  const Batch* group[] = {&b1, &b2, &b3, &b4};
  REQUIRE(f.store().write_group(group, true).ok());
  const StoreStats st = f.store().stats();
  CHECK(st.writes == 1);
  CHECK(st.synced_writes == 1);
  CHECK(st.batches == 4);
  CHECK(st.ops == b1.op_count() + b2.op_count() + b3.op_count() + b4.op_count());
  CHECK(st.bytes_written > 0);
  f.reopen();
  Loaded v = load_all(f.store());
  CHECK(v.sessions.count("gone") == 0);
  REQUIRE(v.sessions.count("back") == 1);
  CHECK(seqs(v.sessions["back"].head) == std::vector<std::uint64_t>{2});
}

TEMPLATE_TEST_CASE("store: the clock checkpoint round trips", "[storage][contract]", MemoryFixture,
                   LevelDbFixture) {
  TestType f;
  const ClockRecord c{at_ms(42'000), WallTime(std::chrono::milliseconds(1'700'000'000'123))};
  Batch b;
  b.put_clock(c);
  commit(f.store(), b);
  f.reopen();
  ClockRecord out;
  REQUIRE(f.store().read_clock(out).ok());
  CHECK(out == c);
}
