// Golden bytes for every packet type in every version where it exists. The byte arrays are
// written by hand from the field layouts of MQTT 3.1.1 and 5.0 chapter 3, not produced by
// our encoder, so encoder and decoder are both checked against the specs.
#include <vector>

#include "tests/unit/codec/codec_test_util.hpp"

using namespace tern::codec;
using namespace tern::codec::test;

namespace {

struct Golden {
  const char* name;
  ProtocolVersion version;
  std::string wire;
  Packet packet;
};

Connect connect311() {
  Connect c;
  c.version = v311;
  c.clean_start = true;
  c.keep_alive = 60;
  c.client_id = "c1";
  c.will = Will{"w", "x", 1, true, {}};
  c.username = "u";
  c.password = "p";
  return c;
}

Connect connect5() {
  Connect c = connect311();
  c.version = v5;
  c.props.session_expiry_interval = 10;
  c.props.receive_maximum = 20;
  c.will->props.will_delay_interval = 5;
  return c;
}

template <class Ack>
Ack ack(std::uint16_t id, std::uint8_t rc = 0) {
  Ack a;
  a.packet_id = id;
  a.reason_code = rc;
  return a;
}

std::vector<Golden> goldens() {
  std::vector<Golden> g;

  // ---- CONNECT (3.1.2 / 3.1.3). Flags 0xEE: user, password, will retain, will QoS 1,
  // will, clean. Keep alive 60.
  g.push_back({"CONNECT 3.1.1", v311,
               bytes({0x10, 26,                                  // fixed header, RL 26
                      0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,      // protocol name, level 4
                      0xEE, 0x00, 0x3C,                          // flags, keep alive
                      0x00, 0x02, 'c', '1',                      // client id
                      0x00, 0x01, 'w', 0x00, 0x01, 'x',          // will topic, will message
                      0x00, 0x01, 'u', 0x00, 0x01, 'p'}),        // user name, password
               connect311()});
  g.push_back({"CONNECT 5.0", v5,
               bytes({0x10, 41,
                      0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0xEE, 0x00, 0x3C,
                      8,                                         // property length
                      0x11, 0x00, 0x00, 0x00, 0x0A,              // session expiry 10
                      0x21, 0x00, 0x14,                          // receive maximum 20
                      0x00, 0x02, 'c', '1',
                      5, 0x18, 0x00, 0x00, 0x00, 0x05,           // will properties: delay 5
                      0x00, 0x01, 'w', 0x00, 0x01, 'x', 0x00, 0x01, 'u', 0x00, 0x01, 'p'}),
               connect5()});

  // ---- CONNACK (3.2)
  {
    Connack c;
    c.session_present = true;
    c.reason_code = 0;
    g.push_back({"CONNACK 3.1.1", v311, bytes({0x20, 0x02, 0x01, 0x00}), c});
    Connack c5;
    c5.reason_code = 0;
    c5.props.topic_alias_maximum = 10;
    c5.props.maximum_qos = 1;
    g.push_back({"CONNACK 5.0", v5,
                 bytes({0x20, 0x08, 0x00, 0x00, 0x05, 0x22, 0x00, 0x0A, 0x24, 0x01}), c5});
    Connack refused;
    refused.reason_code = 0x05;  // not authorized (3.1.1)
    g.push_back({"CONNACK 3.1.1 refused", v311, bytes({0x20, 0x02, 0x00, 0x05}), refused});
  }

  // ---- PUBLISH (3.3)
  {
    Publish p;
    p.qos = 1;
    p.retain = true;
    p.topic = "a/b";
    p.packet_id = 10;
    p.payload = "hi";
    g.push_back({"PUBLISH 3.1.1 QoS 1 retain", v311,
                 bytes({0x33, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A, 'h', 'i'}), p});
    Publish d = p;
    d.qos = 2;
    d.dup = true;
    d.retain = false;
    g.push_back({"PUBLISH 3.1.1 QoS 2 dup", v311,
                 bytes({0x3C, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A, 'h', 'i'}), d});
    Publish e;
    e.topic = "t";
    g.push_back({"PUBLISH 3.1.1 empty payload", v311, bytes({0x30, 0x03, 0x00, 0x01, 't'}), e});

    Publish p5;
    p5.topic = "t";
    p5.payload = "x";
    p5.props.message_expiry_interval = 60;
    p5.props.user_properties = {{"k", "v"}};
    g.push_back({"PUBLISH 5.0 QoS 0 with properties", v5,
                 bytes({0x30, 0x11, 0x00, 0x01, 't',
                        12,                                   // property length
                        0x02, 0x00, 0x00, 0x00, 0x3C,         // message expiry 60
                        0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v',  // user property
                        'x'}),
                 p5});
    Publish alias;
    alias.qos = 1;
    alias.packet_id = 1;
    alias.props.topic_alias = 3;
    alias.payload = "z";
    g.push_back({"PUBLISH 5.0 empty topic with alias", v5,
                 bytes({0x32, 0x09, 0x00, 0x00, 0x00, 0x01, 0x03, 0x23, 0x00, 0x03, 'z'}), alias});
  }

  // ---- PUBACK, PUBREC, PUBREL, PUBCOMP (3.4 - 3.7)
  g.push_back({"PUBACK 3.1.1", v311, bytes({0x40, 0x02, 0x00, 0x0A}), ack<Puback>(10)});
  g.push_back({"PUBREC 3.1.1", v311, bytes({0x50, 0x02, 0x00, 0x0B}), ack<Pubrec>(11)});
  g.push_back({"PUBREL 3.1.1", v311, bytes({0x62, 0x02, 0x00, 0x0B}), ack<Pubrel>(11)});
  g.push_back({"PUBCOMP 3.1.1", v311, bytes({0x70, 0x02, 0x00, 0x0B}), ack<Pubcomp>(11)});
  g.push_back({"PUBACK 5.0 short form", v5, bytes({0x40, 0x02, 0x00, 0x0A}), ack<Puback>(10)});
  g.push_back({"PUBACK 5.0 reason only", v5, bytes({0x40, 0x03, 0x00, 0x0A, 0x10}),
               ack<Puback>(10, 0x10)});
  {
    Puback a = ack<Puback>(10, 0x10);
    a.props.reason_string = "r";
    g.push_back({"PUBACK 5.0 reason string", v5,
                 bytes({0x40, 0x08, 0x00, 0x0A, 0x10, 0x04, 0x1F, 0x00, 0x01, 'r'}), a});
  }
  g.push_back({"PUBREC 5.0", v5, bytes({0x50, 0x03, 0x01, 0x00, 0x80}), ack<Pubrec>(256, 0x80)});
  g.push_back({"PUBREL 5.0", v5, bytes({0x62, 0x03, 0x00, 0x0B, 0x92}), ack<Pubrel>(11, 0x92)});
  g.push_back({"PUBCOMP 5.0", v5, bytes({0x70, 0x02, 0xFF, 0xFF}), ack<Pubcomp>(65535)});

  // ---- SUBSCRIBE / SUBACK (3.8 / 3.9)
  {
    Subscribe s;
    s.packet_id = 1;
    s.entries = {{"a/#", 1, false, false, 0}, {"b", 0, false, false, 0}};
    g.push_back({"SUBSCRIBE 3.1.1", v311,
                 bytes({0x82, 0x0C, 0x00, 0x01, 0x00, 0x03, 'a', '/', '#', 0x01, 0x00, 0x01, 'b',
                        0x00}),
                 s});
    Subscribe s5;
    s5.packet_id = 1;
    s5.props.subscription_identifiers = {5};
    s5.entries = {{"a/+", 2, true, true, 1}};
    g.push_back({"SUBSCRIBE 5.0", v5,
                 bytes({0x82, 0x0B, 0x00, 0x01, 0x02, 0x0B, 0x05, 0x00, 0x03, 'a', '/', '+',
                        0x1E}),  // QoS 2 | No Local | Retain As Published | Retain Handling 1
                 s5});
    Suback a;
    a.packet_id = 1;
    a.reason_codes = {0x01, 0x80};
    g.push_back({"SUBACK 3.1.1", v311, bytes({0x90, 0x04, 0x00, 0x01, 0x01, 0x80}), a});
    Suback a5;
    a5.packet_id = 1;
    a5.reason_codes = {0x02, 0x8F};
    g.push_back({"SUBACK 5.0", v5, bytes({0x90, 0x05, 0x00, 0x01, 0x00, 0x02, 0x8F}), a5});
  }

  // ---- UNSUBSCRIBE / UNSUBACK (3.10 / 3.11)
  {
    Unsubscribe u;
    u.packet_id = 2;
    u.filters = {"x"};
    g.push_back({"UNSUBSCRIBE 3.1.1", v311, bytes({0xA2, 0x05, 0x00, 0x02, 0x00, 0x01, 'x'}), u});
    g.push_back({"UNSUBSCRIBE 5.0", v5, bytes({0xA2, 0x06, 0x00, 0x02, 0x00, 0x00, 0x01, 'x'}),
                 u});
    Unsuback a;
    a.packet_id = 2;
    g.push_back({"UNSUBACK 3.1.1", v311, bytes({0xB0, 0x02, 0x00, 0x02}), a});
    Unsuback a5;
    a5.packet_id = 2;
    a5.reason_codes = {0x11};
    g.push_back({"UNSUBACK 5.0", v5, bytes({0xB0, 0x04, 0x00, 0x02, 0x00, 0x11}), a5});
  }

  // ---- PINGREQ / PINGRESP (3.12 / 3.13)
  g.push_back({"PINGREQ 3.1.1", v311, bytes({0xC0, 0x00}), Pingreq{}});
  g.push_back({"PINGREQ 5.0", v5, bytes({0xC0, 0x00}), Pingreq{}});
  g.push_back({"PINGRESP 3.1.1", v311, bytes({0xD0, 0x00}), Pingresp{}});
  g.push_back({"PINGRESP 5.0", v5, bytes({0xD0, 0x00}), Pingresp{}});

  // ---- DISCONNECT (3.14)
  g.push_back({"DISCONNECT 3.1.1", v311, bytes({0xE0, 0x00}), Disconnect{}});
  g.push_back({"DISCONNECT 5.0 short form", v5, bytes({0xE0, 0x00}), Disconnect{}});
  {
    Disconnect d;
    d.reason_code = 0x04;
    g.push_back({"DISCONNECT 5.0 reason only", v5, bytes({0xE0, 0x01, 0x04}), d});
    Disconnect e;
    e.props.session_expiry_interval = 0;
    g.push_back({"DISCONNECT 5.0 with properties", v5,
                 bytes({0xE0, 0x07, 0x00, 0x05, 0x11, 0x00, 0x00, 0x00, 0x00}), e});
  }

  // ---- AUTH (3.15), v5 only
  g.push_back({"AUTH 5.0 short form", v5, bytes({0xF0, 0x00}), Auth{}});
  {
    Auth a;
    a.reason_code = 0x18;
    a.props.authentication_method = "SCRA";
    a.props.authentication_data = std::string("\x01\x02", 2);
    g.push_back({"AUTH 5.0", v5,
                 bytes({0xF0, 0x0E, 0x18, 0x0C, 0x15, 0x00, 0x04, 'S', 'C', 'R', 'A', 0x16, 0x00,
                        0x02, 0x01, 0x02}),
                 a});
  }
  return g;
}

}  // namespace

