// The HTTP endpoint's I/O: an acceptor and one small state machine per connection (read
// the head under a deadline -> route -> write the answer -> close), all on the endpoint's
// own thread. Request parsing and routing are sans-IO (http_request, http_router).
#include "broker/ops/http_server.hpp"

#include <asio.hpp>

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "broker/log/log.hpp"
#include "broker/net/endpoint.hpp"

namespace tern::ops {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kReadChunk = 2048;
constexpr std::chrono::milliseconds kLingerTime{1000};
constexpr std::size_t kLingerBytes = 64 * 1024;

}  // namespace

class HttpConn;

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  // REQUIRES: the thread is joined before destruction (HttpServer::stop).
  Impl(HttpServerOptions o, HttpSources s, HealthSources h)
      : opts(std::move(o)), router(std::move(s), opts.token), health(std::move(h)) {}

  void start_accept();
  void on_accept(const asio::error_code& ec, asio::ip::tcp::socket s);
  // GET /health for `c`: answers now or once the storage probe completes (or times out).
  void check_health(const std::shared_ptr<HttpConn>& c);
  void on_probe_done(const storage::Status& st);
  void on_probe_timeout();
  HealthReport report(Clock::time_point now) const;
  HealthCheck listeners_check(Clock::time_point now);

  const HttpServerOptions opts;
  HttpRouter router;  // HTTP thread
  const HealthSources health;
  std::thread thread;
  asio::ip::tcp::endpoint bound;
  // HTTP thread: open connections. Declared before ctx: connections still queued in ctx
  // when it is destroyed decrement it.
  std::size_t active = 0;

  // /health state, HTTP thread only.
  std::uint64_t last_heartbeat = 0;
  Clock::time_point heartbeat_changed{};
  bool heartbeat_seen = false;
  bool probe_in_flight = false;
  Clock::time_point probe_started{};
  std::optional<Clock::time_point> probe_finished;
  HealthCheck probe_result;  // of the last completed probe

  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> bad{0};
  bool started = false;
  bool stopped = false;

  // Handlers capture `this`, not a shared_ptr (which would cycle through ctx): the Impl
  // owns ctx, so it outlives every handler. Everything holding sockets or timers comes
  // after ctx, so it is destroyed first.
  asio::io_context ctx{1};
  asio::ip::tcp::acceptor acceptor{ctx};
  std::optional<asio::steady_timer> accept_backoff;
  std::optional<asio::steady_timer> probe_timer;
  std::vector<std::shared_ptr<HttpConn>> health_waiters;  // at most one per connection
};

// One connection: read the head (deadline from the accept), answer, close.
class HttpConn : public std::enable_shared_from_this<HttpConn> {
 public:
  HttpConn(HttpServer::Impl& srv, asio::ip::tcp::socket s)
      : srv_(srv), socket_(std::move(s)), deadline_(srv.ctx) {}
  ~HttpConn() { --srv_.active; }

