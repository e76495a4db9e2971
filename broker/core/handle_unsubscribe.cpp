// UNSUBSCRIBE: remove each filter from the tree and the session; UNSUBACK (v5: one code
// per filter, in order).
#include <algorithm>
#include <utility>

#include "broker/core/broker_impl.hpp"

namespace tern::core {

void Broker::Impl::handle_unsubscribe(ConnectionState& c, const codec::Unsubscribe& p,
                                      Time now) {
  (void)now;
  const bool v5 = c.version == ProtocolVersion::v5;
  Session* s = find_session(c.session);
  if (!s) return;
  codec::Unsuback ack;
  ack.packet_id = p.packet_id;  // [MQTT-3.10.4-4]
  if (v5) ack.reason_codes.reserve(p.filters.size());
  for (const std::string& f : p.filters) {
    std::uint8_t code = 0;
    if (!codec::valid_topic_filter(f)) {
      code = rc(ReasonCode::TopicFilterInvalid);
    } else if (tree.unsubscribe(f, s->key)) {
      if (s->subscriptions.erase(f) != 0)  // [MQTT-3.10.4-1] delete the subscription
        s->remove_subscription_bytes(f.size());
      code = rc(ReasonCode::Success);
    } else {
      code = rc(ReasonCode::NoSubscriptionExisted);
    }
    if (v5) ack.reason_codes.push_back(code);  // [MQTT-3.11.3-1] one per filter
  }
  if (durable(*s)) persist_session(*s);
  send(c, std::move(ack));  // [MQTT-3.10.4-4]/[MQTT-3.10.4-5] even if nothing was removed
}

}  // namespace tern::core
