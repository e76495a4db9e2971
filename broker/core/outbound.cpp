// Outbound delivery to one session: direct send, in-flight window, bounded queue,
// resend on reconnect, topic aliases towards the client and its Maximum Packet Size.
#include <algorithm>
#include <utility>

#include "broker/core/broker_impl.hpp"

namespace tern::core {

std::size_t Broker::Impl::window(const ConnectionState& c) const {
  // [MQTT-3.3.4-9] never more unacknowledged QoS>0 PUBLISH than the client's Receive
  // Maximum; our own cap bounds memory for clients that allow 65535.
  // An internal client (a bridge) sets its window itself, from the remote's limits.
  const std::size_t w =
      c.internal ? c.client_receive_maximum
                 : std::min<std::size_t>(c.client_receive_maximum, opts.max_inflight_out);
  return std::max<std::size_t>(w, 1);
}

QueueLimits Broker::Impl::queue_limits(const Session& s) const {
  if (s.policy) {
    const InternalSessionOptions& o = s.policy->opts;
    return QueueLimits{o.max_queued_messages, o.max_queued_bytes,
                       o.overflow == OverflowPolicy::DropOldest};
  }
  return QueueLimits{opts.max_queued_messages, opts.max_queued_bytes,
                     opts.overflow == OverflowPolicy::DropOldest};
}

void Broker::Impl::count_drop(Session& s, bool oldest, const MessagePtr& msg) {
  if (!s.policy) {
    ++stats.dropped_queue_full;
    dead_letter(DropReason::QueueFull, s, msg);
    return;
  }
  // An internal session's queue is a bridge's durable queue.
  dead_letter(DropReason::BridgeOverflow, s, msg);
  if (oldest) {
    ++s.policy->dropped_oldest;
    ++stats.dropped_queue_full;
  } else if (s.policy->opts.overflow == OverflowPolicy::Reject) {
    ++s.policy->rejected;
    ++stats.dropped_rejected;
    route_rejected = true;  // the publisher hears of it (0x97)
  } else {
    ++s.policy->dropped_newest;
    ++stats.dropped_queue_full;
  }
}

void Broker::Impl::deliver(Session& s, const MessagePtr& msg, std::uint8_t qos, bool retain,
                           std::span<const std::uint32_t> ids, Time now) {
  // Authorization before the message is sent or queued (one null test without a policy).
  std::uint32_t acl_epoch = 0;
  if (!may_deliver(s, *msg, acl_epoch)) return;
  if (ConnectionState* c = online_conn(s)) {
    if (s.dur && s.dur->disk_count > 0) {
      // A stored backlog is draining: the message goes behind it.
    } else if (qos == 0) {
      // QoS 0 takes no in-flight slot; it only waits behind queued QoS 0 messages so
      // their order holds [MQTT-4.6.0-6].
      if (s.queue.qos0_count() == 0) {
        send_publish(*c, msg, 0, retain, false, 0, ids, now);
        return;
      }
    } else if (s.queue.empty() && s.inflight.size() < window(*c)) {
      start_flight(*c, s, QueuedMessage{msg, qos, retain, acl_epoch, {ids.begin(), ids.end()}},
                   now);
      return;
    }
  } else if (qos == 0 &&
             !(s.policy ? s.policy->opts.queue_qos0_offline : opts.queue_qos0_offline)) {
    ++stats.dropped_qos0_offline;
    if (s.policy) ++s.policy->dropped_qos0;
    return;
  }
  enqueue(s, QueuedMessage{msg, qos, retain, acl_epoch, {ids.begin(), ids.end()}});
}

void Broker::Impl::enqueue(Session& s, QueuedMessage&& m) {
  if (durable(s)) {
    durable_enqueue(s, std::move(m));  // past the budget: on disk only
    return;
  }
  if (!within_memory_budget(*m.msg)) {
    // Without a disk to spill to, a message past the budget is not queued. Only queueing
    // is refused: direct sends to online sessions with room in their window go on, and
    // draining gives bytes back, so nothing waits on the budget.
    ++stats.dropped_memory_budget;
    dead_letter(DropReason::MemoryBudget, s, m.msg);
    // A bridge queue with the Reject policy reports it to a v5 publisher as a full queue.
    if (s.policy && s.policy->opts.overflow == OverflowPolicy::Reject) route_rejected = true;
    return;
  }
  const std::size_t before = s.queue.size();
  bool accepted = false;
  const bool expires = m.msg->expires_at.has_value();
  s.queue.push(std::move(m), queue_limits(s), accepted,
               [&](const MessagePtr& dropped, bool oldest) { count_drop(s, oldest, dropped); });
  const std::size_t after = s.queue.size();
  stats.queued_messages = stats.queued_messages + after - before;
  if (accepted && expires) arm_session(s);
}

bool Broker::Impl::send_publish(ConnectionState& c, const MessagePtr& msg, std::uint8_t qos,
                                bool retain, bool dup, std::uint16_t packet_id,
                                std::span<const std::uint32_t> ids, Time now,
                                std::uint64_t held_until) {
  const bool v5 = c.version == ProtocolVersion::v5;
  SendPublish a;
  a.conn = c.id;
  a.msg = msg;
  a.packet_id = packet_id;
  a.qos = qos;
  a.retain = retain;
  a.dup = dup;  // [MQTT-3.3.1-1] set only on re-delivery
  if (v5) {
    // [MQTT-3.3.2-6] the lifetime left, not the one published.
    if (msg->expires_at) a.message_expiry_interval = seconds_left(*msg->expires_at, now);
    a.subscription_ids.assign(ids.begin(), ids.end());
  }

  // Topic alias towards the client, within its Topic Alias Maximum [MQTT-3.3.2-11].
  const std::uint16_t alias_max = c.aliases_out_maximum;
  OutboundAliases* ao = c.aliases_out.get();
  std::uint16_t alias = 0;
  bool omit_topic = false;
  bool new_alias = false;
  if (v5 && alias_max > 0) {
    if (ao) {
      if (auto it = ao->by_topic.find(msg->topic); it != ao->by_topic.end()) {
        alias = it->second;
        omit_topic = true;
      }
    }
    if (!omit_topic) {
      new_alias = true;
      const std::size_t used = ao ? ao->topics.size() : 0;
      alias = used < alias_max ? static_cast<std::uint16_t>(used + 1)
                               : static_cast<std::uint16_t>(ao->cursor + 1);
    }
  }

  if (v5 && c.client_max_packet_size != 0) {
    codec::PublishView view;
    view.qos = qos;
    view.retain = retain;
    view.dup = dup;
    view.topic = omit_topic ? std::string_view{} : std::string_view{msg->topic};
    view.packet_id = packet_id;
    view.payload = msg->payload;
    view.props = msg->props.get();
    view.message_expiry_interval = a.message_expiry_interval;
    view.topic_alias = alias;
    view.subscription_identifiers = a.subscription_ids;
    if (codec::publish_size(view, c.version) > c.client_max_packet_size) {
      // [MQTT-3.1.2-25] too large for the client: discard as if it had been sent.
      ++stats.dropped_too_large;
      if (opts.dead_letter.enabled) {
        const Session* s = find_session(c.session);
        if (s)
          dead_letter(DropReason::TooLarge, *s, msg);
        else
          dead_letter(DropReason::TooLarge, client_id_of(c), msg);
      }
      return false;
    }
  }

  if (new_alias) {
    if (!ao) {
      c.aliases_out = std::make_unique<OutboundAliases>();
      ao = c.aliases_out.get();
    }
    if (ao->topics.size() < alias_max) {
      ao->topics.push_back(msg->topic);
    } else {
      // Recycle the oldest assignment; the client replaces its mapping when it sees the
      // alias with a topic name again.
      ao->by_topic.erase(ao->topics[ao->cursor]);
      ao->topics[ao->cursor] = msg->topic;
      ao->cursor = static_cast<std::uint16_t>((ao->cursor + 1) % alias_max);
    }
    ao->by_topic.emplace(msg->topic, alias);
  }
  a.topic_alias = alias;
  a.omit_topic = omit_topic;

  ++stats.messages_sent;
  stats.bytes_sent += msg->payload.size();
  if (held_until != 0) {
    send_held(c, std::move(a), held_until);
  } else if (c.acks && !c.acks->empty()) {
    Action act = std::move(a);
    queue_behind(c, act);
  } else {
    actions.emplace_back(std::move(a));
  }
  return true;
}

bool Broker::Impl::start_flight(ConnectionState& c, Session& s, QueuedMessage&& m, Time now) {
  const std::uint16_t id = s.inflight.next_free_id();
  // Exactly once across a crash: a stored QoS 2 PUBLISH leaves only once its in-flight
  // record (written below, in this event's batch) is durable; otherwise a restart would
  // send it again as a new message.
  const bool stored = durable(s);
  const std::uint64_t held = stored && m.qos == 2 ? next_token : 0;
  if (!send_publish(c, m.msg, m.qos, m.retain, false, id, m.subscription_ids, now, held))
    return false;
  OutboundFlight f;
  f.packet_id = id;
  f.stage = m.qos == 1 ? OutboundFlight::Stage::AwaitPuback : OutboundFlight::Stage::AwaitPubrec;
  f.qos = m.qos;
  f.retain = m.retain;
  f.msg = std::move(m.msg);
  f.subscription_ids = std::move(m.subscription_ids);
  if (stored) {
    f.order = s.dur->next_order++;
    add_flight(s, f);  // with a queued message: moved from the queue in the same batch
  }
  s.inflight.add(std::move(f));
  return true;
}

void Broker::Impl::drain(ConnectionState& c, Session& s, Time now) {
  // A stored queue that cannot go on now is drained again after the next commit.
  auto wait_for_commit = [&] {
    if (s.dur->refill_waiting) return;
    s.dur->refill_waiting = true;
    refill_waiters.push_back(s.key);
  };
  for (;;) {
    if (s.dur && storage_backlogged()) {
      wait_for_commit();  // moving a stored message into flight writes it again
      break;
    }
    if (s.queue.empty()) {
      // The RAM window is empty: page in the next part of a stored queue.
      if (!s.dur || s.dur->disk_count == 0 || s.inflight.size() >= window(c)) break;
      if (!refill(s)) {
        if (s.dur->disk_count > 0) wait_for_commit();  // still in the committer
        break;
      }
      continue;
    }
    QueuedMessage& front = s.queue.front();
    if (front.msg->expires_at && *front.msg->expires_at <= now) {
      // [MQTT-3.3.2-5] expired before onward delivery started: dropped.
      const QueuedMessage gone = s.queue.pop_front();
      queue_removed(s, gone);
      --stats.queued_messages;
      ++stats.dropped_expired;
      dead_letter(DropReason::Expired, s, gone.msg);
      continue;
    }
    if (access && front.acl_epoch != policy_epoch && !trusted(s)) {
      // Queued without a check under the current policy and identity (see security.cpp):
      // asked now, before it can reach the socket.
      if (!access->may_receive(identity_of(s), s.client_id, front.msg->topic)) {
        queue_removed(s, s.queue.pop_front());
        --stats.queued_messages;
        ++stats.denied_receive;
        continue;
      }
      front.acl_epoch = policy_epoch;
    }
    if (front.qos > 0 && s.inflight.size() >= window(c)) break;  // [MQTT-3.3.4-9]
    QueuedMessage m = s.queue.pop_front();
    queue_removed(s, m);
    --stats.queued_messages;
    if (m.qos == 0)
      send_publish(c, m.msg, 0, m.retain, false, 0, m.subscription_ids, now);
    else
      start_flight(c, s, std::move(m), now);
  }
}

void Broker::Impl::resend_inflight(ConnectionState& c, Session& s, Time now) {
  auto& flights = s.inflight.entries();
  for (std::size_t i = 0; i < flights.size();) {
    const OutboundFlight& f = flights[i];
    if (f.stage == OutboundFlight::Stage::AwaitPubcomp) {
      send_held(c, SendAck{c.id, codec::PacketType::Pubrel, 0, f.packet_id, c.version},
                s.dur ? f.token : 0);
      ++i;
      continue;
    }
    // [MQTT-4.4.0-1] same packet identifier, DUP=1 [MQTT-3.3.1-1].
    // A QoS 2 flow's record may still be in the committer (a quick reconnect).
    const bool sent = send_publish(c, f.msg, f.qos, f.retain, true, f.packet_id,
                                   f.subscription_ids, now, s.dur && f.qos == 2 ? f.token : 0);
    if (!sent) {
      if (s.dur) batch.delete_inflight(s.client_id, f.packet_id);
      flights.erase(i);  // too large for the new connection's limit: completed
      continue;
    }
    ++i;
  }
}

}  // namespace tern::core
