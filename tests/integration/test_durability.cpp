// Durability (issue 3): the real broker with a real LevelDB store in the test's temp
// directory, killed with SIGKILL and restarted on the same directory. Sessions,
// subscriptions, queues, in-flight flows, inbound QoS 2 ids, wills and retained messages
// must come back; what was acknowledged must never be lost; expired state must be gone;
// a corrupt store is moved aside (or refused); RAM stays bounded by the queue window.
// Not run against the reference broker (TERN_IT_REFERENCE=mosquitto): these need our config.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include "tests/integration/harness/common.hpp"
#include "tests/integration/harness/streams.hpp"

namespace tern::it {
namespace {

namespace fs = std::filesystem;

// State that no acknowledgement waits for (a SUBACK, a subscriber's PUBACK, a CONNECT) is
// committed within the group-commit window (default 5 ms); this leaves ample margin on a
// loaded machine before a kill -9. Messages acknowledged to a publisher get no such grace.
constexpr Millis kSettle{300};
constexpr std::uint32_t kLongExpiry = 3600;

// storage: under the broker's temp directory, plus extra storage keys and other sections.
std::string durable_yaml(const std::string& storage_extra = "", const std::string& rest = "") {
  return "storage:\n  path: @DIR@/data\n" + storage_extra + rest;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return s;
}

// The broker's log written since `offset` (the log file accumulates over restarts).
std::string log_since(const TernBroker& b, std::size_t offset) {
  const auto all = b.log();
  return offset < all.size() ? all.substr(offset) : std::string();
}

// A persistent session that subscribes to `filter` and goes offline.
void subscribe_offline(std::uint16_t port, ProtocolVersion v, const std::string& id,
                       const std::string& filter, std::uint8_t qos) {
  RawClient sub(port, v);
  const auto ack = sub.connect(id, /*clean_start=*/false, kLongExpiry);
  REQUIRE(ack.reason_code == 0);
  REQUIRE(sub.subscribe(filter, qos).reason_codes[0] == qos);
  sub.disconnect();
}

void send_puback(RawClient& c, std::uint16_t id) {
  codec::Puback a;
  a.packet_id = id;
  c.send(a);
}

// Sub-directories of `dir` whose name starts with `prefix`.
std::vector<fs::path> entries_starting_with(const std::string& dir, const std::string& prefix) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path());
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// 1. Sessions and subscriptions

TEST_CASE("Durability: a persistent session's subscriptions survive kill -9 and SIGTERM (Paho "
          "3.1.1 clean session 0, v5 clean start 0 + expiry 3600): session present, no "
          "resubscribe") {
  if (TernBroker::reference_mode()) return;  // needs our config
  const int version = GENERATE(MQTTVERSION_3_1_1, MQTTVERSION_5);
  const bool crash = GENERATE(true, false);
  INFO("Paho " << paho_version_name(version) << (crash ? ", kill -9" : ", SIGTERM"));
  TernBroker broker({durable_yaml(), {}});
  const std::string id = std::string("it-dur-sub-") + paho_version_name(version);

  {
    PahoClient sub(broker.uri(), id, version);
    const auto ack = sub.connect(sub.options(/*clean=*/false, kLongExpiry).finalize());
    CHECK_FALSE(ack.is_session_present());
    REQUIRE(sub.subscribe("it/dur/sub/#", 1) == 1);
    sub.disconnect();
  }
  sleep_for(kSettle);
  if (crash) {
    CHECK(broker.kill9() == 128 + 9);
  } else {
    CHECK(broker.stop() == 0);
  }
  broker.restart();

  PahoClient pub(broker.uri(), "it-dur-sub-pub", version);
  pub.connect();
  pub.publish("it/dur/sub/a", "while offline", 1);

  PahoClient sub(broker.uri(), id, version);
  const auto ack = sub.connect(sub.options(/*clean=*/false, kLongExpiry).finalize());
  // 3.1.1 [MQTT-3.2.2-2], 5.0 [MQTT-3.2.2-2]: the stored session is resumed.
  CHECK(ack.is_session_present());
  auto m = sub.next(5s);
  REQUIRE(m);  // queued for the restored subscription while offline
  CHECK(m->get_topic() == "it/dur/sub/a");
  CHECK(m->get_payload_str() == "while offline");
  CHECK(m->get_qos() == 1);
  pub.publish("it/dur/sub/b", "live", 1);
  m = sub.next(5s);
  REQUIRE(m);  // and the restored subscription keeps matching live traffic
  CHECK(m->get_payload_str() == "live");
  CHECK(sub.quiet_for(300ms));
}

TEST_CASE("Durability: v5 subscription options and identifiers survive kill -9") {
  if (TernBroker::reference_mode()) return;
  TernBroker broker({durable_yaml(), {}});
  {
    RawClient sub(broker.port(), ProtocolVersion::v5);
    REQUIRE(sub.connect("it-dur-opts", false, kLongExpiry).reason_code == 0);
    codec::Subscribe s;
    s.packet_id = sub.next_packet_id();
    codec::SubscribeEntry e;
    e.filter = "it/dur/opts/#";
    e.max_qos = 1;
    e.no_local = true;
    e.retain_as_published = true;
    s.entries.push_back(e);
    s.props.subscription_identifiers = {42};
    sub.send(s);
    REQUIRE(sub.expect<codec::Suback>().reason_codes == std::vector<std::uint8_t>{1});
    REQUIRE(sub.subscribe("it/dur/plain", 0).reason_codes[0] == 0);
    sub.disconnect();
  }
  sleep_for(kSettle);
  broker.kill9();
  broker.restart();

  RawClient sub(broker.port(), ProtocolVersion::v5);
  REQUIRE(sub.connect("it-dur-opts", false, kLongExpiry).session_present);
  // No Local [MQTT-3.8.3-3]: its own message is not sent back to it.
  sub.publish("it/dur/opts/self", "mine", 1);
  CHECK(sub.no_publish_for(300ms));

  RawClient pub(broker.port(), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-dur-opts-pub").reason_code == 0);
  pub.publish("it/dur/opts/x", "other", 1, /*retain=*/true);
  auto p = sub.recv_publish(5s);
  REQUIRE(p);
  CHECK(p->payload == "other");
  CHECK(p->qos == 1);
  CHECK(p->retain);  // Retain As Published [MQTT-3.3.1-12]
  // [MQTT-3.3.4-3]: the stored Subscription Identifier goes with the matching message.
  CHECK(p->props.subscription_identifiers == std::vector<std::uint32_t>{42});

  pub.publish("it/dur/plain", "capped", 1);
  p = sub.recv_publish(5s);
  REQUIRE(p);
  CHECK(p->payload == "capped");
  CHECK(p->qos == 0);  // the stored maximum QoS 0 [MQTT-3.8.4-8]
  CHECK(p->props.subscription_identifiers.empty());
  CHECK(sub.no_publish_for(300ms));
}

TEST_CASE("Durability: without storage.path nothing survives a restart (in memory only)") {
  if (TernBroker::reference_mode()) return;
  TernBroker broker;
  subscribe_offline(broker.port(), ProtocolVersion::v5, "it-dur-mem", "it/dur/mem", 1);
  {
    RawClient pub(broker.port(), ProtocolVersion::v5);
    REQUIRE(pub.connect("it-dur-mem-pub").reason_code == 0);
    pub.publish("it/dur/mem", "kept?", 1, /*retain=*/true);
  }
  sleep_for(kSettle);
  broker.kill9();
  broker.restart();
  RawClient sub(broker.port(), ProtocolVersion::v5);
  CHECK_FALSE(sub.connect("it-dur-mem", false, kLongExpiry).session_present);
  REQUIRE(sub.subscribe("it/dur/mem", 1).reason_codes[0] == 1);
  CHECK(sub.no_publish_for(500ms));  // neither the queued nor the retained message
}

// ---------------------------------------------------------------------------------------
// 2. No acknowledged message lost

TEST_CASE("Durability: every acknowledged QoS 1/2 message queued for an offline session "
          "survives kill -9 right after the last ack, in order, without duplicates") {
  if (TernBroker::reference_mode()) return;
  struct Case {
    std::uint8_t qos;
    const char* sync;
  };
  const auto c = GENERATE(Case{1, "batch"}, Case{2, "batch"}, Case{1, "always"},
                          Case{2, "always"});
  constexpr int kCount = 2000;
  INFO("QoS " << int(c.qos) << ", sync " << c.sync << ", " << kCount << " messages");
  TernBroker broker({durable_yaml(std::string("  sync: ") + c.sync + "\n"), {}});
  subscribe_offline(broker.port(), ProtocolVersion::v5, "it-dur-q", "it/dur/q", 2);
  sleep_for(kSettle);

  {
    RawClient pub(broker.port(), ProtocolVersion::v5);
    REQUIRE(pub.connect("it-dur-q-pub").reason_code == 0);
    StreamPublisher stream(pub, {"it/dur/q", 0, kCount, c.qos, 16});
    Stopwatch sw;
    stream.run(60s);
    INFO("published in " << sw.elapsed().count() << " ms");
    // Right after the last PUBACK / PUBCOMP: nothing may be waiting in a buffer.
    REQUIRE(broker.kill9() == 128 + 9);
  }
  broker.restart();

  RawClient sub(broker.port(), ProtocolVersion::v5);
  REQUIRE(sub.connect("it-dur-q", false, kLongExpiry).session_present);
  // [MQTT-4.6.0-6] in publish order; never sent before, so no DUP.
  const auto r = drain_stream(sub, "it/dur/q", 0, kCount, 5s);
  INFO(r.error);
  CHECK(r.error.empty());
  CHECK(r.received == kCount);
  CHECK(sub.no_publish_for(500ms));  // no duplicates after the last one
}

// ---------------------------------------------------------------------------------------
// 3. Outbound in-flight flows

TEST_CASE("Durability: unacknowledged QoS 1 PUBLISHes are resent after kill -9 with DUP=1 and "
          "their packet ids, before the rest of the queue in order") {
  if (TernBroker::reference_mode()) return;
  const auto v = GENERATE(ProtocolVersion::v311, ProtocolVersion::v5);
  INFO("subscriber " << version_name(v));
  // An in-flight window of 4 towards the subscriber, so the queue holds the rest.
  TernBroker broker({durable_yaml("", "mqtt:\n  max_inflight_out: 4\n"), {}});
  const std::string topic = "it/dur/inflight";

  RawClient sub(broker.port(), v);
  REQUIRE(sub.connect("it-dur-inflight", false, kLongExpiry).reason_code == 0);
  REQUIRE(sub.subscribe(topic, 1).reason_codes[0] == 1);
  RawClient pub(broker.port(), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-dur-inflight-pub").reason_code == 0);
  for (int i = 0; i < 10; ++i) pub.publish(topic, stream_payload(i), 1);

  std::vector<codec::Publish> first;
  auto take = [&](int want) {
    auto p = sub.recv_publish(5s, /*ack=*/false);
    REQUIRE(p);
    REQUIRE(stream_number(p->payload) == want);
    CHECK_FALSE(p->dup);
    first.push_back(*p);
  };
  for (int i = 0; i < 4; ++i) take(i);
  send_puback(sub, first[0].packet_id);
  send_puback(sub, first[1].packet_id);
  take(4);
  take(5);
  // Window full (2..5 unacknowledged): 6..9 wait in the queue.
  CHECK_FALSE(sub.recv_publish(300ms, /*ack=*/false));
  sleep_for(kSettle);
  broker.kill9();
  sub.drop();
  broker.restart();

  RawClient again(broker.port(), v);
  REQUIRE(again.connect("it-dur-inflight", false, kLongExpiry).session_present);
  for (int i = 2; i < 6; ++i) {
    INFO("in-flight message " << i);
    auto p = again.recv_publish(5s, /*ack=*/true);
    REQUIRE(p);
    // [MQTT-4.4.0-1] resend with the original packet id, [MQTT-3.3.1-1] DUP=1,
    // [MQTT-4.6.0-1] in the original order.
    CHECK(stream_number(p->payload) == i);
    CHECK(p->dup);
    CHECK(p->packet_id == first[static_cast<std::size_t>(i)].packet_id);
    CHECK(p->qos == 1);
  }
  const auto r = drain_stream(again, topic, 6, 4, 5s);
  INFO(r.error);
  CHECK(r.error.empty());
  CHECK(again.no_publish_for(500ms));  // 0 and 1 were acknowledged before the kill
}

TEST_CASE("Durability: outbound QoS 2 after kill -9: PUBREL resent for a PUBREC received, "
          "unacknowledged PUBLISH resent with DUP=1") {
  if (TernBroker::reference_mode()) return;
  const auto v = GENERATE(ProtocolVersion::v311, ProtocolVersion::v5);
  INFO("subscriber " << version_name(v));
  TernBroker broker({durable_yaml(), {}});
  const std::string topic = "it/dur/inflight2";

  RawClient sub(broker.port(), v);
  REQUIRE(sub.connect("it-dur-inflight2", false, kLongExpiry).reason_code == 0);
  REQUIRE(sub.subscribe(topic, 2).reason_codes[0] == 2);
  RawClient pub(broker.port(), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-dur-inflight2-pub").reason_code == 0);
  pub.publish(topic, "0", 2);
  pub.publish(topic, "1", 2);

  auto a = sub.recv_publish(5s, /*ack=*/false);
  REQUIRE(a);
  REQUIRE(a->payload == "0");
  auto b = sub.recv_publish(5s, /*ack=*/false);
  REQUIRE(b);
  REQUIRE(b->payload == "1");
  codec::Pubrec rec;
  rec.packet_id = a->packet_id;
  sub.send(rec);
  REQUIRE(sub.expect<codec::Pubrel>().packet_id == a->packet_id);  // no PUBCOMP sent
  sleep_for(kSettle);
  broker.kill9();
  sub.drop();
  broker.restart();

  RawClient again(broker.port(), v);
  REQUIRE(again.connect("it-dur-inflight2", false, kLongExpiry).session_present);
  std::optional<codec::Pubrel> rel;
  std::optional<codec::Publish> b2;
  for (int k = 0; k < 2; ++k) {
    const auto st = again.recv(5s);
    REQUIRE(st == RecvStatus::Packet);
    const auto& p = again.last_packet();
    if (const auto* r = std::get_if<codec::Pubrel>(&p); r != nullptr && !rel) {
      rel = *r;
    } else if (const auto* pp = std::get_if<codec::Publish>(&p); pp != nullptr && !b2) {
      b2 = *pp;
    } else {
      FAIL("expected one PUBREL and one PUBLISH, got " << describe(p));
    }
  }
  // [MQTT-4.4.0-1]: after PUBREC the PUBREL is resent (never the PUBLISH again).
  CHECK(rel->packet_id == a->packet_id);
  CHECK(b2->payload == "1");
  CHECK(b2->dup);
  CHECK(b2->qos == 2);
  CHECK(b2->packet_id == b->packet_id);

  codec::Pubcomp comp;
  comp.packet_id = a->packet_id;
  again.send(comp);
  rec.packet_id = b2->packet_id;
  again.send(rec);
  CHECK(again.expect<codec::Pubrel>().packet_id == b->packet_id);
  comp.packet_id = b->packet_id;
  again.send(comp);
  CHECK(again.no_publish_for(500ms));
}

// ---------------------------------------------------------------------------------------
// 4. Inbound QoS 2

TEST_CASE("Durability: inbound QoS 2 awaiting PUBREL survives kill -9: PUBCOMP success after "
          "restart, delivered exactly once") {
  if (TernBroker::reference_mode()) return;
  const auto v = GENERATE(ProtocolVersion::v311, ProtocolVersion::v5);
  const bool resend_publish = GENERATE(false, true);
  INFO("publisher " << version_name(v)
                    << (resend_publish ? ", resends the PUBLISH (DUP) first" : ", sends PUBREL"));
  TernBroker broker({durable_yaml(), {}});
  subscribe_offline(broker.port(), ProtocolVersion::v5, "it-dur-in2-sub", "it/dur/in2", 2);
  sleep_for(kSettle);

  constexpr std::uint16_t kId = 77;
  codec::Publish pub_packet;
  pub_packet.topic = "it/dur/in2";
  pub_packet.payload = "exactly once";
  pub_packet.qos = 2;
  pub_packet.packet_id = kId;
  {
    RawClient pub(broker.port(), v);
    REQUIRE(pub.connect("it-dur-in2-pub", false, kLongExpiry).reason_code == 0);
    pub.send(pub_packet);
    const auto rec = pub.expect<codec::Pubrec>();
    REQUIRE(rec.packet_id == kId);
    REQUIRE(rec.reason_code < 0x80);
    broker.kill9();  // right after PUBREC: the broker owns the message now
  }
  broker.restart();

  RawClient pub(broker.port(), v);
  REQUIRE(pub.connect("it-dur-in2-pub", false, kLongExpiry).session_present);
  if (resend_publish) {
    // A client that missed the PUBREC resends with DUP; the stored id makes it a duplicate
    // [MQTT-4.3.3-10 / 4.3.3-9 in 3.1.1]: PUBREC again, no second delivery.
    pub_packet.dup = true;
    pub.send(pub_packet);
    const auto rec = pub.expect<codec::Pubrec>();
    CHECK(rec.packet_id == kId);
    CHECK(rec.reason_code < 0x80);
  }
  codec::Pubrel rel;
  rel.packet_id = kId;
  pub.send(rel);
  const auto comp = pub.expect<codec::Pubcomp>();
  CHECK(comp.packet_id == kId);
  // v5: 0x92 Packet Identifier not found would mean the stored flow was lost.
  CHECK(comp.reason_code == 0);

  RawClient sub(broker.port(), ProtocolVersion::v5);
  REQUIRE(sub.connect("it-dur-in2-sub", false, kLongExpiry).session_present);
  auto p = sub.recv_publish(5s);
  REQUIRE(p);
  CHECK(p->payload == "exactly once");
  CHECK(p->qos == 2);
  CHECK(sub.no_publish_for(700ms));  // [MQTT-4.3.3] exactly once
}

// ---------------------------------------------------------------------------------------
// 5. Retained messages

TEST_CASE("Durability: retained messages survive kill -9, one cleared before the kill stays "
          "cleared, v5 properties are kept") {
  if (TernBroker::reference_mode()) return;
  constexpr int kTopics = 200;
  constexpr int kCleared = 7;
  TernBroker broker({durable_yaml(), {}});
  {
    RawClient pub(broker.port(), ProtocolVersion::v5);
    REQUIRE(pub.connect("it-dur-ret-pub").reason_code == 0);
    for (int i = 0; i < kTopics; ++i) {
      pub.publish("it/dur/ret/" + std::to_string(i), stream_payload(i, 100), 1, true);
    }
    pub.publish("it/dur/ret/" + std::to_string(kCleared), "", 1, true);  // [MQTT-3.3.1-10]
    codec::Properties props;
    props.content_type = "text/plain";
    props.payload_format_indicator = 1;
    props.user_properties = {{"k", "v1"}, {"k", "v2"}};
    pub.publish("it/dur/ret/props", "with properties", 1, true, props);
    broker.kill9();  // right after the last PUBACK
  }
  broker.restart();

  RawClient sub(broker.port(), ProtocolVersion::v5);
  REQUIRE(sub.connect("it-dur-ret-sub").reason_code == 0);
  REQUIRE(sub.subscribe("it/dur/ret/#", 1).reason_codes[0] == 1);
  std::map<std::string, codec::Publish> got;
  int duplicates = 0;
  while (auto p = sub.recv_publish(1500ms)) {
    if (!got.emplace(p->topic, *p).second) ++duplicates;
  }
  CHECK(duplicates == 0);
  CHECK(got.size() == kTopics);  // kTopics - 1 cleared + 1 with properties
  for (int i = 0; i < kTopics; ++i) {
    const auto topic = "it/dur/ret/" + std::to_string(i);
    INFO(topic);
    const auto it = got.find(topic);
    if (i == kCleared) {
      CHECK(it == got.end());
      continue;
    }
    REQUIRE(it != got.end());
    CHECK(it->second.retain);  // [MQTT-3.3.1-8]
    CHECK(it->second.qos == 1);
    CHECK(it->second.payload == stream_payload(i, 100));
  }
  const auto it = got.find("it/dur/ret/props");
  REQUIRE(it != got.end());
  CHECK(it->second.payload == "with properties");
  CHECK(it->second.props.content_type == std::optional<std::string>("text/plain"));
  CHECK(it->second.props.payload_format_indicator == std::optional<std::uint8_t>(1));
  CHECK(it->second.props.user_properties ==
        std::vector<codec::UserProperty>{{"k", "v1"}, {"k", "v2"}});
}

// ---------------------------------------------------------------------------------------
// 6. Expiry across a restart

TEST_CASE("Durability: session and message expiry count the downtime: expired sessions, queued "
          "and retained messages are gone, live ones keep a reduced expiry") {
  if (TernBroker::reference_mode()) return;
  TernBroker broker({durable_yaml("", "sessions:\n  expiry_default: 2s\n"), {}});
  {
    RawClient s(broker.port(), ProtocolVersion::v5);
    REQUIRE(s.connect("it-dur-exp-short", false, /*session_expiry=*/2).reason_code == 0);
    REQUIRE(s.subscribe("it/dur/exp/short", 1).reason_codes[0] == 1);
    s.disconnect();
  }
  // 3.1.1 clean session 0: lives sessions.expiry_default (2 s here).
  subscribe_offline(broker.port(), ProtocolVersion::v311, "it-dur-exp-311", "it/dur/exp/311", 1);
  subscribe_offline(broker.port(), ProtocolVersion::v5, "it-dur-exp-long", "it/dur/exp/long", 1);
  sleep_for(kSettle);
  {
    RawClient pub(broker.port(), ProtocolVersion::v5);
    REQUIRE(pub.connect("it-dur-exp-pub").reason_code == 0);
    codec::Properties two, long_life;
    two.message_expiry_interval = 2;
    long_life.message_expiry_interval = 600;
    pub.publish("it/dur/exp/long", "short-lived", 1, false, two);
    pub.publish("it/dur/exp/long", "long-lived", 1, false, long_life);
    pub.publish("it/dur/exp/long", "no expiry", 1, false, {});
    pub.publish("it/dur/exp/retained-short", "r-short", 1, true, two);
    pub.publish("it/dur/exp/retained-long", "r-long", 1, true, long_life);
    broker.kill9();
  }
  sleep_for(3s);  // downtime past every 2 s lifetime
  broker.restart();

  {
    RawClient s(broker.port(), ProtocolVersion::v5);
    // [MQTT-3.1.2-23]: the session ended 2 s after the disconnect, during the downtime.
    CHECK_FALSE(s.connect("it-dur-exp-short", false, 2).session_present);
  }
  {
    RawClient s(broker.port(), ProtocolVersion::v311);
    CHECK_FALSE(s.connect("it-dur-exp-311", false).session_present);
  }
  RawClient sub(broker.port(), ProtocolVersion::v5);
  REQUIRE(sub.connect("it-dur-exp-long", false, kLongExpiry).session_present);
  auto p = sub.recv_publish(5s);
  REQUIRE(p);
  // [MQTT-3.3.2-5]: "short-lived" expired while stored and is not delivered.
  CHECK(p->payload == "long-lived");
  REQUIRE(p->props.message_expiry_interval.has_value());
  // [MQTT-3.3.2-6]: reduced by the time it waited, downtime included (>= 3 s).
  CHECK(*p->props.message_expiry_interval <= 597);
  CHECK(*p->props.message_expiry_interval >= 580);
  p = sub.recv_publish(5s);
  REQUIRE(p);
  CHECK(p->payload == "no expiry");
  CHECK_FALSE(p->props.message_expiry_interval.has_value());
  CHECK(sub.no_publish_for(300ms));

  REQUIRE(sub.subscribe("it/dur/exp/+", 1).reason_codes[0] == 1);
  p = sub.recv_publish(3s);
  REQUIRE(p);
  CHECK(p->topic == "it/dur/exp/retained-long");
  CHECK(p->retain);
  REQUIRE(p->props.message_expiry_interval.has_value());
  CHECK(*p->props.message_expiry_interval <= 597);
  CHECK(sub.no_publish_for(500ms));  // the expired retained message is gone
}

// ---------------------------------------------------------------------------------------
// 7. Wills

TEST_CASE("Durability: the will of a client connected when the broker is killed is published "
          "after restart, a will discarded by DISCONNECT is not") {
  if (TernBroker::reference_mode()) return;
  const auto v = GENERATE(ProtocolVersion::v311, ProtocolVersion::v5);
  INFO("will owner " << version_name(v));
  TernBroker broker({durable_yaml(), {}});
  subscribe_offline(broker.port(), ProtocolVersion::v5, "it-dur-will-sub", "it/dur/will/#", 1);

  auto with_will = [&](const std::string& id) {
    codec::Connect c;
    c.client_id = id;
    c.clean_start = false;  // 3.1.1: a persistent session (expiry_default)
    if (v == ProtocolVersion::v5) {
      c.clean_start = true;
      c.props.session_expiry_interval = 600;  // persisted: expiry > 0
    }
    codec::Will w;
    w.topic = "it/dur/will/" + id;
    w.payload = "gone:" + id;
    w.qos = 1;
    c.will = w;
    return c;
  };
  {
    RawClient polite(broker.port(), v);
    REQUIRE(polite.connect(with_will("polite")).reason_code == 0);
    polite.disconnect();  // [MQTT-3.14.4-3]: will discarded
  }
  RawClient owner(broker.port(), v);
  REQUIRE(owner.connect(with_will("crashed")).reason_code == 0);
  sleep_for(kSettle);
  broker.kill9();  // a network failure for the connected client
  owner.drop();
  broker.restart();

  RawClient sub(broker.port(), ProtocolVersion::v5);
  REQUIRE(sub.connect("it-dur-will-sub", false, kLongExpiry).session_present);
  auto p = sub.recv_publish(5s);
  REQUIRE(p);
  CHECK(p->topic == "it/dur/will/crashed");
  CHECK(p->payload == "gone:crashed");
  CHECK(p->qos == 1);
  CHECK(sub.no_publish_for(700ms));  // once, and nothing from "polite"
}

// ---------------------------------------------------------------------------------------
// 8. Bounded RAM

TEST_CASE("Durability: 100,000 queued 1 KiB messages stay on disk, not in RAM (VmHWM < 60 MiB), "
          "all delivered in order", "[slow]") {
  if (TernBroker::reference_mode()) return;
  constexpr int kCount = 100'000;
  constexpr std::size_t kSize = 1024;
  constexpr std::uint64_t kMaxKiB = 60 * 1024;
  TernBroker broker({durable_yaml("",
                                  "mqtt:\n  max_inflight: 256\n  max_inflight_out: 256\n"
                                  "sessions:\n  max_queued_messages: 200000\n"
                                  "  max_queued_bytes: 512MiB\n"),
                     {}});
  subscribe_offline(broker.port(), ProtocolVersion::v5, "it-dur-ram", "it/dur/ram", 1);

  RawClient pub(broker.port(), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-dur-ram-pub").reason_code == 0);
  StreamSpec spec{"it/dur/ram", 0, kCount, 1, 128};
  spec.payload_size = kSize;
  StreamPublisher stream(pub, spec);
  Stopwatch sw;
  std::uint64_t peak_rss = 0;
  const auto deadline = std::chrono::steady_clock::now() + 300s;
  while (!stream.done()) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    REQUIRE(stream.pump(200ms));
    if (stream.acked_count() % 1000 == 0) {
      peak_rss = std::max(peak_rss, proc_status_kib(broker.pid(), "VmRSS").value_or(0));
    }
  }
  const auto hwm = proc_status_kib(broker.pid(), "VmHWM");
  REQUIRE(hwm);
  INFO("published " << kCount << " x " << kSize << " B in " << sw.elapsed().count()
                    << " ms; broker VmHWM " << *hwm << " KiB, VmRSS peak seen " << peak_rss
                    << " KiB; queued payload " << kCount * kSize / 1024 << " KiB");
  CHECK(*hwm < kMaxKiB);

  RawClient sub(broker.port(), ProtocolVersion::v5);
  REQUIRE(sub.connect("it-dur-ram", false, kLongExpiry).session_present);
  Stopwatch drain;
  // In slices, noting the broker's VmRSS after each: a failure shows where memory grew.
  std::string rss_profile = "VmRSS KiB after reconnect";
  rss_profile += ": " + std::to_string(proc_status_kib(broker.pid(), "VmRSS").value_or(0));
  constexpr int kSlice = 10'000;
  for (int first = 0; first < kCount; first += kSlice) {
    const auto r = drain_stream(sub, "it/dur/ram", first, kSlice, 10s);
    INFO(r.error);
    REQUIRE(r.error.empty());
    rss_profile += ", after " + std::to_string(first + kSlice) + ": " +
                   std::to_string(proc_status_kib(broker.pid(), "VmRSS").value_or(0)) + " (anon " +
                   std::to_string(proc_status_kib(broker.pid(), "RssAnon").value_or(0)) + ")";
  }
  sleep_for(2s);  // memory that only waited for the storage thread is back by now
  rss_profile += ", 2 s later: " +
                 std::to_string(proc_status_kib(broker.pid(), "RssAnon").value_or(0)) + " anon";
  const auto hwm_after = proc_status_kib(broker.pid(), "VmHWM");
  REQUIRE(hwm_after);
  INFO("drained in " << drain.elapsed().count() << " ms; VmHWM " << *hwm_after << " KiB; "
                     << rss_profile);
  CHECK(*hwm_after < kMaxKiB);  // paging the queue back in is windowed too
  CHECK(sub.no_publish_for(500ms));
}

// ---------------------------------------------------------------------------------------
// 9. Corruption

// Overwrites LevelDB's CURRENT or every MANIFEST-* with bytes LevelDB rejects as corrupt.
void corrupt_store(const std::string& data, const std::string& which) {
  const std::string garbage = std::string("\x13\x37 not a leveldb file \xff\xfe", 24);
  std::vector<fs::path> targets;
  if (which == "CURRENT") {
    targets.push_back(fs::path(data) / "CURRENT");
  } else {
    targets = entries_starting_with(data, "MANIFEST-");
  }
  REQUIRE_FALSE(targets.empty());
  for (const auto& t : targets) {
    REQUIRE(fs::exists(t));
    std::ofstream(t, std::ios::binary | std::ios::trunc) << garbage << garbage;
  }
}

// A persistent session with a subscription and a retained message, then a clean stop.
void fill_and_stop(TernBroker& broker) {
  RawClient c(broker.port(), ProtocolVersion::v5);
  REQUIRE(c.connect("it-dur-corrupt", false, kLongExpiry).reason_code == 0);
  REQUIRE(c.subscribe("it/dur/corrupt/sub", 1).reason_codes[0] == 1);
  c.publish("it/dur/corrupt", "before", 1, /*retain=*/true);
  c.disconnect();
  sleep_for(kSettle);
  REQUIRE(broker.stop() == 0);
  REQUIRE(fs::exists(broker.dir() + "/data/CURRENT"));
}

TEST_CASE("Durability: a corrupt store is moved aside to <path>.corrupt-<time> with an error "
          "log, the broker starts empty and its new store works") {
  if (TernBroker::reference_mode()) return;
  const std::string which = GENERATE(std::string("CURRENT"), std::string("MANIFEST"));
  INFO("corrupted: " << which);
  TernBroker broker({durable_yaml(), {}});
  fill_and_stop(broker);
  const std::string data = broker.dir() + "/data";
  corrupt_store(data, which);

  const auto offset = broker.log().size();
  broker.restart();
  const auto aside = entries_starting_with(broker.dir(), "data.corrupt-");
  REQUIRE(aside.size() == 1);
  INFO("moved to " << aside[0]);
  const auto log = log_since(broker, offset);
  INFO("log since restart:\n" << log);
  CHECK(log.find(aside[0].string()) != std::string::npos);  // says where it went
  CHECK((log.find("[error]") != std::string::npos || log.find("[critical]") != std::string::npos));
  CHECK(lower(log).find("corrupt") != std::string::npos);
  CHECK(fs::exists(aside[0] / "LOCK"));  // the old store, kept for inspection

  {
    RawClient c(broker.port(), ProtocolVersion::v5);
    CHECK_FALSE(c.connect("it-dur-corrupt", false, kLongExpiry).session_present);  // empty
    REQUIRE(c.subscribe("it/dur/corrupt/sub", 1).reason_codes[0] == 1);
    c.disconnect();
  }
  {
    RawClient probe(broker.port(), ProtocolVersion::v5);
    REQUIRE(probe.connect("it-dur-corrupt-probe").reason_code == 0);
    REQUIRE(probe.subscribe("it/dur/corrupt", 1).reason_codes[0] == 1);
    CHECK(probe.no_publish_for(500ms));  // the old retained message is gone with the old store
    RawClient pub(broker.port(), ProtocolVersion::v5);
    REQUIRE(pub.connect("it-dur-corrupt-pub").reason_code == 0);
    pub.publish("it/dur/corrupt", "after", 1, /*retain=*/true);
    pub.publish("it/dur/corrupt/sub", "queued", 1);
    auto live = probe.recv_publish(3s);
    REQUIRE(live);
    CHECK(live->payload == "after");
  }
  broker.kill9();
  broker.restart();
  CHECK(entries_starting_with(broker.dir(), "data.corrupt-").size() == 1);  // not again
  RawClient c(broker.port(), ProtocolVersion::v5);
  CHECK(c.connect("it-dur-corrupt", false, kLongExpiry).session_present);  // the new store
  auto p = c.recv_publish(3s);
  REQUIRE(p);
  CHECK(p->payload == "queued");
  REQUIRE(c.subscribe("it/dur/corrupt", 1).reason_codes[0] == 1);
  p = c.recv_publish(3s);
  REQUIRE(p);
  CHECK(p->payload == "after");
  CHECK(p->retain);
}

TEST_CASE("Durability: with storage.on_corruption: fail a corrupt store stops the broker "
          "(exit 1) and is left in place") {
  if (TernBroker::reference_mode()) return;
  TernBroker broker({durable_yaml("  on_corruption: fail\n"), {}});
  fill_and_stop(broker);
  const std::string data = broker.dir() + "/data";
  corrupt_store(data, "CURRENT");
  const auto current_before = read_file(data + "/CURRENT");

  const auto r = broker.run_another(15s);
  INFO("output:\n" << r.output);
  REQUIRE_FALSE(r.timed_out);
  CHECK(r.status == 1);
  CHECK(lower(r.output).find("corrupt") != std::string::npos);
  CHECK(r.output.find("listening on") == std::string::npos);
  CHECK(entries_starting_with(broker.dir(), "data.corrupt-").empty());
  CHECK(read_file(data + "/CURRENT") == current_before);  // untouched
}

// ---------------------------------------------------------------------------------------
// 10. --data-dir and the store lock

TEST_CASE("Durability: --data-dir overrides storage.path, a second tern on the same store is "
          "refused with exit code 1") {
  if (TernBroker::reference_mode()) return;
  TernBroker broker({"storage:\n  path: @DIR@/from-yaml\n", {"--data-dir", "@DIR@/from-cli"}});
  subscribe_offline(broker.port(), ProtocolVersion::v5, "it-dur-dd", "it/dur/dd", 1);
  {
    RawClient pub(broker.port(), ProtocolVersion::v5);
    REQUIRE(pub.connect("it-dur-dd-pub").reason_code == 0);
    pub.publish("it/dur/dd", "kept", 1);
  }
  CHECK(fs::exists(broker.dir() + "/from-cli/CURRENT"));
  CHECK_FALSE(fs::exists(broker.dir() + "/from-yaml/CURRENT"));

  // LevelDB's LOCK: the running broker owns the store.
  const auto r = broker.run_another(15s);
  INFO("second process output:\n" << r.output);
  REQUIRE_FALSE(r.timed_out);
  CHECK(r.status == 1);
  CHECK(lower(r.output).find("lock") != std::string::npos);
  REQUIRE(broker.running());  // the first one is unharmed

  broker.kill9();
  broker.restart();
  RawClient sub(broker.port(), ProtocolVersion::v5);
  REQUIRE(sub.connect("it-dur-dd", false, kLongExpiry).session_present);
  auto p = sub.recv_publish(5s);
  REQUIRE(p);
  CHECK(p->payload == "kept");
}

TEST_CASE("Durability: --data-dir alone (no config file) turns persistence on") {
  if (TernBroker::reference_mode()) return;
  TernBroker broker({"", {"--data-dir", "@DIR@/only-cli"}});
  {
    RawClient pub(broker.port(), ProtocolVersion::v5);
    REQUIRE(pub.connect("it-dur-ddonly").reason_code == 0);
    pub.publish("it/dur/ddonly", "retained", 1, /*retain=*/true);
  }
  broker.kill9();
  broker.restart();
  CHECK(fs::exists(broker.dir() + "/only-cli/CURRENT"));
  RawClient sub(broker.port(), ProtocolVersion::v5);
  REQUIRE(sub.connect("it-dur-ddonly-sub").reason_code == 0);
  REQUIRE(sub.subscribe("it/dur/ddonly", 1).reason_codes[0] == 1);
  auto p = sub.recv_publish(3s);
  REQUIRE(p);
  CHECK(p->payload == "retained");
}

TEST_CASE("Durability: sync: none still persists across a graceful restart (SIGTERM)") {
  if (TernBroker::reference_mode()) return;
  TernBroker broker({durable_yaml("  sync: none\n"), {}});
  subscribe_offline(broker.port(), ProtocolVersion::v5, "it-dur-none", "it/dur/none", 1);
  {
    RawClient pub(broker.port(), ProtocolVersion::v5);
    REQUIRE(pub.connect("it-dur-none-pub").reason_code == 0);
    StreamPublisher stream(pub, {"it/dur/none", 0, 200, 1, 16});
    stream.run(30s);
  }
  REQUIRE(broker.stop() == 0);  // a clean shutdown flushes everything
  broker.restart();
  RawClient sub(broker.port(), ProtocolVersion::v5);
  REQUIRE(sub.connect("it-dur-none", false, kLongExpiry).session_present);
  const auto r = drain_stream(sub, "it/dur/none", 0, 200, 5s);
  INFO(r.error);
  CHECK(r.error.empty());
}

// ---------------------------------------------------------------------------------------
// Kill -9 in the middle of traffic, several cycles (issue 3 item 8)

// A subscriber that keeps its client-side session state across connections, as a real
// client must: QoS 2 receiver state (packet id -> message whose PUBLISH was taken and
// PUBREC sent, waiting for PUBREL; a PUBLISH with that id is a resend, not a new message).
// Every PUBLISH is logged (connection, packet id, DUP) to explain a failure.
class CountingSubscriber {
 public:
  // `connection`: a number for the log (which connection of the session this is).
  void attach(RawClient& c, int connection) {
    c_ = &c;
    connection_ = connection;
  }
  // Handles what arrives within `wait`; false once the connection is closed.
  bool pump(Millis wait) {
    auto st = c_->recv(wait);
    while (st == RecvStatus::Packet) {
      handle(c_->last_packet());
      st = c_->recv(Millis(0));
    }
    if (st == RecvStatus::DecodeError) {
      FAIL("subscriber got bytes our codec rejects: " << c_->last_decode_error().detail);
    }
    return st != RecvStatus::Closed;
  }
  const std::map<int, int>& deliveries() const { return deliveries_; }
  std::uint64_t packets() const { return packets_; }
  std::size_t qos2_resends() const { return qos2_resends_; }
  // Broker behaviour no resend explains (a packet id reused while its flow is open).
  const std::vector<std::string>& violations() const { return violations_; }
  // Every PUBLISH of message `n`: "conn C id I [dup]".
  std::string history(int n) const {
    std::string out;
    const auto it = history_.find(n);
    if (it == history_.end()) return "never received";
    for (const auto& h : it->second) out += "[" + h + "] ";
    return out;
  }

 private:
  void handle(const codec::Packet& p) {
    ++packets_;
    if (const auto* pub = std::get_if<codec::Publish>(&p)) {
      const int n = stream_number(pub->payload);
      if (n < 0) FAIL("subscriber got a foreign message: " << describe(p));
      history_[n].push_back("conn " + std::to_string(connection_) + " id " +
                            std::to_string(pub->packet_id) + (pub->dup ? " dup" : ""));
      if (pub->qos == 1) {
        ++deliveries_[n];
        send_puback(*c_, pub->packet_id);
      } else if (pub->qos == 2) {
        const auto [it, fresh] = awaiting_rel_.emplace(pub->packet_id, n);
        if (fresh) {
          ++deliveries_[n];
        } else if (it->second == n) {
          ++qos2_resends_;  // the broker resent it: already delivered once
        } else {
          // [MQTT-2.2.1-3]: an id is not reused before its flow completes.
          violations_.push_back("packet id " + std::to_string(pub->packet_id) +
                                " used for message " + std::to_string(n) + " (conn " +
                                std::to_string(connection_) + (pub->dup ? ", dup" : "") +
                                ") while message " + std::to_string(it->second) +
                                " still awaited its PUBREL");
          it->second = n;
          ++deliveries_[n];
        }
        codec::Pubrec rec;
        rec.packet_id = pub->packet_id;
        c_->send(rec);
      } else {
        ++deliveries_[n];
      }
    } else if (const auto* rel = std::get_if<codec::Pubrel>(&p)) {
      awaiting_rel_.erase(rel->packet_id);
      codec::Pubcomp comp;
      comp.packet_id = rel->packet_id;
      c_->send(comp);
    } else if (!std::holds_alternative<codec::Pingresp>(p)) {
      FAIL("subscriber got an unexpected packet: " << describe(p));
    }
  }
  RawClient* c_ = nullptr;
  int connection_ = 0;
  std::map<int, int> deliveries_;
  std::map<std::uint16_t, int> awaiting_rel_;  // packet id -> message number
  std::size_t qos2_resends_ = 0;
  std::uint64_t packets_ = 0;
  std::vector<std::string> violations_;
  std::map<int, std::vector<std::string>> history_;
};

TEST_CASE("Durability: kill -9 in the middle of QoS 1/2 traffic, 3 cycles: every message is "
          "delivered to the persistent subscriber, QoS 2 exactly once", "[slow]") {
  if (TernBroker::reference_mode()) return;
  const std::uint8_t qos = GENERATE(std::uint8_t{1}, std::uint8_t{2});
  INFO("QoS " << int(qos));
  constexpr int kCycles = 3;
  constexpr int kPerCycle = 1000;
  constexpr int kTotal = kCycles * kPerCycle;
  const std::string topic = "it/dur/cycle";
  TernBroker broker({durable_yaml(), {}});

  auto connect = [&](const std::string& id) {
    auto c = std::make_unique<RawClient>(broker.port(), ProtocolVersion::v5);
    const auto ack = c->connect(id, /*clean_start=*/false, kLongExpiry);
    REQUIRE(ack.reason_code == 0);
    return std::make_pair(std::move(c), ack.session_present);
  };
  auto [sub_conn, sub_sp] = connect("it-dur-cycle-sub");
  CHECK_FALSE(sub_sp);
  REQUIRE(sub_conn->subscribe(topic, qos).reason_codes[0] == qos);
  auto [pub_conn, pub_sp] = connect("it-dur-cycle-pub");
  CHECK_FALSE(pub_sp);
  sleep_for(kSettle);

  CountingSubscriber sub;
  sub.attach(*sub_conn, 0);
  // The publisher keeps its session too, so after each restart it resumes its unfinished
  // flows [MQTT-4.4.0-1]: in the end every message was acknowledged, so all must arrive.
  StreamPublisher stream(*pub_conn, {topic, 0, kTotal, qos, 16});
  std::set<int> acked_before_kill;  // the strict promise: acknowledged, then killed
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    INFO("cycle " << cycle);
    // Kill half-way through this cycle's share, with a full window of flows open.
    const int kill_at = cycle * kPerCycle + kPerCycle / 2;
    while (stream.acked_count() < kill_at) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      REQUIRE(stream.pump(Millis(2)));
      REQUIRE(sub.pump(Millis(0)));
    }
    broker.kill9();
    acked_before_kill.insert(stream.acked().begin(), stream.acked().end());
    broker.restart();
    auto [p, p_sp] = connect("it-dur-cycle-pub");
    CHECK(p_sp);
    pub_conn = std::move(p);
    stream.resume(*pub_conn);
    auto [s, s_sp] = connect("it-dur-cycle-sub");
    CHECK(s_sp);  // its subscription is restored: no resubscribe below
    sub_conn = std::move(s);
    sub.attach(*sub_conn, cycle + 1);
  }
  while (!stream.done()) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    REQUIRE(stream.pump(Millis(2)));
    REQUIRE(sub.pump(Millis(0)));
  }
  // Drain until quiet for 1.5 s: the stream is acknowledged, so all that is left is
  // the subscriber's queue and in-flight window.
  while (true) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    const auto before = sub.packets();
    REQUIRE(sub.pump(Millis(1500)));
    if (sub.packets() == before) break;
  }

