// RFC 6455 framing after the upgrade: lengths, masking, fragmentation, control frames,
// close handshakes, violations with their close codes, and size limits.
#include <catch2/catch.hpp>

#include <string>

#include "tests/unit/ws/ws_test_util.hpp"

using namespace tern::ws;
using namespace tern::ws::test;
using namespace std::literals;

namespace {

// Feeds `bytes` to an open session; on a violation expects one close frame with `code`.
void require_violation(const std::string& bytes, std::uint16_t code, Options opts = {}) {
  ServerSession s = open_session(opts);
  std::string app;
  CHECK_FALSE(s.feed(bytes, app));
  CHECK(s.state() == State::Failed);
  CHECK_FALSE(s.peer_closed());
  CHECK_FALSE(s.error().empty());
  const auto fs = parse_frames(s.output());
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].opcode() == 0x8);
  CHECK(fs[0].fin());
  CHECK(fs[0].close_code() == code);
  CHECK(fs[0].payload.size() <= 125);
  // Nothing more is read, answered or framed.
  const std::string out = s.output();
  CHECK_FALSE(s.feed(frame(0x89, "ping") + binary("data"), app));
  s.write("mqtt");
  s.close(1000);
  CHECK(s.output() == out);
}

}  // namespace

TEST_CASE("ws frames: 7-, 16- and 64-bit payload lengths deliver the unmasked payload") {
  for (std::size_t n : {0u, 1u, 7u, 8u, 9u, 125u, 126u, 127u, 1000u, 65535u, 65536u, 70001u}) {
    CAPTURE(n);
    ServerSession s = open_session();
    const std::string payload = pseudo_random_bytes(n, static_cast<std::uint32_t>(n));
    std::string app;
    CHECK(s.feed(frame(0x82, payload, true, LenForm::Auto, 0xA1B2C3D4u + static_cast<std::uint32_t>(n)), app));
    CHECK(app == payload);
    CHECK(s.output().empty());
  }
}

TEST_CASE("ws frames: a zero masking key and unaligned chunks unmask the same") {
  const std::string payload = pseudo_random_bytes(1000, 7);
  const std::string f = frame(0x82, payload, true, LenForm::Auto, 0);
  const std::string g = frame(0x82, payload, true, LenForm::Auto, 0xDEADBEEF);
  for (std::size_t chunk : {1u, 3u, 5u, 7u, 13u, 64u}) {
    ServerSession s = open_session();
    std::string app;
    const std::string both = f + g;
    for (std::size_t p = 0; p < both.size(); p += chunk) {
      CHECK(s.feed(std::string_view(both).substr(p, chunk), app));
    }
    CHECK(app == payload + payload);
  }
}

TEST_CASE("ws frames: the payload of a large frame streams out as it arrives") {
  Options o;
  o.max_message_bytes = 4 * 1024 * 1024;
  ServerSession s = open_session(o);
  const std::string payload = pseudo_random_bytes(3 * 1024 * 1024, 3);
  const std::string f = binary(payload);
  std::string app;
  CHECK(s.feed(std::string_view(f).substr(0, 14 + 1000), app));
  CHECK(app == payload.substr(0, 1000));
  // The caller may consume MQTT bytes between feeds; the layer keeps no copy.
  app.clear();
  CHECK(s.feed(std::string_view(f).substr(14 + 1000), app));
  CHECK(app == payload.substr(1000));
}

TEST_CASE("ws frames: several frames in one read and MQTT packets across frames") {
  ServerSession s = open_session();
  // CONNECT split over two frames, then PINGREQ and DISCONNECT in one frame [MQTT-6.0.0-2].
  const std::string connect = std::string("\x10\x10\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x00\x00\x00\x00", 18);
  std::string app;
  CHECK(s.feed(binary(connect.substr(0, 5)) + binary(connect.substr(5)) +
                   binary(std::string("\xc0\x00\xe0\x00", 4)),
               app));
  CHECK(app == connect + std::string("\xc0\x00\xe0\x00", 4));
}

