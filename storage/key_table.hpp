// tern_storage internal: KeyTable, the net effect per key of a run of Batch ops, for
// dropping superseded ops (KvStore::write_group) and for telling when a run of batches
// cancels out entirely (Committer). Keys are borrowed: the batches they point into must
// outlive the table's use (until clear()). Open addressing with a stamp per slot, so
// clear() is O(1) and a steady stream of groups allocates nothing.
// Thread safety: a value; one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "storage/batch.hpp"

namespace tern::storage::detail {

class KeyTable {
 public:
  using Kind = Batch::OpKind;

  // Forgets every key (keeps the memory, up to a small table: a burst's is given back).
  void clear() {
    if (slots_.size() > kKeepSlots) std::vector<Slot>().swap(slots_);
    ++stamp_;
    used_ = 0;
    dirty_ = 0;
    live_ = 0;
    has_range_ = false;
  }

  // Makes room for `keys` keys, so that the slots note() returns stay valid until then.
  void reserve(std::size_t keys) {
    while (2 * (used_ + keys) > slots_.size()) grow();
  }

  // Records an op on `key` (put, insert or erase); returns the key's slot, valid until
  // clear() or a note() that has to grow the table (never within a reserve()).
  std::size_t note(std::string_view key, Kind kind, std::uint32_t index) {
    if (2 * (used_ + 1) > slots_.size()) grow();
    const std::size_t mask = slots_.size() - 1;
    std::size_t at = std::hash<std::string_view>{}(key) & mask;
    for (;;) {
      Slot& s = slots_[at];
      if (s.stamp != stamp_) {
        s = Slot{stamp_, key, index, kind, kind};
        ++used_;
        ++dirty_;  // one op alone always changes the store
        if (kind != Kind::erase) ++live_;
        return at;
      }
      if (s.key == key) {
        const bool was = s.dirty();
        const bool was_live = s.last_kind != Kind::erase;
        s.last_kind = kind;
        s.last = index;
        if (was && !s.dirty()) --dirty_;
        if (!was && s.dirty()) ++dirty_;
        const bool live = kind != Kind::erase;
        if (was_live && !live) --live_;
        if (!was_live && live) ++live_;
        return at;
      }
      at = (at + 1) & mask;
    }
  }
  // A range delete: its keys are only known to the store, so the run no longer cancels out.
  void note_range() { has_range_ = true; }

  // Records every op of `b`; true when one of them erases a key (which may complete a
  // cancelling pair).
  bool note_all(const Batch& b) {
    std::size_t pos = 0;
    Batch::Op op;
    bool erases = false;
    while (b.next_op(pos, op)) {
      if (op.kind == Kind::erase_range) {
        note_range();
      } else {
        note(op.key, op.kind, 0);
        erases = erases || op.kind == Kind::erase;
      }
    }
    return erases;
  }

  // True when applying the ops noted since clear() would leave the store as it is: every
  // key was first inserted (known absent) and last erased, and no range was deleted.
  bool cancels_out() const { return dirty_ == 0 && !has_range_; }
  // True when no key noted since clear() ends written (put or inserted): what the ops
  // change is deletions only, which no later op can cancel.
  bool only_deletes() const { return live_ == 0; }

  // For the slot returned by note(): the index of its key's last op, and whether the key
  // ends as it started (inserted, then erased).
  std::uint32_t last(std::size_t slot) const { return slots_[slot].last; }
  bool cancelled(std::size_t slot) const { return !slots_[slot].dirty(); }

  // True when `key` was noted since clear() and its ops cancel out (first inserted, last
  // erased); false for a key not noted.
  bool key_cancelled(std::string_view key) const {
    if (slots_.empty()) return false;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t at = std::hash<std::string_view>{}(key) & mask;; at = (at + 1) & mask) {
      const Slot& s = slots_[at];
      if (s.stamp != stamp_) return false;
      if (s.key == key) return !s.dirty();
    }
  }

 private:
  static constexpr std::size_t kKeepSlots = 4096;  // 128 KiB

  struct Slot {
    std::uint64_t stamp = 0;
    std::string_view key;
    std::uint32_t last = 0;
    Kind first_kind = Kind::put;
    Kind last_kind = Kind::put;
    bool dirty() const { return !(first_kind == Kind::insert && last_kind == Kind::erase); }
  };

  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(old.empty() ? 64 : old.size() * 2, Slot{});
    const std::uint64_t stamp = stamp_;
    const std::size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.stamp != stamp) continue;
      std::size_t at = std::hash<std::string_view>{}(s.key) & mask;
      while (slots_[at].stamp == stamp) at = (at + 1) & mask;
      slots_[at] = s;
    }
  }

  std::vector<Slot> slots_;
  std::uint64_t stamp_ = 1;  // slots start at 0: unused
  std::size_t used_ = 0;
  std::size_t dirty_ = 0;  // keys whose ops so far change the store
  std::size_t live_ = 0;   // keys whose last op so far puts a value
  bool has_range_ = false;
};

}  // namespace tern::storage::detail
