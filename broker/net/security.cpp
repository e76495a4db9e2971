// net::Server's security wiring: TLS contexts per listener (and their replacement), the
// transport layers of new connections, the authenticator used for CONNECTs, the access
// policy handed to core, and the connect rate limit.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "broker/net/connection.hpp"
#include "broker/net/layers.hpp"
#include "broker/net/server_impl.hpp"

namespace tern::net {

std::shared_ptr<const auth::Authenticator> Engine::current_authenticator() const {
  std::lock_guard<std::mutex> lk(sec_mu);
  return authenticator;
}

void Engine::set_authenticator(std::shared_ptr<const auth::Authenticator> a) {
  std::lock_guard<std::mutex> lk(sec_mu);
  authenticator = std::move(a);
}

bool Engine::create_tls_contexts(std::string& error) {
  for (auto& l : listeners) {
#if !TERN_WITH_WEBSOCKET
    // app refuses such a config first; this covers options built in code.
    if (l->opts.transport == ListenerTransport::WebSocket) {
      error = "listener " + l->opts.name + ": built without WebSocket (TERN_WITH_WEBSOCKET=OFF)";
      return false;
    }
#endif
    if (!l->opts.tls) continue;
    std::string err;
    auto ctx = tls::ServerContext::create(*l->opts.tls, err);
    if (!ctx) {
      error = "listener " + l->opts.name + ": " + err;
      return false;
    }
    l->set_tls_context(std::move(ctx));
  }
  return true;
}

std::unique_ptr<TransportLayers> Engine::make_layers(const Listener& l) {
  const bool ws = l.opts.transport == ListenerTransport::WebSocket;
  std::shared_ptr<const tls::ServerContext> ctx = l.tls_context();
  if (!ctx && !ws) return nullptr;
  std::unique_ptr<tls::Session> t = ctx ? ctx->new_session() : nullptr;
  std::unique_ptr<WebSocketLayer> w;
#if TERN_WITH_WEBSOCKET
  if (ws) {
    ws::Options o;
    o.path = l.opts.ws_path;
    // A WebSocket message carries at most one full MQTT packet plus framing slack; the
    // codec enforces max_packet_size itself.
    o.max_message_bytes = std::max<std::size_t>(max_packet_size, 64) + 16;
    w = std::make_unique<ws::ServerSession>(std::move(o));
  }
#endif
  return std::make_unique<TransportLayers>(std::move(t), std::move(w));
}

bool Engine::take_connect_token(core::Time now) {
  const double rate = opts.connect_rate;
  if (rate <= 0) return true;
  // A bucket holding one second's worth (at least one), full at start.
  const double cap = std::max(1.0, rate);
  if (connect_refilled == core::Time{}) {
    connect_tokens = cap;
  } else {
    const double secs = std::chrono::duration<double>(now - connect_refilled).count();
    connect_tokens = std::min(cap, connect_tokens + secs * rate);
  }
  connect_refilled = now;
  if (connect_tokens < 1.0) return false;
  connect_tokens -= 1.0;
  return true;
}

void Server::set_security(std::shared_ptr<const auth::Authenticator> authenticator,
                          std::shared_ptr<const core::AccessPolicy> access_policy) {
  Impl& s = *impl_;
  s.set_authenticator(std::move(authenticator));
  auto lk = s.lock();
  s.broker.set_access_policy(std::move(access_policy));
}

bool Server::set_tls(const std::string& name, const tls::ServerOptions& opts,
                     std::string& error) {
  Impl& s = *impl_;
  for (auto& l : s.listeners) {
    if (l->opts.name != name) continue;
    if (!l->opts.tls) {
      error = "listener " + name + " has no TLS";
      return false;
    }
    std::string err;
    auto ctx = tls::ServerContext::create(opts, err);
    if (!ctx) {
      error = "listener " + name + ": " + err;
      return false;
    }
    l->set_tls_context(std::move(ctx));
    return true;
  }
  error = "no listener named " + name;
  return false;
}

}  // namespace tern::net
