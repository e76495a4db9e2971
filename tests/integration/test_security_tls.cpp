// TLS listeners end to end, on whichever backend this build chose (TERN_TLS): handshakes
// that must succeed or fail (other CA, expired certificates, client certificates required,
// from the wrong CA, expired), mutual TLS with the certificate's CN as the user name under a
// %u ACL, failures that leave other clients alone, Paho over mqtts, and a certificate
// replaced by SIGHUP. Certificates come from tests/certs/generate.sh at run time.
#include <signal.h>

#include <algorithm>
#include <fstream>

#include "tests/integration/harness/common.hpp"
#include "tests/integration/harness/secure.hpp"
#include "tests/integration/harness/security.hpp"

namespace tern::it {
namespace {

#ifndef TERN_IT_TLS_BACKEND
#define TERN_IT_TLS_BACKEND "?"
#endif

// A TLS listener's `tls:` block on one line.
std::string tls_block(const std::string& cert, const std::string& key,
                      const std::string& extra = "") {
  const TestCerts& c = test_certs();
  return "{cert: \"" + c.file(cert) + "\", key: \"" + c.file(key) + "\"" +
         (extra.empty() ? "" : ", " + extra) + "}";
}

std::string ca_extra(const std::string& more) {
  return "ca: \"" + test_certs().ca() + "\"" + (more.empty() ? "" : ", " + more);
}

TlsClientOptions trusting(const std::string& ca_file) {
  TlsClientOptions o;
  o.ca = ca_file;
  return o;
}

TlsClientOptions with_cert(const std::string& name) {
  TlsClientOptions o = trusting(test_certs().ca());
  o.cert = test_certs().file(name + ".crt");
  o.key = test_certs().file(name + ".key");
  return o;
}

// A v5 (or 3.1.1) RawClient over a finished TLS handshake; REQUIREs the handshake.
std::unique_ptr<RawClient> tls_client(std::uint16_t port, const TlsClientOptions& o,
                                      ProtocolVersion v = ProtocolVersion::v5) {
  TlsConnect t = tls_connect(port, o);
  INFO("TLS handshake: " << t.error);
  REQUIRE(t.layer);
  return std::make_unique<RawClient>(std::move(t.layer), v);
}

mqtt::ssl_options paho_ssl(const std::string& ca, const std::string& cert = "",
                           const std::string& key = "") {
  mqtt::ssl_options_builder b;
  b.trust_store(ca).enable_server_cert_auth(true).verify(true);
  if (!cert.empty()) b.key_store(cert).private_key(key);
  return b.finalize();
}

// QoS 0, 1 and 2 from `pub` arrive at `sub` (subscribed at QoS 2) with their QoS.
void check_qos_round_trip(PahoClient& pub, PahoClient& sub, const std::string& topic) {
  REQUIRE(sub.subscribe(topic, 2) == 2);
  for (int q = 0; q <= 2; ++q) pub.publish(topic, "qos" + std::to_string(q), q);
  auto msgs = sub.collect(3, 10s);
  REQUIRE(msgs.size() == 3);
  std::sort(msgs.begin(), msgs.end(),
            [](const auto& a, const auto& b) { return a->get_qos() < b->get_qos(); });
  for (int q = 0; q <= 2; ++q) {
    CHECK(msgs[static_cast<std::size_t>(q)]->get_topic() == topic);
    CHECK(msgs[static_cast<std::size_t>(q)]->get_qos() == q);
    CHECK(msgs[static_cast<std::size_t>(q)]->get_payload_str() == "qos" + std::to_string(q));
  }
  CHECK(sub.quiet_for(200ms));  // no duplicates
}

TEST_CASE("mqtts: Paho 3.1.1 and 5.0 clients trusting the test CA publish and receive QoS 0, "
          "1 and 2 (also across a plain listener)") {
  if (TernBroker::reference_mode()) return;  // needs our config
  const int version = GENERATE(MQTTVERSION_3_1_1, MQTTVERSION_5);
  INFO("backend " << TERN_IT_TLS_BACKEND << ", Paho " << paho_version_name(version));
  TernBroker broker({"listeners:\n"
                     "  - {name: plain, bind: \"127.0.0.1:0\"}\n"
                     "  - {name: tls, bind: \"127.0.0.1:0\", tls: " +
                         tls_block("server.crt", "server.key") + "}\n",
                     {},
                     true});
  const std::string tls_uri = "ssl://127.0.0.1:" + std::to_string(broker.listener_port("tls"));
  const std::string plain_uri =
      "tcp://127.0.0.1:" + std::to_string(broker.listener_port("plain"));
  PahoClient sub(tls_uri, "it-tls-sub", version);
  PahoClient pub(tls_uri, "it-tls-pub", version);
  PahoClient plain(plain_uri, "it-tls-plain", version);
  connect_all({{&sub, sub.options().ssl(paho_ssl(test_certs().ca())).finalize()},
               {&pub, pub.options().ssl(paho_ssl(test_certs().ca())).finalize()},
               {&plain, plain.options().finalize()}});
  check_qos_round_trip(pub, sub, "it/tls/qos");
  check_qos_round_trip(plain, sub, "it/tls/from-plain");
  check_qos_round_trip(sub, plain, "it/tls/to-plain");

  // What the server presented: the chain from server.crt (leaf CN=localhost, test CA).
  const TlsConnect t = tls_connect(broker.listener_port("tls"), trusting(test_certs().ca()));
  REQUIRE(t.layer);
  CHECK(t.peer_subject.find("CN=localhost") != std::string::npos);
  CHECK(t.peer_issuer.find("CN=Tern Test CA") != std::string::npos);
  // TLS 1.2 is the default minimum and must work on both backends.
  TlsClientOptions v12 = trusting(test_certs().ca());
  v12.tls12_only = true;
  const MqttsAttempt a12 = try_mqtts(broker.listener_port("tls"), v12, "it-tls-12");
  INFO(a12.error);
  CHECK(a12.connack);
  CHECK(a12.reason_code == 0);
}

TEST_CASE("TLS handshake failures (other CA, expired server certificate, plaintext, garbage) "
          "close only that connection, are logged, and do not disturb a connected client") {
  if (TernBroker::reference_mode()) return;
  INFO("backend " << TERN_IT_TLS_BACKEND);
  TernBroker broker({"listeners:\n"
                     "  - {name: tls, bind: \"127.0.0.1:0\", tls: " +
                         tls_block("server.crt", "server.key") + "}\n" +
                         "  - {name: expired, bind: \"127.0.0.1:0\", tls: " +
                         tls_block("expired-server.crt", "expired-server.key") + "}\n",
                     {},
                     true});
  const std::uint16_t port = broker.listener_port("tls");
  auto good = tls_client(port, trusting(test_certs().ca()));
  REQUIRE(good->connect("it-tls-good").reason_code == 0);
  REQUIRE(good->subscribe("it/tls/alive", 1).reason_codes[0] == 1);
  const std::size_t logged_before = log_count(broker, "TLS handshake failed");

  {  // a client trusting another CA refuses the server
    const TlsConnect t = tls_connect(port, trusting(test_certs().other_ca()));
    INFO(t.error);
    CHECK_FALSE(t.layer);
    CHECK(t.error.find("certificate verify failed") != std::string::npos);
  }
  {  // an expired server certificate is refused by a client trusting its CA
    const TlsConnect t = tls_connect(broker.listener_port("expired"), trusting(test_certs().ca()));
    INFO(t.error);
    CHECK_FALSE(t.layer);
    CHECK(t.error.find("expired") != std::string::npos);
  }
  {  // a plaintext MQTT CONNECT on the TLS port gets no CONNACK, only a close
    RawClient plain(port, ProtocolVersion::v5);
    codec::Connect c;
    c.client_id = "it-tls-plaintext";
    plain.send(c);
    REQUIRE(plain.wait_closed(5s));
    for (const auto& p : plain.packets_before_close()) {
      CHECK_FALSE(std::holds_alternative<codec::Connack>(p));
    }
    // The server saw the failure as a handshake failure and logged why.
    for (int i = 0; i < 40 && log_count(broker, "TLS handshake failed") == logged_before; ++i) {
      sleep_for(50ms);
    }
    CHECK(log_count(broker, "TLS handshake failed") > logged_before);
  }
  {  // random bytes and a half handshake followed by a vanishing client
    RawClient junk(port, ProtocolVersion::v5);
    junk.send_bytes(std::string("\x16\x03\x01\x00\x05hello\x00\xff\x17", 13));
    CHECK(junk.wait_closed(5s));
    RawClient half(port, ProtocolVersion::v5);
    half.send_bytes(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11));
    half.drop();
  }

