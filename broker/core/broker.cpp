// Broker: event entry points, packet dispatch, connection close and session teardown,
// and the timer heap (connect timeout, keep-alive, will delay, session and message
// expiry). Packet handlers live in handle_*.cpp, outbound delivery in outbound.cpp.
#include <algorithm>
#include <cassert>
#include <utility>

#include "broker/core/broker_impl.hpp"

namespace tern::core {

Broker::Impl::Impl(BrokerOptions o)
    : opts(std::move(o)), anonymous(std::make_shared<const ClientIdentity>()) {
  actions.reserve(64);
}

// ---------------------------------------------------------------- lookups

ConnectionState* Broker::Impl::find_conn(ConnId id) {
  if (last_conn != nullptr && last_conn_id == id) return last_conn;
  auto it = conns.find(id);
  if (it == conns.end()) return nullptr;
  last_conn_id = id;
  last_conn = &it->second;
  return last_conn;
}

Session* Broker::Impl::find_session(SessionKey key) {
  for (unsigned i = 0; i < 2; ++i) {
    if (session_hits[i].s != nullptr && session_hits[i].key == key) {
      session_evict = 1 - i;
      return session_hits[i].s;
    }
  }
  auto it = sessions.find(key);
  if (it == sessions.end()) return nullptr;
  SessionHit& h = session_hits[session_evict];
  h = SessionHit{key, &it->second};
  session_evict = 1 - session_evict;
  return h.s;
}

Session* Broker::Impl::find_session(const std::string& client_id) {
  auto it = by_client_id.find(client_id);
  return it == by_client_id.end() ? nullptr : find_session(it->second);
}

ConnectionState* Broker::Impl::online_conn(const Session& s) {
  ConnectionState* c = s.live;
  return c && c->phase == ConnPhase::Connected ? c : nullptr;
}

// ---------------------------------------------------------------- output

void Broker::Impl::send(ConnectionState& c, codec::Packet&& p) {
  if (c.acks && !c.acks->empty()) {
    Action a = SendPacket{c.id, std::move(p), c.version};
    queue_behind(c, a);
    return;
  }
  actions.emplace_back(SendPacket{c.id, std::move(p), c.version});
}

bool Broker::Impl::queue_behind(ConnectionState& c, Action& a) {
  if (!c.acks || c.acks->empty()) return false;
  send_held(c, std::move(a), 0);
  return true;
}

void Broker::Impl::event(const ConnectionState& c, EventKind kind, std::uint8_t reason,
                         std::string detail) {
  actions.emplace_back(ConnectionEvent{c.id, kind, client_id_of(c), reason, std::move(detail)});
}

const std::string& Broker::Impl::client_id_of(const ConnectionState& c) const {
  if (c.phase == ConnPhase::Connected) {
    const auto it = sessions.find(c.session);
    if (it != sessions.end()) return it->second.client_id;
  }
  static const std::string none;
  return c.client_id ? *c.client_id : none;
}

void Broker::Impl::add_reason(const ConnectionState& c, codec::Properties& props,
                              std::string_view text, bool connack_or_disconnect,
                              std::size_t base_size) const {
  if (c.version != ProtocolVersion::v5 || text.empty()) return;
  if (!connack_or_disconnect && !c.problem_info) return;  // [MQTT-3.1.2-29]
  // Reason string property: identifier + 2-byte length + text.
  if (c.client_max_packet_size != 0 && base_size + 3 + text.size() > c.client_max_packet_size)
    return;  // [MQTT-3.1.2-25] never pass the client's Maximum Packet Size
  props.reason_string = std::string(text);
}

// ---------------------------------------------------------------- lifecycle

void Broker::Impl::close(ConnectionState& c, ReasonCode reason, EventKind kind,
                         std::string detail, bool send_disconnect, bool publish_will,
                         Time now) {
  if (c.phase == ConnPhase::Closing) return;
  if (send_disconnect && c.phase == ConnPhase::Connected && c.version == ProtocolVersion::v5) {
    // [MQTT-4.13.1-1] / [MQTT-4.13.2-1] v5: say why before closing.
    codec::Disconnect d;
    d.reason_code = rc(reason);
    add_reason(c, d.props, detail, true);
    // Not behind packets waiting for a commit: those are dropped with the connection.
    actions.emplace_back(SendPacket{c.id, std::move(d), c.version});
  }
  actions.emplace_back(CloseConnection{c.id});
  event(c, kind, rc(reason), std::move(detail));
  end_connection(c, publish_will, now);
}

void Broker::Impl::protocol_error(ConnectionState& c, ReasonCode reason, const char* detail,
                                  Time now) {
  close(c, reason, EventKind::ProtocolError, detail, true, true, now);
}

void Broker::Impl::end_connection(ConnectionState& c, bool publish_will, Time now) {
  const bool was_connected = c.phase == ConnPhase::Connected;
  c.phase = ConnPhase::Closing;
  if (!was_connected) return;
  assert(stats.clients_connected > 0);
  --stats.clients_connected;
  Session* s = find_session(c.session);
  // For what is still reported about c (client_id_of).
  if (s) c.client_id = std::make_unique<std::string>(s->client_id);
  if (!s || s->live != &c) return;
  s->live = nullptr;  // cleared before the connection state can be freed (on_closed)
  // [MQTT-3.1.2-8] the will goes out when the connection closes without DISCONNECT 0x00.
  if (publish_will && c.will) schedule_will(*s, std::move(*c.will), c.version, now);
  c.will.reset();
  if (s->expiry_interval == 0) {
    // 3.1.2.11.2: with expiry 0 the session ends with the network connection.
    destroy_session(*s, now);
    return;
  }
  if (s->expiry_interval != kExpiryNever) {
    s->expires_at = now + std::chrono::seconds(s->expiry_interval);
    arm_session(*s);
  }
  if (durable(*s)) persist_session(*s);  // offline now: its deadline and delayed will
}

Session& Broker::Impl::create_session(const std::string& client_id) {
  const SessionKey key = next_session_key++;
  Session& ref = sessions.try_emplace(key).first->second;
  ref.key = key;
  ref.client_id = client_id;
  ref.queue.set_meter(&queue_mem);
  // Re-key rather than assign: an entry left for an older session with this id views that
  // session's string, which dies with it.
  by_client_id.erase(ref.client_id);
  by_client_id.emplace(ref.client_id, key);
  return ref;
}

void Broker::Impl::destroy_session(Session& s, Time now) {
  // "published ... after the Will Delay Interval has elapsed or the Session ends,
  // whichever happens first" (3.1.3.2.2).
  if (s.pending_will) {
    codec::Will w = std::move(s.pending_will->will);
    s.pending_will.reset();
    publish_will(s.client_id, std::move(w), will_identity(s), now);
  }
  for (const auto& sub : s.subscriptions) tree.unsubscribe(sub.first, s.key);
  stats.queued_messages -= queued_total(s);
  if (s.dur) {
    stats.queued_on_disk -= s.dur->disk_count;
    batch.delete_session(s.client_id);  // with its queue and in-flight flows
  }
  auto it = by_client_id.find(s.client_id);
  if (it != by_client_id.end() && it->second == s.key) by_client_id.erase(it);
  forget_session(s.key);  // s is gone
}

// ---------------------------------------------------------------- timers

bool Broker::Impl::timer_live(const TimerEntry& e) {
  switch (e.owner()) {
    case TimerOwner::Connection: {
      const ConnectionState* c = find_conn(e.id());
      return c && c->timer_armed == e.at;
    }
    case TimerOwner::Session: {
      const Session* s = find_session(e.id());
      return s && s->timer_armed == e.at;
    }
    case TimerOwner::Retained:
      return retained_armed == e.at;
  }
  return false;
}

void Broker::Impl::maybe_compact_timers() {
  const std::size_t owners = conns.size() + sessions.size() + 1;
  if (timers.size() < 256 || timers.size() < 4 * owners) return;
  timers.compact([this](const TimerEntry& e) { return timer_live(e); });
}

void Broker::Impl::prune_timers() {
  while (const TimerEntry* t = timers.top()) {
    if (timer_live(*t)) break;
    timers.pop();
  }
}

void Broker::Impl::arm_conn(ConnectionState& c) {
  Time deadline = Time::max();
  if (c.phase == ConnPhase::AwaitConnect) {
    deadline = c.opened_at + opts.connect_timeout;
  } else if (c.phase == ConnPhase::Connected && c.keep_alive != 0) {
    // [MQTT-3.1.2-24] one and a half times the keep-alive.
    deadline = c.last_packet + std::chrono::milliseconds(std::uint64_t{c.keep_alive} * 1500);
  }
  if (deadline == Time::max()) return;
  timers.arm(c.timer_armed, deadline, TimerOwner::Connection, c.id);
  maybe_compact_timers();
}

void Broker::Impl::arm_session(Session& s) {
  Time deadline = Time::max();
  if (s.pending_will) deadline = std::min(deadline, s.pending_will->due);
  if (!s.live) deadline = std::min(deadline, s.expires_at);  // max() without an expiry
  if (auto e = s.queue.earliest_expiry()) deadline = std::min(deadline, *e);
  if (deadline == Time::max()) return;
  timers.arm(s.timer_armed, deadline, TimerOwner::Session, s.key);
  maybe_compact_timers();
}

void Broker::Impl::arm_retained() {
  if (const auto next = retained.next_expiry())
    timers.arm(retained_armed, *next, TimerOwner::Retained, 0);
}

void Broker::Impl::fire_conn(ConnectionState& c, Time now) {
  c.timer_armed = Time::max();
  if (c.phase == ConnPhase::AwaitConnect) {
    if (c.opened_at + opts.connect_timeout <= now) {
      close(c, ReasonCode::MaximumConnectTime, EventKind::Refused, "no CONNECT in time", false,
            false, now);
      return;
    }
  } else if (c.phase == ConnPhase::Connected && c.keep_alive != 0) {
    const Time deadline =
        c.last_packet + std::chrono::milliseconds(std::uint64_t{c.keep_alive} * 1500);
    if (deadline <= now) {
      // [MQTT-3.1.2-24] close as if the network failed: the will is published.
      close(c, ReasonCode::KeepAliveTimeout, EventKind::Disconnected, "keep-alive timeout",
            true, true, now);
      return;
    }
  }
  arm_conn(c);
}

void Broker::Impl::fire_session(Session& s, Time now) {
  s.timer_armed = Time::max();
  if (!s.live && s.expires_at <= now) {
    destroy_session(s, now);  // 3.1.2.11.2: the session expired (a pending will goes out)
    return;
  }
  if (s.pending_will && s.pending_will->due <= now) {
    codec::Will w = std::move(s.pending_will->will);
    s.pending_will.reset();
    publish_will(s.client_id, std::move(w), will_identity(s), now);
    if (durable(s)) persist_session(s);
  }
  if (auto e = s.queue.earliest_expiry(); e && *e <= now) {
    // [MQTT-3.3.2-5]
    const std::size_t n = s.queue.erase_expired(now, [&](const QueuedMessage& m) {
      queue_removed(s, m);
      dead_letter(DropReason::Expired, s, m.msg);
    });
    stats.dropped_expired += n;
    stats.queued_messages -= n;
  }
  arm_session(s);
}

void Broker::Impl::fire_retained(Time now) {
  retained_armed = Time::max();
  if (persist) {
    retained.erase_expired(now, [&](const MessagePtr& m) { batch.delete_retained(m->topic); });
  } else {
    retained.erase_expired(now);
  }
  arm_retained();
}

// ---------------------------------------------------------------- decode errors

void Broker::Impl::handle_decode_error(ConnectionState& c, const codec::DecodeResult& e,
                                       Time now) {
  const ReasonCode reason =
      e.reason == ReasonCode::Success ? ReasonCode::MalformedPacket : e.reason;
  std::string detail = e.detail && *e.detail ? e.detail : "malformed packet";
  if (c.phase == ConnPhase::Connected) {
    // [MQTT-4.13.1-1] v5 gets DISCONNECT with the reason; 3.1.1 is just closed.
    close(c, reason, EventKind::ProtocolError, std::move(detail), true, true, now);
    return;
  }
  // Before CONNECT was accepted: answer in the format the client can read.
  const std::uint8_t level = e.connect_protocol_level;
  if (level == 5) {
    refuse_connect(c, ProtocolVersion::v5, rc(reason), std::move(detail), now);
  } else if (level != 0 && reason == ReasonCode::UnsupportedProtocolVersion) {
    // [MQTT-3.1.2-2] 3.1.1 format (also understood by 3.1 clients) for older levels;
    // v5 format for levels above ours.
    if (level < 5)
      refuse_connect(c, ProtocolVersion::v311,
                     static_cast<std::uint8_t>(codec::ConnackCode311::UnacceptableProtocolVersion),
                     std::move(detail), now);
    else
      refuse_connect(c, ProtocolVersion::v5, rc(reason), std::move(detail), now);
  } else if (level == 4 && reason == ReasonCode::ClientIdentifierNotValid) {
    // [MQTT-3.1.3-9] (3.1.1) identifier rejected.
    refuse_connect(c, ProtocolVersion::v311,
                   static_cast<std::uint8_t>(codec::ConnackCode311::IdentifierRejected),
                   std::move(detail), now);
  } else {
    // 3.1.1 has no CONNACK code for a malformed CONNECT: close without one.
    actions.emplace_back(CloseConnection{c.id});
    event(c, EventKind::Refused, rc(reason), std::move(detail));
    end_connection(c, false, now);
  }
}

// ---------------------------------------------------------------- Broker

Broker::Broker(BrokerOptions opts) : impl_(std::make_unique<Impl>(std::move(opts))) {}
Broker::~Broker() = default;

void Broker::on_open(ConnId conn, Time now) {
  const EventScope<Impl> scope(*impl_, now);
  Impl& d = *impl_;
  if (d.conns.count(conn)) return;  // ids are never reused; ignore a duplicate open
  ConnectionState& c = d.conns.try_emplace(conn).first->second;
  c.id = conn;
  c.opened_at = now;
  c.last_packet = now;
  d.arm_conn(c);
}

void Broker::on_open_internal(ConnId conn, Time now, InternalSessionOptions opts) {
  on_open(conn, now);
  if (ConnectionState* c = impl_->find_conn(conn); c && !c->internal)
    c->internal = std::make_unique<InternalSessionOptions>(std::move(opts));
}

void Broker::on_packet(ConnId conn, codec::Packet&& packet, Time now) {
  const EventScope<Impl> scope(*impl_, now);
  Impl& d = *impl_;
  ConnectionState* cp = d.find_conn(conn);
  if (!cp || cp->phase == ConnPhase::Closing) return;  // already being closed: ignore
  ConnectionState& c = *cp;
  c.last_packet = now;  // [MQTT-3.1.2-22] any control packet counts for keep-alive

  if (c.phase == ConnPhase::AwaitConnect) {
    if (auto* p = std::get_if<codec::Connect>(&packet)) {
      d.handle_connect(c, std::move(*p), now);
    } else {
      // [MQTT-3.1.0-1] the first packet must be CONNECT: close without answering.
      d.actions.emplace_back(CloseConnection{c.id});
      d.event(c, EventKind::ProtocolError, rc(ReasonCode::ProtocolError),
              "first packet is not CONNECT");
      d.end_connection(c, false, now);
    }
    return;
  }

  switch (codec::packet_type(packet)) {
    case codec::PacketType::Connect:
      d.protocol_error(c, ReasonCode::ProtocolError, "second CONNECT", now);  // [MQTT-3.1.0-2]
      break;
    case codec::PacketType::Publish:
      d.handle_publish(c, std::move(std::get<codec::Publish>(packet)), now);
      break;
    case codec::PacketType::Puback:
      d.handle_puback(c, std::get<codec::Puback>(packet), now);
      break;
    case codec::PacketType::Pubrec:
      d.handle_pubrec(c, std::get<codec::Pubrec>(packet), now);
      break;
    case codec::PacketType::Pubrel:
      d.handle_pubrel(c, std::get<codec::Pubrel>(packet), now);
      break;
    case codec::PacketType::Pubcomp:
      d.handle_pubcomp(c, std::get<codec::Pubcomp>(packet), now);
      break;
    case codec::PacketType::Subscribe:
      d.handle_subscribe(c, std::move(std::get<codec::Subscribe>(packet)), now);
      break;
    case codec::PacketType::Unsubscribe:
      d.handle_unsubscribe(c, std::get<codec::Unsubscribe>(packet), now);
      break;
    case codec::PacketType::Pingreq:
      d.send(c, codec::Pingresp{});  // [MQTT-3.12.4-1]
      break;
    case codec::PacketType::Disconnect:
      d.handle_disconnect(c, std::get<codec::Disconnect>(packet), now);
      break;
    case codec::PacketType::Auth:
      d.handle_auth(c, std::get<codec::Auth>(packet), now);
      break;
    case codec::PacketType::Connack:
    case codec::PacketType::Suback:
    case codec::PacketType::Unsuback:
    case codec::PacketType::Pingresp:
      d.protocol_error(c, ReasonCode::ProtocolError, "packet only a server may send", now);
      break;
  }
}

void Broker::on_decode_error(ConnId conn, const codec::DecodeResult& error, Time now) {
  const EventScope<Impl> scope(*impl_, now);
  Impl& d = *impl_;
  ConnectionState* c = d.find_conn(conn);
  if (!c || c->phase == ConnPhase::Closing) return;
  d.handle_decode_error(*c, error, now);
}

void Broker::on_closed(ConnId conn, Time now) {
  const EventScope<Impl> scope(*impl_, now);
  Impl& d = *impl_;
  auto it = d.conns.find(conn);
  if (it == d.conns.end()) return;
  ConnectionState& c = it->second;
  if (c.acks) d.stats.acks_waiting -= c.acks->size();  // never sent: the client resends
  if (c.phase != ConnPhase::Closing) {
    // The peer went away without DISCONNECT: an abnormal close, the will is published
    // [MQTT-3.1.2-8].
    d.event(c, EventKind::Disconnected, rc(ReasonCode::UnspecifiedError),
            c.phase == ConnPhase::Connected ? "connection lost" : "closed before CONNECT");
    d.end_connection(c, true, now);
  }
  d.forget_conn(conn);
}

void Broker::on_tick(Time now) {
  const EventScope<Impl> scope(*impl_, now);
  Impl& d = *impl_;
  while (auto e = d.timers.pop_due(now)) {
    switch (e->owner()) {
      case TimerOwner::Connection:
        if (ConnectionState* c = d.find_conn(e->id()); c && c->timer_armed == e->at)
          d.fire_conn(*c, now);
        break;
      case TimerOwner::Session:
        if (Session* s = d.find_session(e->id()); s && s->timer_armed == e->at)
          d.fire_session(*s, now);
        break;
      case TimerOwner::Retained:
        if (d.retained_armed == e->at) d.fire_retained(now);
        break;
    }
  }
}

std::optional<Time> Broker::next_deadline() const {
  impl_->prune_timers();  // stale entries only: what the caller sees does not change
  return impl_->timers.next();
}

void Broker::shutdown(Time now) {
  const EventScope<Impl> scope(*impl_, now);
  Impl& d = *impl_;
  std::vector<ConnId> ids;
  ids.reserve(d.conns.size());
  for (const auto& kv : d.conns) ids.push_back(kv.first);
  std::sort(ids.begin(), ids.end());  // deterministic order
  for (ConnId id : ids) {
    ConnectionState* c = d.find_conn(id);
    if (!c || c->phase == ConnPhase::Closing) continue;
    if (c->phase == ConnPhase::Connected) {
      d.close(*c, ReasonCode::ServerShuttingDown, EventKind::Disconnected,
              "server shutting down", true, true, now);
    } else {
      d.actions.emplace_back(CloseConnection{c->id});
      d.event(*c, EventKind::Disconnected, rc(ReasonCode::ServerShuttingDown),
              "server shutting down");
      d.end_connection(*c, false, now);
    }
  }
}

ActionList& Broker::actions() { return impl_->actions; }

const BrokerStats& Broker::stats() const {
  // Gauges owned by the tree and stores are read on demand.
  BrokerStats& s = impl_->stats;
  s.sessions = impl_->sessions.size();
  s.subscriptions = impl_->tree.size();
  s.retained_messages = impl_->retained.size();
  s.queued_bytes = impl_->queue_mem.bytes;
  return s;
}

const BrokerOptions& Broker::options() const { return impl_->opts; }

std::vector<std::string> Broker::end_internal_sessions_except(
    const std::vector<std::string>& keep, Time now) {
  const EventScope<Impl> scope(*impl_, now);
  Impl& d = *impl_;
  std::vector<SessionKey> stale;
  std::vector<std::string> ids;
  for (const auto& [key, s] : d.sessions) {
    if (s.live || !s.client_id.starts_with(kInternalClientPrefix)) continue;
    if (std::find(keep.begin(), keep.end(), s.client_id) != keep.end()) continue;
    stale.push_back(key);
  }
  for (SessionKey k : stale) {
    if (Session* s = d.find_session(k)) {
      ids.push_back(s->client_id);
      d.destroy_session(*s, now);
    }
  }
  return ids;
}

std::optional<SessionStatus> Broker::session_status(std::string_view client_id) const {
  Impl& d = *impl_;
  auto it = d.by_client_id.find(client_id);
  if (it == d.by_client_id.end()) return std::nullopt;
  const Session* s = d.find_session(it->second);
  if (!s) return std::nullopt;
  SessionStatus st;
  st.online = s->live != nullptr;
  st.queued = d.queued_total(*s);
  st.on_disk = s->dur ? s->dur->disk_count : 0;
  st.inflight = s->inflight.size();
  auto older = [&](const MessagePtr& m) {
    if (m && (!st.oldest || m->created < *st.oldest)) st.oldest = m->created;
  };
  if (!s->inflight.empty()) older(s->inflight.entries().front().msg);
  if (!s->queue.empty()) older(s->queue.items().front().msg);
  if (s->policy) {
    st.dropped_oldest = s->policy->dropped_oldest;
    st.dropped_newest = s->policy->dropped_newest;
    st.rejected = s->policy->rejected;
    st.dropped_qos0 = s->policy->dropped_qos0;
  }
  return st;
}

}  // namespace tern::core
