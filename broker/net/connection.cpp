#include "broker/net/connection.hpp"

#include <spdlog/spdlog.h>

#include <cassert>
#include <cerrno>
#include <chrono>
#include <type_traits>
#include <utility>

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker/log/log.hpp"
#include "broker/net/endpoint.hpp"

namespace tern::net {
namespace {

// Reads per readiness before yielding to the loop's other connections (8 x 64 KiB).
constexpr int kMaxReadsPerTurn = 8;
// How long a CloseConnection may wait for queued bytes to drain to a client that does not
// read, and how long a closed connection drains its input (so that closing with unread
// bytes does not turn into a TCP reset that could destroy the answer we just sent).
constexpr core::Duration kFlushTimeout = std::chrono::seconds(5);
constexpr core::Duration kLingerTimeout = std::chrono::seconds(2);
// A carried-over partial packet buffer larger than this is shrunk once mostly consumed.
constexpr std::size_t kShrinkInAbove = 64 * 1024;
// Output waits for the end of the loop's poll batch (so several publishers' bytes to one
// subscriber share a send), but not past this much.
constexpr std::size_t kFlushEarlyAt = 64 * 1024;
// Decoded packets handed to the broker per lock.
constexpr std::size_t kMaxBatch = 64;

// Client ids and reason texts come off the wire: keep control characters (newlines, escape
// sequences) out of the log.
std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out;
}

const char* version_name(codec::ProtocolVersion v) {
  return v == codec::ProtocolVersion::v5 ? "5.0" : "3.1.1";
}

}  // namespace

char* Loop::scratch_buffer() {
  if (!scratch) scratch = std::make_unique_for_overwrite<char[]>(kScratchSize);
  return scratch.get();
}

