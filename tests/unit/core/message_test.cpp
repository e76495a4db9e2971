// Message and its boxed properties: nothing allocated for a message without properties,
// deep copies, and take_props() keeping only what a PUBLISH may carry.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "broker/core/types.hpp"

namespace tern::core {
namespace {

TEST_CASE("a message without properties holds no box and reads as an empty set",
          "[core][message]") {
  Message m;
  CHECK(m.props.get() == nullptr);
  CHECK_FALSE(m.props->content_type.has_value());
  CHECK(m.props->user_properties.empty());
  m.take_props(codec::Properties{}, Time{});
  CHECK(m.props.get() == nullptr);
  CHECK_FALSE(m.expires_at.has_value());
  // One pointer in place of the ~500-byte property set.
  CHECK(sizeof(MessageProps) == sizeof(void*));
  CHECK(sizeof(Message) <= 160);
}

TEST_CASE("Properties::empty() agrees with == Properties{} for every single property",
          "[core][message]") {
  using P = codec::Properties;
  const std::vector<void (*)(P&)> set_one = {
      [](P& p) { p.payload_format_indicator = 0; },
      [](P& p) { p.message_expiry_interval = 0; },
      [](P& p) { p.content_type = ""; },
      [](P& p) { p.response_topic = ""; },
      [](P& p) { p.correlation_data = ""; },
      [](P& p) { p.subscription_identifiers = {1}; },
      [](P& p) { p.session_expiry_interval = 0; },
      [](P& p) { p.assigned_client_identifier = ""; },
      [](P& p) { p.server_keep_alive = 0; },
      [](P& p) { p.authentication_method = ""; },
      [](P& p) { p.authentication_data = ""; },
      [](P& p) { p.request_problem_information = 0; },
      [](P& p) { p.will_delay_interval = 0; },
      [](P& p) { p.request_response_information = 0; },
      [](P& p) { p.response_information = ""; },
      [](P& p) { p.server_reference = ""; },
      [](P& p) { p.reason_string = ""; },
      [](P& p) { p.receive_maximum = 1; },
      [](P& p) { p.topic_alias_maximum = 0; },
      [](P& p) { p.topic_alias = 1; },
      [](P& p) { p.maximum_qos = 0; },
      [](P& p) { p.retain_available = 0; },
      [](P& p) { p.user_properties = {{"", ""}}; },
      [](P& p) { p.maximum_packet_size = 1; },
      [](P& p) { p.wildcard_subscription_available = 0; },
      [](P& p) { p.subscription_identifier_available = 0; },
      [](P& p) { p.shared_subscription_available = 0; },
  };
  CHECK(P{}.empty());
  for (std::size_t i = 0; i < set_one.size(); ++i) {
    P p;
    set_one[i](p);
    INFO("property " << i);
    CHECK_FALSE(p == P{});
    CHECK_FALSE(p.empty());
  }
}

TEST_CASE("take_props drops per-delivery fields and turns the expiry into a deadline",
          "[core][message]") {
  codec::Properties p;
  p.topic_alias = 3;                             // [MQTT-3.3.2-7]
  p.subscription_identifiers = {7, 9};           // [MQTT-3.3.4-6]
  p.will_delay_interval = 30;                    // a will's, not the message's
  p.message_expiry_interval = 10;                // [MQTT-3.3.2-6]
  const Time now = Time{} + std::chrono::seconds(100);

  SECTION("with nothing else, no box is kept") {
    Message m;
    m.take_props(std::move(p), now);
    CHECK(m.props.get() == nullptr);
    REQUIRE(m.expires_at.has_value());
    CHECK(*m.expires_at == now + std::chrono::seconds(10));
  }
  SECTION("stored properties stay, in order") {
    p.content_type = "text/plain";
    p.user_properties = {{"a", "1"}, {"a", "2"}};  // order kept [MQTT-3.3.2-18]
    Message m;
    m.take_props(std::move(p), now);
    REQUIRE(m.props.get() != nullptr);
    CHECK(m.props->content_type == std::optional<std::string>("text/plain"));
    CHECK(m.props->user_properties == std::vector<codec::UserProperty>{{"a", "1"}, {"a", "2"}});
    CHECK_FALSE(m.props->topic_alias.has_value());
    CHECK(m.props->subscription_identifiers.empty());
    CHECK_FALSE(m.props->will_delay_interval.has_value());
    CHECK_FALSE(m.props->message_expiry_interval.has_value());
  }
}

TEST_CASE("copying a message copies its properties, not the box", "[core][message]") {
  Message a;
  codec::Properties p;
  p.response_topic = "reply/here";
  a.props = std::move(p);
  Message b = a;
  REQUIRE(b.props.get() != nullptr);
  CHECK(b.props.get() != a.props.get());
  CHECK(b.props == a.props);
  b.props.edit().response_topic = "elsewhere";
  CHECK(a.props->response_topic == std::optional<std::string>("reply/here"));
  b = Message{};
  CHECK(b.props.get() == nullptr);
  a.props = codec::Properties{};  // assigning an empty set frees the box
  CHECK(a.props.get() == nullptr);
}

}  // namespace
}  // namespace tern::core
