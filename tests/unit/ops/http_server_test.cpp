// HttpServer (broker/ops/http_server) on a loopback socket with stub sources: one request
// per connection, the read deadline against a slow (slowloris) client, the connection
// bound, 431 for a huge head, and /health's storage probe (ok, failed, never completing).
#include <catch2/catch.hpp>

#include <asio.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "broker/ops/http_server.hpp"

using namespace tern;
using namespace tern::ops;
using namespace std::chrono_literals;

namespace {

using tcp = asio::ip::tcp;

tcp::socket connect_to(asio::io_context& io, std::uint16_t port) {
  tcp::socket s(io);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  return s;
}

// Everything the server sends until it closes (or `limit` passes: then "<timeout>" is
// appended).
std::string read_all(tcp::socket& s, std::chrono::milliseconds limit = 5000ms) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  s.non_blocking(true);
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    asio::error_code ec;
    const std::size_t n = s.read_some(asio::buffer(buf), ec);
    if (ec == asio::error::would_block) {
      std::this_thread::sleep_for(5ms);
      continue;
    }
    out.append(buf, n);
    if (ec) return out;  // EOF or reset: the server closed
  }
  return out + "<timeout>";
}

std::string exchange(std::uint16_t port, const std::string& request) {
  asio::io_context io;
  tcp::socket s = connect_to(io, port);
  asio::write(s, asio::buffer(request));
  return read_all(s);
}

int status_of(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0 || response.size() < 12) return 0;
  return std::stoi(response.substr(9, 3));
}

std::string body_of(const std::string& response) {
  const auto at = response.find("\r\n\r\n");
  return at == std::string::npos ? std::string() : response.substr(at + 4);
}

HttpSources stub_sources() {
  HttpSources s;
  s.metrics = [] { return std::string("tern_up 1\n"); };
  s.clients = [](std::size_t, std::size_t) { return net::ClientListing{}; };
  s.bridges = [] { return std::vector<BridgeFigures>{}; };
  return s;
}

HttpServerOptions test_options() {
  HttpServerOptions o;
  o.bind = "127.0.0.1:0";
  o.read_timeout = 400ms;
  o.probe_timeout = 300ms;
  o.probe_reuse = 0ms;
  return o;
}

const std::string kGetHealth = "GET /health HTTP/1.1\r\nHost: t\r\n\r\n";

}  // namespace

