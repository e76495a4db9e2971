// InflightWindow: packet identifier allocation and lookup for outbound QoS 1/2 flows.
#include "broker/core/inflight.hpp"

#include <algorithm>
#include <cassert>

namespace tern::core {

std::uint16_t InflightWindow::next_free_id() {
  assert(flights_.size() < 65535);
  for (;;) {
    const std::uint16_t id = next_id_;
    next_id_ = next_id_ == 65535 ? 1 : static_cast<std::uint16_t>(next_id_ + 1);
    // [MQTT-2.2.1-3] non-zero and unused by any flow still in flight.
    if (find(id) == nullptr) return id;
  }
}

OutboundFlight* InflightWindow::find(std::uint16_t packet_id) {
  for (auto& f : flights_)
    if (f.packet_id == packet_id) return &f;
  return nullptr;
}

bool InflightWindow::erase(std::uint16_t packet_id) {
  // The common case is the oldest entry completing first.
  if (!flights_.empty() && flights_.front().packet_id == packet_id) {
    flights_.pop_front();
    return true;
  }
  auto it = std::find_if(flights_.begin(), flights_.end(),
                         [&](const OutboundFlight& f) { return f.packet_id == packet_id; });
  if (it == flights_.end()) return false;
  flights_.erase(it);
  return true;
}

}  // namespace tern::core
