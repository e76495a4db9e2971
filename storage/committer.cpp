// Committer: one storage thread group-committing batches (see committer.hpp).
#include "storage/committer.hpp"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace tern::storage {

Committer::Committer(Store& store, const CommitterOptions& opts)
    : store_(store), opts_(opts), thread_([this] { run(); }) {}

Committer::~Committer() { stop(); }

Status Committer::submit(Batch&& b, Callback done) {
  if (!b.status().ok()) return b.status();
  const std::size_t size = b.byte_size();
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) return Status::io_error("storage committer stopped");
  // One batch is always accepted into an empty queue, however large, so that a big batch
  // cannot be refused forever.
  if (queue_.size() >= opts_.max_pending_batches ||
      (!queue_.empty() && queued_bytes_ + size > opts_.max_pending_bytes)) {
    ++stats_.rejected;
    return Status::busy("storage queue full: " + std::to_string(queue_.size()) + " batches, " +
                        std::to_string(queued_bytes_) + " bytes");
  }
  const bool was_empty = queue_.empty();
  queue_.push_back(Pending{std::move(b), std::move(done), std::chrono::steady_clock::now()});
  queued_bytes_ += size;
  ++submitted_;
  const std::size_t depth = queue_.size() + writing_batches_;
  if (depth > stats_.max_depth) stats_.max_depth = depth;
  if (!tracks()) {
    if (was_empty || queued_bytes_ >= opts_.max_group_bytes) work_cv_.notify_one();
    return Status();
  }
  // The deque keeps its elements in place, so the keys may point into the queued batch.
  const bool erases = queued_keys_.note_all(queue_.back().batch);
  if (!busy_) {
    if (queued_keys_.cancels_out()) {
      // Every batch queued cancels out (each message stored was acknowledged again by its
      // receiver before any commit): they are complete now, without a write, on this
      // thread. Their acknowledgements wait neither for the lull nor for the storage
      // thread.
      complete_cancelled(lock);
      return Status();
    }
    // The oldest batches may cancel out on their own: their publishers' acknowledgements
    // need not wait for messages that came after (a window drained in rounds otherwise).
    // Only an erase can complete a cancelling pair.
    if (erases) complete_front(lock);
  }
  // Wake the thread when it sleeps on an empty queue, when the group under collection is
  // full and need not wait out the window, or when only deletions are left (nothing can
  // cancel them: waiting for the lull would only delay them).
  if (was_empty || queued_bytes_ >= opts_.max_group_bytes ||
      (collecting_ && queued_keys_.only_deletes())) {
    work_cv_.notify_one();
  }
  return Status();
}

bool Committer::batch_cancelled(const Batch& b) const {
  std::size_t pos = 0;
  Batch::Op op;
  while (b.next_op(pos, op)) {
    if (op.kind == Batch::OpKind::erase_range || !queued_keys_.key_cancelled(op.key))
      return false;
  }
  return true;
}

void Committer::complete_front(std::unique_lock<std::mutex>& lock) {
  for (;;) {
    std::size_t end = completed_front_;
    while (end < queue_.size() && batch_cancelled(queue_[end].batch)) ++end;
    if (end == completed_front_) break;
    completing_.clear();
    for (std::size_t i = completed_front_; i < end; ++i) {
      completing_.push_back(std::move(queue_[i].done));
      queue_[i].completed = true;
    }
    const std::size_t n = end - completed_front_;
    completed_front_ = end;
    const std::uint64_t seen = submitted_;
    busy_ = true;  // as in complete_cancelled: callbacks keep their order
    lock.unlock();
    const Status ok;
    for (Callback& cb : completing_) {
      if (cb) cb(ok);
    }
    lock.lock();
    completing_.clear();
    busy_ = false;
    stats_.batches += n;
    completed_ += n;
    done_cv_.notify_all();
    // Batches submitted meanwhile found us busy and left the check to us.
    if (submitted_ == seen) break;
    if (queued_keys_.cancels_out()) {
      complete_cancelled(lock);
      return;
    }
  }
  if (parked_ && (!queue_.empty() || stopping_)) work_cv_.notify_one();
}

void Committer::complete_cancelled(std::unique_lock<std::mutex>& lock) {
  std::vector<Pending> group;
  group.reserve(queue_.size());
  for (Pending& p : queue_) group.push_back(std::move(p));
  queue_.clear();
  queued_bytes_ = 0;
  queued_keys_.clear();
  completed_front_ = 0;
  busy_ = true;  // later batches (and the storage thread) wait: callbacks keep their order
  writing_batches_ = group.size();
  lock.unlock();
  const Status ok;
  std::size_t n = 0;
  for (Pending& p : group) {
    if (p.completed) continue;  // complete_front() ran its callback
    ++n;
    if (p.done) p.done(ok);
  }
  group.clear();  // the batches (and what they keep alive) go before the lock is taken
  lock.lock();
  busy_ = false;
  writing_batches_ = 0;
  if (cancel_score_ < kMaxCancelScore) ++cancel_score_;
  ++stats_.cancelled_groups;
  stats_.batches += n;
  completed_ += n;
  done_cv_.notify_all();
  // Batches that arrived meanwhile are the storage thread's (it may be waiting for us).
  if (!queue_.empty() || stopping_) work_cv_.notify_one();
}

