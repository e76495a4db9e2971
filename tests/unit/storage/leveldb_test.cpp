// LevelDbStore on a real directory: reopen, locking, corruption (files damaged on
// purpose), format versions, undecodable records, and a queue far larger than its window.
#include <leveldb/db.h>
#include <leveldb/options.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "storage/format.hpp"
#include "storage_test_util.hpp"

using namespace tern::storage;
using namespace tern::storage::test;
namespace fs = std::filesystem;

namespace {

Status open_store(const std::string& path, std::unique_ptr<LevelDbStore>& out,
                  std::optional<Recovery>& rec, OnCorruption policy = OnCorruption::move_aside) {
  LevelDbOptions o;
  o.path = path;
  o.on_corruption = policy;
  return LevelDbStore::open(o, out, rec);
}

std::unique_ptr<LevelDbStore> open_ok(const std::string& path) {
  std::unique_ptr<LevelDbStore> s;
  std::optional<Recovery> rec;
  REQUIRE(open_store(path, s, rec).ok());
  REQUIRE_FALSE(rec.has_value());
  return s;
}

// A store with sessions, queues, in-flight flows and retained messages.
void fill(Store& s, int sessions = 20) {
  Batch b;
  for (int i = 0; i < sessions; ++i) {
    const std::string c = "client-" + std::to_string(i);
    b.put_session(full_session(c));
    const StoredMessage m = full_message("t/" + c, std::string(200, 'a' + i % 26), 1);
    for (std::uint64_t seq = 1; seq <= 20; ++seq) {
      b.append_queue(c, seq, Delivery{1, false, {}}, m.view());
    }
    b.put_inflight(c, InflightInfo{1, 1, InflightStage::await_puback, {1, false, {}}}, m.view());
    b.put_retained(m.view());
  }
  REQUIRE(s.write(b, true).ok());
}

Loaded load(Store& s, LoadStats& stats, LoadOptions lo = {}) {
  Loaded v;
  REQUIRE(s.load(v, lo, stats).ok());
  return v;
}

std::string raw_get(const std::string& path, const std::string& key) {
  leveldb::DB* raw = nullptr;
  leveldb::Options o;
  REQUIRE(leveldb::DB::Open(o, path, &raw).ok());
  std::unique_ptr<leveldb::DB> db(raw);
  std::string v;
  (void)db->Get(leveldb::ReadOptions(), key, &v);
  return v;
}

void raw_put(const std::string& path, const std::string& key, const std::string& value) {
  leveldb::DB* raw = nullptr;
  leveldb::Options o;
  REQUIRE(leveldb::DB::Open(o, path, &raw).ok());
  std::unique_ptr<leveldb::DB> db(raw);
  leveldb::WriteOptions wo;
  wo.sync = true;
  REQUIRE(db->Put(wo, key, value).ok());
}

long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

}  // namespace

TEST_CASE("leveldb: everything survives close and reopen", "[storage][leveldb]") {
  TempDir dir;
  {
    auto s = open_ok(dir.db_path());
    fill(*s);
    Batch b;
    b.put_clock(ClockRecord{at_ms(5000), WallTime(std::chrono::milliseconds(1'000'000))});
    REQUIRE(s->write(b, true).ok());
    CHECK(s->stats().synced_writes == 2);
    CHECK(s->approximate_memory_usage() > 0);
  }
  for (int round = 0; round < 2; ++round) {  // the second reopen reads LevelDB's tables
    auto s = open_ok(dir.db_path());
    LoadStats st;
    Loaded v = load(*s, st);
    CHECK(st.sessions == 20);
    CHECK(st.queued == 400);
    CHECK(st.inflight == 20);
    CHECK(st.retained == 20);
    CHECK(st.bad_records == 0);
    CHECK(v.sessions["client-3"].record == full_session("client-3"));
    CHECK(v.sessions["client-3"].info.count == 20);
    ClockRecord c;
    REQUIRE(s->read_clock(c).ok());
    CHECK(c.broker == at_ms(5000));
  }
}

