// LevelDbStore: KvStore over LevelDB, with corruption handling (see leveldb_store.hpp).
#include "storage/leveldb_store.hpp"

#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/iterator.h>
#include <leveldb/options.h>
#include <leveldb/write_batch.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <system_error>
#include <utility>

#include "storage/format.hpp"

namespace tern::storage {
namespace {

namespace fs = std::filesystem;

leveldb::Slice slice(std::string_view s) { return leveldb::Slice(s.data(), s.size()); }
std::string_view view(const leveldb::Slice& s) { return std::string_view(s.data(), s.size()); }

Status from_leveldb(const leveldb::Status& s) {
  if (s.ok()) return Status();
  if (s.IsNotFound()) return Status::not_found(s.ToString());
  if (s.IsCorruption()) return Status::corruption(s.ToString());
  if (s.IsInvalidArgument()) return Status::invalid_argument(s.ToString());
  return Status::io_error(s.ToString());
}

// A database LevelDB cannot read back. InvalidArgument at open means a descriptor naming
// another comparator, i.e. garbage where the MANIFEST should be. IO errors are not about
// the data (permissions, a lock held by another process, a full disk): moving the
// directory aside then would throw away a good store, or the one a running broker uses.
bool is_bad_data(const leveldb::Status& s) { return s.IsCorruption() || s.IsInvalidArgument(); }

class LevelDbIterator final : public detail::KvIterator {
 public:
  explicit LevelDbIterator(leveldb::Iterator* it) : it_(it) {}
  void seek(std::string_view key) override { it_->Seek(slice(key)); }
  bool valid() const override { return it_->Valid(); }
  void next() override { it_->Next(); }
  std::string_view key() const override { return view(it_->key()); }
  std::string_view value() const override { return view(it_->value()); }
  Status status() const override { return from_leveldb(it_->status()); }

 private:
  std::unique_ptr<leveldb::Iterator> it_;
};

// Stands in for the database after a failed recovery left none open.
class ErrorIterator final : public detail::KvIterator {
 public:
  void seek(std::string_view) override {}
  bool valid() const override { return false; }
  void next() override {}
  std::string_view key() const override { return {}; }
  std::string_view value() const override { return {}; }
  Status status() const override { return Status::io_error("store is closed"); }
};

std::string utc_stamp() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return std::string(buf, n);
}

}  // namespace

struct LevelDbStore::Impl {
  LevelDbOptions opts;
  std::unique_ptr<leveldb::Cache> cache;  // outlives db (declared first)
  std::unique_ptr<leveldb::DB> db;
  leveldb::WriteBatch wb;  // reused by apply(), under KvStore::write_mu_

  leveldb::Options leveldb_options() {
    leveldb::Options o;
    o.create_if_missing = true;
    // Report damage instead of silently skipping it (a torn record at the end of the log
    // after a power cut is not damage: LevelDB treats it as the end of the log).
    o.paranoid_checks = true;
    o.block_cache = cache.get();
    o.write_buffer_size = opts.write_buffer_size;
    o.max_open_files = opts.max_open_files;
    o.compression = opts.compress ? leveldb::kSnappyCompression : leveldb::kNoCompression;
    return o;
  }

  leveldb::Status open_db() {
    leveldb::DB* raw = nullptr;
    leveldb::Status s = leveldb::DB::Open(leveldb_options(), opts.path, &raw);
    db.reset(raw);
    return s;
  }

  // Checks meta/version, writing it into a new store. Corruption when it does not decode.
  Status check_version() {
    std::string value;
    leveldb::ReadOptions ro;
    ro.verify_checksums = true;
    leveldb::Status s = db->Get(ro, slice(format::kVersionKey), &value);
    if (s.IsNotFound()) {
      std::unique_ptr<leveldb::Iterator> it(db->NewIterator(ro));
      it->SeekToFirst();
      if (!it->status().ok()) return from_leveldb(it->status());
      if (it->Valid()) return Status::corruption("store has data but no meta/version");
      std::string v;
      format::encode_format_version(v);
      leveldb::WriteOptions wo;
      wo.sync = true;
      return from_leveldb(db->Put(wo, slice(format::kVersionKey), slice(v)));
    }
    if (!s.ok()) return from_leveldb(s);
    std::uint32_t version = 0;
    if (!format::decode_format_version(value, version)) {
      return Status::corruption("meta/version does not decode");
    }
    if (version > format::kFormatVersion) {
      // Not corruption: a newer Tern wrote it. Moving it aside would lose it on a downgrade.
      return Status::invalid_argument("store format " + std::to_string(version) +
                                      " is newer than this build reads (" +
                                      std::to_string(format::kFormatVersion) + ")");
    }
    return Status();
  }

