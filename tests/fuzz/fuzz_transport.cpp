// Fuzz target for the TLS-to-codec path: net::TransportLayers over a real tls::Session
// (this build's backend) and/or a ws::ServerSession, every MQTT byte that comes out fed to
// codec::decode the way a Connection does (complete packets consumed, the partial tail
// kept, decoding stops at the first error), decoded packets echoed back through wrap(),
// and an orderly close() at the end.
//
// The first input byte picks the setup; the rest is wire input, fed in chunks:
//   bits 0-1  stack: 0 TLS, 1 WebSocket, 2 TLS+WebSocket with a valid upgrade first,
//             3 TLS+WebSocket with the upgrade request taken from the input
//   bits 2-3  mode: 0 the input is the raw wire stream (a random TLS handshake fails);
//             1 an in-process OpenSSL client completes a real handshake, then sends the
//             input as application data (SSL_write), so it reaches WebSocket and codec
//             decrypted; 2 handshake, then the input injected raw (corrupt records);
//             3 handshake, half the input as application data, the rest raw.
//             Without TLS modes 1-3 only mean "a valid upgrade request first".
//   bit 4     the client offers at most TLS 1.2; the codec's maximum packet size is 256
//   bit 5     WebSocket stacks: each chunk of application data is sent as one masked
//             binary frame (a valid upgrade request first)
//   bits 6-7  chunk size (chunks vary: n, 2n+1, 1, ...): whole, 1, 7, 100
//
// Invariants (abort on violation), on top of no crash / no UB (ASan+UBSan standalone):
//  - MQTT bytes out <= wire bytes in; wire bytes out proportional to wire bytes in plus
//    what was wrapped; pending() is 0 after wrap();
//  - after a result other than Ok, nothing more is delivered and no result is Ok again;
//  - after close() (handshake done) and a flush, nothing more is sent;
//  - a real client completes the handshake on both backends and, unless TLS failed,
//    receives exactly the bytes that were wrapped (WebSocket: as binary frame payloads
//    after a 101 answer); the same holds for plain WebSocket output.
//
// libFuzzer (clang): the fuzz_transport target; GCC: fuzz_transport_standalone (CTest).
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/codec/codec.hpp"
#include "broker/net/layers.hpp"
#include "broker/tls/tls.hpp"
#include "broker/ws/websocket.hpp"

using namespace tern;

namespace {

// Self-signed EC P-256 certificate for CN=localhost (and 127.0.0.1), valid 2026-2126.
constexpr std::string_view kCertPem =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBmzCCAUGgAwIBAgIUDkqzMnZ2Fyk+I+5l1wZy+gQiQMcwCgYIKoZIzj0EAwIw\n"
    "FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyMjEwMDg0MloYDzIxMjYxMDI5\n"
    "MTAwODQyWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO\n"
    "PQMBBwNCAAQrq7BeaOU+k+Tsc/Ib8ucQ68Vo5nL4danT6i3doAKGHYO0EpX2pj+b\n"
    "SfjffbIDn3SoRv7LTNh62P9SWMYm5sZFo28wbTAdBgNVHQ4EFgQUMSex5z4CkKAS\n"
    "cWLYy4UfKc395aswHwYDVR0jBBgwFoAUMSex5z4CkKAScWLYy4UfKc395aswDwYD\n"
    "VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI\n"
    "zj0EAwIDSAAwRQIhAMgcjWwEaRuml2wlzB/Q4jA2uHP6hwasR0FU9mK5EGXTAiAC\n"
    "6ON9OW9b7ftycQTNytxGWbv7WmfpfvLCUw7xdW0nnA==\n"
    "-----END CERTIFICATE-----\n";
constexpr std::string_view kKeyPem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQghIjJOD9O2NflOgN0\n"
    "1Q6kNQOi2cAKjF7N2U42VgB7jOOhRANCAAQrq7BeaOU+k+Tsc/Ib8ucQ68Vo5nL4\n"
    "danT6i3doAKGHYO0EpX2pj+bSfjffbIDn3SoRv7LTNh62P9SWMYm5sZF\n"
    "-----END PRIVATE KEY-----\n";

constexpr std::string_view kUpgrade =
    "GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Protocol: mqtt\r\n\r\n";

// Names the violated line before aborting (the standalone driver then prints the input).
void check(bool ok, int line = __builtin_LINE()) {
  if (ok) return;
  std::fprintf(stderr, "fuzz_transport: invariant at line %d violated\n", line);
  std::abort();
}

// The server context, loaded once from the PEM constants written to a temp dir (removed
// right away: the context holds what it needs).
const tls::ServerContext& server_context() {
  static const std::shared_ptr<const tls::ServerContext> ctx = [] {
    char tmpl[] = "/tmp/tern-fuzz-transport-XXXXXX";
    check(mkdtemp(tmpl) != nullptr);
    const std::filesystem::path dir = tmpl;
    std::ofstream(dir / "server.crt") << kCertPem;
    std::ofstream(dir / "server.key") << kKeyPem;
    tls::ServerOptions o;
    o.cert_file = (dir / "server.crt").string();
    o.key_file = (dir / "server.key").string();
    std::string err;
    auto c = tls::ServerContext::create(o, err);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (c == nullptr) std::fprintf(stderr, "fuzz_transport: %s\n", err.c_str());
    check(c != nullptr);
    return c;
  }();
  return *ctx;
}

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};