TEST_CASE("ws frames: fragmented messages reassemble, control frames may interleave") {
  ServerSession s = open_session();
  std::string app;
  CHECK(s.feed(binary("ab", false) + continuation("", false) + frame(0x89, "p1") +
                   continuation("cd", false) + frame(0x8A, "unsolicited") + continuation("ef"),
               app));
  CHECK(app == "abcdef");
  const auto fs = parse_frames(s.output());
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].opcode() == 0xA);
  CHECK(fs[0].payload == "p1");
  // A new message may start after the final fragment.
  CHECK(s.feed(binary("gh"), app));
  CHECK(app == "abcdefgh");
}

TEST_CASE("ws frames: ping gets a pong with the same payload, pong is ignored") {
  ServerSession s = open_session();
  std::string app;
  const std::string p125 = pseudo_random_bytes(125, 9);
  CHECK(s.feed(frame(0x89, "") + frame(0x89, p125) + frame(0x8A, "x"), app));
  CHECK(app.empty());
  const auto fs = parse_frames(s.output());
  REQUIRE(fs.size() == 2);
  CHECK(fs[0].b0 == 0x8A);
  CHECK(fs[0].payload.empty());
  CHECK(fs[1].b0 == 0x8A);
  CHECK(fs[1].payload == p125);
}

TEST_CASE("ws frames: server frames are single unmasked binary frames of minimal length") {
  ServerSession s = open_session();
  for (std::size_t n : {1u, 125u, 126u, 65535u, 65536u, 100000u}) {
    CAPTURE(n);
    const std::string payload = pseudo_random_bytes(n, static_cast<std::uint32_t>(n) + 1);
    s.write(payload);
    const auto fs = parse_frames(s.output());  // requires unmasked and minimal lengths
    REQUIRE(fs.size() == 1);
    CHECK(fs[0].b0 == 0x82);  // FIN + binary [MQTT-6.0.0-1]
    CHECK(fs[0].payload == payload);
    const std::size_t header = n < 126 ? 2 : n <= 0xFFFF ? 4 : 10;
    CHECK(s.output().size() == header + n);
    s.output().clear();
  }
  s.write("");
  CHECK(s.output().empty());
}

TEST_CASE("ws frames: the peer closes, we echo its code once and stop") {
  SECTION("with a code and a UTF-8 reason") {
    ServerSession s = open_session();
    std::string app;
    CHECK_FALSE(s.feed(binary("mq") + frame(0x88, close_payload(1001, "bye \xc3\xa9\xe2\x82\xac")) +
                           binary("late"),
                       app));
    CHECK(app == "mq");
    CHECK(s.peer_closed());
    CHECK(s.state() == State::Closing);
    CHECK(s.error().empty());
    const auto fs = parse_frames(s.output());
    REQUIRE(fs.size() == 1);
    CHECK(fs[0].b0 == 0x88);
    CHECK(fs[0].payload == close_payload(1001));
    s.write("x");
    s.close(1000);
    CHECK(parse_frames(s.output()).size() == 1);
  }
  SECTION("without a code: an empty close answers") {
    ServerSession s = open_session();
    std::string app;
    CHECK_FALSE(s.feed(frame(0x88, ""), app));
    CHECK(s.peer_closed());
    const auto fs = parse_frames(s.output());
    REQUIRE(fs.size() == 1);
    CHECK(fs[0].b0 == 0x88);
    CHECK(fs[0].payload.empty());
  }
  SECTION("every valid code is echoed") {
    for (std::uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1014,
                               3000, 3999, 4000, 4999}) {
      CAPTURE(code);
      ServerSession s = open_session();
      std::string app;
      CHECK_FALSE(s.feed(frame(0x88, close_payload(code)), app));
      CHECK(s.peer_closed());
      const auto fs = parse_frames(s.output());
      REQUIRE(fs.size() == 1);
      CHECK(fs[0].close_code() == code);
    }
  }
  SECTION("in the middle of a fragmented message") {
    ServerSession s = open_session();
    std::string app;
    CHECK_FALSE(s.feed(binary("ab", false) + frame(0x88, close_payload(1000)), app));
    CHECK(s.peer_closed());
    CHECK(app == "ab");
  }
}

