#include "tests/integration/harness/secure.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

namespace tern::it {
namespace {

using Clock = std::chrono::steady_clock;

Millis left_until(Clock::time_point deadline) {
  return std::max(Millis(0),
                  std::chrono::duration_cast<Millis>(deadline - Clock::now()));
}

// poll() one fd for `events` up to `timeout`; true when ready (or in error: the next
// read or write reports it).
bool wait_fd(int fd, short events, Millis timeout) {
  pollfd p{fd, events, 0};
  int rc;
  do {
    rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
  } while (rc < 0 && errno == EINTR);
  return rc > 0;
}

// ---------------------------------------------------------------- plain TCP

class TcpLayer final : public ByteLayer {
 public:
  explicit TcpLayer(int fd) : fd_(fd) {}
  ~TcpLayer() override { ::close(fd_); }
  TcpLayer(const TcpLayer&) = delete;
  TcpLayer& operator=(const TcpLayer&) = delete;

  void send(std::string_view bytes) override {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return;
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  RecvStatus read(std::string& out, Millis timeout) override {
    if (closed_) return RecvStatus::Closed;
    if (!wait_fd(fd_, POLLIN, timeout)) return RecvStatus::Timeout;
    char buf[16384];
    ssize_t n;
    do {
      n = ::recv(fd_, buf, sizeof buf, 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
      closed_ = true;
      return RecvStatus::Closed;
    }
    out.append(buf, static_cast<std::size_t>(n));
    return RecvStatus::Packet;
  }

  void shutdown_write() override { ::shutdown(fd_, SHUT_WR); }

 private:
  int fd_;
  bool closed_ = false;
};

// ---------------------------------------------------------------- TLS

std::string openssl_errors() {
  std::string s;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    s += (s.empty() ? "" : "; ") + std::string(buf);
  }
  return s;
}

std::string name_line(X509_NAME* n) {
  if (n == nullptr) return {};
  char buf[512];
  X509_NAME_oneline(n, buf, sizeof buf);
  return buf;
}

class TlsLayer final : public ByteLayer {
 public:
  TlsLayer(int fd, SSL_CTX* ctx, SSL* ssl) : fd_(fd), ctx_(ctx), ssl_(ssl) {}
  ~TlsLayer() override {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
    ::close(fd_);
  }
  TlsLayer(const TlsLayer&) = delete;
  TlsLayer& operator=(const TlsLayer&) = delete;

  // Non-blocking handshake within `timeout`; empty on success, else the reason.
  std::string handshake(Millis timeout) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
      ERR_clear_error();
      const int rc = SSL_connect(ssl_);
      if (rc == 1) return {};
      const int err = SSL_get_error(ssl_, rc);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        if (!wait_fd(fd_, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                     left_until(deadline))) {
          return "handshake timed out";
        }
        continue;
      }
      std::string why = "SSL_connect error " + std::to_string(err);
      if (const long v = SSL_get_verify_result(ssl_); v != X509_V_OK) {
        why += ", verify: " + std::string(X509_verify_cert_error_string(v));
      }
      if (std::string q = openssl_errors(); !q.empty()) why += ", " + q;
      if (err == SSL_ERROR_SYSCALL) why += " (connection closed or reset)";
      return why;
    }
  }

  SSL* ssl() { return ssl_; }