TEST_CASE("http server: serves one request per connection on port 0, then closes",
          "[http]") {
  HttpServer srv(test_options(), stub_sources(), {});
  std::string error;
  REQUIRE(srv.start(error));
  REQUIRE(srv.port() != 0);
  CHECK(srv.address() == "127.0.0.1");

  const std::string r = exchange(srv.port(), "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(status_of(r) == 200);
  CHECK(r.find("\r\nConnection: close\r\n") != std::string::npos);
  CHECK(body_of(r) == "tern_up 1\n");  // and the read ended: the server closed

  CHECK(status_of(exchange(srv.port(), "GET /x HTTP/1.1\r\nHost: t\r\n\r\n")) == 404);
  CHECK(status_of(exchange(srv.port(), "POST /metrics HTTP/1.1\r\nHost: t\r\n\r\n")) == 405);
  CHECK(status_of(exchange(srv.port(), "GARBAGE\r\n\r\n")) == 400);
  const std::string head = exchange(srv.port(), "HEAD /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(status_of(head) == 200);
  CHECK(body_of(head).empty());
  // A request split over many writes is assembled.
  {
    asio::io_context io;
    tcp::socket s = connect_to(io, srv.port());
    for (char c : std::string("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")) {
      asio::write(s, asio::buffer(&c, 1));
    }
    CHECK(status_of(read_all(s)) == 200);
  }
  srv.stop();
  CHECK(srv.stats().requests == 6);
}

TEST_CASE("http server: a head over 8 KiB is answered 431 and closed", "[http]") {
  HttpServer srv(test_options(), stub_sources(), {});
  std::string error;
  REQUIRE(srv.start(error));
  asio::io_context io;
  tcp::socket s = connect_to(io, srv.port());
  const std::string big = "GET /metrics HTTP/1.1\r\nHost: t\r\nX: " + std::string(20000, 'a');
  asio::error_code ec;
  asio::write(s, asio::buffer(big), ec);  // the server may close before taking it all
  CHECK(status_of(read_all(s)) == 431);
}

TEST_CASE("http server: a slowloris client gets 408 at the deadline, others are served",
          "[http]") {
  HttpServer srv(test_options(), stub_sources(), {});
  std::string error;
  REQUIRE(srv.start(error));
  asio::io_context io;
  tcp::socket slow = connect_to(io, srv.port());
  const auto t0 = std::chrono::steady_clock::now();
  // One byte every 50 ms: trickling never extends the 400 ms deadline.
  const std::string partial = "GET /metrics HTTP/1.1\r\nHost: t\r\nX-Slow: ";
  std::string got;
  for (std::size_t i = 0; i < 30; ++i) {
    asio::error_code ec;
    asio::write(slow, asio::buffer(&partial[i % partial.size()], 1), ec);
    if (ec) break;
    // Meanwhile a normal client is served at once.
    if (i == 2) {
      CHECK(status_of(exchange(srv.port(), "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")) == 200);
    }
    std::this_thread::sleep_for(50ms);
    if (std::chrono::steady_clock::now() - t0 > 600ms) break;
  }
  got = read_all(slow, 2000ms);
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  CHECK(status_of(got) == 408);
  CHECK(got.find("<timeout>") == std::string::npos);  // closed by the server
  CHECK(elapsed >= 400ms);
  CHECK(elapsed < 1500ms);
  CHECK(srv.stats().timeouts == 1);
}

TEST_CASE("http server: connections over max_connections get 503", "[http]") {
  HttpServerOptions o = test_options();
  o.max_connections = 2;
  o.read_timeout = 3000ms;
  HttpServer srv(o, stub_sources(), {});
  std::string error;
  REQUIRE(srv.start(error));
  asio::io_context io;
  tcp::socket a = connect_to(io, srv.port());
  tcp::socket b = connect_to(io, srv.port());
  std::this_thread::sleep_for(100ms);  // both accepted
  CHECK(status_of(exchange(srv.port(), "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")) == 503);
  CHECK(srv.stats().refused == 1);
  a.close();
  b.close();
  // Their slots come back once the server notices the close (its read ends).
  int status = 0;
  for (int i = 0; i < 50 && status != 200; ++i) {
    std::this_thread::sleep_for(20ms);
    status = status_of(exchange(srv.port(), "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"));
  }
  CHECK(status == 200);
}

TEST_CASE("http server: /health follows the storage probe", "[http]") {
  std::atomic<int> probes{0};
  enum class Mode { Ok, Fail, Hang } mode = Mode::Ok;
  std::mutex mu;
  std::vector<std::function<void(const storage::Status&)>> hung;  // never completed
  HealthSources h;
  h.listeners = [] { return HealthCheck{true, "1 listener bound"}; };
  h.storage_enabled = true;
  h.last_commit = [] { return HealthCheck{}; };
  h.probe_storage = [&](std::function<void(const storage::Status&)> done) {
    ++probes;
    switch (mode) {
      case Mode::Ok:
        std::thread([done] { done(storage::Status()); }).detach();  // another thread
        break;
      case Mode::Fail:
        done(storage::Status::io_error("store is read-only"));  // at once
        break;
      case Mode::Hang: {
        std::lock_guard<std::mutex> lk(mu);
        hung.push_back(std::move(done));
        break;
      }
    }
  };
  HttpServerOptions o = test_options();
  o.probe_reuse = 0ms;
  HttpServer srv(o, stub_sources(), h);
  std::string error;
  REQUIRE(srv.start(error));

  std::string r = exchange(srv.port(), kGetHealth);
  CHECK(status_of(r) == 200);
  CHECK(body_of(r) == R"({"status":"ready","checks":{"listeners":{"status":"ok","detail":)"
                      R"("1 listener bound"},"storage":{"status":"ok","detail":"writable"}}})"
                      "\n");

  mode = Mode::Fail;
  r = exchange(srv.port(), kGetHealth);
  CHECK(status_of(r) == 503);
  CHECK(body_of(r).find(R"("storage":{"status":"fail","detail":"probe write failed: )") !=
        std::string::npos);

  mode = Mode::Hang;
  const auto t0 = std::chrono::steady_clock::now();
  r = exchange(srv.port(), kGetHealth);
  CHECK(status_of(r) == 503);
  CHECK(std::chrono::steady_clock::now() - t0 >= 300ms);
  CHECK(body_of(r).find("did not complete within 300 ms") != std::string::npos);
  // While that probe is still out, checks answer at once, unready, without a new write.
  const int before = probes;
  CHECK(status_of(exchange(srv.port(), kGetHealth)) == 503);
  CHECK(probes == before);

  // Once it completes, the next check writes again and is ready.
  mode = Mode::Ok;
  {
    std::lock_guard<std::mutex> lk(mu);
    for (auto& d : hung) d(storage::Status());
  }
  std::this_thread::sleep_for(50ms);
  CHECK(status_of(exchange(srv.port(), kGetHealth)) == 200);
  srv.stop();
}

TEST_CASE("http server: /health reuses a fresh probe result", "[http]") {
  std::atomic<int> probes{0};
  HealthSources h;
  h.storage_enabled = true;
  h.probe_storage = [&](std::function<void(const storage::Status&)> done) {
    ++probes;
    done(storage::Status());
  };
  HttpServerOptions o = test_options();
  o.probe_reuse = 60000ms;
  HttpServer srv(o, stub_sources(), h);
  std::string error;
  REQUIRE(srv.start(error));
  for (int i = 0; i < 3; ++i) CHECK(status_of(exchange(srv.port(), kGetHealth)) == 200);
  CHECK(probes == 1);  // at most one write per probe_reuse, however often it is asked
}

TEST_CASE("http server: a bind that cannot work is an error naming it", "[http]") {
  HttpServerOptions o = test_options();
  o.bind = "not an address";
  HttpServer srv(o, stub_sources(), {});
  std::string error;
  CHECK_FALSE(srv.start(error));
  CHECK(error.find("http.bind not an address") != std::string::npos);

  HttpServer first(test_options(), stub_sources(), {});
  REQUIRE(first.start(error));
  HttpServerOptions same = test_options();
  same.bind = "127.0.0.1:" + std::to_string(first.port());
  HttpServer second(same, stub_sources(), {});
  CHECK_FALSE(second.start(error));
  CHECK(error.find("http.bind 127.0.0.1:") != std::string::npos);
}
