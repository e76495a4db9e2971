// Bridge to a cloud broker (issue 4): the real tern (storage in its temp dir) bridged to
// Debian's real mosquitto as the cloud, both on free loopback ports, driven by our raw
// codec client on both sides. Out and in rules with prefix remapping, no loops, the
// durable store-and-forward across an uplink outage and across kill -9 of tern, overflow
// policies, priority order after an outage, QoS 0 while offline, reconnect with backoff
// and TLS to the remote (certificates generated with the openssl CLI at test time).
// Not run against the reference broker (TERN_IT_REFERENCE=mosquitto): bridges are ours.
#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <sstream>

#include "tests/integration/harness/common.hpp"
#include "tests/integration/harness/mosquitto.hpp"
#include "tests/integration/harness/streams.hpp"

namespace tern::it {
namespace {

constexpr std::uint32_t kLongExpiry = 3600;
constexpr const char* kConnected = "bridge cloud: connected to";
constexpr const char* kLost = "; queueing locally";  // connection lost / disconnected by
constexpr Millis kConnectWait{10000};
constexpr Millis kGap{5000};  // between two messages of a drain

// ---------------------------------------------------------------- config

// One bridge named "cloud" towards `remote`, with storage under the broker's temp dir.
struct BridgeSpec {
  std::string remote;
  std::string protocol = "5.0";
  // Short bounds so an outage in a test ends within a second of the remote's return.
  std::string reconnect = "{ min: 100ms, max: 1s, jitter: false }";
  std::string extra;                // more keys of the bridge, lines indented by 4 spaces
  std::vector<std::string> topics;  // rules as YAML flow mappings
  bool storage = true;
};

std::string tern_yaml(const BridgeSpec& b) {
  std::string y;
  if (b.storage) y += "storage:\n  path: @DIR@/data\n";
  y += "bridges:\n"
       "  - name: cloud\n"
       "    remote: \"" + b.remote + "\"\n"
       "    protocol: \"" + b.protocol + "\"\n"
       "    client_id: tern-it-bridge\n"
       "    reconnect: " + b.reconnect + "\n" + b.extra + "    topics:\n";
  for (const auto& t : b.topics) y += "      - " + t + "\n";
  return y;
}

// ---------------------------------------------------------------- logs

std::size_t count_of(const std::string& text, const std::string& needle, std::size_t from = 0) {
  std::size_t n = 0;
  for (auto at = text.find(needle, from); at != std::string::npos;
       at = text.find(needle, at + needle.size()))
    ++n;
  return n;
}

// Waits until `needle` occurs at least `count` times in the log after byte `from`.
bool wait_log(const TernBroker& b, const std::string& needle, std::size_t count, Millis timeout,
              std::size_t from = 0) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (count_of(b.log(), needle, from) < count) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    sleep_for(Millis(20));
  }
  return true;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return s;
}

// The bridge's log lines (those that name bridge "cloud").
std::string bridge_lines(const std::string& log) {
  std::istringstream in(log);
  std::string line, out;
  while (std::getline(in, line))
    if (line.find("bridge cloud") != std::string::npos) out += line + "\n";
  return out;
}

// ---------------------------------------------------------------- clients

struct Got {
  std::string topic;
  std::string payload;
  int qos = 0;
};

// Up to `n` PUBLISHes (acknowledged), stopping when none arrives within `gap`.
std::vector<Got> collect(RawClient& c, std::size_t n, Millis gap) {
  std::vector<Got> out;
  while (out.size() < n) {
    auto p = c.recv_publish(gap);
    if (!p) break;
    out.push_back({p->topic, p->payload, p->qos});
  }
  return out;
}

std::string describe(const std::vector<Got>& got, std::size_t max = 20) {
  std::ostringstream o;
  for (std::size_t i = 0; i < got.size() && i < max; ++i)
    o << "  " << got[i].topic << " '" << got[i].payload.substr(0, 24) << "' q" << got[i].qos
      << "\n";
  if (got.size() > max) o << "  ... (" << got.size() << " in all)\n";
  return o.str();
}

// For failure messages: which of stream numbers 0..count-1 are missing or came twice.
std::string stream_gaps(const std::vector<Got>& got, int count) {
  std::map<int, int> seen;
  for (const auto& g : got) ++seen[stream_number(g.payload)];
  std::ostringstream o;
  for (int i = 0; i < count; ++i) {
    if (seen[i] != 1) o << i << "(x" << seen[i] << ") ";
  }
  return o.str();
}

// Publishes stream messages first..first+count-1 on `topic` to tern, QoS 1 with a window
// of 16, REQUIREing every PUBACK to be a success.
void publish_stream(std::uint16_t port, const std::string& topic, int first, int count,
                    std::uint8_t qos = 1) {
  RawClient c(port, ProtocolVersion::v5);
  REQUIRE(c.connect("it-bridge-local-pub").reason_code == 0);
  StreamSpec spec;
  spec.topic = topic;
  spec.first = first;
  spec.count = count;
  spec.qos = qos;
  spec.window = 16;
  StreamPublisher pub(c, spec);
  pub.run(Millis(60000));
  c.disconnect();
}