  void send(std::string_view bytes) override {
    const auto deadline = Clock::now() + Millis(5000);
    while (!bytes.empty() && !failed_) {
      ERR_clear_error();
      const int n = SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()));
      if (n > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      const int err = SSL_get_error(ssl_, n);
      if ((err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) &&
          wait_fd(fd_, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, left_until(deadline))) {
        continue;
      }
      failed_ = true;  // a read reports the close
    }
  }

  RecvStatus read(std::string& out, Millis timeout) override {
    if (closed_) return RecvStatus::Closed;
    const auto deadline = Clock::now() + timeout;
    bool got = false;
    while (true) {
      char buf[16384];
      ERR_clear_error();
      const int n = SSL_read(ssl_, buf, sizeof buf);
      if (n > 0) {
        out.append(buf, static_cast<std::size_t>(n));
        got = true;
        continue;  // take all that is already decryptable
      }
      const int err = SSL_get_error(ssl_, n);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        if (got) return RecvStatus::Packet;
        if (!wait_fd(fd_, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                     left_until(deadline))) {
          return RecvStatus::Timeout;
        }
        continue;
      }
      // close_notify, an alert, EOF or reset: the connection is over.
      last_error_ = "SSL_read error " + std::to_string(err) + " " + openssl_errors();
      closed_ = true;
      return got ? RecvStatus::Packet : RecvStatus::Closed;
    }
  }

  void shutdown_write() override {
    SSL_shutdown(ssl_);  // close_notify; the answer is not awaited here
    ::shutdown(fd_, SHUT_WR);
  }

  const std::string& last_error() const { return last_error_; }

 private:
  int fd_;
  SSL_CTX* ctx_;
  SSL* ssl_;
  bool closed_ = false;
  bool failed_ = false;
  std::string last_error_;
};

// ---------------------------------------------------------------- WebSocket helpers

// The RFC 6455 section 1.3 example: its accept value is known, so no SHA-1 is needed here.
constexpr const char* kWsKey = "dGhlIHNhbXBsZSBub25jZQ==";
constexpr const char* kWsAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The value of header `name` in an HTTP head (case-insensitive name), trimmed.
std::optional<std::string> header(const std::string& head, const std::string& name) {
  const std::string l = lower(head);
  const std::string needle = "\r\n" + lower(name) + ":";
  const auto at = l.find(needle);
  if (at == std::string::npos) return std::nullopt;
  const auto start = at + needle.size();
  const auto end = head.find("\r\n", start);
  std::string v = head.substr(start, end - start);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(0, 1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
  return v;
}

}  // namespace

std::unique_ptr<ByteLayer> tcp_connect(std::uint16_t port) {
  return std::make_unique<TcpLayer>(connect_loopback(port));
}

