// Bridge lifecycle, the uplink's events and the upstream drain. See bridge_impl.hpp for
// the state, local.cpp for the internal sessions.
//
// Delivery contract (out): core hands a message to an out session only from its durable
// queue (storage on: committed before the local publisher's PUBACK), and forgets it only
// when the bridge acknowledges it, which the bridge does only once the remote has
// (PUBACK; for QoS 2 PUBCOMP, then PUBREC to core and PUBCOMP on core's PUBREL). While the
// uplink is down the internal sessions are closed, so core keeps queueing.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <utility>

#include "bridge/bridge_impl.hpp"
#include "broker/codec/codec.hpp"
#include "broker/log/log.hpp"

namespace tern::bridge {

namespace {

constexpr auto kTick = std::chrono::seconds(1);
// After a connect, draining waits until every out session is open again (so the highest
// class goes first), but not longer than this.
constexpr auto kGateTimeout = std::chrono::seconds(2);
// A connection that lasted this long resets the reconnect backoff; a shorter one (a
// remote that accepts and drops us at once) keeps widening it.
constexpr auto kStableConnection = std::chrono::seconds(10);
constexpr auto kStopDisconnectWait = std::chrono::milliseconds(1000);
constexpr auto kDropLogInterval = std::chrono::seconds(10);
// Paho refused a publish for the moment and nothing in flight will wake the drain.
constexpr auto kBusyRetry = std::chrono::milliseconds(100);
// Quick connection losses with the same oldest unacknowledged message before it is
// dropped as one the remote will never take (see check_poison).
constexpr unsigned kPoisonStrikes = 3;

constexpr int kNoReason = 255;

bool remote_refused(bool v5, int reason) { return v5 && reason >= 0x80 && reason != kNoReason; }

}  // namespace

std::vector<std::string> internal_client_ids(const BridgeOptions& opts) {
  const RuleSet rules(opts);
  std::vector<std::string> ids;
  for (const OutClass& c : rules.out_classes()) ids.push_back(c.client_id);
  if (rules.has_in()) ids.push_back(rules.in_client_id());
  return ids;
}

// ---------------------------------------------------------------- Impl: lifecycle

Bridge::Impl::Impl(BridgeOptions o, net::Server& srv)
    : opts(std::move(o)),
      server(srv),
      rules(opts),
      inbox(std::make_shared<Inbox>(io)),
      waiting(rules.out_classes().size()),
      backoff(opts.reconnect_min, opts.reconnect_max, opts.reconnect_jitter),
      bucket(opts.rate, default_burst(opts.rate), SteadyClock::now()),
      echo(kEchoCapacity, std::chrono::seconds(60)),
      rng(std::random_device{}()),
      reconnect_timer(io),
      rate_timer(io),
      gate_timer(io),
      tick_timer(io),
      reopen_timer(io) {
  for (std::size_t c = 0; c < rules.out_classes().size(); ++c) {
    LocalSession s;
    s.client_id = rules.out_classes()[c].client_id;
    s.out = true;
    s.cls = c;
    sessions.push_back(std::move(s));
  }
  if (rules.has_in()) {
    LocalSession s;
    s.client_id = rules.in_client_id();
    s.out = false;
    sessions.push_back(std::move(s));
  }
  window = std::max<std::size_t>(1, opts.max_inflight);
}

void Bridge::Impl::start() {
  if (started) return;
  started = true;
  local_client = std::make_shared<Local>(inbox, this);
  try {
    std::shared_ptr<Inbox> ib = inbox;
    Impl* self = this;
    uplink = std::make_unique<Uplink>(opts, [ib, self](UplinkEvent&& ev) {
      ib->post([self, e = std::move(ev)]() mutable { self->on_uplink(std::move(e)); });
    });
  } catch (const std::exception& e) {
    log::bridge().error("bridge {}: {}; the bridge stays down (messages still queue locally)",
                        opts.name, e.what());
  }
  work.emplace(io.get_executor());
  asio::post(io, [this] {
    // Open every internal session now, so matching messages queue from the first second
    // even if the uplink never comes up; they are closed again at their CONNACK while the
    // uplink is down.
    for (LocalSession& s : sessions) open_local(s);
    connect_uplink();
    tick();
  });
  thread = std::thread([this] { io.run(); });
  log::bridge().info("bridge {}: started ({} out class(es){}, remote {})", opts.name,
                     rules.out_classes().size(), rules.has_in() ? ", in rules" : "",
                     opts.remotes.empty() ? "-" : opts.remotes.front());
}

void Bridge::Impl::stop() {
  if (!started || stopped) return;
  stopped = true;
  // 1. No new upstream publishes; in-flight ones may still be acknowledged and passed on.
  {
    std::promise<void> done;
    asio::post(io, [this, &done] {
      stopping = true;
      reconnect_timer.cancel();
      rate_timer.cancel();
      gate_timer.cancel();
      reopen_timer.cancel();
      done.set_value();
    });
    done.get_future().wait();
  }
  // 2. Graceful DISCONNECT upstream, waiting briefly for acknowledgements (their acks to
  //    core are posted to the loop, which still runs).
  if (uplink) uplink->disconnect(kStopDisconnectWait);
  // 3. Close the internal sessions (they stay, queueing) and stop the loop.
  {
    std::promise<void> done;
    asio::post(io, [this, &done] {
      for (LocalSession& s : sessions) close_local(s);
      tick_timer.cancel();
      connected = false;
      {
        std::lock_guard<std::mutex> lk(status_mu);
        status_connected = false;
      }
      done.set_value();
    });
    done.get_future().wait();
  }
  inbox->close();
  work.reset();
  io.stop();
  if (thread.joinable()) thread.join();
  uplink.reset();
  log::bridge().info("bridge {}: stopped", opts.name);
}

BridgeStatus Bridge::Impl::status() const {
  BridgeStatus st;
  st.name = opts.name;
  {
    std::lock_guard<std::mutex> lk(status_mu);
    st.connected = status_connected;
    st.remote = status_remote;
  }
  st.connects = counters.connects.load(std::memory_order_relaxed);
  st.forwarded_out = counters.forwarded_out.load(std::memory_order_relaxed);
  st.forwarded_in = counters.forwarded_in.load(std::memory_order_relaxed);
  st.remote_rejected = counters.remote_rejected.load(std::memory_order_relaxed);
  st.dropped_too_large = counters.dropped_too_large.load(std::memory_order_relaxed);
  st.dropped_unmapped = counters.dropped_unmapped.load(std::memory_order_relaxed);
  st.dropped_expired = counters.dropped_expired.load(std::memory_order_relaxed);
  st.dropped_in = counters.dropped_in.load(std::memory_order_relaxed);
  st.dropped_qos0 = counters.dropped_qos0.load(std::memory_order_relaxed);
  const auto now = core::Clock::now();
  for (const OutClass& c : rules.out_classes()) {
    const auto s = server.session_status(c.client_id);
    if (!s) continue;
    st.queued += s->queued;
    st.on_disk += s->on_disk;
    st.inflight += s->inflight;
    st.dropped_oldest += s->dropped_oldest;
    st.dropped_newest += s->dropped_newest;
    st.rejected += s->rejected;
    st.dropped_qos0 += s->dropped_qos0;
    if (s->oldest) {
      const auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - *s->oldest);
      if (!st.oldest_age || age > *st.oldest_age) st.oldest_age = std::max(age, decltype(age){0});
    }
  }
  return st;
}

