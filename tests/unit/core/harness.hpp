// Test harness for core::Broker: a fake clock, helpers that send packets as a given
// connection, and per-connection inboxes of the actions the broker produced.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "broker/codec/codec.hpp"
#include "broker/core/broker.hpp"

namespace tern::core::test {

using codec::ProtocolVersion;
using namespace std::chrono_literals;

inline std::uint8_t u8(codec::ReasonCode r) { return static_cast<std::uint8_t>(r); }

struct ConnectArgs {
  std::string client_id;
  ProtocolVersion version = ProtocolVersion::v5;
  bool clean_start = true;
  std::uint16_t keep_alive = 0;
  std::optional<codec::Will> will;
  codec::Properties props;
};

// Everything the broker asked the transport to do for one connection, in order.
struct Inbox {
  std::vector<Action> actions;

  template <class P>
  std::vector<P> packets() const {
    std::vector<P> out;
    for (const auto& a : actions)
      if (auto* s = std::get_if<SendPacket>(&a))
        if (auto* p = std::get_if<P>(&s->packet)) out.push_back(*p);
    return out;
  }
  std::vector<SendPublish> publishes() const {
    std::vector<SendPublish> out;
    for (const auto& a : actions)
      if (auto* p = std::get_if<SendPublish>(&a)) out.push_back(*p);
    return out;
  }
  std::vector<ConnectionEvent> events() const {
    std::vector<ConnectionEvent> out;
    for (const auto& a : actions)
      if (auto* e = std::get_if<ConnectionEvent>(&a)) out.push_back(*e);
    return out;
  }
  bool closed() const {
    for (const auto& a : actions)
      if (std::holds_alternative<CloseConnection>(a)) return true;
    return false;
  }
  // Number of SendPacket/SendPublish actions (what goes on the wire).
  std::size_t wire_count() const {
    std::size_t n = 0;
    for (const auto& a : actions)
      if (std::holds_alternative<SendPacket>(a) || std::holds_alternative<SendPublish>(a)) ++n;
    return n;
  }
};

class Harness {
 public:
  explicit Harness(BrokerOptions opts = {}) : broker_(std::move(opts)) {}

  Broker& broker() { return broker_; }
  const BrokerStats& stats() const { return broker_.stats(); }
  // Acknowledgements core sent as a compact SendAck (shown to tests as SendPackets).
  std::size_t compact_acks() const { return compact_acks_; }
  Time now() const { return now_; }

  // Moves the fake clock and runs every timer that came due, in deadline order.
  void advance(Duration d) {
    const Time until = now_ + d;
    while (auto next = broker_.next_deadline()) {
      if (*next > until) break;
      now_ = std::max(now_, *next);
      broker_.on_tick(now_);
      collect();
    }
    now_ = until;
    broker_.on_tick(now_);
    collect();
  }

  ConnId open() {
    const ConnId c = next_conn_++;
    broker_.on_open(c, now_);
    collect();
    return c;
  }

  void send(ConnId c, codec::Packet p) {
    broker_.on_packet(c, std::move(p), now_);
    collect();
  }
  void decode_error(ConnId c, codec::ReasonCode reason, std::uint8_t level = 0) {
    codec::DecodeResult r;
    r.status = codec::DecodeStatus::Error;
    r.reason = reason;
    r.detail = "test";
    r.connect_protocol_level = level;
    broker_.on_decode_error(c, r, now_);
    collect();
  }
  // Broker::publish_system now, collecting the deliveries it produced.
  bool publish_system(SystemMessage m) {
    const bool ok = broker_.publish_system(std::move(m), now_);
    collect();
    return ok;
  }
  // The transport reports the socket gone (after CloseConnection or a peer drop).
  void closed(ConnId c) {
    broker_.on_closed(c, now_);
    collect();
  }

  static codec::Connect make_connect(const ConnectArgs& a) {
    codec::Connect c;
    c.version = a.version;
    c.clean_start = a.clean_start;
    c.keep_alive = a.keep_alive;
    c.client_id = a.client_id;
    c.will = a.will;
    c.props = a.props;
    return c;
  }

  // Opens a connection and sends CONNECT; returns the connection (CONNACK in its inbox).
  ConnId connect_raw(const ConnectArgs& a) {
    const ConnId c = open();
    send(c, make_connect(a));
    return c;
  }
  // Connects and requires CONNACK success; clears the inbox.
  ConnId connect(const ConnectArgs& a) {
    const ConnId c = connect_raw(a);
    auto acks = inbox(c).packets<codec::Connack>();
    REQUIRE(acks.size() == 1);
    REQUIRE(acks[0].reason_code == 0);
    clear(c);
    return c;
  }
  ConnId connect(const std::string& id, ProtocolVersion v = ProtocolVersion::v5) {
    return connect(ConnectArgs{id, v});
  }

