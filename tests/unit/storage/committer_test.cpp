// Committer: group commit, sync modes, callbacks, backpressure, shutdown.
#include "storage/committer.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "storage_test_util.hpp"

using namespace tern::storage;
using namespace tern::storage::test;
using namespace std::chrono_literals;

namespace {

// A Store whose writes can be held at a gate or made to fail; everything else goes to a
// MemoryStore.
class GateStore final : public Store {
 public:
  Status load(LoadVisitor& v, const LoadOptions& o, LoadStats& s) override {
    return inner_.load(v, o, s);
  }
  Status read_queue(std::string_view c, std::uint64_t from, std::size_t n, std::size_t bytes,
                    std::vector<QueueEntry>& out) override {
    return inner_.read_queue(c, from, n, bytes, out);
  }
  Status read_clock(ClockRecord& out) override { return inner_.read_clock(out); }
  Status write_group(std::span<const Batch* const> batches, bool sync) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++entered_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return open_ || passes_ > 0; });
    if (!open_) --passes_;
    group_sizes_.push_back(batches.size());
    if (fail_) return Status::io_error("disk on fire");
    lock.unlock();
    return inner_.write_group(batches, sync);
  }
  StoreStats stats() const override { return inner_.stats(); }

  void close_gate() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = false;
  }
  void open_gate() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // Lets `n` more writes through a closed gate.
  void pass(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    passes_ += n;
    cv_.notify_all();
  }
  void fail_writes() {
    std::lock_guard<std::mutex> lock(mu_);
    fail_ = true;
  }
  // Waits until `n` writes have reached the gate.
  void wait_entered(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return entered_ >= n; });
  }
  std::vector<std::size_t> group_sizes() {
    std::lock_guard<std::mutex> lock(mu_);
    return group_sizes_;
  }

 private:
  MemoryStore inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  bool fail_ = false;
  int passes_ = 0;
  int entered_ = 0;
  std::vector<std::size_t> group_sizes_;
};

Batch one_entry(const std::string& client, std::uint64_t seq) {
  Batch b;
  const StoredMessage m = plain_message("t/" + client, std::to_string(seq));
  b.append_queue(client, seq, Delivery{1, false, {}}, m.view());
  return b;
}

void append_one(Batch& b, const std::string& client, std::uint64_t seq, const StoredMessage& m) {
  b.append_queue(client, seq, Delivery{1, false, {}}, m.view());
}

std::unique_ptr<LevelDbStore> open_leveldb(const TempDir& dir) {
  LevelDbOptions o;
  o.path = dir.db_path();
  std::unique_ptr<LevelDbStore> s;
  std::optional<Recovery> rec;
  REQUIRE(LevelDbStore::open(o, s, rec).ok());
  return s;
}

std::uint64_t queued(Store& s, const std::string& client) {
  std::vector<QueueEntry> out;
  REQUIRE(s.read_queue(client, 0, 1'000'000, 1u << 30, out).ok());
  return out.size();
}

}  // namespace

TEST_CASE("committer: group commit merges concurrent batches into few fsynced writes",
          "[storage][committer]") {
  TempDir dir;
  auto store = open_leveldb(dir);
  CommitterOptions o;
  o.sync = SyncMode::batch;
  o.batch_window = 20ms;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100;
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  {
    Committer c(*store, o);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        const std::string client = "c" + std::to_string(t);
        for (int i = 1; i <= kPerThread; ++i) {
          Status s = c.submit(one_entry(client, i),
                              [&](const Status& st) { (st.ok() ? ok : failed).fetch_add(1); });
          if (!s.ok()) failed.fetch_add(1);
        }
      });
    }
    for (auto& t : threads) t.join();
    c.flush();
    CHECK(ok.load() == kThreads * kPerThread);  // flush() waited for every callback
    const CommitterStats cs = c.stats();
    CHECK(cs.batches == kThreads * kPerThread);
    CHECK(cs.failed == 0);
    CHECK(cs.rejected == 0);
    CHECK(c.depth().batches == 0);
    const StoreStats ss = store->stats();
    INFO("LevelDB writes for " << kThreads * kPerThread << " batches: " << ss.writes);
    CHECK(ss.writes == cs.groups);
    CHECK(ss.writes <= kThreads * kPerThread / 4);
    CHECK(ss.synced_writes == ss.writes);
    CHECK(ss.batches == kThreads * kPerThread);
  }
  CHECK(failed.load() == 0);
  for (int t = 0; t < kThreads; ++t) CHECK(queued(*store, "c" + std::to_string(t)) == 100);
}

