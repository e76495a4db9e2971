// storage::Batch: an ordered list of writes that a Store commits atomically (all or none).
// The caller's thread serialises records into the batch, and a batch owns its bytes: the
// caller's messages may go away once a call returns. Except for the calls taking a `keep`
// handle: those hold a reference to the caller's immutable message instead, and the store
// encodes it when it writes the record, on its own thread, or never when the record is
// cancelled first (inserted and deleted within one write: a message acknowledged before
// its commit). Invalid input is not written: the first problem is kept in status() and
// makes Store::write_group / Committer::submit fail with invalid_argument.
// Thread safety: a value; build it on one thread, then move it to the committer. What a
// `keep` handle owns must not change while the batch holds it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/records.hpp"
#include "storage/status.hpp"

namespace tern::storage {

class Batch {
 public:
  // Creates or replaces the session record (its queue and in-flight flows are untouched).
  void put_session(const SessionRecord& s);
  // Deletes the session record and every queue entry and in-flight flow of the client.
  void delete_session(std::string_view client_id);

  // Adds a queue entry. REQUIRES: `seq` above every seq of this client's queue so far
  // (so the key is new: see OpKind::insert).
  void append_queue(std::string_view client_id, std::uint64_t seq, const Delivery& d,
                    const MessageView& m);
  // The same, encoded when written (see above): `keep` owns everything `m` views until the
  // batch is written or destroyed; d.subscription_ids is copied.
  void append_queue(std::string_view client_id, std::uint64_t seq, const Delivery& d,
                    const MessageView& m, std::shared_ptr<const void> keep);
  void remove_queue(std::string_view client_id, std::uint64_t seq);
  // Removes the entries with first <= seq <= last (the store expands the range into
  // deletes of the keys present when the batch is written: LevelDB has no range delete).
  void remove_queue_range(std::string_view client_id, std::uint64_t first, std::uint64_t last);
  void clear_queue(std::string_view client_id);

  // Creates or replaces the flow with f.packet_id, with the message to resend.
  void put_inflight(std::string_view client_id, const InflightInfo& f, const MessageView& m);
  // Creates the flow with f.packet_id, with the message to resend. REQUIRES: no record of
  // this packet id exists once the ops before it apply (the previous flow with the id was
  // deleted, or the session's flows were). A flow created and deleted within one group is
  // then never written at all (see OpKind::insert).
  void add_inflight(std::string_view client_id, const InflightInfo& f, const MessageView& m);
  // The same, encoded when written (as append_queue with `keep`).
  void add_inflight(std::string_view client_id, const InflightInfo& f, const MessageView& m,
                    std::shared_ptr<const void> keep);
  // The same without the message: only for InflightStage::await_pubcomp, where no PUBLISH
  // is ever resent (so PUBREC does not rewrite the payload).
  void put_inflight(std::string_view client_id, const InflightInfo& f);
  void delete_inflight(std::string_view client_id, std::uint16_t packet_id);

  // Creates or replaces the retained message of m.topic [MQTT-3.3.1-5].
  void put_retained(const MessageView& m);
  void delete_retained(std::string_view topic);

  // Saves the clock checkpoint (see storage/clock.hpp).
  void put_clock(const ClockRecord& c);

  bool empty() const { return ops_ == 0; }
  std::size_t op_count() const { return ops_; }
  // True when an op deletes something (only then can a batch cancel earlier inserts).
  bool has_erase() const { return has_erase_; }
  // True when an op puts or inserts a key.
  bool has_put() const { return has_put_; }
  // Bytes held (keys, values and framing; values still to encode by an estimate): what the
  // committer's bounds count.
  std::size_t byte_size() const { return rep_.size() + later_bytes_; }
  // ok, or invalid_argument naming the first input that could not be stored.
  const Status& status() const { return status_; }
  void clear();

  // ---- for Store implementations
  // insert: a put of a key the writer knows is absent when the op applies. A store may
  // then drop every op on that key within one write when the last of them is an erase
  // (the key ends as absent as it started): a message queued or sent and acknowledged
  // before its commit costs no write at all.
  enum class OpKind : std::uint8_t { put = 1, erase = 2, erase_range = 3, insert = 4 };
  struct Op {
    OpKind kind = OpKind::put;
    std::string_view key;    // erase_range: the first key of the range
    std::string_view value;  // put, insert: the value; erase_range: the end (excluded)
    // Not 0: an insert whose value is still to encode, with encode_value(later, ...);
    // `value` is then empty.
    std::uint32_t later = 0;
  };
  // Reads the op at `pos` and advances it; false past the last op. Start with pos = 0.
  bool next_op(std::size_t& pos, Op& op) const;
  // Appends the value of the op whose `later` this is.
  void encode_value(std::uint32_t later, std::string& out) const;

 private:
  static constexpr std::size_t kFirstReserve = 1024;
  void reserve_first();
  bool fail(const char* why);
  // Frames one op: kind, key, then the value written by the caller into rep_ directly
  // (begin_value / end_value) so a message is copied once, into the batch.
  void op_key(OpKind kind, std::string_view key);
  void op_range(std::string_view begin, std::string_view end);
  void put_flight(std::string_view client_id, const InflightInfo& f, const MessageView* m,
                  OpKind kind);
  bool check_flight(std::string_view client_id, const InflightInfo& f, const MessageView* m);
  // A record encoded when written: the message as viewed, kept alive by `keep`.
  struct Later {
    std::shared_ptr<const void> keep;
    MessageView message;
    std::vector<std::uint32_t> subscription_ids;
    InflightInfo flight;  // the flow (delivery.subscription_ids unset); or for a queue entry
                          // only delivery.qos and delivery.retain
    bool queue = false;
  };
  void op_later(std::string_view key, Later&& l);
  std::size_t begin_value();
  void end_value(std::size_t mark);

  std::string rep_;  // [kind:1][key len:4][key][value len:4][value] per op (no value for erase;
                     // for an insert to encode later, the value is the index in later_)
  std::vector<Later> later_;
  std::size_t later_bytes_ = 0;
  std::size_t ops_ = 0;
  bool has_erase_ = false;
  bool has_put_ = false;
  Status status_;
  std::string key_;  // scratch
};

}  // namespace tern::storage