bool Loop::watch(Connection& c, int fd) {
  if (poll_fd < 0) {
    const int efd = ::epoll_create1(EPOLL_CLOEXEC);
    if (efd < 0) return false;
    asio::error_code ec;
    poll_desc.emplace(ctx.get_executor());
    poll_desc->assign(efd, ec);
    if (ec) {
      ::close(efd);
      poll_desc.reset();
      return false;
    }
    poll_fd = efd;
  }
  // Added once, edge-triggered, never modified: neither a wait for input nor one for output
  // costs a syscall. This is sound because a connection only waits after reading (or
  // writing) to EAGAIN, so whatever comes later is a new edge; events for a direction the
  // connection is not waiting on are ignored (on_poll_event). ADD reports bytes that arrived
  // before it (the CONNECT that often follows accept at once). EPOLLOUT edges only come
  // after a send found the socket buffer full, so they cost nothing while writes succeed.
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = &c;
  if (::epoll_ctl(poll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) return false;  // ENOMEM, max_user_watches
  arm_poll();
  return true;
}

void Loop::arm_poll() {
  if (poll_waiting || !poll_desc) return;
  poll_waiting = true;
  poll_desc->async_wait(asio::posix::descriptor_base::wait_read,
                        [this](const asio::error_code& ec) {
                          poll_waiting = false;
                          if (!ec) on_poll_ready();  // else the loop is being torn down
                        });
}

void Loop::on_poll_ready() {
  constexpr int kMaxEvents = 64;
  epoll_event evs[kMaxEvents];
  for (;;) {
    const int n = ::epoll_wait(poll_fd, evs, kMaxEvents, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    // Pin the whole batch first: running one connection may close another of it (a
    // takeover), and a registration holds no reference. A socket closed before this
    // epoll_wait is no longer in the set, so every pointer here is still alive.
    ready.clear();
    for (int i = 0; i < n; ++i) ready.emplace_back(static_cast<Connection*>(evs[i].data.ptr));
    in_poll_batch = true;
    for (int i = 0; i < n; ++i) ready[static_cast<std::size_t>(i)]->on_poll_event(evs[i].events);
    in_poll_batch = false;
    flush_dirty();
    ready.clear();
    // Emptied the ready list: the set's fd (edge-triggered in Asio's reactor) reports the
    // next event afresh.
    if (n < kMaxEvents) break;
  }
  arm_poll();
}

void Loop::run_local() {
  if (in_local) return;
  in_local = true;
  // Index loops: executing an action may append (a close reports to the broker, whose
  // fallout is drained here again), and those must run after what is already queued.
  for (std::size_t i = 0; i < local.size(); ++i) {
    Routed r = std::move(local[i]);
    r.conn->execute(r);
  }
  local.clear();
  if (local.capacity() > 4096) local.shrink_to_fit();  // after a big fan-out burst
  in_local = false;
  if (!in_poll_batch) flush_dirty();
}

void Loop::flush_dirty() {
  // A flush that fails closes its connection, whose fallout may run_local() and mark
  // others dirty: the nested call returns at once and this loop takes them in turn.
  if (in_flush) return;
  in_flush = true;
  while (!dirty.empty()) {
    flushing.swap(dirty);
    for (auto& conn : flushing) conn->flush();
    flushing.clear();
  }
  in_flush = false;
}

void conn_add_ref(Connection* c) noexcept { c->refs_.fetch_add(1, std::memory_order_relaxed); }

void conn_release(Connection* c) noexcept {
  if (c->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete c;
}

Connection::Connection(Loop& loop, std::uint16_t listener, int fd)
    : loop_(loop), fd_(fd), listener_(listener) {}

Connection::~Connection() {
  if (fd_ >= 0) ::close(fd_);  // server teardown without close_socket()
}

void Connection::start() {
  if (closed_) return;
  if (!loop_.watch(*this, fd_)) {
    // No epoll set or no room in it (ENOMEM, fs.epoll.max_user_watches): this connection
    // cannot be served. Closed from the loop, not from inside the caller's open sequence.
    log::net().warn("conn {} ({}): cannot watch the socket: {}", id_, remote(),
                    std::error_code(errno, std::generic_category()).message());
    asio::post(loop_.ctx, [self = ref()] { self->abort(); });
    return;
  }
  poll_added_ = true;
  wait_readable();
}

// ---------------------------------------------------------------------------------------
// Input

void Connection::wait_readable() {
  if (read_waiting_ || closed_ || !poll_added_) return;
  // Readiness, not a read: no buffer is tied up while the client is idle. The bytes are
  // read into the loop's scratch buffer when they arrive.
  read_waiting_ = true;
  poll_waiting_ = true;
}

void Connection::on_poll_event(std::uint32_t events) {
  // on_poll_ready holds a reference, so a close in the first half leaves `this` alive.
  if (write_waiting_ && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) on_writable();
  if (!poll_waiting_ || closed_) return;  // reading already, or a continuation is posted
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) == 0) return;
  poll_waiting_ = false;
  read_waiting_ = false;
  short_read_ok_ = (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) == 0;
  on_readable();
}

void Connection::on_readable() {
  if (closed_) return;
  char* buf = loop_.scratch_buffer();
  for (int i = 0; i < kMaxReadsPerTurn; ++i) {
    const ssize_t got = ::recv(fd_, buf, Loop::kScratchSize, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        // Drained to EAGAIN, as the edge-triggered set requires before waiting again.
        wait_readable();
        return;
      }
      log::net().debug("conn {}: read error: {}", id_,
                       std::error_code(errno, std::generic_category()).message());
      abort();
      return;
    }
    const auto n = static_cast<std::size_t>(got);
    if (n == 0) {
      peer_eof_ = true;
      if (lingering_) {
        close_socket();
        return;
      }
      // The peer will send no more. Tell the broker now (an abnormal close publishes the
      // will), but let what is already queued reach it if it still reads.
      input_done_ = true;
      if (queued() == 0) {
        abort();
        return;
      }
      closing_ = true;
      arm_close_timer(kFlushTimeout);
      notify_closed();
      return;
    }
    if (!input_done_) {
      if (layers_) {
        on_wire_bytes(std::string_view(buf, n));
      } else {
        on_bytes(std::string_view(buf, n));
      }
    }
    if (closed_) return;
    // A short read emptied the socket's receive queue, and the event that woke us carried
    // no FIN or error (EPOLLRDHUP): whatever arrives from now on raises a new event in the
    // loop's edge-triggered set, so wait now instead of spending a read on the EAGAIN (half
    // the read syscalls under load). Other wake-ups read to EAGAIN (or EOF) as before.
    if (short_read_ok_ && n < Loop::kScratchSize) {
      short_read_ok_ = false;
      wait_readable();
      return;
    }
    short_read_ok_ = false;
  }
  // Still readable after a full turn: let the loop's other connections run, then continue
  // (unless a close already armed an Asio wait). A wait a close armed on the loop's
  // edge-triggered set would never fire for the bytes still queued (no new edge): drop it
  // and continue reading instead.
  if (read_waiting_ && !poll_waiting_) return;
  poll_waiting_ = false;
  read_waiting_ = true;
  asio::post(loop_.ctx, [self = ref()] {
    self->read_waiting_ = false;
    self->on_readable();
  });
}