TEST_CASE("committer: sync=always gives each batch its own fsynced write", "[storage][committer]") {
  TempDir dir;
  auto store = open_leveldb(dir);
  CommitterOptions o;
  o.sync = SyncMode::always;
  std::atomic<int> ok{0};
  {
    Committer c(*store, o);
    for (int i = 1; i <= 30; ++i) {
      REQUIRE(c.submit(one_entry("a", i), [&](const Status& s) { ok += s.ok(); }).ok());
    }
    c.flush();
  }
  CHECK(ok.load() == 30);
  CHECK(store->stats().writes == 30);
  CHECK(store->stats().synced_writes == 30);
}

TEST_CASE("committer: sync=none never fsyncs", "[storage][committer]") {
  TempDir dir;
  auto store = open_leveldb(dir);
  CommitterOptions o;
  o.sync = SyncMode::none;
  std::atomic<int> ok{0};
  {
    Committer c(*store, o);
    for (int i = 1; i <= 30; ++i) {
      REQUIRE(c.submit(one_entry("a", i), [&](const Status& s) { ok += s.ok(); }).ok());
    }
  }  // the destructor drains
  CHECK(ok.load() == 30);
  CHECK(store->stats().batches == 30);
  CHECK(store->stats().synced_writes == 0);
  CHECK(queued(*store, "a") == 30);
}

TEST_CASE("committer: callbacks run in order, once the write is readable", "[storage][committer]") {
  MemoryStore store;
  std::vector<int> order;
  std::vector<std::uint64_t> visible;
  {
    CommitterOptions o;
    o.batch_window = 1ms;
    Committer c(store, o);
    for (int i = 1; i <= 50; ++i) {
      REQUIRE(c.submit(one_entry("o", i), [&, i](const Status& s) {
                 // Only the storage thread touches these (Catch2 asserts are
                 // for the test thread).
                 order.push_back(s.ok() ? i : -i);
                 std::vector<QueueEntry> out;
                 (void)store.read_queue("o", 0, 1000, 1u << 30, out);
                 visible.push_back(out.size());
               }).ok());
    }
    c.flush();
  }
  REQUIRE(order.size() == 50);
  for (int i = 0; i < 50; ++i) {
    CHECK(order[i] == i + 1);
    CHECK(visible[i] >= static_cast<std::uint64_t>(i + 1));
  }
}

TEST_CASE("committer: a full queue answers busy and reports its depth", "[storage][committer]") {
  GateStore store;
  CommitterOptions o;
  o.sync = SyncMode::none;
  o.max_pending_batches = 3;
  std::atomic<int> done{0};
  auto cb = [&](const Status& s) { done += s.ok(); };
  Committer c(store, o);
  store.close_gate();
  REQUIRE(c.submit(one_entry("p", 1), cb).ok());
  store.wait_entered(1);  // the thread holds batch 1 in a write
  for (int i = 2; i <= 4; ++i) REQUIRE(c.submit(one_entry("p", i), cb).ok());
  Status busy = c.submit(one_entry("p", 5), cb);
  CHECK(busy.code() == StatusCode::busy);
  CHECK(c.depth().batches == 4);
  CHECK(c.depth().bytes > 0);
  CHECK(c.stats().rejected == 1);
  CHECK(c.stats().max_depth == 4);
  store.open_gate();
  c.flush();
  CHECK(done.load() == 4);
  CHECK(c.depth().batches == 0);
  CHECK(c.depth().bytes == 0);
  CHECK(queued(store, "p") == 4);
  // Room again.
  CHECK(c.submit(one_entry("p", 5), cb).ok());
}

TEST_CASE("committer: the byte bound refuses more, but never a lone batch",
          "[storage][committer]") {
  GateStore store;
  CommitterOptions o;
  o.sync = SyncMode::none;
  o.max_pending_bytes = 1;  // smaller than any batch
  Committer c(store, o);
  store.close_gate();
  REQUIRE(c.submit(one_entry("b", 1), nullptr).ok());
  store.wait_entered(1);
  REQUIRE(c.submit(one_entry("b", 2), nullptr).ok());  // the queue was empty
  CHECK(c.submit(one_entry("b", 3), nullptr).code() == StatusCode::busy);
  store.open_gate();
  c.flush();
  CHECK(queued(store, "b") == 2);
}

