// Persistence vocabulary of core::Broker: how the broker is told where its state lives and
// how it hands out the writes that must become durable. Core never writes or syncs itself
// (sans-IO): it fills storage::Batch values, the caller commits them (net: the storage
// thread's Committer) and reports back with Broker::on_persisted(token).
// Thread safety: plain values.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "storage/batch.hpp"
#include "storage/clock.hpp"
#include "storage/store.hpp"

namespace tern::core {

struct PersistenceOptions {
  // Read (never written) by core to page a session's queue back into RAM; borrowed, must
  // outlive the Broker. Writes only reach it through PersistRequest.
  storage::Store* store = nullptr;
  // Maps core's monotonic Time to the broker clock every persisted time is on.
  storage::StorageClock clock{storage::BrokerTime{}, std::chrono::steady_clock::time_point{}};
  // The RAM window of a persistent session's queue: messages past it stay on disk only
  // and are read back (in order) as the window drains, so a session offline for a long
  // time holds at most this much in memory (issue 3 item 4).
  std::size_t queue_window = 256;
  std::size_t queue_window_bytes = 256 * 1024;
  // Stored queues stop draining while this many bytes of writes wait for their commit, so
  // a fast subscriber cannot pile up an unbounded backlog in front of a slow disk.
  std::size_t max_pending_bytes = 8u << 20;
};

// One batch of writes to commit, in token order. Tokens increase by one per request.
// Acknowledgements that promise durability (PUBACK, PUBREC, PUBCOMP) of the event that
// produced the batch are held back until Broker::on_persisted reports the token.
struct PersistRequest {
  storage::Batch batch;
  std::uint64_t token = 0;
};

// What Broker::restore found, for the startup log.
struct RestoreStats {
  storage::LoadStats load;
  std::uint64_t sessions_restored = 0;
  std::uint64_t sessions_expired = 0;   // ended during the downtime: deleted
  std::uint64_t retained_expired = 0;   // expired during the downtime: deleted
  std::uint64_t wills_published = 0;    // connections the crash closed, or due wills
};

}  // namespace tern::core
