// Message and its boxed properties: nothing allocated for a message without properties,
// deep copies, and take_props() keeping only what a PUBLISH may carry.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

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
