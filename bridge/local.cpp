// The bridge's local side: its internal sessions in core. Out sessions (one per priority
// class) subscribe like an MQTT 5 client with a persistent session, so core queues every
// matching message durably while they are closed; the in session publishes what the
// remote sends down. All on the bridge's loop; packets go to core through net::Server.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "bridge/bridge_impl.hpp"
#include "broker/codec/codec.hpp"
#include "broker/log/log.hpp"

namespace tern::bridge {

namespace {
constexpr auto kReopenDelay = std::chrono::seconds(1);
constexpr std::uint32_t kSessionNeverExpires = 0xFFFFFFFF;  // 3.1.2.11.2
}  // namespace

LocalSession* Bridge::Impl::session_for(core::ConnId conn) {
  if (conn == 0) return nullptr;
  for (LocalSession& s : sessions)
    if (s.conn == conn) return &s;
  return nullptr;  // an earlier connection of a session: its actions are stale
}

LocalSession* Bridge::Impl::in_session() {
  if (sessions.empty() || sessions.back().out) return nullptr;
  return &sessions.back();
}

core::InternalSessionOptions Bridge::Impl::session_options(const LocalSession& s) const {
  core::InternalSessionOptions o;
  // Every out session (priority class) gets the bridge's whole queue budget: a class of
  // alarms must not be starved of room by bulk telemetry filling a shared budget.
  o.max_queued_messages = opts.queue_max_messages;
  o.max_queued_bytes = opts.queue_max_bytes;
  o.overflow = opts.overflow;
  o.queue_qos0_offline = opts.queue_qos0;
  // A dead letter of this queue's overflow ($DLQ/bridge_overflow/...) names the bridge.
  o.dead_letter_name = opts.name;
  // What this bridge's in session publishes never comes back to its out sessions.
  o.loop_prefix = rules.loop_prefix();
  // A message that a higher class carries is not queued again in a lower one, so that
  // overlapping rules ("alarms/#" high, "#" normal) send it upstream once, at the higher
  // priority.
  if (s.out) {
    for (std::size_t c = 0; c < s.cls; ++c)
      for (const Filter& f : rules.out_classes()[c].filters) o.exclude_filters.push_back(f.filter);
  }
  return o;
}

void Bridge::Impl::send_core(LocalSession& s, codec::Packet&& p) {
  if (s.conn == 0) return;
  server.internal_packet(s.conn, std::move(p));
  s.last_sent = SteadyClock::now();
}

void Bridge::Impl::open_local(LocalSession& s) {
  if (s.conn != 0 || stopping) return;
  s.conn = server.open_internal(local_client, session_options(s));
  s.phase = Phase::Connecting;

  codec::Connect c;
  c.version = codec::ProtocolVersion::v5;
  c.client_id = s.client_id;
  c.keep_alive = 0;  // in-process: no keep-alive unless core imposes one (see tick)
  if (s.out) {
    // A session that outlives every close and restart: it is the durable queue.
    c.clean_start = false;
    c.props.session_expiry_interval = kSessionNeverExpires;
    // Core's window towards us: what the bridge may hold per class. Four times the upstream
    // window, so that when an upstream slot frees, the next message of a higher class is
    // usually already here: with only one window's worth, core's refill (a hop through the
    // broker's loop) arrives after the slot went to a lower class, and priority would hold
    // only for the first window after an outage.
    c.props.receive_maximum = static_cast<std::uint16_t>(
        std::clamp<std::size_t>(std::size_t{opts.max_inflight} * 4, 1, 65535));
  } else {
    // The in session only publishes: a clean session each time, so no QoS 2 packet id of
    // an earlier run can make core take a new message for a duplicate [MQTT-4.3.3-10].
    c.clean_start = true;
    c.props.session_expiry_interval = 0;
  }
  send_core(s, std::move(c));

  if (s.out) {
    // Subscribing again on every open is idempotent [MQTT-3.8.4-3]; Retain Handling 1
    // sends retained messages only for a new subscription, not on each reconnect.
    codec::Subscribe sub;
    sub.packet_id = 1;
    for (const Filter& f : rules.out_classes()[s.cls].filters) {
      codec::SubscribeEntry e;
      e.filter = f.filter;
      e.max_qos = f.qos;
      e.retain_as_published = true;  // a retained message stays retained upstream
      e.retain_handling = 1;
      sub.entries.push_back(std::move(e));
    }
    if (!sub.entries.empty()) send_core(s, std::move(sub));
  }
}

void Bridge::Impl::close_local(LocalSession& s) {
  if (s.conn != 0) server.close_internal(s.conn);
  s.conn = 0;
  s.phase = Phase::Closed;
  forget_flows(s, true);
}

void Bridge::Impl::forget_flows(LocalSession& s, bool keep_remote_state) {
  if (s.out) {
    // Waiting ones are still in flight in core's session: core resends them (DUP) when
    // the session reopens. Those with Paho, or acknowledged by the remote, are remembered
    // so that the resend is not sent upstream a second time.
    for (auto it = s.flows.begin(); it != s.flows.end();) {
      if (!keep_remote_state || it->second.state == OutFlow::State::Waiting)
        it = s.flows.erase(it);
      else
        ++it;
    }
    waiting.clear(s.cls);
  } else {
    // Core handled every PUBLISH sent before the close (internal packets run in order),
    // and the in session starts clean: nothing to resend.
    s.in_flight.clear();
  }
}

void Bridge::Impl::ack_core(LocalSession& s, std::uint16_t packet_id, std::uint8_t core_qos) {
  if (core_qos == 1) {
    codec::Puback a;
    a.packet_id = packet_id;
    send_core(s, std::move(a));
  } else if (core_qos == 2) {
    // [MQTT-4.3.3-8] PUBREC now; core's PUBREL gets PUBCOMP (on_core_actions).
    codec::Pubrec a;
    a.packet_id = packet_id;
    send_core(s, std::move(a));
  }
}

void Bridge::Impl::on_core_actions(core::ConnId conn, std::vector<core::Action>&& actions) {
  for (core::Action& a : actions) {
    LocalSession* s = session_for(conn);
    if (!s) return;  // closed (by us or core) meanwhile
    if (const auto* ack = std::get_if<core::SendAck>(&a)) {
      a = core::SendPacket{ack->conn, core::to_packet(*ack), ack->version};
    }
    if (auto* sp = std::get_if<core::SendPublish>(&a)) {
      if (s->out) {
        on_delivery(*s, *sp);
      } else if (sp->qos > 0) {
        ack_core(*s, sp->packet_id, sp->qos);  // the in session subscribes to nothing
      }
    } else if (auto* pk = std::get_if<core::SendPacket>(&a)) {
      codec::Packet& p = pk->packet;
      if (auto* ack = std::get_if<codec::Connack>(&p)) {
        on_connack(*s, *ack);
      } else if (auto* sa = std::get_if<codec::Suback>(&p)) {
        const auto& filters = s->out ? rules.out_classes()[s->cls].filters : std::vector<Filter>{};
        for (std::size_t i = 0; i < sa->reason_codes.size(); ++i) {
          if (sa->reason_codes[i] >= 0x80)
            log::bridge().error("bridge {}: local subscription '{}' refused (reason 0x{:02x})",
                                opts.name, i < filters.size() ? filters[i].filter : "?",
                                sa->reason_codes[i]);
        }
      } else if (auto* pa = std::get_if<codec::Puback>(&p)) {
        s->in_flight.erase(pa->packet_id);
        pump_in();
      } else if (auto* pr = std::get_if<codec::Pubrec>(&p)) {
        auto it = s->in_flight.find(pr->packet_id);
        if (it == s->in_flight.end()) continue;
        if (pr->reason_code >= 0x80) {
          s->in_flight.erase(it);  // [MQTT-4.3.3] the flow ends here
          pump_in();
        } else {
          it->second = 3;
          codec::Pubrel rel;
          rel.packet_id = pr->packet_id;
          send_core(*s, std::move(rel));
        }
      } else if (auto* pc = std::get_if<codec::Pubcomp>(&p)) {
        s->in_flight.erase(pc->packet_id);
        pump_in();
      } else if (auto* rel = std::get_if<codec::Pubrel>(&p)) {
        // [MQTT-4.3.3-11] PUBCOMP for core's PUBREL (also for one resent after a reopen).
        codec::Pubcomp comp;
        comp.packet_id = rel->packet_id;
        send_core(*s, std::move(comp));
      } else if (auto* d = std::get_if<codec::Disconnect>(&p)) {
        // 0x8B: the broker is shutting down, which is expected (and nothing to reopen);
        // anything else is not.
        if (d->reason_code == 0x8B) broker_shutting_down = true;
        const auto level = d->reason_code == 0x8B ? spdlog::level::info : spdlog::level::warn;
        log::bridge().log(
            level, "bridge {}: local session {} disconnected by the broker (reason 0x{:02x})",
            opts.name, s->client_id, d->reason_code);
      }
    } else if (std::holds_alternative<core::CloseConnection>(a)) {
      on_core_closed(*s);
    }
  }
}

void Bridge::Impl::on_connack(LocalSession& s, const codec::Connack& ack) {
  if (ack.reason_code >= 0x80) {
    log::bridge().error("bridge {}: local session {} refused by the broker (reason 0x{:02x})",
                        opts.name, s.client_id, ack.reason_code);
    s.phase = Phase::Refused;  // core closes it; retried on the next uplink connect
    maybe_open_gate();
    return;
  }
  s.phase = Phase::Open;
  const codec::Properties& p = ack.props;
  s.core_receive_maximum = std::max<std::uint16_t>(1, p.receive_maximum.value_or(65535));
  s.core_max_packet = p.maximum_packet_size.value_or(0);
  s.core_max_qos = p.maximum_qos.value_or(2);
  s.core_retain = p.retain_available.value_or(1) != 0;
  s.keep_alive = p.server_keep_alive.value_or(0);
  if (!ack.session_present) forget_flows(s, false);  // what we remembered is for nothing
  if (s.out && !connected) {
    // The uplink is down: close again, so core keeps queueing (durably) for us.
    close_local(s);
    return;
  }
  if (!s.out) pump_in();
  maybe_open_gate();
}

void Bridge::Impl::on_delivery(LocalSession& s, const core::SendPublish& sp) {
  OutItem item{
      sp.msg, sp.packet_id, sp.qos, sp.retain, sp.message_expiry_interval, SteadyClock::now()};
  if (sp.qos == 0) {
    // QoS 0 is not flow-controlled by core: bound what waits here.
    if (waiting.size(s.cls) >= kMaxQos0Waiting) {
      counters.dropped_qos0.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    waiting.push(s.cls, std::move(item));
    drain();
    return;
  }
  auto [it, fresh] = s.flows.try_emplace(sp.packet_id);
  if (!fresh) {
    switch (it->second.state) {
      case OutFlow::State::Upstream:
        return;  // core's resend (DUP) of one Paho still has: its ack is passed on later
      case OutFlow::State::RemoteAcked:
        ack_core(s, sp.packet_id, sp.qos);  // the remote took it while we were closed
        s.flows.erase(it);
        return;
      case OutFlow::State::Waiting:
        return;  // already queued
    }
  }
  it->second.item = item;
  it->second.state = OutFlow::State::Waiting;
  it->second.send_id = 0;
  waiting.push(s.cls, std::move(item));
  drain();
}

void Bridge::Impl::on_core_closed(LocalSession& s) {
  const bool refused = s.phase == Phase::Refused;
  s.conn = 0;
  s.phase = refused ? Phase::Refused : Phase::Closed;
  forget_flows(s, true);
  // Closed by core (not by us): reopen while the uplink is up; a refused one waits for
  // the next uplink connect.
  if (stopping || broker_shutting_down || refused || (s.out && !connected) || reopen_armed) return;
  reopen_armed = true;
  reopen_timer.expires_after(kReopenDelay);
  reopen_timer.async_wait([this](const asio::error_code& ec) {
    reopen_armed = false;
    if (ec || stopping) return;
    for (LocalSession& ls : sessions) {
      if (ls.phase == Phase::Closed && (!ls.out || connected)) open_local(ls);
    }
  });
}

// ---------------------------------------------------------------- inbound

void Bridge::Impl::on_remote_message(UplinkMessage&& m) {
  // 3.1.1 has no No Local: drop our own message coming straight back on a both rule.
  if (uplink && !uplink->is_v5() && echo.size() > 0 &&
      echo.take_echo(m.topic, m.payload, SteadyClock::now()))
    return;
  std::optional<InMatch> match = rules.map_in(m.topic);
  if (!match) {
    counters.dropped_unmapped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const std::size_t bytes = match->local_topic.size() + m.payload.size();
  if (in_backlog.size() >= kMaxInBacklog || in_backlog_bytes + bytes > kMaxInBacklogBytes) {
    counters.dropped_in.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  codec::Publish p;
  p.qos = std::min(m.qos, match->qos);
  p.retain = m.retain;
  p.topic = std::move(match->local_topic);
  p.payload = std::move(m.payload);
  p.props = std::move(m.props);
  in_backlog_bytes += bytes;
  in_backlog.push_back(std::move(p));
  pump_in();
}

void Bridge::Impl::pump_in() {
  LocalSession* s = in_session();
  if (!s || s->phase != Phase::Open) return;
  while (!in_backlog.empty()) {
    codec::Publish& p = in_backlog.front();
    // [MQTT-4.9.0-2] within core's Receive Maximum.
    if (p.qos > 0 && s->in_flight.size() >= s->core_receive_maximum) return;
    const std::size_t bytes = p.topic.size() + p.payload.size();
    p.qos = std::min(p.qos, s->core_max_qos);  // [MQTT-3.2.2-11]
    if (!s->core_retain) p.retain = false;     // [MQTT-3.2.2-14]
    bool fits = true;
    if (s->core_max_packet > 0) {
      codec::PublishView pv;
      pv.qos = p.qos;
      pv.retain = p.retain;
      pv.topic = p.topic;
      pv.packet_id = p.qos > 0 ? 1 : 0;
      pv.payload = p.payload;
      pv.props = &p.props;
      fits = codec::publish_size(pv, codec::ProtocolVersion::v5) <= s->core_max_packet;
    }
    if (!fits) {
      counters.dropped_too_large.fetch_add(1, std::memory_order_relaxed);
    } else {
      if (p.qos > 0) {
        // A free id exists: fewer than 65535 are in flight (Receive Maximum <= 65535).
        while (s->next_id == 0 || s->in_flight.count(s->next_id)) ++s->next_id;
        p.packet_id = s->next_id++;
        s->in_flight.emplace(p.packet_id, p.qos);
      }
      send_core(*s, std::move(p));
      counters.forwarded_in.fetch_add(1, std::memory_order_relaxed);
    }
    in_backlog_bytes -= bytes;
    in_backlog.pop_front();
  }
}

}  // namespace tern::bridge