std::size_t Connection::decode_some(std::string_view data,
                                    std::optional<codec::DecodeResult>& error) {
  codec::DecodeOptions opts;
  opts.max_packet_size = loop_.srv.max_packet_size;
  std::size_t off = 0;
  auto& out = loop_.decoded;
  while (off < data.size() && out.size() < kMaxBatch) {
    opts.version = version_;
    codec::DecodeResult& r = out.emplace_back();  // decoded in place: never moved
    codec::decode_into(data.substr(off), opts, r);
    if (r.status == codec::DecodeStatus::NeedMore) {
      out.pop_back();
      break;
    }
    if (r.status == codec::DecodeStatus::Error || r.consumed == 0) {
      error = std::move(r);
      out.pop_back();
      break;
    }
    off += r.consumed;
    // Every later packet is decoded with the version this CONNECT negotiated. A second
    // CONNECT is core's protocol error [MQTT-3.1.0-2] and does not change it.
    if (!version_known_) {
      if (const auto* c = std::get_if<codec::Connect>(&r.packet)) {
        version_ = c->version;
        version_known_ = true;
        authenticate(*c);
      }
    }
  }
  return off;
}

void Connection::deliver(std::optional<codec::DecodeResult>& error) {
  auto& packets = loop_.decoded;
  Engine& srv = loop_.srv;
  bool closed_by_core = false;
  {
    const core::Time now = core::Clock::now();
    auto lk = srv.lock();
    auto& actions = srv.broker.actions();
    std::size_t scanned = actions.size();
    for (auto& decoded : packets) {
      codec::Packet& p = decoded.packet;
      auto& pa = loop_.pending_auth;
      if (pa && pa->conn == this && std::holds_alternative<codec::Connect>(p)) {
        srv.broker.set_connect_auth(id_, pa->verdict, std::move(pa->identity));
        pa.reset();
      }
      srv.broker.on_packet(id_, std::move(p), now);
      // Once core has closed this connection, nothing more it sent is processed
      // [MQTT-4.13.1-1]: stop feeding the rest of this read.
      for (; scanned < actions.size(); ++scanned) {
        const auto* close = std::get_if<core::CloseConnection>(&actions[scanned]);
        if (close != nullptr && close->conn == id_) closed_by_core = true;
      }
      if (closed_by_core) break;
    }
    if (error && !closed_by_core) srv.broker.on_decode_error(id_, *error, now);
    srv.drain(loop_);
  }
  packets.clear();
  if (packets.capacity() > kMaxBatch) packets.shrink_to_fit();
  // A verdict whose CONNECT was not reached (core closed us on an earlier packet) is void.
  if (loop_.pending_auth && loop_.pending_auth->conn == this) loop_.pending_auth.reset();
  if (closed_by_core) input_done_ = true;
  if (error) {
    input_done_ = true;
    loop_.counters.malformed.fetch_add(1, std::memory_order_relaxed);
    // Core's ConnectionEvent for the close carries the same detail at info/warn.
    log::core().debug("malformed packet from {} (conn {}): {} (reason 0x{:02x})", remote(), id_,
                      error->detail, static_cast<unsigned>(error->reason));
  }
  loop_.run_local();
}

std::size_t Connection::consume(std::string_view data) {
  std::size_t off = 0;
  // Packets go to the broker in batches of up to kMaxBatch: one lock per batch, and the
  // decoded packets (~1.2 KB each as values) never pile up for a whole 64 KiB read.
  while (!input_done_ && !closed_) {
    std::optional<codec::DecodeResult> error;
    off += decode_some(data.substr(off), error);
    if (loop_.decoded.empty() && !error) break;  // only a partial packet is left
    deliver(error);
  }
  return off;
}

