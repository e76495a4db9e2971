// The dead-letter topic: what core drops for a receiver (queue overflow, memory budget,
// expiry, too large, rejected by an MQTT 5 receiver, a bridge's queue overflow) is
// republished to $DLQ/<reason>/<original topic> (see DeadLetterOptions). Drops are
// collected while an event is handled and published when it is done, so a dead letter
// never re-enters a delivery loop; a token bucket bounds how many there are.
#include <algorithm>
#include <chrono>
#include <utility>

#include "broker/core/broker_impl.hpp"

namespace tern::core {

namespace {

bool below(std::string_view topic, std::string_view root) {
  return topic.starts_with(root) && (topic.size() == root.size() || topic[root.size()] == '/');
}

// A topic name is at most 65535 bytes [MQTT-1.5.4-1] (UTF-8 string length).
constexpr std::size_t kMaxTopic = 0xFFFF;

}  // namespace

std::string_view to_string(DropReason r) {
  switch (r) {
    case DropReason::QueueFull:
      return "queue_full";
    case DropReason::MemoryBudget:
      return "memory_budget";
    case DropReason::Expired:
      return "expired";
    case DropReason::TooLarge:
      return "too_large";
    case DropReason::Rejected:
      return "rejected";
    case DropReason::BridgeOverflow:
      return "bridge_overflow";
  }
  return "unknown";
}

bool is_dead_letter_topic(std::string_view topic) { return below(topic, kDeadLetterRoot); }

bool is_broker_topic(std::string_view topic) {
  // Every such topic starts with '$': one compare for ordinary topics.
  return !topic.empty() && topic[0] == '$' &&
         (below(topic, kSysTopicRoot) || below(topic, kDeadLetterRoot));
}

bool Broker::Impl::take_dead_letter_token(Time now) {
  const double rate = opts.dead_letter.max_rate;
  if (rate <= 0) return false;
  // A bucket of one second's worth, refilled from the time of the last take. Time that
  // goes backwards (net stamps events before it takes the lock) refills nothing.
  if (!dlq_started) {
    dlq_started = true;
    dlq_tokens = rate;
    dlq_refilled = now;
  } else if (now > dlq_refilled) {
    const double secs = std::chrono::duration<double>(now - dlq_refilled).count();
    dlq_tokens = std::min(rate, dlq_tokens + rate * secs);
    dlq_refilled = now;
  }
  constexpr double kSlack = 1e-6;  // a refill one ulp short of a whole token counts
  if (dlq_tokens + kSlack < 1.0) return false;
  dlq_tokens = std::max(0.0, dlq_tokens - 1.0);
  return true;
}

void Broker::Impl::dead_letter(DropReason reason, std::string_view client,
                               const MessagePtr& msg) {
  if (!opts.dead_letter.enabled || !msg) return;
  // No loops: a dead letter that is itself dropped is only counted.
  if (is_dead_letter_topic(msg->topic)) return;
  const std::string_view why = to_string(reason);
  // "$DLQ/" + reason + "/" + topic must still be a topic name; one that would not is only
  // counted under its drop reason (a topic within a few bytes of 64 KiB).
  if (kDeadLetterRoot.size() + why.size() + 2 + msg->topic.size() > kMaxTopic) return;
  if (!take_dead_letter_token(last_now)) {
    ++stats.dead_letter_rate_limited;
    return;
  }
  dead_letters.push_back(PendingDeadLetter{reason, msg, std::string(client)});
}

void Broker::Impl::flush_dead_letters() {
  // Routing a dead letter may drop it again (a full $DLQ subscriber): such drops are not
  // collected (is_dead_letter_topic). It may also push an older ordinary message out of a
  // full queue, which is a drop like any other and is collected: hence the loop, which
  // ends because each round spends tokens of the bucket and every such drop takes a
  // message out of a bounded queue.
  std::vector<PendingDeadLetter> batch;
  while (!dead_letters.empty()) {
    batch.clear();
    batch.swap(dead_letters);
    for (PendingDeadLetter& d : batch) route(make_dead_letter(d), last_now);
  }
  // A small buffer is kept for the next event; a burst's is given back.
  constexpr std::size_t kKeep = 64;
  if (batch.capacity() <= kKeep) {
    batch.clear();
    dead_letters.swap(batch);
  }
}

MessagePtr Broker::Impl::make_dead_letter(PendingDeadLetter& d) {
  const Message& orig = *d.msg;
  const std::string_view why = to_string(d.reason);
  auto m = std::make_shared<Message>();
  m->topic.reserve(kDeadLetterRoot.size() + why.size() + 2 + orig.topic.size());
  m->topic.append(kDeadLetterRoot).append("/").append(why).append("/").append(orig.topic);
  m->payload = orig.payload;
  m->qos = orig.qos;  // as the original publish
  m->retain = false;
  // The payload's description and the publisher's user properties; not its response
  // topic, correlation data or expiry (a dead letter is for an operator, kept until read).
  codec::Properties& pr = m->props.edit();
  pr.payload_format_indicator = orig.props->payload_format_indicator;
  pr.content_type = orig.props->content_type;
  pr.user_properties.reserve(orig.props->user_properties.size() + 3);
  pr.user_properties = orig.props->user_properties;
  pr.user_properties.emplace_back("dlq_reason", std::string(why));
  pr.user_properties.emplace_back("dlq_client", std::move(d.client));
  pr.user_properties.emplace_back("dlq_topic", orig.topic);
  m->created = last_now;  // origin_client_id stays empty: the broker published it
  ++stats.dead_lettered;
  return m;
}

}  // namespace tern::core
