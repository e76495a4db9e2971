// Test harness for core::Broker with persistence: a Broker that can be "crashed" (dropped
// without closing its connections, its uncommitted PersistRequests lost) and restarted
// on the same storage::Store, a fake steady clock plus the broker clock that continues
// across restarts, and a committer the test drives by hand (or after every event).
// Thread safety: none; one test thread.
#pragma once

#include <catch2/catch.hpp>

#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <type_traits>
#include <algorithm>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "broker/core/broker.hpp"
#include "storage/clock.hpp"
#include "storage/memory_store.hpp"
#include "storage/store.hpp"
#include "tests/unit/core/harness.hpp"

namespace tern::core::test {

// A v5 CONNECT with clean start 0 and a Session Expiry Interval (a persistent session when
// expiry > 0); for 3.1.1 clean session 0 (sessions.expiry_default applies).
inline ConnectArgs persistent_args(const std::string& id, std::uint32_t expiry = 3600,
                              ProtocolVersion v = ProtocolVersion::v5) {
  ConnectArgs a{id, v};
  a.clean_start = false;
  if (v == ProtocolVersion::v5) a.props.session_expiry_interval = expiry;
  return a;
}

// A fresh directory under $TMPDIR or /tmp, removed with everything in it.
class PersistTempDir {
 public:
  PersistTempDir() {
    // $TMPDIR when set (cross tests under qemu keep stores on tmpfs), else /tmp.
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                       "/tern-core-persist-XXXXXX";
    const char* p = mkdtemp(tmpl.data());
    if (p != nullptr) path_ = p;
  }
  ~PersistTempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  PersistTempDir(const PersistTempDir&) = delete;
  PersistTempDir& operator=(const PersistTempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct PersistSetup {
  BrokerOptions opts;
  bool persistence = true;  // false: enable_persistence is never called
  std::size_t queue_window = 256;
  std::size_t queue_window_bytes = 256 * 1024;
  // Commit every PersistRequest (and report it durable) after each event.
  bool auto_commit = false;
};

class PersistHarness {
 public:
  PersistHarness(storage::Store* store, PersistSetup setup)
      : store_(store), setup_(std::move(setup)) {
    start(storage::BrokerTime{});
  }

  Broker& broker() { return *broker_; }
  const BrokerStats& stats() const { return broker_->stats(); }
  Time now() const { return now_; }
  const RestoreStats& restore_stats() const { return restore_stats_; }
  void set_auto_commit(bool on) { setup_.auto_commit = on; }
  storage::Store& store() { return *store_; }

  // Broker time now (what a checkpoint would store).
  storage::BrokerTime broker_now() const { return clock_->to_broker(now_); }

  // ---- crash and restart
  // A kill -9: the Broker goes away without closing its connections or committing its
  // pending requests; `downtime` passes; a new Broker (a new process: its steady clock
  // has another epoch) opens `next_store` (or the same store) and restores.
  void restart(Duration downtime = Duration::zero(), storage::Store* next_store = nullptr) {
    const storage::BrokerTime crashed_at = broker_now();
    broker_.reset();
    inboxes_.clear();
    if (next_store != nullptr) store_ = next_store;
    // A different steady epoch than the last run, so a Time stored as-is would be wrong.
    epoch_shift_ += std::chrono::minutes(7);
    now_ = Time{} + std::chrono::hours(1) + epoch_shift_;
    start(crashed_at + std::chrono::duration_cast<storage::BrokerClock::duration>(downtime));
  }
  // Only for tests that reopen a LevelDbStore: the Broker must not outlive its store.
  void crash() {
    broker_.reset();
    inboxes_.clear();
  }

  // ---- the committer
  std::size_t pending() { return broker_->persist_requests().size(); }
  std::vector<std::uint64_t> pending_tokens() {
    std::vector<std::uint64_t> out;
    for (const auto& r : broker_->persist_requests()) out.push_back(r.token);
    return out;
  }
  // Writes every pending request (in order) to the store, then reports each durable.
  // Returns how many requests were committed (on_persisted may produce more; they are
  // committed too).
  std::size_t commit() {
    std::size_t n = 0;
    for (int round = 0; round < 1000 && pending() > 0; ++round) {
      std::vector<std::uint64_t> tokens;
      for (auto& r : broker_->persist_requests()) {
        REQUIRE(r.batch.status().ok());
        const storage::Status st = store_->write(r.batch, true);
        REQUIRE(st.ok());
        tokens.push_back(r.token);
      }
      broker_->persist_requests().clear();
      for (std::uint64_t t : tokens) {
        broker_->on_persisted(t, storage::Status::ok_status(), now_);
        collect_only();
      }
      n += tokens.size();
    }
    return n;
  }
  // Writes the pending requests to the store but reports only `tokens` durable (the
  // others stay unreported until report()).
  void write_pending() {
    for (auto& r : broker_->persist_requests()) {
      REQUIRE(r.batch.status().ok());
      const storage::Status st = store_->write(r.batch, true);
      REQUIRE(st.ok());
    }
    broker_->persist_requests().clear();
  }
  void report(std::uint64_t token, const storage::Status& st = storage::Status::ok_status()) {
    broker_->on_persisted(token, st, now_);
    collect();
  }
  // The storage thread failed: the pending requests are dropped and reported failed.
  void fail_pending() {
    auto tokens = pending_tokens();
    REQUIRE(!tokens.empty());
    broker_->persist_requests().clear();
    broker_->on_persisted(tokens.back(), storage::Status::io_error("test: disk full"), now_);
    collect();
  }

  // ---- events (as harness.hpp's Harness)
  void advance(Duration d) {
    const Time until = now_ + d;
    while (auto next = broker_->next_deadline()) {
      if (*next > until) break;
      now_ = std::max(now_, *next);
      broker_->on_tick(now_);
      collect();
    }
    now_ = until;
    broker_->on_tick(now_);
    collect();
  }
  ConnId open() {
    const ConnId c = next_conn_++;
    broker_->on_open(c, now_);
    collect();
    return c;
  }
  void send(ConnId c, codec::Packet p) {
    broker_->on_packet(c, std::move(p), now_);
    collect();
  }
  void closed(ConnId c) {
    broker_->on_closed(c, now_);
    collect();
  }

  ConnId connect_raw(const ConnectArgs& a) {
    const ConnId c = open();
    send(c, Harness::make_connect(a));
    return c;
  }
  // Connects and requires CONNACK success. Only the CONNACK is removed from the inbox:
  // what follows it in the same event (resent flows, queued messages) stays.
  ConnId connect(const ConnectArgs& a, bool* session_present = nullptr) {
    const ConnId c = connect_raw(a);
    auto& acts = inbox(c).actions;
    bool found = false;
    for (auto it = acts.begin(); it != acts.end(); ++it) {
      auto* sp = std::get_if<SendPacket>(&*it);
      if (sp == nullptr) continue;
      auto* ack = std::get_if<codec::Connack>(&sp->packet);
      if (ack == nullptr) continue;
      REQUIRE(ack->reason_code == 0);
      if (session_present) *session_present = ack->session_present;
      acts.erase(it);
      found = true;
      break;
    }
    REQUIRE(found);
    // Drop the Connected event: tests look at the wire.
    std::erase_if(acts, [](const Action& x) { return std::holds_alternative<ConnectionEvent>(x); });
    return c;
  }
  ConnId connect(const std::string& id, ProtocolVersion v = ProtocolVersion::v5) {
    return connect(ConnectArgs{id, v});
  }
  // Connects with clean start 0 and returns the CONNACK's session present flag.
  bool reconnect_present(const ConnectArgs& a, ConnId* out = nullptr) {
    bool present = false;
    const ConnId c = connect(a, &present);
    if (out) *out = c;
    return present;
  }

  // SUBSCRIBE one filter; requires a SUBACK (removed from the inbox); returns its code.
  std::uint8_t subscribe(ConnId c, const std::string& filter, std::uint8_t qos = 0,
                         codec::SubscribeEntry opts = {}, std::uint32_t sub_id = 0) {
    codec::Subscribe s;
    s.packet_id = next_id();
    opts.filter = filter;
    opts.max_qos = qos;
    s.entries.push_back(opts);
    if (sub_id) s.props.subscription_identifiers.push_back(sub_id);
    const std::size_t before = inbox(c).actions.size();
    send(c, std::move(s));
    auto& acts = inbox(c).actions;
    for (std::size_t i = before; i < acts.size(); ++i) {
      auto* sp = std::get_if<SendPacket>(&acts[i]);
      if (sp == nullptr) continue;
      auto* ack = std::get_if<codec::Suback>(&sp->packet);
      if (ack == nullptr) continue;
      REQUIRE(ack->reason_codes.size() == 1);
      const std::uint8_t code = ack->reason_codes[0];
      acts.erase(acts.begin() + static_cast<std::ptrdiff_t>(i));
      return code;
    }
    FAIL("no SUBACK for " << filter);
    return 0xFF;
  }

  // Returns the packet id used (0 for QoS 0).
  std::uint16_t publish(ConnId c, const std::string& topic, const std::string& payload,
                        std::uint8_t qos = 0, bool retain = false, std::uint16_t packet_id = 0,
                        codec::Properties props = {}, bool dup = false) {
    codec::Publish p;
    p.topic = topic;
    p.payload = payload;
    p.qos = qos;
    p.retain = retain;
    p.dup = dup;
    p.packet_id = qos ? (packet_id ? packet_id : next_id()) : 0;
    p.props = std::move(props);
    const std::uint16_t id = p.packet_id;
    send(c, std::move(p));
    return id;
  }
  void puback(ConnId c, std::uint16_t id) { send(c, codec::Puback{{id, 0, {}}}); }
  void pubrec(ConnId c, std::uint16_t id) { send(c, codec::Pubrec{{id, 0, {}}}); }
  void pubrel(ConnId c, std::uint16_t id) { send(c, codec::Pubrel{{id, 0, {}}}); }
  void pubcomp(ConnId c, std::uint16_t id) { send(c, codec::Pubcomp{{id, 0, {}}}); }
  void disconnect(ConnId c, std::uint8_t reason = 0, codec::Properties props = {}) {
    codec::Disconnect d;
    d.reason_code = reason;
    d.props = std::move(props);
    send(c, d);
    closed(c);  // the transport closes after the DISCONNECT
  }

  Inbox& inbox(ConnId c) { return inboxes_[c]; }
  void clear(ConnId c) { inboxes_[c].actions.clear(); }

  std::vector<std::string> payloads(ConnId c) {
    std::vector<std::string> out;
    for (const auto& p : inbox(c).publishes()) out.push_back(p.msg->payload);
    return out;
  }
  // The connection's wire actions as short strings, in order, for readable failures:
  // "PUBLISH <topic> <payload> q<qos> id=<id> dup=<0|1>", "PUBACK <id> ok",
  // "PUBREL <id> rc=<code>", ...
  std::vector<std::string> trace(ConnId c) {
    std::vector<std::string> out;
    for (const auto& a : inbox(c).actions) {
      if (auto* p = std::get_if<SendPublish>(&a)) {
        out.push_back("PUBLISH " + p->msg->topic + " " + p->msg->payload + " q" +
                      std::to_string(p->qos) + " id=" + std::to_string(p->packet_id) +
                      " dup=" + std::to_string(p->dup ? 1 : 0));
      } else if (auto* s = std::get_if<SendPacket>(&a)) {
        out.push_back(packet_text(s->packet));
      } else if (std::holds_alternative<CloseConnection>(a)) {
        out.push_back("CLOSE");
      }
    }
    return out;
  }

  // Acknowledges every QoS 1/2 PUBLISH in c's inbox (QoS 2: PUBREC, then PUBCOMP for the
  // PUBREL) until no new one arrives; returns the payloads in arrival order with "*"
  // appended to DUP ones. Clears the inbox.
  std::vector<std::string> ack_all(ConnId c) {
    std::vector<std::string> got;
    for (int round = 0; round < 100000; ++round) {
      Inbox in = std::move(inbox(c));
      clear(c);
      bool any = false;
      for (const auto& a : in.actions) {
        if (auto* p = std::get_if<SendPublish>(&a)) {
          any = true;
          got.push_back(p->msg->payload + (p->dup ? "*" : ""));
          if (p->qos == 1) puback(c, p->packet_id);
          if (p->qos == 2) pubrec(c, p->packet_id);
        } else if (auto* s = std::get_if<SendPacket>(&a)) {
          if (auto* rel = std::get_if<codec::Pubrel>(&s->packet)) {
            any = true;
            pubcomp(c, rel->packet_id);
          }
        }
      }
      if (!any) break;
    }
    return got;
  }

 private:
  static std::string packet_text(const codec::Packet& p) {
    return std::visit(
        [](const auto& x) -> std::string {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, codec::Puback>) return "PUBACK " + accept(x);
          else if constexpr (std::is_same_v<T, codec::Pubrec>) return "PUBREC " + accept(x);
          else if constexpr (std::is_same_v<T, codec::Pubrel>) return "PUBREL " + ids(x);
          else if constexpr (std::is_same_v<T, codec::Pubcomp>) return "PUBCOMP " + ids(x);
          else if constexpr (std::is_same_v<T, codec::Connack>)
            return "CONNACK sp=" + std::to_string(x.session_present ? 1 : 0);
          else if constexpr (std::is_same_v<T, codec::Suback>) return "SUBACK";
          else if constexpr (std::is_same_v<T, codec::Unsuback>) return "UNSUBACK";
          else if constexpr (std::is_same_v<T, codec::Disconnect>)
            return "DISCONNECT " + std::to_string(x.reason_code);
          else if constexpr (std::is_same_v<T, codec::Pingresp>) return "PINGRESP";
          else return "OTHER";
        },
        p);
  }
  // PUBACK / PUBREC: 0x00 and 0x10 (No matching subscribers, which a server MAY send
  // instead of 0x00) both mean accepted: "ok".
  static std::string accept(const codec::PubAck& a) {
    if (a.reason_code == 0x00 || a.reason_code == 0x10)
      return std::to_string(a.packet_id) + " ok";
    return ids(a);
  }
  static std::string ids(const codec::PubAck& a) {
    return std::to_string(a.packet_id) + " rc=" + std::to_string(a.reason_code);
  }

  void start(storage::BrokerTime broker_start) {
    clock_.emplace(broker_start, now_);
    broker_ = std::make_unique<Broker>(setup_.opts);
    restore_stats_ = RestoreStats{};
    if (setup_.persistence) {
      PersistenceOptions po;
      po.store = store_;
      po.clock = *clock_;
      po.queue_window = setup_.queue_window;
      po.queue_window_bytes = setup_.queue_window_bytes;
      broker_->enable_persistence(po);
      const storage::Status st = broker_->restore(now_, restore_stats_);
      REQUIRE(st.ok());
    }
    collect();
  }

  std::uint16_t next_id() {
    if (next_packet_id_ == 0) next_packet_id_ = 1;
    return next_packet_id_++;
  }

  void collect_only() {
    for (auto& a : broker_->actions()) {
      const ConnId c = std::visit([](const auto& x) { return x.conn; }, a);
      // Tests read acknowledgements as packets, whichever form core sent them in.
      if (const auto* ack = std::get_if<SendAck>(&a))
        a = SendPacket{ack->conn, to_packet(*ack), ack->version};
      inboxes_[c].actions.push_back(std::move(a));
    }
    broker_->actions().clear();
  }
  void collect() {
    collect_only();
    if (setup_.auto_commit && setup_.persistence) commit();
  }

  storage::Store* store_;
  PersistSetup setup_;
  std::unique_ptr<Broker> broker_;
  std::optional<storage::StorageClock> clock_;
  RestoreStats restore_stats_;
  Duration epoch_shift_{};
  Time now_ = Time{} + std::chrono::hours(1);
  ConnId next_conn_ = 1;
  std::uint16_t next_packet_id_ = 1;
  std::map<ConnId, Inbox> inboxes_;
};

// Shared by the persistence test files.
inline PersistSetup auto_commit_setup(std::size_t window = 256) {
  PersistSetup s;
  s.auto_commit = true;
  s.queue_window = window;
  return s;
}

inline std::vector<std::string> numbers(int from, int to) {  // "from" .. "to - 1"
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back(std::to_string(i));
  return out;
}

}  // namespace tern::core::test
