// Fuzz target for the WebSocket layer (broker/ws): arbitrary bytes fed raw (handshake
// included) and after a valid upgrade. The first input byte picks the options and the
// chunking; the rest is the transport stream. Beyond "no crash, no UB, no overread" it
// checks the layer's contract:
//  - feed() is true exactly while the upgrade is pending or the session is open;
//  - the same bytes fed at once and in chunks give the same MQTT bytes, output and state;
//  - output is an HTTP answer followed by unmasked, minimally encoded server frames, only
//    pong and close, at most one close and nothing after it;
//  - MQTT bytes never exceed the input, output stays proportional to it;
//  - once not open, write() frames nothing and feed() delivers nothing.
// libFuzzer (clang): the fuzz_websocket target of a clang build (tests/fuzz/CMakeLists.txt).
// GCC: the fuzz_websocket_standalone target (standalone_main.cpp), run by CTest.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "broker/ws/websocket.hpp"

using namespace tern::ws;

namespace {

constexpr std::string_view kRequest =
    "GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Protocol: mqtt\r\n\r\n";

void check(bool ok) {
  if (!ok) std::abort();
}

// feed() answers true while the upgrade is pending or frames flow.
bool alive(const ServerSession& s) { return s.state() == State::Handshake || s.open(); }

struct Run {
  std::string app;
  std::string out;
  State state = State::Handshake;
  bool peer_closed = false;
  bool last_feed = true;
  std::string error;
};

Run feed_all(const Options& opts, std::string_view prefix, std::string_view body,
             std::size_t chunk) {
  ServerSession s(opts);
  Run r;
  if (!prefix.empty()) r.last_feed = s.feed(prefix, r.app);
  if (chunk == 0) {
    r.last_feed = s.feed(body, r.app);
  } else {
    // Varying chunk sizes: chunk, chunk*2+1, 1, chunk, ...
    std::size_t p = 0;
    for (std::size_t k = 0; p < body.size(); ++k) {
      const std::size_t n = k % 3 == 0 ? chunk : k % 3 == 1 ? chunk * 2 + 1 : 1;
      r.last_feed = s.feed(body.substr(p, n), r.app);
      p += std::min(n, body.size() - p);
      check(r.last_feed == alive(s));
    }
  }
  check(r.last_feed == alive(s));
  r.out = s.output();
  r.state = s.state();
  r.peer_closed = s.peer_closed();
  r.error = s.error();
  check(r.state != State::Failed || !r.error.empty());
  check(!r.peer_closed || r.state == State::Closing);

  // Once not open: nothing is framed and nothing delivered.
  const std::size_t out_before = s.output().size();
  if (s.state() == State::Failed || s.state() == State::Closing) {
    std::string more;
    s.write("x");
    s.feed(body, more);
    check(more.empty());
    check(s.output().size() == out_before);
  } else if (s.open()) {
    s.write(std::string_view("\x30\x00", 2));
    check(s.output().size() == out_before + 4);
    s.close(1000);
    check(s.state() == State::Closing);
    const std::size_t after_close = s.output().size();
    std::string more;
    check(!s.feed(body, more));
    check(more.empty());
    check(s.output().size() == after_close);  // no pong and no second close after ours
  }
  return r;
}

std::uint16_t be16(std::string_view s, std::size_t p) {
  return static_cast<std::uint16_t>((static_cast<std::uint8_t>(s[p]) << 8) |
                                    static_cast<std::uint8_t>(s[p + 1]));
}

// Output: optional HTTP answer, then server frames.
void check_output(const Run& r, std::size_t input_size) {
  std::string_view out = r.out;
  bool upgraded = false;
  if (out.substr(0, 9) == "HTTP/1.1 ") {
    const std::size_t end = out.find("\r\n\r\n");
    check(end != std::string_view::npos);
    upgraded = out.substr(9, 4) == "101 ";
    if (upgraded) check(r.state != State::Handshake);
    out.remove_prefix(end + 4);
    if (!upgraded) check(out.empty() && r.state == State::Failed);
  } else {
    check(out.empty() || r.state != State::Handshake);
  }
  check(r.app.size() <= input_size);
  // Pongs and close echoes are smaller than what they answer; one HTTP answer and one
  // close frame of our own come on top.
  check(r.out.size() <= input_size + 400);
  bool closed = false;
  std::size_t p = 0;
  while (p < out.size()) {
    check(!closed);  // nothing after a close frame
    check(out.size() - p >= 2);
    const auto b0 = static_cast<std::uint8_t>(out[p]);
    const auto b1 = static_cast<std::uint8_t>(out[p + 1]);
    check((b0 & 0xF0) == 0x80);  // FIN, no RSV
    check((b1 & 0x80) == 0);     // servers never mask
    const std::uint8_t op = b0 & 0x0F;
    check(op == 0x8 || op == 0xA);
    const std::size_t len = b1 & 0x7F;
    check(len <= 125);
    p += 2;
    check(out.size() - p >= len);
    if (op == 0x8) {
      closed = true;
      check(len != 1);
      if (len >= 2) {
        const std::uint16_t code = be16(out, p);
        check(code >= 1000 && code < 5000 && code != 1004 && code != 1005 && code != 1006 &&
              code != 1015);
      }
    }
    p += len;
  }
  if (r.state == State::Failed && upgraded) check(closed);
  if (r.peer_closed) check(closed);
}

void one(std::uint8_t cfg, std::string_view prefix, std::string_view body) {
  Options opts;
  if (cfg & 1) opts.max_message_bytes = 64;
  if (cfg & 2) opts.max_handshake_bytes = 200;
  if (cfg & 4) opts.path = "";
  const std::size_t chunk = 1 + (cfg >> 3);
  const Run whole = feed_all(opts, prefix, body, 0);
  const Run pieces = feed_all(opts, prefix, body, chunk);
  check(whole.app == pieces.app);
  check(whole.out == pieces.out);
  check(whole.state == pieces.state);
  check(whole.peer_closed == pieces.peer_closed);
  check(whole.error == pieces.error);
  check_output(whole, prefix.size() + body.size());
}

// A masked client frame.
std::string frame(std::uint8_t b0, std::string_view payload) {
  std::string f(1, static_cast<char>(b0));
  const std::size_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(0x80 | n));
  } else {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n));
  }
  const char key[4] = {0x12, 0x34, 0x56, 0x78};
  f.append(key, 4);
  for (std::size_t i = 0; i < n; ++i) f.push_back(static_cast<char>(payload[i] ^ key[i % 4]));
  return f;
}

}  // namespace

