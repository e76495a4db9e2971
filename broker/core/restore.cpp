// Broker::restore: loads the stored state back into core at startup (issue 3 item 2).
// Sessions come back offline: their expiry counts from the stored deadline, or from now
// for a session whose connection the crash closed (its will then goes out as on a network
// failure [MQTT-3.1.2-8]). Only the RAM window of each queue is read; the rest stays on
// disk. What expired during the downtime is deleted.
#include <algorithm>
#include <utility>

#include "broker/core/broker_impl.hpp"

namespace tern::core {

namespace {

OutboundFlight::Stage stage_of(storage::InflightStage s) {
  switch (s) {
    case storage::InflightStage::await_pubrec:
      return OutboundFlight::Stage::AwaitPubrec;
    case storage::InflightStage::await_pubcomp:
      return OutboundFlight::Stage::AwaitPubcomp;
    case storage::InflightStage::await_puback:
      break;
  }
  return OutboundFlight::Stage::AwaitPuback;
}

// A template only so that it may name Broker::Impl's members (Impl is private to Broker;
// restore() instantiates it with D = Broker::Impl).
template <class D>
class Restorer final : public storage::LoadVisitor {
 public:
  Restorer(D& d, Time now, RestoreStats& stats) : d_(d), now_(now), stats_(stats) {}

  void on_session(storage::SessionRecord&& r, std::vector<storage::InflightRecord>&& inflight,
                  const storage::QueueInfo& info,
                  std::vector<storage::QueueEntry>&& head) override {
    if (d_.find_session(r.client_id)) return;  // keys are unique; never expected
    // A will stored without a due time belonged to a connection that was open when the
    // broker stopped without closing it (a crash): that is a network failure for it.
    const bool crashed = r.will.has_value() && !r.will_due.has_value();

    std::optional<Time> expires_at;
    if (r.expires_at) {
      expires_at = d_.to_steady(*r.expires_at);
    } else if (r.expiry_interval != kExpiryNever) {
      expires_at = now_ + std::chrono::seconds(r.expiry_interval);  // offline from now
    }
    if (r.expiry_interval == 0 || (expires_at && *expires_at <= now_)) {
      // The session ended during the downtime (or with its connection): gone, but its will
      // is still owed: "after the delay or when the session ends" (3.1.3.2.2).
      if (r.will) wills_now_.emplace_back(r.client_id, std::move(*r.will));
      d_.batch.delete_session(r.client_id);
      ++stats_.sessions_expired;
      return;
    }

    Session& s = d_.create_session(r.client_id);
    s.version = r.version;
    s.expiry_interval = r.expiry_interval;
    s.expires_at = expires_at.value_or(Time::max());
    s.dur = std::make_unique<DurableState>();
    for (const storage::SubscriptionRecord& sub : r.subscriptions) {
      SubOptions o;
      o.max_qos = std::min(sub.max_qos, d_.opts.maximum_qos);
      o.no_local = sub.no_local;
      o.retain_as_published = sub.retain_as_published;
      o.retain_handling = sub.retain_handling;
      o.subscription_id = sub.subscription_id;
      d_.tree.subscribe(sub.filter, s.key, o);
      if (s.subscriptions.insert_or_assign(sub.filter, o).second)
        s.add_subscription_bytes(sub.filter.size());
    }
    s.set_inbound_qos2(std::move(r.inbound_qos2));
    if (r.will && r.will_due) {
      s.pending_will = std::make_unique<PendingWill>(
          PendingWill{std::move(*r.will), d_.to_steady(*r.will_due)});
    } else if (crashed) {
      crashed_.emplace_back(s.key, std::move(*r.will));
    }

    // In-flight flows, in their original send order [MQTT-4.4.0-1] (load() sorts them).
    for (storage::InflightRecord& f : inflight) {
      OutboundFlight of;
      of.packet_id = f.packet_id;
      of.stage = stage_of(f.stage);
      of.qos = f.qos;
      of.retain = f.retain;
      of.subscription_ids = std::move(f.subscription_ids);
      of.order = f.order;
      if (of.stage != OutboundFlight::Stage::AwaitPubcomp) {
        if (!f.message || of.packet_id == 0 || s.inflight.find(of.packet_id)) {
          d_.batch.delete_inflight(s.client_id, f.packet_id);  // unusable record
          continue;
        }
        of.msg = d_.from_stored(std::move(*f.message));
      }
      s.dur->next_order = std::max(s.dur->next_order, f.order + 1);
      s.inflight.add(std::move(of));
      ++stats_.load.inflight;
    }

    // The queue: its head in RAM, the rest on disk.
    std::uint64_t head_bytes = 0;
    std::uint64_t last_head_seq = 0;
    bool expires = false;
    // Within memory_budget: what does not fit stays on disk and is read back later.
    std::size_t taken = 0;
    for (storage::QueueEntry& e : head) {
      if (d_.opts.memory_budget != 0 &&
          d_.queue_mem.bytes + e.message.topic.size() + e.message.payload.size() >
              d_.opts.memory_budget)
        break;
      ++taken;
      QueuedMessage q;
      q.msg = d_.from_stored(std::move(e.message));
      q.qos = e.qos;
      q.retain = e.retain;
      q.subscription_ids = std::move(e.subscription_ids);
      q.seq = e.seq;
      head_bytes += q.msg->size_bytes();
      last_head_seq = e.seq;
      expires = expires || q.msg->expires_at.has_value();
      bool accepted = false;
      s.queue.push(std::move(q), QueueLimits{SIZE_MAX, SIZE_MAX, true}, accepted);
    }
    if (info.count > 0) {
      DurableState& dur = *s.dur;
      dur.next_seq = info.last_seq + 1;
      dur.disk_count = info.count > taken ? info.count - taken : 0;
      dur.disk_bytes = info.bytes > head_bytes ? info.bytes - head_bytes : 0;
      dur.disk_from = taken < head.size() ? head[taken].seq
                      : taken == 0       ? info.first_seq
                                         : last_head_seq + 1;
      d_.stats.queued_messages += s.queue.size() + dur.disk_count;
      d_.stats.queued_on_disk += dur.disk_count;
    }
    if (!r.expires_at && expires_at) d_.persist_session(s);  // keep the new deadline
    d_.arm_session(s);
    ++stats_.sessions_restored;
  }