TEST_CASE("leveldb: a directory in use is refused, never moved aside", "[storage][leveldb]") {
  TempDir dir;
  auto first = open_ok(dir.db_path());
  fill(*first, 2);
  std::unique_ptr<LevelDbStore> second;
  std::optional<Recovery> rec;
  Status s = open_store(dir.db_path(), second, rec);
  CHECK(s.code() == StatusCode::io_error);
  CHECK_FALSE(rec.has_value());
  CHECK(second == nullptr);
  CHECK(dir.entries("db.corrupt").empty());
  LoadStats st;
  load(*first, st);
  CHECK(st.sessions == 2);
}

TEST_CASE("leveldb: bad paths are errors", "[storage][leveldb]") {
  TempDir dir;
  std::unique_ptr<LevelDbStore> s;
  std::optional<Recovery> rec;
  CHECK(open_store("", s, rec).code() == StatusCode::invalid_argument);
  { std::ofstream(dir.path() + "/file") << "x"; }
  CHECK(open_store(dir.path() + "/file", s, rec).code() == StatusCode::io_error);
  CHECK(open_store(dir.path() + "/file/sub", s, rec).code() == StatusCode::io_error);
  CHECK(s == nullptr);
}

TEST_CASE("leveldb: damaged files at open are moved aside or refused", "[storage][leveldb]") {
  // Which file gets garbage: each is read when the database opens (the log is replayed
  // at open, a torn tail being normal after a power cut but garbage not; the table holds
  // meta/version, which open() checks).
  const std::string which = GENERATE(std::string("CURRENT"), std::string("MANIFEST"),
                                     std::string(".log"), std::string(".ldb"));
  TempDir dir;
  {
    auto s = open_ok(dir.db_path());
    fill(*s);
  }  // closed with the data in the log (LevelDB does not flush the memtable on close)
  if (which == ".ldb") {
    auto s = open_ok(dir.db_path());  // recovery writes the log into a table file
  }
  std::vector<fs::path> victims;
  if (which == "CURRENT") {
    victims.push_back(dir.db_path() + "/CURRENT");
  } else if (which == "MANIFEST") {
    for (const auto& e : fs::directory_iterator(dir.db_path())) {
      if (e.path().filename().string().rfind("MANIFEST-", 0) == 0) victims.push_back(e.path());
    }
  } else {
    // A whole table: open() notices when it reads meta/version from it.
    victims = files_with_suffix(dir.db_path(), which);
  }
  REQUIRE_FALSE(victims.empty());
  for (const fs::path& p : victims) scribble(p);
  INFO("garbage over " << which);

  SECTION("fail: the error is returned and nothing is touched") {
    std::unique_ptr<LevelDbStore> s;
    std::optional<Recovery> rec;
    Status st = open_store(dir.db_path(), s, rec, OnCorruption::fail);
    CHECK(st.is_corruption());
    CHECK_FALSE(st.message().empty());
    CHECK(s == nullptr);
    CHECK_FALSE(rec.has_value());
    CHECK(dir.entries("db.corrupt").empty());
    CHECK(fs::exists(victims.front()));
  }
  SECTION("move_aside: renamed with a UTC timestamp, an empty store opens") {
    std::unique_ptr<LevelDbStore> s;
    std::optional<Recovery> rec;
    REQUIRE(open_store(dir.db_path(), s, rec).ok());
    REQUIRE(rec.has_value());
    CHECK_FALSE(rec->reason.empty());
    REQUIRE(dir.entries("db.corrupt-").size() == 1);
    CHECK(rec->moved_to == dir.path() + "/" + dir.entries("db.corrupt-").front());
    // <path>.corrupt-YYYYMMDDTHHMMSSZ
    const std::string stamp = rec->moved_to.substr(rec->moved_to.rfind('-') + 1);
    CHECK(stamp.size() == 16);
    CHECK(stamp[8] == 'T');
    CHECK(stamp.back() == 'Z');
    // The damaged files are kept for inspection.
    CHECK(fs::exists(fs::path(rec->moved_to) / victims.front().filename()));
    LoadStats st;
    Loaded v = load(*s, st);
    CHECK(v.sessions.empty());
    CHECK(v.retained.empty());
    fill(*s, 1);  // and it works
    LoadStats st2;
    load(*s, st2);
    CHECK(st2.sessions == 1);
  }
}

