#include "broker/net/server.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <exception>
#include <utility>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker/log/log.hpp"
#include "broker/net/connection.hpp"
#include "broker/net/endpoint.hpp"
#include "broker/net/server_impl.hpp"

namespace tern::net {
namespace {

// on_tick runs at least this often, whatever next_deadline() says.
constexpr core::Duration kTickSafetyNet = std::chrono::seconds(1);
// Never re-arm closer than this, so a deadline core fails to clear cannot spin a loop.
constexpr core::Duration kMinTick = std::chrono::milliseconds(1);
// After stop(): time for clients to receive their DISCONNECT before the loops are stopped.
constexpr core::Duration kShutdownGrace = std::chrono::seconds(2);
constexpr core::Duration kAcceptBackoff = std::chrono::milliseconds(100);
constexpr core::Duration kRefusalLogInterval = std::chrono::seconds(1);
// Connections accepted per turn of loop 0 before it serves its other events.
constexpr int kMaxAcceptsPerTurn = 64;

}  // namespace

Engine::Engine(ServerOptions net, core::BrokerOptions core)
    : opts(std::move(net)),
      max_packet_size(core.max_packet_size),
      broker(std::move(core)) {
  const unsigned n = std::max(1u, opts.io_threads);
  loops.reserve(n);
  for (unsigned i = 0; i < n; ++i) loops.push_back(std::make_unique<Loop>(*this, i));
  outbox.resize(n);
  authenticator = opts.authenticator;
  if (opts.access_policy) broker.set_access_policy(opts.access_policy);
}

Engine::~Engine() {
  // Everything bound to an io_context is destroyed before that context, and loop 0 (whose
  // pending accepts hold sockets of the other loops) goes first.
  stop_loops();
  for (auto& l : loops) {
    if (l->thread.joinable()) l->thread.join();
  }
  signals.reset();
  tick_timer.reset();
  shutdown_timer.reset();
  periodic.clear();
  for (auto& l : listeners) {
    asio::error_code ec;
    l->acceptor.close(ec);
    l->backoff.reset();
  }
  std::vector<ConnPtr> open = conns.take_all();
  for (auto& c : open) c->close_socket();
  open.clear();
  for (auto& l : loops) {
    l->local.clear();
    l->dirty.clear();
  }
  for (auto& batch : outbox) batch.clear();
  for (auto& l : loops) l.reset();  // handlers still queued release their connections here
  listeners.clear();
}

void Engine::drain(Loop& current) {
  auto& actions = broker.actions();
  // Batches posted to this loop earlier (under mu, so earlier in core's order) have not run
  // yet: our own actions must queue behind them rather than run first.
  const bool behind = current.posted.load(std::memory_order_relaxed) > 0;
  for (core::Action& a : actions) {
    const core::ConnId id = std::visit([](const auto& x) { return x.conn; }, a);
    if ((id & kInternalBit) != 0) {
      route_internal(id, a);
      continue;
    }
    const ConnPtr* conn = conns.find(id);
    if (conn == nullptr) {
      // The connection is already gone (its last packets raced its close): nothing to send.
      log::net().debug("conn {}: action {} for a closed connection dropped", id, a.index());
      continue;
    }
    Routed r{*conn, {}};
    if (auto* sp = std::get_if<core::SendPublish>(&a)) {
      r.what = std::move(*sp);
    } else if (auto* sa = std::get_if<core::SendAck>(&a)) {
      r.what = *sa;
    } else {
      r.what = std::make_unique<core::Action>(std::move(a));
    }
    const unsigned target = (*conn)->loop().index;
    if (target == current.index && !behind) {
      current.local.push_back(std::move(r));
    } else {
      outbox[target].push_back(std::move(r));
    }
  }
  actions.clear();
  if (!internal_out.empty()) flush_internal();
  if (committer) submit_persist();
  // Posted while mu is held: the next drain's batches queue behind these, so every
  // connection sees its actions in the order core produced them.
  for (std::size_t i = 0; i < outbox.size(); ++i) {
    if (outbox[i].empty()) continue;
    Loop* l = loops[i].get();
    l->posted.fetch_add(1, std::memory_order_relaxed);
    asio::post(l->ctx, [l, batch = std::move(outbox[i])]() mutable {
      l->posted.fetch_sub(1, std::memory_order_relaxed);
      if (l->local.empty()) {
        l->local.swap(batch);
      } else {
        for (auto& r : batch) l->local.push_back(std::move(r));
      }
      l->run_local();
    });
    outbox[i].clear();
  }
  // Re-arm the tick timer when this event moved the broker's deadline earlier.
  const auto deadline = broker.next_deadline();
  if (deadline && *deadline < armed_deadline) {
    const core::Time at = *deadline;
    armed_deadline = at;
    if (current.index == 0) {
      arm_tick(at);
    } else {
      asio::post(loops[0]->ctx, [this, at] {
        if (tick_timer && at < tick_timer->expiry()) arm_tick(at);
      });
    }
  }
}

void Engine::connection_closed(Loop& loop, core::ConnId id) {
  auto lk = lock();
  broker.on_closed(id, core::Clock::now());
  drain(loop);
  conns.remove(id);
  if (stopping && conns.empty()) stop_loops();
}

void Engine::release_slot(std::size_t listener) {
  live.fetch_sub(1, std::memory_order_relaxed);
  if (listener < listeners.size()) listeners[listener]->live.fetch_sub(1, std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------------------
// Accepting (loop 0)

void Engine::start_accept(Listener& l) {
  l.acceptor.async_wait(Acceptor::wait_read,
                        [this, &l](const asio::error_code& ec) { on_acceptable(l, ec); });
}

void Engine::on_acceptable(Listener& l, const asio::error_code& ec) {
  if (ec == asio::error::operation_aborted || stop_requested.load()) return;
  int err = ec ? ec.value() : 0;
  // Accepted to EAGAIN: the listener sits edge-triggered in Asio's reactor, so a backlog
  // left behind would raise no new event. Bounded per turn so that a connection storm does
  // not starve loop 0's own clients; the rest continue in a posted turn.
  for (int i = 0; i < kMaxAcceptsPerTurn && err == 0; ++i) {
    const int fd = ::accept4(l.acceptor.native_handle(), nullptr, nullptr,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);  // reads go until EAGAIN
    if (fd >= 0) {
      admit(l, fd, core::Clock::now());
      continue;
    }
    // A connection reset while queued, or a signal: try the next one.
    if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      start_accept(l);
      return;
    }
    err = errno;
  }
  if (err == 0) {
    asio::post(loops[0]->ctx, [this, &l] { on_acceptable(l, {}); });
    return;
  }
  // EMFILE and friends: back off instead of spinning on a listener that cannot accept.
  log::net().warn("listener {}: accept failed: {}", l.opts.name,
                  std::error_code(err, std::generic_category()).message());
  if (!l.backoff) l.backoff.emplace(loops[0]->ctx.get_executor());
  l.backoff->expires_after(kAcceptBackoff);
  l.backoff->async_wait([this, &l](const asio::error_code& e) {
    if (!e && !stop_requested.load()) start_accept(l);
  });
}

void Engine::admit(Listener& l, int fd, core::Time now) {
  std::string why;
  if (!take_connect_token(now)) {
    // Over connect_rate: refused before any work (no TLS handshake, no broker state).
    rate_limited.fetch_add(1, std::memory_order_relaxed);
    why = fmt::format("over the connect rate of {}/s", opts.connect_rate);
  } else if (opts.max_connections != 0 && live.load() >= opts.max_connections) {
    refused.fetch_add(1, std::memory_order_relaxed);
    why = "server connection limit reached";
  } else if (l.opts.max_connections != 0 && l.live.load() >= l.opts.max_connections) {
    refused.fetch_add(1, std::memory_order_relaxed);
    why = "listener connection limit reached";
  }
  if (!why.empty()) {
    ::close(fd);
    ++refusals_unlogged;
    // One line per interval, not one per refused connection.
    if (now - last_refusal_log >= kRefusalLogInterval) {
      log::net().warn("listener {}: {}, refused {} connection(s)", l.opts.name, why,
                      refusals_unlogged);
      refusals_unlogged = 0;
      last_refusal_log = now;
    }
    return;
  }
  const int one = 1;
  if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
    log::net().warn("listener {}: cannot set up accepted socket: {}", l.opts.name,
                    std::error_code(errno, std::generic_category()).message());
    ::close(fd);
    return;
  }
  live.fetch_add(1, std::memory_order_relaxed);
  l.live.fetch_add(1, std::memory_order_relaxed);
  l.accepted.fetch_add(1, std::memory_order_relaxed);
  accepted.fetch_add(1, std::memory_order_relaxed);
  Loop& target = *loops[next_loop++ % loops.size()];
  if (&target == loops[0].get()) {
    open_connection(l.index, target, fd);
    return;
  }
  asio::post(target.ctx, [this, &l, &target, fd] { open_connection(l.index, target, fd); });
}

void Engine::open_connection(std::size_t listener, Loop& loop, int fd) {
  asio::ip::tcp::endpoint peer;
  if (opts.record_peer_addresses) peer_endpoint(fd, peer);
  const ConnPtr conn(new Connection(loop, static_cast<std::uint16_t>(listener), fd));
  conn->set_layers(make_layers(*listeners[listener]));
  {
    auto lk = lock();
    const core::ConnId id = stopping ? 0 : conns.add(conn);
    if (id == 0) {
      lk.unlock();
      conn->close_socket();
      return;
    }
    if (opts.record_peer_addresses) {
      const std::size_t slot = id & (ConnRegistry::kMaxSlots - 1);
      if (peers.size() <= slot) peers.resize(slot + 1);
      peers[slot] = peer;
    }
    broker.on_open(id, core::Clock::now());
    drain(loop);
  }
  conn->start();
  loop.run_local();
}

// ---------------------------------------------------------------------------------------
// Connection registry

core::ConnId ConnRegistry::add(ConnPtr c) {
  std::uint32_t slot = 0;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    if (slots_.size() >= kMaxSlots) return 0;
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  const core::ConnId id = (next_seq_++ << kSlotBits) | slot;
  c->set_id(id);
  slots_[slot] = std::move(c);
  ++count_;
  return id;
}

const ConnPtr* ConnRegistry::find(core::ConnId id) const {
  const std::size_t slot = id & (kMaxSlots - 1);
  if (slot >= slots_.size() || !slots_[slot] || slots_[slot]->id() != id) return nullptr;
  return &slots_[slot];
}

void ConnRegistry::remove(core::ConnId id) {
  const std::size_t slot = id & (kMaxSlots - 1);
  if (slot >= slots_.size() || !slots_[slot] || slots_[slot]->id() != id) return;
  slots_[slot].reset();
  free_.push_back(static_cast<std::uint32_t>(slot));
  --count_;
}

std::vector<ConnPtr> ConnRegistry::take_all() {
  std::vector<ConnPtr> all;
  all.reserve(count_);
  for (auto& c : slots_) {
    if (c) all.push_back(std::move(c));
  }
  slots_.clear();
  free_.clear();
  count_ = 0;
  return all;
}

// ---------------------------------------------------------------------------------------
// Time (loop 0)

void Engine::arm_tick(core::Time at) {
  tick_timer->expires_at(at);
  tick_timer->async_wait([this](const asio::error_code& ec) { on_tick(ec); });
}

void Engine::on_tick(const asio::error_code& ec) {
  if (ec) return;  // cancelled by a re-arm
  ticks.fetch_add(1, std::memory_order_relaxed);
  Loop& l0 = *loops[0];
  core::Time next;
  {
    auto lk = lock();
    const core::Time now = core::Clock::now();
    broker.on_tick(now);
    drain(l0);
    next = now + kTickSafetyNet;
    if (const auto d = broker.next_deadline(); d && *d < next) next = std::max(*d, now + kMinTick);
    armed_deadline = next;
  }
  arm_tick(next);
  l0.run_local();
}

// ---------------------------------------------------------------------------------------
// Shutdown

void Engine::begin_shutdown() {
  log::net().info("shutting down");
  asio::error_code ignored;
  for (auto& l : listeners) {
    l->acceptor.close(ignored);
    if (l->backoff) l->backoff->cancel();
  }
  if (signals) signals->cancel(ignored);
  if (checkpoint_timer) checkpoint_timer->cancel();
  for (auto& p : periodic) {
    if (p->timer) p->timer->cancel();
  }
  Loop& l0 = *loops[0];
  {
    auto lk = lock();
    stopping = true;
    // v5 clients get DISCONNECT 0x8B (MQTT 5.0 §3.14.2.1); core closes every connection.
    broker.shutdown(core::Clock::now());
    drain(l0);
    if (conns.empty()) stop_loops();
  }
  shutdown_timer.emplace(l0.ctx.get_executor());
  shutdown_timer->expires_after(kShutdownGrace);
  shutdown_timer->async_wait([this](const asio::error_code& ec) {
    if (ec) return;
    log::net().warn("shutdown: connections still open after {} ms, closing them",
                    std::chrono::duration_cast<std::chrono::milliseconds>(kShutdownGrace).count());
    stop_loops();
  });
  l0.run_local();
}

void Engine::stop_loops() {
  for (auto& l : loops) l->ctx.stop();
}

// ---------------------------------------------------------------------------------------
// Server


Server::Server(ServerOptions net, core::BrokerOptions core)
    : impl_(std::make_unique<Impl>(std::move(net), std::move(core))) {}

Server::~Server() = default;

bool Server::start(std::string& error) {
  Impl& s = *impl_;
  if (s.started) {
    error = "server already started";
    return false;
  }
  if (s.opts.listeners.empty()) {
    error = "no listeners configured";
    return false;
  }
  auto fail = [&](const std::string& msg) {
    error = msg;
    for (auto& l : s.listeners) {
      asio::error_code ignored;
      l->acceptor.close(ignored);
    }
    s.listeners.clear();
    s.bound.clear();
    return false;
  };
  // The stored state is back before any client can connect.
  if (!s.store && !s.open_storage(error)) return false;
  for (const ListenerOptions& lo : s.opts.listeners) {
    asio::ip::tcp::endpoint ep;
    std::string err;
    if (!resolve_bind(lo.bind, ep, err)) return fail("listener " + lo.name + ": " + err);
    Acceptor a(s.loops[0]->ctx.get_executor());
    asio::error_code ec;
    a.open(ep.protocol(), ec);
    if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
    // An IPv6 listener serves IPv6 only, so "[::]:1883" can sit beside "0.0.0.0:1883".
    if (!ec && ep.address().is_v6()) a.set_option(asio::ip::v6_only(true), ec);
    if (!ec) a.bind(ep, ec);
    if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) a.native_non_blocking(true, ec);  // on_acceptable accepts until EAGAIN
    asio::ip::tcp::endpoint local;
    if (!ec) local = a.local_endpoint(ec);
    if (ec) return fail("listener " + lo.name + " (" + lo.bind + "): " + ec.message());
    s.bound.push_back(BoundListener{lo.name, local.address().to_string(), local.port()});
    s.listeners.push_back(std::make_unique<Listener>(s.listeners.size(), lo, std::move(a)));
    // The integration tests read the port from this exact line.
    log::net().info("listener {} listening on {}:{}", lo.name, s.bound.back().address,
                    s.bound.back().port);
  }
  if (!s.create_tls_contexts(error)) return fail(error);
  // Signals are caught from here on, not only once run() starts: a SIGTERM that arrives
  // between start() and run() is queued and stops run() at once instead of killing us.
  if (s.opts.handle_signals) {
    s.signals.emplace(s.loops[0]->ctx.get_executor(), SIGINT, SIGTERM);
    s.signals->add(SIGHUP);
    wait_signal();
  }
  s.started = true;
  return true;
}