  // Opens the directory; with bad data and move_aside, moves it and opens an empty one.
  Status open_or_recover(std::optional<Recovery>& recovered) {
    leveldb::Status ls = open_db();
    Status s;
    if (ls.ok()) {
      s = check_version();
    } else if (is_bad_data(ls)) {
      s = Status::corruption(ls.ToString());
    } else {
      return from_leveldb(ls);
    }
    if (!s.is_corruption()) return s;
    Recovery rec;
    Status r = recover_locked(s, rec);
    if (r.ok()) recovered = std::move(rec);
    return r;
  }

  Status recover_locked(const Status& error, Recovery& out) {
    if (opts.on_corruption == OnCorruption::fail) return error;
    db.reset();  // closes files and releases the directory's LOCK
    out.reason = error.message();
    if (Status s = move_aside(opts.path, out.moved_to); !s.ok()) return s;
    leveldb::Status ls = open_db();
    if (!ls.ok()) return from_leveldb(ls);
    return check_version();
  }
};

LevelDbStore::LevelDbStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LevelDbStore::~LevelDbStore() = default;

Status LevelDbStore::open(const LevelDbOptions& opts, std::unique_ptr<LevelDbStore>& out,
                          std::optional<Recovery>& recovered) {
  out.reset();
  recovered.reset();
  if (opts.path.empty()) return Status::invalid_argument("storage path is empty");
  std::error_code ec;
  fs::create_directories(opts.path, ec);
  if (ec) return Status::io_error("cannot create " + opts.path + ": " + ec.message());
  auto impl = std::make_unique<Impl>();
  impl->opts = opts;
  impl->cache.reset(leveldb::NewLRUCache(opts.cache_size));
  if (Status s = impl->open_or_recover(recovered); !s.ok()) return s;
  out.reset(new LevelDbStore(std::move(impl)));
  return Status();
}

const LevelDbOptions& LevelDbStore::options() const { return impl_->opts; }

std::uint64_t LevelDbStore::approximate_memory_usage() const {
  std::string v;
  if (!impl_->db || !impl_->db->GetProperty("leveldb.approximate-memory-usage", &v)) return 0;
  return std::strtoull(v.c_str(), nullptr, 10);
}

std::unique_ptr<detail::KvIterator> LevelDbStore::new_iterator(bool bulk) {
  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  ro.fill_cache = !bulk;
  if (!impl_->db) return std::make_unique<ErrorIterator>();
  return std::make_unique<LevelDbIterator>(impl_->db->NewIterator(ro));
}

Status LevelDbStore::get(std::string_view key, std::string& value) {
  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  if (!impl_->db) return Status::io_error("store is closed");
  return from_leveldb(impl_->db->Get(ro, slice(key), &value));
}

Status LevelDbStore::apply(std::span<const detail::KvOp> ops, bool sync, std::uint64_t& bytes) {
  if (!impl_->db) return Status::io_error("store is closed");
  leveldb::WriteBatch& wb = impl_->wb;
  wb.Clear();
  for (const detail::KvOp& op : ops) {
    if (op.erase) {
      wb.Delete(slice(op.key));
    } else {
      wb.Put(slice(op.key), slice(op.value));
    }
  }
  leveldb::WriteOptions wo;
  wo.sync = sync;
  bytes = wb.ApproximateSize();
  return from_leveldb(impl_->db->Write(wo, &wb));
}

Status LevelDbStore::recover(const Status& error, Recovery& out) {
  return impl_->recover_locked(error, out);
}

Status move_aside(const std::string& path_in, std::string& moved_to) {
  // "dir/" would otherwise become "dir/.corrupt-...", a rename into itself.
  std::string path = path_in;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const std::string base = path + ".corrupt-" + utc_stamp();
  std::error_code ec;
  for (int i = 0; i < 1000; ++i) {
    std::string target = i == 0 ? base : base + "-" + std::to_string(i);
    if (fs::exists(target, ec)) continue;
    fs::rename(path, target, ec);
    if (ec) return Status::io_error("cannot move " + path + " aside: " + ec.message());
    moved_to = std::move(target);
    return Status();
  }
  return Status::io_error("cannot move " + path + " aside: too many corrupt copies");
}

}  // namespace tern::storage