void Connection::on_bytes(std::string_view data) {
  if (bufs_ && !bufs_->in.empty()) {
    bufs_->in.append(data);
    const std::size_t used = consume(bufs_->in);
    if (closed_) return;  // the buffers are gone
    std::string& in = bufs_->in;
    if (input_done_) {
      std::string().swap(in);
    } else {
      in.erase(0, used);
      if (in.capacity() > kShrinkInAbove && in.size() < in.capacity() / 4) in.shrink_to_fit();
    }
  } else {
    const std::size_t used = consume(data);
    if (closed_) return;
    // Keep only the partial packet at the tail; the decoder bounds it by max_packet_size.
    if (!input_done_ && used < data.size()) buffers().in.assign(data.substr(used));
  }
  // Core answers a decode error with a CloseConnection; if it did not, close anyway: the
  // stream cannot be resynchronised.
  if (input_done_ && !closing_) begin_close();
  release_idle_buffers();
}

void Connection::on_wire_bytes(std::string_view data) {
  std::string& app = loop_.app_scratch;
  app.clear();
  const TransportLayers::Input r = layers_->unwrap(data, app, loop_.layer_scratch);
  if (!app.empty()) {
    // Nothing else on this loop uses the scratch until on_bytes returns.
    on_bytes(app);
    if (closed_) return;
  }
  if (app.capacity() > Loop::kScratchSize) std::string().swap(app);
  if (loop_.layer_scratch.capacity() > Loop::kScratchSize) std::string().swap(loop_.layer_scratch);
  using Input = TransportLayers::Input;
  if (r != Input::Ok) {
    input_done_ = true;
    if (r == Input::TlsFailed) {
      if (!layers_->tls_handshake_done()) {
        loop_.counters.tls_failures.fetch_add(1, std::memory_order_relaxed);
      }
      log::tls().info("conn {} ({}): TLS {} failed: {}", id_, remote(),
                      layers_->tls_handshake_done() ? "connection" : "handshake", layers_->error());
    } else if (r == Input::WsFailed) {
      loop_.counters.ws_failures.fetch_add(1, std::memory_order_relaxed);
      log::net().info("conn {} ({}): WebSocket error: {}", id_, remote(), layers_->error());
    }
    // The alert, HTTP error or close frame the layer produced goes out first.
    begin_close();
    return;
  }
  if (layers_->pending() == 0) return;
  if (layers_->pending() > loop_.srv.opts.outbound_buffer_limit) {
    // A peer that makes us answer (pings) without reading the answers.
    loop_.counters.slow_disconnects.fetch_add(1, std::memory_order_relaxed);
    abort();
    return;
  }
  if (!write_in_flight_) flush();
}

void Connection::authenticate(const codec::Connect& c) {
  Engine& srv = loop_.srv;
  const ListenerOptions& lo = srv.listeners[listener_]->opts;
  // Decoded in this read, so deliver() takes it before this loop serves anyone else.
  auto& pa = loop_.pending_auth.emplace();
  pa.conn = this;
  pa.identity.listener = listener_;
  const bool v5 = c.version == codec::ProtocolVersion::v5;
  if (v5 ? !lo.accept_v5 : !lo.accept_v311) {
    pa.verdict = core::AuthVerdict::VersionRefused;
    log::net().info("conn {} ({}): MQTT {} is not accepted on listener {}", id_, remote(),
                    version_name(c.version), lo.name);
    return;
  }
  const std::optional<std::string> cn =
      layers_ ? layers_->peer_common_name() : std::optional<std::string>();
  const std::shared_ptr<const auth::Authenticator> authn = srv.current_authenticator();
  if (!authn) {
    pa.identity.username = lo.use_cn_as_username && cn ? cn : c.username;
    return;
  }
  auth::Request rq;
  if (c.username) rq.username = *c.username;
  if (c.password) rq.password = *c.password;
  if (cn) rq.cert_cn = *cn;
  rq.allow_anonymous = lo.allow_anonymous;
  rq.use_cn_as_username = lo.use_cn_as_username;
  auth::Decision d = authn->check(rq);
  switch (d.outcome) {
    case auth::Outcome::Accepted:
      pa.verdict = core::AuthVerdict::Accepted;
      break;
    case auth::Outcome::BadCredentials:
      pa.verdict = core::AuthVerdict::BadCredentials;
      break;
    case auth::Outcome::NotAuthorized:
      pa.verdict = core::AuthVerdict::NotAuthorized;
      break;
  }
  if (pa.verdict != core::AuthVerdict::Accepted) {
    srv.auth_failures.fetch_add(1, std::memory_order_relaxed);
    log::auth().info("conn {} ({}): authentication failed on listener {}: {}", id_, remote(),
                     lo.name, printable(d.reason));
  }
  pa.identity.username = std::move(d.username);
}

