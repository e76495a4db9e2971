// WebSocket listeners end to end: Paho over ws:// and wss:// (3.1.1 and 5.0, QoS 0/1/2),
// upgrade requests the listener must refuse with the right HTTP status, and frames built by
// hand over a raw socket: fragmentation and MQTT packets that do not align with frames
// [MQTT-6.0.0-2], pings, and the protocol violations that end in a close frame (RFC 6455:
// unmasked client frame 1002, text frame 1003 [MQTT-6.0.0-1], oversized frame 1009).
#include <algorithm>
#include <functional>

#include "tests/integration/harness/common.hpp"
#include "tests/integration/harness/secure.hpp"
#include "tests/integration/harness/security.hpp"

namespace tern::it {
namespace {

#ifndef TERN_IT_TLS_BACKEND
#define TERN_IT_TLS_BACKEND "?"
#endif

std::string wss_block() {
  const TestCerts& c = test_certs();
  return "{cert: \"" + c.file("server.crt") + "\", key: \"" + c.file("server.key") + "\"}";
}

// plain (TCP), ws (path /mqtt), ws2 (path /custom/mqtt), wss (path /mqtt over TLS).
BrokerConfig ws_broker_config() {
  return {"listeners:\n"
          "  - {name: plain, bind: \"127.0.0.1:0\"}\n"
          "  - {name: ws, bind: \"127.0.0.1:0\", protocol: websocket}\n"
          "  - {name: ws2, bind: \"127.0.0.1:0\", protocol: websocket, path: /custom/mqtt}\n"
          "  - {name: wss, bind: \"127.0.0.1:0\", protocol: websocket, path: /mqtt, tls: " +
              wss_block() + "}\n",
          {},
          true};
}

std::unique_ptr<WsLayer> ws_open(std::unique_ptr<ByteLayer> below,
                                 const WsClientOptions& o = {}) {
  WsConnect r = ws_connect(std::move(below), o);
  INFO("upgrade: " << r.error << "\nresponse:\n" << r.response);
  REQUIRE(r.layer);
  CHECK(r.layer->violations().empty());
  return std::move(r.layer);
}

std::string encode(const codec::Packet& p, ProtocolVersion v = ProtocolVersion::v5) {
  std::string out;
  codec::encode(p, v, out);
  return out;
}

codec::Connect connect_packet(const std::string& id) {
  codec::Connect c;
  c.client_id = id;
  c.version = ProtocolVersion::v5;
  return c;
}

void check_qos_round_trip(PahoClient& pub, PahoClient& sub, const std::string& topic) {
  REQUIRE(sub.subscribe(topic, 2) == 2);
  for (int q = 0; q <= 2; ++q) pub.publish(topic, "ws-qos" + std::to_string(q), q);
  auto msgs = sub.collect(3, 10s);
  REQUIRE(msgs.size() == 3);
  std::sort(msgs.begin(), msgs.end(),
            [](const auto& a, const auto& b) { return a->get_qos() < b->get_qos(); });
  for (int q = 0; q <= 2; ++q) {
    CHECK(msgs[static_cast<std::size_t>(q)]->get_qos() == q);
    CHECK(msgs[static_cast<std::size_t>(q)]->get_payload_str() == "ws-qos" + std::to_string(q));
  }
  CHECK(sub.quiet_for(200ms));
}

TEST_CASE("Paho over ws:// and wss:// (3.1.1 and 5.0) publishes and receives QoS 0, 1 and 2, "
          "also across a plain listener") {
  if (TernBroker::reference_mode()) return;
  const int version = GENERATE(MQTTVERSION_3_1_1, MQTTVERSION_5);
  INFO("backend " << TERN_IT_TLS_BACKEND << ", Paho " << paho_version_name(version));
  TernBroker broker(ws_broker_config());
  const std::string ws = "ws://127.0.0.1:" + std::to_string(broker.listener_port("ws")) + "/mqtt";
  const std::string wss =
      "wss://127.0.0.1:" + std::to_string(broker.listener_port("wss")) + "/mqtt";
  const std::string plain = "tcp://127.0.0.1:" + std::to_string(broker.listener_port("plain"));
  const auto ssl = mqtt::ssl_options_builder()
                       .trust_store(test_certs().ca())
                       .enable_server_cert_auth(true)
                       .verify(true)
                       .finalize();

  PahoClient ws_sub(ws, "it-ws-sub", version);
  PahoClient ws_pub(ws, "it-ws-pub", version);
  PahoClient wss_cli(wss, "it-wss", version);
  PahoClient tcp(plain, "it-ws-plain", version);
  // A configured path other than /mqtt.
  PahoClient custom("ws://127.0.0.1:" + std::to_string(broker.listener_port("ws2")) +
                        "/custom/mqtt",
                    "it-ws-custom", version);
  connect_all({{&ws_sub, ws_sub.options().finalize()},
               {&ws_pub, ws_pub.options().finalize()},
               {&wss_cli, wss_cli.options().ssl(ssl).finalize()},
               {&tcp, tcp.options().finalize()},
               {&custom, custom.options().finalize()}});
  check_qos_round_trip(ws_pub, ws_sub, "it/ws/qos");
  check_qos_round_trip(wss_cli, ws_sub, "it/wss/to-ws");
  check_qos_round_trip(ws_pub, wss_cli, "it/ws/to-wss");
  check_qos_round_trip(tcp, wss_cli, "it/plain/to-wss");
  check_qos_round_trip(custom, tcp, "it/ws/custom");
}

TEST_CASE("WebSocket upgrade refusals: wrong path 404, no mqtt subprotocol 400, wrong version "
          "426, not GET 405, each connection is closed and the listener keeps serving") {
  if (TernBroker::reference_mode()) return;
  TernBroker broker(ws_broker_config());
  const std::uint16_t port = broker.listener_port("ws");

  struct Case {
    const char* what;
    WsClientOptions opts;
    int status;
  };
  WsClientOptions wrong_path;
  wrong_path.path = "/not-mqtt";
  WsClientOptions no_protocol;
  no_protocol.protocol = "";
  WsClientOptions other_protocol;
  other_protocol.protocol = "mqttv3.1, chat";  // "mqtt" must be offered [MQTT-6.0.0-3]
  WsClientOptions other_listeners_path;  // /mqtt on the listener configured for /custom/mqtt
  const Case cases[] = {
      {"wrong path", wrong_path, 404},
      {"no Sec-WebSocket-Protocol", no_protocol, 400},
      {"only other subprotocols", other_protocol, 400},
  };
  for (const Case& c : cases) {
    const WsConnect r = ws_connect(tcp_connect(port), c.opts);
    INFO(c.what << ": " << r.error << "\nresponse:\n" << r.response);
    CHECK_FALSE(r.layer);
    CHECK(r.status == c.status);
    CHECK(r.closed_after);
  }
  {
    const WsConnect r = ws_connect(tcp_connect(broker.listener_port("ws2")), other_listeners_path);
    INFO(r.response);
    CHECK(r.status == 404);
  }
  // Hand-written requests for what WsClientOptions cannot express.
  auto raw_request = [&](const std::string& req) {
    std::string got;
    auto layer = tcp_connect(port);
    layer->send(req);
    while (layer->read(got, 5s) == RecvStatus::Packet) {
    }
    return got;
  };
  const std::string base =
      "Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: mqtt\r\n";
  const std::string v8 = raw_request("GET /mqtt HTTP/1.1\r\n" + base +
                                     "Sec-WebSocket-Version: 8\r\n\r\n");
  INFO(v8);
  CHECK(v8.rfind("HTTP/1.1 426", 0) == 0);
  CHECK(v8.find("Sec-WebSocket-Version: 13") != std::string::npos);  // RFC 6455 4.4
  const std::string post = raw_request("POST /mqtt HTTP/1.1\r\n" + base +
                                       "Sec-WebSocket-Version: 13\r\n\r\n");
  INFO(post);
  CHECK(post.rfind("HTTP/1.1 405", 0) == 0);
  const std::string junk = raw_request(std::string(9000, 'A'));
  INFO(junk.substr(0, 200));
  CHECK(junk.rfind("HTTP/1.1 4", 0) == 0);

  // Still serving.
  RawClient c(ws_open(tcp_connect(port)), ProtocolVersion::v5);
  CHECK(c.connect("it-ws-after-refusals").reason_code == 0);
}

TEST_CASE("WebSocket framing: fragmented messages, MQTT packets split across and packed into "
          "frames [MQTT-6.0.0-2], ping answered by pong, server frames unmasked") {
  if (TernBroker::reference_mode()) return;
  TernBroker broker(ws_broker_config());
  const std::uint16_t port = broker.listener_port("ws");

  auto sub_ws = ws_open(tcp_connect(port));
  WsLayer* sub_frames = sub_ws.get();
  // CONNECT in three frames: a binary frame without FIN, a continuation, the final one.
  const std::string con = encode(connect_packet("it-ws-frag"));
  sub_ws->send_frame(0x2, con.substr(0, 3), false);
  sub_ws->send_frame(0x0, con.substr(3, 4), false);
  // A ping between fragments is allowed (RFC 6455 5.4) and answered with its payload.
  sub_ws->send_frame(0x9, "ping-data");
  sub_ws->send_frame(0x0, con.substr(7), true);
  RawClient sub(std::move(sub_ws), ProtocolVersion::v5);
  REQUIRE(sub.expect<codec::Connack>().reason_code == 0);
  const auto& ctl = sub_frames->control_frames();
  REQUIRE(ctl.size() >= 1);
  CHECK(ctl[0].opcode == 0xA);
  CHECK(ctl[0].payload == "ping-data");

  // SUBSCRIBE and a PINGREQ in one frame.
  codec::Subscribe s;
  s.packet_id = 7;
  codec::SubscribeEntry e;
  e.filter = "it/ws/frames";
  e.max_qos = 1;
  s.entries.push_back(e);
  sub_frames->send(encode(s) + encode(codec::Pingreq{}));
  const auto ack = sub.expect<codec::Suback>();
  CHECK(ack.packet_id == 7);
  CHECK(ack.reason_codes == std::vector<std::uint8_t>{1});
  sub.expect<codec::Pingresp>();

  // A publisher whose PUBLISH is cut byte by byte into one-byte frames.
  auto pub_ws = ws_open(tcp_connect(port));
  WsLayer* pub_frames = pub_ws.get();
  RawClient pub(std::move(pub_ws), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-ws-bytes").reason_code == 0);
  codec::Publish p;
  p.topic = "it/ws/frames";
  p.payload = std::string(300, 'x');  // a 2-byte remaining length
  p.qos = 1;
  p.packet_id = 3;
  const std::string bytes = encode(p);
  for (char b : bytes) pub_frames->send_frame(0x2, std::string(1, b));
  CHECK(pub.expect<codec::Puback>().packet_id == 3);
  const auto got = sub.recv_publish(5s);
  REQUIRE(got);
  CHECK(got->payload == p.payload);
  // A 70 KB payload needs a 64-bit frame length one way and a 16-bit one the other.
  pub.publish("it/ws/frames", std::string(70000, 'y'), 1);
  const auto big = sub.recv_publish(5s);
  REQUIRE(big);
  CHECK(big->payload.size() == 70000);
  CHECK(sub_frames->violations().empty());
  CHECK(pub_frames->violations().empty());

  // A clean WebSocket close without DISCONNECT: the server answers the close and the
  // session sees a network close.
  pub_frames->send_frame(0x8, std::string("\x03\xe8", 2));
  REQUIRE(pub_frames->wait_closed(5s));
  CHECK(pub_frames->close_code() == std::optional<std::uint16_t>(1000));
}

// RFC 6455 close codes: unmasked client frame 1002, text frame 1003, oversized frame 1009,
// reserved opcode 1002; other clients are not disturbed.
TEST_CASE("WebSocket violations get a close frame with the RFC 6455 code, then a close") {
  if (TernBroker::reference_mode()) return;
  TernBroker broker(ws_broker_config());
  const std::uint16_t port = broker.listener_port("ws");
  RawClient watcher(ws_open(tcp_connect(port)), ProtocolVersion::v5);
  REQUIRE(watcher.connect("it-ws-watcher").reason_code == 0);
  REQUIRE(watcher.subscribe("it/ws/alive", 0).reason_codes[0] == 0);
  const std::string con = encode(connect_packet("it-ws-bad"));

  struct Case {
    const char* what;
    std::uint16_t code;
    bool connect_first;  // violate after a successful CONNECT
    std::function<void(WsLayer&)> send;
  };
  const std::vector<Case> cases = {
      {"unmasked client frame (RFC 6455 5.1)", 1002, false,
       [&](WsLayer& w) { w.send_frame(0x2, con, true, false); }},
      {"unmasked frame after CONNECT", 1002, true,
       [&](WsLayer& w) { w.send_frame(0x2, encode(codec::Pingreq{}), true, false); }},
      {"text frame [MQTT-6.0.0-1]", 1003, false, [&](WsLayer& w) { w.send_frame(0x1, con); }},
      {"text frame after CONNECT", 1003, true,
       [&](WsLayer& w) { w.send_frame(0x1, encode(codec::Pingreq{})); }},
      {"frame length 2^40", 1009, true,
       [&](WsLayer& w) {
         w.send_raw(std::string("\x82\xff\x00\x00\x01\x00\x00\x00\x00\x00\x01\x02\x03\x04", 14));
       }},
      {"reserved opcode 0x3", 1002, false, [&](WsLayer& w) { w.send_frame(0x3, "x"); }},
      {"continuation without a message", 1002, true,
       [&](WsLayer& w) { w.send_frame(0x0, encode(codec::Pingreq{})); }},
      {"fragmented ping", 1002, true, [&](WsLayer& w) { w.send_frame(0x9, "p", false); }},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    auto ws = ws_open(tcp_connect(port));
    WsLayer* frames = ws.get();
    RawClient client(std::move(ws), ProtocolVersion::v5);
    if (c.connect_first) REQUIRE(client.connect("it-ws-bad").reason_code == 0);
    c.send(*frames);
    // The close frame comes first, then the server closes the TCP connection.
    REQUIRE(client.wait_closed(5s));
    INFO(client.close_summary() << " violations: " << frames->violations());
    CHECK(frames->close_code() == std::optional<std::uint16_t>(c.code));
    REQUIRE_FALSE(frames->control_frames().empty());
    CHECK(frames->control_frames().back().opcode == 0x8);
    // Before CONNECT nothing MQTT came back (the bad frame carried the CONNECT).
    if (!c.connect_first) CHECK(client.packets_before_close().empty());
  }
  CHECK(log_count(broker, "WebSocket error") >= cases.size());

  RawClient pub(ws_open(tcp_connect(port)), ProtocolVersion::v5);
  REQUIRE(pub.connect("it-ws-alive").reason_code == 0);
  pub.publish("it/ws/alive", "yes", 0);
  const auto m = watcher.recv_publish(5s);
  REQUIRE(m);
  CHECK(m->payload == "yes");
}

TEST_CASE("A raw MQTT-over-WebSocket-over-TLS client (wss) connects, subscribes and receives") {
  if (TernBroker::reference_mode()) return;
  INFO("backend " << TERN_IT_TLS_BACKEND);
  TernBroker broker(ws_broker_config());
  TlsClientOptions o;
  o.ca = test_certs().ca();
  TlsConnect t = tls_connect(broker.listener_port("wss"), o);
  INFO(t.error);
  REQUIRE(t.layer);
  RawClient c(ws_open(std::move(t.layer)), ProtocolVersion::v311);
  REQUIRE(c.connect("it-wss-raw").reason_code == 0);
  REQUIRE(c.subscribe("it/wss/raw", 2).reason_codes[0] == 2);
  RawClient plain(broker.listener_port("plain"), ProtocolVersion::v5);
  REQUIRE(plain.connect("it-wss-raw-pub").reason_code == 0);
  plain.publish("it/wss/raw", std::string(20000, 'z'), 2);
  const auto m = c.recv_publish(5s);
  REQUIRE(m);
  CHECK(m->qos == 2);
  CHECK(m->payload.size() == 20000);
  c.disconnect();
}

}  // namespace
}  // namespace tern::it