// ---------------------------------------------------------------- uplink events

void Bridge::Impl::on_uplink(UplinkEvent&& ev) {
  std::visit(
      [this](auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, UplinkConnected>)
          on_connected(e);
        else if constexpr (std::is_same_v<T, UplinkConnectFailed>)
          on_connect_failed(e);
        else if constexpr (std::is_same_v<T, UplinkLost>)
          on_lost(e);
        else if constexpr (std::is_same_v<T, UplinkDelivered>)
          on_delivered(e);
        else if constexpr (std::is_same_v<T, UplinkMessage>)
          on_remote_message(std::move(e));
        else if constexpr (std::is_same_v<T, UplinkSubscribed>)
          on_subscribed(e);
        else if constexpr (std::is_same_v<T, UplinkSslError>)
          on_tls_error(e);
      },
      ev);
}

void Bridge::Impl::on_tls_error(const UplinkSslError& ev) {
  // Each distinct TLS error once at warn (a bad CA fails every attempt the same way).
  if (ev.message != last_tls_error) {
    log::bridge().warn("bridge {}: TLS: {}", opts.name, ev.message);
    last_tls_error = ev.message;
  } else {
    log::bridge().debug("bridge {}: TLS: {}", opts.name, ev.message);
  }
}

void Bridge::Impl::connect_uplink() {
  if (!uplink || connected || connecting || stopping) return;
  connecting = true;
  // The first connection of this process starts a fresh remote session when the bridge
  // has no in rules (the remote session then holds nothing for us). Paho's packet ids
  // restart at 1 in a new process, and a remote still holding one of them from a QoS 2
  // flow cut by a restart (PUBREC sent, PUBREL awaited) would take a new message with
  // that id for a duplicate and drop it [MQTT-4.3.3-10]; core resends that message
  // anyway, so nothing is lost by starting clean.
  const bool fresh = (counters.connects.load(std::memory_order_relaxed) == 0 && !opts.clean_start &&
                      !rules.has_in()) ||
                     fresh_next;
  uplink->connect(fresh);
}

