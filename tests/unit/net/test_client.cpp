#include "test_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <malloc.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace tern::net::test {

TestClient::TestClient(const std::string& host, std::uint16_t port, int rcvbuf) : sock_(ctx_) {
  asio::error_code ec;
  const asio::ip::tcp::endpoint ep(asio::ip::make_address(host, ec), port);
  if (ec) return;
  sock_.open(ep.protocol(), ec);
  if (ec) return;
  if (rcvbuf > 0) sock_.set_option(asio::socket_base::receive_buffer_size(rcvbuf), ec);
  sock_.connect(ep, ec);
  if (ec) return;
  sock_.set_option(asio::ip::tcp::no_delay(true), ec);
  sock_.non_blocking(true, ec);
  ok_ = !ec;
}

void TestClient::send(const codec::Packet& p) {
  std::string out;
  codec::encode(p, version, out);
  send_raw(out);
}

void TestClient::send_raw(std::string_view bytes) {
  // Blocking write in a non-blocking socket: wait for writability on EAGAIN.
  while (!bytes.empty() && !closed_) {
    asio::error_code ec;
    const std::size_t n = sock_.write_some(asio::buffer(bytes.data(), bytes.size()), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      pollfd pfd{sock_.native_handle(), POLLOUT, 0};
      ::poll(&pfd, 1, 1000);
      continue;
    }
    if (ec) {
      closed_ = true;
      return;
    }
    bytes.remove_prefix(n);
  }
}

void TestClient::shutdown_send() {
  asio::error_code ec;
  sock_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
}

bool TestClient::fill(Ms timeout) {
  if (closed_) return false;
  pollfd pfd{sock_.native_handle(), POLLIN, 0};
  const int r = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
  if (r <= 0) return false;
  char tmp[65536];
  asio::error_code ec;
  const std::size_t n = sock_.read_some(asio::buffer(tmp), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) return true;
  if (ec) {
    closed_ = true;
    return false;
  }
  buf_.append(tmp, n);
  return true;
}

std::optional<codec::Packet> TestClient::recv(Ms timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  codec::DecodeOptions opts;
  opts.version = version;
  while (true) {
    if (pos_ < buf_.size()) {
      auto r = codec::decode(std::string_view(buf_).substr(pos_), opts);
      if (r.status == codec::DecodeStatus::Ok) {
        pos_ += r.consumed;
        return std::move(r.packet);
      }
      if (r.status == codec::DecodeStatus::Error) return std::nullopt;
    }
    // Compact only when more bytes are needed, so a burst is not moved once per packet.
    buf_.erase(0, pos_);
    pos_ = 0;
    const auto left = std::chrono::duration_cast<Ms>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    if (!fill(left) && closed_) return std::nullopt;
  }
}

bool TestClient::wait_closed(Ms timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!closed_) {
    const auto left = std::chrono::duration_cast<Ms>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    fill(left);
    buf_.clear();
    pos_ = 0;
  }
  return true;
}

int TestClient::connect(const std::string& client_id, codec::ProtocolVersion v, bool clean) {
  version = v;
  codec::Connect c;
  c.version = v;
  c.client_id = client_id;
  c.clean_start = clean;
  c.keep_alive = 60;
  send(c);
  auto ack = recv_as<codec::Connack>();
  return ack ? ack->reason_code : -1;
}

int TestClient::subscribe(const std::string& filter, std::uint8_t qos, std::uint16_t packet_id) {
  codec::Subscribe s;
  s.packet_id = packet_id;
  s.entries.push_back(codec::SubscribeEntry{filter, qos});
  send(s);
  auto ack = recv_as<codec::Suback>();
  if (!ack || ack->packet_id != packet_id || ack->reason_codes.size() != 1) return -1;
  return ack->reason_codes[0];
}

void TestClient::publish(const std::string& topic, std::string payload, std::uint8_t qos,
                         std::uint16_t packet_id) {
  codec::Publish p;
  p.topic = topic;
  p.payload = std::move(payload);
  p.qos = qos;
  p.packet_id = packet_id;
  send(p);
}

bool TestClient::ping(Ms timeout) {
  send(codec::Pingreq{});
  return recv_as<codec::Pingresp>(timeout).has_value();
}

RawSocket::RawSocket(std::uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) return;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

RawSocket::~RawSocket() {
  if (fd_ >= 0) ::close(fd_);
}

void RawSocket::send_connect(const std::string& client_id) {
  codec::Connect c;
  c.client_id = client_id;
  c.keep_alive = 0;
  std::string out;
  codec::encode(c, codec::ProtocolVersion::v5, out);
  if (fd_ >= 0) (void)!::write(fd_, out.data(), out.size());
}

bool RawSocket::ping() {
  if (fd_ < 0) return false;
  const char req[2] = {'\xC0', 0};
  if (::write(fd_, req, 2) != 2) return false;
  // Read until the PINGRESP (D0 00) shows up after the CONNACK.
  std::string in;
  const auto until = std::chrono::steady_clock::now() + 2s;
  while (std::chrono::steady_clock::now() < until) {
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0) continue;
    char buf[256];
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) return false;
    in.append(buf, static_cast<std::size_t>(n));
    if (in.size() >= 2 && in.compare(in.size() - 2, 2, "\xD0\x00", 2) == 0) return true;
  }
  return false;
}

RunningServer::RunningServer(ServerOptions net, core::BrokerOptions core)
    : server_(std::move(net), std::move(core)) {
  started_ = server_.start(error_);
  if (started_) thread_ = std::thread([this] { server_.run(); });
}

RunningServer::~RunningServer() { stop(); }

std::uint16_t RunningServer::port(std::size_t listener) const {
  return server_.listeners().at(listener).port;
}

std::chrono::steady_clock::duration RunningServer::stop() {
  const auto t0 = std::chrono::steady_clock::now();
  if (thread_.joinable()) {
    server_.stop();
    thread_.join();
  }
  return std::chrono::steady_clock::now() - t0;
}

ServerOptions loopback_options(unsigned io_threads) {
  ServerOptions o;
  o.listeners = {ListenerOptions{"mqtt", "127.0.0.1:0", 0}};
  o.io_threads = io_threads;
  o.handle_signals = false;
  return o;
}

std::size_t rss_bytes() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return 0;
#endif
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream s(line.substr(6));
      std::size_t kb = 0;
      s >> kb;
      return kb * 1024;
    }
  }
  return 0;
}

}  // namespace tern::net::test

namespace tern::net::test {
std::size_t heap_bytes() { return mallinfo2().uordblks; }
}  // namespace tern::net::test
