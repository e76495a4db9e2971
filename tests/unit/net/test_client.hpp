// Test helpers for tern_net: a small blocking MQTT client over a real socket (codec for the
// bytes, poll(2) for timeouts) and a Server running run() on its own thread.
// Thread safety: one TestClient per thread; RunningServer::stop() from the owning thread.
#pragma once

#include <asio.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "broker/codec/codec.hpp"
#include "broker/net/server.hpp"

namespace tern::net::test {

using namespace std::chrono_literals;
using Ms = std::chrono::milliseconds;

class TestClient {
 public:
  // Connects a TCP socket to host:port. `rcvbuf` > 0 shrinks SO_RCVBUF before connecting.
  TestClient(const std::string& host, std::uint16_t port, int rcvbuf = 0);

  bool ok() const { return ok_; }
  codec::ProtocolVersion version = codec::ProtocolVersion::v5;

  void send(const codec::Packet& p);
  void send_raw(std::string_view bytes);
  // Half-close: no more bytes from us, but we keep reading.
  void shutdown_send();
  // The next packet, or nullopt on timeout, peer close or undecodable input.
  std::optional<codec::Packet> recv(Ms timeout = 2000ms);
  // Next packet of type T, skipping others; nullopt on timeout/close.
  template <class T>
  std::optional<T> recv_as(Ms timeout = 2000ms) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const auto left = std::chrono::duration_cast<Ms>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      auto p = recv(left);
      if (!p) return std::nullopt;
      if (auto* t = std::get_if<T>(&*p)) return std::move(*t);
    }
  }
  // True once the server has closed the connection (EOF or reset) within `timeout`;
  // packets received meanwhile are discarded.
  bool wait_closed(Ms timeout = 2000ms);
  bool peer_closed() const { return closed_; }

  // CONNECT and wait for the CONNACK; returns its reason code, or -1 if none came.
  int connect(const std::string& client_id, codec::ProtocolVersion v = codec::ProtocolVersion::v5,
              bool clean = true);
  // SUBSCRIBE one filter and wait for the SUBACK; returns the granted code, or -1.
  int subscribe(const std::string& filter, std::uint8_t qos, std::uint16_t packet_id = 1);
  void publish(const std::string& topic, std::string payload, std::uint8_t qos = 0,
               std::uint16_t packet_id = 0);
  // PINGREQ -> PINGRESP within the timeout.
  bool ping(Ms timeout = 2000ms);

 private:
  bool fill(Ms timeout);  // reads more bytes into buf_; false on timeout/close

  asio::io_context ctx_;
  asio::ip::tcp::socket sock_;
  std::string buf_;
  std::size_t pos_ = 0;  // decoded up to here
  bool ok_ = false;
  bool closed_ = false;
};

// A bare blocking socket (no io_context, no buffers): many of them cost the test process
// almost no user-space memory, so RSS growth is the server's.
class RawSocket {
 public:
  explicit RawSocket(std::uint16_t port);  // 127.0.0.1
  ~RawSocket();
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;
  bool ok() const { return fd_ >= 0; }
  void send_connect(const std::string& client_id);
  // PINGREQ, then waits for the 2-byte PINGRESP that follows the CONNACK.
  bool ping();

 private:
  int fd_ = -1;
};

// A Server on 127.0.0.1 port 0 (unless the options say otherwise) running on a thread.
class RunningServer {
 public:
  explicit RunningServer(ServerOptions net, core::BrokerOptions core = {});
  ~RunningServer();
  bool started() const { return started_; }
  const std::string& error() const { return error_; }
  std::uint16_t port(std::size_t listener = 0) const;
  Server& server() { return server_; }
  // stop() and join; returns how long it took.
  std::chrono::steady_clock::duration stop();

 private:
  Server server_;
  std::thread thread_;
  bool started_ = false;
  std::string error_;
};

ServerOptions loopback_options(unsigned io_threads = 1);
// Resident set size of this process in bytes (/proc/self/status), 0 if unknown or not
// meaningful (sanitizers keep shadow memory and freed blocks resident).
std::size_t rss_bytes();
// Heap bytes in use (all malloc arenas).
std::size_t heap_bytes();
// Polls `pred` every 5 ms until it holds or `timeout` passes.
template <class Pred>
bool eventually(Pred pred, Ms timeout = 3000ms) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

}  // namespace tern::net::test
