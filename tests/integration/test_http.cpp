// The HTTP endpoint end to end (issue 8) with the real `tern` binary, `http.bind` on
// 127.0.0.1 port 0 (the real port read from the "http endpoint: http://..." log line):
// /metrics after known traffic, /health ready then 503 once the store cannot be written
// (files made immutable with chattr +i: as root, permission bits would not stop LevelDB),
// the bearer token, 404/405/400, a slowloris connection closed at the deadline while MQTT
// traffic goes on, /api/v1/clients naming a connected Paho client and its peer address,
// /api/v1/bridges with a bridge to Debian's mosquitto. `ctest -R '^integration_ops:'`.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <regex>
#include <string>

#include "tests/integration/harness/common.hpp"
#if TERN_WITH_BRIDGE
#include "tests/integration/harness/mosquitto.hpp"
#endif

namespace tern::it {
namespace {

const std::string kHttpYaml = "http:\n  bind: \"127.0.0.1:0\"\n";

// The endpoint's port from the broker's log (it is logged right after "ready:").
std::uint16_t http_port(const TernBroker& b) {
  static const std::string kNeedle = "http endpoint: http://127.0.0.1:";
  const Stopwatch sw;
  while (sw.elapsed() < Millis(10000)) {
    const std::string log = b.log();
    if (const auto at = log.find(kNeedle); at != std::string::npos) {
      return static_cast<std::uint16_t>(std::stoul(log.substr(at + kNeedle.size())));
    }
    sleep_for(Millis(20));
  }
  FAIL("no 'http endpoint:' line in the log:\n" << b.log());
  return 0;
}

// A blocking loopback TCP connection (the test's HTTP client).
class Conn {
 public:
  explicit Conn(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    REQUIRE(fd_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~Conn() { ::close(fd_); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  bool send(const std::string& s) {
    return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  }
  // Everything until the server closes; nullopt when it has not closed within `timeout`.
  std::optional<std::string> read_to_close(Millis timeout) {
    std::string out;
    const Stopwatch sw;
    while (sw.elapsed() < timeout) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return std::nullopt;
  }

 private:
  int fd_;
};

struct Reply {
  int status = 0;
  std::string head;
  std::string body;
};

Reply http_request(std::uint16_t port, const std::string& raw) {
  Conn c(port);
  REQUIRE(c.send(raw));
  const std::optional<std::string> all = c.read_to_close(Millis(5000));
  REQUIRE(all.has_value());
  Reply r;
  const auto end = all->find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  r.head = all->substr(0, end);
  r.body = all->substr(end + 4);
  REQUIRE(r.head.rfind("HTTP/1.1 ", 0) == 0);
  r.status = std::stoi(r.head.substr(9, 3));
  return r;
}

Reply http_get(std::uint16_t port, const std::string& path, const std::string& token = {}) {
  std::string raw = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (!token.empty()) raw += "Authorization: Bearer " + token + "\r\n";
  return http_request(port, raw + "\r\n");
}

// The value of an unlabelled sample "name value" in Prometheus text; nullopt if absent.
std::optional<double> sample(const std::string& text, const std::string& name) {
  const std::regex re("(^|\n)" + name + " ([0-9.e+-]+)\n");
  std::smatch m;
  if (!std::regex_search(text, m, re)) return std::nullopt;
  return std::stod(m[2].str());
}

bool has_chattr() { return std::system("command -v chattr >/dev/null 2>&1") == 0; }

}  // namespace

TEST_CASE("http: /metrics counts known traffic (Prometheus text, tern_ prefix, _total)") {
  if (TernBroker::reference_mode()) return;
  TernBroker broker({kHttpYaml});
  const std::uint16_t port = http_port(broker);

  PahoClient sub(broker.uri(), "it-http-sub", MQTTVERSION_5);
  sub.connect();
  REQUIRE(sub.subscribe("it/http/#", 1) == 1);
  PahoClient pub(broker.uri(), "it-http-pub", MQTTVERSION_3_1_1);
  pub.connect();
  constexpr int kCount = 25;
  for (int i = 0; i < kCount; ++i) pub.publish("it/http/m", "payload-" + std::to_string(i), 1);
  REQUIRE(sub.collect(kCount, Millis(5000)).size() == kCount);

  const Reply r = http_get(port, "/metrics");
  REQUIRE(r.status == 200);
  CHECK(r.head.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
  INFO(r.body);
  CHECK(r.body.find("# TYPE tern_messages_received_total counter\n") != std::string::npos);
  CHECK(r.body.find("# HELP tern_messages_received_total ") != std::string::npos);
  CHECK(sample(r.body, "tern_messages_received_total").value_or(-1) >= kCount);
  CHECK(sample(r.body, "tern_messages_sent_total").value_or(-1) >= kCount);
  CHECK(sample(r.body, "tern_clients_connected").value_or(-1) == 2);
  CHECK(sample(r.body, "tern_subscriptions").value_or(-1) >= 1);

  // After one client leaves the gauge follows.
  pub.disconnect();
  std::optional<double> connected;
  for (int i = 0; i < 50; ++i) {
    connected = sample(http_get(port, "/metrics").body, "tern_clients_connected");
    if (connected == 1.0) break;
    sleep_for(Millis(50));
  }
  CHECK(connected == 1.0);
}

TEST_CASE("http: /health is ready, then 503 once the store cannot be written, MQTT goes on") {
  if (TernBroker::reference_mode()) return;
  if (!has_chattr() || ::geteuid() != 0) {
    WARN("SKIPPED: needs root and chattr (e2fsprogs) to make the store immutable");
    return;
  }
  TernBroker broker({kHttpYaml + "storage:\n  path: @DIR@/data\n"});
  const std::uint16_t port = http_port(broker);
  const std::string data = broker.dir() + "/data";

  Reply r = http_get(port, "/health");
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(r.head.find("Content-Type: application/json") != std::string::npos);
  CHECK(r.body.find(R"("status":"ready")") != std::string::npos);
  CHECK(r.body.find(R"("storage":{"status":"ok")") != std::string::npos);
  CHECK(r.body.find(R"("listeners":{"status":"ok")") != std::string::npos);

  // Immutable directory and files: LevelDB's appends to its open log fail with EPERM.
  const std::string lock = "chattr +i " + data + " " + data + "/* 2>&1";
  const std::string unlock = "chattr -i " + data + " " + data + "/* >/dev/null 2>&1";
  if (std::system(lock.c_str()) != 0) {
    WARN("SKIPPED: chattr +i is not supported on this filesystem");
    return;
  }
  struct Unlock {  // the temp dir must be deletable whatever happens
    std::string cmd;
    ~Unlock() { (void)std::system(cmd.c_str()); }
  } guard{unlock};

  Reply bad;
  const Stopwatch sw;
  while (sw.elapsed() < Millis(10000)) {
    bad = http_get(port, "/health");
    if (bad.status == 503) break;
    sleep_for(Millis(200));
  }
  INFO(bad.body);
  CHECK(bad.status == 503);
  CHECK(bad.body.find(R"("status":"unready")") != std::string::npos);
  CHECK(bad.body.find(R"("storage":{"status":"fail")") != std::string::npos);
  CHECK(bad.body.find(R"("listeners":{"status":"ok")") != std::string::npos);

  // QoS 0 needs no commit: MQTT traffic still flows while the broker reports unready.
  RawClient sub(broker.port(), ProtocolVersion::v5);
  REQUIRE(sub.connect("it-http-health-sub").reason_code == 0);
  REQUIRE(sub.subscribe("it/h", 0).reason_codes[0] == 0);
  RawClient pub(broker.port(), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-http-health-pub").reason_code == 0);
  pub.publish("it/h", "still here", 0);
  const auto got = sub.recv_publish(Millis(3000));
  REQUIRE(got.has_value());
  CHECK(got->payload == "still here");
  const Reply metrics = http_get(port, "/metrics");
  CHECK(sample(metrics.body, "tern_storage_last_commit_ok").value_or(-1) == 0);
}

TEST_CASE("http: bearer token: 401 without or with a wrong one, 200 with it") {
  if (TernBroker::reference_mode()) return;
  const std::string dir = make_temp_dir("tern-it-http-token");
  const std::string token = "it-token-0123456789abcdef";
  std::ofstream(dir + "/http.token") << token << "\n";  // the newline is not part of it
  TernBroker broker({kHttpYaml + "  token_file: " + dir + "/http.token\n"});
  const std::uint16_t port = http_port(broker);

  Reply r = http_get(port, "/metrics");
  CHECK(r.status == 401);
  CHECK(r.head.find("WWW-Authenticate: Bearer realm=\"tern\"") != std::string::npos);
  CHECK(r.body.find("tern_") == std::string::npos);
  r = http_get(port, "/metrics", "wrong-token");
  CHECK(r.status == 401);
  CHECK(r.head.find("error=\"invalid_token\"") != std::string::npos);
  CHECK(http_get(port, "/health", token + "x").status == 401);
  CHECK(http_get(port, "/nowhere").status == 401);  // nothing learned without the token

  r = http_get(port, "/metrics", token);
  CHECK(r.status == 200);
  CHECK(r.body.find("tern_build_info") != std::string::npos);
  CHECK(http_get(port, "/health", token).status == 200);
  CHECK(http_get(port, "/api/v1/clients", token).status == 200);
}

TEST_CASE("http: 404 for unknown paths, 405 for other methods, 400 for garbage, 431") {
  if (TernBroker::reference_mode()) return;
  TernBroker broker({kHttpYaml});
  const std::uint16_t port = http_port(broker);
  CHECK(http_get(port, "/").status == 404);
  CHECK(http_get(port, "/metrics/extra").status == 404);
  Reply r = http_request(port, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  CHECK(r.status == 405);
  CHECK(r.head.find("\r\nAllow: GET, HEAD") != std::string::npos);
  CHECK(http_request(port, "DELETE /api/v1/clients HTTP/1.1\r\nHost: x\r\n\r\n").status == 405);
  CHECK(http_request(port, "NOT HTTP AT ALL\r\n\r\n").status == 400);
  CHECK(http_request(port, "GET /metrics HTTP/1.1\r\n\r\n").status == 400);  // no Host
  CHECK(http_request(port, "GET /metrics HTTP/3.0\r\nHost: x\r\n\r\n").status == 505);
  CHECK(http_request(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nX: " + std::string(9000, 'a') +
                               "\r\n\r\n")
            .status == 431);
  // Still serving after all that.
  CHECK(http_get(port, "/metrics").status == 200);
}

TEST_CASE("http: a slowloris connection is closed at the read deadline, MQTT is unaffected") {
  if (TernBroker::reference_mode()) return;
  TernBroker broker({kHttpYaml});
  const std::uint16_t port = http_port(broker);

  RawClient sub(broker.port(), ProtocolVersion::v5);
  REQUIRE(sub.connect("it-http-slow-sub").reason_code == 0);
  REQUIRE(sub.subscribe("it/slow", 0).reason_codes[0] == 0);
  RawClient pub(broker.port(), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-http-slow-pub").reason_code == 0);

  Conn slow(port);
  const Stopwatch sw;
  const std::string head = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  std::optional<std::string> answer;
  int round_trips = 0;
  // One byte every 250 ms, an MQTT round trip in between: the deadline (5 s from the
  // accept) does not move, and MQTT latency stays low meanwhile.
  for (std::size_t i = 0; sw.elapsed() < Millis(9000); ++i) {
    if (!slow.send(std::string(1, i < head.size() ? head[i] : 'a'))) break;
    pub.publish("it/slow", "m" + std::to_string(i), 0);
    const Stopwatch rt;
    const auto p = sub.recv_publish(Millis(1000));
    REQUIRE(p.has_value());
    CHECK(rt.elapsed() < Millis(500));
    ++round_trips;
    answer = slow.read_to_close(Millis(250));
    if (answer) break;
  }
  const Millis closed_after = sw.elapsed();
  REQUIRE(answer.has_value());
  CHECK(answer->rfind("HTTP/1.1 408 ", 0) == 0);
  CHECK(closed_after >= Millis(4500));
  CHECK(closed_after < Millis(7000));
  CHECK(round_trips >= 10);
  // The endpoint serves the next client at once.
  CHECK(http_get(port, "/health").status == 200);
}

TEST_CASE("http: /api/v1/clients lists a connected Paho client with its peer address") {
  if (TernBroker::reference_mode()) return;
  TernBroker broker({kHttpYaml});
  const std::uint16_t port = http_port(broker);
  PahoClient paho(broker.uri(), "it-http-paho-client", MQTTVERSION_5);
  paho.connect();
  REQUIRE(paho.subscribe("it/list/#", 1) == 1);
  PahoClient other(broker.uri(), "it-http-other", MQTTVERSION_3_1_1);
  other.connect();

  Reply r = http_get(port, "/api/v1/clients");
  REQUIRE(r.status == 200);
  INFO(r.body);
  CHECK(r.body.rfind(R"({"total":2,"offset":0,"limit":100,"clients":[)", 0) == 0);
  // Ordered by client id: it-http-other, then it-http-paho-client.
  const std::regex paho_entry(
      R"re(\{"client_id":"it-http-paho-client","connected":true,"internal":false,)re"
      R"re("username":null,"protocol":"5.0","listener":"[^"]+","peer":"127\.0\.0\.1:[0-9]+",)re"
      R"re(.*"subscriptions":1,)re");
  CHECK(std::regex_search(r.body, paho_entry));
  CHECK(r.body.find(R"("client_id":"it-http-other")") < r.body.find("it-http-paho-client"));
  CHECK(r.body.find(R"("protocol":"3.1.1")") != std::string::npos);

  // Paging.
  r = http_get(port, "/api/v1/clients?offset=1&limit=1");
  REQUIRE(r.status == 200);
  CHECK(r.body.find("it-http-paho-client") != std::string::npos);
  CHECK(r.body.find("it-http-other") == std::string::npos);
  CHECK(http_get(port, "/api/v1/clients?limit=0").status == 400);
}

#if TERN_WITH_BRIDGE
TEST_CASE("http: /api/v1/bridges shows a bridge to mosquitto, connected, with its queue") {
  if (TernBroker::reference_mode()) return;
  MosquittoBroker cloud;
  const std::string yaml = kHttpYaml +
                           "bridges:\n"
                           "  - name: cloud\n"
                           "    remote: \"" + cloud.bridge_uri() + "\"\n"
                           "    client_id: tern-it-http-bridge\n"
                           "    reconnect: { min: 100ms, max: 1s, jitter: false }\n"
                           "    topics:\n"
                           "      - { pattern: \"up/#\", direction: out, qos: 1 }\n";
  TernBroker broker({yaml});
  const std::uint16_t port = http_port(broker);
  Reply r;
  const Stopwatch sw;
  while (sw.elapsed() < Millis(10000)) {
    r = http_get(port, "/api/v1/bridges");
    if (r.body.find(R"("connected":true)") != std::string::npos) break;
    sleep_for(Millis(100));
  }
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(r.body.rfind(R"({"bridges":[{"name":"cloud","connected":true,"connects":1,)", 0) == 0);
  CHECK(r.body.find(R"("queued":0,)") != std::string::npos);
  CHECK(r.body.find(R"("dropped":{)") != std::string::npos);

  // The bridge's figures are in /metrics too, labelled by bridge.
  const Reply m = http_get(port, "/metrics");
  CHECK(m.body.find("tern_bridge_connected{bridge=\"cloud\"} 1") != std::string::npos);
}
#endif

}  // namespace tern::it
