// Committer: one storage thread group-committing batches (see committer.hpp).
#include "storage/committer.hpp"

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
  std::lock_guard<std::mutex> lock(mu_);
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
  const bool erases = b.has_erase();
  queue_.push_back(Pending{std::move(b), std::move(done), std::chrono::steady_clock::now()});
  queued_bytes_ += size;
  ++submitted_;
  const std::size_t depth = queue_.size() + writing_batches_;
  if (depth > stats_.max_depth) stats_.max_depth = depth;
  // Wake the thread when it sleeps on an empty queue, when the group under collection is
  // full and need not wait out the window, or when this batch may cancel the group out.
  if (was_empty || queued_bytes_ >= opts_.max_group_bytes || (collecting_ && erases)) {
    work_cv_.notify_one();
  }
  return Status();
}

std::size_t Committer::collect(std::unique_lock<std::mutex>& lock) {
  // Group commit: the oldest batch waits at most one window for company, and less once
  // batches stop arriving (a lull of kBatchLull): under a steady stream the window fills
  // and one fsync serves it all; when the writers are all waiting for this very commit
  // (each holds a PUBACK back), nothing more can come and waiting out the window would
  // only add latency. After a long write the oldest batch is already overdue, so batches
  // queued meanwhile go out at once.
  // And as soon as the batches so far cancel out (every message they store was
  // acknowledged again by its receiver), they are complete without any write: their
  // acknowledgements need not wait for the lull, nor for an fsync.
  const auto deadline = queue_.front().arrived + opts_.batch_window;
  const auto lull = std::min<std::chrono::microseconds>(kBatchLull, opts_.batch_window);
  pending_keys_.clear();
  std::size_t noted = 0;
  std::size_t cancelled = 0;
  collecting_ = true;
  for (;;) {
    if (noted < queue_.size()) {
      // Fold in the new arrivals outside the lock (the deque keeps its elements in place
      // while submit() appends; only this thread removes them).
      fresh_.clear();
      for (std::size_t i = noted; i < queue_.size(); ++i) fresh_.push_back(&queue_[i].batch);
      lock.unlock();
      for (const Batch* b : fresh_) pending_keys_.note_all(*b);
      lock.lock();
      noted += fresh_.size();
    }
    if (noted == queue_.size() && pending_keys_.cancels_out()) {
      cancelled = noted;
      break;
    }
    const auto now = std::chrono::steady_clock::now();
    if (stopping_ || queued_bytes_ >= opts_.max_group_bytes || now >= deadline) break;
    const auto quiet_until = queue_.back().arrived + lull;
    if (now >= quiet_until) break;
    work_cv_.wait_until(lock, std::min(deadline, quiet_until), [&] {
      return stopping_ || queued_bytes_ >= opts_.max_group_bytes || queue_.size() > noted;
    });
  }
  collecting_ = false;
  return cancelled;
}

void Committer::run() {
  std::vector<Pending> group;
  std::vector<const Batch*> batches;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping and drained
    std::size_t cancelled = 0;
    if (opts_.sync == SyncMode::batch && opts_.batch_window.count() > 0) {
      cancelled = collect(lock);
    }
    std::size_t group_bytes = 0;
    if (cancelled > 0) {
      for (std::size_t i = 0; i < cancelled; ++i) {
        group_bytes += queue_.front().batch.byte_size();
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    } else {
      do {
        group_bytes += queue_.front().batch.byte_size();
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      } while (opts_.sync != SyncMode::always && !queue_.empty() &&
               group_bytes + queue_.front().batch.byte_size() <= opts_.max_group_bytes);
    }
    queued_bytes_ -= group_bytes;
    writing_batches_ = group.size();
    writing_bytes_ = group_bytes;
    lock.unlock();

    Status s;
    if (cancelled == 0) {
      batches.clear();
      for (const Pending& p : group) batches.push_back(&p.batch);
      s = store_.write_group(batches, opts_.sync != SyncMode::none);
    }
    for (Pending& p : group) {
      if (p.done) p.done(s);
    }

    lock.lock();
    if (cancelled > 0) {
      ++stats_.cancelled_groups;
    } else {
      ++stats_.groups;
    }
    if (s.ok()) {
      stats_.batches += group.size();
    } else {
      stats_.failed += group.size();
    }
    completed_ += group.size();
    writing_batches_ = 0;
    writing_bytes_ = 0;
    group.clear();
    done_cv_.notify_all();
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
