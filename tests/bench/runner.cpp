#include "tests/bench/runner.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <random>
#include <sstream>
#include <variant>

namespace tern::bench {

namespace {

using namespace std::chrono_literals;
using codec::Packet;

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count());
}

template <typename T>
void put(std::string& s, std::size_t at, T v) {
  std::memcpy(s.data() + at, &v, sizeof v);  // host order; the reader is this process
}
template <typename T>
T get(std::string_view s, std::size_t at) {
  T v;
  std::memcpy(&v, s.data() + at, sizeof v);
  return v;
}

// xorshift64: cheap, and good enough to defeat compression.
std::uint64_t next_random(std::uint64_t& x) {
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return x;
}

void fill_random(std::string& payload, std::uint64_t& state) {
  static_assert(kHeaderBytes % 8 == 0);
  std::size_t at = kHeaderBytes;
  for (; at + 8 <= payload.size(); at += 8) put<std::uint64_t>(payload, at, next_random(state));
  if (at < payload.size()) {
    const std::uint64_t r = next_random(state);
    std::memcpy(payload.data() + at, &r, payload.size() - at);
  }
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

// Parking: queue subscribers disconnecting (their sessions stay). Acking: queue publishing
// is over, waiting for the last acknowledgements.
enum class Phase : std::uint8_t { Connecting, Parking, Running, Acking, Draining, Holding, Done };

struct Pub {
  Client* client = nullptr;
  std::string topic;
  std::string payload;
  std::uint64_t seq = 0;         // last sequence number sent
  std::uint64_t limit = UINT64_MAX;  // messages this publisher may send (--count)
  std::uint64_t received = 0;    // unique deliveries of its messages, all subscribers
  std::uint64_t forgiven = 0;    // messages written off by a stall (QoS 0 loss)
  std::uint64_t seen_received = 0;
  Clock::time_point last_progress{};
  std::vector<bool> id_used = std::vector<bool>(65536, false);
  std::uint16_t next_id = 1;
  std::size_t unacked = 0;
  std::size_t receive_max = 65535;  // the broker's, from a v5 CONNACK
  bool dirty = false;
};

struct Sub {
  Client* client = nullptr;
  std::vector<SeqTracker> from;  // one per publisher
  bool ready = false;
};

class Runner final : public ClientHandler {
 public:
  explicit Runner(const Options& o)
      : o_(o), hard_(io_), tick_(io_), phase_timer_(io_) {
    std::random_device rd;
    nonce_ = o.nonce ? o.nonce : (rd() ^ static_cast<std::uint32_t>(getpid()));
    if (nonce_ == 0) nonce_ = 1;
    report_.nonce = nonce_;
    prefix_ = o.topic_prefix + "tern-bench/" + std::to_string(nonce_);
  }

  Report run() {
    const double cpu0 = cpu_seconds();
    setup();
    hard_.expires_after(std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(o_.timeout_s)));
    hard_.async_wait([this](const asio::error_code& ec) {
      if (ec) return;
      report_.timed_out = true;
      if (report_.error.empty()) report_.error = "hard timeout reached";
      finish();
    });
    start_tick();
    t_resume_ = Clock::now();  // a drain-only run starts draining with its first connect
    start_more();
    io_.run();
    report_.bench_cpu_s = cpu_seconds() - cpu0;
    compute();
    return std::move(report_);
  }

  void on_packet(Client& c, Packet& p) override {
    switch (c.role()) {
      case Role::Subscriber: return on_sub_packet(subs_[c.index()], c, p);
      case Role::Publisher: return on_pub_packet(pubs_[c.index()], c, p);
      case Role::Idle: return on_idle_packet(c, p);
    }
  }

  void on_batch_end(Client& c) override {
    if (c.role() == Role::Publisher) {
      refill(pubs_[c.index()]);
    } else if (c.role() == Role::Subscriber) {
      for (std::size_t i : dirty_) {
        pubs_[i].dirty = false;
        refill(pubs_[i]);
      }
      dirty_.clear();
    }
    check_done();
  }

  void on_closed(Client& c, std::string_view why) override {
    if (phase_ == Phase::Done) return;
    if (c.disconnecting() && why == "disconnected") {
      // A queue subscriber went offline on purpose: the broker processed its DISCONNECT.
      if (phase_ == Phase::Parking && ++parked_ == subs_.size()) start_fill();
      return;
    }
    if (!connack_seen_[slot(c)]) {
      ++report_.connect_failed;
      --connecting_;
      if (c.role() != Role::Idle) fail(std::string("connection failed: ") + std::string(why));
      else start_more();
      return;
    }
    if (c.role() != Role::Idle) fail(std::string("broker closed a client: ") + std::string(why));
  }

 private:
  std::size_t slot(const Client& c) const {
    switch (c.role()) {
      case Role::Subscriber: return c.index();
      case Role::Publisher: return subs_.size() + c.index();
      case Role::Idle: break;
    }
    return subs_.size() + pubs_.size() + c.index();
  }

  void setup() {
    const bool conns = o_.scenario == Scenario::Conns;
    const std::size_t nsub = conns ? 0 : o_.subscribers;
    const std::size_t npub = conns ? 0 : o_.publishers;
    // A drain-only or receive run connects no publishers: it expects what a fill run with
    // the same nonce, publishers and count sent.
    const bool publishers_connect = !(queue_ && (o_.queue_phase == QueuePhase::Drain ||
                                                 o_.queue_phase == QueuePhase::Receive));
    resumed_ = queue_ && o_.queue_phase == QueuePhase::Drain;
    subs_.resize(nsub);
    pubs_.resize(npub);
    for (std::size_t i = 0; i < nsub; ++i) {
      clients_.push_back(std::make_unique<Client>(io_, *this, o_.version, Role::Subscriber, i));
      subs_[i].client = clients_.back().get();
      subs_[i].from.resize(npub);
    }
    for (std::size_t i = 0; i < npub; ++i) {
      Pub& p = pubs_[i];
      if (o_.count > 0) p.limit = o_.count / npub + (i < o_.count % npub ? 1 : 0);
      if (publishers_connect) {
        clients_.push_back(
            std::make_unique<Client>(io_, *this, o_.version, Role::Publisher, i));
        p.client = clients_.back().get();
      } else {
        p.seq = p.limit;
      }
      p.topic = prefix_ + "/t" + (o_.topic_each ? "/" + std::to_string(i) : "");
      p.payload.assign(std::max(o_.payload, kHeaderBytes), 'x');
      put<std::uint32_t>(p.payload, 0, nonce_);
      put<std::uint32_t>(p.payload, 4, static_cast<std::uint32_t>(i));
    }
    if (conns) {
      for (std::size_t i = 0; i < o_.clients; ++i) {
        clients_.push_back(std::make_unique<Client>(io_, *this, o_.version, Role::Idle, i));
      }
    }
    connack_seen_.assign(nsub + npub + (conns ? o_.clients : 0), false);
    need_ready_ = clients_.size();
    subs_per_msg_ = (o_.scenario == Scenario::FanOut || queue_) ? nsub : 1;
  }

  // Opens connections, at most connect_batch at once so the listen backlog never overflows.
  void start_more() {
    while (next_start_ < clients_.size() && connecting_ < o_.connect_batch &&
           phase_ == Phase::Connecting) {
      Client& c = *clients_[next_start_++];
      codec::Connect con;
      con.clean_start = true;
      con.keep_alive = o_.keep_alive;
      if (c.role() == Role::Subscriber && o_.session_expiry > 0) {
        if (o_.version == codec::ProtocolVersion::v5) {
          // [MQTT-3.1.2-4] clean start 0 resumes the session; [MQTT-3.1.2-5] a session
          // expiry interval > 0 keeps it after the network connection closes.
          con.clean_start = !resumed_;
          con.props.session_expiry_interval = o_.session_expiry;
        } else {
          // 3.1.1 clean session 0: the session outlives the connection [MQTT-3.1.2-4].
          con.clean_start = false;
        }
      }
      const char tag = c.role() == Role::Publisher ? 'p' : c.role() == Role::Subscriber ? 's' : 'c';
      con.client_id = "tb" + std::to_string(nonce_) + "-" + tag + std::to_string(c.index());
      ++connecting_;
      c.start(o_.target, con);
    }
    maybe_begin();
  }

  void maybe_begin() {
    if (phase_ != Phase::Connecting) return;
    if (ready_ + report_.connect_failed < need_ready_) return;
    if (o_.scenario == Scenario::Conns) {
      phase_ = Phase::Holding;
      t0_ = Clock::now();
      arm_phase(o_.duration_s, [this] {
        report_.elapsed_s = std::chrono::duration<double>(Clock::now() - t0_).count();
        for (auto& c : clients_) report_.alive_at_end += c->open() ? 1 : 0;
        finish();
      });
      return;
    }
    if (queue_) {
      if (resumed_ || receive_) {
        // Every subscriber is back (session present checked on CONNACK) or, receive, has
        // subscribed: the broker now sends the stored in-flight and queued messages.
        phase_ = Phase::Draining;
        drain_progress_at_ = Clock::now();
        drain_seen_ = delivered_;
        report_.ready_ns = now_ns();
        if (receive_) {
          t_resume_ = Clock::now();
          // The caller waits for this line before it lets the messages come.
          std::cerr << "ready" << std::endl;
        }
        check_done();
      } else if (subs_.empty()) {
        // A fill with no subscribers of its own (-S 0): someone else takes the messages.
        start_fill();
      } else {
        // Subscriptions are in place: take the subscribers offline, then fill.
        phase_ = Phase::Parking;
        for (Sub& s : subs_) s.client->disconnect();
      }
      return;
    }
    phase_ = Phase::Running;
    t0_ = Clock::now();
    for (Pub& p : pubs_) p.last_progress = t0_;
    arm_phase(o_.duration_s, [this] { begin_drain(); });
    for (Pub& p : pubs_) refill(p);
  }

  // queue: publish into the offline sessions until --count or --duration.
  void start_fill() {
    phase_ = Phase::Running;
    t0_ = Clock::now();
    for (Pub& p : pubs_) p.last_progress = t0_;
    arm_phase(o_.duration_s, [this] { stop_fill(); });
    for (Pub& p : pubs_) refill(p);
    check_done();
  }

  void stop_fill() {
    if (phase_ != Phase::Running) return;
    phase_ = Phase::Acking;
    check_done();
  }

  // queue: the fill is acknowledged; reconnect every subscriber with clean start 0.
  void resume() {
    phase_ = Phase::Connecting;
    resumed_ = true;
    ready_ = 0;
    need_ready_ = subs_.size();
    t_resume_ = Clock::now();
    for (std::size_t i = 0; i < subs_.size(); ++i) {
      clients_.push_back(std::make_unique<Client>(io_, *this, o_.version, Role::Subscriber, i));
      subs_[i].client = clients_.back().get();
      subs_[i].ready = false;
      connack_seen_[i] = false;
    }
    start_more();
  }

  bool all_sent() const {
    for (const Pub& p : pubs_) {
      if (p.seq < p.limit) return false;
    }
    return true;
  }
  bool all_acked() const {
    for (const Pub& p : pubs_) {
      if (p.unacked != 0) return false;
    }
    return true;
  }

  // Ends a count-bounded run as soon as everything arrived, and moves a queue run on.
  void check_done() {
    if (queue_) {
      if (phase_ == Phase::Running && all_sent()) phase_ = Phase::Acking;
      if (phase_ == Phase::Acking && all_acked()) {
        report_.fill_s = std::chrono::duration<double>(Clock::now() - t0_).count();
        if (o_.queue_phase == QueuePhase::Fill) {
          finish();
        } else {
          resume();
        }
      } else if (phase_ == Phase::Draining && drained()) {
        end_queue_drain();
        finish();
      }
      return;
    }
    if (phase_ == Phase::Running && o_.count > 0 && all_sent() && drained()) {
      begin_drain();
      finish();
    }
  }

  void end_queue_drain() {
    report_.elapsed_s = std::chrono::duration<double>(Clock::now() - t_resume_).count();
    if (receive_) {
      // The stream as the subscriber saw it; the caller knows when the sender started.
      report_.elapsed_s =
          static_cast<double>(report_.last_delivery_ns - report_.first_delivery_ns) / 1e9;
    }
    report_.delivered_in_window = delivered_;
  }

  template <typename F>
  void arm_phase(double seconds, F f) {
    phase_timer_.expires_after(
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)));
    phase_timer_.async_wait([f](const asio::error_code& ec) {
      if (!ec) f();
    });
  }

  void begin_drain() {
    phase_ = Phase::Draining;
    t_end_ = Clock::now();
    report_.elapsed_s = std::chrono::duration<double>(t_end_ - t0_).count();
    report_.delivered_in_window = delivered_;
    drain_progress_at_ = t_end_;
    drain_seen_ = delivered_;
  }

  bool drained() const {
    std::uint64_t sent = 0;
    for (const Pub& p : pubs_) {
      sent += p.seq;
      if (p.unacked != 0) return false;
    }
    return delivered_ >= sent * subs_per_msg_;
  }

  // One periodic tick (10 ms): paced publishing, keep-alive pings, QoS 0 stall detection,
  // drain completion.
  void start_tick() {
    tick_.expires_after(10ms);
    tick_.async_wait([this](const asio::error_code& ec) {
      if (ec || phase_ == Phase::Done) return;
      on_tick();
      start_tick();
    });
  }

  void on_tick() {
    const auto now = Clock::now();
    if (++tick_count_ % 10 == 0) {  // every 100 ms
      for (auto& c : clients_) {
        if (!c->open() || c->keep_alive() == 0) continue;
        // [MQTT-3.1.2-23] the client must send something within each keep-alive period.
        if (now - c->last_send() >= std::chrono::seconds(c->keep_alive()) / 2) {
          c->send(codec::Pingreq{});
        }
      }
    }
    if (phase_ == Phase::Running) {
      for (Pub& p : pubs_) {
        if (p.received != p.seen_received) {
          p.seen_received = p.received;
          p.last_progress = now;
        } else if (o_.qos == 0 && outstanding(p) > 0 && now - p.last_progress > 1s) {
          // QoS 0 messages that never arrive would close the window for good: write them
          // off (they show as loss) and count the stall.
          p.forgiven += outstanding(p);
          ++report_.stalls;
          p.last_progress = now;
        }
        if (o_.rate > 0) refill(p);
      }
    } else if (phase_ == Phase::Draining && queue_) {
      // A queue drain runs until everything arrived; only 5 s without any delivery ends
      // it early (the rest counts as loss). The hard timeout bounds it too.
      // receive: the clock starts with the first delivery (the sender may come later).
      if (delivered_ != drain_seen_ || (receive_ && delivered_ == 0)) {
        drain_seen_ = delivered_;
        drain_progress_at_ = now;
      }
      if (now - drain_progress_at_ > 5s) {
        end_queue_drain();
        finish();
      }
    } else if (phase_ == Phase::Draining) {
      if (delivered_ != drain_seen_) {
        drain_seen_ = delivered_;
        drain_progress_at_ = now;
      }
      if (drained() || now - drain_progress_at_ > 1s || now - t_end_ > 5s) finish();
    }
  }

  // Messages of p not yet delivered to every subscriber, in whole messages.
  std::uint64_t outstanding(const Pub& p) const {
    if (subs_per_msg_ == 0) return 0;  // a queue fill with -S 0
    const std::uint64_t done = p.received / subs_per_msg_ + p.forgiven;
    return p.seq > done ? p.seq - done : 0;
  }

  void refill(Pub& p) {
    if (phase_ != Phase::Running || !p.client->open()) return;
    std::uint64_t target = UINT64_MAX;
    if (o_.rate > 0) {
      const double per_pub = o_.rate / static_cast<double>(pubs_.size());
      const double secs = std::chrono::duration<double>(Clock::now() - t0_).count();
      target = static_cast<std::uint64_t>(per_pub * secs) + 1;
    }
    const std::size_t ack_window = std::min(o_.inflight, p.receive_max);
    bool wrote = false;
    // queue: the subscribers are offline, so only the acknowledgement window applies.
    while (p.seq < target && p.seq < p.limit && (queue_ || outstanding(p) < o_.inflight) &&
           (o_.qos == 0 || p.unacked < ack_window) && p.client->backlog() < (1u << 20)) {
      codec::PublishView v;
      v.qos = o_.qos;
      v.topic = p.topic;
      if (o_.qos > 0) {
        while (p.id_used[p.next_id]) p.next_id = p.next_id == 65535 ? 1 : p.next_id + 1;
        v.packet_id = p.next_id;
        p.id_used[p.next_id] = true;
        ++p.unacked;
      }
      ++p.seq;
      put<std::uint64_t>(p.payload, 8, p.seq);
      put<std::uint64_t>(p.payload, 16, now_ns());
      if (o_.random_filler) fill_random(p.payload, rng_);
      v.payload = p.payload;
      codec::encode_publish(v, o_.version, p.client->out());
      wrote = true;
    }
    if (wrote) p.client->flush();
  }

  void on_connack(Client& c, const codec::Connack& ca) {
    const std::size_t s = slot(c);
    if (connack_seen_[s]) {
      fail("second CONNACK");
      return;
    }
    connack_seen_[s] = true;
    --connecting_;
    if (ca.reason_code != 0) {
      ++report_.connect_failed;
      std::ostringstream os;
      os << "CONNACK refused with 0x" << std::hex << int(ca.reason_code);
      if (c.role() != Role::Idle) {
        fail(os.str());
        return;
      }
      c.close(os.str());
      start_more();
      return;
    }
    ++report_.connected;
    if (c.role() == Role::Subscriber && resumed_) {
      // The session, its subscription and its messages must still be there.
      if (!ca.session_present) ++report_.session_missing;
      subs_[c.index()].ready = true;
      ++ready_;
    } else if (c.role() == Role::Subscriber) {
      codec::Subscribe sub;
      sub.packet_id = 1;
      codec::SubscribeEntry e;
      e.filter = prefix_ + "/t" + (o_.topic_each ? "/+" : "");
      e.max_qos = o_.qos;
      sub.entries.push_back(std::move(e));
      c.send(sub);
    } else {
      if (c.role() == Role::Publisher && ca.props.receive_maximum) {
        pubs_[c.index()].receive_max = *ca.props.receive_maximum;
      }
      ++ready_;
    }
    start_more();
  }

  void on_sub_packet(Sub& s, Client& c, Packet& p) {
    if (auto* pub = std::get_if<codec::Publish>(&p)) {
      on_delivery(s, *pub);
      if (pub->qos == 1) {
        codec::Puback a;
        a.packet_id = pub->packet_id;
        codec::encode(a, c.version(), c.out());
      } else if (pub->qos == 2) {
        codec::Pubrec a;
        a.packet_id = pub->packet_id;
        codec::encode(a, c.version(), c.out());
      }
    } else if (auto* rel = std::get_if<codec::Pubrel>(&p)) {
      codec::Pubcomp a;
      a.packet_id = rel->packet_id;
      codec::encode(a, c.version(), c.out());
    } else if (auto* sa = std::get_if<codec::Suback>(&p)) {
      if (sa->reason_codes.empty() || sa->reason_codes[0] >= 0x80) {
        fail("subscription refused");
        return;
      }
      if (!s.ready) {
        s.ready = true;
        ++ready_;
        maybe_begin();
      }
    } else {
      common_packet(c, p);
    }
  }

  void on_delivery(Sub& s, const codec::Publish& m) {
    const std::string_view pl = m.payload;
    if (pl.size() < kHeaderBytes || get<std::uint32_t>(pl, 0) != nonce_) {
      ++report_.foreign;
      return;
    }
    const auto pid = get<std::uint32_t>(pl, 4);
    const auto seq = get<std::uint64_t>(pl, 8);
    if (pid >= pubs_.size() || seq == 0 || seq > pubs_[pid].seq) {
      ++report_.foreign;
      return;
    }
    const auto sent_ns = get<std::uint64_t>(pl, 16);
    const SeqTracker::Seen seen = s.from[pid].record(seq);
    if (seen == SeqTracker::Seen::Duplicate) return;
    const std::uint64_t now = now_ns();
    report_.latency.record(now > sent_ns ? now - sent_ns : 0);
    if (delivered_ == 0) report_.first_delivery_ns = now;
    report_.last_delivery_ns = now;
    ++delivered_;
    Pub& p = pubs_[pid];
    ++p.received;
    if (!p.dirty) {
      p.dirty = true;
      dirty_.push_back(pid);
    }
  }

  void free_id(Pub& p, std::uint16_t id) {
    if (!p.id_used[id]) {
      ++unknown_acks_;
      return;
    }
    p.id_used[id] = false;
    --p.unacked;
  }

  void on_pub_packet(Pub& p, Client& c, Packet& pk) {
    if (auto* a = std::get_if<codec::Puback>(&pk)) {
      free_id(p, a->packet_id);
      if (a->reason_code >= 0x80) {
        ++refused_;
      } else {
        ++report_.acked;
      }
    } else if (auto* r = std::get_if<codec::Pubrec>(&pk)) {
      if (r->reason_code >= 0x80) {
        ++refused_;
        free_id(p, r->packet_id);
      } else {
        codec::Pubrel rel;
        rel.packet_id = r->packet_id;
        codec::encode(rel, c.version(), c.out());
      }
    } else if (auto* cm = std::get_if<codec::Pubcomp>(&pk)) {
      free_id(p, cm->packet_id);
      ++report_.acked;
    } else {
      common_packet(c, pk);
    }
  }

  void on_idle_packet(Client& c, Packet& p) { common_packet(c, p); }

  void common_packet(Client& c, Packet& p) {
    if (auto* ca = std::get_if<codec::Connack>(&p)) {
      on_connack(c, *ca);
    } else if (auto* d = std::get_if<codec::Disconnect>(&p)) {
      std::ostringstream os;
      os << "DISCONNECT 0x" << std::hex << int(d->reason_code) << " from broker";
      c.close(os.str());
    } else if (std::holds_alternative<codec::Pingresp>(p)) {
      // keep-alive answered
    } else {
      c.close("unexpected packet type " +
              std::to_string(static_cast<int>(codec::packet_type(p))));
    }
  }

  void fail(const std::string& why) {
    if (report_.error.empty()) report_.error = why;
    finish();
  }

  void finish() {
    if (phase_ == Phase::Done) return;
    if (queue_) {
      // Cut short (timeout, failure): report what was reached.
      if (phase_ == Phase::Running || phase_ == Phase::Acking) {
        report_.fill_s = std::chrono::duration<double>(Clock::now() - t0_).count();
      } else if (phase_ == Phase::Draining) {
        end_queue_drain();
      }
    } else if (phase_ == Phase::Running) {
      begin_drain();
    }
    if (phase_ == Phase::Connecting) t0_ = t_end_ = Clock::now();
    phase_ = Phase::Done;
    for (auto& c : clients_) {
      if (!c->open()) continue;
      codec::encode(codec::Disconnect{}, c->version(), c->out());
      c->flush();
    }
    // Give the DISCONNECTs a moment to leave, then stop regardless.
    phase_timer_.expires_after(50ms);
    phase_timer_.async_wait([this](const asio::error_code&) {
      hard_.cancel();
      tick_.cancel();
      for (auto& c : clients_) c->close("done");
      io_.stop();
    });
  }

  void compute() {
    std::uint64_t sent = 0;
    for (const Pub& p : pubs_) {
      sent += p.seq;
      report_.acks_missing += p.unacked;
    }
    report_.sent = sent;
    // A fill-only run expects no deliveries: its drain is another process's.
    report_.expected =
        (queue_ && o_.queue_phase == QueuePhase::Fill) ? 0 : sent * subs_per_msg_;
    report_.delivered = delivered_;
    report_.lost = report_.expected > delivered_ ? report_.expected - delivered_ : 0;
    for (const Sub& s : subs_) {
      for (const SeqTracker& t : s.from) {
        report_.duplicates += t.duplicates();
        report_.reordered += t.reordered();
      }
    }
    if (report_.error.empty() && (unknown_acks_ > 0 || refused_ > 0)) {
      report_.error = std::to_string(unknown_acks_) + " acks for unknown ids, " +
                      std::to_string(refused_) + " publishes refused";
    }
  }

  const Options& o_;
  const bool queue_ = o_.scenario == Scenario::Queue;
  const bool receive_ = queue_ && o_.queue_phase == QueuePhase::Receive;
  asio::io_context io_{1};
  asio::steady_timer hard_;
  asio::steady_timer tick_;
  asio::steady_timer phase_timer_;
  std::uint32_t nonce_ = 0;
  std::string prefix_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::vector<bool> connack_seen_;
  std::vector<Pub> pubs_;
  std::vector<Sub> subs_;
  std::vector<std::size_t> dirty_;
  std::size_t subs_per_msg_ = 1;
  std::size_t next_start_ = 0;
  std::size_t connecting_ = 0;
  std::size_t ready_ = 0;
  std::size_t need_ready_ = 0;  // clients that must be ready before the next phase
  std::size_t parked_ = 0;      // queue subscribers that went offline
  bool resumed_ = false;        // subscribers reconnect to existing sessions
  Phase phase_ = Phase::Connecting;
  Clock::time_point t0_{};
  Clock::time_point t_end_{};
  Clock::time_point t_resume_{};
  Clock::time_point drain_progress_at_{};
  std::uint64_t drain_seen_ = 0;
  std::uint64_t delivered_ = 0;
  std::uint64_t tick_count_ = 0;
  std::uint64_t unknown_acks_ = 0;
  std::uint64_t refused_ = 0;
  std::uint64_t rng_ = 0x9E3779B97F4A7C15ull;  // --random-payload filler; never 0
  Report report_;
};

