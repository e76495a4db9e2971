// Authentication verdicts, authorization (AccessPolicy) at delivery, publish rate limits
// and topic limits: the checks net cannot make itself because they need core's state.
// Where each check sits (so that a message a client may not read never reaches its socket):
//   CONNECT    the transport's verdict (set_connect_auth), then the will's topic
//              (handle_connect.cpp)
//   PUBLISH    rate, topic limits, may_publish after topic alias resolution
//              (handle_publish.cpp); a will again when it is published (will.cpp)
//   SUBSCRIBE  topic limits and may_subscribe per filter (handle_subscribe.cpp)
//   delivery   may_receive in deliver() before a message is sent or queued, for online
//              sessions, offline queues and retained messages alike; in the shared
//              group's pick (handle_publish.cpp route); and in drain() for a queued
//              message not allowed under the current policy and identity (queued while
//              the session's identity was unknown after a restart, read back from disk,
//              or queued before a policy reload). In-flight flows resent on reconnect
//              are not asked again: they already reached the client once.
#include <algorithm>
#include <chrono>
#include <memory>
#include <utility>

#include "broker/core/broker_impl.hpp"

namespace tern::core {

bool Broker::Impl::may_deliver_slow(const Session& s, const Message& m, std::uint32_t& epoch) {
  // A session restored from storage has no identity until its client reconnects: the
  // message is queued unchecked and asked about in drain(), with that client's identity.
  if (trusted(s) || !s.identity) return true;
  if (!may_read(s, m)) {
    ++stats.denied_receive;
    return false;
  }
  epoch = policy_epoch;
  return true;
}

bool Broker::Impl::topic_within_limits_slow(std::string_view topic) const {
  if (opts.max_topic_length != 0 && topic.size() > opts.max_topic_length) return false;
  if (opts.max_topic_levels != 0) {
    const std::size_t levels =
        1 + static_cast<std::size_t>(std::count(topic.begin(), topic.end(), '/'));
    if (levels > opts.max_topic_levels) return false;
  }
  return true;
}

bool Broker::Impl::take_publish_tokens(ConnectionState& c, std::size_t payload_bytes,
                                       Time now) {
  const double msg_rate = opts.publish_rate > 0 ? opts.publish_rate : 0;
  const double byte_rate = static_cast<double>(opts.publish_bytes_rate);
  if (c.internal || (msg_rate == 0 && byte_rate == 0)) return true;
  // One second's worth; a rate below one message per second still lets one through.
  const double msg_cap = std::max(msg_rate, 1.0);
  if (!c.rate) {
    c.rate = std::make_unique<RateBuckets>();
    c.rate->messages = msg_cap;
    c.rate->bytes = byte_rate;
    c.rate->refilled = now;
  }
  RateBuckets& b = *c.rate;
  if (now > b.refilled) {
    const double secs = std::chrono::duration<double>(now - b.refilled).count();
    b.messages = std::min(msg_cap, b.messages + msg_rate * secs);
    b.bytes = std::min(byte_rate, b.bytes + byte_rate * secs);
    b.refilled = now;
  }
  // Refills are products of doubles: a bucket one ulp short of a whole token is full.
  constexpr double kSlack = 1e-6;
  const bool msg_ok = msg_rate == 0 || b.messages + kSlack >= 1.0;
  const bool bytes_ok = byte_rate == 0 || b.bytes + kSlack >= static_cast<double>(payload_bytes);
  if (!msg_ok || !bytes_ok) return false;
  if (msg_rate != 0) b.messages = std::max(0.0, b.messages - 1.0);
  if (byte_rate != 0) b.bytes = std::max(0.0, b.bytes - static_cast<double>(payload_bytes));
  return true;
}

// ---------------------------------------------------------------- Broker

void Broker::set_connect_auth(ConnId conn, AuthVerdict verdict, ClientIdentity identity) {
  ConnectionState* c = impl_->find_conn(conn);
  // Only the CONNECT still to come is judged; a late call for a connected client (or one
  // being closed) changes nothing.
  if (!c || c->phase != ConnPhase::AwaitConnect) return;
  c->auth_verdict = verdict;
  if (identity.username || identity.listener != 0) {
    c->identity = std::make_shared<const ClientIdentity>(std::move(identity));
  } else {
    c->identity.reset();  // the shared anonymous identity
  }
}

void Broker::set_access_policy(std::shared_ptr<const AccessPolicy> policy) {
  Impl& d = *impl_;
  d.access = std::move(policy);
  // Queued messages allowed under the old policy are asked again before they are sent.
  if (++d.policy_epoch == 0) d.policy_epoch = 1;
}

}  // namespace tern::core