  void on_retained(storage::StoredMessage&& m) override {
    if (m.expires_at && d_.to_steady(*m.expires_at) <= now_) {
      d_.batch.delete_retained(m.topic);  // [MQTT-3.3.2-5] expired during the downtime
      ++stats_.retained_expired;
      return;
    }
    MessagePtr msg = d_.from_stored(std::move(m));
    topics_.push_back(msg->topic);
    d_.retained.put(std::move(msg));
  }

  void discard() override {
    // The store was found corrupt part-way and moved aside: forget what was loaded.
    std::vector<Session*> all;
    for (auto& kv : d_.sessions) all.push_back(&kv.second);
    for (Session* s : all) {
      for (const auto& sub : s->subscriptions) d_.tree.unsubscribe(sub.first, s->key);
      d_.by_client_id.erase(s->client_id);
      d_.forget_session(s->key);
    }
    for (const std::string& t : topics_) d_.retained.erase(t);
    topics_.clear();
    d_.stats.queued_messages = 0;
    d_.stats.queued_on_disk = 0;
    d_.batch.clear();
    wills_now_.clear();
    crashed_.clear();
    const storage::LoadStats keep = stats_.load;
    stats_ = RestoreStats{};
    stats_.load = keep;
  }

  // After every record is in: wills go out now that their subscribers are restored.
  void finish() {
    for (auto& [client_id, will] : wills_now_) {
      d_.publish_will(client_id, std::move(will), nullptr, now_);  // identity unknown
      ++stats_.wills_published;
    }
    for (auto& [key, will] : crashed_) {
      Session* s = d_.find_session(key);
      if (!s) continue;
      d_.schedule_will(*s, std::move(will), s->version, now_);  // now or after its delay
      d_.persist_session(*s);
      ++stats_.wills_published;
    }
    d_.arm_retained();
  }

 private:
  D& d_;
  const Time now_;
  RestoreStats& stats_;
  std::vector<std::pair<std::string, codec::Will>> wills_now_;
  std::vector<std::pair<SessionKey, codec::Will>> crashed_;
  std::vector<std::string> topics_;
};

}  // namespace

storage::Status Broker::restore(Time now, RestoreStats& stats) {
  Impl& d = *impl_;
  if (!d.persist) return storage::Status::invalid_argument("persistence is not enabled");
  storage::LoadOptions lo;
  lo.queue_window = d.persist->queue_window;
  lo.queue_window_bytes = d.persist->queue_window_bytes;
  d.last_now = now;
  Restorer<Impl> r(d, now, stats);
  storage::Status st = d.persist->store->load(r, lo, stats.load);
  if (!st.ok()) {
    r.discard();
    return st;
  }
  r.finish();
  if (!d.dead_letters.empty()) d.flush_dead_letters();
  d.prune_timers();
  d.flush_batch();
  return st;
}

}  // namespace tern::core