TlsConnect tls_connect(std::uint16_t port, const TlsClientOptions& opts, Millis timeout) {
  TlsConnect r;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  REQUIRE(ctx != nullptr);
  if (opts.tls12_only) SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
  if (!opts.ca.empty()) {
    REQUIRE(SSL_CTX_load_verify_locations(ctx, opts.ca.c_str(), nullptr) == 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  if (!opts.cert.empty()) {
    INFO("client certificate " << opts.cert);
    REQUIRE(SSL_CTX_use_certificate_chain_file(ctx, opts.cert.c_str()) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey_file(ctx, opts.key.c_str(), SSL_FILETYPE_PEM) == 1);
  }
  SSL* ssl = SSL_new(ctx);
  REQUIRE(ssl != nullptr);
  if (!opts.server_name.empty()) {
    SSL_set_tlsext_host_name(ssl, opts.server_name.c_str());
    if (!opts.ca.empty()) SSL_set1_host(ssl, opts.server_name.c_str());
  }
  const int fd = connect_loopback(port);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  SSL_set_fd(ssl, fd);
  auto layer = std::make_unique<TlsLayer>(fd, ctx, ssl);
  r.error = layer->handshake(timeout);
  if (!r.error.empty()) return r;
  r.version = SSL_get_version(layer->ssl());
  if (X509* peer = SSL_get1_peer_certificate(layer->ssl())) {
    r.peer_subject = name_line(X509_get_subject_name(peer));
    r.peer_issuer = name_line(X509_get_issuer_name(peer));
    X509_free(peer);
  }
  r.layer = std::move(layer);
  return r;
}

MqttsAttempt try_mqtts(std::uint16_t port, const TlsClientOptions& opts,
                       const std::string& client_id) {
  MqttsAttempt a;
  TlsConnect t = tls_connect(port, opts);
  if (!t.layer) {
    a.error = t.error;
    return a;
  }
  a.handshake_ok = true;
  auto* tls = static_cast<TlsLayer*>(t.layer.get());
  RawClient c(std::move(t.layer), codec::ProtocolVersion::v5);
  codec::Connect con;
  con.client_id = client_id;
  con.version = codec::ProtocolVersion::v5;
  c.send(con);
  const RecvStatus st = c.recv(Millis(5000));
  if (st == RecvStatus::Packet) {
    if (const auto* ack = std::get_if<codec::Connack>(&c.last_packet())) {
      a.connack = true;
      a.reason_code = ack->reason_code;
      return a;
    }
    a.error = "got " + describe(c.last_packet()) + " instead of CONNACK";
    return a;
  }
  a.error = std::string("no CONNACK: ") + to_string(st) + " " + tls->last_error();
  return a;
}

// ---------------------------------------------------------------- WsLayer

WsLayer::WsLayer(std::unique_ptr<ByteLayer> below, std::string leftover)
    : below_(std::move(below)), in_(std::move(leftover)) {}

void WsLayer::send_frame(std::uint8_t opcode, std::string_view payload, bool fin,
                         bool masked) {
  std::string f;
  f.push_back(static_cast<char>((fin ? 0x80 : 0) | (opcode & 0x0f)));
  const std::uint8_t mask_bit = masked ? 0x80 : 0;
  const std::size_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(mask_bit | n));
  } else if (n <= 0xffff) {
    f.push_back(static_cast<char>(mask_bit | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xff));
  } else {
    f.push_back(static_cast<char>(mask_bit | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  }
  // A fixed, non-zero key: a test wants reproducible bytes, the server must unmask anyway.
  static constexpr std::uint8_t kKey[4] = {0x37, 0xfa, 0x21, 0x3d};
  if (masked) f.append(reinterpret_cast<const char*>(kKey), 4);
  const std::size_t at = f.size();
  f.append(payload);
  if (masked) {
    for (std::size_t i = 0; i < n; ++i) f[at + i] = static_cast<char>(f[at + i] ^ kKey[i % 4]);
  }
  below_->send(f);
}

void WsLayer::send(std::string_view bytes) { send_frame(0x2, bytes); }

void WsLayer::shutdown_write() {
  if (!close_sent_) {
    close_sent_ = true;
    send_frame(0x8, std::string("\x03\xe8", 2));  // 1000 normal closure
  }
  below_->shutdown_write();
}

bool WsLayer::parse(std::string& out) {
  if (in_.size() < 2) return false;
  const auto b0 = static_cast<std::uint8_t>(in_[0]);
  const auto b1 = static_cast<std::uint8_t>(in_[1]);
  std::size_t pos = 2;
  std::uint64_t len = b1 & 0x7f;
  if (len == 126) {
    if (in_.size() < 4) return false;
    len = (std::uint64_t(static_cast<std::uint8_t>(in_[2])) << 8) |
          static_cast<std::uint8_t>(in_[3]);
    pos = 4;
  } else if (len == 127) {
    if (in_.size() < 10) return false;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<std::uint8_t>(in_[2 + i]);
    pos = 10;
  }
  Frame f;
  f.fin = (b0 & 0x80) != 0;
  f.opcode = b0 & 0x0f;
  f.masked = (b1 & 0x80) != 0;
  std::uint8_t key[4] = {};
  if (f.masked) {
    if (in_.size() < pos + 4) return false;
    std::memcpy(key, in_.data() + pos, 4);
    pos += 4;
    violations_ += "[masked server frame, RFC 6455 5.1]";
  }
  if ((b0 & 0x70) != 0) violations_ += "[RSV bits set]";
  if (in_.size() < pos + len) return false;
  f.payload = in_.substr(pos, static_cast<std::size_t>(len));
  if (f.masked) {
    for (std::size_t i = 0; i < f.payload.size(); ++i) {
      f.payload[i] = static_cast<char>(f.payload[i] ^ key[i % 4]);
    }
  }
  in_.erase(0, pos + static_cast<std::size_t>(len));
  if (f.opcode == 0x0 || f.opcode == 0x2) {
    out += f.payload;
  } else if (f.opcode == 0x1) {
    violations_ += "[text frame from the server]";
  } else {
    if (f.opcode == 0x8) {
      close_code_ = f.payload.size() >= 2
                        ? static_cast<std::uint16_t>(
                              (static_cast<std::uint8_t>(f.payload[0]) << 8) |
                              static_cast<std::uint8_t>(f.payload[1]))
                        : 0;
    } else if (f.opcode == 0x9 && !close_sent_) {
      send_frame(0xA, f.payload);  // pong with the ping's payload
    }
    control_.push_back(std::move(f));
  }
  return true;
}

RecvStatus WsLayer::read(std::string& out, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  const std::size_t before = out.size();
  while (true) {
    while (parse(out)) {
    }
    if (out.size() > before) return RecvStatus::Packet;
    if (closed_) return RecvStatus::Closed;
    const RecvStatus st = below_->read(in_, left_until(deadline));
    if (st == RecvStatus::Closed) {
      closed_ = true;
      continue;  // parse what came with the close
    }
    if (st == RecvStatus::Timeout) return st;
  }
}

bool WsLayer::wait_closed(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string sink;
  while (!closed_) {
    if (read(sink, left_until(deadline)) == RecvStatus::Timeout) return false;
  }
  while (parse(sink)) {
  }
  return true;
}

WsConnect ws_connect(std::unique_ptr<ByteLayer> below, const WsClientOptions& opts,
                     Millis timeout) {
  WsConnect r;
  std::string req = "GET " + opts.path + " HTTP/1.1\r\nHost: " + opts.host +
                    "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
                    kWsKey + "\r\nSec-WebSocket-Version: 13\r\n";
  if (!opts.protocol.empty()) req += "Sec-WebSocket-Protocol: " + opts.protocol + "\r\n";
  req += "\r\n";
  below->send(req);
  const auto deadline = Clock::now() + timeout;
  std::string in;
  std::size_t end;
  while ((end = in.find("\r\n\r\n")) == std::string::npos) {
    const RecvStatus st = below->read(in, left_until(deadline));
    if (st == RecvStatus::Timeout) {
      r.response = in;
      r.error = "no complete HTTP response within the timeout";
      return r;
    }
    if (st == RecvStatus::Closed) {
      r.response = in;
      r.closed_after = true;
      r.error = "closed before a complete HTTP response";
      if (in.rfind("HTTP/1.1 ", 0) == 0 && in.size() >= 12) r.status = std::atoi(in.c_str() + 9);
      return r;
    }
  }
  const std::string head = in.substr(0, end + 2);  // keep the last "\r\n" for header()
  std::string rest = in.substr(end + 4);
  r.response = in;
  if (head.rfind("HTTP/1.1 ", 0) != 0 || head.size() < 12) {
    r.error = "not an HTTP/1.1 response";
    return r;
  }
  r.status = std::atoi(head.c_str() + 9);
  if (r.status != 101) {
    // A refusal: read the body (if any) until the server closes.
    while (true) {
      const RecvStatus st = below->read(rest, left_until(deadline));
      if (st == RecvStatus::Closed) {
        r.closed_after = true;
        break;
      }
      if (st == RecvStatus::Timeout) break;
    }
    r.response = head + "\r\n" + rest;
    r.error = "HTTP status " + std::to_string(r.status);
    return r;
  }
  if (lower(header(head, "Upgrade").value_or("")) != "websocket") {
    r.error = "101 without Upgrade: websocket";
  } else if (header(head, "Sec-WebSocket-Accept").value_or("") != kWsAccept) {
    r.error = "wrong Sec-WebSocket-Accept (RFC 6455 4.2.2)";
  } else if (!opts.protocol.empty() && header(head, "Sec-WebSocket-Protocol") != "mqtt") {
    r.error = "101 without Sec-WebSocket-Protocol: mqtt [MQTT-6.0.0-4]";
  }
  if (!r.error.empty()) return r;
  r.layer = std::make_unique<WsLayer>(std::move(below), std::move(rest));
  return r;
}

}  // namespace tern::it
