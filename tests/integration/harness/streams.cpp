#include "tests/integration/harness/streams.hpp"

#include <catch2/catch.hpp>
#include <charconv>
#include <sstream>

namespace tern::it {

using Clock = std::chrono::steady_clock;

std::string stream_payload(int n, std::size_t size) {
  std::string s = std::to_string(n);
  if (s.size() < size) s.append(size - s.size(), '.');
  return s;
}

int stream_number(std::string_view payload) {
  int n = -1;
  const auto r = std::from_chars(payload.data(), payload.data() + payload.size(), n);
  if (r.ec != std::errc() || r.ptr == payload.data()) return -1;
  if (r.ptr != payload.data() + payload.size() && *r.ptr != '.') return -1;
  return n;
}

StreamPublisher::StreamPublisher(RawClient& client, StreamSpec spec)
    : client_(&client), spec_(std::move(spec)), next_(spec_.first) {
  REQUIRE((spec_.qos == 1 || spec_.qos == 2));
  REQUIRE(spec_.window > 0);
  REQUIRE(spec_.window < 60000);
}

codec::Publish StreamPublisher::make_publish(int number, std::uint16_t id, bool dup) const {
  codec::Publish p;
  p.topic = spec_.topic;
  p.payload = stream_payload(number, spec_.payload_size);
  p.qos = spec_.qos;
  p.retain = spec_.retain;
  p.dup = dup;
  p.packet_id = id;
  p.props = spec_.props;
  return p;
}

std::uint16_t StreamPublisher::allocate_id() {
  // Ids cycle through 1..65535 skipping open ones; the window is far smaller than that.
  do {
    if (++last_id_ == 0) last_id_ = 1;
  } while (open_.count(last_id_) != 0);
  return last_id_;
}

void StreamPublisher::handle(const codec::Packet& p) {
  auto finish = [&](std::uint16_t id, const char* what) {
    auto it = open_.find(id);
    if (it == open_.end()) FAIL(what << " for packet id " << id << " that has no open flow");
    acked_.push_back(it->second.number);
    ++acked_count_;
    open_.erase(it);
  };
  if (const auto* a = std::get_if<codec::Puback>(&p)) {
    if (spec_.qos != 1) FAIL("PUBACK in a QoS " << int(spec_.qos) << " stream: " << describe(p));
    if (a->reason_code >= 0x80) FAIL("message refused: " << describe(p));
    finish(a->packet_id, "PUBACK");
  } else if (const auto* r = std::get_if<codec::Pubrec>(&p)) {
    if (spec_.qos != 2) FAIL("PUBREC in a QoS 1 stream: " << describe(p));
    if (r->reason_code >= 0x80) FAIL("message refused: " << describe(p));
    auto it = open_.find(r->packet_id);
    if (it == open_.end()) FAIL("PUBREC for packet id " << r->packet_id << " with no open flow");
    it->second.released = true;
    codec::Pubrel rel;
    rel.packet_id = r->packet_id;
    client_->send(rel);
  } else if (const auto* c = std::get_if<codec::Pubcomp>(&p)) {
    if (spec_.qos != 2) FAIL("PUBCOMP in a QoS 1 stream: " << describe(p));
    auto it = open_.find(c->packet_id);
    // v5 0x92 Packet Identifier not found means the broker lost the flow, except for a
    // PUBREL resent after a restart: the broker released the id (durably, after routing
    // the message once) but the kill came before its PUBCOMP left, and "this is not an
    // error during recovery" (MQTT 5.0, 3.7.2.1).
    const bool recovery = it != open_.end() && it->second.resent_rel && c->reason_code == 0x92;
    if (c->reason_code != 0 && !recovery)
      FAIL("PUBCOMP with a failure reason: " << describe(p));
    if (it == open_.end() || !it->second.released) {
      FAIL("PUBCOMP for packet id " << c->packet_id << " before its PUBREL");
    }
    finish(c->packet_id, "PUBCOMP");
  } else if (!std::holds_alternative<codec::Pingresp>(p)) {
    FAIL("publisher got an unexpected packet: " << describe(p));
  }
}

bool StreamPublisher::pump(Millis wait) {
  while (next_ < spec_.first + spec_.count && open_.size() < spec_.window) {
    const auto id = allocate_id();
    open_[id] = Flow{next_, false};
    client_->send(make_publish(next_, id, false));
    ++next_;
  }
  auto st = client_->recv(wait);
  while (st == RecvStatus::Packet) {
    handle(client_->last_packet());
    st = client_->recv(Millis(0));
  }
  if (st == RecvStatus::DecodeError) {
    FAIL("publisher got bytes our codec rejects: " << client_->last_decode_error().detail);
  }
  return st != RecvStatus::Closed;
}

void StreamPublisher::run(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!done()) {
    INFO(acked_count_ << " of " << spec_.count << " acknowledged, " << open_.size() << " open");
    REQUIRE(Clock::now() < deadline);
    REQUIRE(pump(Millis(200)));
  }
}

void StreamPublisher::resume(RawClient& client) {
  client_ = &client;
  for (auto& [id, flow] : open_) {
    if (flow.released) {
      flow.resent_rel = true;
      codec::Pubrel rel;
      rel.packet_id = id;
      client_->send(rel);
    } else {
      client_->send(make_publish(flow.number, id, /*dup=*/true));
    }
  }
}

DrainResult drain_stream(RawClient& c, const std::string& topic, int first, int count,
                         Millis gap, int dup_allowed) {
  DrainResult r;
  for (int i = 0; i < count; ++i) {
    const int want = first + i;
    auto p = c.recv_publish(gap, /*ack=*/true);
    std::ostringstream err;
    if (!p) {
      err << "message " << want << " did not arrive within " << gap.count() << " ms ("
          << r.received << " of " << count << " received)";
    } else {
      ++r.received;
      const int got = stream_number(p->payload);
      if (p->topic != topic) {
        err << "message " << want << ": topic '" << p->topic << "', expected '" << topic << "'";
      } else if (got != want) {
        err << "expected message " << want << ", got " << got << " (" << describe(*p) << ")";
      } else if (p->dup && i >= dup_allowed) {
        err << "message " << want << " has DUP=1 but was never sent before: " << describe(*p);
      }
    }
    r.error = err.str();
    if (!r.error.empty()) return r;
  }
  return r;
}

}  // namespace tern::it
