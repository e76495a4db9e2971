// Bridge internals shared by bridge.cpp (lifecycle, uplink events, the upstream drain,
// status) and local.cpp (the internal sessions: core's actions, the inbound publisher).
// Everything in Impl runs on the bridge's loop thread, except where marked.
#pragma once

#include <asio.hpp>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bridge/bridge.hpp"
#include "bridge/pacing.hpp"
#include "bridge/rules.hpp"
#include "bridge/uplink.hpp"
#include "broker/core/actions.hpp"
#include "broker/net/server.hpp"

namespace tern::bridge {

// Hands work from foreign threads (core's loop, under the broker lock; Paho's threads) to
// the bridge's loop. Work is queued and the loop woken once per burst, not once per item
// (a burst of PUBACKs or of core's deliveries costs one wake-up). Outlives the loop: once
// closed, posts are dropped.
// Thread safety: post() and close() from any thread; run() on the loop.
class Inbox {
 public:
  explicit Inbox(asio::io_context& io) : io_(&io) {}
  template <class F>
  void post(F&& f) {
    std::lock_guard<std::mutex> lk(mu_);
    if (!io_) return;
    const bool wake = queue_.empty();
    queue_.emplace_back(std::forward<F>(f));
    if (wake) asio::post(*io_, [this] { run(); });
  }
  void close() {
    std::lock_guard<std::mutex> lk(mu_);
    io_ = nullptr;
    queue_.clear();
  }

 private:
  void run() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      running_.swap(queue_);
    }
    for (auto& f : running_) f();
    running_.clear();  // keeps its capacity: no allocation per burst
  }
  std::mutex mu_;
  asio::io_context* io_;
  std::vector<std::function<void()>> queue_;    // guarded by mu_
  std::vector<std::function<void()>> running_;  // loop only
};

// One message core handed to an out session, waiting for (or in) its upstream flight.
struct OutItem {
  core::MessagePtr msg;
  std::uint16_t packet_id = 0;  // core's id; 0 for QoS 0
  std::uint8_t qos = 0;         // the delivery QoS core chose
  bool retain = false;
  std::optional<std::uint32_t> expiry;  // remaining seconds when core sent it
  SteadyTime received{};
};

// An out session's QoS 1/2 delivery from core, by core's packet id.
struct OutFlow {
  enum class State : std::uint8_t {
    Waiting,      // in the priority queues
    Upstream,     // handed to Paho, no answer yet (Paho resends it if the remote session
                  // survives an outage)
    RemoteAcked,  // the remote acknowledged it while the local session was closed: acked
                  // to core when core resends it
  };
  OutItem item;
  State state = State::Waiting;
  std::uint64_t send_id = 0;
};

enum class Phase : std::uint8_t { Closed, Connecting, Open, Refused };

// One internal session: an out priority class, or the inbound publisher.
struct LocalSession {
  std::string client_id;
  bool out = true;
  std::size_t cls = 0;    // out: index into RuleSet::out_classes()
  core::ConnId conn = 0;  // 0 = closed
  Phase phase = Phase::Closed;
  // From core's CONNACK.
  std::uint16_t core_receive_maximum = 65535;
  std::uint32_t core_max_packet = 0;  // 0 = none
  std::uint8_t core_max_qos = 2;
  bool core_retain = true;
  std::uint16_t keep_alive = 0;  // Server Keep Alive core imposed; 0 = none
  SteadyTime last_sent{};
  // out: core's deliveries in flight to the bridge.
  std::unordered_map<std::uint16_t, OutFlow> flows;
  // in: our QoS 1/2 publishes in flight to core (packet id -> QoS; QoS 2 entries become 3
  // once PUBREC arrived and PUBREL went out).
  std::unordered_map<std::uint16_t, std::uint8_t> in_flight;
  std::uint16_t next_id = 1;
};

// Where an upstream publish came from.
struct SendRef {
  std::size_t session = 0;
  std::uint16_t packet_id = 0;  // 0 for QoS 0
  std::uint8_t core_qos = 0;
};

// Counters read by status() on other threads; written on the loop.
struct Counters {
  std::atomic<std::uint64_t> connects{0};
  std::atomic<std::uint64_t> forwarded_out{0};
  std::atomic<std::uint64_t> forwarded_in{0};
  std::atomic<std::uint64_t> remote_rejected{0};
  std::atomic<std::uint64_t> dropped_too_large{0};
  std::atomic<std::uint64_t> dropped_unmapped{0};
  std::atomic<std::uint64_t> dropped_expired{0};
  std::atomic<std::uint64_t> dropped_in{0};
  std::atomic<std::uint64_t> dropped_qos0{0};  // the bridge's own (QoS 0 backlog full)
};

struct Bridge::Impl {
  class Local;  // the InternalClient of its sessions (below)
  Impl(BridgeOptions o, net::Server& srv);

  // ---- lifecycle (bridge.cpp)
  void start();
  void stop();
  BridgeStatus status() const;

