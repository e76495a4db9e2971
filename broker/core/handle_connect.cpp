// CONNECT: client identifier, session (clean start, resume, takeover, expiry), keep-alive,
// the client's limits, the will, and the CONNACK with the server's capabilities (v5).
#include <algorithm>
#include <string>
#include <utility>

#include "broker/core/broker_impl.hpp"

namespace tern::core {

namespace {

std::string make_client_id(std::uint64_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "tern-";
  char buf[16];
  int len = 0;
  do {
    buf[len++] = kHex[n & 0xF];
    n >>= 4;
  } while (n != 0);
  while (len > 0) id.push_back(buf[--len]);
  return id;
}

}  // namespace

void Broker::Impl::refuse_connect(ConnectionState& c, ProtocolVersion v, std::uint8_t code,
                                  std::string detail, Time now) {
  c.version = v;
  codec::Connack ack;
  ack.session_present = false;  // [MQTT-3.2.2-4] / [MQTT-3.2.2-6] with a non-zero code
  ack.reason_code = code;
  add_reason(c, ack.props, detail, true);
  send(c, std::move(ack));
  actions.emplace_back(CloseConnection{c.id});  // [MQTT-3.2.2-5] / [MQTT-3.2.2-7]
  event(c, EventKind::Refused, code, std::move(detail));
  end_connection(c, false, now);
}

void Broker::Impl::handle_connect(ConnectionState& c, codec::Connect&& p, Time now) {
  const bool v5 = p.version == ProtocolVersion::v5;
  c.version = p.version;
  c.client_id = std::make_unique<std::string>(p.client_id);  // for events, also when refused

  if (v5) {
    // Known before any refusal: a refusing CONNACK's Reason String must not take it past
    // the client's Maximum Packet Size either [MQTT-3.2.2-19].
    c.client_max_packet_size = p.props.maximum_packet_size.value_or(0);
  }

  // The transport's verdict (set_connect_auth), before anything else about the CONNECT is
  // looked at and before any session is touched: the codec already refused malformed
  // packets ([MQTT-3.1.4-1]); authentication comes next (3.1.4, v5 [MQTT-3.1.4-2]), so a
  // refused client learns nothing more about the server. Refused: CONNACK with the code
  // for its version, session present 0, then close: v5 [MQTT-3.2.2-6] / [MQTT-3.2.2-7],
  // 3.1.1 [MQTT-3.2.2-4] / [MQTT-3.2.2-5].
  if (c.auth_verdict != AuthVerdict::Accepted) {
    std::uint8_t code = 0;
    const char* why = "";
    switch (c.auth_verdict) {
      case AuthVerdict::BadCredentials:
        code = v5 ? rc(ReasonCode::BadUserNameOrPassword)
                  : static_cast<std::uint8_t>(codec::ConnackCode311::BadUserNameOrPassword);
        why = "bad user name or password";
        break;
      case AuthVerdict::NotAuthorized:
        code = v5 ? rc(ReasonCode::NotAuthorized)
                  : static_cast<std::uint8_t>(codec::ConnackCode311::NotAuthorized);
        why = "not authorized";
        break;
      case AuthVerdict::VersionRefused:
      case AuthVerdict::Accepted:
        // The listener does not take this protocol version (3.2.2.2 0x84; 3.1.1 0x01).
        code = v5 ? rc(ReasonCode::UnsupportedProtocolVersion)
                  : static_cast<std::uint8_t>(codec::ConnackCode311::UnacceptableProtocolVersion);
        why = "protocol version not accepted on this listener";
        break;
    }
    ++stats.auth_refused;
    refuse_connect(c, p.version, code, why, now);
    return;
  }

  if (v5) {
    // No enhanced authentication method is supported yet [MQTT-4.12.0-1].
    if (p.props.authentication_method) {
      refuse_connect(c, p.version, rc(ReasonCode::BadAuthenticationMethod),
                     "authentication method not supported", now);
      return;
    }
    if (p.will) {
      if (p.will->qos > opts.maximum_qos) {  // [MQTT-3.2.2-12]
        refuse_connect(c, p.version, rc(ReasonCode::QosNotSupported), "will QoS not supported",
                       now);
        return;
      }
      if (p.will->retain && !opts.retain_available) {  // [MQTT-3.2.2-13]
        refuse_connect(c, p.version, rc(ReasonCode::RetainNotSupported),
                       "retained will not supported", now);
        return;
      }
      if (p.will->props.payload_format_indicator == 1 && !codec::valid_utf8(p.will->payload)) {
        // 3.1.3.2.3: will payload announced as UTF-8 but is not.
        refuse_connect(c, p.version, rc(ReasonCode::PayloadFormatInvalid),
                       "will payload is not UTF-8", now);
        return;
      }
    }
  } else if (p.will) {
    // 3.1.1 has no way to refuse these: clamp to what the server supports.
    p.will->qos = std::min(p.will->qos, opts.maximum_qos);
    if (!opts.retain_available) p.will->retain = false;
  }

  // Client identifier.
  std::string client_id = std::move(p.client_id);
  bool assigned = false;
  if (client_id.empty()) {
    if (!v5 && !p.clean_start) {
      // [MQTT-3.1.3-8] 3.1.1: a zero-byte ClientId needs CleanSession=1.
      refuse_connect(c, p.version,
                     static_cast<std::uint8_t>(codec::ConnackCode311::IdentifierRejected),
                     "empty client identifier with clean session 0", now);
      return;
    }
    // [MQTT-3.1.3-6] assign a unique identifier ([MQTT-3.1.3-7] v5: returned in CONNACK).
    do {
      client_id = make_client_id(++assigned_ids);
    } while (by_client_id.count(client_id));
    assigned = true;
  }
  *c.client_id = client_id;
  // The internal prefix is reserved for the broker's own sessions (bridges), so that no
  // network client can take one over or dodge a bridge's loop prevention.
  if (client_id.starts_with(kInternalClientPrefix) != (c.internal != nullptr)) {
    refuse_connect(c, p.version,
                   v5 ? rc(ReasonCode::ClientIdentifierNotValid)
                      : static_cast<std::uint8_t>(codec::ConnackCode311::IdentifierRejected),
                   c.internal ? "internal client without the internal prefix"
                              : "client identifier prefix reserved for bridges",
                   now);
    return;
  }

  // The will's topic, for network clients: within the topic limits, and one the client may
  // publish to (its identity and the client id it ends up with, which ACL patterns use).
  // v5 CONNACK has codes for both (3.2.2.2: 0x90 Topic Name invalid, "the Will Topic Name
  // is not malformed, but is not accepted by this Server"; 0x87 Not authorized). 3.1.1 has
  // neither, and 0x05 Not authorized is the closest refusal (3.1.1 3.1.4: "an appropriate
  // CONNACK response with a non-zero return code", then close).
  if (p.will && is_broker_topic(p.will->topic)) {
    // A will may not spoof the broker's $SYS or $DLQ trees either (see handle_publish):
    // refused as an unauthorized will topic, for every client.
    ++stats.denied_system_topic;
    refuse_connect(c, p.version,
                   v5 ? rc(ReasonCode::NotAuthorized)
                      : static_cast<std::uint8_t>(codec::ConnackCode311::NotAuthorized),
                   "will topic reserved for the broker", now);
    return;
  }
  if (p.will && !c.internal) {
    if (!topic_within_limits(p.will->topic)) {
      ++stats.topic_refused;
      refuse_connect(c, p.version,
                     v5 ? rc(ReasonCode::TopicNameInvalid)
                        : static_cast<std::uint8_t>(codec::ConnackCode311::NotAuthorized),
                     "will topic over the configured limits", now);
      return;
    }
    if (access &&
        !access->may_publish(c.identity ? *c.identity : *anonymous, client_id, p.will->topic)) {
      ++stats.denied_publish;
      refuse_connect(c, p.version,
                     v5 ? rc(ReasonCode::NotAuthorized)
                        : static_cast<std::uint8_t>(codec::ConnackCode311::NotAuthorized),
                     "will topic not authorized", now);
      return;
    }
  }

  // Keep-alive: v5 Server Keep Alive overrides the client's value when we cap it
  // [MQTT-3.2.2-21]. 3.1.1 cannot be told, so its value stands.
  std::uint16_t keep_alive = p.keep_alive;
  bool server_keep_alive = false;
  if (v5 && opts.max_keepalive > 0 && (keep_alive == 0 || keep_alive > opts.max_keepalive)) {
    keep_alive = opts.max_keepalive;
    server_keep_alive = true;
  }

  // Session expiry: v5 from the property (absent = 0), 3.1.1 from CleanSession.
  const std::uint32_t requested =
      v5 ? p.props.session_expiry_interval.value_or(0)
         : (p.clean_start ? 0u : opts.session_expiry_default);
  const std::uint32_t expiry = std::min(requested, opts.max_session_expiry);

  // [MQTT-3.1.4-3] a second connection for a client id takes the session over: the old
  // connection gets DISCONNECT 0x8E (v5) and is closed. Its will follows the usual rules
  // (3.1.2.5): published now unless it has a delay and this connection resumes the
  // session (then [MQTT-3.1.3-9] cancels it below); a clean start ends the old session,
  // which publishes a delayed will at once.
  if (Session* old = find_session(client_id); old) {
    if (ConnectionState* oc = old->live) {
      close(*oc, ReasonCode::SessionTakenOver, EventKind::TakenOver, "session taken over", true,
            true, now);
    }
  }

  bool session_present = false;
  Session* s = find_session(client_id);
  if (s && p.clean_start) {
    destroy_session(*s, now);  // [MQTT-3.1.2-4] discard any existing session
    s = nullptr;
  }
  if (s) {
    session_present = true;  // [MQTT-3.2.2-2] / [MQTT-3.2.2-3]
    // [MQTT-3.1.3-9] reconnected before the will delay passed: the will is not sent.
    s->pending_will.reset();
    s->expires_at = Time::max();
  } else {
    s = &create_session(client_id);
  }
  s->version = p.version;
  s->expiry_interval = expiry;
  if (c.internal) {
    if (!s->policy) s->policy = std::make_unique<SessionPolicy>();
    s->policy->opts = *c.internal;  // the counters carry over
  } else {
    s->policy.reset();
  }
  s->live = &c;
  c.client_id.reset();  // the session's copy serves from here (client_id_of)
  // Who the session belongs to from now on (also while it is offline): the ACL asks about
  // this identity for deliveries, queueing and its will.
  s->identity = c.identity ? std::move(c.identity) : anonymous;
  c.identity.reset();

  c.phase = ConnPhase::Connected;
  c.session = s->key;
  c.keep_alive = keep_alive;
  c.clean_start = p.clean_start;
  c.connect_session_expiry = requested;
  if (v5) {
    c.problem_info = p.props.request_problem_information.value_or(1) != 0;
    c.client_receive_maximum = p.props.receive_maximum.value_or(65535);
    if (c.client_receive_maximum == 0) c.client_receive_maximum = 1;  // codec rejects 0
    // [MQTT-3.3.2-11] never above the client's maximum; also bounded by ours, so the
    // topics remembered per connection stay within what the operator configured.
    c.aliases_out_maximum =
        std::min(p.props.topic_alias_maximum.value_or(0), opts.topic_alias_maximum);
  }
  if (p.will) c.will = std::make_unique<codec::Will>(std::move(*p.will));
  if (durable(*s)) persist_session(*s);

  codec::Connack ack;
  ack.session_present = session_present;
  ack.reason_code = 0;
  if (v5) {
    codec::Properties& pr = ack.props;
    if (expiry != requested) pr.session_expiry_interval = expiry;  // 3.2.2.3.2 capped
    if (opts.receive_maximum != 65535) pr.receive_maximum = opts.receive_maximum;
    if (opts.maximum_qos < 2) pr.maximum_qos = opts.maximum_qos;
    if (!opts.retain_available) pr.retain_available = 0;
    if (opts.max_packet_size != 0 && opts.max_packet_size < 268435460u)
      pr.maximum_packet_size = opts.max_packet_size;
    if (assigned) pr.assigned_client_identifier = client_id;  // [MQTT-3.2.2-16]
    if (opts.topic_alias_maximum > 0) pr.topic_alias_maximum = opts.topic_alias_maximum;
    if (!opts.wildcard_subscriptions) pr.wildcard_subscription_available = 0;
    if (!opts.subscription_identifiers) pr.subscription_identifier_available = 0;
    if (!opts.shared_subscriptions) pr.shared_subscription_available = 0;
    if (server_keep_alive) pr.server_keep_alive = keep_alive;  // [MQTT-3.2.2-21]
  }
  send(c, std::move(ack));

  ++stats.clients_connected;
  stats.clients_maximum = std::max(stats.clients_maximum, stats.clients_connected);
  event(c, EventKind::Connected, 0, v5 ? "MQTT 5.0" : "MQTT 3.1.1");
  arm_conn(c);

  // [MQTT-4.4.0-1] resend what was in flight, in order, before anything new.
  if (session_present) resend_inflight(c, *s, now);
  drain(c, *s, now);
}

}  // namespace tern::core