  void start() {
    ++srv_.active;
    deadline_.expires_after(srv_.opts.read_timeout);
    deadline_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
      if (!ec) self->on_read_timeout();
    });
    read();
  }

  // Sends `r` (without body for HEAD) and closes once written or after write_timeout.
  void respond(const HttpResponse& r) {
    if (responded_) return;
    responded_ = true;
    srv_.requests.fetch_add(1, std::memory_order_relaxed);
    if (r.status >= 400 && r.status != 404 && r.status != 503) {
      srv_.bad.fetch_add(1, std::memory_order_relaxed);
    }
    out_ = serialize_http_response(r, head_only_);
    deadline_.expires_after(srv_.opts.write_timeout);
    deadline_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
      if (!ec) self->close();  // the client stopped reading
    });
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this()](const asio::error_code& ec, std::size_t) {
                        if (ec) {
                          self->close();
                        } else {
                          self->linger();
                        }
                      });
  }

 private:
  void read() {
    // Grows to at most kMaxHttpHeadBytes + kReadChunk: parse_http_request answers 431 once
    // the head limit is reached without the end of the head.
    const std::size_t old = in_.size();
    in_.resize(old + kReadChunk);
    socket_.async_read_some(
        asio::buffer(in_.data() + old, kReadChunk),
        [self = shared_from_this(), old](const asio::error_code& ec, std::size_t n) {
          if (self->responded_ || self->closed_) return;  // timed out meanwhile
          self->in_.resize(old + n);
          self->on_read(ec);
        });
  }

  void on_read(const asio::error_code& ec) {
    if (responded_ || closed_) return;
    if (ec) {  // EOF or reset before a complete head: nobody to answer
      close();
      return;
    }
    HttpParseResult p = parse_http_request(in_);
    if (p.status == HttpParseStatus::NeedMore) {
      read();
      return;
    }
    if (p.status == HttpParseStatus::Error) {
      log::http().debug("{}: {}", peer(), p.detail);
      respond(http_error_response(p.error_status, p.detail));
      return;
    }
    // The whole head arrived: the read deadline is done (a /health answer waiting for the
    // storage probe is bounded by the probe's own timer; respond() arms the write one).
    deadline_.cancel();
    head_only_ = p.request.method == "HEAD";
    HttpDecision d = srv_.router.handle(p.request);
    if (d.response) {
      if (d.response->status == 401) {
        // debug, not info: a flood of bad requests must not flood the log (counted).
        log::http().debug("{}: {} {}: 401 ({})", peer(), p.request.method, p.request.path,
                          p.request.header("authorization") ? "wrong token" : "no token");
      }
      respond(*d.response);
      return;
    }
    srv_.check_health(shared_from_this());
  }

  // Lingering close: after the answer, shut down our side and discard what the client
  // still sends (a bounded amount, for a bounded time) before closing. Closing with unread
  // input would send a RST, which can destroy the answer before the client reads it
  // (e.g. the 431 for a huge head, the 408 for a trickling client).
  void linger() {
    if (closed_) return;
    asio::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    deadline_.expires_after(kLingerTime);
    deadline_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
      if (!ec) self->close();
    });
    out_.clear();
    in_.resize(kReadChunk);
    discard();
  }

  void discard() {
    socket_.async_read_some(asio::buffer(in_.data(), in_.size()),
                            [self = shared_from_this()](const asio::error_code& ec,
                                                        std::size_t n) {
                              if (self->closed_) return;
                              self->discarded_ += n;
                              if (ec || self->discarded_ > kLingerBytes) {
                                self->close();
                              } else {
                                self->discard();
                              }
                            });
  }

  void on_read_timeout() {
    if (responded_ || closed_) return;
    // RFC 9110 15.5.9: 408 when the request did not arrive in time. A trickling client
    // (slowloris) gets no extension: the deadline runs from the accept.
    srv_.timeouts.fetch_add(1, std::memory_order_relaxed);
    log::http().debug("{}: request head not complete within {} ms; closing", peer(),
                      srv_.opts.read_timeout.count());
    asio::error_code ignored;
    socket_.cancel(ignored);
    respond(http_error_response(408, "the request head did not arrive in time"));
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    asio::error_code ignored;
    deadline_.cancel();
    std::string().swap(in_);
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  std::string peer() const {
    asio::error_code ec;
    const auto ep = socket_.remote_endpoint(ec);
    return ec ? std::string("?") : net::format_endpoint(ep);
  }

  HttpServer::Impl& srv_;
  asio::ip::tcp::socket socket_;
  asio::steady_timer deadline_;
  std::string in_;
  std::string out_;
  std::size_t discarded_ = 0;
  bool head_only_ = false;
  bool responded_ = false;
  bool closed_ = false;
};

void HttpServer::Impl::start_accept() {
  acceptor.async_accept(
      [this](const asio::error_code& ec, asio::ip::tcp::socket s) { on_accept(ec, std::move(s)); });
}

void HttpServer::Impl::on_accept(const asio::error_code& ec, asio::ip::tcp::socket s) {
  if (stopped || ec == asio::error::operation_aborted) return;
  if (ec) {
    // EMFILE and friends: back off instead of spinning on the error.
    log::http().warn("accept failed: {}; retrying in 100 ms", ec.message());
    if (!accept_backoff) accept_backoff.emplace(ctx);
    accept_backoff->expires_after(std::chrono::milliseconds(100));
    accept_backoff->async_wait([this](const asio::error_code& e) {
      if (!e) start_accept();
    });
    return;
  }
  if (active >= opts.max_connections) {
    // A defined answer without holding the socket: one non-blocking write of a short 503
    // (it fits any socket buffer), then close.
    refused.fetch_add(1, std::memory_order_relaxed);
    const std::string r =
        serialize_http_response(http_error_response(503, "too many HTTP connections"));
    asio::error_code ignored;
    s.non_blocking(true, ignored);
    s.write_some(asio::buffer(r), ignored);
    s.close(ignored);
  } else {
    std::make_shared<HttpConn>(*this, std::move(s))->start();
  }
  start_accept();
}

HealthCheck HttpServer::Impl::listeners_check(Clock::time_point now) {
  HealthCheck c = health.listeners ? health.listeners() : HealthCheck{};
  if (!c.ok || !health.heartbeat) return c;
  const std::uint64_t hb = health.heartbeat();
  if (!heartbeat_seen || hb != last_heartbeat) {
    heartbeat_seen = true;
    last_heartbeat = hb;
    heartbeat_changed = now;
  } else if (now - heartbeat_changed > opts.heartbeat_stall) {
    c.ok = false;
    c.detail = "event loop 0 (which accepts connections) has not ticked for " +
               std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                  now - heartbeat_changed).count()) +
               " s";
  }
  return c;
}

HealthReport HttpServer::Impl::report(Clock::time_point now) const {
  HealthReport r;
  if (!health.storage_enabled) {
    r.storage.detail = "in memory (no storage path)";
    return r;
  }
  if (probe_in_flight && now - probe_started > opts.probe_timeout) {
    r.storage.ok = false;
    r.storage.detail = "probe write did not complete within " +
                       std::to_string(opts.probe_timeout.count()) + " ms";
    return r;
  }
  if (!probe_result.ok) {
    r.storage = probe_result;
    return r;
  }
  if (health.last_commit) {
    r.storage = health.last_commit();
    if (!r.storage.ok) return r;
  }
  r.storage.detail = "writable";
  return r;
}