void Bridge::Impl::schedule_reconnect() {
  if (stopping || !uplink) return;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const auto delay = backoff.next(u(rng));
  log::bridge().debug("bridge {}: reconnecting in {} ms", opts.name, delay.count());
  reconnect_timer.expires_after(delay);
  reconnect_timer.async_wait([this](const asio::error_code& ec) {
    if (!ec) connect_uplink();
  });
}

void Bridge::Impl::on_connected(UplinkConnected& ev) {
  connecting = false;
  if (stopping) return;
  connected = true;
  connected_at = SteadyClock::now();
  fresh_next = false;
  remote = ev.server_uri;
  last_error.clear();
  last_tls_error.clear();
  // [MQTT-4.9.0-2] never more QoS>0 in flight than the remote's Receive Maximum.
  window = std::max<std::size_t>(1, std::min<std::size_t>(opts.max_inflight, ev.receive_maximum));
  remote_max_qos = ev.maximum_qos;
  remote_retain = ev.retain_available;
  remote_max_packet = ev.maximum_packet_size;
  counters.connects.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lk(status_mu);
    status_connected = true;
    status_remote = remote;
  }
  log::bridge().info("bridge {}: connected to {} (session {})", opts.name, remote,
                     ev.session_present ? "resumed" : "new");

  if (!ev.session_present) {
    // The remote (and so Paho) has no session: what Paho had in flight is gone from it.
    // Forget those flows; core still holds each one in flight and resends it (DUP) when
    // the session reopens, and it goes out again then [MQTT-4.4.0-1].
    for (LocalSession& s : sessions) {
      for (auto it = s.flows.begin(); it != s.flows.end();) {
        if (it->second.state == OutFlow::State::Upstream)
          it = s.flows.erase(it);
        else
          ++it;
      }
    }
    sends.clear();
  }
  // Inbound rules: subscribe again (idempotent; needed when the session is new).
  if (rules.has_in()) uplink->subscribe(rules.in_filters());

  gate_open = false;
  for (LocalSession& s : sessions) {
    if (s.phase == Phase::Closed || s.phase == Phase::Refused) open_local(s);
  }
  gate_timer.expires_after(kGateTimeout);
  gate_timer.async_wait([this](const asio::error_code& ec) {
    if (ec || gate_open || !connected) return;
    gate_open = true;
    drain();
  });
  maybe_open_gate();
}

void Bridge::Impl::on_connect_failed(const UplinkConnectFailed& ev) {
  connecting = false;
  if (stopping) return;
  std::string what = ev.message;
  if (ev.reason != kNoReason && ev.reason != 0)
    what += " (reason " + std::to_string(ev.reason) + ")";
  // Each distinct error once at warn; repeats of it only at debug.
  if (what != last_error) {
    log::bridge().warn("bridge {}: cannot connect to {}: {}", opts.name,
                       opts.remotes.empty() ? "-" : opts.remotes.front(), what);
    last_error = what;
  } else {
    log::bridge().debug("bridge {}: cannot connect: {}", opts.name, what);
  }
  schedule_reconnect();
}

void Bridge::Impl::on_lost(const UplinkLost& ev) {
  if (!connected) return;  // the second report of the same loss (DISCONNECT, then close)
  connected = false;
  gate_open = false;
  gate_timer.cancel();
  rate_timer.cancel();
  rate_timer_armed = false;
  {
    std::lock_guard<std::mutex> lk(status_mu);
    status_connected = false;
  }
  if (ev.reason >= 0)
    log::bridge().warn("bridge {}: disconnected by {} (reason 0x{:02x}); queueing locally",
                       opts.name, remote, ev.reason);
  else
    log::bridge().warn("bridge {}: connection to {} lost ({}); queueing locally", opts.name, remote,
                       ev.cause);
  check_poison();
  // QoS 0 writes Paho had not finished are gone; QoS 1/2 stay with Paho (in flight).
  for (auto it = sends.begin(); it != sends.end();) {
    if (it->second.core_qos == 0)
      it = sends.erase(it);
    else
      ++it;
  }
  // Close the out sessions: core queues durably until the uplink is back. The in session
  // stays open to hand over what already arrived.
  for (LocalSession& s : sessions)
    if (s.out) close_local(s);
  if (SteadyClock::now() - connected_at >= kStableConnection) backoff.reset();
  if (!stopping) schedule_reconnect();
}