SSL_CTX* client_context(bool tls12_only) {
  static const auto make = [](bool v12) {
    std::unique_ptr<SSL_CTX, SslCtxFree> c(SSL_CTX_new(TLS_client_method()));
    check(c != nullptr);
    SSL_CTX_set_verify(c.get(), SSL_VERIFY_NONE, nullptr);  // the peer is ours
    if (v12) SSL_CTX_set_max_proto_version(c.get(), TLS1_2_VERSION);
    return c;
  };
  static const auto ctx13 = make(false);
  static const auto ctx12 = make(true);
  return tls12_only ? ctx12.get() : ctx13.get();
}

// An OpenSSL client over memory BIOs.
class Client {
 public:
  explicit Client(bool tls12_only) : ssl_(SSL_new(client_context(tls12_only))) {
    check(ssl_ != nullptr);
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl_, in_, out_);
    SSL_set_connect_state(ssl_);
    SSL_set_tlsext_host_name(ssl_, "localhost");
  }
  ~Client() { SSL_free(ssl_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Advances the handshake, then reads what arrived.
  void step() {
    if (failed_) return;
    ERR_clear_error();
    if (!done_) {
      const int ret = SSL_do_handshake(ssl_);
      if (ret != 1) {
        if (SSL_get_error(ssl_, ret) != SSL_ERROR_WANT_READ) failed_ = true;
        ERR_clear_error();
        return;
      }
      done_ = true;
    }
    char buf[16384];
    for (;;) {
      std::size_t n = 0;
      const int ret = SSL_read_ex(ssl_, buf, sizeof buf, &n);
      if (ret == 1) {
        received_.append(buf, n);
        continue;
      }
      const int e = SSL_get_error(ssl_, ret);
      if (e == SSL_ERROR_ZERO_RETURN) closed_ = true;
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_ZERO_RETURN) failed_ = true;
      ERR_clear_error();
      return;
    }
  }
  void write(std::string_view data) {
    if (failed_ || closed_ || !done_) return;
    while (!data.empty()) {
      std::size_t n = 0;
      if (SSL_write_ex(ssl_, data.data(), data.size(), &n) != 1) {
        failed_ = true;
        ERR_clear_error();
        return;
      }
      data.remove_prefix(n);
    }
  }
  std::string take_output() {
    std::string out(static_cast<std::size_t>(BIO_pending(out_)), '\0');
    if (!out.empty()) BIO_read(out_, out.data(), static_cast<int>(out.size()));
    return out;
  }
  void put_input(std::string_view b) {
    if (!b.empty()) BIO_write(in_, b.data(), static_cast<int>(b.size()));
  }
  bool done() const { return done_; }
  bool failed() const { return failed_; }
  const std::string& received() const { return received_; }

 private:
  SSL* ssl_;
  BIO* in_ = nullptr;
  BIO* out_ = nullptr;
  std::string received_;
  bool done_ = false;
  bool failed_ = false;
  bool closed_ = false;
};

