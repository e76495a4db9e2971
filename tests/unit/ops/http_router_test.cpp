// HttpRouter (broker/ops/http_router): the bearer token, 404 / 405 / 400 / 401, the
// Prometheus and JSON bodies from stub sources, paging of /api/v1/clients, /health's
// status codes. No sockets.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "broker/ops/http_router.hpp"

using namespace tern;
using namespace tern::ops;

namespace {

HttpRequest get(const std::string& target, const std::string& auth = {},
                const std::string& method = "GET") {
  std::string head = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n";
  if (!auth.empty()) head += "Authorization: " + auth + "\r\n";
  head += "\r\n";
  HttpParseResult r = parse_http_request(head);
  REQUIRE(r.status == HttpParseStatus::Complete);
  return r.request;
}

struct Stubs {
  int metrics_calls = 0;
  std::size_t offset = 999, limit = 999;
  net::ClientListing listing;
  std::vector<BridgeFigures> bridges;

  HttpSources sources() {
    HttpSources s;
    s.metrics = [this] {
      ++metrics_calls;
      return std::string("# HELP tern_up 1\n# TYPE tern_up gauge\ntern_up 1\n");
    };
    s.clients = [this](std::size_t o, std::size_t l) {
      offset = o;
      limit = l;
      return listing;
    };
    s.bridges = [this] { return bridges; };
    return s;
  }
};

std::string header_of(const HttpResponse& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return {};
}

}  // namespace

TEST_CASE("http router: GET /metrics serves the Prometheus text of the source", "[http]") {
  Stubs st;
  const HttpRouter router(st.sources(), "");
  const HttpDecision d = router.handle(get("/metrics"));
  REQUIRE(d.response);
  CHECK(d.route == HttpRoute::Metrics);
  CHECK(d.response->status == 200);
  CHECK(d.response->content_type == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(d.response->body.find("tern_up 1\n") != std::string::npos);
  CHECK(st.metrics_calls == 1);
  // A query string does not change the resource.
  CHECK(router.handle(get("/metrics?x=1")).response->status == 200);
}

TEST_CASE("http router: unknown paths are 404, other methods 405 with Allow", "[http]") {
  Stubs st;
  const HttpRouter router(st.sources(), "");
  for (const char* path : {"/", "/metric", "/metrics/", "/METRICS", "/api/v1", "/api/v2/clients"}) {
    INFO(path);
    const HttpDecision d = router.handle(get(path));
    REQUIRE(d.response);
    CHECK(d.response->status == 404);
  }
  for (const char* method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get", "TRACE"}) {
    INFO(method);
    const HttpDecision d = router.handle(get("/metrics", "", method));
    REQUIRE(d.response);
    CHECK(d.response->status == 405);
    CHECK(header_of(*d.response, "Allow") == "GET, HEAD");
  }
  CHECK(st.metrics_calls == 0);  // nothing rendered for refused requests
  // HEAD is GET without the body.
  const HttpDecision h = router.handle(get("/metrics", "", "HEAD"));
  REQUIRE(h.response);
  CHECK(h.response->status == 200);
  CHECK(h.head_only);
}

TEST_CASE("http router: an endpoint without a source is 404", "[http]") {
  Stubs st;
  HttpSources s = st.sources();
  s.bridges = nullptr;
  const HttpRouter router(std::move(s), "");
  CHECK(router.handle(get("/api/v1/bridges")).response->status == 404);
  CHECK(router.handle(get("/api/v1/clients")).response->status == 200);
}

TEST_CASE("http router: bearer token required when configured", "[http]") {
  Stubs st;
  HttpRouter router(st.sources(), "s3cret-token");

  SECTION("no Authorization: 401 with the Bearer challenge, before 404 and 405") {
    for (const auto& req : {get("/metrics"), get("/nope"), get("/metrics", "", "POST")}) {
      const HttpDecision d = router.handle(req);
      REQUIRE(d.response);
      CHECK(d.response->status == 401);
      CHECK(header_of(*d.response, "WWW-Authenticate") == R"(Bearer realm="tern")");
    }
    // /health too: nothing is served unauthenticated.
    const HttpDecision h = router.handle(get("/health"));
    REQUIRE(h.response);
    CHECK(h.response->status == 401);
  }
  SECTION("wrong token, other scheme, or empty credentials") {
    for (const char* auth : {"Bearer s3cret-tokeN", "Bearer s3cret-token-and-more", "Bearer s3cret",
                             "Bearer x", "Bearer"}) {
      INFO(auth);
      const HttpDecision d = router.handle(get("/metrics", auth));
      REQUIRE(d.response);
      CHECK(d.response->status == 401);
    }
    CHECK(header_of(*router.handle(get("/metrics", "Bearer wrong")).response,
                    "WWW-Authenticate") == R"(Bearer realm="tern", error="invalid_token")");
    CHECK(router.handle(get("/metrics", "Basic czNjcmV0LXRva2Vu")).response->status == 401);
    CHECK(router.handle(get("/metrics", "s3cret-token")).response->status == 401);
    CHECK(st.metrics_calls == 0);
  }
  SECTION("the right token, scheme in any case") {
    CHECK(router.handle(get("/metrics", "Bearer s3cret-token")).response->status == 200);
    CHECK(router.handle(get("/metrics", "bearer s3cret-token")).response->status == 200);
    CHECK(router.handle(get("/metrics", "BEARER   s3cret-token")).response->status == 200);
    CHECK(router.handle(get("/nope", "Bearer s3cret-token")).response->status == 404);
    const HttpDecision h = router.handle(get("/health", "Bearer s3cret-token"));
    CHECK(h.route == HttpRoute::Health);
    CHECK_FALSE(h.response);  // the caller runs the health check
  }
  SECTION("two Authorization fields are 400") {
    HttpRequest req = get("/metrics", "Bearer s3cret-token");
    req.headers.emplace_back("authorization", "Bearer s3cret-token");
    CHECK(router.handle(req).response->status == 400);
  }
  SECTION("set_token replaces it; empty turns authentication off") {
    router.set_token("new");
    CHECK(router.handle(get("/metrics", "Bearer s3cret-token")).response->status == 401);
    CHECK(router.handle(get("/metrics", "Bearer new")).response->status == 200);
    router.set_token("");
    CHECK(router.handle(get("/metrics")).response->status == 200);
  }
}

TEST_CASE("http router: /api/v1/clients pages through the source", "[http]") {
  Stubs st;
  st.listing.total = 7;
  st.listing.now = core::Clock::now();
  net::ClientEntry a;
  a.info.client_id = "sensor-\"1\"\n";
  a.info.connected = true;
  a.info.username = "alice";
  a.info.version = codec::ProtocolVersion::v311;
  a.info.keep_alive = 30;
  a.info.connected_since = st.listing.now - std::chrono::seconds(5);
  a.info.subscriptions = 2;
  a.info.queued = 3;
  a.listener = "mqtt";
  a.peer = "127.0.0.1:50312";
  net::ClientEntry b;
  b.info.client_id = "offline";
  b.info.session_expiry_interval = 3600;
  b.info.expires_at = st.listing.now + std::chrono::seconds(100);
  st.listing.clients = {a, b};
  const HttpRouter router(st.sources(), "");

  HttpDecision d = router.handle(get("/api/v1/clients"));
  REQUIRE(d.response);
  CHECK(d.response->status == 200);
  CHECK(d.response->content_type == "application/json");
  CHECK(st.offset == 0);
  CHECK(st.limit == kDefaultClientPageSize);
  const std::string& body = d.response->body;
  CHECK(body.rfind(R"({"total":7,"offset":0,"limit":100,"clients":[{"client_id":"sensor-\"1\"\n",)",
                   0) == 0);
  CHECK(body.find(R"("username":"alice","protocol":"3.1.1","listener":"mqtt",)"
                  R"("peer":"127.0.0.1:50312","connected_seconds":5,"keep_alive":30,)") !=
        std::string::npos);
  CHECK(body.find(R"({"client_id":"offline","connected":false,"internal":false,"username":null,)"
                  R"("protocol":"5.0","listener":null,"peer":null,"session_expiry_interval":3600,)"
                  R"("expires_in_seconds":100,)") != std::string::npos);

  d = router.handle(get("/api/v1/clients?offset=20&limit=5"));
  CHECK(d.response->status == 200);
  CHECK(st.offset == 20);
  CHECK(st.limit == 5);
  d = router.handle(get("/api/v1/clients?limit=1000000"));
  CHECK(d.response->status == 200);
  CHECK(st.limit == kMaxClientPageSize);  // capped, and the body says so
  CHECK(d.response->body.find(R"("limit":1000,)") != std::string::npos);

  st.offset = 999;
  for (const char* q : {"?limit=0", "?limit=-1", "?limit=abc", "?offset=1x", "?offset=",
                        "?offset=99999999999999999999999"}) {
    INFO(q);
    CHECK(router.handle(get(std::string("/api/v1/clients") + q)).response->status == 400);
  }
  CHECK(st.offset == 999);  // the source was not asked
}

