// MemoryStore: KvStore over a std::map guarded by a shared mutex.
#include "storage/memory_store.hpp"

#include <mutex>
#include <utility>

namespace tern::storage {

// Copies the current entry out under the lock, so no lock is held between calls (load()
// keeps several iterators alive on one thread, and a writer may run in between). When the
// map changed since the last step, it re-seeks past the current key.
class MemoryStore::Iterator final : public detail::KvIterator {
 public:
  explicit Iterator(MemoryStore& store) : store_(store) {}

  void seek(std::string_view key) override {
    std::shared_lock lock(store_.mu_);
    settle(store_.map_.lower_bound(key));
  }
  bool valid() const override { return valid_; }
  void next() override {
    std::shared_lock lock(store_.mu_);
    if (generation_ == store_.generation_) {
      settle(std::next(it_));
    } else {
      settle(store_.map_.upper_bound(key_));
    }
  }
  std::string_view key() const override { return key_; }
  std::string_view value() const override { return value_; }
  Status status() const override { return Status(); }

 private:
  // REQUIRES: the shared lock is held.
  void settle(Map::const_iterator it) {
    it_ = it;
    generation_ = store_.generation_;
    valid_ = it != store_.map_.end();
    if (valid_) {
      key_ = it->first;
      value_ = it->second;
    }
  }

  MemoryStore& store_;
  Map::const_iterator it_;
  std::uint64_t generation_ = 0;
  bool valid_ = false;
  std::string key_;
  std::string value_;
};

void MemoryStore::put_raw(std::string key, std::string value) {
  std::unique_lock lock(mu_);
  map_.insert_or_assign(std::move(key), std::move(value));
  ++generation_;
}

std::unique_ptr<detail::KvIterator> MemoryStore::new_iterator(bool) {
  return std::make_unique<Iterator>(*this);
}

Status MemoryStore::get(std::string_view key, std::string& value) {
  std::shared_lock lock(mu_);
  auto it = map_.find(key);
  if (it == map_.end()) return Status::not_found();
  value = it->second;
  return Status();
}

Status MemoryStore::apply(std::span<const detail::KvOp> ops, bool, std::uint64_t& bytes) {
  std::unique_lock lock(mu_);
  bytes = 0;
  for (const detail::KvOp& op : ops) {
    bytes += op.key.size() + op.value.size();
    if (op.erase) {
      auto it = map_.find(op.key);
      if (it != map_.end()) map_.erase(it);
    } else {
      auto it = map_.find(op.key);
      if (it != map_.end()) {
        it->second.assign(op.value);
      } else {
        map_.emplace(std::string(op.key), std::string(op.value));
      }
    }
  }
  ++generation_;
  return Status();
}

}  // namespace tern::storage
