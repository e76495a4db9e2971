// Bad input closes only the client that sent it: every other client keeps working, and
// the offender's will is published (the close was not a normal DISCONNECT).
#include <functional>
#include <vector>

#include "tests/integration/harness/common.hpp"

namespace tern::it {
namespace {

std::string str16(std::string_view s) {
  std::string out;
  out.push_back(static_cast<char>(s.size() >> 8));
  out.push_back(static_cast<char>(s.size() & 0xFF));
  out.append(s);
  return out;
}

std::string frame(std::uint8_t header, const std::string& body) {
  std::string out(1, static_cast<char>(header));
  codec::encode_varint(static_cast<std::uint32_t>(body.size()), out);
  return out + body;
}

// Empty v5 property block where the packet has one.
std::string props0(ProtocolVersion v) {
  return v == ProtocolVersion::v5 ? std::string(1, '\0') : std::string();
}

struct BadInput {
  const char* name;
  std::function<std::string(ProtocolVersion)> bytes;
  bool v5_only = false;
};

// Sent after a valid CONNECT/CONNACK.
std::vector<BadInput> after_connect_cases() {
  using V = ProtocolVersion;
  return {
      {"PUBLISH with QoS 3 [MQTT-3.3.1-4]",
       [](V v) { return frame(0x36, str16("it/bad") + std::string("\0\1", 2) + props0(v) + "x"); }},
      {"Remaining Length of 5 bytes (1.5.5 / 2.1.4)",
       [](V) { return std::string("\x30\xff\xff\xff\xff\x7f", 6); }},
      {"overlong UTF-8 in PUBLISH topic [MQTT-1.5.4-1]",
       [](V v) { return frame(0x30, str16("it/\xC0\xAF") + props0(v) + "x"); }},
      {"U+0000 in PUBLISH topic [MQTT-1.5.4-2]",
       [](V v) { return frame(0x30, str16(std::string("it/\0x", 5)) + props0(v) + "x"); }},
      {"empty PUBLISH topic without a topic alias [MQTT-4.7.3-1]",
       [](V v) { return frame(0x30, str16("") + props0(v) + "x"); }},
      {"wildcard in PUBLISH topic [MQTT-3.3.2-2]",
       [](V v) { return frame(0x30, str16("it/+") + props0(v) + "x"); }},
      {"QoS 0 PUBLISH with DUP=1 [MQTT-3.3.1-2]",
       [](V v) { return frame(0x38, str16("it/x") + props0(v) + "x"); }},
      {"QoS 1 PUBLISH with packet id 0 [MQTT-2.2.1-3]",
       [](V v) { return frame(0x32, str16("it/x") + std::string("\0\0", 2) + props0(v) + "x"); }},
      {"topic length beyond the packet (malformed)",
       [](V) { return std::string("\x30\x03\x00\x10\x61", 5); }},
      {"SUBSCRIBE with reserved flags 0000 [MQTT-3.8.1-1]",
       [](V v) { return frame(0x80, std::string("\0\1", 2) + props0(v) + str16("it/x") + '\0'); }},
      {"SUBSCRIBE without topic filter [MQTT-3.8.3-3]",
       [](V v) { return frame(0x82, std::string("\0\1", 2) + props0(v)); }},
      {"PUBREL with reserved flags 0000 [MQTT-3.6.1-1]",
       [](V) { return frame(0x60, std::string("\0\1", 2)); }},
      {"reserved packet type 0 (2.1.2)", [](V) { return std::string("\x00\x00", 2); }},
      {"second CONNECT [MQTT-3.1.0-2]",
       [](V v) {
         codec::Connect c;
         c.client_id = "again";
         std::string out;
         codec::encode(c, v, out);
         return out;
       }},
      {"PUBLISH with a property PUBLISH may not carry (Session Expiry) (2.2.2.2)",
       [](V) {
         return frame(0x30, str16("it/x") + std::string("\x05\x11\x00\x00\x00\x01", 6) + "x");
       },
       true},
      {"AUTH without an Authentication Method in CONNECT [MQTT-4.12.0-1]",
       [](V) { return std::string("\xF0\x00", 2); }, true},
  };
}

TEST_CASE("Malformed or forbidden packets close only the offending client, the others keep "
          "publishing and receiving, and the offender's will is published") {
  const auto v = GENERATE(ProtocolVersion::v311, ProtocolVersion::v5);
  INFO("offender " << version_name(v));
  TernBroker broker;
  PahoClient good(broker.uri(), "it-good", MQTTVERSION_5);
  good.connect();
  REQUIRE(good.subscribe("it/good", 1) == 1);
  REQUIRE(good.subscribe("it/bad/will/#", 1) == 1);

  int n = 0;
  for (const auto& bad : after_connect_cases()) {
    if (bad.v5_only && v != ProtocolVersion::v5) continue;
    ++n;
    INFO("case: " << bad.name);
    const std::string will_topic = "it/bad/will/" + std::to_string(n);
    RawClient offender(broker.port(), v);
    codec::Connect c;
    c.client_id = "it-bad-" + std::to_string(n);
    c.will = codec::Will{will_topic, "bad", 1, false, {}};
    REQUIRE(offender.connect(c).reason_code == 0);
    offender.send_bytes(bad.bytes(v));
    CHECK(offender.wait_closed(3s));  // [MQTT-4.8.0-1] 3.1.1 / [MQTT-4.13.1-1] 5.0
    INFO(offender.close_summary());
    if (auto d = offender.disconnect_seen()) {
      CHECK(v == ProtocolVersion::v5);  // 3.1.1 servers never send DISCONNECT
      CHECK(d->reason_code >= 0x80);
    }
    // The others are unaffected.
    good.publish("it/good", "alive " + std::to_string(n), 1);
    bool alive = false, will = false;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!(alive && will) && std::chrono::steady_clock::now() < deadline) {
      auto m = good.next(100ms);
      if (!m) continue;
      alive |= m->get_topic() == "it/good" && m->get_payload_str() == "alive " + std::to_string(n);
      will |= m->get_topic() == will_topic;
    }
    CHECK(alive);
    CHECK(will);  // closed for a protocol violation, not by DISCONNECT [MQTT-3.1.2-8]
  }
  CHECK(good.quiet_for(200ms));
}

TEST_CASE("Bad first packets: not CONNECT, CONNECT with the reserved flag, unknown protocol "
          "level: the connection is closed and others are unaffected") {
  TernBroker broker;
  PahoClient good(broker.uri(), "it-good", MQTTVERSION_3_1_1);
  good.connect();
  REQUIRE(good.subscribe("it/good", 1) == 1);

  struct Case {
    const char* name;
    std::string bytes;
  };
  const std::string connect_reserved =
      frame(0x10, str16("MQTT") + std::string("\x04\x03\x00\x3c", 4) + str16("x"));
  const std::string connect_level6 =
      frame(0x10, str16("MQTT") + std::string("\x06\x02\x00\x3c", 4) + str16("x"));
  const std::vector<Case> cases = {
      {"PUBLISH before CONNECT [MQTT-3.1.0-1]", frame(0x30, str16("it/x") + "x")},
      {"CONNECT with reserved flag bit 0 set [MQTT-3.1.2-3]", connect_reserved},
      {"CONNECT with protocol level 6 [MQTT-3.1.2-2]", connect_level6},
      {"protocol name 'MQTX' [MQTT-3.1.2-1]",
       frame(0x10, str16("MQTX") + std::string("\x04\x02\x00\x3c", 4) + str16("x"))},
      {"garbage", std::string("\xde\xad\xbe\xef\x01\x02\x03", 7)},
  };
  int n = 0;
  for (const auto& bad : cases) {
    INFO("case: " << bad.name);
    RawClient offender(broker.port(), ProtocolVersion::v311);
    offender.send_bytes(bad.bytes);
    CHECK(offender.wait_closed(3s));
    for (const auto& p : offender.packets_before_close()) {
      // Only a refusing CONNACK may come back: 3.1.1 code 0x01 for the protocol level
      // [MQTT-3.1.2-2]; never a success.
      const auto* ack = std::get_if<codec::Connack>(&p);
      CHECK(ack != nullptr);
      if (ack) CHECK(ack->reason_code != 0);
    }
    ++n;
    good.publish("it/good", "alive " + std::to_string(n), 1);
    auto m = good.next(5s);
    REQUIRE(m);
    CHECK(m->get_payload_str() == "alive " + std::to_string(n));
  }
}

TEST_CASE("Packet above max_packet_size (config 1KiB) closes that client, v5 gets 0x95") {
  if (TernBroker::reference_mode()) return;  // needs our config
  const auto v = GENERATE(ProtocolVersion::v311, ProtocolVersion::v5);
  INFO("offender " << version_name(v));
  TernBroker broker({"mqtt:\n  max_packet_size: 1KiB\n", {}});
  RawClient good(broker.port(), ProtocolVersion::v5);
  const auto ack = good.connect("it-size-good");
  REQUIRE(ack.reason_code == 0);
  CHECK(ack.props.maximum_packet_size == std::optional<std::uint32_t>(1024));  // 3.2.2.3.6
  REQUIRE(good.subscribe("it/size", 0).reason_codes[0] == 0);

  RawClient big(broker.port(), v);
  REQUIRE(big.connect("it-size-big").reason_code == 0);
  big.publish("it/size", std::string(900, 'a'), 0);  // fits
  auto p = good.recv_publish(3s);
  REQUIRE(p);
  CHECK(p->payload.size() == 900);
  codec::Publish huge;
  huge.topic = "it/size";
  huge.payload = std::string(2000, 'b');
  big.send(huge);
  REQUIRE(big.wait_closed(3s));
  if (v == ProtocolVersion::v5) {
    INFO(big.close_summary());
    const auto d = big.disconnect_seen();
    REQUIRE(d);
    CHECK(d->reason_code == 0x95);  // [MQTT-3.2.2-15] packet too large
  }
  CHECK(good.no_publish_for(300ms));  // the oversize message was not forwarded
  good.publish("it/size", "still here", 0);
  p = good.recv_publish(3s);
  REQUIRE(p);
  CHECK(p->payload == "still here");
}

}  // namespace
}  // namespace tern::it
