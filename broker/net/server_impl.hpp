// Internals of net::Server shared by server.cpp and connection.cpp: the event loops, routed
// action batches, and Engine, which owns the core::Broker and the mutex guarding it.
// Private to broker/net. Thread safety is stated per member ("loop thread" = the thread
// running that Loop's io_context; "under mu" = Engine::mu held).
#pragma once

#include <asio.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "broker/core/broker.hpp"
#include "broker/net/server.hpp"
#include "storage/clock.hpp"
#include "storage/committer.hpp"
#include "storage/store.hpp"

namespace tern::net {

class Connection;
class TransportLayers;
struct Engine;

// Connections are refcounted intrusively (one 4-byte count inside the object) rather than by
// shared_ptr (a 16-byte control block plus 16 bytes of enable_shared_from_this): idle
// connections are the broker's main memory cost. Handlers, batches and the registry hold
// references; the last one deletes. Counting is atomic: batches cross loops.
void conn_add_ref(Connection* c) noexcept;
void conn_release(Connection* c) noexcept;

class ConnPtr {
 public:
  ConnPtr() = default;
  explicit ConnPtr(Connection* c) noexcept : p_(c) {
    if (p_) conn_add_ref(p_);
  }
  ConnPtr(const ConnPtr& o) noexcept : ConnPtr(o.p_) {}
  ConnPtr(ConnPtr&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  ConnPtr& operator=(ConnPtr o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~ConnPtr() {
    if (p_) conn_release(p_);
  }
  void reset() noexcept { ConnPtr().swap(*this); }
  void swap(ConnPtr& o) noexcept { std::swap(p_, o.p_); }
  Connection* get() const noexcept { return p_; }
  Connection* operator->() const noexcept { return p_; }
  Connection& operator*() const noexcept { return *p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }

 private:
  Connection* p_ = nullptr;
};

// The open connections by ConnId, in slots reused after close (8 bytes per slot, against
// ~56 for a hash map node). An id is (sequence << kSlotBits | slot): the sequence makes ids
// unique for the broker's life although slots are reused. Not thread-safe (under mu).
class ConnRegistry {
 public:
  static constexpr unsigned kSlotBits = 24;
  static constexpr std::size_t kMaxSlots = std::size_t{1} << kSlotBits;

  // Stores `c` and returns its new id; 0 when all slots are taken.
  core::ConnId add(ConnPtr c);
  // The connection with this id, or null.
  const ConnPtr* find(core::ConnId id) const;
  void remove(core::ConnId id);
  std::size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  // Takes every connection out (teardown).
  std::vector<ConnPtr> take_all();

 private:
  std::vector<ConnPtr> slots_;
  std::vector<std::uint32_t> free_;
  std::uint64_t next_seq_ = 1;
  std::size_t count_ = 0;
};

using Executor = asio::io_context::executor_type;
// Bound to a concrete io_context executor: smaller than with the type-erased default.
using Acceptor = asio::basic_socket_acceptor<asio::ip::tcp, Executor>;
using Timer = asio::basic_waitable_timer<core::Clock, asio::wait_traits<core::Clock>, Executor>;

// One core action bound to its connection. SendPublish (the fan-out hot path) and SendAck
// (acknowledgements) are kept inline; any other action is boxed, because a core::Action
// is ~1.2 KB and batches should stay small.
struct Routed {
  ConnPtr conn;
  std::variant<core::SendPublish, core::SendAck, std::unique_ptr<core::Action>> what;
};

// Written by the owning loop thread only; read (relaxed) by Server::stats() from any thread.
struct LoopCounters {
  std::atomic<std::int64_t> queued_bytes{0};  // gauge: outbound bytes not yet written
  std::atomic<std::uint64_t> slow_disconnects{0};
  std::atomic<std::uint64_t> slow_dropped{0};
  std::atomic<std::uint64_t> malformed{0};
  std::atomic<std::uint64_t> tls_failures{0};
  std::atomic<std::uint64_t> ws_failures{0};
};

// Connection::authenticate's verdict on a CONNECT, kept until Connection::deliver hands it to
// the broker. Both run within one read of one connection, so each loop needs one slot, and a
// Connection does not carry a pointer for it all its life.
struct PendingAuth {
  const Connection* conn = nullptr;
  core::AuthVerdict verdict = core::AuthVerdict::Accepted;
  core::ClientIdentity identity;
};

// One event loop: an io_context run by exactly one thread. Connections are pinned to it.
struct Loop {
  static constexpr std::size_t kScratchSize = 64 * 1024;

  Loop(Engine& s, unsigned i) : srv(s), index(i), ctx(1), work(asio::make_work_guard(ctx)) {}

  // Runs `local` in order, then starts the coalesced writes of every dirty connection.
  // Reentrant calls return at once: the outer call picks up what they appended. Loop thread.
  void run_local();
  void flush_dirty();  // starts the coalesced writes of every dirty connection
  char* scratch_buffer();
  // Socket readiness. The loop keeps its own epoll set (edge-triggered, data = the
  // Connection), watched by one Asio wait: a connection waiting for input or output costs a
  // kernel epitem instead of an Asio socket's reactor record and wait operations on the
  // heap. Adds `fd` for good (closing the socket removes it); false when the set cannot be
  // created or has no room. The registration holds no reference: on_poll_ready() pins every
  // ready connection before it runs any of them. Loop thread.
  bool watch(Connection& c, int fd);
  void arm_poll();
  void on_poll_ready();

  Engine& srv;
  const unsigned index;
  asio::io_context ctx;  // concurrency hint 1: run by one thread (posts may come from any)
  asio::executor_work_guard<Executor> work;
  std::thread thread;  // loops 1..n-1; loop 0 runs on the caller of run()
  // Batches posted to this loop by drains and not yet started. Incremented under mu by any
  // loop, decremented by this loop's thread; read under mu by this loop's own drains.
  std::atomic<std::uint32_t> posted{0};

  // Loop thread only:
  std::unique_ptr<char[]> scratch;     // read buffer shared by all the loop's connections
  std::vector<codec::DecodeResult> decoded;  // reused per read (status Ok each)
  std::string app_scratch;             // MQTT bytes out of TLS/WebSocket, per read
  std::string layer_scratch;           // TLS plaintext on its way to WebSocket, per read
  std::vector<Routed> local;           // actions for this loop from its own drains
  std::optional<PendingAuth> pending_auth;
  bool in_local = false;
  // Set while one epoll batch is served: run_local leaves the writes to the end of the
  // batch, so bytes that several ready publishers route to one subscriber go out in one
  // send() rather than one per publisher.
  bool in_poll_batch = false;
  bool in_flush = false;
  std::vector<ConnPtr> flushing;  // flush_dirty()'s turn; swapped with `dirty`
  std::vector<ConnPtr> dirty;  // have bytes queued, no write started
  // watch()'s epoll set (-1: not created yet) and the wait on it.
  int poll_fd = -1;
  bool poll_waiting = false;
  std::optional<asio::posix::basic_stream_descriptor<Executor>> poll_desc;
  std::vector<ConnPtr> ready;  // on_poll_ready's batch, reused

  alignas(64) LoopCounters counters;
};

struct Listener {
  Listener(std::size_t i, ListenerOptions o, Acceptor a)
      : index(i), opts(std::move(o)), acceptor(std::move(a)) {}
  const std::size_t index;
  ListenerOptions opts;
  Acceptor acceptor;  // on loop 0
  std::optional<Timer> backoff;  // retry after accept errors such as EMFILE
  std::atomic<std::size_t> live{0};
  std::atomic<std::uint64_t> accepted{0};  // metrics
  // TLS settings for new connections; replaced by Server::set_tls (any thread).
  std::shared_ptr<const tls::ServerContext> tls_context() const {
    std::lock_guard<std::mutex> lk(tls_mu);
    return tls_ctx;
  }
  void set_tls_context(std::shared_ptr<const tls::ServerContext> c) {
    std::lock_guard<std::mutex> lk(tls_mu);
    tls_ctx = std::move(c);
  }

 private:
  mutable std::mutex tls_mu;
  std::shared_ptr<const tls::ServerContext> tls_ctx;  // null: plain listener
};

struct Engine {
  Engine(ServerOptions net, core::BrokerOptions core);
  ~Engine();

  // Serialises access to the Broker (and everything marked "under mu"). Taken even with one
  // io thread: it is uncontended then (~20 ns per event), and broker_stats() may be called
  // from any thread.
  std::unique_lock<std::mutex> lock() { return std::unique_lock<std::mutex>(mu); }
  // Runs `event` (a call into the broker) under mu, routes its actions, then runs what it
  // left for loop 0 after the lock is released. `event` returns false when it did nothing.
  // REQUIRES: loop 0's thread, mu not held.
  template <class F>
  void on_loop0(F&& event) {
    Loop& l0 = *loops[0];
    {
      auto lk = lock();
      if (!event()) return;
      drain(l0);
    }
    l0.run_local();
  }
  // Routes broker.actions() to their connections: those on `current` go to current.local
  // (run after the lock is released) unless batches posted to `current` are still pending,
  // the rest are posted, one batch per loop, while the lock is still held, so that each
  // connection sees its actions in core's order. REQUIRES: under mu, on current's thread.
  void drain(Loop& current);
  // A connection's transport closed: tell the broker once, route the fallout, forget it.
  // Loop thread of `loop`. Takes mu.
  void connection_closed(Loop& loop, core::ConnId id);
  // A connection slot was given back (socket closed).
  void release_slot(std::size_t listener);

  // Security (security.cpp). The authenticator for the next CONNECT (any thread).
  std::shared_ptr<const auth::Authenticator> current_authenticator() const;
  void set_authenticator(std::shared_ptr<const auth::Authenticator> a);
  // Builds each TLS listener's context from its options. start() only.
  bool create_tls_contexts(std::string& error);
  // The transport layers for a connection accepted on `l` (null: plain MQTT over TCP).
  std::unique_ptr<TransportLayers> make_layers(const Listener& l);
  // connect_rate: takes one token, false when the bucket is empty. Loop 0.
  bool take_connect_token(core::Time now);

  // Loop 0 only:
  // Waits for the listener to become readable, then accepts everything queued on it.
  void start_accept(Listener& l);
  void on_acceptable(Listener& l, const asio::error_code& ec);
  // Admits (or refuses, by connect_rate and the connection limits) one accepted socket.
  void admit(Listener& l, int fd, core::Time now);
  void open_connection(std::size_t listener, Loop& loop, int fd);
  void arm_tick(core::Time at);
  void on_tick(const asio::error_code& ec);
  void begin_shutdown();
  void stop_loops();  // any thread

  // Internal clients (internal.cpp). Ids carry kInternalBit, so they never meet the
  // registry's ids. REQUIRES for all three: loop 0, mu not held.
  static constexpr core::ConnId kInternalBit = core::ConnId{1} << 62;
  void internal_open(core::ConnId id, std::shared_ptr<InternalClient> client,
                     core::InternalSessionOptions o);
  void internal_packet(core::ConnId id, codec::Packet&& p);
  void internal_close(core::ConnId id);
  // Routes an action of drain() to its internal client. REQUIRES: under mu.
  bool route_internal(core::ConnId id, core::Action& a);
  void flush_internal();  // hands the routed actions over; under mu

  // Storage (persistence.cpp), all inert without opts.storage.path.
  // Opens the store, resumes the broker clock, restores core's state and starts the
  // committer. start() only, before any listener accepts.
  bool open_storage(std::string& error);
  // Hands core's PersistRequests to the committer. REQUIRES: under mu.
  void submit_persist();
  // Committer callback (storage thread): reports the commit to core on loop 0.
  void on_commit(std::uint64_t token, const storage::Status& st);
  // The broker clock checkpoint (storage/clock.hpp): every kCheckpointInterval and at stop.
  void write_checkpoint();
  void arm_checkpoint();  // loop 0
  // After the loops ended: last checkpoint, then every pending write is committed.
  void close_storage();

  const ServerOptions opts;
  const std::uint32_t max_packet_size;  // decoder limit, from core options

  std::mutex mu;
  core::Broker broker;                                                  // under mu
  ConnRegistry conns;                                                   // under mu
  std::vector<std::vector<Routed>> outbox;                              // under mu; per loop
  core::Time armed_deadline = core::Time::max();                        // under mu
  bool stopping = false;                                                // under mu

  std::vector<std::unique_ptr<Loop>> loops;  // fixed after construction
  std::vector<std::unique_ptr<Listener>> listeners;  // fixed after start()
  std::vector<BoundListener> bound;

  // Loop 0 only:
  std::optional<Timer> tick_timer;
  std::optional<Timer> shutdown_timer;
  std::optional<asio::basic_signal_set<Executor>> signals;
  std::size_t next_loop = 0;
  core::Time last_refusal_log{};
  std::uint64_t refusals_unlogged = 0;

  // Internal clients by id, and the actions routed to them by the current drain (under mu).
  std::unordered_map<core::ConnId, std::shared_ptr<InternalClient>> internal;
  std::vector<std::pair<core::ConnId, std::vector<core::Action>>> internal_out;
  std::vector<core::ConnId> internal_closing;  // got CloseConnection in this drain
  std::atomic<core::ConnId> next_internal{1};

  // Storage: store before committer, so the committer (which borrows it) goes first.
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<storage::Committer> committer;
  std::optional<storage::StorageClock> storage_clock;
  std::optional<Timer> checkpoint_timer;       // loop 0

  // Server::run_every tasks: registered before run(), armed when loop 0 starts, cancelled
  // when shutdown begins. Timers loop 0 only.
  struct Periodic {
    std::chrono::milliseconds period;
    std::function<void()> task;
    std::optional<Timer> timer;
  };
  std::vector<std::unique_ptr<Periodic>> periodic;
  void arm_periodic(Periodic& p);  // loop 0
  std::atomic<std::uint64_t> committed_token{0};  // newest token reported ok
  std::atomic<bool> commit_posted{false};         // a report to loop 0 is pending
  std::atomic<std::uint64_t> commit_failures{0};
  // Peer addresses by registry slot (ServerOptions::record_peer_addresses), under mu;
  // valid while conns holds that slot's connection.
  std::vector<asio::ip::tcp::endpoint> peers;

  mutable std::mutex sec_mu;
  std::shared_ptr<const auth::Authenticator> authenticator;  // under sec_mu
  double connect_tokens = 0;          // loop 0; connect_rate bucket
  core::Time connect_refilled{};      // loop 0
  std::atomic<std::uint64_t> rate_limited{0};
  std::atomic<std::uint64_t> auth_failures{0};

  std::atomic<std::uint64_t> ticks{0};  // on_tick runs on loop 0, at least once a second
  std::atomic<bool> stop_requested{false};
  bool started = false;  // start() succeeded
  std::atomic<std::size_t> live{0};  // open sockets, all listeners
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> refused{0};
};

// The pimpl is the Engine; the nested name only exists because the public header names it.
struct Server::Impl : Engine {
  using Engine::Engine;
};

}  // namespace tern::net
