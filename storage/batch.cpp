// storage::Batch: records serialised into one buffer of framed ops.
#include "storage/batch.hpp"

#include <cstdint>
#include <string>
#include <utility>

#include "storage/format.hpp"

namespace tern::storage {
namespace {

void put_len(std::string& out, std::size_t n) {
  const auto v = static_cast<std::uint32_t>(n);
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 8), static_cast<char>(v)};
  out.append(b, 4);
}

std::uint32_t get_len(const std::string& s, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<std::uint8_t>(s[at + i]);
  return v;
}

// The kind byte of an insert whose value is encoded when written (Op::later); next_op
// reports it as OpKind::insert.
constexpr char kLaterInsert = 5;

// What an entry to encode later counts in byte_size(): its message and a record's framing.
std::size_t later_estimate(const MessageView& m) {
  return 64 + m.topic.size() + m.payload.size() + m.origin_client_id.size();
}

// "<prefix>\0" -> "<prefix>\1": the first key after every key that starts with the prefix.
std::string prefix_end(std::string_view prefix_with_nul) {
  std::string end(prefix_with_nul);
  end.back() = '\x01';
  return end;
}

}  // namespace

bool Batch::fail(const char* why) {
  if (status_.ok()) status_ = Status::invalid_argument(why);
  return false;
}

void Batch::reserve_first() {
  // A batch usually holds a few ops of a few dozen bytes each (one round of events): one
  // allocation instead of the string doubling from empty.
  rep_.reserve(kFirstReserve);
}

void Batch::op_key(OpKind kind, std::string_view key) {
  if (rep_.capacity() < kFirstReserve) reserve_first();
  if (kind == OpKind::erase || kind == OpKind::erase_range) {
    has_erase_ = true;
  } else {
    has_put_ = true;
  }
  rep_.push_back(static_cast<char>(kind));
  put_len(rep_, key.size());
  rep_.append(key);
  ++ops_;
}

void Batch::op_range(std::string_view begin, std::string_view end) {
  op_key(OpKind::erase_range, begin);
  put_len(rep_, end.size());
  rep_.append(end);
}

std::size_t Batch::begin_value() {
  const std::size_t mark = rep_.size();
  put_len(rep_, 0);
  return mark;
}

void Batch::end_value(std::size_t mark) {
  const std::size_t n = rep_.size() - mark - 4;
  for (std::size_t i = 0; i < 4; ++i) {
    rep_[mark + i] = static_cast<char>(static_cast<std::uint32_t>(n) >> (24 - 8 * i));
  }
}

void Batch::put_session(const SessionRecord& s) {
  if (const char* e = format::check_session(s)) {
    fail(e);
    return;
  }
  format::session_key(s.client_id, key_);
  op_key(OpKind::put, key_);
  const std::size_t mark = begin_value();
  format::encode_session(s, rep_);
  end_value(mark);
}

void Batch::delete_session(std::string_view client_id) {
  if (const char* e = format::check_name(client_id)) {
    fail(e);
    return;
  }
  format::session_key(client_id, key_);
  op_key(OpKind::erase, key_);
  format::queue_prefix(client_id, key_);
  op_range(key_, prefix_end(key_));
  format::inflight_prefix(client_id, key_);
  op_range(key_, prefix_end(key_));
}

void Batch::append_queue(std::string_view client_id, std::uint64_t seq, const Delivery& d,
                         const MessageView& m) {
  const char* e = format::check_name(client_id);
  if (e == nullptr) e = format::check_delivery(d);
  if (e == nullptr) e = format::check_message(m);
  if (e != nullptr) {
    fail(e);
    return;
  }
  format::queue_key(client_id, seq, key_);
  op_key(OpKind::insert, key_);  // a seq above every one so far: a new key
  const std::size_t mark = begin_value();
  format::encode_queue_entry(d, m, rep_);
  end_value(mark);
}

void Batch::append_queue(std::string_view client_id, std::uint64_t seq, const Delivery& d,
                         const MessageView& m, std::shared_ptr<const void> keep) {
  const char* e = format::check_name(client_id);
  if (e == nullptr) e = format::check_delivery(d);
  if (e == nullptr) e = format::check_message(m);
  if (e != nullptr) {
    fail(e);
    return;
  }
  format::queue_key(client_id, seq, key_);
  Later l;
  l.keep = std::move(keep);
  l.message = m;
  l.subscription_ids.assign(d.subscription_ids.begin(), d.subscription_ids.end());
  l.flight.delivery.qos = d.qos;
  l.flight.delivery.retain = d.retain;
  l.queue = true;
  op_later(key_, std::move(l));
}

void Batch::op_later(std::string_view key, Later&& l) {
  if (rep_.capacity() < kFirstReserve) reserve_first();
  if (later_.empty()) later_.reserve(16);
  rep_.push_back(kLaterInsert);
  put_len(rep_, key.size());
  rep_.append(key);
  put_len(rep_, 4);
  put_len(rep_, later_.size());
  ++ops_;
  has_put_ = true;
  later_bytes_ += later_estimate(l.message);
  later_.push_back(std::move(l));
}

void Batch::encode_value(std::uint32_t later, std::string& out) const {
  const Later& l = later_[later - 1];
  if (l.queue) {
    format::encode_queue_entry(
        Delivery{l.flight.delivery.qos, l.flight.delivery.retain, l.subscription_ids}, l.message,
        out);
  } else {
    InflightInfo f = l.flight;
    f.delivery.subscription_ids = l.subscription_ids;
    format::encode_inflight(f, &l.message, out);
  }
}

