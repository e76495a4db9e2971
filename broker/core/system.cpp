// The broker as a publisher and as something to look at: Broker::publish_system (its own
// messages, e.g. the $SYS tree) and Broker::client_infos (the session listing of the
// admin API).
#include <algorithm>
#include <chrono>
#include <utility>

#include "broker/core/broker_impl.hpp"

namespace tern::core {

bool Broker::publish_system(SystemMessage in, Time now) {
  const EventScope<Impl> scope(*impl_, now);
  Impl& d = *impl_;
  // Checked as strictly as a client's PUBLISH, so nothing reaches a client that the
  // codec would refuse from one: a topic name [MQTT-3.3.2-2] and a payload announced as
  // UTF-8 that is UTF-8 (3.3.2.3.2).
  if (!codec::valid_topic_name(in.topic) || in.qos > 2) return false;
  if (in.props.payload_format_indicator == 1 && !codec::valid_utf8(in.payload)) return false;

  auto m = std::make_shared<Message>();
  m->topic = std::move(in.topic);
  m->payload = std::move(in.payload);
  m->qos = std::min(in.qos, d.opts.maximum_qos);
  m->retain = in.retain && d.opts.retain_available;
  m->take_props(std::move(in.props), now);  // only what a client's PUBLISH may carry
  m->created = now;  // origin_client_id stays empty: no client's No Local applies
  const MessagePtr msg = std::move(m);
  ++d.stats.system_published;
  // Over max_retained_bytes: not stored (counted), still delivered, as a will is.
  if (msg->retain) d.store_retained(msg, in.store_retained);
  d.route(msg, now);
  return true;
}

ClientPage Broker::client_infos(std::size_t offset, std::size_t limit) const {
  const Impl& d = *impl_;
  ClientPage page;
  page.total = d.sessions.size();
  limit = std::min(limit, kMaxClientPage);
  if (offset >= d.sessions.size() || limit == 0) return page;

  // Ordered by client id, so that pages stay stable while sessions come and go. Only the
  // first offset + limit are sorted.
  std::vector<const Session*> all;
  all.reserve(d.sessions.size());
  for (const auto& kv : d.sessions) all.push_back(&kv.second);
  const std::size_t end = std::min(all.size(), offset + limit);
  auto by_id = [](const Session* a, const Session* b) { return a->client_id < b->client_id; };
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(end), all.end(),
                    by_id);

  page.clients.reserve(end - offset);
  for (std::size_t i = offset; i < end; ++i) {
    const Session& s = *all[i];
    ClientInfo ci;
    ci.client_id = s.client_id;
    if (s.identity) {
      ci.username = s.identity->username;
      ci.listener = s.identity->listener;
    }
    ci.internal = Impl::trusted(s);
    ci.version = s.version;
    ci.session_expiry_interval = s.expiry_interval;
    ci.expires_at = s.expires_at;
    ci.subscriptions = s.subscriptions.size();
    ci.queued = d.queued_total(s);
    ci.inflight = s.inflight.size();
    const ConnectionState* c = s.live;
    if (c && c->phase == ConnPhase::Connected) {
      ci.connected = true;
      ci.conn = c->id;
      ci.keep_alive = c->keep_alive;
      ci.clean_start = c->clean_start;
      ci.connected_since = c->opened_at;
    }
    page.clients.push_back(std::move(ci));
  }
  return page;
}

}  // namespace tern::core
