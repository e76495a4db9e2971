#include "tests/bench/client.hpp"

#include <cstring>
#include <utility>

namespace tern::bench {

namespace {
// Idle clients (the 10,000-connection scenario) keep a small buffer; busy ones grow to this.
constexpr std::size_t kInitialRead = 512;
constexpr std::size_t kBusyRead = 64 * 1024;
}  // namespace

Client::Client(asio::io_context& io, ClientHandler& h, codec::ProtocolVersion v, Role role,
               std::size_t index)
    : socket_(io), handler_(h), version_(v), role_(role), index_(index) {}

void Client::start(const asio::ip::tcp::endpoint& ep, const codec::Connect& connect) {
  keep_alive_ = connect.keep_alive;
  codec::encode(connect, version_, pending_);
  socket_.async_connect(ep, [this](const asio::error_code& ec) {
    if (ec) {
      close("connect: " + ec.message());
      return;
    }
    asio::error_code ignored;
    // Small packets must not wait for Nagle: latency is one of the things we measure.
    socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
    open_ = true;
    in_.resize(role_ == Role::Idle ? kInitialRead : kBusyRead);
    flush();
    read();
  });
}

void Client::send(const codec::Packet& p) {
  codec::encode(p, version_, pending_);
  flush();
}

void Client::flush() {
  if (!open_ || write_busy_) return;
  if (disconnect_sent_) {
    // Drop whatever the handler queued after the DISCONNECT.
    if (disconnect_flushed_) {
      pending_.clear();
    } else {
      pending_.resize(disconnect_end_);
      disconnect_flushed_ = true;
    }
  }
  if (pending_.empty()) {
    if (disconnect_flushed_) {
      // Everything up to the DISCONNECT is written: half-close, keep reading until EOF.
      asio::error_code ignored;
      socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    }
    return;
  }
  write_busy_ = true;
  std::swap(pending_, writing_);
  last_send_ = Clock::now();
  asio::async_write(socket_, asio::buffer(writing_),
                    [this](const asio::error_code& ec, std::size_t) {
                      write_busy_ = false;
                      writing_.clear();
                      if (ec) {
                        close("write: " + ec.message());
                        return;
                      }
                      flush();
                    });
}

void Client::disconnect() {
  if (!open_ || disconnect_sent_) return;
  codec::encode(codec::Disconnect{}, version_, pending_);
  disconnect_sent_ = true;
  disconnect_end_ = pending_.size();
  flush();
}

void Client::read() {
  // Make room: slide unread bytes to the front, and grow when one packet outsizes the buffer.
  if (in_end_ == in_.size()) {
    if (in_begin_ > 0) {
      std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
      in_end_ -= in_begin_;
      in_begin_ = 0;
    } else {
      in_.resize(in_.size() * 2);
    }
  }
  socket_.async_read_some(asio::buffer(in_.data() + in_end_, in_.size() - in_end_),
                          [this](const asio::error_code& ec, std::size_t n) {
                            if (ec) {
                              close(ec == asio::error::eof
                                        ? (disconnect_sent_ ? "disconnected" : "closed by broker")
                                        : "read: " + ec.message());
                              return;
                            }
                            on_read(n);
                          });
}

void Client::on_read(std::size_t n) {
  in_end_ += n;
  codec::DecodeOptions opts;
  opts.version = version_;
  while (open_ && in_begin_ < in_end_) {
    codec::DecodeResult r =
        codec::decode(std::string_view(in_.data() + in_begin_, in_end_ - in_begin_), opts);
    if (r.status == codec::DecodeStatus::NeedMore) break;
    if (r.status == codec::DecodeStatus::Error) {
      close(std::string("undecodable packet from broker: ") + r.detail);
      return;
    }
    in_begin_ += r.consumed;
    handler_.on_packet(*this, r.packet);
  }
  if (!open_) return;
  if (in_begin_ == in_end_) in_begin_ = in_end_ = 0;
  handler_.on_batch_end(*this);
  flush();
  read();
}

void Client::close(std::string_view why) {
  if (closed_) return;
  closed_ = true;
  open_ = false;
  asio::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  handler_.on_closed(*this, why);
}

}  // namespace tern::bench
