// Session and its bounded message queue.
#include "broker/core/session.hpp"

#include <cstdint>

#include <algorithm>
#include <utility>

namespace tern::core {

const Subscriptions::Map& Subscriptions::none() {
  static const Map empty;
  return empty;
}

std::size_t Subscriptions::erase(std::string_view filter) {
  if (!map_) return 0;
  const auto it = map_->find(filter);
  if (it == map_->end()) return 0;
  map_->erase(it);
  if (map_->empty()) map_.reset();
  return 1;
}

void Session::add_subscription_bytes(std::size_t n) {
  const std::uint64_t sum = std::uint64_t{subscription_bytes} + n;
  subscription_bytes = static_cast<std::uint32_t>(std::min<std::uint64_t>(sum, UINT32_MAX));
}

void Session::remove_subscription_bytes(std::size_t n) {
  subscription_bytes -= static_cast<std::uint32_t>(std::min<std::size_t>(subscription_bytes, n));
}

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

std::vector<std::uint16_t> Session::inbound_qos2_ids() const {
  return inbound_qos2 ? *inbound_qos2 : std::vector<std::uint16_t>();
}

void Session::set_inbound_qos2(std::vector<std::uint16_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  if (ids.empty()) {
    inbound_qos2.reset();
  } else {
    inbound_qos2 = std::make_unique<std::vector<std::uint16_t>>(std::move(ids));
  }
}

bool Session::has_inbound_qos2(std::uint16_t id) const {
  return inbound_qos2 && std::binary_search(inbound_qos2->begin(), inbound_qos2->end(), id);
}

void Session::add_inbound_qos2(std::uint16_t id) {
  if (!inbound_qos2) inbound_qos2 = std::make_unique<std::vector<std::uint16_t>>();
  auto& v = *inbound_qos2;
  auto it = std::lower_bound(v.begin(), v.end(), id);
  if (it == v.end() || *it != id) v.insert(it, id);
}

bool Session::remove_inbound_qos2(std::uint16_t id) {
  if (!inbound_qos2) return false;
  auto& v = *inbound_qos2;
  auto it = std::lower_bound(v.begin(), v.end(), id);
  if (it == v.end() || *it != id) return false;
  v.erase(it);
  if (v.empty()) inbound_qos2.reset();
  return true;
}

}  // namespace tern::core
