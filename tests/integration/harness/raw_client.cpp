#include "tests/integration/harness/raw_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <sstream>

namespace tern::it {

using codec::Packet;
using Clock = std::chrono::steady_clock;

const char* to_string(RecvStatus s) {
  switch (s) {
    case RecvStatus::Packet: return "a packet";
    case RecvStatus::Timeout: return "timeout";
    case RecvStatus::Closed: return "connection closed";
    case RecvStatus::DecodeError: return "undecodable bytes";
  }
  return "?";
}

const char* to_string(codec::PacketType t) {
  static const char* const kNames[] = {"?",        "CONNECT",     "CONNACK",  "PUBLISH",
                                       "PUBACK",   "PUBREC",      "PUBREL",   "PUBCOMP",
                                       "SUBSCRIBE", "SUBACK",     "UNSUBSCRIBE", "UNSUBACK",
                                       "PINGREQ",  "PINGRESP",    "DISCONNECT", "AUTH"};
  const auto i = static_cast<unsigned>(t);
  return i < 16 ? kNames[i] : "?";
}

std::string describe(const Packet& p) {
  std::ostringstream os;
  os << to_string(codec::packet_type(p));
  if (const auto* pub = std::get_if<codec::Publish>(&p)) {
    os << " q" << int(pub->qos) << (pub->dup ? " dup" : "") << (pub->retain ? " retain" : "")
       << " id=" << pub->packet_id << " topic='" << pub->topic << "'";
    if (pub->props.topic_alias) os << " alias=" << *pub->props.topic_alias;
    os << " payload=" << pub->payload.size() << "B";
  } else if (const auto* ca = std::get_if<codec::Connack>(&p)) {
    os << " sp=" << ca->session_present << " rc=0x" << std::hex << int(ca->reason_code);
  } else if (const auto* d = std::get_if<codec::Disconnect>(&p)) {
    os << " rc=0x" << std::hex << int(d->reason_code);
  } else if (const auto* a = std::get_if<codec::Puback>(&p)) {
    os << " id=" << a->packet_id << " rc=0x" << std::hex << int(a->reason_code);
  } else if (const auto* r = std::get_if<codec::Pubrec>(&p)) {
    os << " id=" << r->packet_id << " rc=0x" << std::hex << int(r->reason_code);
  } else if (const auto* rl = std::get_if<codec::Pubrel>(&p)) {
    os << " id=" << rl->packet_id;
  } else if (const auto* c = std::get_if<codec::Pubcomp>(&p)) {
    os << " id=" << c->packet_id;
  } else if (const auto* s = std::get_if<codec::Suback>(&p)) {
    os << " id=" << s->packet_id << " codes=";
    for (auto rc : s->reason_codes) os << int(rc) << ",";
  }
  return os.str();
}

int connect_loopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  int rc;
  do {
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    ::close(fd);
    FAIL("connect to 127.0.0.1:" << port << " failed: " << std::strerror(err));
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

RawClient::RawClient(std::uint16_t port, codec::ProtocolVersion version)
    : fd_(connect_loopback(port)), version_(version) {}

RawClient::RawClient(std::unique_ptr<ByteLayer> layer, codec::ProtocolVersion version)
    : layer_(std::move(layer)), version_(version) {
  REQUIRE(layer_ != nullptr);
}

RawClient::~RawClient() {
  if (fd_ >= 0) ::close(fd_);
}

void RawClient::send(const Packet& p) {
  std::string out;
  codec::encode(p, version_, out);
  send_bytes(out);
}

void RawClient::send_bytes(std::string_view bytes) {
  if (layer_) {
    layer_->send(bytes);
    return;
  }
  if (fd_ < 0) return;
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // the broker may legitimately have closed us; recv() will report it
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

RecvStatus RawClient::fill(Millis timeout) {
  if (layer_ && !peer_closed_) {
    const RecvStatus st = layer_->read(rbuf_, timeout);
    if (st == RecvStatus::Closed) peer_closed_ = true;
    return st;
  }
  if (fd_ < 0 || peer_closed_) return RecvStatus::Closed;
  pollfd pfd{fd_, POLLIN, 0};
  int rc;
  do {
    rc = ::poll(&pfd, 1, static_cast<int>(std::max<Millis::rep>(0, timeout.count())));
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) return RecvStatus::Timeout;
  char buf[16384];
  ssize_t n;
  do {
    n = ::recv(fd_, buf, sizeof buf, 0);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) {
    peer_closed_ = true;
    return RecvStatus::Closed;
  }
  rbuf_.append(buf, static_cast<std::size_t>(n));
  return RecvStatus::Packet;  // "got bytes"; the caller decodes
}

RecvStatus RawClient::recv(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (!rbuf_.empty()) {
      codec::DecodeOptions opts;
      opts.version = version_;
      auto r = codec::decode(rbuf_, opts);
      if (r.status == codec::DecodeStatus::Ok) {
        rbuf_.erase(0, r.consumed);
        last_ = std::move(r.packet);
        return RecvStatus::Packet;
      }
      if (r.status == codec::DecodeStatus::Error) {
        decode_error_ = r;
        rbuf_.clear();
        return RecvStatus::DecodeError;
      }
    }
    // Once the deadline has passed this still reads what is already there (poll with 0),
    // and stops at the first poll that finds nothing.
    const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    const auto st = fill(std::max(left, Millis(0)));
    if (st != RecvStatus::Packet) return st;
  }
}

void RawClient::fail_expect(codec::PacketType want, RecvStatus got) const {
  if (got == RecvStatus::Packet) {
    FAIL("expected " << to_string(want) << ", got " << describe(last_));
  }
  if (got == RecvStatus::DecodeError) {
    FAIL("expected " << to_string(want) << ", got bytes our codec rejects: "
                     << decode_error_.detail);
  }
  FAIL("expected " << to_string(want) << ", got " << to_string(got));
  std::abort();  // unreachable: FAIL throws
}

bool RawClient::wait_closed(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    switch (recv(left)) {
      case RecvStatus::Packet: before_close_.push_back(last_); break;
      case RecvStatus::Closed: return true;
      case RecvStatus::Timeout: return false;
      case RecvStatus::DecodeError: decode_errors_.push_back(decode_error_.detail); break;
    }
  }
}

std::string RawClient::close_summary() const {
  std::string s = "before close:";
  for (const auto& p : before_close_) s += " [" + describe(p) + "]";
  for (const auto& e : decode_errors_) s += " [undecodable: " + e + "]";
  if (before_close_.empty() && decode_errors_.empty()) s += " nothing";
  return s;
}

std::optional<codec::Disconnect> RawClient::disconnect_seen() const {
  for (const auto& p : before_close_) {
    if (const auto* d = std::get_if<codec::Disconnect>(&p)) return *d;
  }
  return std::nullopt;
}

void RawClient::drop() {
  layer_.reset();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

codec::Connack RawClient::connect(codec::Connect c, Millis timeout) {
  c.version = version_;
  send(c);
  return expect<codec::Connack>(timeout);
}

codec::Connack RawClient::connect(const std::string& client_id, bool clean_start,
                                  std::optional<std::uint32_t> session_expiry) {
  codec::Connect c;
  c.client_id = client_id;
  c.clean_start = clean_start;
  c.keep_alive = 0;
  if (version_ == codec::ProtocolVersion::v5) c.props.session_expiry_interval = session_expiry;
  return connect(std::move(c));
}

std::uint16_t RawClient::next_packet_id() {
  if (++packet_id_ == 0) packet_id_ = 1;
  return packet_id_;
}

codec::Suback RawClient::subscribe(const std::string& filter, std::uint8_t qos,
                                   std::uint8_t retain_handling, bool no_local) {
  codec::Subscribe s;
  s.packet_id = next_packet_id();
  codec::SubscribeEntry e;
  e.filter = filter;
  e.max_qos = qos;
  e.retain_handling = retain_handling;
  e.no_local = no_local;
  s.entries.push_back(e);
  send(s);
  auto ack = expect<codec::Suback>();
  REQUIRE(ack.packet_id == s.packet_id);  // [MQTT-3.8.4-2]
  REQUIRE(ack.reason_codes.size() == 1);  // [MQTT-3.8.4-6]
  return ack;
}

void RawClient::publish(const std::string& topic, std::string_view payload, std::uint8_t qos,
                        bool retain, const codec::Properties& props) {
  codec::Publish p;
  p.topic = topic;
  p.payload = std::string(payload);
  p.qos = qos;
  p.retain = retain;
  p.props = props;
  if (qos > 0) p.packet_id = next_packet_id();
  send(p);
  if (qos == 1) {
    auto ack = expect<codec::Puback>();
    REQUIRE(ack.packet_id == p.packet_id);
    REQUIRE(ack.reason_code < 0x80);
  } else if (qos == 2) {
    auto rec = expect<codec::Pubrec>();
    REQUIRE(rec.packet_id == p.packet_id);
    REQUIRE(rec.reason_code < 0x80);
    codec::Pubrel rel;
    rel.packet_id = p.packet_id;
    send(rel);
    auto comp = expect<codec::Pubcomp>();
    REQUIRE(comp.packet_id == p.packet_id);
  }
}

bool RawClient::answer_pubrel(const Packet& p) {
  const auto* rel = std::get_if<codec::Pubrel>(&p);
  if (rel == nullptr) return false;
  codec::Pubcomp comp;
  comp.packet_id = rel->packet_id;
  send(comp);
  return true;
}

std::optional<codec::Publish> RawClient::recv_publish(Millis timeout, bool ack) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    // A zero or spent timeout still takes what is already there (a non-blocking read).
    const auto left =
        std::max(Millis(0), std::chrono::duration_cast<Millis>(deadline - Clock::now()));
    const auto st = recv(left);
    if (st == RecvStatus::Timeout) return std::nullopt;
    if (st != RecvStatus::Packet) {
      FAIL("waiting for PUBLISH: " << to_string(st)
                                   << (st == RecvStatus::DecodeError ? decode_error_.detail : ""));
    }
    if (answer_pubrel(last_)) continue;
    if (std::holds_alternative<codec::Pingresp>(last_)) continue;
    auto* pub = std::get_if<codec::Publish>(&last_);
    if (pub == nullptr) FAIL("waiting for PUBLISH, got " << describe(last_));
    if (ack && pub->qos == 1) {
      codec::Puback a;
      a.packet_id = pub->packet_id;
      send(a);
    } else if (ack && pub->qos == 2) {
      codec::Pubrec r;
      r.packet_id = pub->packet_id;
      send(r);
    }
    return *pub;
  }
}

bool RawClient::no_publish_for(Millis d) {
  const auto deadline = Clock::now() + d;
  while (true) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    if (left.count() <= 0) return true;
    const auto st = recv(left);
    if (st != RecvStatus::Packet) return true;
    if (answer_pubrel(last_)) continue;
    if (std::holds_alternative<codec::Publish>(last_)) return false;
  }
}

void RawClient::disconnect(std::uint8_t reason) {
  codec::Disconnect d;
  d.reason_code = reason;
  send(d);
  if (layer_) {
    layer_->shutdown_write();
    wait_closed(Millis(1000));
    layer_.reset();
  }
  if (fd_ >= 0) {
    ::shutdown(fd_, SHUT_WR);
    // Let the broker see DISCONNECT before the FIN turns into a reset on close.
    wait_closed(Millis(1000));
    ::close(fd_);
  }
  fd_ = -1;
}

}  // namespace tern::it
