// net's figures for operations (metrics, $SYS): per-listener connection counts, storage
// size and commit figures, and the periodic tasks run on loop 0 (Server::run_every).
#include <filesystem>
#include <system_error>

#include "broker/net/server.hpp"
#include "broker/net/server_impl.hpp"

namespace tern::net {

namespace {

// A LevelDB directory holds a few dozen files; the cap keeps a misconfigured path (say,
// a home directory) from turning a metrics scrape into a long walk.
constexpr std::size_t kMaxScannedFiles = 4096;

std::uint64_t directory_size(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::uint64_t total = 0;
  std::size_t seen = 0;
  for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    if (++seen > kMaxScannedFiles) break;
    std::error_code fec;
    if (!it->is_regular_file(fec) || fec) continue;
    const std::uintmax_t n = it->file_size(fec);
    if (!fec) total += n;
  }
  return total;
}

}  // namespace

std::vector<ListenerStats> Server::listener_stats() const {
  std::vector<ListenerStats> out;
  out.reserve(impl_->listeners.size());
  for (const auto& l : impl_->listeners) {
    ListenerStats ls;
    ls.name = l->opts.name;
    ls.connections_open = l->live.load(std::memory_order_relaxed);
    ls.connections_accepted = l->accepted.load(std::memory_order_relaxed);
    out.push_back(std::move(ls));
  }
  return out;
}

StorageStats Server::storage_stats() const {
  StorageStats out;
  const Impl& s = *impl_;
  if (!s.committer) return out;  // set at start(), fixed afterwards
  out.enabled = true;
  out.committer = s.committer->stats();
  out.depth = s.committer->depth();
  out.size_bytes = directory_size(s.opts.storage.path);
  return out;
}

void Server::run_every(std::chrono::milliseconds period, std::function<void()> task) {
  auto p = std::make_unique<Engine::Periodic>();
  p->period = period.count() > 0 ? period : std::chrono::milliseconds(1000);
  p->task = std::move(task);
  impl_->periodic.push_back(std::move(p));
}

void Engine::arm_periodic(Periodic& p) {
  if (!p.timer) p.timer.emplace(loops[0]->ctx.get_executor());
  p.timer->expires_after(p.period);
  p.timer->async_wait([this, &p](const asio::error_code& ec) {
    if (ec || stop_requested.load(std::memory_order_relaxed)) return;
    p.task();
    arm_periodic(p);
  });
}

}  // namespace tern::net
