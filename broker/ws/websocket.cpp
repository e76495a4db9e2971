#include "broker/ws/websocket.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "broker/ws/handshake.hpp"

namespace tern::ws {

namespace {

constexpr std::uint8_t kContinuation = 0x0;
constexpr std::uint8_t kText = 0x1;
constexpr std::uint8_t kBinary = 0x2;
constexpr std::uint8_t kClose = 0x8;
constexpr std::uint8_t kPing = 0x9;
constexpr std::uint8_t kPong = 0xA;

// XORs `n` bytes of `src` with the masking key into `dst`, the first byte being payload
// byte `offset` of its frame (RFC 6455 5.3). Eight bytes at a time: the key repeated twice
// as a byte pattern is endian-neutral when loaded and stored with memcpy.
void unmask(char* dst, const char* src, std::size_t n, const std::uint8_t key[4],
            std::uint64_t offset) {
  std::uint8_t k[8];
  for (std::size_t i = 0; i < 8; ++i) k[i] = key[(offset + i) & 3];
  std::size_t i = 0;
  if (n >= 8) {
    std::uint64_t kw;
    std::memcpy(&kw, k, 8);
    for (; i + 8 <= n; i += 8) {
      std::uint64_t w;
      std::memcpy(&w, src + i, 8);
      w ^= kw;
      std::memcpy(dst + i, &w, 8);
    }
  }
  for (; i < n; ++i) dst[i] = static_cast<char>(src[i] ^ static_cast<char>(k[i & 3]));
}

// Appends an unmasked server frame header [RFC 6455 5.1, 5.2: minimal length encoding].
void frame_header(std::string& out, std::uint8_t first, std::uint64_t len) {
  out.push_back(static_cast<char>(first));
  if (len < 126) {
    out.push_back(static_cast<char>(len));
  } else if (len <= 0xFFFF) {
    out.push_back(static_cast<char>(126));
    out.push_back(static_cast<char>(len >> 8));
    out.push_back(static_cast<char>(len));
  } else {
    out.push_back(static_cast<char>(127));
    for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<char>(len >> s));
  }
}

// Close codes a peer may send (RFC 6455 7.4.1, 7.4.2, and the IANA registry, which added
// 1012-1014). 1004-1006 and 1015 are reserved and must never appear on the wire.
bool valid_close_code(std::uint16_t c) {
  return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. Not
// codec::valid_utf8: that one also refuses U+0000 (an MQTT rule), which RFC 6455 allows.
bool valid_utf8(const std::uint8_t* p, std::size_t n) {
  std::size_t i = 0;
  while (i < n) {
    const std::uint8_t c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint8_t lo = 0x80, hi = 0xBF;  // bounds for the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (n - i < len) return false;
    if (p[i + 1] < lo || p[i + 1] > hi) return false;
    for (std::size_t j = 2; j < len; ++j) {
      if ((p[i + j] & 0xC0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

}  // namespace

ServerSession::ServerSession(Options opts) : opts_(std::move(opts)) {}

bool ServerSession::feed(std::string_view in, std::string& app) {
  if (state_ == State::Handshake) return feed_handshake(in, app);
  // After our own close frame, frames are still parsed so that the peer's answering close
  // sets peer_closed(); their data is dropped.
  if (state_ == State::Open || (state_ == State::Closing && close_sent_ && !peer_closed_)) {
    feed_frames(in, app);
  }
  return open();
}

bool ServerSession::feed_handshake(std::string_view in, std::string& app) {
  // Never hold more than the limit: take at most one byte beyond it, which is enough to
  // know the request is too large.
  const std::size_t room = opts_.max_handshake_bytes + 1 - in_.size();
  const std::size_t take = std::min(in.size(), room);
  in_.append(in.substr(0, take));
  std::size_t end = std::string::npos;
  for (std::size_t i = scan_; i < in_.size(); ++i) {
    if (in_[i] != '\n') continue;
    // The request ends with an empty line: "\n\n" or "\n\r\n".
    if ((i >= 1 && in_[i - 1] == '\n') || (i >= 2 && in_[i - 1] == '\r' && in_[i - 2] == '\n')) {
      end = i + 1;
      break;
    }
  }
  if (end == std::string::npos || end > opts_.max_handshake_bytes) {
    scan_ = in_.size();
    if (in_.size() > opts_.max_handshake_bytes) {
      fail_http(431, "Request Header Fields Too Large", "upgrade request too large");
      return false;
    }
    return true;
  }
  UpgradeAnswer a = answer_upgrade(std::string_view(in_).substr(0, end), opts_.path);
  out_ += a.response;
  if (a.status != 101) {
    state_ = State::Failed;
    error_ = "WebSocket upgrade refused (" + std::to_string(a.status) + "): " + a.detail;
    std::string().swap(in_);
    return false;
  }
  state_ = State::Open;
  // Bytes after the request are the first frames (a client may send them at once).
  std::string rest = in_.substr(end);
  rest.append(in.substr(take));
  std::string().swap(in_);  // the request buffer is not needed again
  if (!rest.empty()) feed_frames(rest, app);
  return open();
}

bool ServerSession::feed_frames(std::string_view in, std::string& app) {
  std::size_t pos = 0;
  const bool deliver = state_ == State::Open;
  while (pos < in.size()) {
    if (state_ != State::Open && !(state_ == State::Closing && close_sent_ && !peer_closed_)) {
      break;
    }
    if (!in_payload_) {
      // Collect the header: two bytes first, then the extended length and masking key.
      if (hdr_len_ < 2) {
        hdr_[hdr_len_++] = static_cast<std::uint8_t>(in[pos++]);
        if (hdr_len_ < 2) continue;
        const std::uint8_t b0 = hdr_[0], b1 = hdr_[1];
        const std::uint8_t op = b0 & 0x0F;
        const bool fin = (b0 & 0x80) != 0;
        const std::uint8_t len7 = b1 & 0x7F;
        // Validate what the first two bytes tell before waiting for the rest.
        if ((b0 & 0x70) != 0) {
          fail(1002, "reserved bits set without a negotiated extension");  // RFC 6455 5.2
          break;
        }
        if ((op >= 0x3 && op <= 0x7) || op >= 0xB) {
          fail(1002, "unknown opcode");  // RFC 6455 5.2
          break;
        }
        if ((op & 0x8) != 0 && (!fin || len7 > 125)) {
          fail(1002, "fragmented or oversized control frame");  // RFC 6455 5.5
          break;
        }
        if ((b1 & 0x80) == 0) {
          fail(1002, "unmasked client frame");  // RFC 6455 5.1
          break;
        }
        if (op == kContinuation && !in_message_) {
          fail(1002, "continuation frame without a message");  // RFC 6455 5.4
          break;
        }
        if ((op == kText || op == kBinary) && in_message_) {
          fail(1002, "new data frame inside a fragmented message");  // RFC 6455 5.4
          break;
        }
        if (op == kText) {
          // [MQTT-6.0.0-1] MQTT travels in binary frames only.
          fail(1003, "text frame");
          break;
        }
      }
      const std::uint8_t len7 = hdr_[1] & 0x7F;
      const std::size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
      const std::size_t n = std::min(need - hdr_len_, in.size() - pos);
      std::memcpy(hdr_ + hdr_len_, in.data() + pos, n);
      hdr_len_ = static_cast<std::uint8_t>(hdr_len_ + n);
      pos += n;
      if (hdr_len_ < need) break;
      if (!start_frame()) break;
      if (left_ == 0 && !end_frame()) break;
      continue;
    }
    const std::size_t n = static_cast<std::size_t>(
        std::min<std::uint64_t>(left_, in.size() - pos));
    if ((opcode_ & 0x8) != 0) {
      unmask(reinterpret_cast<char*>(ctrl_) + done_, in.data() + pos, n, hdr_ + hdr_len_ - 4,
             done_);
    } else if (deliver) {
      // Stream the payload: MQTT bytes need no message boundaries ([MQTT-6.0.0-2]).
      const std::size_t base = app.size();
      app.resize(base + n);
      unmask(app.data() + base, in.data() + pos, n, hdr_ + hdr_len_ - 4, done_);
    }
    pos += n;
    done_ += n;
    left_ -= n;
    if (left_ == 0 && !end_frame()) break;
  }
  return open();
}

bool ServerSession::start_frame() {
  const std::uint8_t len7 = hdr_[1] & 0x7F;
  std::uint64_t len = len7;
  if (len7 == 126) {
    len = (std::uint64_t{hdr_[2]} << 8) | hdr_[3];
    if (len < 126) {
      fail(1002, "non-minimal 16-bit payload length");  // RFC 6455 5.2
      return false;
    }
  } else if (len7 == 127) {
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | hdr_[2 + i];
    if ((len >> 63) != 0) {
      fail(1002, "64-bit payload length with the high bit set");  // RFC 6455 5.2
      return false;
    }
    if (len <= 0xFFFF) {
      fail(1002, "non-minimal 64-bit payload length");  // RFC 6455 5.2
      return false;
    }
  }
  opcode_ = hdr_[0] & 0x0F;
  fin_ = (hdr_[0] & 0x80) != 0;
  if ((opcode_ & 0x8) == 0) {
    if (opcode_ == kBinary) msg_bytes_ = 0;
    // Checked before any of the payload is delivered. RFC 6455 7.4.1: 1009, too big.
    if (len > opts_.max_message_bytes || msg_bytes_ > opts_.max_message_bytes - len) {
      fail(1009, "message larger than the limit");
      return false;
    }
    msg_bytes_ += len;
    in_message_ = !fin_;
  }
  left_ = len;
  done_ = 0;
  in_payload_ = true;
  return true;
}

bool ServerSession::end_frame() {
  in_payload_ = false;
  hdr_len_ = 0;
  switch (opcode_) {
    case kClose:
      on_close_frame();
      break;
    case kPing:
      // RFC 6455 5.5.3: a pong carries the ping's payload. Not after our close (5.5.1).
      if (state_ == State::Open) {
        frame_header(out_, 0x80 | kPong, done_);
        out_.append(reinterpret_cast<const char*>(ctrl_), static_cast<std::size_t>(done_));
      }
      break;
    case kPong:  // unsolicited or answering; either way nothing to do (RFC 6455 5.5.3)
      break;
    default:
      if (fin_) msg_bytes_ = 0;
      break;
  }
  return state_ == State::Open || (state_ == State::Closing && close_sent_ && !peer_closed_);
}

void ServerSession::on_close_frame() {
  const std::size_t n = static_cast<std::size_t>(done_);
  std::uint16_t code = 0;
  if (n == 1) {
    fail(1002, "close frame with a one-byte payload");  // RFC 6455 5.5.1
    return;
  }
  if (n >= 2) {
    code = static_cast<std::uint16_t>((ctrl_[0] << 8) | ctrl_[1]);
    if (!valid_close_code(code)) {
      fail(1002, "invalid close code " + std::to_string(code));  // RFC 6455 7.4
      return;
    }
    if (!valid_utf8(ctrl_ + 2, n - 2)) {
      fail(1007, "close reason is not UTF-8");  // RFC 6455 5.5.1, 7.4.1
      return;
    }
  }
  peer_closed_ = true;
  // RFC 6455 5.5.1: answer with a close frame (echoing the code) unless we sent one.
  if (!close_sent_) {
    if (n >= 2) {
      send_close(code, {});
    } else {
      frame_header(out_, 0x80 | kClose, 0);
      close_sent_ = true;
    }
  }
  state_ = State::Closing;
}

void ServerSession::write(std::string_view app) {
  if (state_ != State::Open || app.empty()) return;
  // 0x82: FIN and the binary opcode ([MQTT-6.0.0-1]); servers never mask (RFC 6455 5.1).
  frame_header(out_, 0x80 | kBinary, app.size());
  out_.append(app);
}

void ServerSession::close(std::uint16_t code) {
  if (state_ == State::Failed) return;
  if (state_ == State::Handshake) {
    // No WebSocket yet, so no close frame: the caller just closes the transport.
    state_ = State::Closing;
    std::string().swap(in_);
    return;
  }
  if (!close_sent_) send_close(code, {});
  state_ = State::Closing;
}

void ServerSession::send_close(std::uint16_t code, std::string_view reason) {
  // A control frame's payload is at most 125 bytes: the code and 123 of reason.
  reason = reason.substr(0, 123);
  frame_header(out_, 0x80 | kClose, 2 + reason.size());
  out_.push_back(static_cast<char>(code >> 8));
  out_.push_back(static_cast<char>(code & 0xFF));
  out_.append(reason);
  close_sent_ = true;
}

void ServerSession::fail_http(int status, std::string_view reason, std::string detail) {
  out_ += http_error(status);
  state_ = State::Failed;
  error_ = "WebSocket upgrade refused (" + std::to_string(status) + " " + std::string(reason) +
           "): " + detail;
  std::string().swap(in_);
}

void ServerSession::fail(std::uint16_t code, std::string detail) {
  // The reason names the violation for the peer's logs; it is ASCII, so valid UTF-8.
  if (!close_sent_) send_close(code, detail);
  state_ = State::Failed;
  error_ = "WebSocket protocol error (" + std::to_string(code) + "): " + detail;
}

}  // namespace tern::ws
