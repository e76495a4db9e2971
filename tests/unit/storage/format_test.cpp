// The on-disk format: keys sort as the design says, every record round trips, and damaged
// values (truncated, garbage, unknown versions) are refused without crashing.
#include "storage/format.hpp"

#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

#include "storage/batch.hpp"
#include "storage_test_util.hpp"

using namespace tern::storage;
using namespace tern::storage::test;

namespace {

std::string qkey(std::string_view c, std::uint64_t seq) {
  std::string k;
  format::queue_key(c, seq, k);
  return k;
}

// Every value kind, encoded.
struct Samples {
  std::string session;
  std::string queue_entry;
  std::string inflight;
  std::string inflight_no_msg;
  std::string retained;
  std::string clock;
};

Samples samples() {
  Samples s;
  const StoredMessage m = full_message("a/b", "payload", 2);
  const MessageView mv = m.view();
  const std::vector<std::uint32_t> ids{1, 300, 268'435'455};
  format::encode_session(full_session("c"), s.session);
  format::encode_queue_entry(Delivery{1, true, ids}, m.view(), s.queue_entry);
  format::encode_inflight(InflightInfo{9, 77, InflightStage::await_pubrec, {2, false, ids}}, &mv,
                          s.inflight);
  format::encode_inflight(InflightInfo{9, 78, InflightStage::await_pubcomp, {2, false, {}}},
                          nullptr, s.inflight_no_msg);
  format::encode_retained(m.view(), s.retained);
  format::encode_clock(ClockRecord{at_ms(-5), WallTime(std::chrono::milliseconds(7))}, s.clock);
  return s;
}

// Runs every decoder over `v`; returns how many accepted it.
int decode_all(std::string_view v) {
  SessionRecord s;
  QueueEntry q;
  InflightRecord f;
  StoredMessage m;
  ClockRecord c;
  std::uint64_t bytes = 0;
  return format::decode_session("c", v, s) + format::decode_queue_entry(1, v, q) +
         format::decode_inflight(1, v, f) + format::decode_retained(v, m) +
         format::decode_clock(v, c) + format::peek_queue_entry_bytes(v, bytes);
}

}  // namespace

TEST_CASE("format: keys sort by client, then numerically by sequence", "[storage][format]") {
  CHECK(qkey("c", 1) < qkey("c", 2));
  CHECK(qkey("c", 255) < qkey("c", 256));
  CHECK(qkey("c", 0xFFFFFFFF) < qkey("c", 0x100000000ull));
  CHECK(qkey("c", UINT64_MAX) < qkey("c/", 0));  // one client's keys stay together
  CHECK(qkey("a", UINT64_MAX) < qkey("ab", 0));
  std::string sa, sab;
  format::session_key("a", sa);
  format::session_key("ab", sab);
  CHECK(sa < sab);  // same client order under every prefix

  std::string_view client;
  std::uint64_t seq = 0;
  const std::string k = qkey("dev/1", 0x0102030405060708ull);
  REQUIRE(format::parse_queue_key(k, client, seq));
  CHECK(client == "dev/1");
  CHECK(seq == 0x0102030405060708ull);
  CHECK_FALSE(format::parse_queue_key("q/short", client, seq));
  CHECK_FALSE(format::parse_queue_key("s/whatever-long-enough", client, seq));

  std::string fk;
  format::inflight_key("x", 0xBEEF, fk);
  std::uint16_t id = 0;
  REQUIRE(format::parse_inflight_key(fk, client, id));
  CHECK(client == "x");
  CHECK(id == 0xBEEF);
}

TEST_CASE("format: records decode to what was encoded", "[storage][format]") {
  const Samples s = samples();
  SessionRecord session;
  REQUIRE(format::decode_session("c", s.session, session));
  CHECK(session == full_session("c"));

  QueueEntry q;
  REQUIRE(format::decode_queue_entry(42, s.queue_entry, q));
  CHECK(q.seq == 42);
  CHECK(q.qos == 1);
  CHECK(q.retain);
  CHECK(q.subscription_ids == std::vector<std::uint32_t>{1, 300, 268'435'455});
  CHECK(q.message == full_message("a/b", "payload", 2));
  std::uint64_t bytes = 0;
  REQUIRE(format::peek_queue_entry_bytes(s.queue_entry, bytes));
  CHECK(bytes == 3 + 7);

  InflightRecord f;
  REQUIRE(format::decode_inflight(9, s.inflight, f));
  CHECK(f.packet_id == 9);
  CHECK(f.order == 77);
  CHECK(f.stage == InflightStage::await_pubrec);
  CHECK(f.message == full_message("a/b", "payload", 2));
  REQUIRE(format::decode_inflight(9, s.inflight_no_msg, f));
  CHECK(f.stage == InflightStage::await_pubcomp);
  CHECK_FALSE(f.message.has_value());

  ClockRecord c;
  REQUIRE(format::decode_clock(s.clock, c));
  CHECK(c.broker == at_ms(-5));
  CHECK(c.wall.time_since_epoch().count() == 7);

  // Compact: a 64-byte QoS 1 message in a queue costs little beyond topic and payload.
  std::string small;
  const StoredMessage m = plain_message("sensors/gw/1/temp", std::string(64, 'x'));
  format::encode_queue_entry(Delivery{1, false, {}}, m.view(), small);
  INFO("queue entry value: " << small.size() << " bytes");
  CHECK(small.size() <= m.topic.size() + m.payload.size() + m.origin_client_id.size() + 16);
}