void Batch::remove_queue(std::string_view client_id, std::uint64_t seq) {
  // One known key: a plain delete (a range would make the store walk an iterator).
  if (const char* e = format::check_name(client_id)) {
    fail(e);
    return;
  }
  format::queue_key(client_id, seq, key_);
  op_key(OpKind::erase, key_);
}

void Batch::remove_queue_range(std::string_view client_id, std::uint64_t first,
                               std::uint64_t last) {
  if (const char* e = format::check_name(client_id)) {
    fail(e);
    return;
  }
  if (first > last) return;
  std::string end;
  if (last == UINT64_MAX) {
    format::queue_prefix(client_id, end);
    end = prefix_end(end);
  } else {
    format::queue_key(client_id, last + 1, end);
  }
  format::queue_key(client_id, first, key_);
  op_range(key_, end);
}

void Batch::clear_queue(std::string_view client_id) {
  if (const char* e = format::check_name(client_id)) {
    fail(e);
    return;
  }
  format::queue_prefix(client_id, key_);
  op_range(key_, prefix_end(key_));
}

void Batch::put_inflight(std::string_view client_id, const InflightInfo& f, const MessageView& m) {
  put_flight(client_id, f, &m, OpKind::put);
}

void Batch::add_inflight(std::string_view client_id, const InflightInfo& f, const MessageView& m) {
  put_flight(client_id, f, &m, OpKind::insert);
}

void Batch::put_inflight(std::string_view client_id, const InflightInfo& f) {
  put_flight(client_id, f, nullptr, OpKind::put);
}

void Batch::add_inflight(std::string_view client_id, const InflightInfo& f, const MessageView& m,
                         std::shared_ptr<const void> keep) {
  if (!check_flight(client_id, f, &m)) return;
  format::inflight_key(client_id, f.packet_id, key_);
  Later l;
  l.keep = std::move(keep);
  l.message = m;
  l.subscription_ids.assign(f.delivery.subscription_ids.begin(),
                            f.delivery.subscription_ids.end());
  l.flight = f;
  l.flight.delivery.subscription_ids = {};
  op_later(key_, std::move(l));
}

void Batch::put_flight(std::string_view client_id, const InflightInfo& f, const MessageView* m,
                       OpKind kind) {
  if (!check_flight(client_id, f, m)) return;
  format::inflight_key(client_id, f.packet_id, key_);
  op_key(kind, key_);
  const std::size_t mark = begin_value();
  format::encode_inflight(f, m, rep_);
  end_value(mark);
}

bool Batch::check_flight(std::string_view client_id, const InflightInfo& f, const MessageView* m) {
  const char* e = format::check_name(client_id);
  if (e == nullptr) e = format::check_delivery(f.delivery);
  if (e == nullptr && f.packet_id == 0) e = "packet identifier 0 [MQTT-2.2.1-3]";
  if (e == nullptr && f.stage > InflightStage::await_pubcomp) e = "unknown in-flight stage";
  if (e == nullptr && m == nullptr && f.stage != InflightStage::await_pubcomp) {
    e = "in-flight PUBLISH without its message";
  }
  if (e == nullptr && m != nullptr) e = format::check_message(*m);
  if (e != nullptr) return fail(e);
  return true;
}

void Batch::delete_inflight(std::string_view client_id, std::uint16_t packet_id) {
  if (const char* e = format::check_name(client_id)) {
    fail(e);
    return;
  }
  format::inflight_key(client_id, packet_id, key_);
  op_key(OpKind::erase, key_);
}

void Batch::put_retained(const MessageView& m) {
  if (const char* e = format::check_message(m)) {
    fail(e);
    return;
  }
  format::retained_key(m.topic, key_);
  op_key(OpKind::put, key_);
  const std::size_t mark = begin_value();
  format::encode_retained(m, rep_);
  end_value(mark);
}

void Batch::delete_retained(std::string_view topic) {
  if (const char* e = format::check_name(topic)) {
    fail(e);
    return;
  }
  format::retained_key(topic, key_);
  op_key(OpKind::erase, key_);
}

void Batch::put_clock(const ClockRecord& c) {
  op_key(OpKind::put, format::kClockKey);
  const std::size_t mark = begin_value();
  format::encode_clock(c, rep_);
  end_value(mark);
}

void Batch::clear() {
  rep_.clear();
  later_.clear();
  later_bytes_ = 0;
  ops_ = 0;
  has_erase_ = false;
  has_put_ = false;
  status_ = Status();
}

bool Batch::next_op(std::size_t& pos, Op& op) const {
  if (pos + 5 > rep_.size()) return false;
  const char kind = rep_[pos];
  const std::uint32_t klen = get_len(rep_, pos + 1);
  pos += 5;
  op.key = std::string_view(rep_).substr(pos, klen);
  pos += klen;
  op.value = {};
  op.later = 0;
  if (kind == kLaterInsert) {
    op.kind = OpKind::insert;
    op.later = get_len(rep_, pos + 4) + 1;
    pos += 8;
    return true;
  }
  op.kind = static_cast<OpKind>(kind);
  if (op.kind != OpKind::erase) {
    const std::uint32_t vlen = get_len(rep_, pos);
    pos += 4;
    op.value = std::string_view(rep_).substr(pos, vlen);
    pos += vlen;
  }
  return true;
}

}  // namespace tern::storage