TEST_CASE("ws frames: we close, data is dropped until the peer's close completes it") {
  ServerSession s = open_session();
  s.close(1001);
  CHECK(s.state() == State::Closing);
  CHECK_FALSE(s.open());
  auto fs = parse_frames(s.output());
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].close_code() == 1001);
  s.output().clear();
  s.write("no more");
  s.close(1000);  // only one close frame
  CHECK(s.output().empty());
  std::string app;
  CHECK_FALSE(s.feed(binary("data") + frame(0x89, "ping"), app));
  CHECK(app.empty());
  CHECK(s.output().empty());  // no pong after our close (RFC 6455 5.5.1)
  CHECK_FALSE(s.peer_closed());
  // The peer's answer arrives split; it completes the handshake without a second close.
  const std::string answer = frame(0x88, close_payload(1001));
  CHECK_FALSE(s.feed(answer.substr(0, 3), app));
  CHECK_FALSE(s.peer_closed());
  CHECK_FALSE(s.feed(answer.substr(3), app));
  CHECK(s.peer_closed());
  CHECK(s.output().empty());
  CHECK(s.state() == State::Closing);
}

TEST_CASE("ws frames: a violation while we are closing fails without a second close frame") {
  ServerSession s = open_session();
  s.close(1000);
  s.output().clear();
  std::string app;
  CHECK_FALSE(s.feed(frame(0x82, "x", false), app));
  CHECK(s.state() == State::Failed);
  CHECK(s.output().empty());
}

