// Session and its bounded message queue.
#include "broker/core/session.hpp"

#include <algorithm>
#include <utility>

namespace tern::core {

void MessageQueue::note_removed(const QueuedMessage& m) {
  const std::size_t size = m.msg->size_bytes();
  bytes_ -= size;
  if (m.qos == 0) --qos0_;
  if (meter_ && --m.msg->queue_refs.n == 0) meter_->bytes -= size;
}

QueuedMessage MessageQueue::pop_front() {
  QueuedMessage m = std::move(items_.front());
  items_.pop_front();
  note_removed(m);
  if (items_.empty()) earliest_expiry_ = Time::max();
  return m;
}

void MessageQueue::clear() {
  if (meter_) {
    for (std::size_t i = 0; i < items_.size(); ++i) {
      const Message& m = *items_[i].msg;
      if (--m.queue_refs.n == 0) meter_->bytes -= m.size_bytes();
    }
  }
  items_.clear();
  bytes_ = 0;
  qos0_ = 0;
  earliest_expiry_ = Time::max();
}

bool Session::has_inbound_qos2(std::uint16_t id) const {
  return std::binary_search(inbound_qos2.begin(), inbound_qos2.end(), id);
}

void Session::add_inbound_qos2(std::uint16_t id) {
  auto it = std::lower_bound(inbound_qos2.begin(), inbound_qos2.end(), id);
  if (it == inbound_qos2.end() || *it != id) inbound_qos2.insert(it, id);
}

bool Session::remove_inbound_qos2(std::uint16_t id) {
  auto it = std::lower_bound(inbound_qos2.begin(), inbound_qos2.end(), id);
  if (it == inbound_qos2.end() || *it != id) return false;
  inbound_qos2.erase(it);
  return true;
}

}  // namespace tern::core