TEST_CASE("golden bytes decode to the expected packet") {
  for (const Golden& g : goldens()) {
    DYNAMIC_SECTION(g.name) {
      const DecodeResult r = dec(g.wire, g.version);
      INFO("detail: " << r.detail);
      REQUIRE(r.status == DecodeStatus::Ok);
      CHECK(r.consumed == g.wire.size());
      REQUIRE(r.packet.index() == g.packet.index());
      CHECK(r.packet == g.packet);
    }
  }
}

TEST_CASE("encoder reproduces the golden bytes") {
  for (const Golden& g : goldens()) {
    DYNAMIC_SECTION(g.name) { CHECK(enc(g.packet, g.version) == g.wire); }
  }
}

TEST_CASE("every truncation of a golden packet needs more bytes") {
  for (const Golden& g : goldens()) {
    DYNAMIC_SECTION(g.name) {
      for (std::size_t n = 0; n < g.wire.size(); ++n) {
        const DecodeResult r = dec(std::string_view(g.wire).substr(0, n), g.version);
        INFO("prefix length " << n << " detail: " << r.detail);
        REQUIRE(r.status == DecodeStatus::NeedMore);
        REQUIRE(r.consumed == 0);
      }
    }
  }
}

TEST_CASE("decode takes one packet from the front of a stream") {
  const std::string two = bytes({0x40, 0x02, 0x00, 0x0A, 0xC0, 0x00});
  const DecodeResult first = dec(two, v311);
  REQUIRE(first.status == DecodeStatus::Ok);
  REQUIRE(first.consumed == 4);
  CHECK(std::get<Puback>(first.packet).packet_id == 10);
  const DecodeResult second = dec(std::string_view(two).substr(first.consumed), v311);
  REQUIRE(second.status == DecodeStatus::Ok);
  CHECK(second.consumed == 2);
  CHECK(std::holds_alternative<Pingreq>(second.packet));
}

TEST_CASE("CONNECT decodes with its own protocol level whatever the options say") {
  const Golden g311 = goldens()[0];
  const DecodeResult r = dec(g311.wire, v5);  // options say v5; the packet says level 4
  REQUIRE(r.status == DecodeStatus::Ok);
  CHECK(std::get<Connect>(r.packet).version == v311);
  CHECK(r.connect_protocol_level == 4);
}

TEST_CASE("multi-byte remaining length at the 127/128 boundary") {
  for (std::size_t payload : {123u, 124u, 125u, 16380u, 16381u}) {
    Publish p;
    p.topic = "t";
    p.payload.assign(payload, 'x');
    const std::string w = enc(p, v311);
    const std::size_t rl = 3 + payload;
    const std::size_t rl_bytes = rl < 128 ? 1 : rl < 16384 ? 2 : 3;
    INFO("payload " << payload);
    REQUIRE(w.size() == 1 + rl_bytes + rl);
    CHECK(static_cast<unsigned char>(w[0]) == 0x30);
    const DecodeResult r = dec(w, v311);
    REQUIRE(r.status == DecodeStatus::Ok);
    CHECK(std::get<Publish>(r.packet) == p);
  }
}
