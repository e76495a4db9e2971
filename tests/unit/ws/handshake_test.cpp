// The HTTP upgrade: RFC 6455 section 4.2 and MQTT 5.0 section 6 (subprotocol "mqtt").
#include <catch2/catch.hpp>

#include <string>

#include "broker/ws/handshake.hpp"
#include "tests/unit/ws/ws_test_util.hpp"

using namespace tern::ws;
using namespace tern::ws::test;
using namespace std::literals;

namespace {

struct Outcome {
  bool fed = false;
  State state = State::Handshake;
  std::string out;
  std::string app;
  std::string error;
};

Outcome run(const std::string& req, Options opts = {}) {
  ServerSession s(std::move(opts));
  Outcome o;
  o.fed = s.feed(req, o.app);
  o.state = s.state();
  o.out = s.output();
  o.error = s.error();
  return o;
}

int status_of(const std::string& out) {
  REQUIRE(out.rfind("HTTP/1.1 ", 0) == 0);
  return std::stoi(out.substr(9, 3));
}

bool has_header_line(const std::string& out, const std::string& line) {
  return out.find("\r\n" + line + "\r\n") != std::string::npos;
}

// An error answer: the status, Connection: close, Failed, feed() false, a logged reason.
void require_refused(const Outcome& o, int status) {
  CHECK(status_of(o.out) == status);
  CHECK(has_header_line(o.out, "Connection: close"));
  CHECK(o.out.size() >= 4);
  CHECK(o.out.substr(o.out.size() - 4) == "\r\n\r\n");
  CHECK_FALSE(o.fed);
  CHECK(o.state == State::Failed);
  CHECK_FALSE(o.error.empty());
  CHECK(o.app.empty());
}

}  // namespace

