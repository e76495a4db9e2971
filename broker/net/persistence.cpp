// net's side of persistence: opens the LevelDB store at start, restores core's state,
// runs the Committer (the storage thread) for core's PersistRequests, reports commits back
// to core on loop 0 (coalesced: one report covers every token up to the newest), and
// writes the broker clock checkpoint. Event loops never wait for a write.
#include <spdlog/spdlog.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "broker/log/log.hpp"
#include "broker/net/server_impl.hpp"
#include "storage/leveldb_store.hpp"

namespace tern::net {

namespace {

storage::WallTime wall_now() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now());
}

const char* resume_text(storage::ClockResumeKind k) {
  switch (k) {
    case storage::ClockResumeKind::first_start:
      return "new store";
    case storage::ClockResumeKind::credited:
      return "downtime credited from the wall clock";
    case storage::ClockResumeKind::wall_clock_behind:
      return "wall clock is behind the last checkpoint (no real-time clock?): downtime not "
             "counted, expiry resumes where it stopped";
    case storage::ClockResumeKind::wall_clock_too_far:
      return "wall clock jumped past the allowed downtime: downtime not counted, expiry "
             "resumes where it stopped";
  }
  return "";
}

}  // namespace

bool Engine::open_storage(std::string& error) {
  const StorageOptions& so = opts.storage;
  if (so.path.empty()) return true;

  storage::LevelDbOptions lo;
  lo.path = so.path;
  lo.on_corruption = so.on_corruption;
  lo.cache_size = so.cache_size;
  lo.write_buffer_size = so.write_buffer_size;
  std::unique_ptr<storage::LevelDbStore> db;
  std::optional<storage::Recovery> recovered;
  storage::Status st = storage::LevelDbStore::open(lo, db, recovered);
  if (!st.ok()) {
    error = "storage " + so.path + ": " + st.to_string();
    return false;
  }
  if (recovered) {
    log::storage().error(
        "storage {} was corrupt or unreadable ({}); moved aside to {}; starting "
        "with an EMPTY store",
        so.path, recovered->reason, recovered->moved_to);
  }

  storage::ClockRecord saved;
  std::optional<storage::ClockRecord> checkpoint;
  if (storage::Status cs = db->read_clock(saved); cs.ok()) {
    checkpoint = saved;
  } else if (cs.code() != storage::StatusCode::not_found) {
    log::storage().warn("storage: clock checkpoint unreadable ({}); broker time starts at 0",
                        cs.to_string());
  }
  const storage::ClockResume resume = storage::resume_broker_clock(checkpoint, wall_now());
  const core::Time now = core::Clock::now();
  storage_clock.emplace(resume.now, now);
  const auto credited_s =
      std::chrono::duration_cast<std::chrono::seconds>(resume.credited).count();
  if (resume.kind == storage::ClockResumeKind::wall_clock_behind ||
      resume.kind == storage::ClockResumeKind::wall_clock_too_far) {
    log::storage().warn("storage clock: {}", resume_text(resume.kind));
  } else {
    log::storage().info("storage clock: {} ({} s)", resume_text(resume.kind), credited_s);
  }

  store = std::move(db);
  core::PersistenceOptions po;
  po.store = store.get();
  po.clock = *storage_clock;
  po.queue_window = so.queue_window;
  po.queue_window_bytes = so.queue_window_bytes;
  storage::CommitterOptions co;
  co.sync = so.sync;
  co.batch_window = so.batch_window;
  committer = std::make_unique<storage::Committer>(*store, co);

  auto lk = lock();
  broker.enable_persistence(po);
  core::RestoreStats rs;
  st = broker.restore(now, rs);
  if (!st.ok()) {
    error = "storage " + so.path + ": " + st.to_string();
    lk.unlock();
    committer.reset();
    store.reset();
    return false;
  }
  if (rs.load.recovered) {
    log::storage().error(
        "storage {} turned out corrupt while loading ({}); moved aside to {}; "
        "starting with an EMPTY store",
        so.path, rs.load.recovered->reason, rs.load.recovered->moved_to);
  }
  const core::BrokerStats& bs = broker.stats();
  log::storage().info(
      "storage {}: sync {}, restored {} sessions ({} queued messages, {} on disk, "
      "{} in flight), {} retained; {} sessions and {} retained expired while down; "
      "{} wills owed; {} records skipped",
      so.path,
      so.sync == storage::SyncMode::always  ? "always"
      : so.sync == storage::SyncMode::batch ? "batch"
                                            : "none (not durable)",
      rs.sessions_restored, bs.queued_messages, bs.queued_on_disk, rs.load.inflight,
      bs.retained_messages, rs.sessions_expired, rs.retained_expired, rs.wills_published,
      rs.load.bad_records + rs.load.orphans);
  submit_persist();  // deletions of what expired, new deadlines
  lk.unlock();
  write_checkpoint();  // so the next start has one even after a crash
  return true;
}