  // The established client is untouched: it still gets messages, new clients still connect.
  auto other = tls_client(port, trusting(test_certs().ca()));
  REQUIRE(other->connect("it-tls-other").reason_code == 0);
  other->publish("it/tls/alive", "still here", 1);
  const auto p = good->recv_publish(5s);
  REQUIRE(p);
  CHECK(p->payload == "still here");
}

TEST_CASE("require_client_cert refuses a client without a certificate, with one from another "
          "CA, or with an expired one, and accepts client1's") {
  if (TernBroker::reference_mode()) return;
  INFO("backend " << TERN_IT_TLS_BACKEND);
  TernBroker broker({"listeners:\n"
                     "  - {name: mtls, bind: \"127.0.0.1:0\", tls: " +
                         tls_block("server.crt", "server.key",
                                   ca_extra("require_client_cert: true")) +
                         "}\n",
                     {},
                     true});
  const std::uint16_t port = broker.listener_port("mtls");
  // The baseline first, so a refusal below is about the certificate and nothing else.
  auto held = tls_client(port, with_cert("client"));
  REQUIRE(held->connect("it-mtls-held").reason_code == 0);

  struct Case {
    const char* what;
    TlsClientOptions opts;
  };
  const Case refused[] = {
      {"no client certificate", trusting(test_certs().ca())},
      {"client certificate from another CA", with_cert("other-client")},
      {"expired client certificate", with_cert("expired-client")},
  };
  for (const Case& c : refused) {
    for (const bool tls12 : {false, true}) {
      TlsClientOptions o = c.opts;
      o.tls12_only = tls12;
      const MqttsAttempt a = try_mqtts(port, o, "it-mtls-refused");
      INFO(c.what << (tls12 ? " (TLS 1.2)" : "") << ": handshake_ok=" << a.handshake_ok
                  << " connack=" << a.connack << " " << a.error);
      CHECK_FALSE(a.connack);
      if (tls12) CHECK_FALSE(a.handshake_ok);  // TLS 1.2: the server's verdict is in-handshake
    }
  }
  const MqttsAttempt ok = try_mqtts(port, with_cert("client"), "it-mtls-ok");
  INFO(ok.error);
  CHECK(ok.connack);
  CHECK(ok.reason_code == 0);
  // The first client never noticed.
  REQUIRE(held->subscribe("it/mtls/#", 0).reason_codes[0] == 0);
  auto second = tls_client(port, with_cert("client2"));
  REQUIRE(second->connect("it-mtls-second").reason_code == 0);
  second->publish("it/mtls/x", "hi", 0);
  const auto p = held->recv_publish(5s);
  REQUIRE(p);
  CHECK(p->payload == "hi");
}

TEST_CASE("mTLS with use_cn_as_username and an ACL on devices/%u/#: client1 may only use "
          "devices/client1/#, whatever user name it sends") {
  if (TernBroker::reference_mode()) return;
  INFO("backend " << TERN_IT_TLS_BACKEND);
  TernBroker broker(
      {"listeners:\n"
       "  - {name: plain, bind: \"127.0.0.1:0\"}\n"
       "  - {name: mtls, bind: \"127.0.0.1:0\", allow_anonymous: false, tls: " +
           tls_block("server.crt", "server.key",
                     ca_extra("require_client_cert: true, use_cn_as_username: true")) +
           "}\n"
           "acl:\n"
           "  default: deny\n"
           "  rules:\n"
           "    - {user: \"*\", topic: \"devices/%u/#\", access: readwrite}\n"
           "    - {user: anonymous, topic: \"devices/#\", access: read}\n",
       {},
       true});
  const std::uint16_t port = broker.listener_port("mtls");
  // An anonymous observer on the plain listener sees what reaches devices/#.
  RawClient observer(broker.listener_port("plain"), ProtocolVersion::v5);
  REQUIRE(observer.connect("it-cn-observer").reason_code == 0);
  REQUIRE(observer.subscribe("devices/#", 1).reason_codes[0] == 1);

  auto c1 = tls_client(port, with_cert("client"));
  REQUIRE(c1->connect("it-cn-client1").reason_code == 0);

  auto publish_rc = [](RawClient& c, const std::string& topic) {
    codec::Publish p;
    p.topic = topic;
    p.payload = "from " + topic;
    p.qos = 1;
    p.packet_id = c.next_packet_id();
    c.send(p);
    const auto ack = c.expect<codec::Puback>();
    CHECK(ack.packet_id == p.packet_id);
    return ack.reason_code;
  };

  CHECK(publish_rc(*c1, "devices/client1/temp") == 0x00);
  auto seen = observer.recv_publish(5s);
  REQUIRE(seen);
  CHECK(seen->topic == "devices/client1/temp");
  CHECK(publish_rc(*c1, "devices/client2/temp") == 0x87);  // Not authorized
  CHECK(publish_rc(*c1, "other/topic") == 0x87);
  CHECK(observer.no_publish_for(300ms));

  CHECK(c1->subscribe("devices/client1/#", 1).reason_codes[0] == 1);
  CHECK(c1->subscribe("devices/client2/#", 1).reason_codes[0] == 0x87);
  CHECK(c1->subscribe("#", 1).reason_codes[0] == 0x87);

  // client2 writes to its own tree and cannot write into client1's.
  auto c2 = tls_client(port, with_cert("client2"));
  REQUIRE(c2->connect("it-cn-client2").reason_code == 0);
  CHECK(publish_rc(*c2, "devices/client1/cmd") == 0x87);
  CHECK(publish_rc(*c2, "devices/client2/temp") == 0x00);
  CHECK(c1->no_publish_for(300ms));  // neither reached client1's subscription

  // The certificate names the user: a CONNECT claiming to be client2 with client1's
  // certificate either is refused or stays client1.
  auto liar = tls_client(port, with_cert("client"));
  codec::Connect con;
  con.client_id = "it-cn-liar";
  con.username = "client2";
  const auto ack = liar->connect(con);
  if (ack.reason_code == 0) {
    CHECK(publish_rc(*liar, "devices/client2/spoofed") == 0x87);
    CHECK(publish_rc(*liar, "devices/client1/fine") == 0x00);
  } else {
    CHECK(ack.reason_code >= 0x80);
  }
  // A 3.1.1 client on the same certificate: the denied publish is acknowledged and dropped.
  auto v3 = tls_client(port, with_cert("client"), ProtocolVersion::v311);
  REQUIRE(v3->connect("it-cn-v311").reason_code == 0);
  v3->publish("devices/client2/v311", "dropped", 1);
  v3->publish("devices/client1/v311", "delivered", 1);
  std::vector<std::string> topics;
  while (auto p = observer.recv_publish(1s)) topics.push_back(p->topic);
  CHECK(std::find(topics.begin(), topics.end(), "devices/client1/v311") != topics.end());
  CHECK(std::find(topics.begin(), topics.end(), "devices/client2/v311") == topics.end());
  CHECK(std::find(topics.begin(), topics.end(), "devices/client2/spoofed") == topics.end());
}

TEST_CASE("Optional client certificates with use_cn_as_username: no certificate is anonymous "
          "(refused here), an unverifiable one never lends its CN") {
  if (TernBroker::reference_mode()) return;
  INFO("backend " << TERN_IT_TLS_BACKEND);
  TernBroker broker({"listeners:\n"
                     "  - {name: opt, bind: \"127.0.0.1:0\", allow_anonymous: false, tls: " +
                         tls_block("server.crt", "server.key",
                                   ca_extra("require_client_cert: false, "
                                            "use_cn_as_username: true")) +
                         "}\n",
                     {},
                     true});
  const std::uint16_t port = broker.listener_port("opt");
  const MqttsAttempt none = try_mqtts(port, trusting(test_certs().ca()), "it-opt-none");
  INFO("no certificate: " << none.error);
  CHECK(none.connack);
  CHECK(none.reason_code == 0x87);  // anonymous, and anonymous is refused (CONNACK, close)
  const MqttsAttempt good = try_mqtts(port, with_cert("client"), "it-opt-good");
  INFO("client1: " << good.error);
  REQUIRE(good.connack);
  CHECK(good.reason_code == 0x00);
  // CN=client1 signed by another CA, and an expired CN=client1: neither may log in.
  for (const char* name : {"other-client", "expired-client"}) {
    const MqttsAttempt bad = try_mqtts(port, with_cert(name), std::string("it-opt-") + name);
    INFO(name << ": handshake_ok=" << bad.handshake_ok << " " << bad.error);
    CHECK((!bad.connack || bad.reason_code >= 0x80));
  }
}

// The last packets before a close the server initiates (a refusing CONNACK, a DISCONNECT)
// must reach the client ahead of TLS close_notify and the WebSocket close frame: over
// plain TCP they do, and a client over TLS or WebSocket deserves the same reason code.
TEST_CASE("A refusing CONNACK and a server DISCONNECT arrive over TLS, ws and wss before the "
          "close") {
  if (TernBroker::reference_mode()) return;
  INFO("backend " << TERN_IT_TLS_BACKEND);
  const std::string dir = make_temp_dir("tern-it-tls-refusal");
  const std::string file = dir + "/passwd";
  REQUIRE(tern_passwd(file, "add", "alice", "pw") == 0);
  TernBroker broker({"listeners:\n"
                     "  - {name: tls, bind: \"127.0.0.1:0\", tls: " +
                         tls_block("server.crt", "server.key") + "}\n" +
                         "  - {name: ws, bind: \"127.0.0.1:0\", protocol: websocket}\n"
                         "  - {name: wss, bind: \"127.0.0.1:0\", protocol: websocket, tls: " +
                         tls_block("server.crt", "server.key") + "}\n" +
                         "auth: {allow_anonymous: false, password_file: \"" + file + "\"}\n"
                         "limits: {publish_rate: 2/s}\n",
                     {},
                     true});
  auto open = [&](const std::string& listener) -> std::unique_ptr<ByteLayer> {
    std::unique_ptr<ByteLayer> below;
    if (listener == "ws") {
      below = tcp_connect(broker.listener_port(listener));
    } else {
      TlsConnect t = tls_connect(broker.listener_port(listener), trusting(test_certs().ca()));
      INFO(t.error);
      REQUIRE(t.layer);
      below = std::move(t.layer);
    }
    if (listener == "tls") return below;
    WsConnect w = ws_connect(std::move(below), WsClientOptions{});
    INFO(w.error << "\n" << w.response);
    REQUIRE(w.layer);
    return std::move(w.layer);
  };
  // Every transport and version is tried (CHECK, not REQUIRE) so a failure shows them all.
  for (const std::string listener : {"tls", "ws", "wss"}) {
    for (const auto v : {ProtocolVersion::v5, ProtocolVersion::v311}) {
      INFO(listener << " " << version_name(v));
      RawClient c(open(listener), v);
      codec::Connect con;
      con.client_id = "it-refusal";
      con.username = "alice";
      con.password = "wrong";
      c.send(con);
      const RecvStatus st = c.recv(5s);
      INFO("got " << to_string(st));
      const auto* ack = st == RecvStatus::Packet ? std::get_if<codec::Connack>(&c.last_packet())
                                                 : nullptr;
      CHECK(ack != nullptr);
      if (ack) CHECK(ack->reason_code == (v == ProtocolVersion::v5 ? 0x86 : 0x04));
      CHECK(c.wait_closed(3s));
    }
    INFO(listener << ": publish rate exceeded");
    RawClient c(open(listener), ProtocolVersion::v5);
    codec::Connect con;
    con.client_id = "it-refusal-rate";
    con.username = "alice";
    con.password = "pw";
    REQUIRE(c.connect(con).reason_code == 0);
    codec::Publish p;
    p.topic = "it/refusal";
    for (int i = 0; i < 10; ++i) c.send(p);
    REQUIRE(c.wait_closed(5s));
    INFO(c.close_summary());
    const auto d = c.disconnect_seen();
    CHECK(d);
    if (d) CHECK(d->reason_code == 0x96);
  }
}

TEST_CASE("Idle connections on TLS and WebSocket listeners (no handshake, no upgrade, no "
          "CONNECT) are closed after mqtt.connect_timeout") {
  if (TernBroker::reference_mode()) return;
  TernBroker broker({"listeners:\n"
                     "  - {name: tls, bind: \"127.0.0.1:0\", tls: " +
                         tls_block("server.crt", "server.key") + "}\n" +
                         "  - {name: ws, bind: \"127.0.0.1:0\", protocol: websocket}\n"
                         "mqtt: {connect_timeout: 500ms}\n",
                     {},
                     true});
  Stopwatch sw;
  RawClient tls_silent(broker.listener_port("tls"), ProtocolVersion::v5);  // TCP only
  RawClient ws_silent(broker.listener_port("ws"), ProtocolVersion::v5);
  RawClient ws_half(broker.listener_port("ws"), ProtocolVersion::v5);
  ws_half.send_bytes("GET /mqtt HTTP/1.1\r\nHost: x\r\n");  // never finished
  TlsConnect t = tls_connect(broker.listener_port("tls"), trusting(test_certs().ca()));
  REQUIRE(t.layer);
  RawClient tls_no_connect(std::move(t.layer), ProtocolVersion::v5);
  WsConnect w = ws_connect(tcp_connect(broker.listener_port("ws")), WsClientOptions{});
  REQUIRE(w.layer);
  RawClient ws_no_connect(std::move(w.layer), ProtocolVersion::v5);
  for (RawClient* c : {&tls_silent, &ws_silent, &ws_half, &tls_no_connect, &ws_no_connect}) {
    CHECK(c->wait_closed(5s));
  }
  INFO("all closed after " << sw.elapsed().count() << " ms");
  CHECK(sw.elapsed() < 4000ms);
}

TEST_CASE("Paho with a client certificate over mqtts (mutual TLS, 3.1.1 and 5.0)") {
  if (TernBroker::reference_mode()) return;
  const int version = GENERATE(MQTTVERSION_3_1_1, MQTTVERSION_5);
  INFO("backend " << TERN_IT_TLS_BACKEND << ", Paho " << paho_version_name(version));
  TernBroker broker({"listeners:\n"
                     "  - {name: mtls, bind: \"127.0.0.1:0\", tls: " +
                         tls_block("server.crt", "server.key",
                                   ca_extra("require_client_cert: true")) +
                         "}\n",
                     {},
                     true});
  const std::string uri = "ssl://127.0.0.1:" + std::to_string(broker.listener_port("mtls"));
  const TestCerts& c = test_certs();
  PahoClient sub(uri, "it-mtls-paho-sub", version);
  PahoClient pub(uri, "it-mtls-paho-pub", version);
  connect_all(
      {{&sub,
        sub.options().ssl(paho_ssl(c.ca(), c.file("client.crt"), c.file("client.key"))).finalize()},
       {&pub, pub.options()
                  .ssl(paho_ssl(c.ca(), c.file("client2.crt"), c.file("client2.key")))
                  .finalize()}});
  check_qos_round_trip(pub, sub, "it/mtls/paho");
}

TEST_CASE("SIGHUP serves a replaced certificate to new TLS connections and keeps the "
          "connected ones") {
  if (TernBroker::reference_mode()) return;
  INFO("backend " << TERN_IT_TLS_BACKEND);
  const TestCerts& c = test_certs();
  const std::string yaml =
      "listeners:\n"
      "  - {name: plain, bind: \"127.0.0.1:0\"}\n"
      "  - {name: tls, bind: \"127.0.0.1:0\", tls: {cert: \"@DIR@/srv.crt\", key: "
      "\"@DIR@/srv.key\"}}\n";
  // The files must exist before the broker starts: the TernBroker's directory is made by
  // its constructor, so start from a directory of our own and point the YAML at it.
  const std::string dir = make_temp_dir("tern-it-reload-cert");
  copy_file(c.file("server.crt"), dir + "/srv.crt");
  copy_file(c.file("server.key"), dir + "/srv.key");
  std::string y = yaml;
  for (std::size_t at; (at = y.find("@DIR@")) != std::string::npos;) y.replace(at, 5, dir);
  TernBroker broker({y, {}, true});
  const std::uint16_t port = broker.listener_port("tls");

  auto before = tls_client(port, trusting(c.ca()));
  REQUIRE(before->connect("it-reload-before").reason_code == 0);
  REQUIRE(before->subscribe("it/reload/#", 1).reason_codes[0] == 1);

  copy_file(c.file("other-server.crt"), dir + "/srv.crt");
  copy_file(c.file("other-server.key"), dir + "/srv.key");
  reload(broker);

  const TlsConnect old_ca = tls_connect(port, trusting(c.ca()));
  INFO("client trusting the old CA: " << old_ca.error);
  CHECK_FALSE(old_ca.layer);
  TlsConnect new_ca = tls_connect(port, trusting(c.other_ca()));
  INFO("client trusting the new CA: " << new_ca.error);
  REQUIRE(new_ca.layer);
  CHECK(new_ca.peer_issuer.find("CN=Other Test CA") != std::string::npos);
  RawClient after(std::move(new_ca.layer), ProtocolVersion::v5);
  REQUIRE(after.connect("it-reload-after").reason_code == 0);

  // The connection made before the reload keeps its session and its TLS state.
  after.publish("it/reload/x", "over the new certificate", 1);
  RawClient plain(broker.listener_port("plain"), ProtocolVersion::v311);
  REQUIRE(plain.connect("it-reload-plain").reason_code == 0);
  plain.publish("it/reload/y", "over plain", 1);
  auto m1 = before->recv_publish(5s);
  auto m2 = before->recv_publish(5s);
  REQUIRE(m1);
  REQUIRE(m2);
  CHECK(m1->payload == "over the new certificate");
  CHECK(m2->payload == "over plain");

  // A reload that cannot load the new files keeps the working certificate.
  { std::ofstream(dir + "/srv.crt", std::ios::trunc) << "not a certificate\n"; }
  const std::size_t failed = log_count(broker, "reload failed") + log_count(broker, "keeps its");
  REQUIRE(::kill(broker.pid(), SIGHUP) == 0);
  for (int i = 0; i < 100 && log_count(broker, "reload failed") + log_count(broker, "keeps its") ==
                                 failed;
       ++i) {
    sleep_for(50ms);
  }
  CHECK(log_count(broker, "reload failed") + log_count(broker, "keeps its") > failed);
  const MqttsAttempt still = try_mqtts(port, trusting(c.other_ca()), "it-reload-still");
  INFO(still.error);
  CHECK(still.connack);
  CHECK(before->is_open());
}

}  // namespace
}  // namespace tern::it