  std::vector<int> missing, duplicated;
  std::size_t missing_acked_before_kill = 0;
  for (int n = 0; n < kTotal; ++n) {
    const auto it = sub.deliveries().find(n);
    if (it == sub.deliveries().end()) {
      missing.push_back(n);
      missing_acked_before_kill += acked_before_kill.count(n);
    } else if (it->second > 1) {
      duplicated.push_back(n);
    }
  }
  auto head = [](const std::vector<int>& v) {
    std::string s;
    for (std::size_t i = 0; i < v.size() && i < 20; ++i) s += std::to_string(v[i]) + " ";
    return s + (v.size() > 20 ? "..." : "");
  };
  INFO(missing.size() << " missing (" << missing_acked_before_kill
                      << " of them acknowledged before a kill): " << head(missing));
  INFO(duplicated.size() << " delivered more than once: " << head(duplicated));
  INFO(sub.qos2_resends() << " QoS 2 resends recognised by packet id");
  std::string details;
  for (std::size_t i = 0; i < missing.size() && i < 5; ++i) {
    details += "\n  " + std::to_string(missing[i]) + ": " + sub.history(missing[i]);
  }
  for (std::size_t i = 0; i < duplicated.size() && i < 5; ++i) {
    details += "\n  " + std::to_string(duplicated[i]) + ": " + sub.history(duplicated[i]);
  }
  for (const auto& v : sub.violations()) details += "\n  " + v;
  INFO("deliveries (conn = subscriber connection, 0 before the first kill):" << details);
  CHECK(sub.violations().empty());
  CHECK(missing.empty());
  if (qos == 2) CHECK(duplicated.empty());  // [MQTT-4.3.3] exactly once, across crashes too
}

}  // namespace
}  // namespace tern::it
