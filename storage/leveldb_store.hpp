// LevelDbStore: the durable Store, one LevelDB database in a directory (storage.path).
// Owns the database, its block cache and the directory's lock (a second process opening
// the same directory gets io_error). Corrupt or unreadable data is moved aside or
// reported, per LevelDbOptions::on_corruption (GUIDE §5).
// Thread safety: as Store, except that open() / load() must finish before other calls
// start (recovery from corruption replaces the database).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "storage/kv_store.hpp"
#include "storage/store.hpp"

namespace tern::storage {

// Defaults fit a 512 MB Raspberry Pi: LevelDB's RAM is about write_buffer_size twice (the
// memtable being filled and the one being flushed) plus cache_size plus ~1 KiB index per
// open table file: ~16 MiB here. A broker's hot data is the tail of the queues, which the
// memtable serves; the cache mainly speeds up loading the window after a restart.
struct LevelDbOptions {
  std::string path;  // a directory; created (with its parents) if missing
  OnCorruption on_corruption = OnCorruption::move_aside;
  std::size_t cache_size = 8u << 20;         // block cache
  std::size_t write_buffer_size = 4u << 20;  // memtable; larger = fewer, bigger flushes
  int max_open_files = 64;  // table files kept open (LevelDB raises it to at least 74)
  bool compress = true;     // snappy: less flash written for text payloads, cheap CPU
};

class LevelDbStore final : public detail::KvStore {
 public:
  // Opens (or creates) the store. When the database is corrupt or unreadable and
  // on_corruption is move_aside, the directory is renamed to
  // <path>.corrupt-<YYYYMMDDTHHMMSSZ>, an empty store is created, `recovered` is set and
  // ok is returned: the caller must log it loudly. Errors that are not about the data
  // (permissions, lock held by another process, disk full) are returned as io_error and
  // never move anything. A store written by a newer format is invalid_argument.
  static Status open(const LevelDbOptions& opts, std::unique_ptr<LevelDbStore>& out,
                     std::optional<Recovery>& recovered);
  ~LevelDbStore() override;

  const LevelDbOptions& options() const;
  // LevelDB's estimate of its memory use (memtables), for metrics.
  std::uint64_t approximate_memory_usage() const;

 protected:
  std::unique_ptr<detail::KvIterator> new_iterator(bool bulk) override;
  Status get(std::string_view key, std::string& value) override;
  Status apply(std::span<const detail::KvOp> ops, bool sync, std::uint64_t& bytes) override;
  Status recover(const Status& error, Recovery& out) override;

 private:
  struct Impl;
  explicit LevelDbStore(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

// Renames `path` to <path>.corrupt-<UTC timestamp> (with -1, -2, ... if taken); sets
// `moved_to`. Exposed for tests and for tools.
Status move_aside(const std::string& path, std::string& moved_to);

}  // namespace tern::storage