TEST_CASE("http router: /api/v1/bridges renders the bridge figures", "[http]") {
  Stubs st;
  const HttpRouter router(st.sources(), "");
  CHECK(router.handle(get("/api/v1/bridges")).response->body == "{\"bridges\":[]}\n");
  BridgeFigures f;
  f.name = "cloud";
  f.connected = true;
  f.connects = 2;
  f.queued = 10;
  f.oldest_age_seconds = 1.5;
  f.dropped = {{"dropped_oldest", 4}, {"remote_rejected", 1}};
  st.bridges = {f};
  const std::string body = router.handle(get("/api/v1/bridges")).response->body;
  CHECK(body == R"({"bridges":[{"name":"cloud","connected":true,"connects":2,"queued":10,)"
                R"("on_disk":0,"inflight":0,"oldest_age_seconds":1.5,"forwarded_out":0,)"
                R"("forwarded_in":0,"dropped":{"dropped_oldest":4,"remote_rejected":1}}]})"
                "\n");
}

TEST_CASE("http router: /health is 200 when ready, 503 when a check fails", "[http]") {
  HealthReport h;
  h.storage.detail = "writable";
  HttpResponse r = HttpRouter::health_response(h);
  CHECK(r.status == 200);
  CHECK(r.content_type == "application/json");
  CHECK(r.body == R"({"status":"ready","checks":{"listeners":{"status":"ok"},)"
                  R"("storage":{"status":"ok","detail":"writable"}}})"
                  "\n");
  h.storage = {false, "probe write failed: IO error"};
  r = HttpRouter::health_response(h);
  CHECK(r.status == 503);
  CHECK(r.body.find(R"("status":"unready")") != std::string::npos);
  CHECK(r.body.find(R"("storage":{"status":"fail","detail":"probe write failed: IO error"})") !=
        std::string::npos);
  h.storage = {};
  h.listeners = {false, "loop stalled"};
  CHECK(HttpRouter::health_response(h).status == 503);
}
