// Operations end to end (issue 8) with the real `tern` binary: the $SYS tree published
// every sys_topics.interval (values after known traffic, only changes republished, never
// matched by a leading wildcard [MQTT-4.7.2-1], off with interval 0) and read access to it
// governed by the ACL. `ctest -R '^integration_ops:'`.
#include <map>
#include <regex>

#include "tests/integration/harness/common.hpp"
#include "tests/integration/harness/security.hpp"

namespace tern::it {
namespace {

// Latest payload per $SYS topic and how often each topic arrived.
struct SysView {
  std::map<std::string, std::string> latest;
  std::map<std::string, int> count;
  void add(const codec::Publish& p) {
    latest[std::string(p.topic)] = std::string(p.payload);
    ++count[std::string(p.topic)];
  }
  std::string get(const std::string& suffix) const {
    const auto it = latest.find("$SYS/broker/" + suffix);
    return it == latest.end() ? std::string() : it->second;
  }
};

// Reads PUBLISHes into `view` until `done(view)` holds or `timeout` passes.
template <class Done>
bool read_until(RawClient& c, SysView& view, Millis timeout, Done done) {
  const Stopwatch sw;
  while (sw.elapsed() < timeout) {
    if (done(view)) return true;
    if (auto p = c.recv_publish(Millis(200))) view.add(*p);
  }
  return done(view);
}

std::unique_ptr<RawClient> login(std::uint16_t port, ProtocolVersion v, const std::string& id,
                                 const std::string& user) {
  auto c = std::make_unique<RawClient>(port, v);
  codec::Connect con;
  con.client_id = id;
  con.username = user;
  con.password = "pw";
  INFO("login " << user);
  REQUIRE(c->connect(con).reason_code == 0);
  return c;
}

}  // namespace

// [MQTT-4.7.2-1] '#' and '+' never match $SYS. (Test names avoid ',', ';' and brackets:
// CTest and Catch read them as list separators and tags.)
TEST_CASE("$SYS: a $SYS/# subscriber sees version and uptime and clients and traffic after "
          "known traffic while '#' and '+' never match $SYS and unchanged values are not "
          "republished") {
  if (TernBroker::reference_mode()) return;
  TernBroker broker({"sys_topics: {interval: 1s}\n"});
  RawClient all(broker.port(), ProtocolVersion::v5);
  REQUIRE(all.connect("it-ops-all").reason_code == 0);
  REQUIRE(all.subscribe("#", 0).reason_codes[0] == 0);
  REQUIRE(all.subscribe("+/broker/uptime", 0).reason_codes[0] == 0);

  RawClient pub(broker.port(), ProtocolVersion::v311);
  REQUIRE(pub.connect("it-ops-pub").reason_code == 0);
  for (int i = 0; i < 5; ++i) pub.publish("ops/t", "0123456789", 1);  // 5 messages, 50 bytes

  RawClient sys(broker.port(), ProtocolVersion::v311);
  REQUIRE(sys.connect("it-ops-sys").reason_code == 0);
  REQUIRE(sys.subscribe("$SYS/#", 0).reason_codes[0] == 0);

  SysView view;
  const bool settled = read_until(sys, view, 8s, [](const SysView& v) {
    return v.get("clients/connected") == "3" && v.get("messages/received") == "5" &&
           v.get("bytes/received") == "50";
  });
  INFO("clients/connected=" << view.get("clients/connected")
                            << " messages/received=" << view.get("messages/received")
                            << " bytes/received=" << view.get("bytes/received"));
  REQUIRE(settled);
  // The rest of that round (one round arrives back to back; rounds are a second apart).
  while (auto p = sys.recv_publish(Millis(300))) view.add(*p);
  CHECK(std::regex_match(view.get("version"), std::regex("tern version [0-9]+\\.[0-9]+\\.[0-9]+.*")));
  CHECK(std::regex_match(view.get("uptime"), std::regex("[0-9]+ seconds")));
  CHECK(std::stoi(view.get("uptime")) < 60);
  CHECK(view.get("clients/maximum") == "3");
  CHECK(view.get("clients/disconnected") == "0");
  CHECK(view.get("subscriptions/count") == "3");
  CHECK(view.get("messages/dropped/queue_full") == "0");
  CHECK(std::regex_match(view.get("load/messages/received/1min"), std::regex("[0-9]+\\.[0-9]{2}")));

  // Over three more rounds uptime keeps changing; version never does, so the subscriber
  // got it once (the retained copy at SUBSCRIBE) [change detection].
  const int uptime_before = view.count["$SYS/broker/uptime"];
  read_until(sys, view, 3500ms, [](const SysView&) { return false; });
  CHECK(view.count["$SYS/broker/uptime"] >= uptime_before + 2);
  CHECK(view.count["$SYS/broker/version"] == 1);

  // A client leaving shows in the next round.
  pub.disconnect();
  CHECK(read_until(sys, view, 4s,
                   [](const SysView& v) { return v.get("clients/connected") == "2"; }));

  // The '#' and '+/broker/uptime' subscriber got the application messages, nothing of $SYS.
  int app_messages = 0;
  while (auto p = all.recv_publish(Millis(300))) {
    CHECK(std::string(p->topic).rfind('$', 0) == std::string::npos);
    ++app_messages;
  }
  CHECK(app_messages == 5);
}

TEST_CASE("$SYS: interval 0 publishes nothing") {
  if (TernBroker::reference_mode()) return;
  TernBroker broker({"sys_topics: {interval: 0s}\n"});
  RawClient sys(broker.port(), ProtocolVersion::v5);
  REQUIRE(sys.connect("it-ops-off").reason_code == 0);
  REQUIRE(sys.subscribe("$SYS/#", 0).reason_codes[0] == 0);
  CHECK(sys.no_publish_for(2500ms));
}

TEST_CASE("$SYS: read access follows the ACL: denied $SYS/# refused at SUBSCRIBE and a "
          "denied subtree filtered from deliveries") {
  if (TernBroker::reference_mode()) return;
  const std::string dir = make_temp_dir("tern-it-ops-acl");
  const std::string file = dir + "/passwd";
  for (const char* u : {"admin", "dash", "mon"}) REQUIRE(tern_passwd(file, "add", u, "pw") == 0);
  TernBroker broker({"sys_topics: {interval: 1s}\n"
                     "auth: {allow_anonymous: false, password_file: \"" + file + "\"}\n"
                     "acl:\n"
                     "  default: deny\n"
                     "  rules:\n"
                     "    - {user: admin, topic: \"$SYS/#\", access: read}\n"
                     "    - {user: dash, topic: \"#\", access: read}\n"
                     "    - {user: dash, topic: \"$SYS/#\", access: deny}\n"
                     "    - {user: mon, topic: \"$SYS/#\", access: read}\n"
                     "    - {user: mon, topic: \"$SYS/broker/clients/#\", access: deny}\n"});
  for (const auto v : {ProtocolVersion::v5, ProtocolVersion::v311}) {
    INFO(version_name(v));
    auto dash = login(broker.port(), v, std::string("it-ops-dash-") + version_name(v), "dash");
    CHECK(dash->subscribe("$SYS/#", 0).reason_codes[0] ==
          (v == ProtocolVersion::v5 ? 0x87 : 0x80));
    CHECK(dash->subscribe("$SYS/broker/uptime", 0).reason_codes[0] ==
          (v == ProtocolVersion::v5 ? 0x87 : 0x80));
    CHECK(dash->subscribe("#", 0).reason_codes[0] == 0);
    CHECK(dash->no_publish_for(1500ms));  // '#' matches no $SYS topic, nothing else is published
  }

  auto admin = login(broker.port(), ProtocolVersion::v5, "it-ops-admin", "admin");
  REQUIRE(admin->subscribe("$SYS/#", 0).reason_codes[0] == 0);
  auto mon = login(broker.port(), ProtocolVersion::v5, "it-ops-mon", "mon");
  REQUIRE(mon->subscribe("$SYS/#", 0).reason_codes[0] == 0);

  SysView admin_view;
  CHECK(read_until(*admin, admin_view, 5s, [](const SysView& v) {
    return !v.get("clients/connected").empty() && !v.get("uptime").empty();
  }));
  SysView mon_view;
  read_until(*mon, mon_view, 2500ms, [](const SysView&) { return false; });
  CHECK(!mon_view.get("uptime").empty());
  CHECK(!mon_view.get("version").empty());
  for (const auto& [topic, payload] : mon_view.latest) {
    INFO(topic);
    CHECK(topic.rfind("$SYS/broker/clients/", 0) == std::string::npos);
  }
}

}  // namespace tern::it