void Engine::submit_persist() {
  auto& reqs = broker.persist_requests();
  for (core::PersistRequest& r : reqs) {
    const std::uint64_t token = r.token;
    storage::Status st = committer->submit(
        std::move(r.batch), [this, token](const storage::Status& s) { on_commit(token, s); });
    if (!st.ok()) on_commit(token, st);  // refused (queue full, bad batch): not durable
  }
  reqs.clear();
}

void Engine::on_commit(std::uint64_t token, const storage::Status& st) {
  Loop& l0 = *loops[0];
  if (!st.ok()) {
    const std::uint64_t n = commit_failures.fetch_add(1, std::memory_order_relaxed);
    if (n < 10 || n % 1000 == 0) {
      log::storage().error(
          "storage: write failed ({}); the clients waiting for it are disconnected "
          "without acknowledgement ({} failures so far)",
          st.to_string(), n + 1);
    }
    asio::post(l0.ctx, [this, token, st] {
      on_loop0([&] {
        broker.on_persisted(token, st, core::Clock::now());
        return true;
      });
    });
    return;
  }
  // Callbacks come in token order: the newest token covers every earlier one, so one
  // report on loop 0 serves however many commits finished before it runs.
  committed_token.store(token, std::memory_order_release);
  if (commit_posted.exchange(true, std::memory_order_acq_rel)) return;
  asio::post(l0.ctx, [this] {
    commit_posted.store(false, std::memory_order_release);
    const std::uint64_t t = committed_token.load(std::memory_order_acquire);
    on_loop0([&] {
      broker.on_persisted(t, storage::Status(), core::Clock::now());
      return true;
    });
  });
}

void Engine::write_checkpoint() {
  if (!committer || !storage_clock) return;
  storage::Batch b;
  b.put_clock(storage_clock->checkpoint(core::Clock::now(), wall_now()));
  if (storage::Status st = committer->submit(std::move(b), {}); !st.ok())
    log::storage().warn("storage: clock checkpoint not written ({})", st.to_string());
}

void Server::probe_storage(std::function<void(const storage::Status&)> done) {
  Impl& s = *impl_;
  if (!s.committer || !s.storage_clock) {  // both fixed after start()
    done(storage::Status());
    return;
  }
  // The clock checkpoint is the probe: a real record, so the write exercises the same
  // path (LevelDB log append, fsync per storage.sync) as core's, and writing it more often
  // only makes the stored clock fresher.
  storage::Batch b;
  b.put_clock(s.storage_clock->checkpoint(core::Clock::now(), wall_now()));
  auto shared = std::make_shared<std::function<void(const storage::Status&)>>(std::move(done));
  storage::Status st =
      s.committer->submit(std::move(b), [shared](const storage::Status& r) { (*shared)(r); });
  if (!st.ok()) (*shared)(st);  // refused: the callback will never run
}

void Engine::arm_checkpoint() {
  if (!committer) return;
  if (!checkpoint_timer) checkpoint_timer.emplace(loops[0]->ctx.get_executor());
  checkpoint_timer->expires_after(storage::kCheckpointInterval);
  checkpoint_timer->async_wait([this](const asio::error_code& ec) {
    if (ec) return;
    write_checkpoint();
    arm_checkpoint();
  });
}

void Engine::close_storage() {
  if (!committer) return;
  write_checkpoint();
  committer->stop();  // commits everything pending, including the shutdown's writes
  const storage::CommitterStats cs = committer->stats();
  log::storage().info(
      "storage: closed after {} commits in {} writes ({} failed; {} groups cancelled "
      "out without a write)",
      cs.batches, cs.groups, cs.failed, cs.cancelled_groups);
}

}  // namespace tern::net