  // ---- uplink (bridge.cpp)
  void on_uplink(UplinkEvent&& ev);
  void on_connected(UplinkConnected& ev);
  void on_connect_failed(const UplinkConnectFailed& ev);
  void on_lost(const UplinkLost& ev);
  void on_delivered(const UplinkDelivered& ev);
  void on_subscribed(const UplinkSubscribed& ev);
  void on_tls_error(const UplinkSslError& ev);
  // At a connection loss: drops a message the remote keeps disconnecting over.
  void check_poison();
  void connect_uplink();
  void schedule_reconnect();
  // Sends waiting messages upstream while the window, the rate and the gate allow.
  void drain();
  // Calls drain() after `d` (the rate limiter's wait, or a retry), once.
  void retry_drain_in(SteadyClock::duration d);
  // Returns false when Paho refused it at once (the link is going down).
  bool send_upstream(std::size_t cls, OutItem& item);
  void maybe_open_gate();
  void tick();
  void log_changes();

  // ---- local side (local.cpp)
  void open_local(LocalSession& s);
  // Closes it as a network failure would: the session stays and queues.
  void close_local(LocalSession& s);
  void on_core_actions(core::ConnId conn, std::vector<core::Action>&& actions);
  void on_connack(LocalSession& s, const codec::Connack& ack);
  void on_delivery(LocalSession& s, const core::SendPublish& sp);
  void on_core_closed(LocalSession& s);
  void forget_flows(LocalSession& s, bool keep_remote_state);
  void ack_core(LocalSession& s, std::uint16_t packet_id, std::uint8_t core_qos);
  void send_core(LocalSession& s, codec::Packet&& p);
  void on_remote_message(UplinkMessage&& m);
  // Publishes the inbound backlog to core within its Receive Maximum.
  void pump_in();
  LocalSession* session_for(core::ConnId conn);
  LocalSession* in_session();
  core::InternalSessionOptions session_options(const LocalSession& s) const;

  // ---- state
  const BridgeOptions opts;
  net::Server& server;
  const RuleSet rules;
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::shared_ptr<Inbox> inbox;
  std::thread thread;
  std::shared_ptr<Local> local_client;  // shared by all internal sessions
  std::unique_ptr<Uplink> uplink;

  std::vector<LocalSession> sessions;  // out classes (highest priority first), then in
  bool started = false;
  bool stopped = false;
  bool stopping = false;              // loop: no new upstream publishes, no reopening
  bool broker_shutting_down = false;  // core said so (DISCONNECT 0x8B): no reopening
  bool connected = false;
  bool connecting = false;
  bool gate_open = false;  // after a connect: every out session reopened (priority order)
  SteadyTime connected_at{};
  std::string remote;
  std::string last_error;  // of the last failed attempt, to log each new error once
  std::string last_tls_error;
  // The oldest unacknowledged message at the last quick connection losses (check_poison).
  struct Suspect {
    std::size_t session = 0;
    std::uint16_t packet_id = 0;
    unsigned strikes = 0;
  } suspect;
  bool fresh_next = false;  // the next connect starts a fresh remote session
  // The remote's limits (CONNACK).
  std::size_t window = 1;
  std::uint8_t remote_max_qos = 2;
  bool remote_retain = true;
  std::uint32_t remote_max_packet = 0;

  std::unordered_map<std::uint64_t, SendRef> sends;  // upstream in flight, by send id
  std::uint64_t next_send_id = 1;
  PriorityQueues<OutItem> waiting;
  std::deque<codec::Publish> in_backlog;  // from the remote, waiting for the local side
  std::size_t in_backlog_bytes = 0;

  Backoff backoff;
  TokenBucket bucket;
  EchoFilter echo;
  std::mt19937_64 rng;
  asio::steady_timer reconnect_timer;
  asio::steady_timer rate_timer;
  bool rate_timer_armed = false;
  asio::steady_timer gate_timer;
  asio::steady_timer tick_timer;
  asio::steady_timer reopen_timer;
  bool reopen_armed = false;

  // Status (read by other threads).
  Counters counters;
  mutable std::mutex status_mu;
  bool status_connected = false;  // guarded by status_mu
  std::string status_remote;      // guarded by status_mu
  // Last logged drop totals and backlog, for change logs (loop only).
  std::uint64_t logged_drops = 0;
  std::uint64_t logged_queued = 0;
  SteadyTime last_drop_log{};
};

// The InternalClient every internal session of a bridge shares: core's actions are
// posted to the bridge's loop (on_actions runs under the broker lock and must not block).
class Bridge::Impl::Local : public net::InternalClient {
 public:
  Local(std::shared_ptr<Inbox> inbox, Bridge::Impl* impl) : inbox_(std::move(inbox)), impl_(impl) {}
  void on_actions(core::ConnId conn, std::vector<core::Action>&& actions) override {
    Bridge::Impl* impl = impl_;
    inbox_->post([impl, conn, a = std::move(actions)]() mutable {
      impl->on_core_actions(conn, std::move(a));
    });
  }

 private:
  std::shared_ptr<Inbox> inbox_;
  Bridge::Impl* impl_;  // only dereferenced on the bridge's loop, which it outlives
};

// Bounds on what the bridge itself buffers (core's queue holds the backlog).
inline constexpr std::size_t kMaxQos0Waiting = 4096;  // per out class
inline constexpr std::size_t kMaxInBacklog = 10000;   // messages from the remote
inline constexpr std::size_t kMaxInBacklogBytes = 16u << 20;
inline constexpr std::size_t kEchoCapacity = 4096;

}  // namespace tern::bridge
