// The backend-independent half of a tls::Session (private to broker/tls): buffering of
// application data written before the handshake, the output buffer, the state flags and
// the feed() / close() sequence. A backend supplies the four library calls.
// Thread safety: as tls::Session (one thread at a time).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "broker/tls/tls.hpp"

namespace tern::tls {

class SessionBase : public Session {
 public:
  bool feed(std::string_view cipher, std::string& plain) final {
    if (failed_) return false;
    if (peer_closed_) return true;  // nothing after close_notify counts
    input_ = cipher;
    begin_feed();
    bool ok = true;
    if (!handshake_done_) ok = handshake();
    if (ok && handshake_done_) ok = read_records(plain);
    input_ = {};  // anything unread is a partial record, kept by the library
    return ok;
  }

  bool write(std::string_view plain) final {
    if (failed_ || closed_) return false;
    if (!handshake_done_) {
      pending_.append(plain);
      return true;
    }
    return write_now(plain);
  }

  std::string& output() final { return output_; }

  void close() final {
    if (closed_) return;
    closed_ = true;
    pending_.clear();
    pending_.shrink_to_fit();
    // close_notify only exists once the handshake finished and before a fatal error;
    // otherwise the caller just drops the socket.
    if (handshake_done_ && !failed_) send_close_notify();
  }

  bool handshake_done() const final { return handshake_done_; }
  bool peer_closed() const final { return peer_closed_; }
  const std::string& error() const final { return error_; }
  std::optional<std::string> peer_common_name() const final { return peer_cn_; }

 protected:
  // Library calls. handshake() sets handshake_done_ and then sends pending_ (write_now);
  // each returns false after setting failed_ and error_.
  virtual void begin_feed() {}
  virtual bool handshake() = 0;
  virtual bool read_records(std::string& plain) = 0;
  virtual bool write_now(std::string_view plain) = 0;
  virtual void send_close_notify() = 0;

  std::string_view input_;  // the unread rest of the ciphertext being fed
  std::string output_;
  std::string pending_;  // application data written before the handshake finished
  std::string error_;
  std::optional<std::string> peer_cn_;
  bool handshake_done_ = false;
  bool peer_closed_ = false;
  bool closed_ = false;
  bool failed_ = false;
};

}  // namespace tern::tls
