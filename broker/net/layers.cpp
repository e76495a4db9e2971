#include "broker/net/layers.hpp"

#include <utility>

namespace tern::net {

// Each use of ws_ is compiled only with WebSocket support: without it ws_ is always null
// and the broker links none of broker/ws.

TransportLayers::TransportLayers(std::unique_ptr<tls::Session> tls,
                                 std::unique_ptr<WebSocketLayer> ws)
    : tls_(std::move(tls)), ws_(std::move(ws)) {}

TransportLayers::Input TransportLayers::unwrap(std::string_view wire, std::string& app,
                                               std::string& scratch) {
  std::string_view data = wire;
  if (tls_) {
    // Without WebSocket the plaintext is MQTT: decrypt straight into `app`.
    scratch.clear();
    std::string& out = ws_ ? scratch : app;
    if (!tls_->feed(wire, out)) {
      error_ = tls_->error();
      return Input::TlsFailed;
    }
    if (!ws_) return tls_->peer_closed() ? Input::PeerClosed : Input::Ok;
    data = scratch;
  }
#if TERN_WITH_WEBSOCKET
  const bool ok = ws_->feed(data, app);
  if (!ok) {
    if (ws_->peer_closed()) return Input::PeerClosed;
    if (ws_->state() == ws::State::Failed) {
      error_ = ws_->error();
      return Input::WsFailed;
    }
    return Input::PeerClosed;  // we closed it earlier; nothing more to read
  }
  if (tls_ && tls_->peer_closed()) return Input::PeerClosed;
  return Input::Ok;
#else
  (void)data;
  return Input::Ok;  // unreachable: a TransportLayers without WebSocket always has TLS
#endif
}

void TransportLayers::wrap(std::string& app, std::string& wire) {
#if TERN_WITH_WEBSOCKET
  if (ws_) {
    if (!app.empty()) ws_->write(app);
    app.clear();
    std::string& framed = ws_->output();
    if (tls_) {
      if (!framed.empty()) tls_->write(framed);
      framed.clear();
    } else {
      move_out(framed, wire);
      return;
    }
  } else if (!app.empty()) {
#else
  if (!app.empty()) {
#endif
    tls_->write(app);
    app.clear();
  }
  move_out(tls_->output(), wire);
}

void TransportLayers::move_out(std::string& from, std::string& to) {
  if (to.empty()) {
    // The common case (no write in flight): hand the buffer over instead of copying, and
    // leave `from` without capacity, so an idle connection keeps no layer buffer.
    to.swap(from);
    std::string().swap(from);
  } else {
    to.append(from);
    std::string().swap(from);
  }
}

std::size_t TransportLayers::pending() const {
  std::size_t n = 0;
#if TERN_WITH_WEBSOCKET
  if (ws_) n += ws_->output().size();
#endif
  if (tls_) n += tls_->output().size();
  return n;
}

void TransportLayers::close(std::string& app) {
  if (closed_) return;
  // What core queued before closing (a refusing CONNACK, a DISCONNECT with its reason)
  // must go out ahead of the close frame and close_notify.
  if (!app.empty()) {
#if TERN_WITH_WEBSOCKET
    if (ws_) {
      ws_->write(app);
    } else {
      tls_->write(app);
    }
#else
    tls_->write(app);
#endif
    app.clear();
  }
  closed_ = true;
#if TERN_WITH_WEBSOCKET
  if (ws_ && ws_->open()) ws_->close(1000);
  // The close frame must be encrypted before close_notify ends the TLS stream.
  if (ws_ && tls_) {
    std::string& framed = ws_->output();
    if (!framed.empty()) tls_->write(framed);
    framed.clear();
  }
#endif
  if (tls_ && tls_->handshake_done()) tls_->close();
}

std::optional<std::string> TransportLayers::peer_common_name() const {
  return tls_ ? tls_->peer_common_name() : std::nullopt;
}

std::string TransportLayers::description() const {
  std::string d = tls_ ? tls_->description() : std::string();
  if (ws_) d += d.empty() ? "WebSocket" : ", WebSocket";
  return d;
}

}  // namespace tern::net
