// HttpServer: the operations endpoint (`http:` in the config): GET /metrics, /health,
// /api/v1/clients and /api/v1/bridges over HTTP/1.1, one request per connection, on its
// own thread with its own Asio io_context. Owns the acceptor, the connections, the thread
// and the /health storage-probe state; borrows its sources (which must outlive it).
// Thread safety: start() and stop() from one thread; set_token() from any thread.
//
// Why its own thread rather than loop 0: rendering a scrape or a page of clients takes
// the broker lock only for the copy, but the formatting (and a slow scraper's socket)
// should never delay MQTT traffic on loop 0, and a stuck loop 0 must not silence /health.
// The thread is idle between requests (one io_context, a few KiB of stack in use).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "broker/ops/http_router.hpp"
#include "storage/status.hpp"

namespace tern::ops {

struct HttpServerOptions {
  std::string bind = "127.0.0.1:9090";  // "host:port" or "[v6]:port"; port 0 = any free
  std::string token;                    // bearer token; empty = none
  // Connections open at once; one more is answered 503 and closed. Scrapers and probes
  // open a handful at most; this bounds sockets and buffers against a flood.
  std::size_t max_connections = 32;
  // The whole request head must arrive within this time of the accept, else 408 and the
  // connection is closed (slowloris: trickling bytes does not extend it).
  std::chrono::milliseconds read_timeout{5000};
  // The response must be written within this (a client that stops reading).
  std::chrono::milliseconds write_timeout{10000};
  // /health: the storage probe write must complete within this, else storage is unready.
  std::chrono::milliseconds probe_timeout{2000};
  // /health answers from a probe younger than this instead of writing again, so frequent
  // checks cost at most one small write per interval (flash wear).
  std::chrono::milliseconds probe_reuse{1000};
  // The listeners check fails when loop 0's heartbeat (net::Server::loop_heartbeat) has not
  // advanced for this long.
  std::chrono::milliseconds heartbeat_stall{5000};
};

// What /health looks at (app wires these to net::Server).
struct HealthSources {
  // Every configured listener is bound (and not shutting down).
  std::function<HealthCheck()> listeners;
  // Loop 0's liveness counter (advances at least once a second while it runs).
  std::function<std::uint64_t()> heartbeat;
  bool storage_enabled = false;
  // The latest commit of core's writes succeeded (ok) or why not.
  std::function<HealthCheck()> last_commit;
  // Starts a probe write; `done` is called once with its status, on any thread.
  std::function<void(std::function<void(const storage::Status&)> done)> probe_storage;
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions opts, HttpSources sources, HealthSources health);
  // Stops it if running.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts the thread. False with `error` (naming the address) when the address
  // does not parse or cannot be bound. Call once.
  bool start(std::string& error);
  // The address as bound ("127.0.0.1"), and the real port (also when 0 was asked).
  std::string address() const;
  std::uint16_t port() const;
  // Closes the acceptor and every connection, joins the thread. Idempotent.
  void stop();
  // New bearer token for requests from now on (SIGHUP); empty = none. Any thread.
  void set_token(std::string token);

  struct Stats {
    std::uint64_t requests = 0;    // answered (any status)
    std::uint64_t refused = 0;     // over max_connections
    std::uint64_t timeouts = 0;    // closed with 408 (head not complete in time)
    std::uint64_t bad = 0;         // answered 4xx/5xx for malformed or refused requests
  };
  Stats stats() const;  // any thread

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace tern::ops