void Server::wait_signal() {
  impl_->signals->async_wait([this](const asio::error_code& ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      if (impl_->opts.on_reload) {
        // debug: app reopens the log file first, and its reload lines belong in the new one.
        log::app().debug("SIGHUP: reloading");
        impl_->opts.on_reload();
      } else {
        log::app().info("SIGHUP ignored: nothing to reload");
      }
      wait_signal();
      return;
    }
    log::app().info("received signal {}", sig);
    stop();
  });
}

const std::vector<BoundListener>& Server::listeners() const { return impl_->bound; }

void Server::run() {
  Impl& s = *impl_;
  if (!s.started) {
    log::net().error("Server::run() called without a successful start()");
    return;
  }
  Loop& l0 = *s.loops[0];
  for (auto& l : s.listeners) s.start_accept(*l);
  s.arm_checkpoint();
  for (auto& p : s.periodic) s.arm_periodic(*p);
  s.tick_timer.emplace(l0.ctx.get_executor());
  {
    auto lk = s.lock();
    s.armed_deadline = core::Clock::now() + kTickSafetyNet;
    s.arm_tick(s.armed_deadline);
  }
  for (std::size_t i = 1; i < s.loops.size(); ++i) {
    Loop* l = s.loops[i].get();
    l->thread = std::thread([l] { l->ctx.run(); });
  }
  try {
    l0.ctx.run();
  } catch (...) {
    s.stop_loops();
    for (auto& l : s.loops) {
      if (l->thread.joinable()) l->thread.join();
    }
    throw;
  }
  s.stop_loops();  // when loop 0 ended for any reason, the others end too
  for (auto& l : s.loops) {
    if (l->thread.joinable()) l->thread.join();
  }
  s.close_storage();
}

