// KvStore: the Store operations over an ordered key-value map (see kv_store.hpp).
#include "storage/kv_store.hpp"

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <utility>

#include "storage/format.hpp"

namespace tern::storage::detail {
namespace {

constexpr std::size_t kKeepOps = 16384;  // write_group scratch kept between groups

bool in_prefix(const KvIterator& it, std::string_view prefix) {
  return it.valid() && it.key().substr(0, prefix.size()) == prefix;
}

// The first non-ok status among the iterators (a corruption wins: it decides recovery).
Status first_error(std::initializer_list<const KvIterator*> its) {
  Status result;
  for (const KvIterator* it : its) {
    Status s = it->status();
    if (s.is_corruption()) return s;
    if (!s.ok() && result.ok()) result = std::move(s);
  }
  return result;
}

// Walks the records of one kind ("f/" or "q/") in step with the sessions: records of
// clients that sort before the current session have no session (orphans).
template <class Parse, class Take>
void collect_client(KvIterator& it, std::string_view prefix, std::string_view client,
                    bool session_ok, LoadStats& stats, Parse parse, Take take) {
  for (; in_prefix(it, prefix); it.next()) {
    std::string_view c;
    if (!parse(it.key(), c)) {
      ++stats.bad_records;
      continue;
    }
    const int cmp = c.compare(client);
    if (cmp > 0) return;
    if (cmp < 0 || !session_ok) {
      ++stats.orphans;
      continue;
    }
    take(it);
  }
}

}  // namespace

Status KvStore::load(LoadVisitor& v, const LoadOptions& opts, LoadStats& stats) {
  std::lock_guard<std::mutex> lock(write_mu_);
  stats = LoadStats{};
  Status s = load_locked(v, opts, stats);
  if (!s.is_corruption()) return s;
  Recovery rec;
  Status r = recover(s, rec);
  if (!r.ok()) return r;
  v.discard();
  stats = LoadStats{};
  stats.recovered = std::move(rec);
  return Status();
}

Status KvStore::load_locked(LoadVisitor& v, const LoadOptions& opts, LoadStats& stats) {
  std::unique_ptr<KvIterator> sit = new_iterator(true);
  std::unique_ptr<KvIterator> fit = new_iterator(true);
  std::unique_ptr<KvIterator> qit = new_iterator(true);
  sit->seek(format::kSessionPrefix);
  fit->seek(format::kInflightPrefix);
  qit->seek(format::kQueuePrefix);

  auto parse_f = [](std::string_view key, std::string_view& c) {
    std::uint16_t id = 0;
    return format::parse_inflight_key(key, c, id);
  };
  auto parse_q = [](std::string_view key, std::string_view& c) {
    std::uint64_t seq = 0;
    return format::parse_queue_key(key, c, seq);
  };

  for (; in_prefix(*sit, format::kSessionPrefix); sit->next()) {
    const std::string client(sit->key().substr(format::kSessionPrefix.size()));
    SessionRecord session;
    const bool ok = format::decode_session(client, sit->value(), session);
    if (!ok) ++stats.bad_records;

    std::vector<InflightRecord> flights;
    collect_client(*fit, format::kInflightPrefix, client, ok, stats, parse_f, [&](KvIterator& it) {
      std::string_view c;
      std::uint16_t id = 0;
      (void)format::parse_inflight_key(it.key(), c, id);
      InflightRecord f;
      if (format::decode_inflight(id, it.value(), f)) {
        flights.push_back(std::move(f));
      } else {
        ++stats.bad_records;
      }
    });

    QueueInfo info;
    std::vector<QueueEntry> head;
    std::uint64_t head_bytes = 0;
    collect_client(*qit, format::kQueuePrefix, client, ok, stats, parse_q, [&](KvIterator& it) {
      std::string_view c;
      std::uint64_t seq = 0;
      (void)format::parse_queue_key(it.key(), c, seq);
      std::uint64_t bytes = 0;
      if (!format::peek_queue_entry_bytes(it.value(), bytes)) {
        ++stats.bad_records;
        return;
      }
      const bool in_window =
          head.size() < opts.queue_window && (head.empty() || head_bytes < opts.queue_window_bytes);
      if (in_window) {
        QueueEntry e;
        if (!format::decode_queue_entry(seq, it.value(), e)) {
          ++stats.bad_records;
          return;
        }
        head_bytes += bytes;
        head.push_back(std::move(e));
      }
      if (info.count == 0) info.first_seq = seq;
      info.last_seq = seq;
      ++info.count;
      info.bytes += bytes;
    });

    if (!ok) continue;
    // [MQTT-4.4.0-1] resend in the original order, which packet ids do not give.
    std::sort(flights.begin(), flights.end(),
              [](const InflightRecord& a, const InflightRecord& b) { return a.order < b.order; });
    ++stats.sessions;
    stats.inflight += flights.size();
    stats.queued += info.count;
    v.on_session(std::move(session), std::move(flights), info, std::move(head));
  }
  for (; in_prefix(*fit, format::kInflightPrefix); fit->next()) ++stats.orphans;
  for (; in_prefix(*qit, format::kQueuePrefix); qit->next()) ++stats.orphans;
  if (Status s = first_error({sit.get(), fit.get(), qit.get()}); !s.ok()) return s;

  std::unique_ptr<KvIterator> rit = new_iterator(true);
  for (rit->seek(format::kRetainedPrefix); in_prefix(*rit, format::kRetainedPrefix); rit->next()) {
    StoredMessage m;
    if (!format::decode_retained(rit->value(), m) ||
        m.topic != rit->key().substr(format::kRetainedPrefix.size())) {
      ++stats.bad_records;
      continue;
    }
    ++stats.retained;
    v.on_retained(std::move(m));
  }
  return rit->status();
}

Status KvStore::read_queue(std::string_view client_id, std::uint64_t from_seq,
                           std::size_t max_entries, std::size_t max_bytes,
                           std::vector<QueueEntry>& out) {
  if (const char* e = format::check_name(client_id)) return Status::invalid_argument(e);
  std::string prefix;
  std::string start;
  format::queue_prefix(client_id, prefix);
  format::queue_key(client_id, from_seq, start);
  std::unique_ptr<KvIterator> it = new_iterator(false);
  std::size_t taken = 0;
  std::uint64_t bytes = 0;
  for (it->seek(start); taken < max_entries && in_prefix(*it, prefix); it->next()) {
    std::string_view c;
    std::uint64_t seq = 0;
    QueueEntry e;
    if (!format::parse_queue_key(it->key(), c, seq) ||
        !format::decode_queue_entry(seq, it->value(), e)) {
      ++bad_records_;
      continue;
    }
    bytes += e.message.topic.size() + e.message.payload.size();
    out.push_back(std::move(e));
    ++taken;
    if (bytes >= max_bytes) break;
  }
  return it->status();
}

Status KvStore::read_clock(ClockRecord& out) {
  std::string value;
  Status s = get(format::kClockKey, value);
  if (!s.ok()) return s;
  if (!format::decode_clock(value, out)) return Status::corruption("meta/clock does not decode");
  return Status();
}

void KvStore::drop_superseded(std::vector<KvOp>& ops) {
  const std::size_t n = ops.size();
  if (n < 2) return;
  keys_.clear();
  keys_.reserve(n);
  slot_of_.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const KvOp& op = ops[i];
    const KeyTable::Kind kind = op.erase    ? KeyTable::Kind::erase
                                : op.insert ? KeyTable::Kind::insert
                                            : KeyTable::Kind::put;
    slot_of_[i] = keys_.note(op.key, kind, static_cast<std::uint32_t>(i));
  }
  // A later op on the same key wins: a message put into flight and deleted on its PUBACK
  // within one group is written once, as the delete; and when its put was an insert, not
  // at all (the key is absent before and after the group).
  std::size_t keep = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t slot = slot_of_[i];
    if (keys_.last(slot) != i || keys_.cancelled(slot)) continue;
    ops[keep++] = ops[i];
  }
  ops.resize(keep);
}

