// One test per decoder rule, named after the spec rule it enforces. Each builds the smallest
// packet that breaks exactly that rule (the same packet with the rule respected decodes),
// and checks the reason code the spec gives.
#include "tests/unit/codec/codec_test_util.hpp"

using namespace tern::codec;
using namespace tern::codec::test;
using RC = ReasonCode;

namespace {

std::string b(int v) { return std::string(1, static_cast<char>(v)); }

// Property block: one-byte Property Length (tests stay under 128 bytes) + list.
std::string props(std::string_view list) {
  return b(static_cast<int>(list.size())) + std::string(list);
}

// CONNECT with the given level and flags, keep alive 60; `rest` follows the keep alive
// (v5: properties first).
std::string connect_pkt(int level, int flags, std::string_view rest) {
  return packet(0x10, str("MQTT") + b(level) + b(flags) + bytes({0x00, 0x3C}) + std::string(rest));
}
std::string connect5(int flags, std::string_view payload, std::string_view prop_list = "") {
  return connect_pkt(5, flags, props(prop_list) + std::string(payload));
}
std::string connect311(int flags, std::string_view payload) {
  return connect_pkt(4, flags, payload);
}

// v5 PUBLISH QoS 0 to "t" with the given property list.
std::string publish5(std::string_view prop_list, std::string_view topic = "t") {
  return packet(0x30, str(topic) + props(prop_list) + "x");
}

// v5 CONNACK (accepted) with the given property list.
std::string connack5(std::string_view prop_list) {
  return packet(0x20, bytes({0x00, 0x00}) + props(prop_list));
}

std::string subscribe5(std::string_view filter, int options) {
  return packet(0x82, bytes({0x00, 0x01}) + props("") + str(filter) + b(options));
}
std::string subscribe311(std::string_view filter, int options) {
  return packet(0x82, bytes({0x00, 0x01}) + str(filter) + b(options));
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Fixed header
// ---------------------------------------------------------------------------------------

TEST_CASE("[MQTT-2.2.2-1] [MQTT-2.2.2-2] reserved fixed header flags must hold their listed value") {
  for (ProtocolVersion v : {v311, v5}) {
    // Right flags decode...
    REQUIRE_DECODE_OK(dec(bytes({0x62, 0x02, 0x00, 0x01}), v));
    REQUIRE_DECODE_OK(dec(bytes({0xC0, 0x00}), v));
    // ...any other value is malformed.
    REQUIRE_DECODE_ERROR(dec(bytes({0x60, 0x02, 0x00, 0x01}), v), RC::MalformedPacket);  // PUBREL 0
    REQUIRE_DECODE_ERROR(dec(bytes({0x63, 0x02, 0x00, 0x01}), v), RC::MalformedPacket);
    REQUIRE_DECODE_ERROR(dec(subscribe311("a", 0).replace(0, 1, b(0x80)), v), RC::MalformedPacket);
    REQUIRE_DECODE_ERROR(dec(bytes({0xA0, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'}), v),
                         RC::MalformedPacket);  // UNSUBSCRIBE 0
    REQUIRE_DECODE_ERROR(dec(bytes({0x41, 0x02, 0x00, 0x01}), v), RC::MalformedPacket);  // PUBACK
    REQUIRE_DECODE_ERROR(dec(bytes({0xC8, 0x00}), v), RC::MalformedPacket);  // PINGREQ
    REQUIRE_DECODE_ERROR(dec(bytes({0xE2, 0x00}), v), RC::MalformedPacket);  // DISCONNECT
    REQUIRE_DECODE_ERROR(dec(bytes({0x11, 0x00}), v), RC::MalformedPacket);  // CONNECT
  }
  // Rejected from the first byte alone: no need to wait for the rest of the packet.
  REQUIRE_DECODE_ERROR(dec(bytes({0x41}), v5), RC::MalformedPacket);
}

TEST_CASE("[MQTT-2.1.2] packet type 0 is reserved and malformed") {
  REQUIRE_DECODE_ERROR(dec(bytes({0x00, 0x00}), v5), RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(bytes({0x00, 0x00}), v311), RC::MalformedPacket);
}

TEST_CASE("[MQTT-2.2.1] packet type 15 (AUTH) is reserved in 3.1.1") {
  REQUIRE_DECODE_OK(dec(bytes({0xF0, 0x00}), v5));
  REQUIRE_DECODE_ERROR(dec(bytes({0xF0, 0x00}), v311), RC::MalformedPacket);
}

TEST_CASE("[MQTT-1.5.5-1] remaining length longer than four bytes is malformed") {
  REQUIRE_DECODE_ERROR(dec(bytes({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}), v5), RC::MalformedPacket);
  // A partial remaining length is not an error yet.
  CHECK(dec(bytes({0x30, 0xFF, 0xFF, 0xFF}), v5).status == DecodeStatus::NeedMore);
  CHECK(dec(bytes({0x30}), v5).status == DecodeStatus::NeedMore);
}

TEST_CASE("[MQTT-1.5.5-1] non-minimal remaining length encoding is malformed") {
  // 0 encoded in two bytes; PINGREQ would otherwise be valid.
  REQUIRE_DECODE_ERROR(dec(bytes({0xC0, 0x80, 0x00}), v311), RC::MalformedPacket);
  // 2 encoded in three bytes for a PUBACK.
  REQUIRE_DECODE_ERROR(dec(bytes({0x40, 0x82, 0x80, 0x00, 0x00, 0x01}), v5), RC::MalformedPacket);
}

TEST_CASE("[MQTT-2.1.4] remaining length longer than the packet's fields is malformed") {
  REQUIRE_DECODE_ERROR(dec(bytes({0xC0, 0x01, 0x00}), v5), RC::MalformedPacket);  // PINGREQ
  REQUIRE_DECODE_ERROR(dec(bytes({0xD0, 0x01, 0x00}), v311), RC::MalformedPacket);  // PINGRESP
  REQUIRE_DECODE_ERROR(dec(bytes({0x40, 0x03, 0x00, 0x01, 0x00}), v311), RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(bytes({0xB0, 0x03, 0x00, 0x01, 0x00}), v311), RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(bytes({0xE0, 0x01, 0x00}), v311), RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(bytes({0x20, 0x03, 0x00, 0x00, 0x00}), v311), RC::MalformedPacket);
  // v5 CONNECT with a byte after the password.
  REQUIRE_DECODE_ERROR(dec(connect5(0x02, str("c") + "!"), v5), RC::MalformedPacket);
}

TEST_CASE("[MQTT-2.1.4] remaining length shorter than the packet's fields is malformed") {
  // Topic length 5 but only one byte left in the packet.
  REQUIRE_DECODE_ERROR(dec(bytes({0x30, 0x03, 0x00, 0x05, 'a'}), v5), RC::MalformedPacket);
  // PUBACK with a one-byte packet identifier.
  REQUIRE_DECODE_ERROR(dec(bytes({0x40, 0x01, 0x00}), v311), RC::MalformedPacket);
  // QoS 1 PUBLISH ending inside the packet identifier.
  REQUIRE_DECODE_ERROR(dec(bytes({0x32, 0x04, 0x00, 0x01, 't', 0x00}), v311), RC::MalformedPacket);
  // CONNECT whose user name flag promises a field that is not there.
  REQUIRE_DECODE_ERROR(dec(connect311(0x82, str("c")), v311), RC::MalformedPacket);
  // CONNACK 3.1.1 with one byte.
  REQUIRE_DECODE_ERROR(dec(bytes({0x20, 0x01, 0x00}), v311), RC::MalformedPacket);
}

TEST_CASE("[MQTT-3.2.2.3.6] a packet over the maximum size is refused from its fixed header") {
  // Fixed header says 200 bytes follow; only the header is buffered.
  const std::string header = bytes({0x30, 0xC8, 0x01});
  REQUIRE_DECODE_ERROR(dec(header, v5, 100), RC::PacketTooLarge);
  CHECK(dec(header, v5, 203).status == DecodeStatus::NeedMore);  // exactly the limit: fine
  REQUIRE_DECODE_ERROR(dec(header, v5, 202), RC::PacketTooLarge);
  // A CONNECT that is too large still reports its protocol level when it is buffered.
  const std::string big = connect5(0x02, str(std::string(100, 'c')));
  const DecodeResult r = dec(big, v5, 50);
  REQUIRE(r.status == DecodeStatus::Error);
  CHECK(r.reason == RC::PacketTooLarge);
  CHECK(r.connect_protocol_level == 5);
}

// ---------------------------------------------------------------------------------------
// PUBLISH
// ---------------------------------------------------------------------------------------

TEST_CASE("[MQTT-3.3.1-4] PUBLISH with QoS 3 is malformed") {
  for (ProtocolVersion v : {v311, v5}) {
    REQUIRE_DECODE_ERROR(dec(bytes({0x36, 0x05, 0x00, 0x01, 't', 0x00, 0x01}), v),
                         RC::MalformedPacket);
  }
}

TEST_CASE("[MQTT-3.3.1-2] DUP set on a QoS 0 PUBLISH is malformed") {
  REQUIRE_DECODE_OK(dec(bytes({0x30, 0x03, 0x00, 0x01, 't'}), v311));
  REQUIRE_DECODE_ERROR(dec(bytes({0x38, 0x03, 0x00, 0x01, 't'}), v311), RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(bytes({0x38, 0x04, 0x00, 0x01, 't', 0x00}), v5), RC::MalformedPacket);
}

TEST_CASE("[MQTT-2.2.1-3] [MQTT-2.3.1-1] packet identifier 0 is refused where one is required") {
  for (ProtocolVersion v : {v311, v5}) {
    const std::string p5 = v == v5 ? b(0) : "";  // empty property block for v5
    REQUIRE_DECODE_ERROR(dec(packet(0x32, str("t") + bytes({0, 0}) + p5), v), RC::ProtocolError);
    REQUIRE_DECODE_ERROR(dec(packet(0x34, str("t") + bytes({0, 0}) + p5), v), RC::ProtocolError);
    REQUIRE_DECODE_ERROR(dec(bytes({0x40, 0x02, 0x00, 0x00}), v), RC::ProtocolError);
    REQUIRE_DECODE_ERROR(dec(bytes({0x50, 0x02, 0x00, 0x00}), v), RC::ProtocolError);
    REQUIRE_DECODE_ERROR(dec(bytes({0x62, 0x02, 0x00, 0x00}), v), RC::ProtocolError);
    REQUIRE_DECODE_ERROR(dec(bytes({0x70, 0x02, 0x00, 0x00}), v), RC::ProtocolError);
    REQUIRE_DECODE_ERROR(dec(packet(0x82, bytes({0, 0}) + p5 + str("a") + b(0)), v),
                         RC::ProtocolError);
    REQUIRE_DECODE_ERROR(dec(packet(0xA2, bytes({0, 0}) + p5 + str("a")), v), RC::ProtocolError);
    // The same packets with identifier 1 decode.
    REQUIRE_DECODE_OK(dec(packet(0x32, str("t") + bytes({0, 1}) + p5), v));
    REQUIRE_DECODE_OK(dec(packet(0xA2, bytes({0, 1}) + p5 + str("a")), v));
  }
}

TEST_CASE("[MQTT-3.3.2-2] wildcards in a PUBLISH topic name are refused") {
  for (const char* topic : {"a/+", "#", "a/b#", "+"}) {
    REQUIRE_DECODE_ERROR(dec(packet(0x30, str(topic)), v311), RC::TopicNameInvalid);
    REQUIRE_DECODE_ERROR(dec(publish5("", topic), v5), RC::TopicNameInvalid);
  }
}

TEST_CASE("[MQTT-3.3.2.1] v5 PUBLISH with an empty topic and no topic alias is a protocol error") {
  REQUIRE_DECODE_ERROR(dec(publish5("", ""), v5), RC::ProtocolError);
  REQUIRE_DECODE_OK(dec(publish5(bytes({0x23, 0x00, 0x01}), ""), v5));  // with an alias
}

TEST_CASE("[MQTT-4.7.3-1] 3.1.1 PUBLISH with an empty topic name is malformed") {
  REQUIRE_DECODE_ERROR(dec(packet(0x30, str("")), v311), RC::MalformedPacket);
}

// ---------------------------------------------------------------------------------------
// UTF-8 strings
// ---------------------------------------------------------------------------------------

TEST_CASE("[MQTT-1.5.4-1] ill-formed UTF-8 in a string is malformed") {
  const std::string bad[] = {
      "\xC0\xAF",          // overlong '/'
      "\xE0\x80\xAF",      // overlong, three bytes
      "\xF0\x80\x80\xAF",  // overlong, four bytes
      "\xED\xA0\x80",      // U+D800, a surrogate
      "\xED\xBF\xBF",      // U+DFFF
      "\xF4\x90\x80\x80",  // above U+10FFFF
      "\xE2\x82",          // truncated sequence
      "\x80",              // lone continuation byte
      "\xFF",
  };
  for (const std::string& s : bad) {
    INFO("bytes " << s.size());
    REQUIRE_DECODE_ERROR(dec(packet(0x30, str("a" + s)), v311), RC::MalformedPacket);
    REQUIRE_DECODE_ERROR(dec(publish5("", "a" + s), v5), RC::MalformedPacket);
    REQUIRE_DECODE_ERROR(dec(subscribe5("a" + s, 0), v5), RC::MalformedPacket);
    REQUIRE_DECODE_ERROR(dec(connect311(0x02, str("c" + s)), v311), RC::MalformedPacket);
    // In a property string (content type) and a user property.
    REQUIRE_DECODE_ERROR(dec(publish5(b(0x03) + str(s)), v5), RC::MalformedPacket);
    REQUIRE_DECODE_ERROR(dec(publish5(b(0x26) + str("k") + str(s)), v5), RC::MalformedPacket);
  }
}

TEST_CASE("[MQTT-1.5.4-2] U+0000 in a string is malformed") {
  const std::string nul("a\0b", 3);
  REQUIRE_DECODE_ERROR(dec(packet(0x30, str(nul)), v311), RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(connect5(0x02, str(nul)), v5), RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(connect5(0x82, str("c") + str(nul)), v5), RC::MalformedPacket);  // user
  REQUIRE_DECODE_ERROR(dec(packet(0xA2, bytes({0, 1}) + str(nul)), v311), RC::MalformedPacket);
  // Binary data may hold zero bytes: a password and a payload.
  REQUIRE_DECODE_OK(dec(connect5(0xC2, str("c") + str("u") + str(nul)), v5));
  REQUIRE_DECODE_OK(dec(packet(0x30, str("t") + nul), v311));
}

TEST_CASE("[MQTT-1.5.4-3] U+FEFF is accepted and not stripped") {
  const std::string bom = "\xEF\xBB\xBF";
  const DecodeResult r = dec(packet(0x30, str(bom + "a/" + bom)), v311);
  REQUIRE(r.status == DecodeStatus::Ok);
  CHECK(std::get<Publish>(r.packet).topic == bom + "a/" + bom);
}

// ---------------------------------------------------------------------------------------
// SUBSCRIBE / UNSUBSCRIBE
// ---------------------------------------------------------------------------------------

TEST_CASE("[MQTT-4.7.1-1] multi-level wildcard not alone or not last is malformed") {
  for (const char* f : {"a/#/b", "a#", "#/", "a/b#", "##"}) {
    INFO(f);
    REQUIRE_DECODE_ERROR(dec(subscribe311(f, 0), v311), RC::MalformedPacket);
    REQUIRE_DECODE_ERROR(dec(subscribe5(f, 0), v5), RC::MalformedPacket);
    REQUIRE_DECODE_ERROR(dec(packet(0xA2, bytes({0, 1}) + str(f)), v311), RC::MalformedPacket);
  }
  REQUIRE_DECODE_OK(dec(subscribe311("a/#", 0), v311));
}

TEST_CASE("[MQTT-4.7.1-2] single-level wildcard not occupying a whole level is malformed") {
  for (const char* f : {"a+", "+a", "a/+b", "a/b+/c", "++"}) {
    INFO(f);
    REQUIRE_DECODE_ERROR(dec(subscribe5(f, 0), v5), RC::MalformedPacket);
  }
  REQUIRE_DECODE_OK(dec(subscribe5("+/+/+", 0), v5));
  REQUIRE_DECODE_OK(dec(subscribe5("+", 0), v5));
}

TEST_CASE("[MQTT-4.7.3-1] empty topic filter is malformed") {
  REQUIRE_DECODE_ERROR(dec(subscribe311("", 0), v311), RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(packet(0xA2, bytes({0, 1}) + props("") + str("")), v5),
                       RC::MalformedPacket);
}

TEST_CASE("[MQTT-4.8.2-1] shared subscription with an empty share name is malformed") {
  REQUIRE_DECODE_ERROR(dec(subscribe5("$share//a", 0), v5), RC::MalformedPacket);
  REQUIRE_DECODE_OK(dec(subscribe5("$share/g/a", 0), v5));
}

TEST_CASE("[MQTT-4.8.2-2] shared subscription with a wildcard share name or no filter is malformed") {
  for (const char* f : {"$share/+/a", "$share/g#/a", "$share/g", "$share/g/", "$share/"}) {
    INFO(f);
    REQUIRE_DECODE_ERROR(dec(subscribe5(f, 0), v5), RC::MalformedPacket);
    REQUIRE_DECODE_ERROR(dec(packet(0xA2, bytes({0, 1}) + props("") + str(f)), v5),
                         RC::MalformedPacket);
  }
}

TEST_CASE("[MQTT-3.8.3-3] 3.1.1 SUBSCRIBE without topic filters is a protocol violation") {
  REQUIRE_DECODE_ERROR(dec(bytes({0x82, 0x02, 0x00, 0x01}), v311), RC::ProtocolError);
}

TEST_CASE("[MQTT-3.8.3-2] v5 SUBSCRIBE without topic filters is a protocol error") {
  REQUIRE_DECODE_ERROR(dec(bytes({0x82, 0x03, 0x00, 0x01, 0x00}), v5), RC::ProtocolError);
}

TEST_CASE("[MQTT-3.10.3-2] UNSUBSCRIBE without topic filters is a protocol error") {
  REQUIRE_DECODE_ERROR(dec(bytes({0xA2, 0x02, 0x00, 0x01}), v311), RC::ProtocolError);
  REQUIRE_DECODE_ERROR(dec(bytes({0xA2, 0x03, 0x00, 0x01, 0x00}), v5), RC::ProtocolError);
}

TEST_CASE("[MQTT-3.8.3-5] v5 subscription options with reserved bits set are malformed") {
  REQUIRE_DECODE_ERROR(dec(subscribe5("a", 0x40), v5), RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(subscribe5("a", 0x80), v5), RC::MalformedPacket);
  REQUIRE_DECODE_OK(dec(subscribe5("a", 0x2E), v5));  // RH 2, RAP, NL, QoS 2
}

TEST_CASE("[MQTT-3.8.3.1] v5 subscription with Retain Handling 3 is a protocol error") {
  REQUIRE_DECODE_ERROR(dec(subscribe5("a", 0x30), v5), RC::ProtocolError);
}

TEST_CASE("[MQTT-3.8.3.1] v5 subscription with Maximum QoS 3 is a protocol error") {
  REQUIRE_DECODE_ERROR(dec(subscribe5("a", 0x03), v5), RC::ProtocolError);
}

TEST_CASE("[MQTT-3.8.3-4] No Local on a shared subscription is a protocol error") {
  REQUIRE_DECODE_ERROR(dec(subscribe5("$share/g/a", 0x04), v5), RC::ProtocolError);
  REQUIRE_DECODE_OK(dec(subscribe5("a", 0x04), v5));
}

TEST_CASE("[MQTT-3-8.3-4] 3.1.1 requested QoS with reserved bits or QoS 3 is malformed") {
  REQUIRE_DECODE_ERROR(dec(subscribe311("a", 0x03), v311), RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(subscribe311("a", 0x04), v311), RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(subscribe311("a", 0x81), v311), RC::MalformedPacket);
  REQUIRE_DECODE_OK(dec(subscribe311("a", 0x02), v311));
}

// ---------------------------------------------------------------------------------------
// CONNECT
// ---------------------------------------------------------------------------------------

TEST_CASE("[MQTT-3.1.2-3] CONNECT reserved flag set is malformed") {
  REQUIRE_DECODE_ERROR(dec(connect5(0x03, str("c")), v5), RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(connect311(0x03, str("c")), v311), RC::MalformedPacket);
  REQUIRE_DECODE_OK(dec(connect311(0x02, str("c")), v311));
}

TEST_CASE("[MQTT-3.1.2-11] [MQTT-3.1.2-13] Will QoS without the Will Flag is malformed") {
  REQUIRE_DECODE_ERROR(dec(connect5(0x0A, str("c")), v5), RC::MalformedPacket);      // QoS 1
  REQUIRE_DECODE_ERROR(dec(connect311(0x12, str("c")), v311), RC::MalformedPacket);  // QoS 2
}

TEST_CASE("[MQTT-3.1.2-13] [MQTT-3.1.2-15] Will Retain without the Will Flag is malformed") {
  REQUIRE_DECODE_ERROR(dec(connect5(0x22, str("c")), v5), RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(connect311(0x22, str("c")), v311), RC::MalformedPacket);
}

TEST_CASE("[MQTT-3.1.2-12] [MQTT-3.1.2-14] Will QoS 3 is malformed") {
  REQUIRE_DECODE_ERROR(dec(connect5(0x1E, str("c") + props("") + str("w") + str("m")), v5),
                       RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(connect311(0x1E, str("c") + str("w") + str("m")), v311),
                       RC::MalformedPacket);
  REQUIRE_DECODE_OK(dec(connect311(0x16, str("c") + str("w") + str("m")), v311));  // QoS 2
}

TEST_CASE("[MQTT-3.1.2-22] 3.1.1 password without user name is malformed") {
  REQUIRE_DECODE_ERROR(dec(connect311(0x42, str("c") + str("p")), v311), RC::MalformedPacket);
  // MQTT 5 allows a password without a user name (3.1.2.9).
  const DecodeResult r = dec(connect5(0x42, str("c") + str("p")), v5);
  REQUIRE(r.status == DecodeStatus::Ok);
  CHECK(std::get<Connect>(r.packet).password == "p");
  CHECK_FALSE(std::get<Connect>(r.packet).username.has_value());
}

TEST_CASE("[MQTT-3.1.3-4] client identifier with invalid UTF-8 is malformed") {
  REQUIRE_DECODE_ERROR(dec(connect5(0x02, str("\xC3")), v5), RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(connect311(0x02, str("\xED\xA0\x80")), v311), RC::MalformedPacket);
}

TEST_CASE("[MQTT-3.1.3-8] 3.1.1 empty client identifier with CleanSession 0 is rejected") {
  REQUIRE_DECODE_ERROR(dec(connect311(0x00, str("")), v311), RC::ClientIdentifierNotValid);
  REQUIRE_DECODE_OK(dec(connect311(0x02, str("")), v311));
  REQUIRE_DECODE_OK(dec(connect5(0x00, str("")), v5));  // v5: the server assigns one
}

TEST_CASE("[MQTT-3.1.2-1] CONNECT with a protocol name other than MQTT is refused") {
  const std::string pkt = packet(0x10, str("MQTX") + bytes({4, 0x02, 0, 60}) + str("c"));
  const DecodeResult r = dec(pkt, v5);
  REQUIRE(r.status == DecodeStatus::Error);
  CHECK(r.reason == RC::MalformedPacket);
  CHECK(r.connect_protocol_level == 0);  // not MQTT: no CONNACK format applies
}

TEST_CASE("[MQTT-3.1.2-2] unsupported protocol level is refused with its level") {
  for (int level : {0, 3, 6, 0x84}) {
    const DecodeResult r = dec(connect_pkt(level, 0x02, str("c")), v5);
    REQUIRE(r.status == DecodeStatus::Error);
    CHECK(r.reason == RC::UnsupportedProtocolVersion);
    CHECK(r.connect_protocol_level == level);
  }
  // MQTT 3.1 ("MQIsdp", level 3) is known but not supported.
  const DecodeResult r =
      dec(packet(0x10, str("MQIsdp") + bytes({3, 0x02, 0, 60}) + str("c")), v5);
  REQUIRE(r.status == DecodeStatus::Error);
  CHECK(r.reason == RC::UnsupportedProtocolVersion);
  CHECK(r.connect_protocol_level == 3);
}

TEST_CASE("[MQTT-3.3.2-2] will topic with wildcards or empty is refused") {
  REQUIRE_DECODE_ERROR(dec(connect311(0x06, str("c") + str("w/#") + str("m")), v311),
                       RC::TopicNameInvalid);
  REQUIRE_DECODE_ERROR(dec(connect5(0x06, str("c") + props("") + str("") + str("m")), v5),
                       RC::TopicNameInvalid);
}

TEST_CASE("CONNECT failure after the level reports the level for the CONNACK format") {
  const DecodeResult r = dec(connect311(0x03, str("c")), v5);
  REQUIRE(r.status == DecodeStatus::Error);
  CHECK(r.connect_protocol_level == 4);
}

// ---------------------------------------------------------------------------------------
// Properties (MQTT 5.0 section 2.2.2)
// ---------------------------------------------------------------------------------------

TEST_CASE("[MQTT-2.2.2.2] unknown property identifier is malformed") {
  for (int id : {0x00, 0x04, 0x2B, 0x7F, 0x80, 0xFF}) {
    INFO("id " << id);
    REQUIRE_DECODE_ERROR(dec(publish5(b(id) + b(0)), v5), RC::MalformedPacket);
  }
}

TEST_CASE("[MQTT-2.2.2.2] property not valid for the packet type is malformed") {
  // Topic Alias in CONNECT, Session Expiry in PUBLISH, Will Delay in CONNECT properties,
  // Reason String in SUBSCRIBE, Maximum QoS in CONNECT, Subscription Identifier in
  // UNSUBSCRIBE.
  REQUIRE_DECODE_ERROR(dec(connect5(0x02, str("c"), bytes({0x23, 0, 1})), v5), RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(publish5(bytes({0x11, 0, 0, 0, 1})), v5), RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(connect5(0x02, str("c"), bytes({0x18, 0, 0, 0, 1})), v5),
                       RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(
      dec(packet(0x82, bytes({0, 1}) + props(b(0x1F) + str("r")) + str("a") + b(0)), v5),
      RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(connect5(0x02, str("c"), bytes({0x24, 1})), v5), RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(packet(0xA2, bytes({0, 1}) + props(bytes({0x0B, 1})) + str("a")), v5),
                       RC::MalformedPacket);
  // Will properties: Session Expiry is a CONNECT property, not a Will one.
  REQUIRE_DECODE_ERROR(
      dec(connect5(0x06, str("c") + props(bytes({0x11, 0, 0, 0, 1})) + str("w") + str("m")), v5),
      RC::MalformedPacket);
  // Reason String on PUBACK is allowed.
  REQUIRE_DECODE_OK(dec(packet(0x40, bytes({0, 1, 0}) + props(b(0x1F) + str("r"))), v5));
}

TEST_CASE("[MQTT-2.2.2] a property included twice is a protocol error") {
  REQUIRE_DECODE_ERROR(dec(publish5(bytes({0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2})), v5),
                       RC::ProtocolError);
  REQUIRE_DECODE_ERROR(dec(connack5(bytes({0x21, 0, 1, 0x21, 0, 1})), v5), RC::ProtocolError);
  REQUIRE_DECODE_ERROR(dec(publish5(b(0x03) + str("a") + b(0x03) + str("b")), v5),
                       RC::ProtocolError);
  // Subscription Identifier may appear only once in SUBSCRIBE.
  REQUIRE_DECODE_ERROR(
      dec(packet(0x82, bytes({0, 1}) + props(bytes({0x0B, 1, 0x0B, 2})) + str("a") + b(0)), v5),
      RC::ProtocolError);
}

TEST_CASE("[MQTT-3.3.2-18] [MQTT-3.3.4-4] User Property and PUBLISH Subscription Identifier may repeat") {
  const DecodeResult r = dec(publish5(bytes({0x0B, 1, 0x0B, 0x80, 0x01}) + b(0x26) + str("k") +
                                      str("1") + b(0x26) + str("k") + str("2")),
                             v5);
  REQUIRE(r.status == DecodeStatus::Ok);
  const Publish& p = std::get<Publish>(r.packet);
  CHECK(p.props.subscription_identifiers == std::vector<std::uint32_t>{1, 128});
  CHECK(p.props.user_properties == std::vector<UserProperty>{{"k", "1"}, {"k", "2"}});
}

TEST_CASE("[MQTT-2.2.2] property length overrunning the packet is malformed") {
  // Property Length 10 with two bytes left.
  REQUIRE_DECODE_ERROR(dec(packet(0x30, str("t") + bytes({10, 0x01, 0x00})), v5),
                       RC::MalformedPacket);
  // A property value running past the Property Length (Message Expiry needs four bytes).
  REQUIRE_DECODE_ERROR(dec(packet(0x30, str("t") + bytes({3, 0x02, 0, 0, 0, 1})), v5),
                       RC::MalformedPacket);
  // Property Length itself non-minimal or cut short.
  REQUIRE_DECODE_ERROR(dec(packet(0x30, str("t") + bytes({0x80, 0x00})), v5), RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(packet(0x30, str("t") + bytes({0x80})), v5), RC::MalformedPacket);
  // v5 CONNACK without a Property Length.
  REQUIRE_DECODE_ERROR(dec(bytes({0x20, 0x02, 0x00, 0x00}), v5), RC::MalformedPacket);
}

TEST_CASE("[MQTT-3.3.2-8] Topic Alias 0 is a protocol error") {
  REQUIRE_DECODE_ERROR(dec(publish5(bytes({0x23, 0, 0})), v5), RC::ProtocolError);
}

TEST_CASE("[MQTT-3.1.2.11.3] [MQTT-3.2.2.3.3] Receive Maximum 0 is a protocol error") {
  REQUIRE_DECODE_ERROR(dec(connect5(0x02, str("c"), bytes({0x21, 0, 0})), v5), RC::ProtocolError);
  REQUIRE_DECODE_ERROR(dec(connack5(bytes({0x21, 0, 0})), v5), RC::ProtocolError);
}

TEST_CASE("[MQTT-3.1.2.11.4] [MQTT-3.2.2.3.6] Maximum Packet Size 0 is a protocol error") {
  REQUIRE_DECODE_ERROR(dec(connect5(0x02, str("c"), bytes({0x27, 0, 0, 0, 0})), v5),
                       RC::ProtocolError);
  REQUIRE_DECODE_ERROR(dec(connack5(bytes({0x27, 0, 0, 0, 0})), v5), RC::ProtocolError);
}

TEST_CASE("[MQTT-3.8.2.1.2] Subscription Identifier 0 is a protocol error") {
  REQUIRE_DECODE_ERROR(
      dec(packet(0x82, bytes({0, 1}) + props(bytes({0x0B, 0})) + str("a") + b(0)), v5),
      RC::ProtocolError);
  REQUIRE_DECODE_ERROR(dec(publish5(bytes({0x0B, 0})), v5), RC::ProtocolError);
  // Non-minimal or over-long varint values are malformed.
  REQUIRE_DECODE_ERROR(dec(publish5(bytes({0x0B, 0x81, 0x00})), v5), RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(publish5(bytes({0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0x01})), v5),
                       RC::MalformedPacket);
}

TEST_CASE("[MQTT-3.1.2.11.7] Request Problem Information other than 0 or 1 is a protocol error") {
  REQUIRE_DECODE_OK(dec(connect5(0x02, str("c"), bytes({0x17, 1})), v5));
  REQUIRE_DECODE_ERROR(dec(connect5(0x02, str("c"), bytes({0x17, 2})), v5), RC::ProtocolError);
}

TEST_CASE("[MQTT-3.1.2.11.6] Request Response Information other than 0 or 1 is a protocol error") {
  REQUIRE_DECODE_ERROR(dec(connect5(0x02, str("c"), bytes({0x19, 2})), v5), RC::ProtocolError);
}

TEST_CASE("[MQTT-3.3.2.3.2] Payload Format Indicator other than 0 or 1 is a protocol error") {
  REQUIRE_DECODE_OK(dec(publish5(bytes({0x01, 1})), v5));
  REQUIRE_DECODE_ERROR(dec(publish5(bytes({0x01, 2})), v5), RC::ProtocolError);
  REQUIRE_DECODE_ERROR(
      dec(connect5(0x06, str("c") + props(bytes({0x01, 0xFF})) + str("w") + str("m")), v5),
      RC::ProtocolError);
}

TEST_CASE("[MQTT-3.2.2.3.4] Maximum QoS other than 0 or 1 is a protocol error") {
  REQUIRE_DECODE_OK(dec(connack5(bytes({0x24, 1})), v5));
  REQUIRE_DECODE_ERROR(dec(connack5(bytes({0x24, 2})), v5), RC::ProtocolError);
}

// Retain Available (3.2.2.3.5), Wildcard (3.2.2.3.11), Subscription Identifier (3.2.2.3.12)
// and Shared Subscription (3.2.2.3.13) Available.
TEST_CASE("[MQTT-3.2.2.3.5] *Available properties other than 0 or 1 are protocol errors") {
  for (int id : {0x25, 0x28, 0x29, 0x2A}) {
    INFO("id " << id);
    REQUIRE_DECODE_OK(dec(connack5(bytes({id, 0})), v5));
    REQUIRE_DECODE_ERROR(dec(connack5(bytes({id, 2})), v5), RC::ProtocolError);
  }
}

TEST_CASE("[MQTT-3.3.2-14] Response Topic with wildcards is a protocol error") {
  REQUIRE_DECODE_ERROR(dec(publish5(b(0x08) + str("r/#")), v5), RC::ProtocolError);
  REQUIRE_DECODE_OK(dec(publish5(b(0x08) + str("r/x")), v5));
}

TEST_CASE("[MQTT-3.1.2.11.10] Authentication Data without Authentication Method is a protocol error") {
  REQUIRE_DECODE_ERROR(dec(connect5(0x02, str("c"), b(0x16) + str("d")), v5), RC::ProtocolError);
  REQUIRE_DECODE_OK(dec(connect5(0x02, str("c"), b(0x15) + str("m") + b(0x16) + str("d")), v5));
}

TEST_CASE("[MQTT-3.15.2.2.2] AUTH without Authentication Method is a protocol error") {
  REQUIRE_DECODE_ERROR(dec(packet(0xF0, bytes({0x18}) + props("")), v5), RC::ProtocolError);
  REQUIRE_DECODE_OK(dec(packet(0xF0, bytes({0x18}) + props(b(0x15) + str("m"))), v5));
}

TEST_CASE("[MQTT-3.15.2.2.1] AUTH with a reason code but no Property Length is malformed") {
  REQUIRE_DECODE_ERROR(dec(bytes({0xF0, 0x01, 0x00}), v5), RC::MalformedPacket);
}

// ---------------------------------------------------------------------------------------
// v5 reason codes
// ---------------------------------------------------------------------------------------

TEST_CASE("[MQTT-3.4.2-1] PUBACK / PUBREC reason code not in their table is malformed") {
  REQUIRE_DECODE_ERROR(dec(bytes({0x40, 0x03, 0x00, 0x01, 0x01}), v5), RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(bytes({0x50, 0x03, 0x00, 0x01, 0x92}), v5), RC::MalformedPacket);
  REQUIRE_DECODE_OK(dec(bytes({0x40, 0x03, 0x00, 0x01, 0x99}), v5));
}

TEST_CASE("[MQTT-3.6.2-1] [MQTT-3.7.2-1] PUBREL / PUBCOMP reason code not 0x00 or 0x92 is malformed") {
  REQUIRE_DECODE_ERROR(dec(bytes({0x62, 0x03, 0x00, 0x01, 0x80}), v5), RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(bytes({0x70, 0x03, 0x00, 0x01, 0x10}), v5), RC::MalformedPacket);
}

TEST_CASE("[MQTT-3.9.3-2] SUBACK reason code not in its table is malformed") {
  REQUIRE_DECODE_ERROR(dec(bytes({0x90, 0x04, 0x00, 0x01, 0x00, 0x03}), v5), RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(bytes({0x90, 0x03, 0x00, 0x01, 0x8F}), v311), RC::MalformedPacket);
}

TEST_CASE("[MQTT-3.11.3-2] UNSUBACK reason code not in its table is malformed") {
  REQUIRE_DECODE_ERROR(dec(bytes({0xB0, 0x04, 0x00, 0x01, 0x00, 0x01}), v5), RC::MalformedPacket);
}

TEST_CASE("[MQTT-3.14.2-1] DISCONNECT reason code not in its table is malformed") {
  REQUIRE_DECODE_ERROR(dec(bytes({0xE0, 0x01, 0x01}), v5), RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(bytes({0xE0, 0x01, 0x84}), v5), RC::MalformedPacket);  // CONNACK-only
  REQUIRE_DECODE_OK(dec(bytes({0xE0, 0x01, 0x8E}), v5));
}

TEST_CASE("[MQTT-3.15.2-1] AUTH reason code not in its table is malformed") {
  REQUIRE_DECODE_ERROR(dec(packet(0xF0, bytes({0x01}) + props(b(0x15) + str("m"))), v5),
                       RC::MalformedPacket);
}

TEST_CASE("[MQTT-3.2.2-8] CONNACK reason code not in its table is malformed") {
  REQUIRE_DECODE_ERROR(dec(bytes({0x20, 0x03, 0x00, 0x01, 0x00}), v5), RC::MalformedPacket);
  REQUIRE_DECODE_ERROR(dec(bytes({0x20, 0x02, 0x00, 0x06}), v311), RC::MalformedPacket);
}

TEST_CASE("[MQTT-3.2.2-1] CONNACK reserved acknowledge flags are malformed") {
  REQUIRE_DECODE_ERROR(dec(bytes({0x20, 0x02, 0x02, 0x00}), v311), RC::MalformedPacket);
}

TEST_CASE("[MQTT-3.2.2-6] CONNACK refusal with Session Present is a protocol error") {
  REQUIRE_DECODE_ERROR(dec(bytes({0x20, 0x02, 0x01, 0x05}), v311), RC::ProtocolError);
  REQUIRE_DECODE_ERROR(dec(bytes({0x20, 0x03, 0x01, 0x87, 0x00}), v5), RC::ProtocolError);
}

TEST_CASE("[MQTT-3.9.3-1] [MQTT-3.11.3-1] SUBACK / v5 UNSUBACK without reason codes is refused") {
  REQUIRE_DECODE_ERROR(dec(bytes({0x90, 0x02, 0x00, 0x01}), v311), RC::ProtocolError);
  REQUIRE_DECODE_ERROR(dec(bytes({0xB0, 0x03, 0x00, 0x01, 0x00}), v5), RC::ProtocolError);
}

// ---------------------------------------------------------------------------------------
// v5 short forms
// ---------------------------------------------------------------------------------------

TEST_CASE("[MQTT-3.4.2.1] [MQTT-3.14.2.1] v5 short forms default to reason 0 and no properties") {
  const DecodeResult a = dec(bytes({0x40, 0x02, 0x00, 0x07}), v5);
  REQUIRE(a.status == DecodeStatus::Ok);
  CHECK(std::get<Puback>(a.packet).reason_code == 0);
  const DecodeResult d = dec(bytes({0xE0, 0x00}), v5);
  REQUIRE(d.status == DecodeStatus::Ok);
  CHECK(std::get<Disconnect>(d.packet).reason_code == 0);
  const DecodeResult d1 = dec(bytes({0xE0, 0x01, 0x04}), v5);
  REQUIRE(d1.status == DecodeStatus::Ok);
  CHECK(std::get<Disconnect>(d1.packet).reason_code == 0x04);
  const DecodeResult au = dec(bytes({0xF0, 0x00}), v5);
  REQUIRE(au.status == DecodeStatus::Ok);
  CHECK(std::get<Auth>(au.packet).reason_code == 0);
}
