// Client-side transports for the security tests, under a RawClient or used bare: a plain
// loopback socket, an OpenSSL TLS client (what a handshake failure looked like from the
// client's side) and a WebSocket client (HTTP upgrade, masked frames, and deliberately
// malformed ones). Each layer owns its socket (or the layer below it).
// Thread safety: one thread per object.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/integration/harness/raw_client.hpp"

namespace tern::it {

// ---------------------------------------------------------------- plain TCP

// A connected loopback socket as a ByteLayer. REQUIREs that connect() succeeds.
std::unique_ptr<ByteLayer> tcp_connect(std::uint16_t port);

// ---------------------------------------------------------------- TLS

struct TlsClientOptions {
  std::string ca;    // PEM file the server must chain to; empty: no verification at all
  std::string cert;  // client certificate (chain) for mutual TLS; empty: none
  std::string key;
  std::string server_name = "localhost";  // SNI and the name checked in the certificate
  bool tls12_only = false;                // cap the client at TLS 1.2
};

struct TlsConnect {
  std::unique_ptr<ByteLayer> layer;  // set when the handshake finished
  std::string error;                 // why not: OpenSSL's error queue and verify result
  std::string version;               // negotiated, e.g. "TLSv1.3"
  std::string peer_subject;          // the server certificate's subject and issuer (one line)
  std::string peer_issuer;
};

// TCP connect to 127.0.0.1:`port` and a TLS handshake within `timeout`.
TlsConnect tls_connect(std::uint16_t port, const TlsClientOptions& opts,
                       Millis timeout = Millis(5000));

// What a TLS client got when it tried to become an MQTT client: the handshake, then a
// v5 CONNECT. With TLS 1.3 a server that rejects the client's certificate does so after
// the client's side of the handshake finished, so "refused" means: no CONNACK arrived.
struct MqttsAttempt {
  bool handshake_ok = false;
  bool connack = false;             // a CONNACK arrived
  std::uint8_t reason_code = 0xff;  // its code
  std::string error;                // the handshake error, or what happened instead
};
MqttsAttempt try_mqtts(std::uint16_t port, const TlsClientOptions& opts,
                       const std::string& client_id);

// ---------------------------------------------------------------- WebSocket

struct WsClientOptions {
  std::string path = "/mqtt";
  std::string protocol = "mqtt";  // Sec-WebSocket-Protocol; empty: header left out
  std::string host = "127.0.0.1";
};

// A WebSocket client over a transport, after a successful upgrade. As a ByteLayer each
// send() is one masked binary frame; read() yields the payload of data frames, answers
// pings, and records the close frame it got. Frames built by hand go through send_frame().
class WsLayer final : public ByteLayer {
 public:
  struct Frame {
    std::uint8_t opcode = 0;
    bool fin = true;
    bool masked = false;  // a server frame must never be (RFC 6455 5.1)
    std::string payload;
  };

  WsLayer(std::unique_ptr<ByteLayer> below, std::string leftover);

  void send(std::string_view bytes) override;
  RecvStatus read(std::string& out, Millis timeout) override;
  void shutdown_write() override;

  // One frame as given: any opcode, FIN or not, masked with a fixed key or not.
  void send_frame(std::uint8_t opcode, std::string_view payload, bool fin = true,
                  bool masked = true);
  // Bytes straight to the transport (a hand-made or truncated frame header).
  void send_raw(std::string_view bytes) { below_->send(bytes); }
  // Reads until the transport closes; false if it is still open after `timeout`.
  bool wait_closed(Millis timeout);

  const std::vector<Frame>& control_frames() const { return control_; }  // in order
  // The status code of the server's close frame, if one arrived (0: one without a code).
  std::optional<std::uint16_t> close_code() const { return close_code_; }
  bool transport_closed() const { return closed_; }
  // A summary of odd server behaviour (masked frames, bad headers); empty if none.
  const std::string& violations() const { return violations_; }

 private:
  bool parse(std::string& out);  // frames in in_; false when it needs more
  std::unique_ptr<ByteLayer> below_;
  std::string in_;
  bool closed_ = false;
  bool close_sent_ = false;
  std::optional<std::uint16_t> close_code_;
  std::vector<Frame> control_;
  std::string violations_;
};

struct WsConnect {
  std::unique_ptr<WsLayer> layer;  // set when the server answered 101 correctly
  int status = 0;                  // HTTP status; 0 when none arrived
  std::string response;            // the response head (and body, on refusal)
  std::string error;
  bool closed_after = false;       // refusal: the server closed the connection after it
};

// Sends the HTTP upgrade request over `below` and reads the answer. A 101 is checked
// (Upgrade, Sec-WebSocket-Accept for our key, Sec-WebSocket-Protocol: mqtt when asked,
// [MQTT-6.0.0-3]); any problem goes to `error` with layer unset.
WsConnect ws_connect(std::unique_ptr<ByteLayer> below, const WsClientOptions& opts,
                     Millis timeout = Millis(5000));

}  // namespace tern::it