// The server side of one connection, as a Connection drives it.
class Server {
 public:
  Server(bool with_tls, bool with_ws, std::uint32_t max_packet)
      : layers_(with_tls ? server_context().new_session() : nullptr,
                with_ws ? std::make_unique<ws::ServerSession>(ws::Options{}) : nullptr) {
    opts_.max_packet_size = max_packet;
  }

  // Wire bytes from the socket; returns the wire bytes to send.
  std::string feed(std::string_view wire) {
    wire_in_ += wire.size();
    std::string app;
    const auto r = layers_.unwrap(wire, app, scratch_);
    std::string out;
    if (failed_) {
      // After a result other than Ok nothing more is delivered. (The broker stops
      // reading then; a lower layer may still fail on what follows and queue an alert.)
      check(r != net::TransportLayers::Input::Ok);
      check(app.empty());
      check(layers_.pending() <= 256);
      if (r == net::TransportLayers::Input::TlsFailed) tls_failed_ = true;
      return out;
    }
    app_out_ += app.size();
    check(app_out_ <= wire_in_);
    if (r != net::TransportLayers::Input::Ok) {
      failed_ = true;
      tls_failed_ = r == net::TransportLayers::Input::TlsFailed;
      if (r == net::TransportLayers::Input::TlsFailed ||
          r == net::TransportLayers::Input::WsFailed) {
        check(!layers_.error().empty());
      }
    }
    // Like Connection::on_wire_bytes: what was delivered with a failure is still decoded.
    std::string reply = decode(app);
    if (closed_) {
      // Data the peer sends after our close is not answered, and nothing is sent again
      // once close_notify went out.
      std::string none;
      layers_.wrap(reply, none);
      if (close_final_) check(none.empty());
      check(layers_.pending() == 0);
      return out;
    }
    if (!failed_ && !reply.empty()) {
      wrapped_ += reply;
      ++wraps_;
    } else {
      reply.clear();
    }
    layers_.wrap(reply, out);
    check(reply.empty());
    check(layers_.pending() == 0);
    wire_out_ += out.size();
    check_proportional();
    if (codec_failed_ && !failed_) out += close();  // the broker closes after a bad packet
    return out;
  }

  // Orderly close: WebSocket close frame and close_notify, flushed.
  std::string close() {
    std::string out;
    if (closed_) return out;
    closed_ = true;
    close_final_ = layers_.tls_handshake_done();
    layers_.close();
    layers_.close();  // idempotent
    std::string none;
    layers_.wrap(none, out);
    check(layers_.pending() == 0);
    wire_out_ += out.size();
    check_proportional();
    // Nothing is framed or encrypted after close().
    std::string late("\xd0\x00", 2);
    std::string more;
    layers_.wrap(late, more);
    if (close_final_) check(more.empty());
    check(late.empty());
    return out;
  }

  const net::TransportLayers& layers() const { return layers_; }
  bool tls_failed() const { return tls_failed_; }
  const std::string& wrapped() const { return wrapped_; }

 private:
  // Decodes complete packets from the buffered MQTT bytes and returns the echo of each.
  std::string decode(std::string_view app) {
    std::string reply;
    if (codec_failed_) return reply;
    buf_.append(app);
    std::size_t off = 0;
    while (off < buf_.size()) {
      opts_.version = version_;
      const codec::DecodeResult r = codec::decode(std::string_view(buf_).substr(off), opts_);
      if (r.status == codec::DecodeStatus::NeedMore) {
        check(r.consumed == 0);
        break;
      }
      if (r.status == codec::DecodeStatus::Error) {
        check(r.reason != codec::ReasonCode::Success);
        codec_failed_ = true;
        reply.append("\xe0\x00", 2);  // a DISCONNECT, as core would answer
        break;
      }
      check(r.consumed > 0 && r.consumed <= buf_.size() - off);
      if (!version_known_) {
        if (const auto* c = std::get_if<codec::Connect>(&r.packet)) {
          version_ = c->version;
          version_known_ = true;
        }
      }
      reply.append(buf_, off, std::min<std::size_t>(r.consumed, 300));
      off += r.consumed;
    }
    buf_.erase(0, off);  // keep the partial tail
    if (codec_failed_) std::string().swap(buf_);
    return reply;
  }

  void check_proportional() const {
    // Handshake messages, an HTTP answer, tickets and alerts are bounded; beyond them
    // output follows input (pongs, close echoes) and what was wrapped (record and frame
    // overhead per wrap).
    check(wire_out_ <= 8192 + 2 * wire_in_ + 2 * wrapped_.size() + 64 * wraps_);
  }