void Server::stop() {
  if (impl_->stop_requested.exchange(true)) return;
  Impl* s = impl_.get();
  asio::post(s->loops[0]->ctx, [s] { s->begin_shutdown(); });
}

std::uint64_t Server::loop_heartbeat() const {
  return impl_->ticks.load(std::memory_order_relaxed);
}

ClientListing Server::clients(std::size_t offset, std::size_t limit) const {
  Impl& s = *impl_;
  ClientListing out;
  auto lk = s.lock();
  core::ClientPage page = s.broker.client_infos(offset, limit);
  out.now = core::Clock::now();
  out.total = page.total;
  out.clients.reserve(page.clients.size());
  for (core::ClientInfo& c : page.clients) {
    ClientEntry e;
    if (!c.internal && c.listener < s.listeners.size()) {
      e.listener = s.listeners[c.listener]->opts.name;
    }
    // Only a connection still in the registry: its slot's address is its own.
    if (c.connected && !c.internal && s.conns.find(c.conn) != nullptr) {
      const std::size_t slot = c.conn & (ConnRegistry::kMaxSlots - 1);
      if (slot < s.peers.size() && s.peers[slot].port() != 0) {
        e.peer = format_endpoint(s.peers[slot]);
      }
    }
    e.info = std::move(c);
    out.clients.push_back(std::move(e));
  }
  return out;
}

