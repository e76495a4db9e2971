// Debian's mosquitto_pub / mosquitto_sub (libmosquitto, an independent implementation)
// against the real broker, as subprocesses with timeouts.
#include <sstream>
#include <vector>

#include "tests/integration/harness/common.hpp"

namespace tern::it {
namespace {

struct Received {
  std::string topic;
  int qos = -1;
  int retain = -1;
  std::string payload;
};

// Our -F format: one line per message, marked so debug lines (-d) are skipped.
constexpr const char* kFormat = "MSG|%t|%q|%r|%p";

std::vector<Received> parse_messages(const std::string& output) {
  std::vector<Received> out;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MSG|", 0) != 0) continue;
    std::vector<std::string> f;
    std::size_t pos = 4;
    for (int i = 0; i < 3; ++i) {
      const auto bar = line.find('|', pos);
      if (bar == std::string::npos) break;
      f.push_back(line.substr(pos, bar - pos));
      pos = bar + 1;
    }
    if (f.size() != 3) continue;
    out.push_back({f[0], std::atoi(f[1].c_str()), std::atoi(f[2].c_str()), line.substr(pos)});
  }
  return out;
}

std::vector<std::string> base_args(const std::string& tool, const TernBroker& b,
                                   const std::string& version) {
  return {tool, "-h", "127.0.0.1", "-p", std::to_string(b.port()), "-V", version};
}

CommandResult pub(const TernBroker& b, const std::string& version,
                  std::vector<std::string> extra, const std::string& out) {
  auto argv = base_args("mosquitto_pub", b, version);
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run_command(argv, 10s, out);
}

TEST_CASE("mosquitto_pub and mosquitto_sub round trip through the broker (QoS 0/1/2, mqttv311 "
          "and mqttv5)") {
  const std::string version = GENERATE(std::string("mqttv311"), std::string("mqttv5"));
  INFO("mosquitto clients -V " << version);
  TernBroker broker;

  // Line-buffered stdout (stdbuf) so the debug line for the SUBACK is visible at once.
  std::vector<std::string> argv = {"stdbuf", "-oL"};
  for (auto& a : base_args("mosquitto_sub", broker, version)) argv.push_back(a);
  for (std::string a : {"-d", "-q", "2", "-t", "it/mosq/#", "-C", "3", "-W", "15", "-F", kFormat})
    argv.push_back(a);
  const std::string sub_out = broker.dir() + "/sub.out";
  register_test_log("mosquitto_sub output", sub_out);
  Subprocess sub(argv, sub_out);

  // Publish only once the subscription is in place: -d prints the SUBACK it receives.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (read_file(sub_out).find("received SUBACK") == std::string::npos) {
    REQUIRE(sub.running());
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    sleep_for(20ms);
  }

  for (int q = 0; q <= 2; ++q) {
    const auto out = broker.dir() + "/pub" + std::to_string(q) + ".out";
    register_test_log("mosquitto_pub -q " + std::to_string(q), out);
    const auto r = pub(broker, version,
                       {"-q", std::to_string(q), "-t", "it/mosq/q" + std::to_string(q), "-m",
                        "payload " + std::to_string(q)},
                       out);
    REQUIRE_FALSE(r.timed_out);
    REQUIRE(r.status == 0);
  }

  const auto status = sub.wait_for(10s);
  REQUIRE(status.has_value());  // -C 3: exits after three messages
  CHECK(*status == 0);
  auto msgs = parse_messages(read_file(sub_out));
  REQUIRE(msgs.size() == 3);
  for (const auto& m : msgs) {
    INFO("topic " << m.topic);
    REQUIRE(m.topic.size() == 10);
    const int q = m.topic[9] - '0';
    CHECK(m.topic == "it/mosq/q" + std::to_string(q));
    CHECK(m.qos == q);  // subscription at QoS 2: delivered at the published QoS
    CHECK(m.retain == 0);
    CHECK(m.payload == "payload " + std::to_string(q));
  }
}

TEST_CASE("mosquitto_pub -r retains a message for later mosquitto_sub, -r -n clears it "
          "(mqttv311 and mqttv5)") {
  const std::string version = GENERATE(std::string("mqttv311"), std::string("mqttv5"));
  INFO("mosquitto clients -V " << version);
  TernBroker broker;
  const std::string d = broker.dir();

  auto r = pub(broker, version, {"-r", "-q", "2", "-t", "it/mosq/ret", "-m", "kept"}, d + "/p1");
  REQUIRE(r.status == 0);

  auto sub_argv = base_args("mosquitto_sub", broker, version);
  for (std::string a : {"-q", "1", "-t", "it/mosq/ret", "-C", "1", "-W", "5", "-F", kFormat})
    sub_argv.push_back(a);
  r = run_command(sub_argv, 10s, d + "/s1");
  INFO("mosquitto_sub output: " << r.output);
  REQUIRE(r.status == 0);
  auto msgs = parse_messages(r.output);
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].topic == "it/mosq/ret");
  CHECK(msgs[0].payload == "kept");
  CHECK(msgs[0].retain == 1);  // 3.1.1 [MQTT-3.3.1-8]: sent because of a new subscription
  CHECK(msgs[0].qos == 1);     // min(2, 1)

  // 3.1.1 [MQTT-3.3.1-10], 5.0 [MQTT-3.3.1-6]: an empty retained message removes it.
  r = pub(broker, version, {"-r", "-n", "-t", "it/mosq/ret"}, d + "/p2");
  REQUIRE(r.status == 0);
  auto sub2 = base_args("mosquitto_sub", broker, version);
  for (std::string a : {"-t", "it/mosq/ret", "-C", "1", "-W", "2", "-F", kFormat})
    sub2.push_back(a);
  r = run_command(sub2, 10s, d + "/s2");
  INFO("mosquitto_sub output: " << r.output);
  CHECK_FALSE(r.timed_out);
  CHECK(parse_messages(r.output).empty());
}

}  // namespace
}  // namespace tern::it