double us(std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

}  // namespace

const char* to_string(Scenario s) {
  switch (s) {
    case Scenario::FanIn: return "fanin";
    case Scenario::FanOut: return "fanout";
    case Scenario::Latency: return "latency";
    case Scenario::Conns: return "conns";
    case Scenario::Queue: return "queue";
  }
  return "?";
}

Report run(const Options& opts) {
  Runner r(opts);
  return r.run();
}

void print_text(const Options& o, const Report& r, std::ostream& out) {
  out << std::fixed << std::setprecision(1);
  out << "scenario " << to_string(o.scenario) << "  protocol "
      << (o.version == codec::ProtocolVersion::v5 ? "5" : "3.1.1") << "  qos " << int(o.qos);
  if (o.scenario == Scenario::Conns) {
    out << "  clients " << o.clients << "\n";
    out << "connected " << r.connected << "  failed " << r.connect_failed << "  alive at end "
        << r.alive_at_end << "  held " << r.elapsed_s << " s\n";
  } else {
    out << "  publishers " << o.publishers << "  subscribers " << o.subscribers << "  payload "
        << std::max(o.payload, kHeaderBytes) << " B  inflight " << o.inflight << "\n";
    out << "delivered " << r.msgs_per_s() << " msgs/s over " << r.elapsed_s << " s  (sent "
        << r.sent << ", expected " << r.expected << ", delivered " << r.delivered << ")\n";
    out << "lost " << r.lost << "  duplicates " << r.duplicates << "  reordered " << r.reordered
        << "  foreign " << r.foreign << "  stalls " << r.stalls << "\n";
    if (o.scenario == Scenario::Queue) {
      out << "nonce " << r.nonce << "  fill " << r.fill_msgs_per_s() << " msgs/s over "
          << r.fill_s << " s (acked " << r.acked << ", unacked " << r.acks_missing
          << ")  drain: the delivered line above  session present missing "
          << r.session_missing << "\n";
    }
    out << std::setprecision(0) << "latency us: p50 " << us(r.latency.quantile(0.5)) << "  p99 "
        << us(r.latency.quantile(0.99)) << "  p99.9 " << us(r.latency.quantile(0.999))
        << "  max " << us(r.latency.max()) << "\n";
  }
  out << std::setprecision(2) << "bench cpu " << r.bench_cpu_s << " s\n";
  if (r.timed_out) out << "TIMED OUT\n";
  if (!r.error.empty()) out << "error: " << r.error << "\n";
}

