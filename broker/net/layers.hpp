// The optional transport layers of one connection between its socket and the MQTT codec:
// TLS (tls::Session) and WebSocket framing (ws::ServerSession), each sans-IO. Wire bytes
// go in and MQTT bytes come out; MQTT bytes go in and wire bytes come out, together with
// what the layers produce on their own (TLS handshake records and alerts, the WebSocket
// upgrade answer, pongs, close frames).
// Thread safety: none; owned by one Connection, used on its loop thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "broker/tls/tls.hpp"
#if TERN_WITH_WEBSOCKET
#include "broker/ws/websocket.hpp"
#endif

namespace tern::net {

#if TERN_WITH_WEBSOCKET
using WebSocketLayer = ws::ServerSession;
#else
// Built without WebSocket (TERN_WITH_WEBSOCKET=OFF): the layer is never made, and none of
// broker/ws is linked into the broker.
struct WebSocketLayer {};
#endif

class TransportLayers {
 public:
  // Either may be null (plain WebSocket, or TLS without WebSocket), not both.
  TransportLayers(std::unique_ptr<tls::Session> tls, std::unique_ptr<WebSocketLayer> ws);

  enum class Input : std::uint8_t {
    Ok,
    PeerClosed,  // TLS close_notify or a WebSocket close frame: end of input
    TlsFailed,   // handshake or record error; error() says why
    WsFailed,    // bad upgrade request or frame; error() says why
  };
  // Wire bytes read from the socket; the MQTT bytes they carry are appended to `app`.
  // After anything but Ok the caller stops reading and closes once output is flushed.
  // `scratch` holds TLS plaintext on its way to the WebSocket layer (a loop-wide buffer).
  Input unwrap(std::string_view wire, std::string& app, std::string& scratch);
  // Moves the MQTT bytes of `app` (cleared) through the layers and appends everything the
  // layers have to send to `wire`.
  void wrap(std::string& app, std::string& wire);
  // Bytes produced inside the layers and not yet taken by wrap().
  std::size_t pending() const;
  // Begins an orderly close: the MQTT bytes of `app` (cleared) first, then a WebSocket
  // close frame (1000) and TLS close_notify; take the result with wrap().
  void close(std::string& app);
  void close() {
    std::string none;
    close(none);
  }

  bool tls_handshake_done() const { return !tls_ || tls_->handshake_done(); }
  std::optional<std::string> peer_common_name() const;
  const std::string& error() const { return error_; }
  // "TLSv1.3 ..." / "WebSocket" for the log line of a connected client.
  std::string description() const;

 private:
  static void move_out(std::string& from, std::string& to);

  std::unique_ptr<tls::Session> tls_;
  std::unique_ptr<WebSocketLayer> ws_;
  std::string error_;
  bool closed_ = false;
};

}  // namespace tern::net