Status KvStore::write_group(std::span<const Batch* const> batches, bool sync) {
  for (const Batch* b : batches) {
    if (!b->status().ok()) return b->status();
  }
  std::lock_guard<std::mutex> lock(write_mu_);
  ops_.clear();
  range_keys_.clear();
  std::size_t op_count = 0;
  for (const Batch* b : batches) {
    op_count += b->op_count();
    std::size_t pos = 0;
    Batch::Op op;
    while (b->next_op(pos, op)) {
      switch (op.kind) {
        case Batch::OpKind::put:
        case Batch::OpKind::insert:
          ops_.push_back({false, op.kind == Batch::OpKind::insert, op.key, op.value,
                          op.later != 0 ? b : nullptr, op.later});
          break;
        case Batch::OpKind::erase:
          ops_.push_back({true, false, op.key, {}, nullptr, 0});
          break;
        case Batch::OpKind::erase_range: {
          // Keys put earlier in this same group (not yet visible to the iterator), then
          // keys already stored. Deleting an absent key is harmless.
          const std::size_t before = ops_.size();
          for (std::size_t i = 0; i < before; ++i) {
            const KvOp& o = ops_[i];
            if (!o.erase && o.key >= op.key && o.key < op.value) {
              ops_.push_back({true, false, o.key, {}, nullptr, 0});
            }
          }
          std::unique_ptr<KvIterator> it = new_iterator(false);
          for (it->seek(op.key); it->valid() && it->key() < op.value; it->next()) {
            range_keys_.emplace_back(it->key());
            ops_.push_back({true, false, range_keys_.back(), {}, nullptr, 0});
          }
          if (Status s = it->status(); !s.ok()) return s;
          break;
        }
      }
    }
  }
  drop_superseded(ops_);
  // Values left to encode, now that cancelled inserts are gone: into one buffer, then the
  // views (the buffer moves while it grows).
  values_.clear();
  value_ends_.clear();
  for (const KvOp& op : ops_) {
    if (op.later == 0) continue;
    op.batch->encode_value(op.later, values_);
    value_ends_.push_back(values_.size());
  }
  if (!value_ends_.empty()) {
    std::size_t n = 0;
    std::size_t begin = 0;
    for (KvOp& op : ops_) {
      if (op.later == 0) continue;
      op.value = std::string_view(values_).substr(begin, value_ends_[n] - begin);
      begin = value_ends_[n++];
    }
  }
  std::uint64_t bytes = 0;
  Status s;
  // Everything cancelled out (sent and acknowledged within the group): the store is
  // already in the state the group describes, and earlier groups are durable.
  if (!ops_.empty()) s = apply(ops_, sync, bytes);
  if (s.ok()) {
    if (!ops_.empty()) {
      ++writes_;
      if (sync) ++synced_writes_;
    }
    batches_ += batches.size();
    ops_count_ += op_count;
    bytes_written_ += bytes;
  }
  range_keys_.clear();
  // After a big group, give its scratch memory back.
  if (values_.capacity() > (1u << 20)) std::string().swap(values_);
  if (ops_.capacity() > kKeepOps) std::vector<KvOp>().swap(ops_);
  if (slot_of_.capacity() > kKeepOps) std::vector<std::size_t>().swap(slot_of_);
  if (value_ends_.capacity() > kKeepOps) std::vector<std::size_t>().swap(value_ends_);
  return s;
}

StoreStats KvStore::stats() const {
  StoreStats s;
  s.writes = writes_.load();
  s.synced_writes = synced_writes_.load();
  s.batches = batches_.load();
  s.ops = ops_count_.load();
  s.bytes_written = bytes_written_.load();
  s.bad_records = bad_records_.load();
  return s;
}

}  // namespace tern::storage::detail