// ---------------------------------------------------------------------------------------
// Output

Connection::Buffers& Connection::buffers() {
  if (!bufs_) bufs_ = std::make_unique<Buffers>();
  return *bufs_;
}

void Connection::release_idle_buffers() {
  if (!bufs_ || write_in_flight_) return;
  if (bufs_->in.empty() && bufs_->out.empty() && bufs_->writing.empty()) bufs_.reset();
}

std::size_t Connection::queued() const {
  const std::size_t layered = layers_ ? layers_->pending() : 0;
  return layered + (bufs_ ? bufs_->out.size() + bufs_->writing.size() : 0);
}

void Connection::adjust_queued(std::int64_t delta) {
  loop_.counters.queued_bytes.fetch_add(delta, std::memory_order_relaxed);
}

void Connection::appended(std::size_t n) {
  adjust_queued(static_cast<std::int64_t>(n));
  const ServerOptions& o = loop_.srv.opts;
  // What the socket takes goes now once a chunk has gathered, and always before the client
  // is judged slow: a reader that keeps up is never dropped because a poll batch queued
  // more for it than the limit before the batch's writes.
  if (!write_in_flight_ &&
      (bufs_->out.size() >= kFlushEarlyAt || queued() > o.outbound_buffer_limit)) {
    flush();
    if (closed_) return;
  }
  // A lone packet larger than the limit (possible when max_packet_size exceeds it) still
  // goes: the bound is then limit + one packet.
  if (o.on_slow_client == SlowClientPolicy::Disconnect && queued() > o.outbound_buffer_limit &&
      queued() > n) {
    // The client stopped reading: drop it rather than grow without bound. An abnormal
    // close, so core publishes its will.
    loop_.counters.slow_disconnects.fetch_add(1, std::memory_order_relaxed);
    log::net().warn("conn {} ({}): {} bytes queued, over the outbound limit of {}: disconnecting",
                    id_, remote(), queued(), o.outbound_buffer_limit);
    // Abortive close (RST): what the kernel still holds for this client (up to tcp_wmem,
    // megabytes) is discarded at once instead of trickling out to a reader that stalled.
    const linger lg{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    abort();
    return;
  }
  if (!write_in_flight_ && !flush_pending_) {
    // Coalesce: the write starts once the whole batch of actions has been encoded.
    flush_pending_ = true;
    loop_.dirty.push_back(ref());
  }
}

void Connection::send_packet(const core::SendPacket& sp) {
  if (!can_send()) return;
  // Core names the format: the connection's version, or for a CONNACK refusing a CONNECT
  // that failed to decode, the one the client can read [MQTT-3.1.2-2].
  std::string& out = buffers().out;
  const std::size_t before = out.size();
  codec::encode(sp.packet, sp.version, out);
  appended(out.size() - before);
}

void Connection::send_ack(const core::SendAck& sa) {
  if (!can_send()) return;
  std::string& out = buffers().out;
  const std::size_t before = out.size();
  codec::encode_ack(sa.type, sa.packet_id, sa.reason_code, sa.version, out);
  appended(out.size() - before);
}

void Connection::send_publish(const core::SendPublish& sp) {
  if (!can_send() || !sp.msg) return;
  const ServerOptions& o = loop_.srv.opts;
  if (sp.qos == 0 && o.on_slow_client == SlowClientPolicy::Drop &&
      queued() >= o.outbound_buffer_limit) {
    // QoS 0 may be lost; QoS > 0 and control packets still go, bounded by the in-flight
    // window, so the session state stays consistent.
    loop_.counters.slow_dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const core::Message& m = *sp.msg;
  codec::PublishView v;
  v.qos = sp.qos;
  v.retain = sp.retain;
  v.dup = sp.dup;
  if (!sp.omit_topic) v.topic = m.topic;
  v.packet_id = sp.packet_id;
  v.payload = m.payload;
  v.props = m.props.get();
  v.message_expiry_interval = sp.message_expiry_interval;
  v.topic_alias = sp.topic_alias;
  v.subscription_identifiers = sp.subscription_ids;
  std::string& out = buffers().out;
  const std::size_t before = out.size();
  codec::encode_publish(v, version_, out);
  appended(out.size() - before);
}

void Connection::flush() {
  flush_pending_ = false;
  // Writes go straight to the socket; only a full socket buffer leaves one in flight.
  while (!write_in_flight_ && !closed_) {
    if (!take_outbound()) {
      // Idle: give the memory back. A busy client never gets here between its writes.
      if (bufs_) bufs_->writing.shrink_to_fit();
      release_idle_buffers();
      if (closing_) after_flush();
      return;
    }
    write_in_flight_ = true;
    if (!send_writing()) return;
    write_done();
  }
}

bool Connection::take_outbound() {
  if (layers_) {
    if ((!bufs_ || bufs_->out.empty()) && layers_->pending() == 0) return false;
    Buffers& b = buffers();
    // The MQTT bytes become frames and records here, once per write, so a burst of
    // packets costs one WebSocket frame and a few TLS records rather than one each.
    const auto before = static_cast<std::int64_t>(b.out.size());
    layers_->wrap(b.out, b.writing);
    adjust_queued(static_cast<std::int64_t>(b.writing.size()) - before);
    return !b.writing.empty();
  }
  if (!bufs_ || bufs_->out.empty()) return false;
  std::swap(bufs_->out, bufs_->writing);  // `out` collects while `writing` is on the wire
  return true;
}

bool Connection::send_writing() {
  Buffers& b = *bufs_;  // never released while a write is in flight
  while (b.sent < b.writing.size()) {
    const ssize_t n =
        ::send(fd_, b.writing.data() + b.sent, b.writing.size() - b.sent, MSG_NOSIGNAL);
    if (n >= 0) {
      b.sent += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      write_waiting_ = true;  // the loop's set reports EPOLLOUT once the peer reads
      return false;
    }
    log::net().debug("conn {}: write error: {}", id_,
                     std::error_code(errno, std::generic_category()).message());
    abort();
    return false;
  }
  return true;
}

void Connection::write_done() {
  write_in_flight_ = false;
  Buffers& b = *bufs_;
  adjust_queued(-static_cast<std::int64_t>(b.writing.size()));
  b.writing.clear();
  b.sent = 0;
}

void Connection::on_writable() {
  write_waiting_ = false;
  if (closed_ || !write_in_flight_) return;
  if (!send_writing()) return;
  write_done();
  flush();  // what was queued meanwhile, or the idle and closing steps
}

// ---------------------------------------------------------------------------------------
// Actions and logging

void Connection::execute(Routed& r) {
  if (auto* sp = std::get_if<core::SendPublish>(&r.what)) {
    send_publish(*sp);
    return;
  }
  if (auto* sa = std::get_if<core::SendAck>(&r.what)) {
    send_ack(*sa);
    return;
  }
  core::Action& a = *std::get<std::unique_ptr<core::Action>>(r.what);
  std::visit(
      [this](auto& act) {
        using T = std::decay_t<decltype(act)>;
        if constexpr (std::is_same_v<T, core::SendPacket>) {
          send_packet(act);
        } else if constexpr (std::is_same_v<T, core::SendAck>) {
          send_ack(act);
        } else if constexpr (std::is_same_v<T, core::SendPublish>) {
          send_publish(act);
        } else if constexpr (std::is_same_v<T, core::CloseConnection>) {
          begin_close();
        } else {
          log_event(act);
        }
      },
      a);
}

std::string Connection::remote() const {
  asio::ip::tcp::endpoint ep;
  return fd_ >= 0 && peer_endpoint(fd_, ep) ? format_endpoint(ep) : std::string("?");
}

void Connection::log_event(const core::ConnectionEvent& e) {
  using Kind = core::ConnectionEvent::Kind;
  const auto reason = static_cast<unsigned>(e.reason);
  const std::string client = printable(e.client_id);
  const std::string detail = printable(e.detail);
  switch (e.kind) {
    case Kind::Connected:
      log::net().info("client '{}' connected from {} (conn {}, MQTT {}{}{})", client, remote(), id_,
                      version_name(version_), layers_ ? ", " : "",
                      layers_ ? layers_->description() : std::string());
      break;
    case Kind::Disconnected:
      log::net().info("client '{}' disconnected (conn {}): reason 0x{:02x} {}", client, id_, reason,
                      detail);
      break;
    case Kind::Refused:
      log::net().info("client '{}' refused (conn {}, from {}): reason 0x{:02x} {}", client, id_,
                      remote(), reason, detail);
      break;
    case Kind::ProtocolError:
      log::core().warn("client '{}' protocol error (conn {}, from {}): reason 0x{:02x} {}", client,
                       id_, remote(), reason, detail);
      break;
    case Kind::TakenOver:
      log::net().info("client '{}' taken over (conn {}): {}", client, id_, detail);
      break;
  }
}

// ---------------------------------------------------------------------------------------
// Closing

void Connection::begin_close() {
  if (closing_ || closed_) return;
  closing_ = true;
  input_done_ = true;  // [MQTT-4.13.1-1] nothing more from this client is processed
  if (layers_) {
    // Queued packets, then the WebSocket close frame and TLS close_notify.
    if (bufs_) {
      adjust_queued(-static_cast<std::int64_t>(bufs_->out.size()));
      layers_->close(bufs_->out);
    } else {
      layers_->close();
    }
    if (!write_in_flight_) flush();
    if (closed_) return;
  }
  if (queued() == 0) {
    after_flush();
  } else {
    arm_close_timer(kFlushTimeout);  // a client that stopped reading must not pin us
  }
}

void Connection::after_flush() {
  // Once: flush() and begin_close() may both find the queue empty.
  if (shut_down_ || closed_) return;
  shut_down_ = true;
  const ConnPtr keep = ref();
  const bool failed = ::shutdown(fd_, SHUT_WR) != 0;
  notify_closed();
  if (closed_) return;
  if (peer_eof_ || failed) {
    close_socket();
    return;
  }
  // Drain what the peer still sends until it closes too (or the timer fires), so that
  // unread input does not make the kernel reset the connection over our last packet.
  lingering_ = true;
  arm_close_timer(kLingerTimeout);
  wait_readable();
}

void Connection::abort() {
  const ConnPtr keep = ref();
  close_socket();
  notify_closed();
}

void Connection::notify_closed() {
  if (notified_) return;
  notified_ = true;
  const ConnPtr keep = ref();  // the registry may hold the last other reference
  loop_.srv.connection_closed(loop_, id_);
  loop_.run_local();
}

void Connection::close_socket() {
  if (closed_) return;
  closed_ = true;
  ::close(fd_);  // leaves the loop's epoll set with it
  fd_ = -1;
  read_waiting_ = poll_waiting_ = write_waiting_ = false;
  close_timer_.reset();  // cancels its wait
  if (bufs_) {
    adjust_queued(-static_cast<std::int64_t>(bufs_->out.size()));
    std::string().swap(bufs_->out);
    std::string().swap(bufs_->in);
    if (write_in_flight_) {
      write_in_flight_ = false;
      adjust_queued(-static_cast<std::int64_t>(bufs_->writing.size()));
      std::string().swap(bufs_->writing);
      bufs_->sent = 0;
    }
  }
  release_idle_buffers();
  loop_.srv.release_slot(listener_);
}

void Connection::arm_close_timer(core::Duration d) {
  if (!close_timer_) close_timer_ = std::make_unique<Timer>(loop_.ctx.get_executor());
  close_timer_->expires_after(d);
  close_timer_->async_wait([self = ref()](const asio::error_code& ec) {
    if (ec || self->closed_) return;
    log::net().debug("conn {}: close timeout", self->id_);
    self->abort();
  });
}

}  // namespace tern::net