void print_json(const Options& o, const Report& r, std::ostream& out) {
  std::string err;
  for (char ch : r.error) {
    if (ch == '"' || ch == '\\') err += '\\';
    err += (static_cast<unsigned char>(ch) < 0x20) ? ' ' : ch;
  }
  out << std::fixed << std::setprecision(3) << "{\"scenario\":\"" << to_string(o.scenario)
      << "\",\"protocol\":\"" << (o.version == codec::ProtocolVersion::v5 ? "5" : "3.1.1")
      << "\",\"qos\":" << int(o.qos) << ",\"payload\":" << std::max(o.payload, kHeaderBytes)
      << ",\"publishers\":" << o.publishers << ",\"subscribers\":" << o.subscribers
      << ",\"inflight\":" << o.inflight << ",\"rate\":" << o.rate
      << ",\"clients\":" << (o.scenario == Scenario::Conns ? o.clients : 0)
      << ",\"elapsed_s\":" << r.elapsed_s << ",\"sent\":" << r.sent
      << ",\"expected\":" << r.expected << ",\"delivered\":" << r.delivered
      << ",\"delivered_in_window\":" << r.delivered_in_window
      << ",\"msgs_per_s\":" << r.msgs_per_s() << ",\"lost\":" << r.lost
      << ",\"duplicates\":" << r.duplicates << ",\"reordered\":" << r.reordered
      << ",\"foreign\":" << r.foreign << ",\"stalls\":" << r.stalls
      << ",\"acks_missing\":" << r.acks_missing << ",\"latency_us\":{\"p50\":"
      << us(r.latency.quantile(0.5)) << ",\"p99\":" << us(r.latency.quantile(0.99))
      << ",\"p999\":" << us(r.latency.quantile(0.999)) << ",\"max\":" << us(r.latency.max())
      << "},\"connected\":" << r.connected << ",\"connect_failed\":" << r.connect_failed
      << ",\"alive_at_end\":" << r.alive_at_end << ",\"nonce\":" << r.nonce
      << ",\"session_expiry\":" << o.session_expiry << ",\"count\":" << o.count
      << ",\"fill_s\":" << r.fill_s << ",\"acked\":" << r.acked
      << ",\"fill_msgs_per_s\":" << r.fill_msgs_per_s()
      << ",\"session_missing\":" << r.session_missing << ",\"ready_ns\":" << r.ready_ns
      << ",\"first_delivery_ns\":" << r.first_delivery_ns
      << ",\"last_delivery_ns\":" << r.last_delivery_ns << ",\"bench_cpu_s\":" << r.bench_cpu_s
      << ",\"timed_out\":" << (r.timed_out ? "true" : "false") << ",\"clean\":"
      << (r.clean() ? "true" : "false") << ",\"error\":\"" << err << "\"}\n";
}

}  // namespace tern::bench