void Bridge::Impl::check_poison() {
  // A remote that drops the connection over one message (e.g. a cloud that disconnects
  // on a publish its policy forbids) would get it again at every reconnect, from Paho
  // and then from core, and the queue behind it would never move. When the connection
  // keeps dying young with the same oldest unacknowledged message, that message goes.
  if (SteadyClock::now() - connected_at >= kStableConnection) {
    suspect.strikes = 0;
    return;
  }
  LocalSession* oldest_s = nullptr;
  std::uint16_t oldest_id = 0;
  std::uint64_t oldest_send = 0;
  for (LocalSession& ls : sessions) {
    for (const auto& [id, f] : ls.flows) {
      if (f.state != OutFlow::State::Upstream) continue;
      if (!oldest_s || f.send_id < oldest_send) {
        oldest_s = &ls;
        oldest_id = id;
        oldest_send = f.send_id;
      }
    }
  }
  if (!oldest_s) return;
  const std::size_t idx = static_cast<std::size_t>(oldest_s - sessions.data());
  if (suspect.strikes > 0 && suspect.session == idx && suspect.packet_id == oldest_id) {
    ++suspect.strikes;
  } else {
    suspect = Suspect{idx, oldest_id, 1};
  }
  if (suspect.strikes < kPoisonStrikes) return;
  OutFlow& f = oldest_s->flows[oldest_id];
  log::bridge().error(
      "bridge {}: the remote dropped the connection {} times while a message for '{}' was "
      "the oldest unacknowledged one; dropping it (counted as refused) and starting a fresh "
      "remote session so that it is not sent again",
      opts.name, suspect.strikes, f.item.msg->topic);
  counters.remote_rejected.fetch_add(1, std::memory_order_relaxed);
  sends.erase(f.send_id);
  // Acknowledged to core when core resends it (the local session is closing now).
  f.state = OutFlow::State::RemoteAcked;
  f.send_id = 0;
  suspect.strikes = 0;
  fresh_next = true;  // Paho forgets its copy only with a clean start
}

void Bridge::Impl::on_subscribed(const UplinkSubscribed& ev) {
  const bool v5 = uplink && uplink->is_v5();
  if (remote_refused(v5, ev.reason) ||
      (ev.ok && v5 && ev.reason >= 0x80 && ev.reason != kNoReason)) {
    log::bridge().warn("bridge {}: remote refused subscription '{}' (reason 0x{:02x})", opts.name,
                       ev.filter, ev.reason);
  } else if (!ev.ok) {
    // The link broke before the SUBACK: subscribed again at the next connect.
    log::bridge().debug("bridge {}: subscription '{}' not confirmed: {}", opts.name, ev.filter,
                        ev.message);
  } else {
    log::bridge().debug("bridge {}: subscribed upstream to '{}'", opts.name, ev.filter);
  }
}