  // SUBSCRIBE one filter; requires a SUBACK and clears the inbox of it (not of retained
  // publishes that follow). Returns the SUBACK code.
  std::uint8_t subscribe(ConnId c, const std::string& filter, std::uint8_t qos = 0,
                         codec::SubscribeEntry opts = {}, std::uint32_t sub_id = 0) {
    codec::Subscribe s;
    s.packet_id = next_packet_id_++;
    opts.filter = filter;
    opts.max_qos = qos;
    s.entries.push_back(opts);
    if (sub_id) s.props.subscription_identifiers.push_back(sub_id);
    const std::size_t before = inbox(c).actions.size();
    send(c, std::move(s));
    auto& acts = inbox(c).actions;
    REQUIRE(acts.size() > before);
    auto* sp = std::get_if<SendPacket>(&acts[before]);
    REQUIRE(sp != nullptr);
    auto* ack = std::get_if<codec::Suback>(&sp->packet);
    REQUIRE(ack != nullptr);
    REQUIRE(ack->reason_codes.size() == 1);
    const std::uint8_t code = ack->reason_codes[0];
    acts.erase(acts.begin() + static_cast<std::ptrdiff_t>(before));
    return code;
  }

  void publish(ConnId c, const std::string& topic, const std::string& payload,
               std::uint8_t qos = 0, bool retain = false, std::uint16_t packet_id = 0,
               codec::Properties props = {}) {
    codec::Publish p;
    p.topic = topic;
    p.payload = payload;
    p.qos = qos;
    p.retain = retain;
    p.packet_id = qos ? (packet_id ? packet_id : next_packet_id_++) : 0;
    p.props = std::move(props);
    send(c, std::move(p));
  }

  void puback(ConnId c, std::uint16_t id, std::uint8_t reason = 0) {
    codec::Puback a;
    a.packet_id = id;
    a.reason_code = reason;
    send(c, a);
  }
  void pubrec(ConnId c, std::uint16_t id, std::uint8_t reason = 0) {
    codec::Pubrec a;
    a.packet_id = id;
    a.reason_code = reason;
    send(c, a);
  }
  void pubrel(ConnId c, std::uint16_t id) {
    codec::Pubrel a;
    a.packet_id = id;
    send(c, a);
  }
  void pubcomp(ConnId c, std::uint16_t id) {
    codec::Pubcomp a;
    a.packet_id = id;
    send(c, a);
  }
  void disconnect(ConnId c, std::uint8_t reason = 0, codec::Properties props = {}) {
    codec::Disconnect d;
    d.reason_code = reason;
    d.props = std::move(props);
    send(c, d);
  }

  Inbox& inbox(ConnId c) { return inboxes_[c]; }
  void clear(ConnId c) { inboxes_[c].actions.clear(); }
  void clear_all() { inboxes_.clear(); }

  // Publishes delivered to `c` since the last clear, as payload strings.
  std::vector<std::string> payloads(ConnId c) {
    std::vector<std::string> out;
    for (const auto& p : inbox(c).publishes()) out.push_back(p.msg->payload);
    return out;
  }

 private:
  void collect() {
    for (auto& a : broker_.actions()) {
      const ConnId c = std::visit([](const auto& x) { return x.conn; }, a);
      // Tests read acknowledgements as packets, whichever form core sent them in.
      if (const auto* ack = std::get_if<SendAck>(&a)) {
        ++compact_acks_;
        a = SendPacket{ack->conn, to_packet(*ack), ack->version};
      }
      inboxes_[c].actions.push_back(std::move(a));
    }
    broker_.actions().clear();
  }

  Broker broker_;
  std::size_t compact_acks_ = 0;
  Time now_ = Time{} + std::chrono::hours(1);
  ConnId next_conn_ = 1;
  std::uint16_t next_packet_id_ = 1;
  std::map<ConnId, Inbox> inboxes_;
};

inline codec::Will make_will(const std::string& topic, const std::string& payload,
                             std::uint8_t qos = 0, bool retain = false,
                             std::optional<std::uint32_t> delay = std::nullopt) {
  codec::Will w;
  w.topic = topic;
  w.payload = payload;
  w.qos = qos;
  w.retain = retain;
  if (delay) w.props.will_delay_interval = *delay;
  return w;
}

}  // namespace tern::core::test
