// Internal clients (bridges): connections without a socket. Their packets enter core on
// loop 0 like a network client's; core's actions for them are handed to the client
// (InternalClient::on_actions), which runs them on its own thread.
#include <spdlog/spdlog.h>

#include <utility>

#include "broker/net/server_impl.hpp"

namespace tern::net {

void Engine::internal_open(core::ConnId id, std::shared_ptr<InternalClient> client,
                           core::InternalSessionOptions o) {
  on_loop0([&] {
    if (stopping) {
      // Too late: tell the client it is closed, as core would.
      std::vector<core::Action> closed;
      closed.emplace_back(core::CloseConnection{id});
      client->on_actions(id, std::move(closed));
      return false;
    }
    internal.emplace(id, std::move(client));
    broker.on_open_internal(id, core::Clock::now(), std::move(o));
    return true;
  });
}

void Engine::internal_packet(core::ConnId id, codec::Packet&& p) {
  on_loop0([&] {
    if (!internal.count(id)) return false;  // closed meanwhile
    broker.on_packet(id, std::move(p), core::Clock::now());
    return true;
  });
}

void Engine::internal_close(core::ConnId id) {
  on_loop0([&] {
    if (!internal.count(id)) return false;
    broker.on_closed(id, core::Clock::now());
    // The client closed it: core sends nothing more to it (on_closed only publishes its
    // will to others), so it is forgotten before the drain.
    internal.erase(id);
    return true;
  });
}

bool Engine::route_internal(core::ConnId id, core::Action& a) {
  if (!internal.count(id)) return false;
  if (internal_out.empty() || internal_out.back().first != id) {
    internal_out.emplace_back(id, std::vector<core::Action>{});
  }
  if (std::holds_alternative<core::CloseConnection>(a)) internal_closing.push_back(id);
  internal_out.back().second.push_back(std::move(a));
  return true;
}

void Engine::flush_internal() {
  for (auto& [id, acts] : internal_out) {
    auto it = internal.find(id);
    if (it != internal.end()) it->second->on_actions(id, std::move(acts));
  }
  internal_out.clear();
  // Core closed these (takeover, shutdown, protocol error): report the close back to core
  // as net does for sockets, so the session detaches; the client has been told.
  for (core::ConnId id : internal_closing) {
    if (!internal.count(id)) continue;
    asio::post(loops[0]->ctx, [this, id] { internal_close(id); });
  }
  internal_closing.clear();
}

// ---------------------------------------------------------------- Server

core::ConnId Server::open_internal(std::shared_ptr<InternalClient> client,
                                   core::InternalSessionOptions opts) {
  Engine& e = *impl_;
  const core::ConnId id =
      Engine::kInternalBit | e.next_internal.fetch_add(1, std::memory_order_relaxed);
  asio::post(e.loops[0]->ctx, [&e, id, c = std::move(client), o = std::move(opts)]() mutable {
    e.internal_open(id, std::move(c), std::move(o));
  });
  return id;
}

void Server::internal_packet(core::ConnId conn, codec::Packet&& packet) {
  Engine& e = *impl_;
  asio::post(e.loops[0]->ctx, [&e, conn, p = std::move(packet)]() mutable {
    e.internal_packet(conn, std::move(p));
  });
}

void Server::close_internal(core::ConnId conn) {
  Engine& e = *impl_;
  asio::post(e.loops[0]->ctx, [&e, conn] { e.internal_close(conn); });
}

std::vector<std::string> Server::end_internal_sessions_except(
    const std::vector<std::string>& keep) {
  Engine& e = *impl_;
  auto lk = e.lock();
  std::vector<std::string> ended = e.broker.end_internal_sessions_except(keep, core::Clock::now());
  if (e.committer) e.submit_persist();
  return ended;
}

std::size_t Server::publish_system(std::vector<core::SystemMessage> msgs) {
  Engine& e = *impl_;
  if (msgs.empty()) return 0;
  auto run = [&e](std::vector<core::SystemMessage>& batch) {
    std::size_t n = 0;
    e.on_loop0([&] {
      if (e.stopping) return false;  // clients are being disconnected: nothing new
      const core::Time now = core::Clock::now();
      for (core::SystemMessage& m : batch) n += e.broker.publish_system(std::move(m), now);
      return true;
    });
    return n;
  };
  if (e.loops[0]->ctx.get_executor().running_in_this_thread()) return run(msgs);
  asio::post(e.loops[0]->ctx, [run, batch = std::move(msgs)]() mutable { run(batch); });
  return 0;
}

std::optional<core::SessionStatus> Server::session_status(const std::string& client_id) const {
  Engine& e = *impl_;
  auto lk = e.lock();
  return e.broker.session_status(client_id);
}

}  // namespace tern::net