core::BrokerStats Server::broker_stats() const {
  auto lk = impl_->lock();
  return impl_->broker.stats();
}

ServerStats Server::stats() const {
  const Impl& s = *impl_;
  ServerStats out;
  out.connections_accepted = s.accepted.load(std::memory_order_relaxed);
  out.connections_refused = s.refused.load(std::memory_order_relaxed);
  out.connections_open = s.live.load(std::memory_order_relaxed);
  out.connections_rate_limited = s.rate_limited.load(std::memory_order_relaxed);
  out.auth_failures = s.auth_failures.load(std::memory_order_relaxed);
  std::int64_t queued = 0;
  for (const auto& l : s.loops) {
    out.slow_client_disconnects += l->counters.slow_disconnects.load(std::memory_order_relaxed);
    out.slow_client_dropped += l->counters.slow_dropped.load(std::memory_order_relaxed);
    out.malformed_packets += l->counters.malformed.load(std::memory_order_relaxed);
    out.tls_handshake_failures += l->counters.tls_failures.load(std::memory_order_relaxed);
    out.websocket_failures += l->counters.ws_failures.load(std::memory_order_relaxed);
    queued += l->counters.queued_bytes.load(std::memory_order_relaxed);
  }
  out.outbound_bytes_queued = static_cast<std::uint64_t>(std::max<std::int64_t>(queued, 0));
  return out;
}

}  // namespace tern::net
