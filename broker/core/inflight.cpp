// InflightWindow: packet identifier allocation and lookup for outbound QoS 1/2 flows.
#include "broker/core/inflight.hpp"

#include <cassert>

namespace tern::core {

std::uint16_t InflightWindow::next_free_id() {
  assert(flights_.size() < 65535);
  for (;;) {
    const std::uint16_t id = next_id_;
    next_id_ = next_id_ == 65535 ? 1 : static_cast<std::uint16_t>(next_id_ + 1);
    // [MQTT-2.2.1-3] non-zero and unused by any flow still in flight. With ascending
    // identifiers every one in use lies between the oldest and the newest entry's, so
    // one outside that span is free (a window of hundreds would otherwise be searched
    // once per message).
    if (flights_.empty()) return id;
    if (ascending_ && offset(id) > offset(flights_.back().packet_id)) return id;
    if (find(id) == nullptr) return id;
  }
}

void InflightWindow::add(OutboundFlight&& f) {
  if (flights_.empty())
    ascending_ = true;
  else if (offset(f.packet_id) <= offset(flights_.back().packet_id))
    ascending_ = false;  // not past the newest entry: searched from now on until empty
  flights_.push_back(std::move(f));
}

OutboundFlight* InflightWindow::find(std::uint16_t packet_id) {
  for (std::size_t i = 0; i < flights_.size(); ++i)
    if (flights_[i].packet_id == packet_id) return &flights_[i];
  return nullptr;
}

bool InflightWindow::erase(std::uint16_t packet_id) {
  // The common case is the oldest entry completing first.
  if (!flights_.empty() && flights_.front().packet_id == packet_id) {
    flights_.pop_front();
    return true;
  }
  for (std::size_t i = 1; i < flights_.size(); ++i) {
    if (flights_[i].packet_id == packet_id) {
      flights_.erase(i);
      return true;
    }
  }
  return false;
}

}  // namespace tern::core