void Committer::collect(std::unique_lock<std::mutex>& lock) {
  // Group commit: the oldest batch waits at most one window for company, and less once
  // batches stop arriving (a lull of kBatchLull): under a steady stream the window fills
  // and one fsync serves it all; when the writers are all waiting for this very commit
  // (each holds a PUBACK back), nothing more can come and waiting out the window would
  // only add latency. After a long write the oldest batch is already overdue, so batches
  // queued meanwhile go out at once. Batches that cancel out are completed by submit()
  // meanwhile; once only deletions are queued, nothing can cancel them: they go at once.
  // While sets keep cancelling out (messages are acknowledged by their receivers as fast
  // as they come), a longer lull lets a late acknowledgement still cancel its message: a
  // receiver that missed the short lull (a busy machine) would otherwise cost a write
  // and an fsync, and the deletes of what it wrote the next group's too.
  const auto lull = std::min<std::chrono::microseconds>(
      cancel_score_ >= kTrustCancelling ? kBatchLullCancelling : kBatchLull,
      opts_.batch_window);
  collecting_ = true;
  for (;;) {
    if (queue_.empty() || stopping_ || busy_) break;
    if (queued_keys_.only_deletes() || queued_bytes_ >= opts_.max_group_bytes) break;
    const auto deadline = queue_.front().arrived + opts_.batch_window;
    const auto quiet_until = queue_.back().arrived + lull;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline || now >= quiet_until) {
      // Written with keys that might have cancelled: trust the long lull less.
      cancel_score_ = cancel_score_ > 2 ? cancel_score_ - 2 : 0;
      break;
    }
    work_cv_.wait_until(lock, std::min(deadline, quiet_until));
  }
  collecting_ = false;
}

void Committer::run() {
  std::vector<Pending> group;
  std::vector<const Batch*> batches;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    parked_ = true;
    work_cv_.wait(lock, [this] { return !busy_ && (stopping_ || !queue_.empty()); });
    parked_ = false;
    if (queue_.empty()) return;  // stopping and drained
    if (collects()) {
      collect(lock);
      // submit() may have completed everything, or be completing it now.
      if (queue_.empty() || busy_) continue;
      if (queued_keys_.cancels_out()) {  // came while submit() completed an earlier set
        complete_cancelled(lock);
        continue;
      }
    }
    std::size_t group_bytes = 0;
    do {
      group_bytes += queue_.front().batch.byte_size();
      group.push_back(std::move(queue_.front()));
      queue_.pop_front();
    } while (opts_.sync != SyncMode::always && !queue_.empty() &&
             group_bytes + queue_.front().batch.byte_size() <= opts_.max_group_bytes);
    queued_bytes_ -= group_bytes;
    completed_front_ -= std::min(completed_front_, group.size());
    if (tracks()) {
      // The keys describe the queue: what is left of it (usually nothing).
      queued_keys_.clear();
      for (const Pending& p : queue_) queued_keys_.note_all(p.batch);
    }
    busy_ = true;
    writing_batches_ = group.size();
    writing_bytes_ = group_bytes;
    lock.unlock();

    batches.clear();
    for (const Pending& p : group) batches.push_back(&p.batch);
    const Status s = store_.write_group(batches, opts_.sync != SyncMode::none);
    // Measured before the callbacks run: their cost is the caller's, not the store's.
    const auto written = std::chrono::steady_clock::now();
    group_latency_.clear();
    std::size_t n = 0;  // batches completed by this write (not earlier, by complete_front)
    for (const Pending& p : group) {
      if (p.completed) continue;
      group_latency_.push_back(
          std::chrono::duration_cast<std::chrono::microseconds>(written - p.arrived));
    }
    for (Pending& p : group) {
      if (p.completed) continue;
      ++n;
      if (p.done) p.done(s);
    }
    group.clear();

    lock.lock();
    busy_ = false;
    ++stats_.groups;
    stats_.bytes_written += group_bytes;
    stats_.last_write_ok = s.ok();
    for (const auto d : group_latency_) stats_.latency.record(d);
    if (s.ok()) {
      stats_.batches += n;
    } else {
      stats_.failed += n;
    }
    completed_ += n;
    writing_batches_ = 0;
    writing_bytes_ = 0;
    done_cv_.notify_all();
    // What queued meanwhile may cancel out by now (its last batch came while we wrote),
    // all of it or its oldest batches.
    if (tracks() && !queue_.empty()) {
      if (queued_keys_.cancels_out()) {
        complete_cancelled(lock);
      } else {
        complete_front(lock);
      }
    }
  }
}

void Committer::flush() {
  std::unique_lock<std::mutex> lock(mu_);
  const std::uint64_t ticket = submitted_;
  done_cv_.wait(lock, [&] { return completed_ >= ticket; });
}

void Committer::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

CommitterDepth Committer::depth() const {
  std::lock_guard<std::mutex> lock(mu_);
  return CommitterDepth{queue_.size() + writing_batches_, queued_bytes_ + writing_bytes_};
}

CommitterStats Committer::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace tern::storage
