// HttpRouter: what the operations endpoint answers to one parsed request: the bearer
// token check, GET /metrics (Prometheus text), GET /api/v1/clients (paged JSON),
// GET /api/v1/bridges (JSON), 404 / 405 / 400 / 401; GET /health is left to the caller,
// which runs the (asynchronous) storage probe and renders it with health_response().
// Owns its figure sources (callables) and the token. No sockets.
// Thread safety: handle() and set_token() from one thread at a time (the HTTP thread);
// the sources are called on that thread and must be thread-safe against the broker.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "broker/net/server.hpp"
#include "broker/ops/http_request.hpp"
#include "broker/ops/metrics.hpp"

namespace tern::ops {

// GET /api/v1/clients?offset=&limit=: the page size without `limit`, and its cap (a bigger
// `limit` is lowered to it, so one request never renders more than this many sessions).
inline constexpr std::size_t kDefaultClientPageSize = 100;
inline constexpr std::size_t kMaxClientPageSize = core::Broker::kMaxClientPage;

// Where the figures come from (app wires them to net::Server and ops::Monitor). An empty
// callable answers its endpoint with 404, as if the endpoint did not exist.
struct HttpSources {
  std::function<std::string()> metrics;  // Prometheus text of a fresh Snapshot
  std::function<net::ClientListing(std::size_t offset, std::size_t limit)> clients;
  std::function<std::vector<BridgeFigures>()> bridges;
};

// One check of GET /health.
struct HealthCheck {
  bool ok = true;
  std::string detail;  // why not ok (or a short note when ok); may be empty
};

struct HealthReport {
  HealthCheck listeners;  // every listener bound and loop 0 (which accepts) turning
  HealthCheck storage;    // writable: probe write and the latest commits succeeded
  bool ready() const { return listeners.ok && storage.ok; }
};

enum class HttpRoute : std::uint8_t { None, Metrics, Health, Clients, Bridges };

struct HttpDecision {
  HttpRoute route = HttpRoute::None;
  bool head_only = false;  // HEAD: the same fields, no body
  // The answer; nullopt only for an authorised GET/HEAD /health (see health_response).
  std::optional<HttpResponse> response;
};

class HttpRouter {
 public:
  // `token` empty = no authentication (only allowed on a loopback bind: app checks).
  HttpRouter(HttpSources sources, std::string token);

  // Replaces the token (SIGHUP re-read of token_file); empty turns authentication off.
  void set_token(const std::string& token);

  // Order: bearer token (401 before anything else, so an unauthenticated peer learns
  // nothing about paths), then path (404), then method (405 with Allow: GET, HEAD).
  HttpDecision handle(const HttpRequest& req) const;

  // 200 {"status":"ready",...} or 503 {"status":"unready",...}.
  static HttpResponse health_response(const HealthReport& h);

 private:
  HttpResponse unauthorized(bool had_credentials) const;
  HttpResponse clients(const HttpRequest& req) const;
  HttpResponse bridges() const;

  HttpSources sources_;
  bool auth_ = false;
  // HMAC of the token: tokens are compared as fixed-length digests in constant time, so
  // neither the position of the first wrong byte nor the token's length leaks by timing.
  std::array<std::uint8_t, 32> token_digest_{};
};

// The JSON bodies, exposed for tests.
std::string clients_json(const net::ClientListing& page, std::size_t offset, std::size_t limit);
std::string bridges_json(const std::vector<BridgeFigures>& bridges);
std::string health_json(const HealthReport& h);

}  // namespace tern::ops
