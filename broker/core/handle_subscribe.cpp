// SUBSCRIBE: validate each filter, add it to the tree and the session, answer SUBACK
// with one code per filter in order, then send matching retained messages per Retain
// Handling.
#include <algorithm>
#include <utility>

#include "broker/core/broker_impl.hpp"

namespace tern::core {

namespace {

// True when adding a new filter of `filter_bytes` would pass the session's quota.
bool over_quota(const BrokerOptions& o, const Session& s, std::size_t filter_bytes) {
  if (o.max_subscriptions_per_session != 0 &&
      s.subscriptions.size() >= o.max_subscriptions_per_session)
    return true;
  return o.max_subscription_bytes_per_session != 0 &&
         s.subscription_bytes + filter_bytes > o.max_subscription_bytes_per_session;
}

// The topic filter proper: without a $share/<group>/ prefix. REQUIRES: a valid filter.
std::string_view topic_part(const std::string& filter) {
  if (auto sh = codec::parse_shared(filter)) return sh->filter;
  return filter;
}

}  // namespace

void Broker::Impl::handle_subscribe(ConnectionState& c, codec::Subscribe&& p, Time now) {
  const bool v5 = c.version == ProtocolVersion::v5;
  Session* sp = find_session(c.session);
  if (!sp) return;
  Session& s = *sp;

  std::uint32_t sub_id = 0;
  if (v5 && !p.props.subscription_identifiers.empty()) {
    sub_id = p.props.subscription_identifiers.front();
    if (sub_id == 0) {  // 3.8.2.1.2: 0 is a protocol error
      protocol_error(c, ReasonCode::ProtocolError, "subscription identifier 0", now);
      return;
    }
  }
  // [MQTT-3.8.3-4] No Local on a shared subscription is a protocol error; checked first so
  // a refused packet changes nothing.
  for (const auto& e : p.entries) {
    if (e.no_local && codec::valid_topic_filter(e.filter) && codec::parse_shared(e.filter)) {
      protocol_error(c, ReasonCode::ProtocolError, "No Local on a shared subscription", now);
      return;
    }
  }

  codec::Suback ack;
  ack.packet_id = p.packet_id;  // [MQTT-3.8.4-2]
  ack.reason_codes.reserve(p.entries.size());
  struct RetainedRequest {
    std::size_t entry;
    std::uint8_t granted;
  };
  std::vector<RetainedRequest> want_retained;
  const char* failure = nullptr;

  for (std::size_t i = 0; i < p.entries.size(); ++i) {
    const codec::SubscribeEntry& e = p.entries[i];
    std::uint8_t code = 0;
    if (!codec::valid_topic_filter(e.filter)) {
      code = v5 ? rc(ReasonCode::TopicFilterInvalid) : 0x80;  // 3.9.3
      failure = "topic filter invalid";
    } else if (!opts.shared_subscriptions && codec::parse_shared(e.filter)) {
      code = v5 ? rc(ReasonCode::SharedSubscriptionsNotSupported) : 0x80;
      failure = "shared subscriptions not supported";
    } else if (!opts.wildcard_subscriptions &&
               e.filter.find_first_of("+#") != std::string::npos) {
      // [MQTT-3.8.3-2] a server without wildcard support rejects such filters.
      code = v5 ? rc(ReasonCode::WildcardSubscriptionsNotSupported) : 0x80;
      failure = "wildcard subscriptions not supported";
    } else if (sub_id != 0 && !opts.subscription_identifiers) {
      code = rc(ReasonCode::SubscriptionIdentifiersNotSupported);
      failure = "subscription identifiers not supported";
    } else if (!c.internal && !topic_within_limits(topic_part(e.filter))) {
      // Over max_topic_length / max_topic_levels (network clients only; a $share/<group>/
      // prefix is not part of the topic filter, 4.8.2): v5 0x8F Topic Filter invalid
      // ("correctly formed, but not accepted", 3.9.3), 3.1.1 0x80 Failure.
      code = v5 ? rc(ReasonCode::TopicFilterInvalid) : 0x80;
      failure = "topic filter over the configured limits";
      ++stats.topic_refused;
    } else if (access && !c.internal &&
               !access->may_subscribe(identity_of(s), s.client_id, topic_part(e.filter))) {
      // Not authorized: v5 0x87 (3.9.3), 3.1.1 0x80 Failure; nothing is stored, and an
      // existing subscription with this filter stays as it was (may_receive still filters
      // what it delivers).
      code = v5 ? rc(ReasonCode::NotAuthorized) : 0x80;
      failure = "not authorized";
      ++stats.denied_subscribe;
    } else if (!s.subscriptions.contains(e.filter) && over_quota(opts, s, e.filter.size())) {
      // A replacement never counts against the quota; a new filter past it is refused
      // (v5 3.9.3 0x97 Quota exceeded; 3.1.1 0x80 Failure).
      code = v5 ? rc(ReasonCode::QuotaExceeded) : 0x80;
      failure = "subscription quota exceeded";
    } else {
      SubOptions so;
      // 3.2.2.3.4: grant at most the server's Maximum QoS.
      so.max_qos = std::min(e.max_qos, opts.maximum_qos);
      so.no_local = e.no_local;
      so.retain_as_published = e.retain_as_published;
      so.retain_handling = e.retain_handling;
      so.subscription_id = sub_id;
      // [MQTT-3.8.4-3] an existing subscription with the same filter is replaced.
      const bool existed = tree.subscribe(e.filter, s.key, so);
      auto [it, inserted] = s.subscriptions.insert_or_assign(e.filter, so);
      (void)it;
      if (inserted) s.add_subscription_bytes(e.filter.size());
      code = so.max_qos;
      // [MQTT-3.3.1-9]..[MQTT-3.3.1-11] Retain Handling 0: send, 1: only for a new
      // subscription, 2: never. Shared subscriptions get no retained messages
      // (3.8.3.1).
      const bool shared = codec::parse_shared(e.filter).has_value();
      if (!shared && (so.retain_handling == 0 || (so.retain_handling == 1 && !existed)))
        want_retained.push_back({i, so.max_qos});
    }
    ack.reason_codes.push_back(code);
  }
  if (failure) add_reason(c, ack.props, failure, false, 16 + ack.reason_codes.size());
  // Written in this event's batch; the SUBACK is not held back for it, because the
  // retained messages it triggers must follow it on the wire.
  if (durable(s)) persist_session(s);
  send(c, std::move(ack));  // [MQTT-3.8.4-1]

  const std::uint32_t ids_buf[1] = {sub_id};
  const std::span<const std::uint32_t> ids =
      sub_id ? std::span<const std::uint32_t>(ids_buf, 1) : std::span<const std::uint32_t>();
  for (const RetainedRequest& r : want_retained) {
    retained_scratch.clear();
    retained.match(p.entries[r.entry].filter,
                   [&](const MessagePtr& m) { retained_scratch.push_back(m); });
    for (const MessagePtr& m : retained_scratch) {
      if (m->expires_at && *m->expires_at <= now) continue;  // expired, not yet swept
      // [MQTT-3.3.1-8] RETAIN 1 when sent because of a new subscription.
      deliver(s, m, std::min(m->qos, r.granted), true, ids, now);
    }
  }
  retained_scratch.clear();
}

}  // namespace tern::core