TEST_CASE("ws handshake: RFC 6455 example key gives the golden accept and subprotocol mqtt") {
  CHECK(accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  const Outcome o = run(request());
  CHECK(o.fed);
  CHECK(o.state == State::Open);
  CHECK(o.out ==
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        "Sec-WebSocket-Protocol: mqtt\r\n\r\n");
  CHECK(o.error.empty());
}

TEST_CASE("ws handshake: a different key gives a different accept") {
  // base64 of 16 bytes 0x00..0x0F; accept computed independently with openssl(1).
  CHECK(accept_key("AAECAwQFBgcICQoLDA0ODw==") != accept_key("dGhlIHNhbXBsZSBub25jZQ=="));
  const Outcome o = run(request(with("Sec-WebSocket-Key", "AAECAwQFBgcICQoLDA0ODw==")));
  CHECK(o.state == State::Open);
  CHECK(has_header_line(o.out, "Sec-WebSocket-Accept: " + accept_key("AAECAwQFBgcICQoLDA0ODw==")));
}

TEST_CASE("ws handshake: header names and tokens are case-insensitive, lists and OWS allowed") {
  Headers h = {{"host", "localhost"},
               {"UPGRADE", "WebSocket"},
               {"connection", "keep-alive,  Upgrade "},
               {"sec-websocket-key", "  dGhlIHNhbXBsZSBub25jZQ==\t"},
               {"SEC-WEBSOCKET-VERSION", "13"},
               {"Sec-Websocket-Protocol", "foo, mqtt ,bar"},
               {"Origin", "http://example.com"},
               {"Sec-WebSocket-Extensions", "permessage-deflate"}};
  const Outcome o = run(request(h));
  CHECK(o.state == State::Open);
  CHECK(has_header_line(o.out, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
  // No extension is negotiated, so RSV bits stay reserved.
  CHECK(o.out.find("Extensions") == std::string::npos);
}

TEST_CASE("ws handshake: subprotocol offers spread over several header lines") {
  Headers h = with("Sec-WebSocket-Protocol", "chat");
  h.emplace_back("Sec-WebSocket-Protocol", "mqtt");
  CHECK(run(request(h)).state == State::Open);
}

TEST_CASE("ws handshake: the query string is ignored, absolute form accepted, path exact") {
  CHECK(run(request(default_headers(), "GET /mqtt?token=1 HTTP/1.1")).state == State::Open);
  CHECK(run(request(default_headers(), "GET http://127.0.0.1:8080/mqtt HTTP/1.1")).state ==
        State::Open);
  require_refused(run(request(default_headers(), "GET /mqtt/ HTTP/1.1")), 404);
  require_refused(run(request(default_headers(), "GET /MQTT HTTP/1.1")), 404);
  require_refused(run(request(default_headers(), "GET / HTTP/1.1")), 404);
  require_refused(run(request(default_headers(), "GET http://h HTTP/1.1")), 404);
  Options any;
  any.path = "";
  CHECK(run(request(default_headers(), "GET /whatever HTTP/1.1"), any).state == State::Open);
  Options other;
  other.path = "/ws";
  CHECK(run(request(default_headers(), "GET /ws HTTP/1.1"), other).state == State::Open);
  require_refused(run(request(), other), 404);
}

TEST_CASE("ws handshake: bare LF line endings and a leading empty line are tolerated") {
  std::string r = request();
  std::string lf;
  for (char c : r) {
    if (c != '\r') lf += c;
  }
  CHECK(run(lf).state == State::Open);
  CHECK(run("\r\n" + request()).state == State::Open);
}

TEST_CASE("ws handshake: each missing or bad header gets its HTTP status") {
  SECTION("no Host: 400") { require_refused(run(request(with("Host", nullptr))), 400); }
  SECTION("two Host headers: 400") {
    Headers h = default_headers();
    h.emplace_back("Host", "other");
    require_refused(run(request(h)), 400);
  }
  SECTION("no Upgrade: 400") { require_refused(run(request(with("Upgrade", nullptr))), 400); }
  SECTION("Upgrade not websocket: 400") {
    require_refused(run(request(with("Upgrade", "h2c"))), 400);
  }
  SECTION("no Connection: 400") {
    require_refused(run(request(with("Connection", nullptr))), 400);
  }
  SECTION("Connection without upgrade: 400") {
    require_refused(run(request(with("Connection", "keep-alive"))), 400);
  }
  SECTION("Connection: upgraded is not the token upgrade: 400") {
    require_refused(run(request(with("Connection", "upgraded"))), 400);
  }
  SECTION("no version: 426 naming 13") {
    const Outcome o = run(request(with("Sec-WebSocket-Version", nullptr)));
    require_refused(o, 426);
    CHECK(has_header_line(o.out, "Sec-WebSocket-Version: 13"));
  }
  SECTION("version 8: 426 naming 13") {
    const Outcome o = run(request(with("Sec-WebSocket-Version", "8")));
    require_refused(o, 426);
    CHECK(has_header_line(o.out, "Sec-WebSocket-Version: 13"));
    CHECK(has_header_line(o.out, "Upgrade: websocket"));
  }
  SECTION("version 13, 8 in two headers: 426") {
    Headers h = default_headers();
    h.emplace_back("Sec-WebSocket-Version", "8");
    require_refused(run(request(h)), 426);
  }
  SECTION("no key: 400") {
    require_refused(run(request(with("Sec-WebSocket-Key", nullptr))), 400);
  }
  SECTION("key not base64: 400") {
    require_refused(run(request(with("Sec-WebSocket-Key", "not base64 at all!!!!!!!"))), 400);
  }
  SECTION("key of 15 bytes: 400") {
    require_refused(run(request(with("Sec-WebSocket-Key", "AAECAwQFBgcICQoLDA0O"))), 400);
  }
  SECTION("key of 17 bytes: 400") {
    require_refused(run(request(with("Sec-WebSocket-Key", "AAECAwQFBgcICQoLDA0ODxA="))), 400);
  }
  SECTION("two keys: 400") {
    Headers h = default_headers();
    h.emplace_back("Sec-WebSocket-Key", "AAECAwQFBgcICQoLDA0ODw==");
    require_refused(run(request(h)), 400);
  }
  SECTION("no subprotocol: 400 [MQTT-6.0.0-3]") {
    require_refused(run(request(with("Sec-WebSocket-Protocol", nullptr))), 400);
  }
  SECTION("only mqttv3.1 (MQTT 3.1, which Tern does not speak): 400") {
    require_refused(run(request(with("Sec-WebSocket-Protocol", "mqttv3.1"))), 400);
  }
  SECTION("MQTT in capitals is not the subprotocol mqtt: 400") {
    require_refused(run(request(with("Sec-WebSocket-Protocol", "MQTT"))), 400);
  }
  SECTION("a body: 400") {
    Headers h = default_headers();
    h.emplace_back("Content-Length", "5");
    require_refused(run(request(h)), 400);
    Headers t = default_headers();
    t.emplace_back("Transfer-Encoding", "chunked");
    require_refused(run(request(t)), 400);
  }
}

TEST_CASE("ws handshake: malformed request lines and header lines") {
  require_refused(run(request(default_headers(), "POST /mqtt HTTP/1.1")), 405);
  CHECK(has_header_line(run(request(default_headers(), "POST /mqtt HTTP/1.1")).out,
                        "Allow: GET"));
  require_refused(run(request(default_headers(), "get /mqtt HTTP/1.1")), 405);
  require_refused(run(request(default_headers(), "GET /mqtt HTTP/1.0")), 400);
  require_refused(run(request(default_headers(), "GET /mqtt HTTP/2.0")), 400);
  require_refused(run(request(default_headers(), "GET /mqtt")), 400);
  require_refused(run(request(default_headers(), "GET  /mqtt HTTP/1.1")), 400);
  require_refused(run(request(default_headers(), "GET /mqtt HTTP/1.1 x")), 400);
  require_refused(run(request(default_headers(), "GET mqtt HTTP/1.1")), 400);
  require_refused(run(request(default_headers(), std::string("GET /mq\x01tt HTTP/1.1"))), 400);
  require_refused(run("\r\n\r\n"), 400);

  Headers no_colon = default_headers();
  no_colon.emplace_back("X-Broken", "");
  std::string r = request(no_colon);
  r.replace(r.find("X-Broken: "), 10, "X-Broken ");
  require_refused(run(r), 400);

  std::string space_before_colon = request();
  space_before_colon.replace(space_before_colon.find("Host:"), 5, "Host :");
  require_refused(run(space_before_colon), 400);

  std::string folded = request();
  folded.insert(folded.find("\r\nUpgrade"), "\r\n  continued");
  require_refused(run(folded), 400);

  require_refused(run(request(with("Host", "a\x01b"))), 400);
}

TEST_CASE("ws handshake: the request size limit answers 431 and holds no more than it") {
  Options small;
  small.max_handshake_bytes = 256;
  const std::string ok = request();
  REQUIRE(ok.size() < 256);
  CHECK(run(ok, small).state == State::Open);

  Headers big = default_headers();
  big.emplace_back("X-Padding", std::string(300, 'a'));
  require_refused(run(request(big), small), 431);

  // A request exactly at the limit is accepted; one byte more is not.
  Headers pad = default_headers();
  pad.emplace_back("X-Pad", "");
  const std::size_t base = request(pad).size();
  pad.back().second = std::string(256 - base, 'b');
  REQUIRE(request(pad).size() == 256);
  CHECK(run(request(pad), small).state == State::Open);
  pad.back().second += 'b';
  require_refused(run(request(pad), small), 431);

  // A request that never ends fails as soon as the limit is passed, fed in pieces.
  ServerSession s(small);
  std::string app;
  bool fed = true;
  std::size_t sent = 0;
  const std::string endless = "GET /mqtt HTTP/1.1\r\nX: " + std::string(1000, 'c');
  while (fed && sent < endless.size()) {
    fed = s.feed(endless.substr(sent, 10), app);
    sent += 10;
  }
  CHECK_FALSE(fed);
  CHECK(sent <= 270);
  CHECK(status_of(s.output()) == 431);
  CHECK(s.state() == State::Failed);
}

TEST_CASE("ws handshake: after a refusal further bytes are ignored") {
  ServerSession s(Options{});
  std::string app;
  CHECK_FALSE(s.feed(request(with("Upgrade", nullptr)), app));
  const std::string answer = s.output();
  CHECK_FALSE(s.feed(request(), app));
  CHECK_FALSE(s.feed(binary("x"), app));
  CHECK(s.output() == answer);
  CHECK(app.empty());
  CHECK(s.state() == State::Failed);
  s.write("abc");  // not open: nothing framed
  CHECK(s.output() == answer);
}

TEST_CASE("ws handshake: split at every byte boundary, with pipelined frames") {
  const std::string req = request();
  const std::string frames = binary("\x10\x0c\x00\x04MQTT"sv, false) + continuation("\x05\x02") +
                             frame(0x89, "hi") + binary("\xc0");
  const std::string all = req + frames;
  const std::string expected_app(std::string_view("\x10\x0c\x00\x04MQTT\x05\x02\xc0", 11));
  for (std::size_t i = 0; i <= all.size(); ++i) {
    ServerSession s(Options{});
    std::string app;
    CHECK(s.feed(std::string_view(all).substr(0, i), app));
    CHECK(s.feed(std::string_view(all).substr(i), app));
    CHECK(s.open());
    CHECK(app == expected_app);
    const std::string& out = s.output();
    REQUIRE(out.rfind("HTTP/1.1 101 ", 0) == 0);
    const auto fs = parse_frames(std::string_view(out).substr(out.find("\r\n\r\n") + 4));
    REQUIRE(fs.size() == 1);
    CHECK(fs[0].opcode() == 0xA);
    CHECK(fs[0].payload == "hi");
  }
  // One byte at a time.
  ServerSession s(Options{});
  std::string app;
  for (char c : all) CHECK(s.feed(std::string_view(&c, 1), app));
  CHECK(app == expected_app);
}

TEST_CASE("ws handshake: close before the upgrade sends nothing") {
  ServerSession s(Options{});
  std::string app;
  CHECK(s.feed("GET /mq", app));
  s.close(1001);
  CHECK(s.output().empty());
  CHECK(s.state() == State::Closing);
  CHECK_FALSE(s.feed("tt HTTP/1.1\r\n", app));
  CHECK(s.output().empty());
}