void HttpServer::Impl::check_health(const std::shared_ptr<HttpConn>& c) {
  const auto now = Clock::now();
  const bool fresh = probe_finished && now - *probe_finished < opts.probe_reuse;
  if (!health.storage_enabled || !health.probe_storage || fresh ||
      (probe_in_flight && now - probe_started > opts.probe_timeout)) {
    HealthReport r = report(now);
    r.listeners = listeners_check(now);
    c->respond(HttpRouter::health_response(r));
    return;
  }
  health_waiters.push_back(c);
  if (probe_in_flight) return;  // join the probe under way
  probe_in_flight = true;
  probe_started = now;
  if (!probe_timer) probe_timer.emplace(ctx);
  probe_timer->expires_after(opts.probe_timeout + std::chrono::milliseconds(10));
  probe_timer->async_wait([this](const asio::error_code& ec) {
    if (!ec) on_probe_timeout();
  });
  // The probe may complete on the storage thread (or at once, here): hop back to ours.
  std::weak_ptr<Impl> weak = weak_from_this();
  health.probe_storage([weak](const storage::Status& st) {
    if (auto self = weak.lock()) {
      asio::post(self->ctx, [weak, st] {
        if (auto s = weak.lock()) s->on_probe_done(st);
      });
    }
  });
}

void HttpServer::Impl::on_probe_done(const storage::Status& st) {
  probe_in_flight = false;
  probe_finished = Clock::now();
  // Logged on changes only: a checker polling every second must not flood the log.
  if (st.ok() && !probe_result.ok) log::http().info("/health: storage writable again");
  if (!st.ok() && probe_result.ok) {
    log::http().warn("/health: storage probe write failed: {}", st.to_string());
  }
  probe_result.ok = st.ok();
  probe_result.detail = st.ok() ? std::string() : "probe write failed: " + st.to_string();
  if (probe_timer) probe_timer->cancel();
  on_probe_timeout();  // answers the waiters with the result
}

void HttpServer::Impl::on_probe_timeout() {
  const auto now = Clock::now();
  HealthReport r = report(now);
  r.listeners = listeners_check(now);
  const HttpResponse resp = HttpRouter::health_response(r);
  std::vector<std::shared_ptr<HttpConn>> waiting;
  waiting.swap(health_waiters);
  for (const auto& c : waiting) c->respond(resp);
}

HttpServer::HttpServer(HttpServerOptions opts, HttpSources sources, HealthSources health)
    : impl_(std::make_shared<Impl>(std::move(opts), std::move(sources), std::move(health))) {}

HttpServer::~HttpServer() { stop(); }

bool HttpServer::start(std::string& error) {
  Impl& s = *impl_;
  asio::ip::tcp::endpoint ep;
  if (!net::resolve_bind(s.opts.bind, ep, error)) {
    error = "http.bind " + s.opts.bind + ": " + error;
    return false;
  }
  asio::error_code ec;
  s.acceptor.open(ep.protocol(), ec);
  if (!ec) s.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && ep.address().is_v6()) s.acceptor.set_option(asio::ip::v6_only(true), ec);
  if (!ec) s.acceptor.bind(ep, ec);
  if (!ec) s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) s.bound = s.acceptor.local_endpoint(ec);
  if (ec) {
    error = "http.bind " + s.opts.bind + ": " + ec.message();
    return false;
  }
  s.started = true;
  s.start_accept();
  s.thread = std::thread([impl = impl_] {
    // The endpoint must never take the broker down: a throwing source is logged and the
    // loop resumes (that connection is dropped).
    while (true) {
      try {
        impl->ctx.run();
        return;
      } catch (const std::exception& e) {
        log::http().error("request failed: {}", e.what());
      }
    }
  });
  return true;
}

std::string HttpServer::address() const { return impl_->bound.address().to_string(); }
std::uint16_t HttpServer::port() const { return impl_->bound.port(); }

void HttpServer::stop() {
  Impl& s = *impl_;
  if (!s.started || s.stopped) return;
  asio::post(s.ctx, [&s] {
    s.stopped = true;
    asio::error_code ignored;
    s.acceptor.close(ignored);
    if (s.accept_backoff) s.accept_backoff->cancel();
    if (s.probe_timer) s.probe_timer->cancel();
    s.health_waiters.clear();
    s.ctx.stop();
  });
  if (s.thread.joinable()) s.thread.join();
  s.stopped = true;
}

void HttpServer::set_token(std::string token) {
  asio::post(impl_->ctx, [impl = impl_, t = std::move(token)] { impl->router.set_token(t); });
}

HttpServer::Stats HttpServer::stats() const {
  Stats st;
  st.requests = impl_->requests.load(std::memory_order_relaxed);
  st.refused = impl_->refused.load(std::memory_order_relaxed);
  st.timeouts = impl_->timeouts.load(std::memory_order_relaxed);
  st.bad = impl_->bad.load(std::memory_order_relaxed);
  return st;
}

}  // namespace tern::ops