TEST_CASE("committer: a lone batch goes after a short lull, not the whole window, a full "
          "group goes at once",
          "[storage][committer]") {
  MemoryStore store;
  SECTION("lull") {
    // Nothing else arrives: waiting out the window would only add latency (every writer
    // may be waiting for this very commit).
    CommitterOptions o;
    o.batch_window = 60s;
    Committer c(store, o);
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(c.submit(one_entry("w", 1), nullptr).ok());
    c.flush();
    CHECK(std::chrono::steady_clock::now() - t0 < 30s);
  }
  SECTION("a steady stream shares the window") {
    // Batches arriving faster than the lull keep the group open up to the window.
    CommitterOptions o;
    o.batch_window = 2s;
    Committer c(store, o);
    const auto t0 = std::chrono::steady_clock::now();
    std::uint64_t seq = 1;
    while (std::chrono::steady_clock::now() - t0 < 300ms) {
      REQUIRE(c.submit(one_entry("w", seq++), nullptr).ok());
      std::this_thread::sleep_for(20us);
    }
    c.flush();
    // A machine that stalls the submitter past the lull splits the group; a few groups
    // at most, never one per batch.
    CHECK(c.stats().groups < (seq - 1) / 4);
  }
  SECTION("max_group_bytes reached") {
    CommitterOptions o;
    o.batch_window = 60s;
    o.max_group_bytes = 1;
    Committer c(store, o);
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(c.submit(one_entry("w", 1), nullptr).ok());
    c.flush();
    CHECK(std::chrono::steady_clock::now() - t0 < 30s);
  }
}

TEST_CASE("committer: batches that cancel out complete without a write, others are written",
          "[storage][committer]") {
  GateStore store;
  CommitterOptions o;
  o.batch_window = 60s;  // only cancelling out (or the lull) may end the wait
  Committer c(store, o);
  const StoredMessage m = plain_message("t", "p");
  const InflightInfo flow{7, 1, InflightStage::await_puback, {1, false, {}}};
  std::atomic<int> ok{0};
  auto done = [&](const Status& s) {
    if (s.ok()) ++ok;
  };

  // One batch that inserts and deletes the same key (a message sent and acknowledged
  // before its commit): no write at all.
  Batch self;
  self.add_inflight("c", flow, m.view());
  self.delete_inflight("c", 7);
  REQUIRE(c.submit(std::move(self), done).ok());
  c.flush();
  CHECK(ok == 1);
  CHECK(c.stats().cancelled_groups == 1);
  CHECK(c.stats().groups == 0);
  CHECK(store.group_sizes().empty());

  // Batches queued behind a write in progress: the insert and its delete arrive in
  // separate batches and complete together, without a write.
  store.close_gate();
  REQUIRE(c.submit(one_entry("a", 1), done).ok());
  store.wait_entered(1);
  Batch ins;
  ins.add_inflight("c", flow, m.view());
  append_one(ins, "c", 1, m);
  Batch del;
  del.delete_inflight("c", 7);
  del.remove_queue("c", 1);
  REQUIRE(c.submit(std::move(ins), done).ok());
  REQUIRE(c.submit(std::move(del), done).ok());
  store.open_gate();
  c.flush();
  CHECK(ok == 4);
  CHECK(c.stats().cancelled_groups == 2);
  CHECK(store.group_sizes() == std::vector<std::size_t>{1});

  // A key left over (a message not yet acknowledged) makes the group a real write, which
  // still drops what cancelled out.
  store.close_gate();
  REQUIRE(c.submit(one_entry("a", 2), done).ok());
  store.wait_entered(2);
  Batch ins2;
  ins2.add_inflight("c", flow, m.view());
  ins2.add_inflight("c", InflightInfo{8, 2, InflightStage::await_puback, {1, false, {}}},
                    m.view());
  Batch del2;
  del2.delete_inflight("c", 7);
  REQUIRE(c.submit(std::move(ins2), done).ok());
  REQUIRE(c.submit(std::move(del2), done).ok());
  store.open_gate();
  c.flush();
  CHECK(ok == 7);
  CHECK(c.stats().cancelled_groups == 2);
  CHECK(store.group_sizes() == std::vector<std::size_t>{1, 1, 2});
  Loaded v;
  LoadStats ls;
  REQUIRE(store.load(v, LoadOptions{}, ls).ok());
  // No session records in this test: what is stored loads as orphans. The queue entries
  // of "a" and the flow of id 8 are there; the queue entry of "c" and flow 7 never were.
  CHECK(ls.orphans == 3);
  CHECK(queued(store, "a") == 2);
  CHECK(queued(store, "c") == 0);
}