TEST_CASE("format: truncated values are refused", "[storage][format]") {
  const Samples s = samples();
  using Decode = bool (*)(std::string_view);
  const std::pair<const std::string*, Decode> cases[] = {
      {&s.session,
       [](std::string_view v) {
         SessionRecord r;
         return format::decode_session("c", v, r);
       }},
      {&s.queue_entry,
       [](std::string_view v) {
         QueueEntry q;
         std::uint64_t bytes = 0;
         return format::decode_queue_entry(1, v, q) || format::peek_queue_entry_bytes(v, bytes);
       }},
      {&s.inflight,
       [](std::string_view v) {
         InflightRecord f;
         return format::decode_inflight(1, v, f);
       }},
      {&s.inflight_no_msg,
       [](std::string_view v) {
         InflightRecord f;
         return format::decode_inflight(1, v, f);
       }},
      {&s.retained,
       [](std::string_view v) {
         StoredMessage m;
         return format::decode_retained(v, m);
       }},
      {&s.clock,
       [](std::string_view v) {
         ClockRecord c;
         return format::decode_clock(v, c);
       }},
  };
  for (const auto& [value, decode] : cases) {
    REQUIRE(decode(*value));
    for (std::size_t n = 0; n < value->size(); ++n) {
      INFO("prefix of " << n << " / " << value->size() << " bytes");
      CHECK_FALSE(decode(std::string_view(*value).substr(0, n)));
    }
  }
}

TEST_CASE("format: unknown versions and flags are refused", "[storage][format]") {
  Samples s = samples();
  for (std::string* v : {&s.session, &s.queue_entry, &s.inflight, &s.retained, &s.clock}) {
    std::string bumped = *v;
    bumped[0] = static_cast<char>(format::kRecordVersion + 1);
    CHECK(decode_all(bumped) == 0);
  }
  std::string session = s.session;
  session[1] = 3;  // protocol level 3 (MQTT 3.1) is not one we speak
  SessionRecord r;
  CHECK_FALSE(format::decode_session("c", session, r));
  std::string entry = s.queue_entry;
  entry[1] = 0x03;  // QoS 3
  QueueEntry q;
  CHECK_FALSE(format::decode_queue_entry(1, entry, q));
  std::string flight = s.inflight;
  flight[1] = 9;  // no such stage
  InflightRecord f;
  CHECK_FALSE(format::decode_inflight(1, flight, f));
  std::string trailing = s.clock + "x";
  ClockRecord c;
  CHECK_FALSE(format::decode_clock(trailing, c));
}

TEST_CASE("format: random garbage never crashes a decoder", "[storage][format]") {
  std::mt19937 rng(1234);
  const Samples s = samples();
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string v;
    if (i % 2 == 0) {
      v.resize(rng() % 64);
      for (char& ch : v) ch = static_cast<char>(rng());
    } else {  // a valid record with a few bytes flipped
      v = i % 4 == 1 ? s.queue_entry : s.session;
      for (int k = 0; k < 3; ++k) v[rng() % v.size()] = static_cast<char>(rng());
    }
    accepted += decode_all(v);
  }
  SUCCEED("decoders accepted " << accepted << " mutated values without crashing");
}

TEST_CASE("format: batches frame their ops and report bad input", "[storage][format]") {
  Batch b;
  CHECK(b.empty());
  const StoredMessage m = plain_message("t", "p");
  b.put_retained(m.view());
  b.delete_retained("t");
  b.delete_session("c");
  b.remove_queue_range("c", 5, UINT64_MAX);
  CHECK(b.op_count() == 6);  // delete_session: the record and two ranges
  std::size_t pos = 0;
  Batch::Op op;
  std::vector<Batch::OpKind> kinds;
  while (b.next_op(pos, op)) kinds.push_back(op.kind);
  using K = Batch::OpKind;
  CHECK(kinds ==
        std::vector<K>{K::put, K::erase, K::erase, K::erase_range, K::erase_range, K::erase_range});
  CHECK(b.status().ok());
  // New keys are inserts (a store may cancel them against a later erase); a flow's
  // stage change is a plain put.
  Batch n;
  n.append_queue("c", 1, Delivery{1, false, {}}, m.view());
  n.add_inflight("c", InflightInfo{1, 1, InflightStage::await_puback, {1, false, {}}}, m.view());
  n.put_inflight("c", InflightInfo{1, 1, InflightStage::await_pubcomp, {1, false, {}}});
  kinds.clear();
  pos = 0;
  while (n.next_op(pos, op)) kinds.push_back(op.kind);
  CHECK(kinds == std::vector<K>{K::insert, K::insert, K::put});
  b.delete_retained(std::string("a\0b", 3));
  CHECK(b.status().code() == StatusCode::invalid_argument);
  CHECK(b.op_count() == 6);  // the bad op was not added
  b.clear();
  CHECK(b.empty());
  CHECK(b.status().ok());
}
