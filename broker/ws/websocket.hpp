// The server side of a WebSocket connection carrying MQTT (MQTT 5.0 section 6, RFC 6455)
// as a sans-IO layer between TLS (or the socket) and the codec: transport bytes in, MQTT
// bytes out, and MQTT bytes wrapped into binary frames on the way back. It parses the HTTP
// upgrade (path, "mqtt" subprotocol), unmasks client frames and streams their payload out
// as it arrives (fragments in order; MQTT needs no message boundaries), answers pings and
// closes, and enforces size limits. Owns only the pending request and a partial frame
// header or control frame (at most 139 bytes once open).
// Thread safety: not thread-safe; one connection, one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tern::ws {

struct Options {
  std::string path = "/mqtt";  // request target to accept; "" accepts any
  std::size_t max_handshake_bytes = 8 * 1024;  // the whole HTTP request
  // Largest frame payload and largest reassembled message accepted from the client;
  // beyond it the connection is closed with 1009 (message too big).
  std::size_t max_message_bytes = 1024 * 1024 + 16;
};

enum class State : std::uint8_t {
  Handshake,  // waiting for the HTTP upgrade request
  Open,       // frames flow
  Closing,    // we sent a close frame (or answered one); flush output(), then close
  Failed,     // a bad request or protocol violation; flush output() (an HTTP error or a
              // close frame), then close the transport
};

class ServerSession {
 public:
  explicit ServerSession(Options opts);

  // Processes bytes from the transport. The payload of binary data frames (MQTT bytes) is
  // appended to `app`; handshake answers, pongs and close frames go to output(). Returns
  // false once the session failed or closed (see state() and error()); bytes after that
  // are ignored, except that after our own close() frames are still parsed (their data
  // dropped) so that the peer's answering close sets peer_closed().
  bool feed(std::string_view in, std::string& app);
  // Wraps MQTT bytes into one unmasked binary frame in output() [RFC 6455 5.1: a server
  // must not mask]. Ignored unless Open.
  void write(std::string_view app);
  // Sends a close frame with `code` (1000 normal, 1001 going away, 1002 protocol error,
  // 1009 too big, ...) unless one was sent; state becomes Closing.
  void close(std::uint16_t code);

  std::string& output() { return out_; }  // the caller sends and erases
  State state() const { return state_; }
  bool open() const { return state_ == State::Open; }
  const std::string& error() const { return error_; }
  // The peer sent its close frame (a clean end; close the transport after flushing).
  bool peer_closed() const { return peer_closed_; }

 private:
  bool feed_handshake(std::string_view in, std::string& app);
  bool feed_frames(std::string_view in, std::string& app);
  // Validates a complete header (2 to 14 bytes in hdr_) and starts its payload.
  bool start_frame();
  bool end_frame();  // the whole payload arrived: act on a control frame, end a message
  void on_close_frame();
  void fail_http(int status, std::string_view reason, std::string detail);
  void fail(std::uint16_t code, std::string detail);
  void send_close(std::uint16_t code, std::string_view reason);

  Options opts_;
  State state_ = State::Handshake;
  std::string in_;    // the HTTP request until it is complete (then released)
  std::size_t scan_ = 0;        // in_ bytes already searched for the end of the request
  std::string out_;   // bytes for the transport
  std::string error_;
  // The frame being parsed. Data payload streams to `app` as it arrives, so beyond the
  // request only these fixed buffers hold partial input (at most 14 + 125 bytes).
  std::uint8_t hdr_[14] = {};   // the masking key is its last 4 bytes once complete
  std::uint8_t hdr_len_ = 0;    // bytes of hdr_ filled
  std::uint8_t opcode_ = 0;
  bool fin_ = false;
  std::uint64_t left_ = 0;      // payload bytes of the current frame still to come
  std::uint64_t done_ = 0;      // payload bytes of the current frame already seen
  bool in_payload_ = false;
  std::uint8_t ctrl_[125] = {}; // the unmasked payload of a control frame
  std::uint64_t msg_bytes_ = 0; // payload of the data message so far (fragments summed)
  bool in_message_ = false;  // inside a fragmented data message
  bool peer_closed_ = false;
  bool close_sent_ = false;
};

}  // namespace tern::ws
