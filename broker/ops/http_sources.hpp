// The HTTP endpoint's sources wired to a running broker: /metrics and /api/v1/bridges from
// an ops::Monitor snapshot, /api/v1/clients from net::Server::clients, /health from the
// Server's listeners, loop heartbeat, last commit and storage probe. Borrows the Server
// and the Monitor (both must outlive the HttpServer using these).
// Thread safety: the returned callables may be called from any thread.
#pragma once

#include <cstddef>

#include "broker/net/server.hpp"
#include "broker/ops/http_server.hpp"
#include "broker/ops/monitor.hpp"

namespace tern::ops {

HttpSources http_sources(const net::Server& server, const Monitor& monitor);

// `listeners`: how many listeners the configuration has (all must be bound);
// `storage_enabled`: a storage path is configured.
HealthSources health_sources(net::Server& server, std::size_t listeners, bool storage_enabled);

}  // namespace tern::ops