// A persistent v5 session at the cloud subscribed to `filter`, left offline: the cloud
// (with persistence) keeps it across its own restart and queues for it.
void park_cloud_subscriber(std::uint16_t port, const std::string& id, const std::string& filter,
                           std::uint8_t qos = 1) {
  RawClient sub(port, ProtocolVersion::v5);
  REQUIRE(sub.connect(id, /*clean_start=*/false, kLongExpiry).reason_code == 0);
  REQUIRE(sub.subscribe(filter, qos).reason_codes[0] == qos);
  sub.disconnect();
}

// Takes the uplink down: stops the cloud and waits until the bridge noticed.
void outage_begins(MosquittoBroker& cloud, const TernBroker& tern, std::size_t losses_so_far) {
  cloud.stop();
  REQUIRE(wait_log(tern, kLost, losses_so_far + 1, kConnectWait));
}

// Publishes `payload` at the cloud on `remote_topic` until a local subscriber sees it on
// `local_topic` (the bridge's upstream subscription is acknowledged asynchronously after
// its connect), then takes whatever further copies arrive within 300 ms.
void wait_inbound_ready(RawClient& cloud_pub, RawClient& local_sub, const std::string& remote_topic,
                        const std::string& local_topic) {
  const auto deadline = std::chrono::steady_clock::now() + kConnectWait;
  bool seen = false;
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    cloud_pub.publish(remote_topic, "probe", 1);
    auto p = local_sub.recv_publish(Millis(300));
    seen = p && p->topic == local_topic;
  }
  REQUIRE(seen);
  while (local_sub.recv_publish(Millis(300))) {
  }
}

// ---------------------------------------------------------------------------------------
// 1. Out

TEST_CASE("Bridge out: local QoS 1 publishes on out rules reach the cloud remapped "
          "(remote_prefix, local_prefix swap), at QoS 1, in order, others stay local") {
  if (TernBroker::reference_mode()) return;
  const std::string protocol = GENERATE("5.0", "3.1.1");
  INFO("upstream MQTT " << protocol);
  MosquittoBroker cloud;
  RawClient remote(cloud.port(), ProtocolVersion::v5);
  REQUIRE(remote.connect("it-cloud-sub").reason_code == 0);
  REQUIRE(remote.subscribe("#", 2).reason_codes[0] == 2);  // QoS 2: we see what came up

  BridgeSpec spec;
  spec.remote = cloud.bridge_uri();
  spec.protocol = protocol;
  spec.topics = {
      R"({ pattern: "sensors/#", direction: out, qos: 1, remote_prefix: "gw/" })",
      R"({ pattern: "meters/+", direction: out, qos: 1, local_prefix: "plant/", remote_prefix: "gw/m/" })"};
  TernBroker tern({tern_yaml(spec), {}});
  REQUIRE(wait_log(tern, kConnected, 1, kConnectWait));

  constexpr int kCount = 300;
  publish_stream(tern.port(), "sensors/temp", 0, kCount);
  {
    RawClient pub(tern.port(), ProtocolVersion::v5);
    REQUIRE(pub.connect("it-bridge-other-pub").reason_code == 0);
    pub.publish("plant/meters/m1", "meter", 1);
    pub.publish("plant/other/x", "not a rule", 1);  // matches no rule
    pub.publish("other/sensors/x", "not a rule", 1);
    pub.publish("plant/meters/m1/deep", "not a rule", 1);  // '+' is one level
    pub.disconnect();
  }

  const auto d = drain_stream(remote, "gw/sensors/temp", 0, kCount, kGap);
  CHECK(d.error.empty());
  INFO(d.error);
  const auto rest = collect(remote, 10, Millis(1500));
  INFO("after the stream:\n" << describe(rest));
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].topic == "gw/m/meters/m1");  // plant/ + X  ->  gw/m/ + X
  CHECK(rest[0].payload == "meter");
  CHECK(rest[0].qos == 1);
}

