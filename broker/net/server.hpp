// The network front of the broker: `io_threads` Asio event loops, TCP listeners (IPv4 and
// IPv6), and one byte pipeline per connection (socket -> codec -> core::Broker).
// A connection lives on one loop for its whole life. Owns the core::Broker.
// Thread safety: start() and run() from one thread; stop() from any thread.
#pragma once

#include <cstddef>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/auth/authenticator.hpp"
#include "broker/core/broker.hpp"
#include "broker/tls/tls.hpp"
#include "storage/committer.hpp"
#include "storage/store.hpp"

namespace tern::net {

enum class SlowClientPolicy : std::uint8_t {
  Disconnect,  // close a client whose outbound buffer exceeds the limit
  Drop,        // drop QoS 0 messages for it while over the limit (counted)
};

enum class ListenerTransport : std::uint8_t { Mqtt, WebSocket };

struct ListenerOptions {
  std::string name = "mqtt";
  std::string bind = "0.0.0.0:1883";  // "host:port", "[v6addr]:port"; port 0 = any free port
  std::size_t max_connections = 0;    // 0 = only the global limit applies
  ListenerTransport transport = ListenerTransport::Mqtt;
  std::string ws_path = "/mqtt";      // WebSocket only: the HTTP request path accepted
  // TLS on this listener (mqtts, wss). The context is built by Server::start() from
  // these settings and replaced by Server::set_tls().
  std::optional<tls::ServerOptions> tls;
  bool use_cn_as_username = false;    // TLS with client certificates: CN is the user name
  bool allow_anonymous = true;        // clients without a user name may connect
  bool accept_v311 = true;            // protocol versions accepted (else CONNACK 0x01/0x84)
  bool accept_v5 = true;
};

// storage: (CONFIG.md). With an empty path nothing is persisted.
struct StorageOptions {
  std::string path;  // LevelDB directory; empty = in memory only
  storage::SyncMode sync = storage::SyncMode::batch;
  std::chrono::microseconds batch_window{5000};
  storage::OnCorruption on_corruption = storage::OnCorruption::move_aside;
  std::size_t cache_size = 8u << 20;         // LevelDB block cache
  std::size_t write_buffer_size = 4u << 20;  // LevelDB memtable
  std::size_t queue_window = 256;            // per-session queued messages kept in RAM
  std::size_t queue_window_bytes = 256u << 10;
};

struct ServerOptions {
  std::vector<ListenerOptions> listeners{ListenerOptions{}};
  unsigned io_threads = 1;                   // >= 1; app resolves 0 to the core count
  std::size_t max_connections = 10000;       // all listeners together
  std::size_t outbound_buffer_limit = 1024 * 1024;  // bytes queued to one client
  SlowClientPolicy on_slow_client = SlowClientPolicy::Disconnect;
  bool handle_signals = true;                // SIGINT/SIGTERM stop run()
  // Called on loop 0 when SIGHUP arrives (with handle_signals): the app re-reads its
  // password file, ACLs and certificates and calls set_security()/set_tls(). Must not block
  // for long. Empty = SIGHUP is ignored (logged).
  std::function<void()> on_reload;
  double connect_rate = 0;                   // new connections per second, all listeners
                                             // together (a burst of one second's worth);
                                             // 0 = unlimited
  // Authentication of CONNECTs (null = every CONNECT is accepted, no identities) and
  // authorization (null = everything allowed). Replaced at run time by set_security().
  std::shared_ptr<const auth::Authenticator> authenticator;
  std::shared_ptr<const core::AccessPolicy> access_policy;
  StorageOptions storage;
  // Keep each connection's peer address for Server::clients() (the HTTP API's client
  // listing): 28 bytes per connection slot, so only when that API is on.
  bool record_peer_addresses = false;
};

struct BoundListener {
  std::string name;
  std::string address;  // as bound, e.g. "127.0.0.1"
  std::uint16_t port = 0;  // the real port, also when 0 was asked
};

struct ServerStats {
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_refused = 0;     // over a connection limit
  std::uint64_t slow_client_disconnects = 0;
  std::uint64_t slow_client_dropped = 0;     // QoS 0 messages dropped, policy Drop
  std::uint64_t malformed_packets = 0;
  std::uint64_t connections_open = 0;        // gauge: open client sockets
  std::uint64_t outbound_bytes_queued = 0;   // gauge: encoded bytes not yet written
  std::uint64_t connections_rate_limited = 0;  // refused over connect_rate
  std::uint64_t tls_handshake_failures = 0;
  std::uint64_t websocket_failures = 0;      // bad upgrade requests and frame violations
  std::uint64_t auth_failures = 0;           // CONNECTs refused by the authenticator
};

// One listener's figures (metrics per listener).
struct ListenerStats {
  std::string name;
  std::uint64_t connections_open = 0;      // gauge
  std::uint64_t connections_accepted = 0;  // since start
};

// Persistence figures (metrics, $SYS). All zero / default without a storage path.
struct StorageStats {
  bool enabled = false;
  std::uint64_t size_bytes = 0;       // files in the storage directory (bounded scan)
  storage::CommitterStats committer;  // commits, failures, bytes, latency histogram
  storage::CommitterDepth depth;      // pending batches
};

// One session for the HTTP API's client listing (Server::clients): core's view, plus the
// listener's name and, for a live network connection, the peer address.
struct ClientEntry {
  core::ClientInfo info;
  std::string listener;  // name of info.listener; empty for internal sessions
  std::string peer;      // "127.0.0.1:50312", "[::1]:50312"; empty offline, internal, or
                         // without ServerOptions::record_peer_addresses
};

struct ClientListing {
  std::vector<ClientEntry> clients;  // ordered by client id
  std::uint64_t total = 0;           // sessions in all
  core::Time now{};                  // when listed: connected_since / expires_at against it
};

// A client the broker runs in-process (a bridge's local side; see
// core::InternalSessionOptions). It talks MQTT 5 packets with core directly, no socket.
class InternalClient {
 public:
  virtual ~InternalClient() = default;
  // Core's actions for `conn`, in order (SendPublish, SendPacket, CloseConnection, ...).
  // Called with the broker lock held on an event loop thread: must not block or call the
  // Server; hand them to the client's own thread. After a CloseConnection, core has
  // forgotten the connection (net reports it closed) and nothing more arrives for it.
  virtual void on_actions(core::ConnId conn, std::vector<core::Action>&& actions) = 0;
};

class Server {
 public:
  Server(ServerOptions net, core::BrokerOptions core);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds every listener. On failure returns false with a message naming the listener.
  bool start(std::string& error);
  const std::vector<BoundListener>& listeners() const;
  // Runs the loops on io_threads threads (the caller's is one of them) until stop() or a
  // signal; then disconnects clients (v5: DISCONNECT 0x8B) and returns. REQUIRES: start()
  // succeeded; called once.
  void run();
  // Thread-safe, idempotent, returns at once (also callable before run()). run() returns
  // once every client is closed, after at most ~2 s for clients that do not read.
  void stop();