void Bridge::Impl::on_delivered(const UplinkDelivered& ev) {
  auto it = sends.find(ev.send_id);
  if (it == sends.end()) return;  // from before a session reset: already forgotten
  const SendRef ref = it->second;
  sends.erase(it);
  const bool v5 = uplink && uplink->is_v5();
  const bool refused = remote_refused(v5, ev.reason);

  if (ref.core_qos == 0) {
    if (ev.ok) counters.forwarded_out.fetch_add(1, std::memory_order_relaxed);
    drain();
    return;
  }
  LocalSession& s = sessions[ref.session];
  auto f = s.flows.find(ref.packet_id);
  if (f == s.flows.end() || f->second.send_id != ev.send_id ||
      f->second.state != OutFlow::State::Upstream) {
    drain();
    return;
  }
  if (!ev.ok && !refused) {
    // Not acknowledged (the link broke and Paho gave it up): send it again, before the
    // rest of its class, if the session is still open; otherwise core resends it.
    if (s.phase == Phase::Open) {
      f->second.state = OutFlow::State::Waiting;
      f->second.send_id = 0;
      waiting.push_front(s.cls, f->second.item);
    } else {
      s.flows.erase(f);
    }
    drain();
    return;
  }
  if (refused || (ev.ok && ev.reason >= 0x80 && ev.reason != kNoReason && v5)) {
    // The remote will not take it (e.g. 0x87 not authorized, 0x97 quota): retrying would
    // block the queue forever. Count it and let it go.
    const auto n = counters.remote_rejected.fetch_add(1, std::memory_order_relaxed) + 1;
    if (n == 1 || n % 1000 == 0)
      log::bridge().warn("bridge {}: remote refused a message (reason 0x{:02x}); {} refused so far",
                         opts.name, ev.reason, n);
  } else {
    counters.forwarded_out.fetch_add(1, std::memory_order_relaxed);
  }
  if (s.phase == Phase::Open) {
    ack_core(s, ref.packet_id, ref.core_qos);
    s.flows.erase(f);
  } else {
    f->second.state = OutFlow::State::RemoteAcked;  // acked when core resends it
    f->second.send_id = 0;
  }
  drain();
}

// ---------------------------------------------------------------- upstream drain

void Bridge::Impl::maybe_open_gate() {
  if (!connected || gate_open || stopping) return;
  for (const LocalSession& s : sessions) {
    if (s.out && s.phase != Phase::Open && s.phase != Phase::Refused) return;
  }
  gate_open = true;
  gate_timer.cancel();
  drain();
}

void Bridge::Impl::retry_drain_in(SteadyClock::duration d) {
  if (rate_timer_armed) return;
  rate_timer_armed = true;
  rate_timer.expires_after(d);
  rate_timer.async_wait([this](const asio::error_code& ec) {
    rate_timer_armed = false;
    if (!ec) drain();
  });
}

void Bridge::Impl::drain() {
  if (!connected || !gate_open || stopping || !uplink) return;
  while (sends.size() < window) {
    auto next = waiting.pop();
    if (!next) return;
    auto& [cls, item] = *next;
    LocalSession& s = sessions[cls];
    if (item.qos > 0) {
      auto f = s.flows.find(item.packet_id);
      if (f == s.flows.end() || f->second.state != OutFlow::State::Waiting) continue;  // stale
    }
    if (!bucket.try_take(SteadyClock::now())) {
      waiting.push_front(cls, std::move(item));
      retry_drain_in(bucket.wait(SteadyClock::now()));
      return;
    }
    if (!send_upstream(cls, item)) {
      // Paho cannot take it now (the link is going down, or its window is full): retried
      // on the next event (a delivery, a reconnect), or shortly if none is due.
      waiting.push_front(cls, std::move(item));
      if (sends.empty()) retry_drain_in(kBusyRetry);
      return;
    }
  }
}

