#include "broker/ops/http_router.hpp"

#include <charconv>
#include <chrono>
#include <string_view>
#include <utility>

#include "broker/ops/http_json.hpp"
#include "broker/tls/crypto.hpp"

namespace tern::ops {

namespace {

// Fixed key: the HMAC only turns tokens of any length into equal-length digests for the
// constant-time compare; the key need not be secret.
constexpr std::string_view kDigestKey = "tern-http-bearer-token";

constexpr std::string_view kAllow = "GET, HEAD";
constexpr std::string_view kJson = "application/json";
// Prometheus text exposition format 0.0.4.
constexpr std::string_view kPrometheus = "text/plain; version=0.0.4; charset=utf-8";

bool is_ows(char c) { return c == ' ' || c == '\t'; }

// A decimal number without sign or spaces that fits in size_t; nullopt otherwise.
std::optional<std::size_t> parse_count(std::string_view s) {
  std::size_t v = 0;
  if (s.empty()) return std::nullopt;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

HttpRoute route_of(std::string_view path) {
  if (path == "/metrics") return HttpRoute::Metrics;
  if (path == "/health") return HttpRoute::Health;
  if (path == "/api/v1/clients") return HttpRoute::Clients;
  if (path == "/api/v1/bridges") return HttpRoute::Bridges;
  return HttpRoute::None;
}

std::string_view protocol_name(codec::ProtocolVersion v) {
  switch (v) {
    case codec::ProtocolVersion::v311: return "3.1.1";
    case codec::ProtocolVersion::v5: return "5.0";
    default: return "3.1";
  }
}

double seconds_between(core::Time from, core::Time to) {
  return std::chrono::duration<double>(to - from).count();
}

void write_check(JsonWriter& w, std::string_view name, const HealthCheck& c) {
  w.key(name).begin_object();
  w.key("status").value(c.ok ? "ok" : "fail");
  if (!c.detail.empty()) w.key("detail").value(c.detail);
  w.end_object();
}

}  // namespace

HttpRouter::HttpRouter(HttpSources sources, std::string token) : sources_(std::move(sources)) {
  set_token(token);
}

void HttpRouter::set_token(const std::string& token) {
  auth_ = !token.empty();
  token_digest_ = auth_ ? tls::hmac_sha256(kDigestKey, token) : std::array<std::uint8_t, 32>{};
}

HttpResponse HttpRouter::unauthorized(bool had_credentials) const {
  HttpResponse r = http_error_response(401, had_credentials ? "invalid bearer token"
                                                            : "a bearer token is required");
  // RFC 6750 3: the challenge; error="invalid_token" when credentials were offered.
  r.headers.emplace_back("WWW-Authenticate",
                         had_credentials ? R"(Bearer realm="tern", error="invalid_token")"
                                         : R"(Bearer realm="tern")");
  return r;
}

HttpDecision HttpRouter::handle(const HttpRequest& req) const {
  HttpDecision d;
  d.head_only = req.method == "HEAD";
  if (auth_) {
    std::size_t n = 0;
    const std::optional<std::string_view> field = req.header("authorization", &n);
    if (n > 1) {
      d.response = http_error_response(400, "more than one Authorization field");
      return d;
    }
    if (!field) {
      d.response = unauthorized(false);
      return d;
    }
    // credentials = auth-scheme 1*SP token68; the scheme is case-insensitive (RFC 9110
    // 11.1, RFC 6750 2.1).
    std::string_view v = *field;
    const std::size_t sp = v.find(' ');
    const std::string_view scheme = v.substr(0, sp);
    std::string_view cred = sp == std::string_view::npos ? std::string_view() : v.substr(sp);
    while (!cred.empty() && is_ows(cred.front())) cred.remove_prefix(1);
    if (!http_iequals(scheme, "Bearer") || cred.empty()) {
      d.response = unauthorized(false);
      return d;
    }
    const std::array<std::uint8_t, 32> given = tls::hmac_sha256(kDigestKey, cred);
    const auto as_view = [](const std::array<std::uint8_t, 32>& a) {
      return std::string_view(reinterpret_cast<const char*>(a.data()), a.size());
    };
    if (!tls::constant_time_equal(as_view(given), as_view(token_digest_))) {
      d.response = unauthorized(true);
      return d;
    }
  }

  d.route = route_of(req.path);
  const bool has_source = d.route == HttpRoute::Health ||
                          (d.route == HttpRoute::Metrics && sources_.metrics) ||
                          (d.route == HttpRoute::Clients && sources_.clients) ||
                          (d.route == HttpRoute::Bridges && sources_.bridges);
  if (d.route == HttpRoute::None || !has_source) {
    d.route = HttpRoute::None;
    d.response = http_error_response(404, "try /metrics, /health, /api/v1/clients or "
                                          "/api/v1/bridges");
    return d;
  }
  // The endpoint is read-only: RFC 9110 15.5.6, 405 lists the methods it does support.
  if (req.method != "GET" && req.method != "HEAD") {
    d.response = http_error_response(405, "the endpoint is read-only (GET, HEAD)");
    d.response->headers.emplace_back("Allow", std::string(kAllow));
    return d;
  }

  switch (d.route) {
    case HttpRoute::Metrics: {
      HttpResponse r;
      r.content_type = std::string(kPrometheus);
      r.body = sources_.metrics();
      d.response = std::move(r);
      break;
    }
    case HttpRoute::Clients:
      d.response = clients(req);
      break;
    case HttpRoute::Bridges:
      d.response = bridges();
      break;
    case HttpRoute::Health:
    case HttpRoute::None:
      break;  // the caller probes storage, then calls health_response()
  }
  return d;
}

HttpResponse HttpRouter::clients(const HttpRequest& req) const {
  std::size_t offset = 0;
  std::size_t limit = kDefaultClientPageSize;
  if (const auto v = http_query_param(req.query, "offset")) {
    const auto n = parse_count(*v);
    if (!n) return http_error_response(400, "offset: expected a number >= 0");
    offset = *n;
  }
  if (const auto v = http_query_param(req.query, "limit")) {
    const auto n = parse_count(*v);
    if (!n || *n == 0) return http_error_response(400, "limit: expected a number >= 1");
    limit = std::min(*n, kMaxClientPageSize);
  }
  HttpResponse r;
  r.content_type = std::string(kJson);
  r.body = clients_json(sources_.clients(offset, limit), offset, limit);
  return r;
}

HttpResponse HttpRouter::bridges() const {
  HttpResponse r;
  r.content_type = std::string(kJson);
  r.body = bridges_json(sources_.bridges());
  return r;
}

HttpResponse HttpRouter::health_response(const HealthReport& h) {
  HttpResponse r;
  // 503 so that a load balancer or systemd-style checker needs no body parsing.
  r.status = h.ready() ? 200 : 503;
  r.content_type = std::string(kJson);
  r.body = health_json(h);
  return r;
}

std::string health_json(const HealthReport& h) {
  JsonWriter w;
  w.begin_object();
  w.key("status").value(h.ready() ? "ready" : "unready");
  w.key("checks").begin_object();
  write_check(w, "listeners", h.listeners);
  write_check(w, "storage", h.storage);
  w.end_object();
  w.end_object();
  std::string out = w.take();
  out += '\n';
  return out;
}

std::string clients_json(const net::ClientListing& page, std::size_t offset, std::size_t limit) {
  JsonWriter w;
  w.begin_object();
  w.key("total").value(page.total);
  w.key("offset").value(static_cast<std::uint64_t>(offset));
  w.key("limit").value(static_cast<std::uint64_t>(limit));
  w.key("clients").begin_array();
  for (const net::ClientEntry& e : page.clients) {
    const core::ClientInfo& c = e.info;
    w.begin_object();
    w.key("client_id").value(c.client_id);
    w.key("connected").value(c.connected);
    w.key("internal").value(c.internal);
    w.key("username").value_or_null(c.username);
    w.key("protocol").value(protocol_name(c.version));
    w.key("listener").value_or_null(e.listener);
    w.key("peer").value_or_null(e.peer);
    if (c.connected) {
      w.key("connected_seconds").value(seconds_between(c.connected_since, page.now));
      w.key("keep_alive").value(static_cast<std::uint64_t>(c.keep_alive));
      w.key("clean_start").value(c.clean_start);
    }
    w.key("session_expiry_interval").value(static_cast<std::uint64_t>(c.session_expiry_interval));
    if (c.expires_at) {
      w.key("expires_in_seconds").value(std::max(0.0, seconds_between(page.now, *c.expires_at)));
    }
    w.key("subscriptions").value(c.subscriptions);
    w.key("queued").value(c.queued);
    w.key("inflight").value(c.inflight);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  std::string out = w.take();
  out += '\n';
  return out;
}

std::string bridges_json(const std::vector<BridgeFigures>& bridges) {
  JsonWriter w;
  w.begin_object();
  w.key("bridges").begin_array();
  for (const BridgeFigures& b : bridges) {
    w.begin_object();
    w.key("name").value(b.name);
    w.key("connected").value(b.connected);
    w.key("connects").value(b.connects);
    w.key("queued").value(b.queued);
    w.key("on_disk").value(b.on_disk);
    w.key("inflight").value(b.inflight);
    w.key("oldest_age_seconds").value_or_null(b.oldest_age_seconds);
    w.key("forwarded_out").value(b.forwarded_out);
    w.key("forwarded_in").value(b.forwarded_in);
    w.key("dropped").begin_object();
    for (const auto& [reason, n] : b.dropped) w.key(reason).value(n);
    w.end_object();
    w.end_object();
  }
  w.end_array();
  w.end_object();
  std::string out = w.take();
  out += '\n';
  return out;
}

}  // namespace tern::ops
