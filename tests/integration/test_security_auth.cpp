// Authentication, authorization, limits and reload end to end, with exact reason codes on
// the wire (RawClient): password files written by `tern passwd` and by Debian's
// `mosquitto_passwd`, per-listener anonymous access and protocol versions, ACL outcomes for
// PUBLISH, SUBSCRIBE, deliveries, retained messages and wills, connection and publish rate
// limits, topic limits, and SIGHUP reloading passwords and ACLs under connected clients.
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <set>

#include "tests/integration/harness/common.hpp"
#include "tests/integration/harness/secure.hpp"
#include "tests/integration/harness/security.hpp"

namespace tern::it {
namespace {

// CONNECT with credentials; returns the CONNACK code and, when refused, REQUIREs that the
// broker then closes the connection [MQTT-3.2.2-5] / [MQTT-3.2.2-7].
std::uint8_t connect_rc(std::uint16_t port, ProtocolVersion v, const std::string& id,
                        std::optional<std::string> user, std::optional<std::string> password,
                        std::optional<codec::Will> will = std::nullopt) {
  RawClient c(port, v);
  codec::Connect con;
  con.client_id = id;
  con.username = std::move(user);
  con.password = std::move(password);
  con.will = std::move(will);
  const auto ack = c.connect(con);
  if (ack.reason_code != 0) {
    CHECK_FALSE(ack.session_present);
    CHECK(c.wait_closed(3s));
  }
  return ack.reason_code;
}

std::unique_ptr<RawClient> login(std::uint16_t port, ProtocolVersion v, const std::string& id,
                                 const std::string& user, const std::string& password = "pw",
                                 std::optional<codec::Will> will = std::nullopt) {
  auto c = std::make_unique<RawClient>(port, v);
  codec::Connect con;
  con.client_id = id;
  con.username = user;
  con.password = password;
  con.will = std::move(will);
  INFO("login " << user << " as " << id);
  REQUIRE(c->connect(con).reason_code == 0);
  return c;
}

// Sends PUBLISH QoS 1 or 2 and returns the code of the PUBACK / PUBREC (finishing a QoS 2
// flow the broker accepted).
std::uint8_t publish_rc(RawClient& c, const std::string& topic, std::uint8_t qos,
                        const std::string& payload = "x", bool retain = false) {
  codec::Publish p;
  p.topic = topic;
  p.payload = payload;
  p.qos = qos;
  p.retain = retain;
  p.packet_id = c.next_packet_id();
  c.send(p);
  if (qos == 1) {
    const auto a = c.expect<codec::Puback>();
    CHECK(a.packet_id == p.packet_id);
    return a.reason_code;
  }
  const auto r = c.expect<codec::Pubrec>();
  CHECK(r.packet_id == p.packet_id);
  if (r.reason_code < 0x80) {
    codec::Pubrel rel;
    rel.packet_id = p.packet_id;
    c.send(rel);
    CHECK(c.expect<codec::Pubcomp>().packet_id == p.packet_id);
  }
  return r.reason_code;
}

// Topics of the PUBLISHes that arrive until `quiet` passes without one.
std::vector<std::string> drain_topics(RawClient& c, Millis quiet = 400ms) {
  std::vector<std::string> t;
  while (auto p = c.recv_publish(quiet)) t.push_back(p->topic);
  return t;
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

codec::Will will_on(const std::string& topic, bool retain = false) {
  codec::Will w;
  w.topic = topic;
  w.payload = "gone";
  w.retain = retain;
  return w;
}

std::string listeners_yaml(const std::string& extra_listener_keys = "") {
  return "listeners:\n"
         "  - {name: main, bind: \"127.0.0.1:0\"" + extra_listener_keys + "}\n"
         "  - {name: open, bind: \"127.0.0.1:0\", allow_anonymous: true}\n";
}

TEST_CASE("Password file from `tern passwd`: CONNACK 0 for the right password, v5 0x86 for a "
          "wrong one or an unknown user, 0x87 anonymous, 3.1.1 0x04 / 0x05") {
  if (TernBroker::reference_mode()) return;
  const std::string dir = make_temp_dir("tern-it-passwd");
  const std::string file = dir + "/passwd";
  REQUIRE(tern_passwd(file, "add", "alice", "s3cret") == 0);
  REQUIRE(tern_passwd(file, "add", "bob", "hunter2") == 0);
  CHECK(tern_passwd(file, "add", "alice", "again") != 0);  // add refuses an existing user
  std::string listed;
  REQUIRE(tern_passwd(file, "list", "", "", &listed) == 0);
  CHECK(listed.find("alice") != std::string::npos);
  CHECK(listed.find("bob") != std::string::npos);
  // Salted PBKDF2-SHA512 in mosquitto's "$7$" form; never the password itself; 0600.
  const std::string text = read_file(file);
  CHECK(text.find("alice:$7$") != std::string::npos);
  CHECK(text.find("s3cret") == std::string::npos);
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  TernBroker broker({listeners_yaml() + "auth: {allow_anonymous: false, password_file: \"" +
                         file + "\"}\n",
                     {},
                     true});
  const std::uint16_t port = broker.listener_port("main");
  const auto v5 = ProtocolVersion::v5;
  const auto v3 = ProtocolVersion::v311;
  CHECK(connect_rc(port, v5, "a1", "alice", "s3cret") == 0x00);
  CHECK(connect_rc(port, v5, "a2", "alice", "wrong") == 0x86);    // Bad User Name or Password
  CHECK(connect_rc(port, v5, "a3", "alice", "s3cre") == 0x86);
  CHECK(connect_rc(port, v5, "a4", "alice", std::nullopt) == 0x86);
  CHECK(connect_rc(port, v5, "a5", "mallory", "s3cret") == 0x86);
  CHECK(connect_rc(port, v5, "a6", "bob", "s3cret") == 0x86);     // someone else's password
  CHECK(connect_rc(port, v5, "a7", std::nullopt, std::nullopt) == 0x87);  // Not authorized
  CHECK(connect_rc(port, v3, "b1", "bob", "hunter2") == 0x00);
  CHECK(connect_rc(port, v3, "b2", "bob", "hunter3") == 0x04);  // bad user name or password
  CHECK(connect_rc(port, v3, "b3", "nobody", "x") == 0x04);
  CHECK(connect_rc(port, v3, "b4", std::nullopt, std::nullopt) == 0x05);  // not authorized
  // The same password file on a listener open to anonymous clients: anonymous is fine there,
  // known users still need their password.
  const std::uint16_t open = broker.listener_port("open");
  CHECK(connect_rc(open, v5, "o1", std::nullopt, std::nullopt) == 0x00);
  CHECK(connect_rc(open, v3, "o2", std::nullopt, std::nullopt) == 0x00);
  CHECK(connect_rc(open, v5, "o3", "alice", "s3cret") == 0x00);

  // A refused CONNECT does not touch the session of the same client id.
  auto a = login(port, v5, "it-auth-session", "alice", "s3cret");
  REQUIRE(a->subscribe("it/auth/s", 1).reason_codes[0] == 1);
  CHECK(connect_rc(port, v5, "it-auth-session", "alice", "bad") == 0x86);
  auto b = login(port, v3, "it-auth-pub", "bob", "hunter2");
  b->publish("it/auth/s", "still connected", 1);
  const auto m = a->recv_publish(5s);
  REQUIRE(m);
  CHECK(m->payload == "still connected");
}

TEST_CASE("A password file made by mosquitto_passwd authenticates its users, tern passwd edits "
          "it, mosquitto_pub logs in with -u/-P") {
  if (TernBroker::reference_mode()) return;
  const std::string dir = make_temp_dir("tern-it-mosqpw");
  const std::string file = dir + "/mosquitto.passwd";
  mosquitto_passwd(file, "carol", "c4rol-pw", true);
  mosquitto_passwd(file, "dave", "d4ve pw with spaces", false);
  std::string listed;
  REQUIRE(tern_passwd(file, "list", "", "", &listed) == 0);
  CHECK(listed.find("carol") != std::string::npos);
  REQUIRE(tern_passwd(file, "add", "erin", "3rin") == 0);  // a tern user in the same file

  TernBroker broker({listeners_yaml() + "auth: {allow_anonymous: false, password_file: \"" +
                         file + "\"}\n",
                     {},
                     true});
  const std::uint16_t port = broker.listener_port("main");
  for (const auto v : {ProtocolVersion::v5, ProtocolVersion::v311}) {
    INFO(version_name(v));
    const std::uint8_t bad = v == ProtocolVersion::v5 ? 0x86 : 0x04;
    CHECK(connect_rc(port, v, "m1", "carol", "c4rol-pw") == 0);
    CHECK(connect_rc(port, v, "m2", "carol", "c4rol-PW") == bad);
    CHECK(connect_rc(port, v, "m3", "dave", "d4ve pw with spaces") == 0);
    CHECK(connect_rc(port, v, "m4", "erin", "3rin") == 0);
    CHECK(connect_rc(port, v, "m5", "erin", "c4rol-pw") == bad);
  }

  // Debian's mosquitto_pub (libmosquitto) with the right and a wrong password.
  RawClient sub(port, ProtocolVersion::v5);
  codec::Connect con;
  con.client_id = "it-mosqpw-sub";
  con.username = "erin";
  con.password = "3rin";
  REQUIRE(sub.connect(con).reason_code == 0);
  REQUIRE(sub.subscribe("it/mosqpw", 1).reason_codes[0] == 1);
  auto pub = [&](const std::string& password, const std::string& log) {
    return run_command({"mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(port), "-V",
                        "mqttv5", "-u", "carol", "-P", password, "-t", "it/mosqpw", "-m",
                        "via mosquitto_pub", "-q", "1"},
                       10s, dir + "/" + log);
  };
  const auto ok = pub("c4rol-pw", "pub-ok.log");
  INFO(ok.output);
  CHECK(ok.status == 0);
  const auto m = sub.recv_publish(5s);
  REQUIRE(m);
  CHECK(m->payload == "via mosquitto_pub");
  const auto refused = pub("wrong", "pub-bad.log");
  INFO(refused.output);
  CHECK(refused.status != 0);
  CHECK(sub.no_publish_for(300ms));
}

TEST_CASE("listeners[].protocols: a 5.0-only listener refuses 3.1.1 with CONNACK 0x01, a "
          "3.1.1-only listener refuses 5.0 with 0x84") {
  if (TernBroker::reference_mode()) return;
  TernBroker broker({"listeners:\n"
                     "  - {name: v5only, bind: \"127.0.0.1:0\", protocols: [\"5.0\"]}\n"
                     "  - {name: v3only, bind: \"127.0.0.1:0\", protocols: [\"3.1.1\"]}\n",
                     {},
                     true});
  CHECK(connect_rc(broker.listener_port("v5only"), ProtocolVersion::v311, "p1", {}, {}) == 0x01);
  CHECK(connect_rc(broker.listener_port("v5only"), ProtocolVersion::v5, "p2", {}, {}) == 0x00);
  CHECK(connect_rc(broker.listener_port("v3only"), ProtocolVersion::v5, "p3", {}, {}) == 0x84);
  CHECK(connect_rc(broker.listener_port("v3only"), ProtocolVersion::v311, "p4", {}, {}) == 0x00);
}

// Users: admin (everything, and $SYS), writer (data/# but not data/secret/#), reader (reads
// data/#), dash (reads everything but data/secret/#). Default deny.
struct AclBroker {
  std::string dir = make_temp_dir("tern-it-acl");
  std::unique_ptr<TernBroker> broker;
  std::uint16_t port = 0;
  AclBroker() {
    const std::string file = dir + "/passwd";
    for (const char* u : {"admin", "writer", "reader", "dash"}) {
      REQUIRE(tern_passwd(file, "add", u, "pw") == 0);
    }
    broker = std::make_unique<TernBroker>(BrokerConfig{
        listeners_yaml() + "auth: {allow_anonymous: false, password_file: \"" + file +
            "\"}\n"
            "acl:\n"
            "  default: deny\n"
            "  rules:\n"
            "    - {user: admin, topic: \"#\", access: readwrite}\n"
            "    - {user: admin, topic: \"$SYS/#\", access: read}\n"
            "    - {user: writer, topic: \"data/#\", access: readwrite}\n"
            "    - {user: writer, topic: \"data/secret/#\", access: deny}\n"
            "    - {user: reader, topic: \"data/#\", access: read}\n"
            "    - {user: dash, topic: \"#\", access: read}\n"
            "    - {user: dash, topic: \"data/secret/#\", access: deny}\n"
            "    - {user: \"*\", topic: \"own/%u/%c/#\", access: readwrite}\n",
        {},
        true});
    port = broker->listener_port("main");
  }
};

TEST_CASE("ACL on PUBLISH: v5 PUBACK / PUBREC 0x87 and not delivered, 3.1.1 acknowledged and "
          "not delivered, deny wins over a grant, %u/%c patterns") {
  if (TernBroker::reference_mode()) return;
  AclBroker acl;
  auto admin = login(acl.port, ProtocolVersion::v5, "it-acl-admin", "admin");
  REQUIRE(admin->subscribe("#", 2).reason_codes[0] == 2);

  auto reader = login(acl.port, ProtocolVersion::v5, "it-acl-reader", "reader");
  CHECK(publish_rc(*reader, "data/r1", 1) == 0x87);
  CHECK(publish_rc(*reader, "data/r2", 2) == 0x87);  // a refusing PUBREC ends the flow
  CHECK(publish_rc(*reader, "data/r3", 1) == 0x87);  // and the ids are usable again
  auto writer = login(acl.port, ProtocolVersion::v5, "it-acl-writer", "writer");
  CHECK(publish_rc(*writer, "data/secret/w", 1) == 0x87);  // deny wins
  CHECK(publish_rc(*writer, "elsewhere", 2) == 0x87);      // default deny
  CHECK(publish_rc(*writer, "data/ok", 1) == 0x00);
  CHECK(publish_rc(*writer, "own/writer/it-acl-writer/x", 1) == 0x00);
  CHECK(publish_rc(*writer, "own/reader/it-acl-writer/x", 1) == 0x87);
  CHECK(publish_rc(*writer, "own/writer/another-id/x", 1) == 0x87);

  auto reader3 = login(acl.port, ProtocolVersion::v311, "it-acl-reader3", "reader");
  CHECK(publish_rc(*reader3, "data/v311-q1", 1) == 0x00);  // 3.1.1 cannot say no
  CHECK(publish_rc(*reader3, "data/v311-q2", 2) == 0x00);
  reader3->publish("data/v311-q0", "x", 0);
  CHECK(reader3->is_open());

  const auto got = drain_topics(*admin);
  CHECK(got == std::vector<std::string>{"data/ok", "own/writer/it-acl-writer/x"});
}

TEST_CASE("ACL on SUBSCRIBE and delivery: SUBACK 0x87 / 0x80, a '#' subscriber does not get "
          "topics denied to it, $SYS only where a rule names it") {
  if (TernBroker::reference_mode()) return;
  AclBroker acl;
  for (const auto v : {ProtocolVersion::v5, ProtocolVersion::v311}) {
    INFO(version_name(v));
    const std::uint8_t denied = v == ProtocolVersion::v5 ? 0x87 : 0x80;
    auto reader = login(acl.port, v, std::string("it-acl-sub-") + version_name(v), "reader");
    CHECK(reader->subscribe("data/#", 1).reason_codes[0] == 1);
    CHECK(reader->subscribe("data/+/x", 0).reason_codes[0] == 0);
    CHECK(reader->subscribe("other/#", 1).reason_codes[0] == denied);
    CHECK(reader->subscribe("#", 1).reason_codes[0] == denied);  // wider than its grant
    CHECK(reader->subscribe("$SYS/#", 0).reason_codes[0] == denied);
    auto dash = login(acl.port, v, std::string("it-acl-dash-") + version_name(v), "dash");
    CHECK(dash->subscribe("#", 1).reason_codes[0] == 1);
    CHECK(dash->subscribe("data/secret/#", 1).reason_codes[0] == denied);
    CHECK(dash->subscribe("$SYS/#", 0).reason_codes[0] == denied);  // '#' rule: no '$' topics
    // Several filters in one SUBSCRIBE get one code each, in order [MQTT-3.8.4-6].
    codec::Subscribe s;
    s.packet_id = dash->next_packet_id();
    for (const char* f : {"a/#", "data/secret/x", "data/public"}) {
      codec::SubscribeEntry e;
      e.filter = f;
      e.max_qos = 1;
      s.entries.push_back(e);
    }
    dash->send(s);
    const auto ack = dash->expect<codec::Suback>();
    CHECK(ack.reason_codes == std::vector<std::uint8_t>{1, denied, 1});
  }
  auto admin = login(acl.port, ProtocolVersion::v5, "it-acl-admin", "admin");
  CHECK(admin->subscribe("$SYS/#", 0).reason_codes[0] == 0);

  auto dash = login(acl.port, ProtocolVersion::v5, "it-acl-dash", "dash");
  REQUIRE(dash->subscribe("#", 1).reason_codes[0] == 1);
  auto reader = login(acl.port, ProtocolVersion::v311, "it-acl-reader", "reader");
  REQUIRE(reader->subscribe("data/#", 1).reason_codes[0] == 1);
  for (const char* t : {"data/public", "data/secret/a", "data/secret", "misc"}) {
    admin->publish(t, "m", 1);
  }
  const auto dash_got = drain_topics(*dash);
  CHECK(has(dash_got, "data/public"));
  CHECK(has(dash_got, "misc"));
  CHECK_FALSE(has(dash_got, "data/secret"));  // "data/secret/#" matches its parent level
                                             // too [MQTT-4.7.1-2]
  CHECK_FALSE(has(dash_got, "data/secret/a"));
  const auto reader_got = drain_topics(*reader);
  CHECK(has(reader_got, "data/secret/a"));  // reader has no deny rule
  CHECK(has(reader_got, "data/public"));
  CHECK_FALSE(has(reader_got, "misc"));
}

TEST_CASE("ACL with shared subscriptions and topic aliases: the filter inside $share is what "
          "is checked, and an alias never carries a message past the rules") {
  if (TernBroker::reference_mode()) return;
  AclBroker acl;
  auto dash = login(acl.port, ProtocolVersion::v5, "it-acl-share-dash", "dash");
  CHECK(dash->subscribe("$share/g/data/secret/#", 1).reason_codes[0] == 0x87);
  CHECK(dash->subscribe("$share/g/#", 1).reason_codes[0] == 1);
  auto reader = login(acl.port, ProtocolVersion::v5, "it-acl-share-reader", "reader");
  CHECK(reader->subscribe("$share/g/other/#", 1).reason_codes[0] == 0x87);
  CHECK(reader->subscribe("$share/h/data/#", 1).reason_codes[0] == 1);

  auto admin = login(acl.port, ProtocolVersion::v5, "it-acl-share-admin", "admin");
  admin->publish("data/secret/s", "secret", 1);
  admin->publish("data/open", "open", 1);
  const auto dash_got = drain_topics(*dash);
  CHECK(dash_got == std::vector<std::string>{"data/open"});
  const auto reader_got = drain_topics(*reader);
  CHECK(reader_got == std::vector<std::string>{"data/secret/s", "data/open"});

  // Topic aliases (the broker's Topic Alias Maximum permitting): a denied topic set with an
  // alias, then the alias alone, is still denied; an allowed alias stays usable.
  auto writer = std::make_unique<RawClient>(acl.port, ProtocolVersion::v5);
  codec::Connect con;
  con.client_id = "it-acl-alias";
  con.username = "writer";
  con.password = "pw";
  const auto ack = writer->connect(con);
  REQUIRE(ack.reason_code == 0);
  if (ack.props.topic_alias_maximum.value_or(0) >= 2) {
    auto send = [&](const std::string& topic, std::uint16_t alias) {
      codec::Publish p;
      p.topic = topic;
      p.payload = "via alias";
      p.qos = 1;
      p.packet_id = writer->next_packet_id();
      p.props.topic_alias = alias;
      writer->send(p);
      const auto a = writer->expect<codec::Puback>();
      CHECK(a.packet_id == p.packet_id);
      return a.reason_code;
    };
    CHECK(send("data/secret/alias", 1) == 0x87);
    CHECK(send("", 1) == 0x87);  // the alias names data/secret/alias (or nothing at all)
    CHECK(send("data/alias-ok", 2) == 0x00);
    CHECK(send("", 2) == 0x00);
    auto got = drain_topics(*reader);
    CHECK(got == std::vector<std::string>{"data/alias-ok", "data/alias-ok"});
  }
}

// A denied retained PUBLISH is not stored, retained messages are filtered per subscriber,
// a will must be allowed at CONNECT and reaches only readers allowed to see it.
TEST_CASE("ACL on retained messages and wills") {
  if (TernBroker::reference_mode()) return;
  AclBroker acl;
  auto admin = login(acl.port, ProtocolVersion::v5, "it-acl-admin", "admin");
  CHECK(publish_rc(*admin, "data/secret/r", 1, "secret", true) == 0);
  CHECK(publish_rc(*admin, "data/public/r", 1, "public", true) == 0);
  auto reader = login(acl.port, ProtocolVersion::v5, "it-acl-reader", "reader");
  CHECK(publish_rc(*reader, "data/denied/r", 1, "denied", true) == 0x87);
  auto writer = login(acl.port, ProtocolVersion::v311, "it-acl-writer", "writer");
  CHECK(publish_rc(*writer, "data/secret/w", 1, "v311 denied", true) == 0);  // dropped

  auto dash = login(acl.port, ProtocolVersion::v5, "it-acl-dash", "dash");
  REQUIRE(dash->subscribe("#", 1).reason_codes[0] == 1);
  auto dash_got = drain_topics(*dash);
  std::sort(dash_got.begin(), dash_got.end());
  CHECK(dash_got == std::vector<std::string>{"data/public/r"});
  auto admin2 = login(acl.port, ProtocolVersion::v5, "it-acl-admin2", "admin");
  REQUIRE(admin2->subscribe("data/#", 1).reason_codes[0] == 1);
  auto admin_got = drain_topics(*admin2);
  std::sort(admin_got.begin(), admin_got.end());
  CHECK(admin_got == std::vector<std::string>{"data/public/r", "data/secret/r"});

  // Wills: one on a topic its client may not publish is refused at CONNECT.
  CHECK(connect_rc(acl.port, ProtocolVersion::v5, "w1", "writer", "pw",
                   will_on("data/secret/will")) == 0x87);
  CHECK(connect_rc(acl.port, ProtocolVersion::v311, "w2", "writer", "pw",
                   will_on("data/secret/will")) == 0x05);
  CHECK(connect_rc(acl.port, ProtocolVersion::v5, "w3", "reader", "pw", will_on("data/x")) ==
        0x87);
  // An allowed will goes to readers allowed to see it: admin's will on data/secret/... reaches
  // reader (data/#) and not dash (denied data/secret/#).
  auto rd = login(acl.port, ProtocolVersion::v5, "it-acl-rd", "reader");
  REQUIRE(rd->subscribe("data/#", 1).reason_codes[0] == 1);
  drain_topics(*rd, 200ms);
  {
    auto doomed = login(acl.port, ProtocolVersion::v5, "it-acl-doomed", "admin", "pw",
                        will_on("data/secret/admin-will", true));
    auto doomed2 = login(acl.port, ProtocolVersion::v311, "it-acl-doomed2", "writer", "pw",
                         will_on("data/writer-will"));
    doomed->drop();
    doomed2->drop();
  }
  const auto rd_got = drain_topics(*rd, 1000ms);
  CHECK(has(rd_got, "data/secret/admin-will"));
  CHECK(has(rd_got, "data/writer-will"));
  const auto dash_wills = drain_topics(*dash, 300ms);
  CHECK(has(dash_wills, "data/writer-will"));
  CHECK_FALSE(has(dash_wills, "data/secret/admin-will"));
  // The retained will obeys the rules for later subscribers too.
  auto dash2 = login(acl.port, ProtocolVersion::v5, "it-acl-dash2", "dash");
  REQUIRE(dash2->subscribe("data/secret/#", 1).reason_codes[0] == 0x87);
  REQUIRE(dash2->subscribe("data/+/+", 1).reason_codes[0] == 1);
  auto dash2_got = drain_topics(*dash2);
  std::sort(dash2_got.begin(), dash2_got.end());
  CHECK(dash2_got == std::vector<std::string>{"data/public/r"});
}

TEST_CASE("limits.connect_rate refuses a burst's excess and accepts again a second later, "
          "listeners[].max_connections caps one listener only") {
  if (TernBroker::reference_mode()) return;
  SECTION("connect_rate: 5/s") {
    TernBroker broker({"listeners:\n  - {name: main, bind: \"127.0.0.1:0\"}\n"
                       "limits: {connect_rate: 5/s}\n",
                       {},
                       true});
    const std::uint16_t port = broker.listener_port("main");
    std::vector<std::unique_ptr<RawClient>> kept;
    int accepted = 0;
    int refused = 0;
    Stopwatch sw;
    for (int i = 0; i < 20; ++i) {
      auto c = std::make_unique<RawClient>(port, ProtocolVersion::v5);
      codec::Connect con;
      con.client_id = "it-rate-" + std::to_string(i);
      c->send(con);
      const RecvStatus st = c->recv(3s);
      if (st == RecvStatus::Packet && std::holds_alternative<codec::Connack>(c->last_packet()) &&
          std::get<codec::Connack>(c->last_packet()).reason_code == 0) {
        ++accepted;
        kept.push_back(std::move(c));
      } else {
        ++refused;
      }
    }
    const double secs = std::chrono::duration<double>(sw.elapsed()).count();
    INFO("accepted " << accepted << ", refused " << refused << " in " << secs << " s");
    CHECK(accepted >= 5);  // a burst of one second's worth
    CHECK(accepted <= 5 + static_cast<int>(secs * 5) + 1);
    CHECK(refused >= 1);
    sleep_for(1100ms);
    RawClient later(port, ProtocolVersion::v5);
    CHECK(later.connect("it-rate-later").reason_code == 0);
    // The accepted ones were not disturbed.
    REQUIRE(kept.front()->subscribe("it/rate", 0).reason_codes[0] == 0);
    later.publish("it/rate", "x", 0);
    CHECK(kept.front()->recv_publish(3s));
  }
  SECTION("max_connections: 2 on one listener") {
    TernBroker broker({"listeners:\n"
                       "  - {name: small, bind: \"127.0.0.1:0\", max_connections: 2}\n"
                       "  - {name: big, bind: \"127.0.0.1:0\"}\n",
                       {},
                       true});
    const std::uint16_t small = broker.listener_port("small");
    auto a = std::make_unique<RawClient>(small, ProtocolVersion::v5);
    REQUIRE(a->connect("it-maxc-a").reason_code == 0);
    RawClient b(small, ProtocolVersion::v311);
    REQUIRE(b.connect("it-maxc-b").reason_code == 0);
    {
      RawClient third(small, ProtocolVersion::v5);
      codec::Connect con;
      con.client_id = "it-maxc-c";
      third.send(con);
      REQUIRE(third.wait_closed(3s));
      for (const auto& p : third.packets_before_close()) {
        const auto* ack = std::get_if<codec::Connack>(&p);
        REQUIRE(ack != nullptr);
        CHECK(ack->reason_code >= 0x80);
      }
    }
    for (int i = 0; i < 3; ++i) {
      RawClient other(broker.listener_port("big"), ProtocolVersion::v5);
      CHECK(other.connect("it-maxc-big-" + std::to_string(i)).reason_code == 0);
    }
    a->disconnect();
    a.reset();
    bool again = false;
    for (int i = 0; i < 20 && !again; ++i) {  // the slot frees once the close is processed
      RawClient c(small, ProtocolVersion::v5);
      codec::Connect con;
      con.client_id = "it-maxc-again";
      c.send(con);
      again = c.recv(2s) == RecvStatus::Packet &&
              std::holds_alternative<codec::Connack>(c.last_packet()) &&
              std::get<codec::Connack>(c.last_packet()).reason_code == 0;
      if (!again) sleep_for(100ms);
    }
    CHECK(again);
  }
}

TEST_CASE("limits.publish_rate / publish_bytes_rate: v5 DISCONNECT 0x96 past the rate, 3.1.1 "
          "closed, other clients unaffected") {
  if (TernBroker::reference_mode()) return;
  TernBroker broker({"listeners:\n  - {name: main, bind: \"127.0.0.1:0\"}\n"
                     "limits: {publish_rate: 5/s, publish_bytes_rate: 2KiB/s}\n",
                     {},
                     true});
  const std::uint16_t port = broker.listener_port("main");
  RawClient sub(port, ProtocolVersion::v5);
  REQUIRE(sub.connect("it-prate-sub").reason_code == 0);
  REQUIRE(sub.subscribe("it/prate/#", 0).reason_codes[0] == 0);

  auto flood = [&](ProtocolVersion v, const std::string& topic, std::size_t size, int count) {
    RawClient c(port, v);
    REQUIRE(c.connect(std::string("it-prate-") + version_name(v) + topic).reason_code == 0);
    codec::Publish p;
    p.topic = "it/prate/" + topic;
    p.payload = std::string(size, 'p');
    for (int i = 0; i < count; ++i) c.send(p);
    REQUIRE(c.wait_closed(5s));
    INFO(c.close_summary());
    if (v == ProtocolVersion::v5) {
      const auto d = c.disconnect_seen();
      REQUIRE(d);
      CHECK(d->reason_code == 0x96);  // Message rate too high
    } else {
      CHECK(c.packets_before_close().empty());
    }
    int delivered = 0;
    while (sub.recv_publish(300ms)) ++delivered;
    return delivered;
  };
  SECTION("messages per second") {
    for (const auto v : {ProtocolVersion::v5, ProtocolVersion::v311}) {
      INFO(version_name(v));
      const int n = flood(v, "count", 10, 30);
      CHECK(n >= 5);   // the burst of one second's worth went through
      CHECK(n <= 8);   // and little more
    }
  }
  SECTION("bytes per second") {
    const int n = flood(ProtocolVersion::v5, "bytes", 600, 10);
    CHECK(n >= 3);  // 3 x 600 B fit into 2 KiB
    CHECK(n <= 5);
  }
  // A well-behaved client on the same broker is not limited by the others.
  RawClient calm(port, ProtocolVersion::v5);
  REQUIRE(calm.connect("it-prate-calm").reason_code == 0);
  for (int i = 0; i < 3; ++i) calm.publish("it/prate/calm", "ok", 1);
  int calm_got = 0;
  while (sub.recv_publish(300ms)) ++calm_got;
  CHECK(calm_got == 3);
}

TEST_CASE("limits.max_topic_length / max_topic_levels: v5 PUBACK / PUBREC 0x90 and SUBACK 0x8F, "
          "3.1.1 SUBACK 0x80 and a closed connection for the PUBLISH") {
  if (TernBroker::reference_mode()) return;
  TernBroker broker({"listeners:\n  - {name: main, bind: \"127.0.0.1:0\"}\n"
                     "limits: {max_topic_length: 20, max_topic_levels: 3}\n",
                     {},
                     true});
  const std::uint16_t port = broker.listener_port("main");
  RawClient sub(port, ProtocolVersion::v5);
  REQUIRE(sub.connect("it-topic-sub").reason_code == 0);
  CHECK(sub.subscribe("12345678901234567890", 1).reason_codes[0] == 1);  // exactly 20
  CHECK(sub.subscribe("123456789012345678901", 1).reason_codes[0] == 0x8F);
  CHECK(sub.subscribe("a/b/#", 1).reason_codes[0] == 1);
  CHECK(sub.subscribe("a/b/c/#", 1).reason_codes[0] == 0x8F);  // 4 levels
  RawClient pub(port, ProtocolVersion::v5);
  REQUIRE(pub.connect("it-topic-pub").reason_code == 0);
  CHECK(publish_rc(pub, "123456789012345678901", 1) == 0x90);
  CHECK(publish_rc(pub, "a/b/c/d", 2) == 0x90);
  CHECK(publish_rc(pub, "a/b/c", 1) == 0x00);
  CHECK(publish_rc(pub, "12345678901234567890", 1) == 0x00);
  pub.publish("a/b/c/d/e", "q0 dropped", 0);
  const auto got = drain_topics(sub);
  CHECK(got == std::vector<std::string>{"a/b/c", "12345678901234567890"});
  CHECK(pub.is_open());

  RawClient v3(port, ProtocolVersion::v311);
  REQUIRE(v3.connect("it-topic-v3").reason_code == 0);
  CHECK(v3.subscribe("a/b/c/#", 1).reason_codes[0] == 0x80);
  codec::Publish p;
  p.topic = "a/b/c/d";
  p.payload = "x";
  p.qos = 1;
  p.packet_id = 9;
  v3.send(p);
  REQUIRE(v3.wait_closed(3s));
  CHECK(sub.no_publish_for(200ms));
}

TEST_CASE("SIGHUP reloads passwords and ACLs: a user added with `tern passwd` connects, changed "
          "and deleted users are refused, an ACL change applies, connected clients stay") {
  if (TernBroker::reference_mode()) return;
  const std::string dir = make_temp_dir("tern-it-reload");
  const std::string file = dir + "/passwd";
  REQUIRE(tern_passwd(file, "add", "alice", "old") == 0);
  REQUIRE(tern_passwd(file, "add", "zed", "zzz") == 0);
  const std::string head = "listeners:\n  - {name: main, bind: \"127.0.0.1:0\"}\n"
                           "auth: {allow_anonymous: false, password_file: \"" +
                           file + "\"}\n";
  TernBroker broker({head + "acl: {default: allow}\n", {}, true});
  const std::uint16_t port = broker.listener_port("main");
  const auto v5 = ProtocolVersion::v5;

  auto alice = login(port, v5, "it-reload-alice", "alice", "old");
  REQUIRE(alice->subscribe("t/#", 1).reason_codes[0] == 1);
  auto zed = login(port, ProtocolVersion::v311, "it-reload-zed", "zed", "zzz");
  CHECK(connect_rc(port, v5, "r1", "bob", "b0b") == 0x86);

  REQUIRE(tern_passwd(file, "add", "bob", "b0b") == 0);
  REQUIRE(tern_passwd(file, "change", "alice", "new") == 0);
  REQUIRE(tern_passwd(file, "delete", "zed") == 0);
  reload(broker);
  CHECK(connect_rc(port, v5, "r2", "bob", "b0b") == 0x00);
  CHECK(connect_rc(port, v5, "r3", "alice", "old") == 0x86);
  CHECK(connect_rc(port, v5, "r4", "alice", "new") == 0x00);
  CHECK(connect_rc(port, ProtocolVersion::v311, "r5", "zed", "zzz") == 0x04);

  // alice and zed, connected before, are still connected and still served.
  auto bob = login(port, v5, "it-reload-bob", "bob", "b0b");
  CHECK(publish_rc(*bob, "t/public", 1) == 0);
  auto m = alice->recv_publish(5s);
  REQUIRE(m);
  CHECK(m->topic == "t/public");
  zed->publish("t/from-zed", "z", 1);
  m = alice->recv_publish(5s);
  REQUIRE(m);
  CHECK(m->topic == "t/from-zed");

  // An ACL change: bob may no longer write t/secret/#, alice may no longer read it.
  rewrite_config(broker, head +
                             "acl:\n  default: allow\n  rules:\n"
                             "    - {user: bob, topic: \"t/secret/#\", access: deny}\n"
                             "    - {user: alice, topic: \"t/secret/#\", access: deny}\n"
                             "    - {user: \"*\", topic: \"t/#\", access: readwrite}\n");
  reload(broker);
  CHECK(publish_rc(*bob, "t/secret/x", 1) == 0x87);
  CHECK(publish_rc(*bob, "t/open", 1) == 0x00);
  auto alice2 = login(port, ProtocolVersion::v311, "it-reload-new-alice", "alice", "new");
  CHECK(alice2->subscribe("t/secret/#", 1).reason_codes[0] == 0x80);
  zed->publish("t/secret/from-zed", "hidden from alice now", 1);  // zed has no deny rule
  zed->publish("t/after", "visible", 1);
  const auto got = drain_topics(*alice);
  CHECK(has(got, "t/open"));
  CHECK(has(got, "t/after"));
  CHECK_FALSE(has(got, "t/secret/x"));
  CHECK_FALSE(has(got, "t/secret/from-zed"));
  CHECK(alice->is_open());
  CHECK(zed->is_open());

  // A broken config is refused as a whole: the running rules stay.
  rewrite_config(broker, head + "acl: {default: maybe}\n");
  const std::size_t failed = log_count(broker, "reload failed");
  REQUIRE(::kill(broker.pid(), SIGHUP) == 0);
  for (int i = 0; i < 100 && log_count(broker, "reload failed") == failed; ++i) sleep_for(50ms);
  CHECK(log_count(broker, "reload failed") > failed);
  CHECK(publish_rc(*bob, "t/secret/y", 1) == 0x87);
  CHECK(connect_rc(port, v5, "r6", "bob", "b0b") == 0x00);
}

}  // namespace
}  // namespace tern::it
