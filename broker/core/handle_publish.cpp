// Inbound PUBLISH (QoS 0/1/2 receiver side, topic aliases, retained store) and routing:
// fan-out to matching subscriptions merged per session, and to one member per shared
// group.
#include <algorithm>
#include <utility>

#include "broker/core/broker_impl.hpp"

namespace tern::core {

namespace {
const char* route_code_text(std::uint8_t code) {
  return code == 0 ? "" : "quota exceeded (retained store or bridge queue full)";
}
}  // namespace

bool Broker::Impl::store_retained(const MessagePtr& msg, bool write) {
  const MessagePtr old = retained.find(msg->topic);
  if (msg->payload.empty()) {
    // [MQTT-3.3.1-6] / [MQTT-3.3.1-7] a zero-length retained payload clears the topic.
    if (old) {
      retained.erase(msg->topic);
      if (persist && write) batch.delete_retained(msg->topic);
    }
    return true;
  }
  const std::size_t old_bytes = old ? old->size_bytes() : 0;
  if (retained.bytes() - old_bytes + msg->size_bytes() > opts.max_retained_bytes) {
    ++stats.dropped_retained_quota;
    return false;
  }
  retained.put(msg);  // [MQTT-3.3.1-5] replaces any previous message for the topic
  if (persist && write) batch.put_retained(view(*msg));
  if (msg->expires_at) arm_retained();
  return true;
}

void Broker::Impl::handle_publish(ConnectionState& c, codec::Publish&& p, Time now) {
  const bool v5 = c.version == ProtocolVersion::v5;
  Session* sp = find_session(c.session);
  if (!sp) return;
  Session& s = *sp;

  if (p.qos > opts.maximum_qos) {
    // [MQTT-3.2.2-11] more than the Maximum QoS we announced.
    protocol_error(c, ReasonCode::QosNotSupported, "QoS not supported", now);
    return;
  }

  if (v5 && !p.props.subscription_identifiers.empty()) {
    // [MQTT-3.3.4-6] a PUBLISH from a Client MUST NOT contain a Subscription Identifier.
    protocol_error(c, ReasonCode::ProtocolError, "subscription identifier in client PUBLISH",
                   now);
    return;
  }

  if (v5 && p.props.topic_alias) {
    const std::uint16_t alias = *p.props.topic_alias;
    if (alias == 0 || alias > opts.topic_alias_maximum) {
      // [MQTT-3.3.2-8] 0 is not a valid alias; [MQTT-3.3.2-9] above our maximum.
      protocol_error(c, ReasonCode::TopicAliasInvalid, "topic alias out of range", now);
      return;
    }
    if (!c.aliases_in) c.aliases_in = std::make_unique<std::vector<std::string>>();
    if (c.aliases_in->size() < opts.topic_alias_maximum)
      c.aliases_in->resize(opts.topic_alias_maximum);
    std::string& slot = (*c.aliases_in)[alias - 1];
    if (p.topic.empty()) {
      if (slot.empty()) {
        // 3.3.2.3.4: an alias with no mapping on this connection is a protocol error.
        protocol_error(c, ReasonCode::ProtocolError, "unknown topic alias", now);
        return;
      }
      p.topic = slot;
    } else {
      slot = p.topic;  // establish or replace the mapping
    }
  } else if (p.topic.empty()) {
    protocol_error(c, v5 ? ReasonCode::ProtocolError : ReasonCode::TopicNameInvalid,
                   "empty topic name without topic alias", now);
    return;
  }

  // Topics starting with '$' are accepted from clients (4.7.2 only says a Server SHOULD
  // keep Clients from using them to exchange messages), except the broker's own $SYS and
  // $DLQ trees, refused below. Leading wildcards never match them [MQTT-4.7.2-1], so only
  // explicit '$...' subscribers receive such messages (the behaviour Paho's interop
  // test_dollar_topics expects of brokers that allow the publish).

  if (p.retain && !opts.retain_available) {
    if (v5) {  // [MQTT-3.2.2-14] retained PUBLISH after Retain Available 0
      protocol_error(c, ReasonCode::RetainNotSupported, "retain not supported", now);
      return;
    }
    p.retain = false;  // 3.1.1 cannot be told: deliver it, do not store it
  }

  auto ack = [&](std::uint8_t code, const char* why) {
    codec::PubAck a;
    a.packet_id = p.packet_id;
    a.reason_code = code;
    if (code >= 0x80) add_reason(c, a.props, why, false);
    // Held back while this event's writes (the message stored for a persistent session or
    // as retained, the QoS 2 id) are not durable.
    send_ack(c, p.qos == 1 ? codec::PacketType::Puback : codec::PacketType::Pubrec,
             std::move(a));
  };

  if (v5 && p.props.payload_format_indicator == 1 && !codec::valid_utf8(p.payload)) {
    // 3.3.2.3.2: payload announced as UTF-8 is not: refuse it.
    if (p.qos == 0)
      protocol_error(c, ReasonCode::PayloadFormatInvalid, "payload is not UTF-8", now);
    else
      ack(rc(ReasonCode::PayloadFormatInvalid), "payload is not UTF-8");
    return;
  }

  if (p.qos == 2 && s.has_inbound_qos2(p.packet_id)) {
    // [MQTT-4.3.3-10] method A: routed when first received; a duplicate is acknowledged
    // again and not routed twice.
    ack(0, "");
    return;
  }
  if (p.qos > 0 && c.inbound_unacked >= opts.receive_maximum) {
    // [MQTT-3.3.4-7] more unacknowledged QoS>0 PUBLISH than our Receive Maximum.
    protocol_error(c, ReasonCode::ReceiveMaximumExceeded, "receive maximum exceeded", now);
    return;
  }

  // A message that is not accepted: neither routed nor retained. v5: PUBACK/PUBREC 0x87
  // Not authorized (a PUBREC >= 0x80 ends the QoS 2 exchange, 4.3.3, so no packet id is
  // kept); QoS 0 is dropped. 3.1.1 has no way to say it [MQTT-3.3.5-2]: a positive
  // acknowledgement by the normal QoS rules (QoS 2 keeps its id until PUBREL, so a resend
  // is acknowledged and still not routed).
  auto not_authorized = [&](const char* why) {
    if (v5) {
      if (p.qos > 0) ack(rc(ReasonCode::NotAuthorized), why);
      return;
    }
    if (p.qos == 2) {
      s.add_inbound_qos2(p.packet_id);  // [MQTT-4.3.3-9]
      ++c.inbound_unacked;
      if (durable(s)) persist_session(s);
    }
    if (p.qos > 0) ack(0, "");
  };

  if (!c.internal) {
    // Per-connection publish rates (internal clients are exempt): over either, v5 gets
    // DISCONNECT 0x96 Message rate too high; 3.1.1 has no way to say it and is closed.
    // The will is published, as for any close the server initiates [MQTT-3.1.2-8].
    if (!take_publish_tokens(c, p.payload.size(), now)) {
      ++stats.rate_limited;
      close(c, ReasonCode::MessageRateTooHigh, EventKind::Disconnected, "publish rate exceeded",
            true, true, now);
      return;
    }
    // Topic limits, on the topic after alias resolution. v5: PUBACK/PUBREC 0x90 Topic
    // Name invalid ("not malformed, but not accepted", 3.4.2.1 / 3.5.2.1); a QoS 0 message
    // has no acknowledgement and is dropped. 3.1.1 cannot be told: the connection is closed
    // ([MQTT-3.3.5-2] leaves a server that will not take a PUBLISH the choice between a
    // positive acknowledgement and closing; a silent loss would be worse here).
    if (!topic_within_limits(p.topic)) {
      ++stats.topic_refused;
      if (!v5) {
        close(c, ReasonCode::TopicNameInvalid, EventKind::Disconnected,
              "topic name over the configured limits", true, true, now);
      } else if (p.qos > 0) {
        ack(rc(ReasonCode::TopicNameInvalid), "topic name over the configured limits");
      }
      return;
    }
  }

  if (is_broker_topic(p.topic)) {
    // Only the broker publishes its $SYS state and its dead letters: no client, bridges
    // included, may spoof them (4.7.2 lets a Server keep Clients off '$' topics).
    ++stats.denied_system_topic;
    not_authorized("topic reserved for the broker");
    return;
  }
  // Authorization, on the resolved topic (internal clients are trusted).
  if (access && !c.internal && !access->may_publish(identity_of(s), s.client_id, p.topic)) {
    ++stats.denied_publish;
    not_authorized("not authorized");
    return;
  }

  ++stats.messages_received;
  stats.bytes_received += p.payload.size();

  auto m = std::make_shared<Message>();
  m->topic = std::move(p.topic);
  m->payload = std::move(p.payload);
  m->qos = p.qos;
  m->retain = p.retain;
  m->take_props(std::move(p.props), now);
  m->origin_client_id = s.client_id;
  m->created = now;
  const MessagePtr msg = std::move(m);

  std::uint8_t code = 0;
  if (msg->retain && !store_retained(msg) && v5 && msg->qos > 0)
    code = rc(ReasonCode::QuotaExceeded);  // refused: not stored and not forwarded
  if (code == 0) {
    route_rejected = false;
    route(msg, now);
    // A full internal queue with the Reject policy (a bridge) refused it: a v5 publisher
    // is told 0x97 Quota exceeded (other subscribers still got it).
    if (route_rejected && v5 && msg->qos > 0) code = rc(ReasonCode::QuotaExceeded);
    route_rejected = false;
  }

  if (msg->qos == 1) {
    ack(code, route_code_text(code));  // [MQTT-4.3.2-4] PUBACK after routing
  } else if (msg->qos == 2) {
    if (code < 0x80) {
      s.add_inbound_qos2(p.packet_id);  // [MQTT-4.3.3-9] keep the id until PUBREL
      ++c.inbound_unacked;
      if (durable(s)) persist_session(s);
    }
    ack(code, route_code_text(code));
  }
}

void Broker::Impl::route(const MessagePtr& msg, Time now) {
  ++match_epoch;
  target_count = 0;
  shared_count = 0;

  auto slot = [](std::vector<Target>& v, std::size_t& n) -> Target& {
    if (v.size() == n) v.emplace_back();
    Target& t = v[n++];
    t.ids.clear();
    return t;
  };

  tree.match(
      msg->topic,
      [&](const Subscriber& sub) {
        Session* s = find_session(sub.session);
        if (!s) return;
        // A bridge never gets back what its own remote side published (no loops).
        if (s->policy) {
          const InternalSessionOptions& io = s->policy->opts;
          if (!io.loop_prefix.empty() && msg->origin_client_id.starts_with(io.loop_prefix))
            return;
          for (const std::string& f : io.exclude_filters)
            if (codec::topic_matches(f, msg->topic)) return;
        }
        // [MQTT-3.8.3-3] No Local: not back to the publishing client id.
        if (sub.opts.no_local && s->client_id == msg->origin_client_id) return;
        if (s->match_epoch == match_epoch) {
          // Overlapping subscriptions of one session: one copy at the highest QoS
          // [MQTT-3.3.5-1], carrying every matching subscription id [MQTT-3.3.4-4].
          Target& t = targets[s->match_slot];
          t.qos = std::max(t.qos, sub.opts.max_qos);
          t.retain_as_published = t.retain_as_published || sub.opts.retain_as_published;
          if (sub.opts.subscription_id) t.ids.push_back(sub.opts.subscription_id);
          return;
        }
        s->match_epoch = match_epoch;
        s->match_slot = static_cast<std::uint32_t>(target_count);
        Target& t = slot(targets, target_count);
        t.session = s;
        t.qos = sub.opts.max_qos;
        t.retain_as_published = sub.opts.retain_as_published;
        if (sub.opts.subscription_id) t.ids.push_back(sub.opts.subscription_id);
      },
      [&](SharedGroup& g) {
        // 4.8.2: one member per group: round robin over members with a live
        // connection; if none is online, the first one in the rotation queues it. With an
        // AccessPolicy only members that may read the message are candidates, so a member
        // it filters out does not swallow the group's copy (deliver() asks again).
        const std::size_t n = g.members.size();
        if (n == 0) return;
        const std::size_t start = g.next % n;
        std::size_t pick = n;     // the chosen online member
        std::size_t offline = n;  // the first candidate without a connection
        for (std::size_t i = 0; i < n; ++i) {
          const std::size_t idx = (start + i) % n;
          Session* s = find_session(g.members[idx].session);
          if (!s || (online_conn(*s) == nullptr && offline < n)) continue;
          if (!may_read(*s, *msg)) continue;
          if (online_conn(*s)) {
            pick = idx;
            break;
          }
          offline = idx;
        }
        if (pick == n) pick = offline;
        if (pick == n) {
          if (access) ++stats.denied_receive;  // no member may read it: counted once
          g.next = start + 1;
          return;
        }
        g.next = pick + 1;
        Session* chosen = find_session(g.members[pick].session);
        const SubOptions& o = g.members[pick].opts;
        Target& t = slot(shared_targets, shared_count);
        t.session = chosen;
        t.qos = o.max_qos;
        t.retain_as_published = o.retain_as_published;
        if (o.subscription_id) t.ids.push_back(o.subscription_id);
      });

  // [MQTT-3.8.4-8] delivery QoS is the lower of the message's and the subscription's;
  // [MQTT-3.3.1-12]/[MQTT-3.3.1-13] RETAIN is 0 unless Retain As Published.
  for (std::size_t i = 0; i < target_count; ++i) {
    Target& t = targets[i];
    deliver(*t.session, msg, std::min(msg->qos, t.qos), msg->retain && t.retain_as_published,
            t.ids, now);
  }
  for (std::size_t i = 0; i < shared_count; ++i) {
    Target& t = shared_targets[i];
    deliver(*t.session, msg, std::min(msg->qos, t.qos), msg->retain && t.retain_as_published,
            t.ids, now);
  }
}

}  // namespace tern::core
