// One client's byte pipeline: socket -> codec -> core::Broker, and actions -> codec -> socket.
// Owns its socket and, only while there is traffic, its buffers: an idle connection holds no
// buffer at all (reads land in the loop's shared scratch buffer first). The socket is a bare
// file descriptor in the loop's own epoll set (Loop::watch), not an Asio socket: Asio keeps a
// ~170-byte reactor record per socket, which was a sixth of an idle connection's memory.
// Thread safety: every member runs on the thread of the Loop the connection is pinned to.
#pragma once

#include <cstddef>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "broker/net/layers.hpp"
#include "broker/net/server_impl.hpp"

namespace tern::net {

class Connection {
 public:
  // Takes ownership of `fd`, a connected non-blocking TCP socket.
  Connection(Loop& loop, std::uint16_t listener, int fd);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  core::ConnId id() const { return id_; }
  void set_id(core::ConnId id) { id_ = id; }  // once, when registered
  Loop& loop() const { return loop_; }

  // Joins the loop's epoll set and starts reading. Call once, after the broker knows the
  // connection (on_open).
  void start();
  // Executes one routed action (send, close, log).
  void execute(Routed& r);
  // Starts a write of the coalesced outbound bytes unless one is in flight.
  void flush();
  // Server teardown: close the socket without telling the broker.
  void close_socket();
  // TLS and/or WebSocket between the socket and the codec. Before start().
  void set_layers(std::unique_ptr<TransportLayers> layers) { layers_ = std::move(layers); }

 private:
  friend struct Loop;  // on_poll_ready: on_poll_event
  friend void conn_add_ref(Connection* c) noexcept;
  friend void conn_release(Connection* c) noexcept;
  ConnPtr ref() { return ConnPtr(this); }

  struct Buffers {
    std::string in;       // a partial packet carried over between reads
    std::string out;      // encoded packets waiting for the write in flight
    std::string writing;  // the bytes of the write in flight
    std::size_t sent = 0;  // of `writing`, already handed to the kernel
  };

  void wait_readable();
  // The loop's epoll set reported the socket readable and/or writable (see Loop::watch).
  void on_poll_event(std::uint32_t events);
  void on_readable();
  void on_bytes(std::string_view data);
  // Wire bytes through the transport layers, then on_bytes with the MQTT bytes.
  void on_wire_bytes(std::string_view data);
  // The CONNECT is about to be decoded further: authenticate it (outside the broker lock;
  // PBKDF2 may take milliseconds) and keep the verdict for deliver().
  void authenticate(const codec::Connect& c);
  // Feeds every complete packet of `data` to the broker; returns the bytes used.
  std::size_t consume(std::string_view data);
  // Decodes up to a batch of packets into loop_.decoded; returns the bytes used.
  std::size_t decode_some(std::string_view data, std::optional<codec::DecodeResult>& error);
  // Hands loop_.decoded (and a decode error) to the broker under one lock, then runs the
  // resulting local actions.
  void deliver(std::optional<codec::DecodeResult>& error);

  bool can_send() const { return !closing_ && !closed_; }
  Buffers& buffers();
  void release_idle_buffers();
  std::size_t queued() const;
  void adjust_queued(std::int64_t delta);
  void appended(std::size_t n);
  void send_packet(const core::SendPacket& sp);
  void send_ack(const core::SendAck& sa);
  void send_publish(const core::SendPublish& p);
  void log_event(const core::ConnectionEvent& e);
  // Moves what is queued into `writing` (through the transport layers); false if nothing is.
  bool take_outbound();
  // Sends `writing` from `sent` on; true when all of it went. On EAGAIN it waits for the
  // socket to become writable (write_waiting_); on an error it aborts.
  bool send_writing();
  void write_done();
  // The socket took more bytes after an EAGAIN: continue the write in flight.
  void on_writable();

  // CloseConnection from core: flush what is queued, then shut down.
  void begin_close();
  void after_flush();
  // Transport failure or policy: close at once, then tell the broker.
  void abort();
  void notify_closed();
  void arm_close_timer(core::Duration d);
  std::string remote() const;

  Loop& loop_;
  int fd_ = -1;
  core::ConnId id_ = 0;
  std::unique_ptr<Buffers> bufs_;       // null while idle
  std::unique_ptr<Timer> close_timer_;  // only while closing
  std::unique_ptr<TransportLayers> layers_;  // null for plain MQTT over TCP
  std::atomic<std::uint32_t> refs_{0};
  std::uint16_t listener_;
  // Bit-fields: with them the flags fit beside fd_, refs_ and listener_ in two words.
  codec::ProtocolVersion version_ : 3 = codec::ProtocolVersion::v5;
  bool version_known_ : 1 = false;  // a CONNECT was decoded
  bool read_waiting_ : 1 = false;   // a readiness wait (or a posted continuation) is pending
  bool poll_added_ : 1 = false;     // the socket is in the loop's epoll set (see Loop::watch)
  bool poll_waiting_ : 1 = false;   // read_waiting_ on that set (not a posted continuation)
  bool write_waiting_ : 1 = false;  // a send hit EAGAIN; the set reports when it may go on
  bool shut_down_ : 1 = false;      // after_flush ran (sending side shut down)
  bool short_read_ok_ : 1 = false;  // this wake-up may stop reading at a short read
  bool write_in_flight_ : 1 = false;  // `writing` holds bytes not yet all sent
  bool flush_pending_ : 1 = false;  // listed in loop_.dirty
  bool input_done_ : 1 = false;     // decode error or closing: read only to discard
  bool closing_ : 1 = false;        // CloseConnection received, flushing
  bool peer_eof_ : 1 = false;       // the peer closed its side
  bool lingering_ : 1 = false;      // flushed and shut down for sending; draining input
  bool closed_ : 1 = false;         // socket closed
  bool notified_ : 1 = false;       // broker.on_closed called
};

}  // namespace tern::net