TEST_CASE("ws frames: masking, RSV and opcode violations close with 1002") {
  SECTION("unmasked binary frame") { require_violation(frame(0x82, "abc", false), 1002); }
  SECTION("unmasked ping") { require_violation(frame(0x89, "", false), 1002); }
  for (std::uint8_t rsv : {0x40, 0x20, 0x10, 0x70}) {
    CAPTURE(int(rsv));
    require_violation(frame(static_cast<std::uint8_t>(0x82 | rsv), "abc"), 1002);
    require_violation(frame(static_cast<std::uint8_t>(0x89 | rsv), ""), 1002);
  }
  for (std::uint8_t op : {0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
    CAPTURE(int(op));
    require_violation(frame(static_cast<std::uint8_t>(0x80 | op), ""), 1002);
  }
}

TEST_CASE("ws frames: text frames close with 1003 [MQTT-6.0.0-1]") {
  require_violation(frame(0x81, "hello"), 1003);
  require_violation(frame(0x01, "hel"), 1003);
}

TEST_CASE("ws frames: fragmentation violations close with 1002") {
  SECTION("continuation without a message") { require_violation(continuation("x"), 1002); }
  SECTION("continuation after a finished message") {
    require_violation(binary("a") + continuation("x"), 1002);
  }
  SECTION("binary inside a fragmented message") {
    require_violation(binary("a", false) + binary("b"), 1002);
  }
  SECTION("text inside a fragmented message") {
    require_violation(binary("a", false) + frame(0x81, "b"), 1002);
  }
  SECTION("fragmented ping") { require_violation(frame(0x09, "a"), 1002); }
  SECTION("fragmented close") { require_violation(frame(0x08, ""), 1002); }
  SECTION("control frame of 126 bytes") {
    require_violation(frame(0x89, std::string(126, 'p')), 1002);
    require_violation(frame(0x88, close_payload(1000, std::string(124, 'r'))), 1002);
  }
}

TEST_CASE("ws frames: non-minimal and oversized length encodings close with 1002") {
  require_violation(frame(0x82, "abc", true, LenForm::Ext16), 1002);
  require_violation(frame(0x82, std::string(125, 'a'), true, LenForm::Ext16), 1002);
  require_violation(frame(0x82, std::string(200, 'a'), true, LenForm::Ext64), 1002);
  require_violation(frame(0x82, std::string(65535, 'a'), true, LenForm::Ext64), 1002);
  // 126 in 16 bits and 65536 in 64 bits are minimal.
  ServerSession s = open_session();
  std::string app;
  CHECK(s.feed(frame(0x82, std::string(126, 'a'), true, LenForm::Ext16) +
                   frame(0x82, std::string(65536, 'b'), true, LenForm::Ext64),
               app));
  CHECK(app.size() == 126 + 65536);
  // The most significant bit of a 64-bit length must be 0.
  std::string high = "\x82\xff";
  high += std::string("\x80\x00\x00\x00\x00\x01\x00\x00", 8);
  high += "MASK";
  require_violation(high, 1002);
}

TEST_CASE("ws frames: close payload violations") {
  SECTION("one-byte payload: 1002") { require_violation(frame(0x88, "\x03"), 1002); }
  for (std::uint16_t code : {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000,
                             65535}) {
    CAPTURE(code);
    require_violation(frame(0x88, close_payload(code)), 1002);
  }
  SECTION("reason not UTF-8: 1007") {
    require_violation(frame(0x88, close_payload(1000, "\xff")), 1007);
    require_violation(frame(0x88, close_payload(1000, "\xc0\xaf")), 1007);          // overlong
    require_violation(frame(0x88, close_payload(1000, "\xed\xa0\x80")), 1007);      // surrogate
    require_violation(frame(0x88, close_payload(1000, "\xf4\x90\x80\x80")), 1007);  // > U+10FFFF
    require_violation(frame(0x88, close_payload(1000, "ok\xe2\x82")), 1007);        // truncated
  }
}

TEST_CASE("ws frames: frames and messages over max_message_bytes close with 1009") {
  Options o;
  o.max_message_bytes = 1000;
  SECTION("one frame over the limit, nothing of it delivered") {
    ServerSession s = open_session(o);
    std::string app;
    // Only the header has arrived: the length alone fails it.
    const std::string f = binary(std::string(1001, 'x'));
    CHECK_FALSE(s.feed(f.substr(0, 8), app));
    CHECK(app.empty());
    const auto fs = parse_frames(s.output());
    REQUIRE(fs.size() == 1);
    CHECK(fs[0].close_code() == 1009);
  }
  SECTION("a frame at the limit passes") {
    ServerSession s = open_session(o);
    std::string app;
    CHECK(s.feed(binary(std::string(1000, 'x')) + binary(std::string(1000, 'y')), app));
    CHECK(app.size() == 2000);
  }
  SECTION("fragments summing over the limit") {
    require_violation(binary(std::string(600, 'a'), false) + continuation(std::string(401, 'b')),
                      1009, o);
  }
  SECTION("fragments summing to the limit, then a new message") {
    ServerSession s = open_session(o);
    std::string app;
    CHECK(s.feed(binary(std::string(600, 'a'), false) + continuation(std::string(400, 'b')) +
                     binary(std::string(1000, 'c')),
                 app));
    CHECK(app.size() == 2000);
  }
  SECTION("a 2^62 length") {
    std::string huge = "\x82\xff";
    huge += std::string("\x40\x00\x00\x00\x00\x00\x00\x00", 8);
    huge += "MASK";
    require_violation(huge, 1009, o);
  }
}

TEST_CASE("ws frames: a frame stream split at every byte boundary gives the same result") {
  const std::string stream = binary("\x30\x05\x00\x01t"sv, false) + frame(0x89, "pi") +
                             continuation("hi", true) + binary(pseudo_random_bytes(300, 5)) +
                             frame(0x8A, "") + binary("", true) +
                             frame(0x88, close_payload(1000, "done"));
  std::string want_app;
  std::string want_out;
  {
    ServerSession s = open_session();
    CHECK_FALSE(s.feed(stream, want_app));
    want_out = s.output();
    CHECK(s.peer_closed());
  }
  CHECK(want_app == std::string("\x30\x05\x00\x01thi", 7) + pseudo_random_bytes(300, 5));
  for (std::size_t i = 0; i <= stream.size(); ++i) {
    for (std::size_t j = i; j <= stream.size(); j += 97) {
      ServerSession s = open_session();
      std::string app;
      s.feed(std::string_view(stream).substr(0, i), app);
      s.feed(std::string_view(stream).substr(i, j - i), app);
      s.feed(std::string_view(stream).substr(j), app);
      CHECK(app == want_app);
      CHECK(s.output() == want_out);
      CHECK(s.peer_closed());
    }
  }
}