bool Bridge::Impl::send_upstream(std::size_t cls, OutItem& item) {
  LocalSession& s = sessions[cls];
  auto finish_locally = [&](std::atomic<std::uint64_t>& counter) {
    counter.fetch_add(1, std::memory_order_relaxed);
    if (item.qos == 0) return;
    if (s.phase == Phase::Open) ack_core(s, item.packet_id, item.qos);
    s.flows.erase(item.packet_id);
  };

  const std::optional<std::string> topic = rules.map_out(cls, item.msg->topic);
  if (!topic) {
    finish_locally(counters.dropped_unmapped);  // a filter no current rule has
    return true;
  }
  std::optional<std::uint32_t> expiry;
  if (item.expiry) {
    // [MQTT-3.3.2-6] forward the remaining lifetime; an expired one is not forwarded.
    const auto held =
        std::chrono::duration_cast<std::chrono::seconds>(SteadyClock::now() - item.received);
    if (held.count() >= static_cast<std::int64_t>(*item.expiry)) {
      finish_locally(counters.dropped_expired);
      return true;
    }
    expiry = static_cast<std::uint32_t>(*item.expiry - held.count());
  }
  const bool v5 = uplink->is_v5();
  OutgoingPublish out;
  out.topic = *topic;
  out.payload = &item.msg->payload;
  // The remote's CONNACK limits: a higher QoS or a retained message it cannot take would
  // be a protocol error that ends the connection [MQTT-3.2.2-11], [MQTT-3.2.2-14].
  out.qos = std::min(item.qos, remote_max_qos);
  out.retain = item.retain && remote_retain;
  out.props = v5 ? item.msg->props.get() : nullptr;
  out.message_expiry = v5 ? expiry : std::nullopt;
  if (remote_max_packet > 0) {
    codec::PublishView pv;
    pv.qos = out.qos;
    pv.retain = out.retain;
    pv.topic = out.topic;
    pv.packet_id = out.qos > 0 ? 1 : 0;
    pv.payload = item.msg->payload;
    pv.props = out.props;
    pv.message_expiry_interval = out.message_expiry;
    const std::size_t size =
        codec::publish_size(pv, v5 ? codec::ProtocolVersion::v5 : codec::ProtocolVersion::v311);
    // [MQTT-3.1.2-24] never send a packet above the remote's Maximum Packet Size.
    if (size > remote_max_packet) {
      finish_locally(counters.dropped_too_large);
      return true;
    }
  }
  const std::uint64_t id = next_send_id++;
  sends.emplace(id, SendRef{cls, item.packet_id, item.qos});
  int rc = 0;
  switch (uplink->publish(id, out, rc)) {
    case Uplink::PublishResult::Ok:
      break;
    case Uplink::PublishResult::Busy:
      sends.erase(id);
      return false;
    case Uplink::PublishResult::Refused: {
      // Paho will never send this one: retrying would stall its class for good.
      sends.erase(id);
      log::bridge().warn("bridge {}: the MQTT client refused a message for '{}' (error {})",
                         opts.name, out.topic, rc);
      finish_locally(counters.remote_rejected);
      return true;
    }
  }
  if (!v5 && rules.is_both(cls, item.msg->topic))
    echo.sent(out.topic, item.msg->payload, SteadyClock::now());
  if (item.qos > 0) {
    OutFlow& f = s.flows[item.packet_id];
    f.state = OutFlow::State::Upstream;
    f.send_id = id;
  }
  return true;
}

// ---------------------------------------------------------------- housekeeping

void Bridge::Impl::tick() {
  if (stopping) return;
  const SteadyTime now = SteadyClock::now();
  // Core imposed a Server Keep Alive on an internal session: keep it alive [MQTT-3.1.2-22].
  for (LocalSession& s : sessions) {
    if (s.phase != Phase::Open || s.keep_alive == 0) continue;
    if (now - s.last_sent >= std::chrono::seconds(s.keep_alive) / 2) send_core(s, codec::Pingreq{});
  }
  log_changes();
  tick_timer.expires_after(kTick);
  tick_timer.async_wait([this](const asio::error_code& ec) {
    if (!ec) tick();
  });
}

void Bridge::Impl::log_changes() {
  const SteadyTime now = SteadyClock::now();
  const BridgeStatus st = status();
  const std::uint64_t drops = st.dropped_oldest + st.dropped_newest + st.rejected +
                              st.dropped_qos0 + st.remote_rejected + st.dropped_too_large +
                              st.dropped_expired + st.dropped_in + st.dropped_unmapped;
  // Drops at most every kDropLogInterval, with the totals so far.
  if (drops != logged_drops && now - last_drop_log >= kDropLogInterval) {
    log::bridge().warn(
        "bridge {}: drops: {} oldest, {} newest, {} rejected, {} qos0, {} remote refused, {} "
        "too large, {} expired, {} inbound, {} unmapped; queued {}",
        opts.name, st.dropped_oldest, st.dropped_newest, st.rejected, st.dropped_qos0,
        st.remote_rejected, st.dropped_too_large, st.dropped_expired, st.dropped_in,
        st.dropped_unmapped, st.queued);
    logged_drops = drops;
    last_drop_log = now;
  }
  if (connected && logged_queued > 0 && st.queued == 0 && st.inflight == 0) {
    log::bridge().info("bridge {}: backlog drained", opts.name);
  } else if (!connected && st.queued > 0 && logged_queued == 0) {
    log::bridge().info("bridge {}: queueing while the uplink is down", opts.name);
  }
  logged_queued = st.queued + st.inflight;
}

// ---------------------------------------------------------------- Bridge

Bridge::Bridge(BridgeOptions opts, net::Server& server)
    : impl_(std::make_shared<Impl>(std::move(opts), server)) {}

Bridge::~Bridge() { stop(); }

void Bridge::start() { impl_->start(); }
void Bridge::stop() { impl_->stop(); }
BridgeStatus Bridge::status() const { return impl_->status(); }
const BridgeOptions& Bridge::options() const { return impl_->opts; }

}  // namespace tern::bridge
