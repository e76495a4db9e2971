// Persistence of core state: the writes each event produces (as storage::Batch), the
// acknowledgements that wait for them to be durable, and the RAM window of stored queues.
// Loading the state back is restore.cpp.
//
// What is written, and when (only for durable sessions, see Impl::durable):
//   session record  CONNECT, SUBSCRIBE/UNSUBSCRIBE, inbound QoS 2 id added/released,
//                   connection end (expiry deadline, delayed will), will sent
//   queue entry     appended when a message is queued; removed when sent or dropped
//   in-flight flow  put when the PUBLISH is sent and on PUBREC; deleted when complete
//   retained        put/deleted with the retained store (for every publisher)
// A message is acknowledged (PUBACK/PUBREC) only once the batch of its PUBLISH event is
// durable, and PUBCOMP only once the released inbound QoS 2 id is; an acknowledgement that
// needs no write still waits behind earlier ones of its connection, keeping their order.
// Queue entries and new in-flight flows are written as inserts (their keys are new), so a
// message queued or sent and acknowledged before its commit cancels out in the storage
// layer: no write, and no fsync to wait for (storage/committer.hpp).
#include <algorithm>
#include <cassert>
#include <utility>

#include "broker/core/broker_impl.hpp"

namespace tern::core {

namespace {

storage::InflightStage stage_of(OutboundFlight::Stage s) {
  switch (s) {
    case OutboundFlight::Stage::AwaitPuback:
      return storage::InflightStage::await_puback;
    case OutboundFlight::Stage::AwaitPubrec:
      return storage::InflightStage::await_pubrec;
    case OutboundFlight::Stage::AwaitPubcomp:
      return storage::InflightStage::await_pubcomp;
  }
  return storage::InflightStage::await_puback;
}

}  // namespace

storage::MessageView Broker::Impl::view(const Message& m) const {
  storage::MessageView v;
  v.topic = m.topic;
  v.payload = m.payload;
  v.qos = m.qos;
  v.retain = m.retain;
  v.props = m.props.get();
  if (m.expires_at) v.expires_at = to_broker(*m.expires_at);
  v.origin_client_id = m.origin_client_id;
  return v;
}

void Broker::Impl::persist_session(Session& s) {
  if (!s.dur) {
    s.dur = std::make_unique<DurableState>();
    // A new stored session starts from a clean slate: queue or in-flight records left
    // under this client id without a session record (skipped at load as orphans) must not
    // meet the new session's keys (its first seq and packet ids are inserts).
    batch.delete_session(s.client_id);
  }
  storage::SessionRecord r;
  r.client_id = s.client_id;
  r.version = s.version;
  r.expiry_interval = s.expiry_interval;
  if (!s.live && s.expires_at != Time::max()) r.expires_at = to_broker(s.expires_at);
  if (const ConnectionState* c = s.live; c && c->will) {
    // Stored while connected so that a crash, which closes the connection without
    // DISCONNECT, still publishes it after the restart [MQTT-3.1.2-8].
    r.will = *c->will;
  } else if (s.pending_will) {
    r.will = s.pending_will->will;
    r.will_due = to_broker(s.pending_will->due);
  }
  r.subscriptions.reserve(s.subscriptions.size());
  for (const auto& [filter, o] : s.subscriptions) {
    r.subscriptions.push_back(storage::SubscriptionRecord{
        filter, o.max_qos, o.no_local, o.retain_as_published, o.retain_handling,
        o.subscription_id});
  }
  r.inbound_qos2 = s.inbound_qos2_ids();
  batch.put_session(r);
}

void Broker::Impl::hold(ConnectionState& c, DeferredAck&& d) {
  if (!c.acks) c.acks = std::make_unique<Ring<DeferredAck>>();
  c.acks->push_back(std::move(d));
  if (!c.ack_listed) {
    c.ack_listed = true;
    ack_conns.push_back(c.id);
  }
  ++stats.acks_waiting;
}

void Broker::Impl::defer(ConnectionState& c, std::uint64_t token, Action&& a) {
  DeferredAck d;
  d.token = token;
  d.action = std::make_unique<Action>(std::move(a));
  hold(c, std::move(d));
}

void Broker::Impl::send_ack(ConnectionState& c, codec::PacketType type, codec::PubAck&& ack) {
  const bool waiting = c.acks && !c.acks->empty();
  // Only this event's own writes hold an acknowledgement back (and, for order, one
  // already waiting on this connection); other clients' pending writes do not.
  static const codec::Properties kNoProperties;
  const bool plain = ack.props == kNoProperties;
  if (persist && (waiting || batch.op_count() > event_mark)) {
    std::uint64_t token = batch.empty() ? next_token - 1 : next_token;
    if (waiting) token = std::max(token, c.acks->back().token);
    if (waiting || token > durable_token) {
      if (plain) {
        DeferredAck d;
        d.token = token;
        d.packet_id = ack.packet_id;
        d.type = type;
        d.reason_code = ack.reason_code;
        hold(c, std::move(d));
      } else {
        defer(c, token, SendPacket{c.id, ack_packet(type, std::move(ack)), c.version});
      }
      return;
    }
  }
  if (plain) {
    Action a = SendAck{c.id, type, ack.reason_code, ack.packet_id, c.version};
    if (!queue_behind(c, a)) actions.push_back(std::move(a));
    return;
  }
  send(c, ack_packet(type, std::move(ack)));
}

void Broker::Impl::send_held(ConnectionState& c, Action&& a, std::uint64_t token) {
  // Held packets are released in ring order, so the newest one's token is the largest:
  // waiting for it as well keeps this packet behind all of them.
  const bool waiting = c.acks && !c.acks->empty();
  if (waiting) token = std::max(token, c.acks->back().token);
  if (waiting || (persist && token > durable_token)) {
    defer(c, token, std::move(a));
    return;
  }
  actions.push_back(std::move(a));
}

void Broker::Impl::flush_batch() {
  if (!persist || batch.empty()) return;
  const std::size_t bytes = batch.byte_size();
  pending_requests.emplace_back(next_token, bytes);
  pending_bytes += bytes;
  requests.push_back(PersistRequest{std::move(batch), next_token++});
  batch.clear();
}

void Broker::Impl::queue_removed(Session& s, const QueuedMessage& m) {
  if (m.seq != 0 && s.dur) batch.remove_queue(s.client_id, m.seq);
}

namespace {

storage::InflightInfo info_of(const OutboundFlight& f) {
  storage::InflightInfo info;
  info.packet_id = f.packet_id;
  info.order = f.order;
  info.stage = stage_of(f.stage);
  info.delivery = storage::Delivery{f.qos, f.retain, f.subscription_ids};
  return info;
}

}  // namespace

void Broker::Impl::put_flight(Session& s, OutboundFlight& f) {
  f.token = next_token;  // the request this batch becomes
  if (f.stage == OutboundFlight::Stage::AwaitPubcomp || !f.msg) {
    batch.put_inflight(s.client_id, info_of(f));  // only the PUBREL is ever resent
  } else {
    batch.put_inflight(s.client_id, info_of(f), view(*f.msg));
  }
}

void Broker::Impl::add_flight(Session& s, OutboundFlight& f) {
  assert(f.msg && f.stage != OutboundFlight::Stage::AwaitPubcomp);
  f.token = next_token;
  // An insert: the packet id is free, and every flow that used it before was deleted by
  // an earlier op (its completion, or the session's deletion), so a flow acknowledged
  // before its commit is never written.
  // Encoded by the storage thread if it is written at all (the message is immutable and
  // shared: the batch keeps a reference).
  batch.add_inflight(s.client_id, info_of(f), view(*f.msg), f.msg);
}

void Broker::Impl::durable_enqueue(Session& s, QueuedMessage&& m) {
  assert(s.dur);
  DurableState& d = *s.dur;
  const QueueLimits lim = queue_limits(s);
  const std::size_t size = m.msg->size_bytes();
  if (lim.max_messages == 0 || size > lim.max_bytes) {  // can never fit
    count_drop(s, false, m.msg);
    return;
  }
  // The limits count the whole queue, RAM window and disk together.
  while (queued_total(s) + 1 > lim.max_messages ||
         s.queue.bytes() + d.disk_bytes + size > lim.max_bytes) {
    // Drop-oldest takes the head, which is in RAM unless the window drained; when the head
    // is still being committed it cannot be read back, and the newest is dropped instead.
    if (!lim.drop_oldest || (s.queue.empty() && !refill(s)) || s.queue.empty()) {
      count_drop(s, false, m.msg);
      return;
    }
    const QueuedMessage old = s.queue.pop_front();
    queue_removed(s, old);
    --stats.queued_messages;
    count_drop(s, true, old.msg);
  }
  m.seq = d.next_seq++;
  batch.append_queue(s.client_id, m.seq, storage::Delivery{m.qos, m.retain, m.subscription_ids},
                     view(*m.msg), m.msg);
  ++stats.queued_messages;
  const PersistenceOptions& o = *persist;
  // Past memory_budget the RAM window counts as full: the message stays on disk only,
  // and is read back as the window drains.
  const bool window_full =
      s.queue.size() >= o.queue_window ||
      (!s.queue.empty() && s.queue.bytes() + size > o.queue_window_bytes) ||
      !within_memory_budget(*m.msg);
  if (d.disk_count > 0 || window_full) {
    // Past the RAM window: on disk only, read back in order as the window drains.
    if (d.disk_count == 0) d.disk_from = m.seq;
    ++d.disk_count;
    d.disk_bytes += size;
    d.spill_token = next_token;
    ++stats.queued_on_disk;
    return;
  }
  const bool expires = m.msg->expires_at.has_value();
  bool accepted = false;
  s.queue.push(std::move(m), QueueLimits{SIZE_MAX, SIZE_MAX, true}, accepted);
  if (expires) arm_session(s);
}

MessagePtr Broker::Impl::from_stored(storage::StoredMessage&& sm) const {
  auto m = std::make_shared<Message>();
  m->topic = std::move(sm.topic);
  m->payload = std::move(sm.payload);
  m->qos = sm.qos;
  m->retain = sm.retain;
  m->props = std::move(sm.props);
  if (sm.expires_at) m->expires_at = to_steady(*sm.expires_at);
  m->origin_client_id = std::move(sm.origin_client_id);
  m->created = last_now;  // the arrival time is not stored: age counts from the reload
  return m;
}

bool Broker::Impl::refill(Session& s) {
  if (!s.dur || s.dur->disk_count == 0) return false;
  DurableState& d = *s.dur;
  const PersistenceOptions& o = *persist;
  const std::size_t room = s.queue.size() < o.queue_window ? o.queue_window - s.queue.size() : 1;
  // Within memory_budget too; read_queue always hands over the first entry, so a session
  // draining while the budget is used up still moves, one message at a time.
  std::size_t max_bytes = o.queue_window_bytes;
  if (opts.memory_budget != 0) {
    const std::uint64_t left =
        queue_mem.bytes < opts.memory_budget ? opts.memory_budget - queue_mem.bytes : 0;
    max_bytes = static_cast<std::size_t>(std::min<std::uint64_t>(max_bytes, left));
  }
  std::vector<storage::QueueEntry> got;
  const storage::Status st = o.store->read_queue(s.client_id, d.disk_from, room, max_bytes, got);
  if (!st.ok()) ++stats.storage_failures;
  if (got.empty()) {
    if (st.ok() && d.spill_token <= durable_token) {
      // Everything appended is committed and nothing is left: the count was stale (a
      // record that did not decode was skipped). Forget the phantom entries.
      stats.queued_on_disk -= d.disk_count;
      stats.queued_messages -= d.disk_count;
      d.disk_count = 0;
      d.disk_bytes = 0;
    }
    return false;
  }
  bool expires = false;
  for (storage::QueueEntry& e : got) {
    if (d.disk_count == 0) break;
    QueuedMessage q;
    q.msg = from_stored(std::move(e.message));
    q.qos = e.qos;
    q.retain = e.retain;
    q.subscription_ids = std::move(e.subscription_ids);
    q.seq = e.seq;
    const std::size_t size = q.msg->size_bytes();
    expires = expires || q.msg->expires_at.has_value();
    --d.disk_count;
    d.disk_bytes -= std::min<std::uint64_t>(d.disk_bytes, size);
    --stats.queued_on_disk;
    d.disk_from = e.seq + 1;
    bool accepted = false;
    s.queue.push(std::move(q), QueueLimits{SIZE_MAX, SIZE_MAX, true}, accepted);
  }
  if (d.disk_count == 0) d.disk_bytes = 0;
  if (expires) arm_session(s);
  return true;
}

void Broker::Impl::release_acks(Time now, std::uint64_t failed_token) {
  std::vector<ConnId> list;
  list.swap(ack_conns);
  for (ConnId id : list) {
    ConnectionState* c = find_conn(id);
    if (!c) continue;  // gone; on_closed already uncounted its acknowledgements
    Ring<DeferredAck>& q = *c->acks;
    const bool failed = failed_token != 0 && !q.empty() && q.front().token <= failed_token;
    if (failed || c->phase != ConnPhase::Connected) {
      stats.acks_waiting -= q.size();
      q.clear();
      c->ack_listed = false;
      if (failed) {
        // The message is not durable, so it must not be acknowledged: the client keeps it
        // and resends it on its next connection [MQTT-4.4.0-1].
        close(*c, ReasonCode::UnspecifiedError, EventKind::Disconnected, "storage write failed",
              true, true, now);
      }
      continue;
    }
    while (!q.empty() && q.front().token <= durable_token) {
      DeferredAck& d = q.front();
      if (d.action) {
        actions.push_back(std::move(*d.action));
      } else {
        actions.emplace_back(SendAck{c->id, d.type, d.reason_code, d.packet_id, c->version});
      }
      q.pop_front();
      --stats.acks_waiting;
    }
    if (q.empty()) {
      c->ack_listed = false;
      c->acks.reset();  // an idle publisher holds no ring
      continue;
    }
    ack_conns.push_back(id);
  }
}

// ---------------------------------------------------------------- Broker

void Broker::enable_persistence(const PersistenceOptions& opts) {
  assert(opts.store != nullptr);
  Impl& d = *impl_;
  d.persist = opts;
  if (d.persist->queue_window == 0) d.persist->queue_window = 1;
}

std::vector<PersistRequest>& Broker::persist_requests() {
  impl_->flush_batch();  // the writes of every event since the last call, as one request
  impl_->event_mark = 0;
  return impl_->requests;
}

void Broker::on_persisted(std::uint64_t token, const storage::Status& status, Time now) {
  Impl& d = *impl_;
  if (!d.persist) return;
  d.last_now = now;
  d.event_mark = d.batch.op_count();
  std::uint64_t failed = 0;
  // Reported (durable or failed): no longer a backlog.
  while (!d.pending_requests.empty() && d.pending_requests.front().first <= token) {
    d.pending_bytes -= d.pending_requests.front().second;
    d.pending_requests.pop_front();
  }
  if (status.ok()) {
    d.durable_token = std::max(d.durable_token, token);
  } else {
    // Not durable: every acknowledgement waiting for it, or for an earlier token still
    // unreported, is dropped with its connection. durable_token does not move, so reports
    // may even arrive out of order (a submit refused at once) without releasing early.
    ++d.stats.storage_failures;
    failed = token;
  }
  if (!d.ack_conns.empty()) d.release_acks(now, failed);
  if (!d.refill_waiters.empty()) {
    std::vector<SessionKey> waiters;
    waiters.swap(d.refill_waiters);
    for (SessionKey k : waiters) {
      Session* s = d.find_session(k);
      if (!s || !s->dur) continue;
      s->dur->refill_waiting = false;
      if (ConnectionState* c = d.online_conn(*s)) d.drain(*c, *s, now);
    }
  }
  if (!d.dead_letters.empty()) d.flush_dead_letters();  // e.g. expired while draining
  d.prune_timers();
}

}  // namespace tern::core
