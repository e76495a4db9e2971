// MemoryStore: the Store contract kept in an ordered map in RAM, nothing on disk. For
// tests of code built on Store, and for running without storage.path. Same record format
// and semantics as LevelDbStore (both are KvStore), so one contract suite covers both.
// Thread safety: as Store.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>

#include "storage/kv_store.hpp"

namespace tern::storage {

class MemoryStore final : public detail::KvStore {
 public:
  MemoryStore() = default;
  ~MemoryStore() override = default;

  // For tests: replaces the value of `key` (e.g. to plant an undecodable record).
  void put_raw(std::string key, std::string value);

 protected:
  std::unique_ptr<detail::KvIterator> new_iterator(bool bulk) override;
  Status get(std::string_view key, std::string& value) override;
  Status apply(std::span<const detail::KvOp> ops, bool sync, std::uint64_t& bytes) override;

 private:
  class Iterator;
  using Map = std::map<std::string, std::string, std::less<>>;

  mutable std::shared_mutex mu_;
  Map map_;
  std::uint64_t generation_ = 0;  // bumped by every change; lets iterators skip re-seeks
};

}  // namespace tern::storage