  core::BrokerStats broker_stats() const;
  // Advances at least once a second while loop 0 turns and takes the broker lock (its
  // timer tick): a liveness proof for a watchdog. Thread-safe.
  std::uint64_t loop_heartbeat() const;

  // Thread-safe; takes effect for CONNECTs and messages processed after the call.
  // Connected clients stay connected (SIGHUP reload). Null authenticator = accept all.
  void set_security(std::shared_ptr<const auth::Authenticator> authenticator,
                    std::shared_ptr<const core::AccessPolicy> access_policy);
  // New TLS settings for listener `name` (connections accepted from now on use them;
  // open ones keep theirs). False with `error` when the files do not load or the listener
  // has no TLS; the old context then stays.
  bool set_tls(const std::string& name, const tls::ServerOptions& opts, std::string& error);
  ServerStats stats() const;
  // Per listener, in configuration order. Thread-safe (atomics, no broker lock).
  std::vector<ListenerStats> listener_stats() const;
  // Thread-safe; lists the storage directory (a few dozen LevelDB files), so call it
  // every few seconds at most, not per message.
  StorageStats storage_stats() const;
  // Runs `task` on loop 0 every `period` from run() on, until shutdown begins (the $SYS
  // publisher, rate sampling). The task runs without the broker lock held and must not
  // block. REQUIRES: before run(); period > 0.
  void run_every(std::chrono::milliseconds period, std::function<void()> task);

  // Sessions ordered by client id from `offset`, at most `limit` (core caps it at
  // core::Broker::kMaxClientPage). Thread-safe; takes the broker lock for
  // O(sessions log limit): for an admin API, not a hot path.
  ClientListing clients(std::size_t offset, std::size_t limit) const;
  // /health's storage check: writes a small record (the broker clock checkpoint) through
  // the storage thread and calls `done` once with its status when durable per
  // storage.sync, on the storage thread (must not block), or at once on the caller's
  // thread when there is no store (ok) or the committer refuses it (busy, stopped).
  // Thread-safe. REQUIRES: start() succeeded.
  void probe_storage(std::function<void(const storage::Status&)> done);

  // ---- internal clients (bridges). Thread-safe; each call returns at once and its work
  // runs on loop 0 in call order. REQUIRES: start() succeeded; the client outlives the
  // connection (until it got CloseConnection or called close_internal and run() ended).
  // Opens a connection for `client`; it must send a v5 CONNECT first.
  core::ConnId open_internal(std::shared_ptr<InternalClient> client,
                             core::InternalSessionOptions opts);
  void internal_packet(core::ConnId conn, codec::Packet&& packet);
  // Closes it as a network failure would (the session stays, per its expiry).
  void close_internal(core::ConnId conn);
  // Ends the stored internal sessions not named in `keep` (see core::Broker::
  // end_internal_sessions_except); returns their ids. REQUIRES: after start(), before run().
  std::vector<std::string> end_internal_sessions_except(const std::vector<std::string>& keep);
  // Delivery state of a session (e.g. a bridge's queue), nullopt when it does not exist.
  std::optional<core::SessionStatus> session_status(const std::string& client_id) const;

  // Publishes messages from the broker itself (core::Broker::publish_system: the $SYS
  // tree), in order, under one broker lock on loop 0, routed like any event's actions.
  // Thread-safe: runs at once when called on loop 0 (e.g. from a run_every task), else is
  // posted there. Returns how many were published (invalid ones are skipped); 0 once
  // shutdown has begun, or when posted.
  std::size_t publish_system(std::vector<core::SystemMessage> msgs);

 private:
  void wait_signal();  // (re-)arms the signal wait on loop 0
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::net