namespace {

// Many in-flight flows, so that "f/" keys (the first records load() reads) fill the first
// blocks of the table, far from meta/version which open() reads.
void fill_flows(Store& s) {
  Batch b;
  b.put_session(full_session("flows"));
  for (std::uint16_t id = 1; id <= 400; ++id) {
    const StoredMessage m = plain_message("t/" + std::to_string(id), std::string(300, 'f'));
    b.put_inflight("flows", InflightInfo{id, id, InflightStage::await_puback, {1, false, {}}},
                   m.view());
  }
  REQUIRE(s.write(b, true).ok());
}

// Garbage over bytes [16, 80) of the file: inside its first data block.
void scribble_head(const fs::path& p) {
  std::fstream f(p, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(16);
  for (int i = 0; i < 64; ++i) f.put(static_cast<char>(0xA5 ^ i));
}

}  // namespace

TEST_CASE("leveldb: a damaged table found while loading is moved aside or refused",
          "[storage][leveldb]") {
  TempDir dir;
  {
    LevelDbOptions o;
    o.path = dir.db_path();
    o.compress = false;  // keep the layout predictable: blocks of ~4 KiB in key order
    std::unique_ptr<LevelDbStore> s;
    std::optional<Recovery> rec;
    REQUIRE(LevelDbStore::open(o, s, rec).ok());
    fill_flows(*s);
  }
  { auto s = open_ok(dir.db_path()); }  // recovery writes the log into a table file
  const auto tables = files_with_suffix(dir.db_path(), ".ldb");
  REQUIRE(tables.size() == 1);
  scribble_head(tables.front());

  SECTION("fail: load returns the corruption") {
    std::unique_ptr<LevelDbStore> s;
    std::optional<Recovery> rec;
    REQUIRE(open_store(dir.db_path(), s, rec, OnCorruption::fail).ok());
    Loaded v;
    LoadStats st;
    Status ld = s->load(v, LoadOptions{}, st);
    CHECK(ld.is_corruption());
    CHECK_FALSE(st.recovered.has_value());
    CHECK(v.discards == 0);
    CHECK(dir.entries("db.corrupt").empty());
  }
  SECTION("move_aside: what was handed over is discarded, the store starts empty") {
    std::unique_ptr<LevelDbStore> s;
    std::optional<Recovery> rec;
    REQUIRE(open_store(dir.db_path(), s, rec).ok());
    REQUIRE_FALSE(rec.has_value());
    Loaded v;
    LoadStats st;
    REQUIRE(s->load(v, LoadOptions{}, st).ok());
    REQUIRE(st.recovered.has_value());
    CHECK(st.recovered->reason.find("checksum") != std::string::npos);
    CHECK(fs::exists(st.recovered->moved_to));
    CHECK(dir.entries("db.corrupt-").size() == 1);
    CHECK(v.discards == 1);
    CHECK(v.sessions.empty());
    CHECK(st.sessions == 0);
    fill(*s, 1);  // the fresh store works
    Loaded v2;
    LoadStats st2;
    REQUIRE(s->load(v2, LoadOptions{}, st2).ok());
    CHECK(st2.sessions == 1);
  }
}

TEST_CASE("leveldb: moving aside picks a free name", "[storage][leveldb]") {
  TempDir dir;
  fs::create_directories(dir.db_path());
  std::string first;
  REQUIRE(move_aside(dir.db_path(), first).ok());
  fs::create_directories(dir.db_path());
  std::string second;
  REQUIRE(move_aside(dir.db_path(), second).ok());
  CHECK(first != second);
  CHECK(fs::exists(first));
  CHECK(fs::exists(second));
  std::string none;
  CHECK(move_aside(dir.path() + "/missing", none).code() == StatusCode::io_error);
}

TEST_CASE("leveldb: a store from a newer format is refused, not moved", "[storage][leveldb]") {
  TempDir dir;
  { auto s = open_ok(dir.db_path()); }
  std::uint32_t version = 0;
  REQUIRE(format::decode_format_version(raw_get(dir.db_path(), "meta/version"), version));
  CHECK(version == format::kFormatVersion);
  raw_put(dir.db_path(), "meta/version", std::string("\0\0\0\x63", 4));
  std::unique_ptr<LevelDbStore> s;
  std::optional<Recovery> rec;
  Status st = open_store(dir.db_path(), s, rec);
  CHECK(st.code() == StatusCode::invalid_argument);
  CHECK(dir.entries("db.corrupt").empty());
  // An undecodable version is corruption.
  raw_put(dir.db_path(), "meta/version", "?");
  CHECK(open_store(dir.db_path(), s, rec, OnCorruption::fail).is_corruption());
}

TEST_CASE("leveldb: undecodable records and orphans are skipped and counted",
          "[storage][leveldb]") {
  TempDir dir;
  {
    auto s = open_ok(dir.db_path());
    fill(*s, 3);
  }
  std::string key;
  format::session_key("client-1", key);
  raw_put(dir.db_path(), key, "\x01garbage");  // its queue and flow become orphans
  format::queue_key("nobody", 1, key);
  raw_put(dir.db_path(), key, "\x01x");
  format::retained_key("r/bad", key);
  raw_put(dir.db_path(), key, std::string("\x07", 1));  // an unknown record version
  auto s = open_ok(dir.db_path());
  LoadStats st;
  Loaded v = load(*s, st);
  CHECK(st.sessions == 2);
  CHECK(v.sessions.count("client-0") == 1);
  CHECK(v.sessions.count("client-2") == 1);
  CHECK(st.bad_records == 2);
  CHECK(st.orphans == 20 + 1 + 1);  // client-1's queue and flow, nobody's entry
  CHECK(st.retained == 3);
}

namespace {

// Writes `n` queue entries of 64-byte payloads for one client without fsync, then checks
// that load() hands over only the window and read_queue() walks the rest in order.
void big_queue(std::uint64_t n) {
  TempDir dir;
  {
    auto s = open_ok(dir.db_path());
    Batch b;
    b.put_session(full_session("big"));
    const StoredMessage m = plain_message("sensors/gw/1/temp", std::string(64, 'x'));
    for (std::uint64_t seq = 1; seq <= n; ++seq) {
      b.append_queue("big", seq, Delivery{1, false, {}}, m.view());
      if (b.op_count() == 2000) {
        REQUIRE(s->write(b, false).ok());
        b.clear();
      }
    }
    REQUIRE(s->write(b, true).ok());
  }
  auto s = open_ok(dir.db_path());
  const long rss_before = rss_kib();
  LoadOptions lo;
  lo.queue_window = 256;
  LoadStats st;
  Loaded v = load(*s, st, lo);
  const long rss_after = rss_kib();
  const LoadedSession& ls = v.sessions["big"];
  CHECK(ls.info.count == n);
  CHECK(ls.info.first_seq == 1);
  CHECK(ls.info.last_seq == n);
  CHECK(ls.info.bytes == n * (17 + 64));
  CHECK(ls.head.size() == 256);
  // Loading does not bring the queue into memory: well under its size on disk.
  const long queue_kib = static_cast<long>(n * (17 + 64 + 40) / 1024);
  INFO("RSS before " << rss_before << " KiB, after " << rss_after << " KiB, queue ~" << queue_kib
                     << " KiB");
  CHECK(rss_after - rss_before < std::max(32L * 1024, queue_kib / 4));

  std::uint64_t next = ls.head.back().seq + 1;
  std::uint64_t seen = ls.head.size();
  std::vector<QueueEntry> w;
  for (;;) {
    w.clear();
    REQUIRE(s->read_queue("big", next, 1000, 1 << 20, w).ok());
    if (w.empty()) break;
    for (const QueueEntry& e : w) REQUIRE(e.seq == next++);
    seen += w.size();
  }
  CHECK(seen == n);
}

}  // namespace

TEST_CASE("leveldb: a queue larger than its RAM window stays on disk", "[storage][leveldb]") {
  big_queue(50'000);
}

TEST_CASE("leveldb: a million-entry queue loads with a small window", "[storage][leveldb][slow]") {
  big_queue(1'000'000);
}