// Seeds for the standalone driver (libFuzzer ignores this function).
std::vector<std::string> tern_fuzz_seeds() {
  using namespace std::literals;
  const std::string connect("\x10\x10\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x00\x00\x00\x00"sv);
  std::vector<std::string> frames = {
      frame(0x82, connect),
      frame(0x02, connect.substr(0, 4)) + frame(0x89, "ping") + frame(0x80, connect.substr(4)),
      frame(0x82, "\xc0\x00"sv) + frame(0x8A, "") + frame(0x88, "\x03\xe8ok"sv),
      frame(0x82, std::string(200, 'p')) + frame(0x88, ""),
      frame(0x81, "text"),
      frame(0x88, "\x03\xe8\xff"sv),
  };
  std::vector<std::string> seeds;
  for (const auto& f : frames) {
    seeds.push_back('\x00' + f);                      // after the upgrade, at once
    seeds.push_back('\x09' + f);                      // chunked, small message limit
    seeds.push_back('\x10' + std::string(kRequest) + f);  // raw, handshake included
  }
  seeds.push_back('\x00' + std::string(kRequest));
  std::string lower(kRequest);
  lower.replace(lower.find("Upgrade: websocket"), 18, "upgrade: WebSocket");
  seeds.push_back('\x04' + lower);
  return seeds;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t cfg = data[0];
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  one(cfg, {}, body);        // raw transport bytes: the upgrade request is fuzzed too
  one(cfg, kRequest, body);  // frames after a valid upgrade
  return 0;
}
