// net::Server's figures for operations (per-listener counts, storage figures) and the
// storage committer's latency histogram, without running the loops.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "broker/net/server.hpp"
#include "broker/ops/monitor.hpp"
#include "storage/committer.hpp"
#include "storage/memory_store.hpp"

using namespace tern;

namespace {

std::filesystem::path temp_dir(const char* tag) {
  const char* base = std::getenv("TMPDIR");
  auto p = std::filesystem::path(base && *base ? base : "/tmp") /
           (std::string("tern-ops-") + tag + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  return p;
}

}  // namespace

TEST_CASE("figures: listeners by name and storage size on disk", "[ops][figures]") {
  const auto dir = temp_dir("store");
  {
    net::ServerOptions no;
    no.handle_signals = false;
    no.listeners = {net::ListenerOptions{}, net::ListenerOptions{}};
    no.listeners[0].name = "a";
    no.listeners[0].bind = "127.0.0.1:0";
    no.listeners[1].name = "b";
    no.listeners[1].bind = "127.0.0.1:0";
    no.storage.path = dir.string();
    net::Server server(no, core::BrokerOptions{});
    std::string error;
    REQUIRE(server.start(error));
    const auto ls = server.listener_stats();
    REQUIRE(ls.size() == 2);
    CHECK(ls[0].name == "a");
    CHECK(ls[1].name == "b");
    CHECK(ls[0].connections_open == 0);
    const net::StorageStats st = server.storage_stats();
    CHECK(st.enabled);
    CHECK(st.size_bytes > 0);  // LevelDB's files exist from open
    // The Monitor turns them into a Snapshot.
    ops::Monitor monitor(server, "test");
    const ops::Snapshot snap = monitor.snapshot();
    CHECK(snap.version == "test");
    CHECK(snap.storage.enabled);
    // The storage thread may append to LevelDB's log between the two reads (the clock
    // record), so the Monitor's figure is the directory's size now, never less than before.
    CHECK(snap.storage.size_bytes >= st.size_bytes);
    REQUIRE(snap.listeners.size() == 2);
    CHECK(snap.listeners[1].name == "b");
  }
  std::filesystem::remove_all(dir);

  net::ServerOptions memory_only;
  memory_only.handle_signals = false;
  memory_only.listeners[0].bind = "127.0.0.1:0";
  net::Server server(memory_only, core::BrokerOptions{});
  std::string error;
  REQUIRE(server.start(error));
  CHECK(!server.storage_stats().enabled);
  CHECK(ops::Monitor(server, "x").snapshot().storage.enabled == false);
}

TEST_CASE("committer: every written batch lands in the latency histogram", "[ops][figures]") {
  storage::MemoryStore store;
  storage::CommitterOptions co;
  co.sync = storage::SyncMode::batch;
  storage::Committer c(store, co);
  for (int i = 0; i < 20; ++i) {
    storage::Batch b;
    b.put_clock(storage::ClockRecord{});
    REQUIRE(c.submit(std::move(b), {}).ok());
  }
  c.flush();
  const storage::CommitterStats st = c.stats();
  CHECK(st.batches == 20);
  CHECK(st.latency.count == 20);
  CHECK(st.bytes_written > 0);
  CHECK(st.last_write_ok);
  std::uint64_t in_buckets = 0;
  for (const auto n : st.latency.counts) in_buckets += n;
  CHECK(in_buckets == 20);
}
