// Committer: the storage thread. Takes Batches from any thread with a completion callback,
// group-commits them (one LevelDB write and one fsync for all batches arriving within the
// batch window) and calls each callback once its batch is durable, so event loops never
// block on fsync (GUIDE §7) and a QoS 1/2 acknowledgement can wait for its commit. Unless
// sync is always, queued batches that cancel out (every key they insert is deleted again
// among them: messages acknowledged before their commit) complete at once, without a
// write, inside the submit() that completed the set; so does each batch at the front of
// the queue whose own keys all cancel out against later batches (its messages were all
// acknowledged by their receivers), while later ones still wait. Such a batch stays
// queued, completed, until its group is written or the whole queue cancels, so that the
// deletions that cancel it are dropped with it rather than written.
// Owns its thread and the pending batches; borrows the Store (which must outlive it).
// Thread safety: submit(), depth(), stats() and flush() may be called from any thread.
// Callbacks run in submission order, on the storage thread or inside submit() (on the
// submitting thread, after the committer's lock is released); they must not block or
// call flush() / stop() (post to the caller's own loop instead).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "storage/batch.hpp"
#include "storage/key_table.hpp"
#include "storage/latency.hpp"
#include "storage/status.hpp"
#include "storage/store.hpp"

namespace tern::storage {

// storage.sync (CONFIG.md).
enum class SyncMode : std::uint8_t {
  always,  // each batch is its own write with fsync: the slowest, no batch waits on others
  batch,   // group commit: batches within batch_window share one write and one fsync
  none,    // no fsync: callbacks run once the OS has the data. A power cut loses the writes
           // of the last seconds (whatever the kernel had not flushed), a process crash
           // loses nothing. Acknowledged messages can be lost: not durable.
};

// A group closes early once no batch arrived for this long (see Committer::collect); while
// queued sets keep cancelling out, after kBatchLullCancelling.
inline constexpr std::chrono::microseconds kBatchLull{200};
inline constexpr std::chrono::microseconds kBatchLullCancelling{2000};

struct CommitterOptions {
  SyncMode sync = SyncMode::batch;
  // How long the first batch of a group waits for others at most (batch mode only); it
  // waits less once batches stop arriving for kBatchLull. Batches that arrive while a
  // write is under way join the next group without waiting.
  std::chrono::microseconds batch_window{5000};
  // Bounds of the input queue: submit() answers busy beyond them (backpressure).
  std::size_t max_pending_batches = 65536;
  std::size_t max_pending_bytes = 64u << 20;
  // A group is written early once it holds this many bytes (bounds one LevelDB write).
  std::size_t max_group_bytes = 4u << 20;
};

struct CommitterDepth {
  std::size_t batches = 0;  // submitted, not yet written (including a write under way)
  std::size_t bytes = 0;
};

struct CommitterStats {
  std::uint64_t batches = 0;   // committed (callback called with ok)
  std::uint64_t groups = 0;    // writes issued
  // Groups that cancelled out (every key inserted and deleted again within them, e.g.
  // messages sent and acknowledged before their commit): completed without a write.
  std::uint64_t cancelled_groups = 0;
  std::uint64_t failed = 0;    // batches whose write failed
  std::uint64_t rejected = 0;  // submit() answered busy
  std::size_t max_depth = 0;   // high-water mark of pending batches
  std::uint64_t bytes_written = 0;  // batch bytes handed to the store (flash wear)
  bool last_write_ok = true;        // the newest write succeeded
  // Per committed or failed batch: submit() to the end of its write (group wait + write
  // + fsync). Cancelled groups, which are never written, are not recorded.
  LatencyHistogram latency;
};

class Committer {
 public:
  using Callback = std::function<void(const Status&)>;

  Committer(Store& store, const CommitterOptions& opts);
  // stop(): drains every pending batch, then joins the thread.
  ~Committer();
  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;

  // Queues `b`; `done` (may be empty) is called on the storage thread with the write's
  // status once it is durable per the sync mode. Returns ok when queued; busy when the
  // queue is full, invalid_argument when b.status() is not ok, io_error after stop(): in
  // those cases `done` is never called and nothing is written.
  Status submit(Batch&& b, Callback done);

  // Blocks until every batch submitted before the call is written and its callback has
  // run. For shutdown and tests; never from an event loop or a callback.
  void flush();
  // Writes what is pending (without waiting out the window) and joins. Idempotent.
  void stop();

  CommitterDepth depth() const;
  CommitterStats stats() const;

 private:
  struct Pending {
    Batch batch;
    Callback done;
    std::chrono::steady_clock::time_point arrived;
    bool completed = false;  // its callback ran already (complete_front)
  };

  void run();
  // Batch mode with a window: batches wait for company.
  bool collects() const {
    return opts_.sync == SyncMode::batch && opts_.batch_window.count() > 0;
  }
  // Queued sets that cancel out complete without a write (all but sync always, where each
  // batch is its own write).
  bool tracks() const { return opts_.sync != SyncMode::always; }
  // Waits, with the lock, until the queued batches should be written (see the .cpp).
  void collect(std::unique_lock<std::mutex>& lock);
  // Completes every queued batch without a write (they cancel out), callbacks outside the
  // lock. REQUIRES: lock held, !busy_.
  void complete_cancelled(std::unique_lock<std::mutex>& lock);
  // Completes, without a write, the batches at the front of the queue whose keys all cancel
  // out against later ones; they stay queued. REQUIRES: lock held, !busy_.
  void complete_front(std::unique_lock<std::mutex>& lock);
  bool batch_cancelled(const Batch& b) const;  // every key of b cancels out in queued_keys_

  Store& store_;
  const CommitterOptions opts_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // the storage thread waits for batches
  std::condition_variable done_cv_;  // flush() waits for completions
  std::deque<Pending> queue_;
  std::size_t queued_bytes_ = 0;
  std::size_t writing_batches_ = 0;  // taken by the thread, not yet completed
  std::size_t writing_bytes_ = 0;
  std::size_t completed_front_ = 0;  // the first entries of queue_, completed already
  std::vector<Callback> completing_;  // complete_front()'s callbacks, run outside the lock
  bool parked_ = false;               // the storage thread waits in run() for work
  std::uint64_t submitted_ = 0;  // tickets, for flush()
  std::uint64_t completed_ = 0;
  bool stopping_ = false;
  bool collecting_ = false;  // the thread waits for company
  // How well sets have been cancelling out lately: +1 per set completed without a write,
  // -2 per group written while it still held keys a later batch might have cancelled.
  static constexpr int kMaxCancelScore = 8;
  static constexpr int kTrustCancelling = 4;
  int cancel_score_ = 0;
  // A group is being completed (written by the thread, or cancelled inside submit()):
  // nothing else completes meanwhile, so callbacks keep their order.
  bool busy_ = false;
  CommitterStats stats_;
  std::vector<std::chrono::microseconds> group_latency_;  // storage thread: reused per write
  // tracks() only: the net effect of the batches in queue_ (keys point into them).
  detail::KeyTable queued_keys_;
  std::thread thread_;  // last: starts after every other member is built
};

}  // namespace tern::storage
