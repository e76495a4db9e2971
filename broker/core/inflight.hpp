// Outbound QoS 1/2 in-flight window of one session: packet identifier allocation and the
// sender side of the QoS state machines [MQTT-4.3.2], [MQTT-4.3.3]. Entries are kept in
// the order their PUBLISH was first sent, which is the order they are resent on reconnect
// [MQTT-4.4.0-1]. Part of the session state (survives reconnects; persistable).
// Thread safety: plain data; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "broker/core/ring.hpp"
#include "broker/core/types.hpp"

namespace tern::core {

struct OutboundFlight {
  enum class Stage : std::uint8_t {
    AwaitPuback,   // QoS 1 PUBLISH sent
    AwaitPubrec,   // QoS 2 PUBLISH sent
    AwaitPubcomp,  // QoS 2 PUBREC received, PUBREL sent
  };
  std::uint16_t packet_id = 0;
  Stage stage = Stage::AwaitPuback;
  std::uint8_t qos = 1;
  bool retain = false;
  MessagePtr msg;
  std::vector<std::uint32_t> subscription_ids;
  std::uint64_t order = 0;  // send-order stamp of a stored flow (DurableState::next_order)
  std::uint64_t token = 0;  // PersistRequest holding its latest record (0: none / loaded)
};

class InflightWindow {
 public:
  std::size_t size() const { return flights_.size(); }
  bool empty() const { return flights_.empty(); }

  // A packet identifier not used by any entry [MQTT-2.2.1-3]. Identifiers advance
  // round-robin so a just-freed one is not reused at once.
  // REQUIRES: size() < 65535.
  std::uint16_t next_free_id();

  // Appends an entry (the PUBLISH is being sent now).
  // REQUIRES: f.packet_id is not in use.
  void add(OutboundFlight&& f);

  // The entry with this identifier, or nullptr. Acknowledgements usually arrive in send
  // order, so the search starts at the oldest entry and is short in practice.
  OutboundFlight* find(std::uint16_t packet_id);
  // Removes the entry; returns false when there was none.
  bool erase(std::uint16_t packet_id);

  // Oldest first.
  Ring<OutboundFlight>& entries() { return flights_; }
  const Ring<OutboundFlight>& entries() const { return flights_; }
  void clear() { flights_.clear(); }

 private:
  // Offset of id from the oldest entry's, counting forwards modulo 2^16.
  std::uint16_t offset(std::uint16_t id) const {
    return static_cast<std::uint16_t>(id - flights_.front().packet_id);
  }

  Ring<OutboundFlight> flights_;  // no heap memory while nothing is in flight
  std::uint16_t next_id_ = 1;
  // True while the entries' identifiers ascend (modulo 2^16) from the oldest to the newest,
  // as next_free_id hands them out: then an identifier past the newest one, before the
  // oldest, is free without a search. Erasing keeps it; an add out of order clears it
  // until the window is empty again (restored flows, which are loaded in send order too).
  bool ascending_ = true;
};

}  // namespace tern::core
