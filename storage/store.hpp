// storage::Store: the durable state of the broker behind one small interface: load it all
// at startup, read a queue window on demand, commit Batches atomically. Implementations:
// LevelDbStore (storage/leveldb_store.hpp) and MemoryStore (storage/memory_store.hpp).
// Thread safety: every method may be called from any thread. Writes are serialised
// inside the store; reads see every write_group that has returned (not batches still
// waiting in a Committer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storage/batch.hpp"
#include "storage/records.hpp"
#include "storage/status.hpp"

namespace tern::storage {

// storage.on_corruption (CONFIG.md).
enum class OnCorruption : std::uint8_t {
  move_aside,  // rename the directory to <path>.corrupt-<UTC time>, start empty, report it
  fail,        // return the corruption status; the broker refuses to start
};

// A corrupt store that was moved aside; the caller must log it loudly.
struct Recovery {
  std::string reason;    // LevelDB's error text
  std::string moved_to;  // where the old directory is now
};

struct LoadOptions {
  // Queue entries handed over per session (the RAM window); the rest stay on disk and are
  // read with read_queue(). At least one entry is given when the queue is not empty.
  std::size_t queue_window = 256;
  std::size_t queue_window_bytes = 1 << 20;
};

struct LoadStats {
  std::uint64_t sessions = 0;
  std::uint64_t queued = 0;  // queue entries counted (not all handed over)
  std::uint64_t inflight = 0;
  std::uint64_t retained = 0;
  // Queue / in-flight records of a client without a session record: skipped. Batches
  // are atomic, so these only come from a writer that stored them apart from the session.
  std::uint64_t orphans = 0;
  // Records that did not decode (unknown version, a bug): skipped, so the broker starts.
  std::uint64_t bad_records = 0;
  std::optional<Recovery> recovered;  // set when load() met corruption and moved it aside
};

// Receives the stored state, in client-id order, then the retained messages.
class LoadVisitor {
 public:
  virtual ~LoadVisitor() = default;
  // One session with its in-flight flows (in send order: InflightRecord::order) and its
  // queue: `info` counts the whole queue, `head` holds its first entries (LoadOptions).
  virtual void on_session(SessionRecord&& session, std::vector<InflightRecord>&& inflight,
                          const QueueInfo& info, std::vector<QueueEntry>&& head) = 0;
  virtual void on_retained(StoredMessage&& message) = 0;
  // The store turned out corrupt part-way and was moved aside (OnCorruption::move_aside):
  // forget everything delivered so far; load() then returns ok with an empty store.
  virtual void discard() = 0;
};

// Write counters, for metrics and the flash-wear benchmark. bytes_written counts what the
// store handed to its log (keys, values, framing); LevelDB compactions write more, which
// only /proc/self/io write_bytes shows.
struct StoreStats {
  std::uint64_t writes = 0;         // write_group calls that reached the disk / map
  std::uint64_t synced_writes = 0;  // of which with fsync
  std::uint64_t batches = 0;
  std::uint64_t ops = 0;
  std::uint64_t bytes_written = 0;
  std::uint64_t bad_records = 0;  // undecodable records skipped by read_queue
};

class Store {
 public:
  virtual ~Store() = default;
  Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Hands every stored record to `v`. Corruption is handled per OnCorruption: either
  // recovered (stats.recovered, v.discard()) or returned as a corruption status.
  virtual Status load(LoadVisitor& v, const LoadOptions& opts, LoadStats& stats) = 0;

  // Appends to `out` the client's queue entries with seq >= from_seq, in order: at most
  // max_entries, and no more once max_bytes (topic + payload) is reached, but always the
  // first one found. Fewer than asked means the queue has no more.
  virtual Status read_queue(std::string_view client_id, std::uint64_t from_seq,
                            std::size_t max_entries, std::size_t max_bytes,
                            std::vector<QueueEntry>& out) = 0;

  // The clock checkpoint; not_found on a new store.
  virtual Status read_clock(ClockRecord& out) = 0;

  // Commits the batches, in order, as one atomic write: all of them or none. With `sync`
  // it returns once the write is on stable storage (fsync). Fails with invalid_argument,
  // writing nothing, when a batch's status() is not ok.
  virtual Status write_group(std::span<const Batch* const> batches, bool sync) = 0;
  Status write(const Batch& b, bool sync) {
    const Batch* one = &b;
    return write_group(std::span<const Batch* const>(&one, 1), sync);
  }

  virtual StoreStats stats() const = 0;
};

}  // namespace tern::storage