TEST_CASE("Bridge out: every message goes up at the lowest of its own and the rule's QoS") {
  if (TernBroker::reference_mode()) return;
  MosquittoBroker cloud;
  RawClient remote(cloud.port(), ProtocolVersion::v5);
  REQUIRE(remote.connect("it-cloud-sub").reason_code == 0);
  REQUIRE(remote.subscribe("gw/#", 2).reason_codes[0] == 2);
  BridgeSpec spec;
  spec.remote = cloud.bridge_uri();
  spec.topics = {R"({ pattern: "q1/#", direction: out, qos: 1, remote_prefix: "gw/" })",
                 R"({ pattern: "q2/#", direction: out, qos: 2, remote_prefix: "gw/" })"};
  TernBroker tern({tern_yaml(spec), {}});
  REQUIRE(wait_log(tern, kConnected, 1, kConnectWait));
  RawClient pub(tern.port(), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-bridge-qos-pub").reason_code == 0);
  pub.publish("q1/a", "2 capped by rule 1", 2);
  pub.publish("q2/a", "0 stays 0", 0);
  pub.publish("q2/b", "1 stays 1", 1);
  pub.publish("q2/c", "2 stays 2", 2);
  auto got = collect(remote, 4, kGap);
  INFO(describe(got));
  REQUIRE(got.size() == 4);
  std::map<std::string, int> qos;
  for (const auto& g : got) qos[g.topic] = g.qos;
  CHECK(qos["gw/q1/a"] == 1);
  CHECK(qos["gw/q2/a"] == 0);
  CHECK(qos["gw/q2/b"] == 1);
  CHECK(qos["gw/q2/c"] == 2);
  CHECK(remote.no_publish_for(Millis(500)));
}

TEST_CASE("Bridge out: QoS 2 end to end, exactly once and in order") {
  if (TernBroker::reference_mode()) return;
  const std::string protocol = GENERATE("5.0", "3.1.1");
  INFO("upstream MQTT " << protocol);
  MosquittoBroker cloud;
  RawClient remote(cloud.port(), ProtocolVersion::v5);
  REQUIRE(remote.connect("it-cloud-sub").reason_code == 0);
  REQUIRE(remote.subscribe("gw/#", 2).reason_codes[0] == 2);
  BridgeSpec spec;
  spec.remote = cloud.bridge_uri();
  spec.protocol = protocol;
  spec.topics = {R"({ pattern: "sensors/#", direction: out, qos: 2, remote_prefix: "gw/" })"};
  // MQTT 3.1.1 has no Receive Maximum: the window must be configured to the remote's
  // limit. mosquitto takes 20 incoming QoS 2 flows (max_inflight_messages) and silently
  // discards a QoS 2 PUBLISH beyond them (its 3.1.1 PUBREC cannot carry 0x97).
  if (protocol == "3.1.1") spec.extra = "    drain: { max_inflight: 20 }\n";
  TernBroker tern({tern_yaml(spec), {}});
  REQUIRE(wait_log(tern, kConnected, 1, kConnectWait));

  constexpr int kCount = 200;
  publish_stream(tern.port(), "sensors/q2", 0, kCount, /*qos=*/2);
  std::vector<Got> got = collect(remote, kCount + 10, Millis(3000));
  INFO("missing or repeated: " << stream_gaps(got, kCount));
  REQUIRE(got.size() == std::size_t(kCount));  // none missing, no duplicate
  for (int i = 0; i < kCount; ++i) {
    INFO("message " << i);
    CHECK(got[std::size_t(i)].topic == "gw/sensors/q2");
    CHECK(stream_number(got[std::size_t(i)].payload) == i);
    CHECK(got[std::size_t(i)].qos == 2);
  }
}

// ---------------------------------------------------------------------------------------
// 2. In, both, no loops

TEST_CASE("Bridge in and both: cloud messages arrive locally remapped and are never sent "
          "back up, and local messages on a both rule are never echoed back down",
          "[slow]") {
  if (TernBroker::reference_mode()) return;
  const std::string protocol = GENERATE("5.0", "3.1.1");
  INFO("upstream MQTT " << protocol);
  MosquittoBroker cloud;
  BridgeSpec spec;
  spec.remote = cloud.bridge_uri();
  spec.protocol = protocol;
  spec.topics = {
      // cloud gw/commands/X -> local cloud/commands/X
      R"({ pattern: "commands/#", direction: in, qos: 1, local_prefix: "cloud/", remote_prefix: "gw/" })",
      // local cloud/X -> cloud up/X: would carry every inbound command straight back up
      // if the bridge re-forwarded its own local publishes.
      R"({ pattern: "#", direction: out, qos: 1, local_prefix: "cloud/", remote_prefix: "up/" })",
      // local shared/X <-> cloud fleet/shared/X
      R"({ pattern: "shared/#", direction: both, qos: 1, remote_prefix: "fleet/" })"};
  TernBroker tern({tern_yaml(spec), {}});
  REQUIRE(wait_log(tern, kConnected, 1, kConnectWait));

  RawClient watcher(cloud.port(), ProtocolVersion::v5);  // sees everything at the cloud
  REQUIRE(watcher.connect("it-cloud-watch").reason_code == 0);
  REQUIRE(watcher.subscribe("#", 1).reason_codes[0] == 1);
  RawClient cloud_pub(cloud.port(), ProtocolVersion::v5);
  REQUIRE(cloud_pub.connect("it-cloud-pub").reason_code == 0);
  RawClient local(tern.port(), ProtocolVersion::v5);
  REQUIRE(local.connect("it-local-sub").reason_code == 0);
  REQUIRE(local.subscribe("cloud/#", 1).reason_codes[0] == 1);
  REQUIRE(local.subscribe("shared/#", 1).reason_codes[0] == 1);
  RawClient local_pub(tern.port(), ProtocolVersion::v5);
  REQUIRE(local_pub.connect("it-local-pub").reason_code == 0);

  wait_inbound_ready(cloud_pub, local, "gw/commands/probe", "cloud/commands/probe");
  wait_inbound_ready(cloud_pub, local, "fleet/shared/probe", "shared/probe");
  while (watcher.recv_publish(Millis(300))) {
  }

  SECTION("in") {
    cloud_pub.publish("gw/commands/reboot", "now", 1);
    auto p = local.recv_publish(kGap);
    REQUIRE(p);
    CHECK(p->topic == "cloud/commands/reboot");
    CHECK(p->payload == "now");
    CHECK(p->qos == 1);
    CHECK(local.no_publish_for(Millis(800)));
    // At the cloud: the original once, and no "up/commands/reboot" (no loop).
    const auto seen = collect(watcher, 5, Millis(1500));
    INFO("at the cloud:\n" << describe(seen));
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].topic == "gw/commands/reboot");
    // The out rule itself works, so the absence above means something.
    local_pub.publish("cloud/status", "up", 1);
    p = watcher.recv_publish(kGap);
    REQUIRE(p);
    CHECK(p->topic == "up/status");
    CHECK(watcher.no_publish_for(Millis(500)));
    p = local.recv_publish(Millis(2000));  // the local subscriber's own copy, once
    REQUIRE(p);
    CHECK(p->topic == "cloud/status");
    CHECK(local.no_publish_for(Millis(500)));
  }
  SECTION("both, from the cloud") {
    cloud_pub.publish("fleet/shared/a", "from cloud", 1);
    auto p = local.recv_publish(kGap);
    REQUIRE(p);
    CHECK(p->topic == "shared/a");
    CHECK(p->payload == "from cloud");
    CHECK(local.no_publish_for(Millis(800)));
    const auto seen = collect(watcher, 5, Millis(1500));
    INFO("at the cloud:\n" << describe(seen));
    REQUIRE(seen.size() == 1);  // not sent back up by the bridge
    CHECK(seen[0].topic == "fleet/shared/a");
  }
  SECTION("both, from local") {
    local_pub.publish("shared/b", "from gateway", 1);
    auto p = watcher.recv_publish(kGap);
    REQUIRE(p);
    CHECK(p->topic == "fleet/shared/b");
    CHECK(p->payload == "from gateway");
    CHECK(watcher.no_publish_for(Millis(800)));
    const auto seen = collect(local, 5, Millis(1500));
    INFO("at the local subscriber:\n" << describe(seen));
    REQUIRE(seen.size() == 1);  // its own copy, not a second one echoed down by the bridge
    CHECK(seen[0].topic == "shared/b");
  }
}

// ---------------------------------------------------------------------------------------
// 3, 4. Store-and-forward across an outage, and across kill -9 of tern during it

TEST_CASE("Bridge store-and-forward: 10000 QoS 1 messages published during a cloud outage "
          "(all PUBACKed) all reach the cloud after it returns, in order, none lost") {
  if (TernBroker::reference_mode()) return;
  MosquittoBroker cloud({.persistence = true});
  park_cloud_subscriber(cloud.port(), "it-cloud-sub", "gw/#");
  BridgeSpec spec;
  spec.remote = cloud.bridge_uri();
  spec.topics = {R"({ pattern: "sensors/#", direction: out, qos: 1, remote_prefix: "gw/" })"};
  TernBroker tern({tern_yaml(spec), {}});
  REQUIRE(wait_log(tern, kConnected, 1, kConnectWait));

  outage_begins(cloud, tern, 0);
  constexpr int kCount = 10000;
  publish_stream(tern.port(), "sensors/t", 0, kCount);
  CHECK(wait_log(tern, "bridge cloud: queueing while the uplink is down", 1, Millis(3000)));

  cloud.start();
  REQUIRE(wait_log(tern, kConnected, 2, kConnectWait));
  RawClient sub(cloud.port(), ProtocolVersion::v5);
  REQUIRE(sub.connect("it-cloud-sub", false, kLongExpiry).session_present);
  const auto d = drain_stream(sub, "gw/sensors/t", 0, kCount, kGap, /*dup_allowed=*/kCount);
  INFO(d.error);
  CHECK(d.error.empty());
  CHECK(d.received == kCount);
  CHECK(sub.no_publish_for(Millis(1000)));  // and nothing twice
  CHECK(wait_log(tern, "bridge cloud: backlog drained", 1, Millis(3000)));
}

TEST_CASE("Bridge store-and-forward: the queue survives kill -9 of tern while the uplink is "
          "down: after the restart and the cloud's return all 5000 arrive in order") {
  if (TernBroker::reference_mode()) return;
  MosquittoBroker cloud({.persistence = true});
  park_cloud_subscriber(cloud.port(), "it-cloud-sub", "gw/#");
  BridgeSpec spec;
  spec.remote = cloud.bridge_uri();
  spec.topics = {R"({ pattern: "sensors/#", direction: out, qos: 1, remote_prefix: "gw/" })"};
  TernBroker tern({tern_yaml(spec), {}});
  REQUIRE(wait_log(tern, kConnected, 1, kConnectWait));

  outage_begins(cloud, tern, 0);
  constexpr int kCount = 5000;
  publish_stream(tern.port(), "sensors/t", 0, kCount);
  CHECK(tern.kill9() == 128 + 9);  // right after the last PUBACK
  const std::size_t offset = tern.log().size();
  tern.restart();
  // The restarted bridge tries the (still absent) cloud: it came up and is queueing.
  CHECK(wait_log(tern, "bridge cloud: cannot connect", 1, kConnectWait, offset));

  cloud.start();
  REQUIRE(wait_log(tern, kConnected, 1, kConnectWait, offset));
  RawClient sub(cloud.port(), ProtocolVersion::v5);
  REQUIRE(sub.connect("it-cloud-sub", false, kLongExpiry).session_present);
  const auto d = drain_stream(sub, "gw/sensors/t", 0, kCount, kGap, /*dup_allowed=*/kCount);
  INFO(d.error);
  CHECK(d.error.empty());
  CHECK(sub.no_publish_for(Millis(1000)));
}

TEST_CASE("Bridge store-and-forward: messages published before the cloud was ever reachable "
          "are queued from tern's start and delivered once it comes up") {
  if (TernBroker::reference_mode()) return;
  MosquittoBroker cloud({.persistence = true});
  park_cloud_subscriber(cloud.port(), "it-cloud-sub", "gw/#");
  cloud.stop();
  BridgeSpec spec;
  spec.remote = cloud.bridge_uri();
  spec.topics = {R"({ pattern: "sensors/#", direction: out, qos: 1, remote_prefix: "gw/" })"};
  TernBroker tern({tern_yaml(spec), {}});
  REQUIRE(wait_log(tern, "bridge cloud: cannot connect", 1, kConnectWait));
  constexpr int kCount = 200;
  publish_stream(tern.port(), "sensors/early", 0, kCount);
  cloud.start();
  REQUIRE(wait_log(tern, kConnected, 1, kConnectWait));
  RawClient sub(cloud.port(), ProtocolVersion::v5);
  REQUIRE(sub.connect("it-cloud-sub", false, kLongExpiry).session_present);
  const auto d = drain_stream(sub, "gw/sensors/early", 0, kCount, kGap, kCount);
  INFO(d.error);
  CHECK(d.error.empty());
  CHECK(sub.no_publish_for(Millis(800)));
}

// ---------------------------------------------------------------------------------------
// 5. Overflow

TEST_CASE("Bridge overflow: queue.max_messages 100 during an outage: drop_oldest keeps the "
          "newest 100, drop_newest the oldest 100, reject answers v5 publishers 0x97") {
  if (TernBroker::reference_mode()) return;
  const std::string policy = GENERATE("drop_oldest", "drop_newest", "reject");
  INFO("overflow " << policy);
  MosquittoBroker cloud({.persistence = true});
  park_cloud_subscriber(cloud.port(), "it-cloud-sub", "gw/#");
  BridgeSpec spec;
  spec.remote = cloud.bridge_uri();
  spec.extra = "    queue: { max_messages: 100, overflow: " + policy + " }\n";
  spec.topics = {R"({ pattern: "sensors/#", direction: out, qos: 1, remote_prefix: "gw/" })"};
  TernBroker tern({tern_yaml(spec), {}});
  REQUIRE(wait_log(tern, kConnected, 1, kConnectWait));
  RawClient local_sub(tern.port(), ProtocolVersion::v5);  // an ordinary local subscriber
  REQUIRE(local_sub.connect("it-local-sub").reason_code == 0);
  REQUIRE(local_sub.subscribe("sensors/#", 1).reason_codes[0] == 1);

  outage_begins(cloud, tern, 0);
  constexpr int kCount = 300;
  int first_expected = 0;
  if (policy != "reject") {
    publish_stream(tern.port(), "sensors/o", 0, kCount);
    first_expected = policy == "drop_oldest" ? kCount - 100 : 0;
  } else {
    RawClient pub(tern.port(), ProtocolVersion::v5);
    REQUIRE(pub.connect("it-bridge-v5-pub").reason_code == 0);
    for (int i = 0; i < 110; ++i) {
      codec::Publish p;
      p.topic = "sensors/o";
      p.payload = stream_payload(i);
      p.qos = 1;
      p.packet_id = pub.next_packet_id();
      pub.send(p);
      const auto ack = pub.expect<codec::Puback>();
      INFO("message " << i);
      REQUIRE(ack.packet_id == p.packet_id);
      // [MQTT-3.4.2.1] 0x97 Quota exceeded once the bridge's class is full; success before.
      if (i < 100) {
        REQUIRE(ack.reason_code == 0x00);
      } else {
        REQUIRE(ack.reason_code == 0x97);
      }
    }
    // A 3.1.1 publisher has no reason codes: a normal PUBACK, the message not taken.
    RawClient old(tern.port(), ProtocolVersion::v311);
    REQUIRE(old.connect("it-bridge-v311-pub").reason_code == 0);
    old.publish("sensors/o", stream_payload(999), 1);
    // Other local subscribers still got every message, refused ones included.
    const auto d = drain_stream(local_sub, "sensors/o", 0, 110, kGap);
    INFO(d.error);
    CHECK(d.error.empty());
  }
  CHECK(wait_log(tern, "bridge cloud: drops:", 1, Millis(3000)));

  cloud.start();
  REQUIRE(wait_log(tern, kConnected, 2, kConnectWait));
  RawClient sub(cloud.port(), ProtocolVersion::v5);
  REQUIRE(sub.connect("it-cloud-sub", false, kLongExpiry).session_present);
  const auto d = drain_stream(sub, "gw/sensors/o", first_expected, 100, kGap, 100);
  INFO(d.error);
  CHECK(d.error.empty());
  const auto extra = collect(sub, 10, Millis(1000));
  INFO("beyond the 100:\n" << describe(extra));
  CHECK(extra.empty());
}

// ---------------------------------------------------------------------------------------
// 6. Priority

TEST_CASE("Bridge priority: after an outage every queued alarm (high) reaches the cloud "
          "before any queued telemetry (normal), each class in its own order") {
  if (TernBroker::reference_mode()) return;
  MosquittoBroker cloud({.persistence = true});
  park_cloud_subscriber(cloud.port(), "it-cloud-sub", "gw/#");
  BridgeSpec spec;
  spec.remote = cloud.bridge_uri();
  // A window smaller than the alarm backlog: priority must hold across many round trips.
  spec.extra = "    drain: { max_inflight: 16 }\n";
  spec.topics = {
      R"({ pattern: "alarms/#", direction: out, qos: 1, priority: high, remote_prefix: "gw/" })",
      R"({ pattern: "telemetry/#", direction: out, qos: 1, remote_prefix: "gw/" })"};
  TernBroker tern({tern_yaml(spec), {}});
  REQUIRE(wait_log(tern, kConnected, 1, kConnectWait));

  outage_begins(cloud, tern, 0);
  constexpr int kTelemetry = 500;
  constexpr int kAlarms = 100;
  {
    RawClient pub(tern.port(), ProtocolVersion::v5);
    REQUIRE(pub.connect("it-bridge-prio-pub").reason_code == 0);
    for (int i = 0, a = 0; i < kTelemetry; ++i) {
      pub.publish("telemetry/t", stream_payload(i), 1);
      if (i % 5 == 4) pub.publish("alarms/a", stream_payload(a++), 1);
    }
    pub.disconnect();
  }

  cloud.start();
  REQUIRE(wait_log(tern, kConnected, 2, kConnectWait));
  RawClient sub(cloud.port(), ProtocolVersion::v5);
  REQUIRE(sub.connect("it-cloud-sub", false, kLongExpiry).session_present);
  const auto got = collect(sub, kTelemetry + kAlarms + 10, kGap);
  std::vector<int> alarms, telemetry;
  std::size_t last_alarm = 0, first_telemetry = got.size();
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (got[i].topic == "gw/alarms/a") {
      alarms.push_back(stream_number(got[i].payload));
      last_alarm = i;
    } else if (got[i].topic == "gw/telemetry/t") {
      telemetry.push_back(stream_number(got[i].payload));
      first_telemetry = std::min(first_telemetry, i);
    } else {
      FAIL_CHECK("unexpected topic " << got[i].topic);
    }
  }
  std::vector<int> want_alarms(kAlarms), want_telemetry(kTelemetry);
  for (int i = 0; i < kAlarms; ++i) want_alarms[std::size_t(i)] = i;
  for (int i = 0; i < kTelemetry; ++i) want_telemetry[std::size_t(i)] = i;
  CHECK(alarms == want_alarms);        // all, in order, once
  CHECK(telemetry == want_telemetry);  // all, in order, once
  INFO("first telemetry at position " << first_telemetry << ", last alarm at " << last_alarm
                                      << "; first 40 received:\n"
                                      << describe(got, 40));
  CHECK(last_alarm < first_telemetry);
}

// ---------------------------------------------------------------------------------------
// 7. QoS 0 while offline

TEST_CASE("Bridge QoS 0 while the uplink is down: queue_qos0 false drops them (counted), "
          "true queues them in order with the rest") {
  if (TernBroker::reference_mode()) return;
  const bool queue_qos0 = GENERATE(false, true);
  INFO("queue_qos0 " << queue_qos0);
  // The cloud must keep QoS 0 for its offline subscriber too, or it would be the one
  // dropping them.
  MosquittoBroker cloud({.persistence = true, .extra = "queue_qos0_messages true"});
  park_cloud_subscriber(cloud.port(), "it-cloud-sub", "gw/#");
  BridgeSpec spec;
  spec.remote = cloud.bridge_uri();
  spec.extra = std::string("    queue: { queue_qos0: ") + (queue_qos0 ? "true" : "false") + " }\n";
  spec.topics = {R"({ pattern: "sensors/#", direction: out, qos: 1, remote_prefix: "gw/" })"};
  TernBroker tern({tern_yaml(spec), {}});
  REQUIRE(wait_log(tern, kConnected, 1, kConnectWait));

  // Connected: QoS 0 goes up as it comes.
  {
    RawClient pub(tern.port(), ProtocolVersion::v5);
    REQUIRE(pub.connect("it-bridge-q0-pub").reason_code == 0);
    pub.publish("sensors/live", "live q0", 0);
    pub.disconnect();
  }
  {
    RawClient sub(cloud.port(), ProtocolVersion::v5);
    REQUIRE(sub.connect("it-cloud-sub", false, kLongExpiry).session_present);
    auto p = sub.recv_publish(kGap);
    REQUIRE(p);
    CHECK(p->topic == "gw/sensors/live");
    sub.disconnect();
  }

  outage_begins(cloud, tern, 0);
  constexpr int kCount = 20;
  {
    RawClient pub(tern.port(), ProtocolVersion::v5);
    REQUIRE(pub.connect("it-bridge-q0-pub").reason_code == 0);
    for (int i = 0; i < kCount; ++i) pub.publish("sensors/q0", stream_payload(i), 0);
    pub.publish("sensors/marker", "end", 1);  // a QoS 1 message after them
    pub.disconnect();
  }
  cloud.start();
  REQUIRE(wait_log(tern, kConnected, 2, kConnectWait));
  RawClient sub(cloud.port(), ProtocolVersion::v5);
  REQUIRE(sub.connect("it-cloud-sub", false, kLongExpiry).session_present);
  const auto got = collect(sub, kCount + 5, Millis(2000));
  INFO("received:\n" << describe(got, 30));
  REQUIRE_FALSE(got.empty());
  CHECK(got.back().topic == "gw/sensors/marker");
  if (queue_qos0) {
    REQUIRE(got.size() == std::size_t(kCount) + 1);
    for (int i = 0; i < kCount; ++i) {
      CHECK(got[std::size_t(i)].topic == "gw/sensors/q0");
      CHECK(stream_number(got[std::size_t(i)].payload) == i);
      CHECK(got[std::size_t(i)].qos == 0);
    }
  } else {
    CHECK(got.size() == 1);
    // Counted in the drop totals (logged at most every 10 s, so maybe mid-burst: > 0).
    REQUIRE(wait_log(tern, "bridge cloud: drops:", 1, Millis(3000)));
    CHECK(count_of(tern.log(), ", 0 qos0") == 0);
  }
}

// ---------------------------------------------------------------------------------------
// 8. Reconnect

TEST_CASE("Bridge reconnect: after the cloud restarts the bridge is back within "
          "reconnect.max, resubscribes its in rules on the new session and forwards again") {
  if (TernBroker::reference_mode()) return;
  MosquittoBroker cloud;  // no persistence: the bridge's session at the cloud is lost
  BridgeSpec spec;
  spec.remote = cloud.bridge_uri();
  spec.reconnect = "{ min: 200ms, max: 2s, jitter: true }";
  spec.topics = {
      R"({ pattern: "commands/#", direction: in, qos: 1, local_prefix: "cloud/", remote_prefix: "gw/" })",
      R"({ pattern: "sensors/#", direction: out, qos: 1, remote_prefix: "gw/" })"};
  TernBroker tern({tern_yaml(spec), {}});
  REQUIRE(wait_log(tern, kConnected, 1, kConnectWait));
  RawClient local(tern.port(), ProtocolVersion::v5);
  REQUIRE(local.connect("it-local-sub").reason_code == 0);
  REQUIRE(local.subscribe("cloud/#", 1).reason_codes[0] == 1);
  {
    RawClient cloud_pub(cloud.port(), ProtocolVersion::v5);
    REQUIRE(cloud_pub.connect("it-cloud-pub").reason_code == 0);
    wait_inbound_ready(cloud_pub, local, "gw/commands/probe", "cloud/commands/probe");
  }

  outage_begins(cloud, tern, 0);
  sleep_for(Millis(4000));  // long enough for the backoff to reach its maximum
  cloud.start();
  Stopwatch back;
  REQUIRE(wait_log(tern, kConnected, 2, kConnectWait));
  // The longest wait is reconnect.max (2 s); allow for a loaded machine.
  CHECK(back.elapsed() < Millis(2000 + 1500));

  RawClient cloud_pub(cloud.port(), ProtocolVersion::v5);
  REQUIRE(cloud_pub.connect("it-cloud-pub").reason_code == 0);
  // Fresh session at the cloud: only a new SUBSCRIBE makes this reach tern.
  wait_inbound_ready(cloud_pub, local, "gw/commands/probe2", "cloud/commands/probe2");
  cloud_pub.publish("gw/commands/reboot", "again", 1);
  auto p = local.recv_publish(kGap);
  REQUIRE(p);
  CHECK(p->topic == "cloud/commands/reboot");
  CHECK(p->payload == "again");

  RawClient remote(cloud.port(), ProtocolVersion::v5);
  REQUIRE(remote.connect("it-cloud-sub").reason_code == 0);
  REQUIRE(remote.subscribe("gw/sensors/#", 1).reason_codes[0] == 1);
  RawClient pub(tern.port(), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-local-pub").reason_code == 0);
  pub.publish("sensors/after", "up again", 1);
  p = remote.recv_publish(kGap);
  REQUIRE(p);
  CHECK(p->topic == "gw/sensors/after");
}

// ---------------------------------------------------------------------------------------
// 9. TLS to the remote

TEST_CASE("Bridge TLS: to a mosquitto TLS listener with generated certificates, the right CA "
          "connects, a wrong CA does not (and the log says why), verify false connects") {
  if (TernBroker::reference_mode()) return;
  // Generated first: the case's file names must come from this run's PKI.
  const int which = GENERATE(0, 1, 2);
  const std::string pki_dir = make_temp_dir("tern-it-pki");
  const TestPki pki = make_test_pki(pki_dir);
  MosquittoBroker cloud(
      {.tls = std::make_pair(pki.server_cert, pki.server_key), .plain_listener_too = true});
  REQUIRE(cloud.bridge_uri().rfind("mqtts://127.0.0.1:", 0) == 0);

  struct Case {
    const char* name;
    std::string tls;
    bool connects;
  };
  const Case cases[] = {
      {"ca = the signing CA", "{ ca: " + pki.ca_cert + " }", true},
      {"ca = an unrelated CA", "{ ca: " + pki.other_ca_cert + " }", false},
      {"ca = an unrelated CA, verify false", "{ ca: " + pki.other_ca_cert + ", verify: false }",
       true}};
  const Case& c = cases[which];
  INFO(c.name);
  BridgeSpec spec;
  spec.remote = cloud.bridge_uri();
  spec.extra = "    tls: " + c.tls + "\n";
  spec.topics = {R"({ pattern: "sensors/#", direction: out, qos: 1, remote_prefix: "gw/" })"};
  RawClient remote(cloud.plain_port(), ProtocolVersion::v5);
  REQUIRE(remote.connect("it-cloud-sub").reason_code == 0);
  REQUIRE(remote.subscribe("gw/#", 1).reason_codes[0] == 1);
  TernBroker tern({tern_yaml(spec), {}});

  if (c.connects) {
    REQUIRE(wait_log(tern, kConnected, 1, kConnectWait));
    RawClient pub(tern.port(), ProtocolVersion::v5);
    REQUIRE(pub.connect("it-local-pub").reason_code == 0);
    pub.publish("sensors/tls", "over tls", 1);
    auto p = remote.recv_publish(kGap);
    REQUIRE(p);
    CHECK(p->topic == "gw/sensors/tls");
    CHECK(p->payload == "over tls");
  } else {
    // A warning names the failure, then it keeps retrying without connecting.
    REQUIRE(wait_log(tern, "bridge cloud: cannot connect", 1, kConnectWait));
    sleep_for(Millis(2000));
    const std::string log = tern.log();
    CHECK(count_of(log, kConnected) == 0);
    const std::string lines = lower(bridge_lines(log));
    INFO("bridge log lines:\n" << lines);
    // OpenSSL's own words for an untrusted chain (X509_V_ERR via SSL_R_CERTIFICATE_VERIFY_FAILED).
    CHECK(lines.find("certificate verify failed") != std::string::npos);
    // And nothing got through.
    RawClient pub(tern.port(), ProtocolVersion::v5);
    REQUIRE(pub.connect("it-local-pub").reason_code == 0);
    pub.publish("sensors/tls", "must not pass", 1);
    CHECK(remote.no_publish_for(Millis(1000)));
  }
}

}  // namespace
}  // namespace tern::it
