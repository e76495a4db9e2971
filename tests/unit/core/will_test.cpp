// Will messages: when they are published, delayed, cancelled, and what they carry.
#include "tests/unit/core/harness.hpp"

namespace tern::core::test {
namespace {

using codec::ReasonCode;

struct WillFixture {
  Harness h;
  ConnId watcher = h.connect("watcher");
  WillFixture() { h.subscribe(watcher, "will/#", 2); }
  std::vector<std::string> wills() { return h.payloads(watcher); }
};

TEST_CASE("MQTT-3.1.2-8 will published when the connection is lost", "[core][will]") {
  WillFixture f;
  for (auto v : {ProtocolVersion::v5, ProtocolVersion::v311}) {
    f.h.clear(f.watcher);
    ConnectArgs a{"dev", v};
    a.will = make_will("will/dev", "offline", 1);
    const ConnId c = f.h.connect(a);
    CHECK(f.wills().empty());
    f.h.closed(c);
    CHECK(f.wills() == std::vector<std::string>{"offline"});
    CHECK(f.h.inbox(f.watcher).publishes().at(0).qos == 1);
  }
}

TEST_CASE("MQTT-3.1.2-10 no will after DISCONNECT 0x00 (and any 3.1.1 DISCONNECT)",
          "[core][will]") {
  WillFixture f;
  for (auto v : {ProtocolVersion::v5, ProtocolVersion::v311}) {
    ConnectArgs a{"dev", v};
    a.will = make_will("will/dev", "offline");
    const ConnId c = f.h.connect(a);
    f.h.disconnect(c, 0);
    CHECK(f.h.inbox(c).closed());
    f.h.closed(c);
    CHECK(f.wills().empty());
  }
}

TEST_CASE("DISCONNECT 0x04 publishes the will", "[core][will]") {
  WillFixture f;
  ConnectArgs a{"dev"};
  a.will = make_will("will/dev", "bye");
  const ConnId c = f.h.connect(a);
  f.h.disconnect(c, u8(ReasonCode::DisconnectWithWillMessage));
  CHECK(f.h.inbox(c).closed());
  CHECK(f.wills() == std::vector<std::string>{"bye"});
  f.h.closed(c);
  CHECK(f.wills().size() == 1);  // not twice
}

TEST_CASE("keep-alive expiry publishes the will", "[core][will][keepalive]") {
  WillFixture f;
  ConnectArgs a{"dev"};
  a.keep_alive = 4;
  a.will = make_will("will/dev", "timeout");
  const ConnId c = f.h.connect(a);
  f.h.advance(5s);
  CHECK(f.wills().empty());
  f.h.advance(1s);
  CHECK(f.h.inbox(c).closed());
  CHECK(f.wills() == std::vector<std::string>{"timeout"});
}

TEST_CASE("protocol error publishes the will", "[core][will]") {
  WillFixture f;
  ConnectArgs a{"dev"};
  a.will = make_will("will/dev", "bad");
  const ConnId c = f.h.connect(a);
  f.h.send(c, Harness::make_connect({"dev"}));  // second CONNECT
  CHECK(f.wills() == std::vector<std::string>{"bad"});
}

TEST_CASE("MQTT-3.1.3-9 will delay: published after the delay, cancelled by a reconnect",
          "[core][will]") {
  WillFixture f;
  ConnectArgs a{"dev"};
  a.clean_start = false;
  a.props.session_expiry_interval = 3600;
  a.will = make_will("will/dev", "late", 0, false, 30);
  SECTION("published when the delay passes") {
    const ConnId c = f.h.connect(a);
    f.h.closed(c);
    f.h.advance(29s);
    CHECK(f.wills().empty());
    f.h.advance(1s);
    CHECK(f.wills() == std::vector<std::string>{"late"});
  }
  SECTION("cancelled when the client reconnects in time") {
    const ConnId c = f.h.connect(a);
    f.h.closed(c);
    f.h.advance(10s);
    a.will.reset();
    f.h.connect(a);
    f.h.advance(60s);
    CHECK(f.wills().empty());
  }
  SECTION("published when the session ends first") {
    a.props.session_expiry_interval = 5;
    const ConnId c = f.h.connect(a);
    f.h.closed(c);
    f.h.advance(5s);
    CHECK(f.wills() == std::vector<std::string>{"late"});
    f.h.advance(60s);
    CHECK(f.wills().size() == 1);
  }
  SECTION("session expiry 0: published at close") {
    a.props.session_expiry_interval = 0;
    const ConnId c = f.h.connect(a);
    f.h.closed(c);
    CHECK(f.wills() == std::vector<std::string>{"late"});
  }
}

TEST_CASE("will properties and retain flag are carried into the message", "[core][will]") {
  WillFixture f;
  ConnectArgs a{"dev"};
  a.will = make_will("will/dev", "r", 0, true);
  a.will->props.content_type = "text/plain";
  a.will->props.user_properties.push_back({"k", "v"});
  a.will->props.message_expiry_interval = 100;
  const ConnId c = f.h.connect(a);
  f.h.closed(c);
  auto pubs = f.h.inbox(f.watcher).publishes();
  REQUIRE(pubs.size() == 1);
  CHECK(pubs[0].msg->props->content_type == std::optional<std::string>("text/plain"));
  CHECK(pubs[0].msg->props->user_properties.size() == 1);
  CHECK_FALSE(pubs[0].msg->props->will_delay_interval);
  CHECK(pubs[0].message_expiry_interval == std::optional<std::uint32_t>(100));
  CHECK(pubs[0].msg->retain);
  CHECK(f.h.stats().retained_messages == 1);  // will retain honoured
  const ConnId late = f.h.connect("late");
  f.h.subscribe(late, "will/dev");
  CHECK(f.h.payloads(late) == std::vector<std::string>{"r"});
}

}  // namespace
}  // namespace tern::core::test