  net::TransportLayers layers_;
  codec::DecodeOptions opts_;
  codec::ProtocolVersion version_ = codec::ProtocolVersion::v5;
  bool version_known_ = false;
  std::string scratch_;
  std::string buf_;
  std::string wrapped_;
  std::size_t wraps_ = 0;
  std::size_t wire_in_ = 0;
  std::size_t wire_out_ = 0;
  std::size_t app_out_ = 0;
  bool failed_ = false;
  bool tls_failed_ = false;
  bool codec_failed_ = false;
  bool closed_ = false;
  bool close_final_ = false;
};

// Splits `s` into chunks n, 2n+1, 1, n, ... (n = 0: one piece).
std::vector<std::string_view> chunks(std::string_view s, std::size_t n) {
  std::vector<std::string_view> v;
  if (n == 0) {
    if (!s.empty()) v.push_back(s);
    return v;
  }
  for (std::size_t k = 0, p = 0; p < s.size(); ++k) {
    const std::size_t len = k % 3 == 0 ? n : k % 3 == 1 ? 2 * n + 1 : 1;
    v.push_back(s.substr(p, len));
    p += std::min(len, s.size() - p);
  }
  return v;
}

// A masked client frame.
std::string frame(std::uint8_t b0, std::string_view payload) {
  std::string f(1, static_cast<char>(b0));
  const std::size_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(0x80 | n));
  } else if (n < 65536) {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n));
  } else {
    f.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>(n >> (8 * i)));
  }
  const char key[4] = {0x37, 0x7a, 0x0c, 0x51};
  for (std::size_t i = 0; i < n; ++i) f.push_back(static_cast<char>(payload[i] ^ key[i % 4]));
  f.insert(f.size() - n, key, 4);
  return f;
}

// Binary frame payloads of a server's WebSocket stream (after a 101 answer), or nullopt
// when the stream is not an upgrade answer followed by well-formed frames.
bool ws_payloads(std::string_view s, std::string& payloads) {
  if (s.substr(0, 13) != "HTTP/1.1 101 ") return false;
  const std::size_t end = s.find("\r\n\r\n");
  check(end != std::string_view::npos);
  s.remove_prefix(end + 4);
  while (!s.empty()) {
    check(s.size() >= 2);
    const auto b0 = static_cast<std::uint8_t>(s[0]);
    const auto b1 = static_cast<std::uint8_t>(s[1]);
    check((b0 & 0xF0) == 0x80 && (b1 & 0x80) == 0);  // FIN, no RSV, unmasked
    std::size_t len = b1 & 0x7F;
    std::size_t hdr = 2;
    if (len == 126) {
      check(s.size() >= 4);
      len = (static_cast<std::size_t>(static_cast<std::uint8_t>(s[2])) << 8) |
            static_cast<std::uint8_t>(s[3]);
      hdr = 4;
    } else if (len == 127) {
      check(s.size() >= 10);
      len = 0;
      for (int i = 2; i < 10; ++i) len = (len << 8) | static_cast<std::uint8_t>(s[i]);
      hdr = 10;
    }
    check(s.size() - hdr >= len);
    if ((b0 & 0x0F) == 0x2) payloads.append(s.substr(hdr, len));
    s.remove_prefix(hdr + len);
  }
  return true;
}

