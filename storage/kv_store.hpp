// tern_storage internal: KvStore implements the Store interface (record layout, load's
// merge of sessions with their queues and in-flight flows, range deletes) over an ordered
// key-value map, so LevelDbStore and MemoryStore differ only in that map.
// Thread safety: as Store. write_group and load are serialised by one mutex.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storage/key_table.hpp"
#include "storage/store.hpp"

namespace tern::storage::detail {

// A forward cursor over keys in bytewise order.
class KvIterator {
 public:
  virtual ~KvIterator() = default;
  virtual void seek(std::string_view key) = 0;  // to the first key >= `key`
  virtual bool valid() const = 0;
  virtual void next() = 0;                     // REQUIRES: valid()
  virtual std::string_view key() const = 0;    // REQUIRES: valid()
  virtual std::string_view value() const = 0;  // REQUIRES: valid()
  virtual Status status() const = 0;           // why iteration stopped early
};

struct KvOp {
  bool erase = false;
  bool insert = false;  // a put of a key known absent (Batch::OpKind::insert); apply ignores it
  std::string_view key;
  std::string_view value;
  // write_group only: a value still to encode (Batch::Op::later) by `batch`.
  const Batch* batch = nullptr;
  std::uint32_t later = 0;
};

class KvStore : public Store {
 public:
  Status load(LoadVisitor& v, const LoadOptions& opts, LoadStats& stats) override;
  Status read_queue(std::string_view client_id, std::uint64_t from_seq, std::size_t max_entries,
                    std::size_t max_bytes, std::vector<QueueEntry>& out) override;
  Status read_clock(ClockRecord& out) override;
  Status write_group(std::span<const Batch* const> batches, bool sync) override;
  StoreStats stats() const override;

 protected:
  // `bulk`: a one-off scan that should not evict hot data from caches.
  virtual std::unique_ptr<KvIterator> new_iterator(bool bulk) = 0;
  // not_found when absent.
  virtual Status get(std::string_view key, std::string& value) = 0;
  // Applies the ops in order, atomically; sets `bytes` to what was handed to the log.
  // Called with write_mu_ held.
  virtual Status apply(std::span<const KvOp> ops, bool sync, std::uint64_t& bytes) = 0;
  // load() met `error` (a corruption). Returns ok after moving the data aside and opening
  // an empty store (filling `out`), or an error to return. Called with write_mu_ held.
  virtual Status recover(const Status& error, Recovery& out) {
    (void)out;
    return error;
  }

  std::mutex write_mu_;  // one writer at a time; load excludes writers (one consistent view)

 private:
  Status load_locked(LoadVisitor& v, const LoadOptions& opts, LoadStats& stats);

  // Keeps the last op per key, and none for a key whose first op in the group is an
  // insert and whose last is an erase.
  void drop_superseded(std::vector<KvOp>& ops);

  // write_group scratch, reused across groups (the storage thread's steady state
  // allocates nothing).
  std::vector<KvOp> ops_;
  std::deque<std::string> range_keys_;  // keys a range delete found in the store
  std::string values_;                  // values encoded at write time (Batch::Op::later)
  std::vector<std::size_t> value_ends_;
  KeyTable keys_;                       // drop_superseded scratch
  std::vector<std::size_t> slot_of_;    // op index -> its key's slot in keys_

  std::atomic<std::uint64_t> writes_{0};
  std::atomic<std::uint64_t> synced_writes_{0};
  std::atomic<std::uint64_t> batches_{0};
  std::atomic<std::uint64_t> ops_count_{0};
  std::atomic<std::uint64_t> bytes_written_{0};
  std::atomic<std::uint64_t> bad_records_{0};
};

}  // namespace tern::storage::detail
