#include "broker/ops/sys_topics.hpp"

#include <fmt/format.h>

#include <memory>
#include <utility>

namespace tern::ops {

namespace {

constexpr std::string_view kPrefix = "$SYS/broker/";

// A bridge name as one topic level: wildcards and separators would change the topic's
// meaning, so they become '_' (config already restricts names; this is a last guard).
std::string topic_level(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    if (c == '/' || c == '+' || c == '#' || c == '\0') c = '_';
  }
  if (out.empty()) out = "_";
  return out;
}

class Builder {
 public:
  void add(std::string_view suffix, std::string payload) {
    std::string topic(kPrefix);
    topic += suffix;
    out_.push_back(SysMessage{std::move(topic), std::move(payload)});
  }
  void add(std::string_view suffix, std::uint64_t v) { add(suffix, std::to_string(v)); }
  // Mosquitto prints its load averages with two decimals.
  void add_rate(std::string_view suffix, double v) { add(suffix, fmt::format("{:.2f}", v)); }
  std::vector<SysMessage> take() { return std::move(out_); }

 private:
  std::vector<SysMessage> out_;
};

}  // namespace

std::vector<SysMessage> sys_messages(const Snapshot& s) {
  const core::BrokerStats& b = s.broker;
  Builder m;
  m.add("version", "tern version " + s.version);
  m.add("uptime", fmt::format("{} seconds",
                              std::chrono::duration_cast<std::chrono::seconds>(s.uptime).count()));
  m.add("clients/connected", b.clients_connected);
  m.add("clients/disconnected", clients_disconnected(s));
  // Mosquitto: connected + disconnected, i.e. every session.
  m.add("clients/total", b.clients_connected + clients_disconnected(s));
  m.add("clients/maximum", b.clients_maximum);
  m.add("messages/received", b.messages_received);
  m.add("messages/sent", b.messages_sent);
  m.add("bytes/received", b.bytes_received);
  m.add("bytes/sent", b.bytes_sent);
  m.add_rate("load/messages/received/1min", s.rates_1min.messages_received);
  m.add_rate("load/messages/sent/1min", s.rates_1min.messages_sent);
  m.add_rate("load/bytes/received/1min", s.rates_1min.bytes_received);
  m.add_rate("load/bytes/sent/1min", s.rates_1min.bytes_sent);
  m.add("retained messages/count", b.retained_messages);
  m.add("subscriptions/count", b.subscriptions);
  m.add("messages/queued", b.queued_messages);
  for (const auto& [reason, n] : dropped_by_reason(s)) m.add("messages/dropped/" + reason, n);
  m.add("messages/dead_lettered", b.dead_lettered);
  m.add("store/size", s.storage.size_bytes);
  for (const BridgeFigures& br : s.bridges) {
    const std::string base = "bridges/" + topic_level(br.name) + "/";
    m.add(base + "state", br.connected ? "connected" : "disconnected");
    m.add(base + "queue/depth", br.queued);
    // Whole seconds: a millisecond value would change (and be republished) every round.
    m.add(base + "queue/oldest_age",
          static_cast<std::uint64_t>(br.oldest_age_seconds.value_or(0.0)));
    for (const auto& [reason, n] : br.dropped) m.add(base + "dropped/" + reason, n);
  }
  return m.take();
}

std::vector<SysMessage> SysPublisher::round(const Snapshot& s) {
  std::vector<SysMessage> all = sys_messages(s);
  std::vector<SysMessage> out;
  std::unordered_map<std::string, std::string> now;
  now.reserve(all.size());
  for (SysMessage& m : all) {
    const auto it = last_.find(m.topic);
    const bool changed = first_ || it == last_.end() || it->second != m.payload;
    if (changed) out.push_back(m);
    if (it != last_.end()) last_.erase(it);
    now.emplace(std::move(m.topic), std::move(m.payload));
  }
  // What is left of the previous round no longer exists: clear its retained message.
  for (auto& [topic, payload] : last_) out.push_back(SysMessage{topic, std::string()});
  last_ = std::move(now);
  first_ = false;
  return out;
}

std::vector<core::SystemMessage> to_system_messages(std::vector<SysMessage>&& msgs) {
  std::vector<core::SystemMessage> out;
  out.reserve(msgs.size());
  for (SysMessage& m : msgs) {
    core::SystemMessage sm;
    sm.topic = std::move(m.topic);
    sm.payload = std::move(m.payload);
    sm.qos = 0;
    sm.retain = true;  // a subscriber gets the current values at once
    sm.props.payload_format_indicator = 1;  // UTF-8 text
    sm.store_retained = false;
    out.push_back(std::move(sm));
  }
  return out;
}

void schedule_sys_topics(net::Server& server, Monitor& monitor, std::chrono::seconds interval) {
  server.run_every(kRateSampleInterval, [&monitor] { monitor.sample(); });
  if (interval.count() <= 0) return;
  auto publisher = std::make_shared<SysPublisher>();
  server.run_every(interval, [&server, &monitor, publisher] {
    // Loop 0, broker lock not held: snapshot() takes it briefly; publish_system runs at
    // once on loop 0 under one lock.
    (void)server.publish_system(to_system_messages(publisher->round(monitor.snapshot())));
  });
}

}  // namespace tern::ops