void run(std::uint8_t cfg, std::string_view body) {
  const unsigned stack = cfg & 3;
  const unsigned mode = (cfg >> 2) & 3;
  const bool tls12 = (cfg & 0x10) != 0;
  const bool framed = (cfg & 0x20) != 0;
  constexpr std::size_t kChunks[] = {0, 1, 7, 100};
  const std::size_t chunk = kChunks[cfg >> 6];
  const bool with_tls = stack != 1;
  const bool with_ws = stack != 0;
  Server srv(with_tls, with_ws, tls12 ? 256 : 268435460);

  // What goes into the WebSocket layer first (plaintext): a valid upgrade unless the
  // input carries its own.
  const bool upgrade_first =
      with_ws && (framed || (stack == 1 && mode != 0) || stack == 2);
  // Application data for the layer below MQTT, chunked (and framed when asked).
  auto app_pieces = [&](std::string_view data) {
    std::vector<std::string> v;
    for (std::string_view c : chunks(data, chunk)) {
      v.emplace_back(with_ws && framed ? frame(0x82, c) : std::string(c));
    }
    return v;
  };

  if (!with_tls) {
    std::string out;
    if (upgrade_first) out += srv.feed(kUpgrade);
    for (const auto& p : app_pieces(body)) out += srv.feed(p);
    out += srv.close();
    std::string payloads;
    if (ws_payloads(out, payloads)) check(payloads == srv.wrapped());
    return;
  }

  if (mode == 0) {
    // A random handshake: nothing may come through.
    for (std::string_view c : chunks(body, chunk)) srv.feed(c);
    srv.close();
    return;
  }

  Client client(tls12);
  // Moves bytes both ways until nothing moves; client->server bytes in chunks.
  auto pump = [&] {
    for (int round = 0; round < 64; ++round) {
      client.step();
      const std::string to_server = client.take_output();
      std::string to_client;
      for (std::string_view c : chunks(to_server, chunk)) to_client += srv.feed(c);
      client.put_input(to_client);
      if (to_server.empty() && to_client.empty()) return;
    }
    check(false);  // did not settle
  };
  pump();
  // A real client always gets through: both backends must accept it.
  check(client.done() && !client.failed());
  check(srv.layers().tls_handshake_done());
  check(!srv.layers().description().empty());

  if (upgrade_first) {
    client.write(kUpgrade);
    pump();
  }
  const std::size_t split = mode == 1 ? body.size() : mode == 2 ? 0 : body.size() / 2;
  for (const auto& p : app_pieces(body.substr(0, split))) {
    client.write(p);
    pump();
  }
  for (std::string_view c : chunks(body.substr(split), chunk)) {
    client.put_input(srv.feed(c));
    client.step();
  }
  client.put_input(srv.close());
  client.step();

  if (srv.tls_failed()) return;  // the client may have stopped at the alert
  check(!client.failed());
  if (!with_ws) {
    check(client.received() == srv.wrapped());
  } else {
    std::string payloads;
    if (ws_payloads(client.received(), payloads)) check(payloads == srv.wrapped());
  }
}

}  // namespace

// Seeds for the standalone driver (libFuzzer ignores this function).
std::vector<std::string> tern_fuzz_seeds() {
  using namespace std::literals;
  const std::string connect5("\x10\x0d\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x00"sv);
  const std::string connect4("\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"sv);
  const std::string publish("\x30\x08\x00\x03" "a/b\x00hi"sv);
  const std::string session = connect5 + publish + "\x82\x09\x00\x01\x00\x00\x03" "a/b\x00"s +
                              "\xc0\x00\xe0\x00"s;
  const std::string session4 = connect4 + "\x32\x08\x00\x03" "a/b\x00\x07x"s + "\xc0\x00"s;
  std::vector<std::string> seeds;
  for (int cfg = 0; cfg < 256; cfg += 5) {
    std::string s(1, static_cast<char>(cfg));
    const unsigned stack = cfg & 3;
    const bool raw_ws = stack == 3 || (stack == 1 && ((cfg >> 2) & 3) == 0);
    if (raw_ws && (cfg & 0x20) == 0) s += kUpgrade;
    if (stack != 0 && (cfg & 0x20) == 0) {
      s += frame(0x82, cfg & 1 ? session : session4);
      s += frame(0x89, "ping");
    } else {
      s += cfg & 1 ? session : session4;
    }
    seeds.push_back(std::move(s));
  }
  // A malformed packet, a packet split across frames, a close frame.
  seeds.push_back("\x04"s + "\x10\x03\x00\x04M"s);
  seeds.push_back("\x06"s + frame(0x02, connect5.substr(0, 5)) + frame(0x80, connect5.substr(5)) +
                  frame(0x88, "\x03\xe8"sv));
  // A TLS 1.2 ClientHello fragment for the raw modes.
  seeds.push_back("\x00\x16\x03\x01\x00\x2f\x01\x00\x00\x2b\x03\x03"s + std::string(32, 'r') +
                  "\x00\x00\x02\x00\x2f\x01\x00"s);
  return seeds;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  run(data[0], std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  return 0;
}
