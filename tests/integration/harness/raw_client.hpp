// A minimal MQTT client on a blocking loopback socket, built on our codec, for what Paho
// hides: exact packets on the wire (DUP, packet ids, topic aliases, reason codes), malformed
// bytes, a client that goes silent or vanishes without DISCONNECT.
// Owns its socket and receive buffer. Thread safety: one thread per RawClient.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/codec/codec.hpp"
#include "broker/codec/packet.hpp"
#include "tests/integration/harness/process.hpp"

namespace tern::it {

enum class RecvStatus : std::uint8_t {
  Packet,       // a packet was decoded
  Timeout,      // nothing complete arrived in time; the connection is still open
  Closed,       // the broker closed the connection (EOF or reset)
  DecodeError,  // the broker sent bytes our codec rejects (a broker bug)
};

const char* to_string(RecvStatus s);
const char* to_string(codec::PacketType t);
// Short human form of a packet for failure messages, e.g. "PUBLISH q1 id=3 t=a/b".
std::string describe(const codec::Packet& p);

// A byte transport under a RawClient other than its own plain socket (TLS, WebSocket;
// see secure.hpp): MQTT bytes in and out. Owns its socket.
class ByteLayer {
 public:
  virtual ~ByteLayer() = default;
  // Sends all of `bytes`; failures are silent (a later read reports the close).
  virtual void send(std::string_view bytes) = 0;
  // Appends what arrives within `timeout` to `out`: Packet when bytes were appended,
  // Timeout when none arrived, Closed once the peer closed (or the transport failed).
  virtual RecvStatus read(std::string& out, Millis timeout) = 0;
  // Ends our direction (TLS close_notify, WebSocket close frame, then FIN).
  virtual void shutdown_write() = 0;
};

// A TCP connection to 127.0.0.1:`port` with TCP_NODELAY; REQUIREs success.
int connect_loopback(std::uint16_t port);

class RawClient {
 public:
  // Opens a TCP connection to 127.0.0.1:`port`. REQUIREs success.
  RawClient(std::uint16_t port, codec::ProtocolVersion version);
  // Speaks MQTT over `layer` (already connected, e.g. a finished TLS handshake).
  RawClient(std::unique_ptr<ByteLayer> layer, codec::ProtocolVersion version);
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  codec::ProtocolVersion version() const { return version_; }
  int fd() const { return fd_; }
  bool is_open() const { return (fd_ >= 0 || layer_ != nullptr) && !peer_closed_; }

  // ---- wire level ----
  void send(const codec::Packet& p);
  void send_bytes(std::string_view bytes);  // may fail silently if the peer already closed
  // Next packet, or why there is none. The packet is in last_packet().
  RecvStatus recv(Millis timeout);
  const codec::Packet& last_packet() const { return last_; }
  const codec::DecodeResult& last_decode_error() const { return decode_error_; }
  // Next packet of type T, REQUIREing that it is exactly that (anything else fails the test).
  template <class T>
  T expect(Millis timeout = Millis(5000));
  // Waits until the broker closes the connection, collecting packets sent before that
  // (e.g. a v5 DISCONNECT). True if closed within `timeout`.
  bool wait_closed(Millis timeout);
  const std::deque<codec::Packet>& packets_before_close() const { return before_close_; }
  // What wait_closed() saw, for failure messages: packets and undecodable bytes.
  std::string close_summary() const;
  // The DISCONNECT the broker sent before closing, if any.
  std::optional<codec::Disconnect> disconnect_seen() const;
  // Abrupt close: no DISCONNECT, like a crashed or unplugged client.
  void drop();

  // ---- session level ----
  // Sends CONNECT (version set from this client) and REQUIREs a CONNACK.
  codec::Connack connect(codec::Connect c, Millis timeout = Millis(5000));
  // Convenience CONNECT: clean start, keep-alive 0 (off), given id.
  codec::Connack connect(const std::string& client_id, bool clean_start = true,
                         std::optional<std::uint32_t> session_expiry = std::nullopt);
  codec::Suback subscribe(const std::string& filter, std::uint8_t qos,
                          std::uint8_t retain_handling = 0, bool no_local = false);
  // Publishes and completes the QoS flow (PUBACK, or PUBREC/PUBREL/PUBCOMP), REQUIREing it.
  void publish(const std::string& topic, std::string_view payload, std::uint8_t qos = 0,
               bool retain = false, const codec::Properties& props = {});
  // Next PUBLISH from the broker within `timeout`; PINGRESP is skipped. With `ack`, QoS 1
  // gets PUBACK and QoS 2 gets PUBREC (the PUBREL that follows is answered by PUBCOMP in
  // later calls). nullopt on timeout; an unexpected packet or close fails the test.
  std::optional<codec::Publish> recv_publish(Millis timeout, bool ack = true);
  // True if no PUBLISH arrives within `d` (acknowledging whatever does arrive).
  bool no_publish_for(Millis d);
  void disconnect(std::uint8_t reason = 0);  // DISCONNECT then close
  std::uint16_t next_packet_id();

 private:
  RecvStatus fill(Millis timeout);
  [[noreturn]] void fail_expect(codec::PacketType want, RecvStatus got) const;
  bool answer_pubrel(const codec::Packet& p);
  int fd_ = -1;
  std::unique_ptr<ByteLayer> layer_;  // set: all I/O goes through it (fd_ stays -1)
  codec::ProtocolVersion version_;
  std::string rbuf_;
  codec::Packet last_;
  codec::DecodeResult decode_error_;
  bool peer_closed_ = false;
  std::deque<codec::Packet> before_close_;
  std::vector<std::string> decode_errors_;  // details of undecodable input, in order
  std::uint16_t packet_id_ = 0;
};

template <class T>
T RawClient::expect(Millis timeout) {
  const auto want = codec::packet_type(codec::Packet(T{}));
  const auto st = recv(timeout);
  if (st != RecvStatus::Packet || !std::holds_alternative<T>(last_)) fail_expect(want, st);
  return std::get<T>(last_);
}

}  // namespace tern::it
