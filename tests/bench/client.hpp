// tern-bench's MQTT client connection: one TCP socket on the shared io_context, a growable
// read buffer decoded with tern_codec, and batched writes (everything queued while a write is
// in flight goes out in the next single write). Protocol decisions belong to the Handler.
// Thread safety: none; all calls on the io_context's one thread.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "broker/codec/codec.hpp"

namespace tern::bench {

using Clock = std::chrono::steady_clock;

enum class Role : std::uint8_t { Publisher, Subscriber, Idle };

class Client;

// Implemented by the runner. Callbacks run on the io thread, never re-entered from send().
class ClientHandler {
 public:
  virtual ~ClientHandler() = default;
  virtual void on_packet(Client& c, codec::Packet& p) = 0;
  // After a batch of packets from one read: a chance to refill send windows once per batch.
  virtual void on_batch_end(Client& c) = 0;
  virtual void on_closed(Client& c, std::string_view why) = 0;
};

class Client {
 public:
  Client(asio::io_context& io, ClientHandler& h, codec::ProtocolVersion v, Role role,
         std::size_t index);
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Connects, sends `connect`, then reads until closed. The CONNACK reaches on_packet.
  void start(const asio::ip::tcp::endpoint& ep, const codec::Connect& connect);
  void send(const codec::Packet& p);
  // Appends to the pending output; call flush() after a batch.
  std::string& out() { return pending_; }
  void flush();
  void close(std::string_view why);
  // Graceful end: sends DISCONNECT, half-closes once it is written and waits for the
  // broker to close (so the broker has processed the DISCONNECT when on_closed runs).
  // Anything queued afterwards is dropped: nothing may follow a DISCONNECT.
  void disconnect();
  bool disconnecting() const { return disconnect_sent_; }

  bool open() const { return open_; }
  Role role() const { return role_; }
  std::size_t index() const { return index_; }
  codec::ProtocolVersion version() const { return version_; }
  Clock::time_point last_send() const { return last_send_; }
  std::uint16_t keep_alive() const { return keep_alive_; }
  // Bytes queued or being written: what the broker has not yet taken from us.
  std::size_t backlog() const { return pending_.size() + writing_.size(); }

 private:
  void read();
  void on_read(std::size_t n);

  asio::ip::tcp::socket socket_;
  ClientHandler& handler_;
  codec::ProtocolVersion version_;
  Role role_;
  std::size_t index_;
  std::uint16_t keep_alive_ = 0;
  bool open_ = false;
  bool closed_ = false;
  bool write_busy_ = false;
  bool disconnect_sent_ = false;     // DISCONNECT queued; nothing after it goes out
  bool disconnect_flushed_ = false;  // ... and handed to the socket
  std::size_t disconnect_end_ = 0;   // pending_ size up to and including the DISCONNECT
  std::string pending_;
  std::string writing_;
  std::vector<char> in_;
  std::size_t in_begin_ = 0;
  std::size_t in_end_ = 0;
  Clock::time_point last_send_{};
};

}  // namespace tern::bench
