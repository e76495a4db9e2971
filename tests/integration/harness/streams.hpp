// Numbered message streams for the durability tests: a publisher that keeps a window of
// QoS 1/2 PUBLISHes in flight (so the broker's group commit has something to group) and can
// resume its unfinished flows on a new connection after a broker crash, and a subscriber
// that drains a stream and reports the first gap, reordering or duplicate.
// A StreamPublisher borrows its RawClient. Thread safety: one thread per object.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "broker/codec/packet.hpp"
#include "tests/integration/harness/raw_client.hpp"

namespace tern::it {

// Payload of message number `n`: its decimal number, then '.' up to `size` bytes.
std::string stream_payload(int n, std::size_t size = 0);
// The number a stream_payload() starts with; -1 if there is none.
int stream_number(std::string_view payload);

struct StreamSpec {
  std::string topic;
  int first = 0;  // number of the first message
  int count = 0;
  std::uint8_t qos = 1;       // 1 or 2
  std::size_t window = 16;    // flows open at once; at most the broker's Receive Maximum
  std::size_t payload_size = 0;
  bool retain = false;
  codec::Properties props;
};

class StreamPublisher {
 public:
  StreamPublisher(RawClient& client, StreamSpec spec);

  // Sends what the window allows, then handles the acks that arrive within `wait` (and
  // any already there). Returns false once the connection is closed (broker killed).
  // Fails the test on a refused message (reason >= 0x80) or an unexpected packet.
  bool pump(Millis wait);
  // Pumps until every message is acknowledged; REQUIREs that within `timeout`.
  void run(Millis timeout);
  // Continues on a new connection of the same (persistent) session after a broker
  // restart: every unfinished flow is resumed as [MQTT-4.4.0-1] says a client must, a
  // PUBLISH not yet acknowledged is resent with DUP=1 and its packet id, a PUBREL is resent
  // for a PUBREC already received.
  void resume(RawClient& client);

  bool done() const { return acked_count_ == spec_.count; }
  int sent() const { return next_ - spec_.first; }
  int acked_count() const { return acked_count_; }
  // Numbers whose PUBACK / PUBCOMP arrived, in that order.
  const std::vector<int>& acked() const { return acked_; }

 private:
  struct Flow {
    int number = 0;
    bool released = false;  // QoS 2: PUBREC received, PUBREL sent
    bool resent_rel = false;  // that PUBREL was sent again after a restart
  };
  codec::Publish make_publish(int number, std::uint16_t id, bool dup) const;
  std::uint16_t allocate_id();
  void handle(const codec::Packet& p);

  RawClient* client_;
  StreamSpec spec_;
  int next_;
  int acked_count_ = 0;
  std::uint16_t last_id_ = 0;
  std::map<std::uint16_t, Flow> open_;  // by packet id
  std::vector<int> acked_;
};

// What drain_stream() saw.
struct DrainResult {
  int received = 0;   // PUBLISHes taken
  std::string error;  // empty when the stream arrived complete and in order
};

// Receives `count` PUBLISHes numbered first, first+1, ... in that order on `topic`,
// acknowledging each (QoS 1 PUBACK, QoS 2 PUBREC then PUBCOMP), waiting at most `gap` for
// each. Stops at the first wrong one. `dup_allowed`: how many leading messages may carry
// DUP=1 (in-flight resends); later ones must not.
DrainResult drain_stream(RawClient& c, const std::string& topic, int first, int count,
                         Millis gap, int dup_allowed = 0);

}  // namespace tern::it