TEST_CASE("committer: the oldest batches complete once their own keys cancel out, before "
          "later ones and without a write",
          "[storage][committer]") {
  GateStore store;
  CommitterOptions o;
  o.batch_window = 60s;
  Committer c(store, o);
  const StoredMessage m = plain_message("t", "p");
  std::mutex mu;
  std::vector<int> done_order;
  auto done = [&](int id) {
    return [&, id](const Status& s) {
      REQUIRE(s.ok());
      std::lock_guard<std::mutex> lock(mu);
      done_order.push_back(id);
    };
  };
  auto order = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return done_order;
  };
  auto flow = [](std::uint16_t id) {
    return InflightInfo{id, id, InflightStage::await_puback, {1, false, {}}};
  };
  // Three batches, callbacks id, id + 1, id + 2: message `acked` stored, message `pending`
  // stored, then `acked` acknowledged by its receiver (deleted).
  auto submit_three = [&](const std::string& client, std::uint16_t acked, std::uint16_t pending,
                          int id) {
    Batch ins_acked;
    ins_acked.add_inflight(client, flow(acked), m.view());
    Batch ins_pending;
    ins_pending.add_inflight(client, flow(pending), m.view());
    Batch del;
    del.delete_inflight(client, acked);
    REQUIRE(c.submit(std::move(ins_acked), done(id)).ok());
    REQUIRE(c.submit(std::move(ins_pending), done(id + 1)).ok());
    REQUIRE(c.submit(std::move(del), done(id + 2)).ok());
  };

  // A write under way holds the queue: A (message 7), B (message 8) and C (7 acknowledged)
  // queue behind it.
  store.close_gate();
  REQUIRE(c.submit(one_entry("a", 1), done(0)).ok());
  store.wait_entered(1);
  submit_three("c", 7, 8, 1);
  CHECK(order().empty());

  // Once the write is done, A completes at once: its only key cancels against C. B waits
  // for its own write (message 8 is not acknowledged), and C, queued after B, with it.
  store.pass(1);
  store.wait_entered(2);
  CHECK(order() == std::vector<int>{0, 1});
  store.open_gate();
  c.flush();
  CHECK(order() == std::vector<int>{0, 1, 2, 3});
  // The second write carried A (completed), B and C; A's insert and C's delete of message
  // 7 cancelled inside it, so only message 8 reached the store.
  CHECK(store.group_sizes() == std::vector<std::size_t>{1, 3});
  Loaded v;
  LoadStats ls;
  REQUIRE(store.load(v, LoadOptions{}, ls).ok());
  CHECK(ls.orphans == 2);  // a's queue entry 1 and flow 8 (no session records here)
  CHECK(c.stats().batches == 4);
  CHECK(c.stats().groups == 2);

  // Without a write under way, the batch that cancels the oldest completes it inside
  // submit(), on the submitting thread, while the newer batch still waits.
  done_order.clear();
  store.close_gate();
  // The storage thread may take the first two to a write between the submits (after the
  // lull): then that write completes them, in order, once the gate opens.
  submit_three("d", 1, 2, 4);
  const std::vector<int> got = order();
  if (!got.empty()) CHECK(got == std::vector<int>{4});
  store.open_gate();
  c.flush();
  CHECK(order() == std::vector<int>{4, 5, 6});
}

