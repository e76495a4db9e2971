// Will messages: published when a connection ends without DISCONNECT 0x00, after the
// v5 Will Delay Interval or when the session ends, whichever comes first (3.1.3.2.2).
#include <algorithm>
#include <utility>

#include "broker/core/broker_impl.hpp"

namespace tern::core {

void Broker::Impl::schedule_will(Session& s, codec::Will&& w, ProtocolVersion v, Time now) {
  const std::uint32_t delay =
      v == ProtocolVersion::v5 ? w.props.will_delay_interval.value_or(0) : 0;
  if (delay == 0) {
    publish_will(s.client_id, std::move(w), will_identity(s), now);
    return;
  }
  // [MQTT-3.1.3-9] held back; cancelled if the client reconnects to the session in time.
  // If the session ends first (expiry or a clean start), destroy_session publishes it.
  s.pending_will =
      std::make_unique<PendingWill>(PendingWill{std::move(w), now + std::chrono::seconds(delay)});
  arm_session(s);
}

void Broker::Impl::publish_will(const std::string& client_id, codec::Will&& w,
                                const ClientIdentity* who, Time now) {
  // Allowed at CONNECT, but the policy may have been reloaded since (SIGHUP): a will its
  // client may no longer publish is dropped, like a denied PUBLISH (and not retained).
  if (access && who && !access->may_publish(*who, client_id, w.topic)) {
    ++stats.denied_publish;
    return;
  }
  // Refused at CONNECT; a will read back from a store written before the rule is too.
  if (is_broker_topic(w.topic)) {
    ++stats.denied_system_topic;
    return;
  }
  auto m = std::make_shared<Message>();
  m->topic = std::move(w.topic);
  m->payload = std::move(w.payload);
  m->qos = std::min(w.qos, opts.maximum_qos);
  m->retain = w.retain && opts.retain_available;  // [MQTT-3.1.2-15]..[MQTT-3.1.2-17]
  // Format, content type, response topic, ... carried over; the will's lifetime starts
  // when it is published.
  m->take_props(std::move(w.props), now);
  m->origin_client_id = client_id;
  m->created = now;
  const MessagePtr msg = std::move(m);
  if (msg->retain) store_retained(msg);  // over quota: not stored (counted), still sent
  route(msg, now);
}

}  // namespace tern::core