TEST_CASE("committer: concurrent submitters, some batches cancelling out, keep callback order "
          "and the final state",
          "[storage][committer]") {
  TempDir dir;
  auto store = open_leveldb(dir);
  CommitterOptions o;
  o.batch_window = 2ms;
  Committer c(*store, o);
  const StoredMessage m = plain_message("t", "p");
  constexpr int kThreads = 3;
  constexpr std::uint64_t kPerThread = 400;
  std::mutex submit_mu;  // makes the submission order known: ticket order
  std::uint64_t next_ticket = 0;
  std::mutex done_mu;
  std::vector<std::uint64_t> done_order;
  std::atomic<int> failures{0};
  auto worker = [&](int t) {
    const std::string client = "w" + std::to_string(t);
    for (std::uint64_t i = 1; i <= kPerThread; ++i) {
      // Entry i is appended; entry i - 1 is removed unless it is a multiple of 7 (those
      // stay). Every other pair lands in one batch, so some runs cancel out at once.
      Batch b;
      b.append_queue(client, i, Delivery{1, false, {}}, m.view());
      if (i > 1 && (i - 1) % 7 != 0) b.remove_queue(client, i - 1);
      if (i % 2 == 0 && i % 7 != 0) b.remove_queue(client, i);
      std::lock_guard<std::mutex> lock(submit_mu);
      const std::uint64_t ticket = next_ticket++;
      const Status st = c.submit(std::move(b), [&, ticket](const Status& s) {
        if (!s.ok()) ++failures;
        std::lock_guard<std::mutex> dl(done_mu);
        done_order.push_back(ticket);
      });
      if (!st.ok()) ++failures;
      // Now and then a pause past the lull, so that groups close in between.
      if (i % 32 == 0) std::this_thread::sleep_for(300us);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  for (auto& th : threads) th.join();
  c.flush();
  CHECK(failures == 0);
  REQUIRE(done_order.size() == kThreads * kPerThread);
  for (std::size_t i = 0; i < done_order.size(); ++i) {
    if (done_order[i] != i) FAIL("callback " << i << " was ticket " << done_order[i]);
  }
  // What stays: multiples of 7, and the last entry when it was not removed in its batch.
  for (int t = 0; t < kThreads; ++t) {
    std::vector<QueueEntry> out;
    REQUIRE(store->read_queue("w" + std::to_string(t), 0, 1'000'000, 1u << 30, out).ok());
    std::vector<std::uint64_t> got;
    for (const QueueEntry& e : out) got.push_back(e.seq);
    std::vector<std::uint64_t> want;
    for (std::uint64_t i = 1; i <= kPerThread; ++i) {
      if (i % 7 == 0 || (i == kPerThread && i % 2 != 0)) want.push_back(i);
    }
    CHECK(got == want);
  }
  const CommitterStats st = c.stats();
  CHECK(st.batches == kThreads * kPerThread);
  CHECK(st.failed == 0);
  UNSCOPED_INFO("groups " << st.groups << ", cancelled out " << st.cancelled_groups);
  CHECK(st.groups + st.cancelled_groups > 0);
}

TEST_CASE("committer: stop drains pending batches without waiting out the window",
          "[storage][committer]") {
  TempDir dir;
  auto store = open_leveldb(dir);
  std::atomic<int> ok{0};
  const auto t0 = std::chrono::steady_clock::now();
  {
    CommitterOptions o;
    o.batch_window = 60s;
    Committer c(*store, o);
    for (int i = 1; i <= 20; ++i) {
      REQUIRE(c.submit(one_entry("d", i), [&](const Status& s) { ok += s.ok(); }).ok());
    }
    c.stop();
    CHECK(c.submit(one_entry("d", 21), nullptr).code() == StatusCode::io_error);
    c.stop();  // idempotent
  }
  CHECK(std::chrono::steady_clock::now() - t0 < 30s);
  CHECK(ok.load() == 20);
  CHECK(queued(*store, "d") == 20);
}

TEST_CASE("committer: invalid batches are refused, write errors reach every callback",
          "[storage][committer]") {
  GateStore store;
  CommitterOptions o;
  o.batch_window = 50ms;
  Committer c(store, o);

  Batch bad;
  bad.delete_session(std::string("x\0y", 3));
  bool called = false;
  CHECK(c.submit(std::move(bad), [&](const Status&) { called = true; }).code() ==
        StatusCode::invalid_argument);

  store.fail_writes();
  std::atomic<int> io_errors{0};
  for (int i = 1; i <= 5; ++i) {
    REQUIRE(c.submit(one_entry("e", i), [&](const Status& s) {
               io_errors += s.code() == StatusCode::io_error;
             }).ok());
  }
  c.flush();
  CHECK_FALSE(called);
  CHECK(io_errors.load() == 5);
  CHECK(c.stats().failed == 5);
  CHECK(c.stats().batches == 0);
  CHECK(queued(store, "e") == 0);
}
