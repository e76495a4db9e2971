// MQTT 5.0 property decoding with the per-packet allowed table (section 2.2.2.2, Table 2-4)
// and each property's value rules (sections 3.x.2.x).
#include "broker/codec/properties.hpp"

#include <array>

namespace tern::codec::detail {
namespace {

enum class ValueType : std::uint8_t { None, Byte, Two, Four, Varint, Utf8, Binary, Pair };

struct PropSpec {
  ValueType type = ValueType::None;  // None: not a property identifier
  std::uint16_t allowed = 0;         // PropContext bits
};

constexpr std::uint16_t bits(std::initializer_list<PropContext> cs) {
  std::uint16_t m = 0;
  for (PropContext c : cs) m = static_cast<std::uint16_t>(m | static_cast<std::uint16_t>(c));
  return m;
}

using C = PropContext;

// Table 2-4 (section 2.2.2.2): identifier -> data type and the packets it may appear in.
constexpr std::array<PropSpec, 0x2B> kSpecs = [] {
  std::array<PropSpec, 0x2B> t{};
  auto set = [&t](PropertyId id, ValueType type, std::uint16_t allowed) {
    t[static_cast<std::size_t>(id)] = PropSpec{type, allowed};
  };
  const std::uint16_t msg = bits({C::Publish, C::Will});
  set(PropertyId::PayloadFormatIndicator, ValueType::Byte, msg);
  set(PropertyId::MessageExpiryInterval, ValueType::Four, msg);
  set(PropertyId::ContentType, ValueType::Utf8, msg);
  set(PropertyId::ResponseTopic, ValueType::Utf8, msg);
  set(PropertyId::CorrelationData, ValueType::Binary, msg);
  set(PropertyId::SubscriptionIdentifier, ValueType::Varint, bits({C::Publish, C::Subscribe}));
  set(PropertyId::SessionExpiryInterval, ValueType::Four,
      bits({C::Connect, C::Connack, C::Disconnect}));
  set(PropertyId::AssignedClientIdentifier, ValueType::Utf8, bits({C::Connack}));
  set(PropertyId::ServerKeepAlive, ValueType::Two, bits({C::Connack}));
  set(PropertyId::AuthenticationMethod, ValueType::Utf8, bits({C::Connect, C::Connack, C::Auth}));
  set(PropertyId::AuthenticationData, ValueType::Binary, bits({C::Connect, C::Connack, C::Auth}));
  set(PropertyId::RequestProblemInformation, ValueType::Byte, bits({C::Connect}));
  set(PropertyId::WillDelayInterval, ValueType::Four, bits({C::Will}));
  set(PropertyId::RequestResponseInformation, ValueType::Byte, bits({C::Connect}));
  set(PropertyId::ResponseInformation, ValueType::Utf8, bits({C::Connack}));
  set(PropertyId::ServerReference, ValueType::Utf8, bits({C::Connack, C::Disconnect}));
  set(PropertyId::ReasonString, ValueType::Utf8,
      bits({C::Connack, C::PubAck, C::Suback, C::Unsuback, C::Disconnect, C::Auth}));
  set(PropertyId::ReceiveMaximum, ValueType::Two, bits({C::Connect, C::Connack}));
  set(PropertyId::TopicAliasMaximum, ValueType::Two, bits({C::Connect, C::Connack}));
  set(PropertyId::TopicAlias, ValueType::Two, bits({C::Publish}));
  set(PropertyId::MaximumQos, ValueType::Byte, bits({C::Connack}));
  set(PropertyId::RetainAvailable, ValueType::Byte, bits({C::Connack}));
  set(PropertyId::UserProperty, ValueType::Pair, 0x7FF);  // every packet with properties
  set(PropertyId::MaximumPacketSize, ValueType::Four, bits({C::Connect, C::Connack}));
  set(PropertyId::WildcardSubscriptionAvailable, ValueType::Byte, bits({C::Connack}));
  set(PropertyId::SubscriptionIdentifierAvailable, ValueType::Byte, bits({C::Connack}));
  set(PropertyId::SharedSubscriptionAvailable, ValueType::Byte, bits({C::Connack}));
  return t;
}();


// Stores a single-occurrence property. A second occurrence is a Protocol Error: each
// property's section says "It is a Protocol Error to include ... more than once".
template <class T, class V>
bool store_once(std::optional<T>& slot, V&& value, Failure& f) {
  if (slot.has_value()) return protocol_error(f, "[MQTT-2.2.2] property included more than once");
  slot.emplace(std::forward<V>(value));
  return true;
}

// For properties whose only legal values are 0 and 1, each section says: "It is a Protocol
// Error to include X more than once, or to have a value other than 0 or 1".
bool store_bool_byte(std::optional<std::uint8_t>& slot, std::uint8_t v, const char* detail,
                     Failure& f) {
  if (v > 1) return protocol_error(f, detail);
  return store_once(slot, v, f);
}

}  // namespace

bool decode_properties(wire::Reader& r, PropContext ctx, Properties& out, Failure& f) {
  std::uint32_t len = 0;
  switch (r.varint(len)) {
    case wire::VarintStatus::Ok: break;
    case wire::VarintStatus::Truncated:
      return malformed(f, "[MQTT-2.2.2] property length missing or truncated");
    case wire::VarintStatus::Malformed:
      return malformed(f, "[MQTT-1.5.5-1] property length is not a valid variable byte integer");
  }
  if (len > r.remaining()) return malformed(f, "[MQTT-2.2.2] property length overruns the packet");
  wire::Reader pr = r.take(len);
  const auto ctx_bit = static_cast<std::uint16_t>(ctx);

  while (!pr.empty()) {
    std::uint8_t id = 0;
    pr.u8(id);
    // The identifier is a Variable Byte Integer, but every defined one is a single byte
    // below 0x80; anything else is unknown [MQTT-2.2.2.2].
    if (id >= kSpecs.size() || kSpecs[id].type == ValueType::None) {
      return malformed(f, "[MQTT-2.2.2.2] unknown property identifier");
    }
    const PropSpec spec = kSpecs[id];
    if ((spec.allowed & ctx_bit) == 0) {
      return malformed(f, "[MQTT-2.2.2.2] property not valid for this packet type");
    }

    std::uint8_t b = 0;
    std::uint16_t two = 0;
    std::uint32_t four = 0;
    std::string_view s1, s2;
    bool ok = true;
    switch (spec.type) {
      case ValueType::Byte: ok = pr.u8(b); break;
      case ValueType::Two: ok = pr.u16(two); break;
      case ValueType::Four: ok = pr.u32(four); break;
      case ValueType::Varint: {
        const wire::VarintStatus vs = pr.varint(four);
        if (vs == wire::VarintStatus::Malformed) {
          return malformed(f, "[MQTT-1.5.5-1] property value is not a valid variable byte integer");
        }
        ok = vs == wire::VarintStatus::Ok;
        break;
      }
      case ValueType::Utf8:
      case ValueType::Binary: ok = pr.prefixed(s1); break;
      case ValueType::Pair: ok = pr.prefixed(s1) && pr.prefixed(s2); break;
      case ValueType::None: break;
    }
    if (!ok) return malformed(f, "[MQTT-2.2.2] property value overruns the property length");
    if ((spec.type == ValueType::Utf8 || spec.type == ValueType::Pair) &&
        !(valid_utf8(s1) && valid_utf8(s2))) {
      return malformed(f, "[MQTT-1.5.4-1] property string is not valid UTF-8");
    }

    bool stored = true;
    switch (static_cast<PropertyId>(id)) {
      case PropertyId::PayloadFormatIndicator:
        stored = store_bool_byte(out.payload_format_indicator, b,
                                 "[MQTT-3.3.2.3.2] payload format indicator is not 0 or 1", f);
        break;
      case PropertyId::MessageExpiryInterval:
        stored = store_once(out.message_expiry_interval, four, f);
        break;
      case PropertyId::ContentType:
        stored = store_once(out.content_type, s1, f);
        break;
      case PropertyId::ResponseTopic:
        // [MQTT-3.3.2-14] a Topic Name: no wildcards (and, as any Topic Name, not empty).
        if (!valid_topic_name(s1)) {
          return protocol_error(f, "[MQTT-3.3.2-14] response topic is not a valid topic name");
        }
        stored = store_once(out.response_topic, s1, f);
        break;
      case PropertyId::CorrelationData:
        stored = store_once(out.correlation_data, s1, f);
        break;
      case PropertyId::SubscriptionIdentifier:
        // [MQTT-3.8.2.1.2] 1..268,435,455; "It is a Protocol Error if the Subscription
        // Identifier has a value of 0". Only PUBLISH may carry several [MQTT-3.3.4-4].
        if (four == 0) return protocol_error(f, "[MQTT-3.8.2.1.2] subscription identifier 0");
        if (ctx != PropContext::Publish && !out.subscription_identifiers.empty()) {
          return protocol_error(f, "[MQTT-3.8.2.1.2] subscription identifier more than once");
        }
        out.subscription_identifiers.push_back(four);
        break;
      case PropertyId::SessionExpiryInterval:
        stored = store_once(out.session_expiry_interval, four, f);
        break;
      case PropertyId::AssignedClientIdentifier:
        stored = store_once(out.assigned_client_identifier, s1, f);
        break;
      case PropertyId::ServerKeepAlive:
        stored = store_once(out.server_keep_alive, two, f);
        break;
      case PropertyId::AuthenticationMethod:
        stored = store_once(out.authentication_method, s1, f);
        break;
      case PropertyId::AuthenticationData:
        stored = store_once(out.authentication_data, s1, f);
        break;
      case PropertyId::RequestProblemInformation:
        stored = store_bool_byte(out.request_problem_information, b,
                                 "[MQTT-3.1.2.11.7] request problem information is not 0 or 1", f);
        break;
      case PropertyId::WillDelayInterval:
        stored = store_once(out.will_delay_interval, four, f);
        break;
      case PropertyId::RequestResponseInformation:
        stored = store_bool_byte(out.request_response_information, b,
                                 "[MQTT-3.1.2.11.6] request response information is not 0 or 1",
                                 f);
        break;
      case PropertyId::ResponseInformation:
        stored = store_once(out.response_information, s1, f);
        break;
      case PropertyId::ServerReference:
        stored = store_once(out.server_reference, s1, f);
        break;
      case PropertyId::ReasonString:
        stored = store_once(out.reason_string, s1, f);
        break;
      case PropertyId::ReceiveMaximum:
        // [MQTT-3.1.2.11.3] / [MQTT-3.2.2.3.3] "a Protocol Error ... to have the value 0".
        if (two == 0) return protocol_error(f, "[MQTT-3.1.2.11.3] receive maximum 0");
        stored = store_once(out.receive_maximum, two, f);
        break;
      case PropertyId::TopicAliasMaximum:
        stored = store_once(out.topic_alias_maximum, two, f);
        break;
      case PropertyId::TopicAlias:
        // [MQTT-3.3.2-8] a Topic Alias of 0 is not permitted. 0x94 Topic Alias invalid is
        // defined only for an alias above the maximum, so this is a Protocol Error (4.13).
        if (two == 0) return protocol_error(f, "[MQTT-3.3.2-8] topic alias 0");
        stored = store_once(out.topic_alias, two, f);
        break;
      case PropertyId::MaximumQos:
        stored = store_bool_byte(out.maximum_qos, b,
                                 "[MQTT-3.2.2.3.4] maximum QoS is not 0 or 1", f);
        break;
      case PropertyId::RetainAvailable:
        stored = store_bool_byte(out.retain_available, b,
                                 "[MQTT-3.2.2.3.5] retain available is not 0 or 1", f);
        break;
      case PropertyId::UserProperty:
        out.user_properties.emplace_back(s1, s2);
        break;
      case PropertyId::MaximumPacketSize:
        // [MQTT-3.1.2.11.4] / [MQTT-3.2.2.3.6] "a Protocol Error ... for the value to be
        // set to zero".
        if (four == 0) return protocol_error(f, "[MQTT-3.1.2.11.4] maximum packet size 0");
        stored = store_once(out.maximum_packet_size, four, f);
        break;
      case PropertyId::WildcardSubscriptionAvailable:
        stored = store_bool_byte(out.wildcard_subscription_available, b,
                                 "[MQTT-3.2.2.3.11] wildcard subscription available is not 0 or 1",
                                 f);
        break;
      case PropertyId::SubscriptionIdentifierAvailable:
        stored = store_bool_byte(
            out.subscription_identifier_available, b,
            "[MQTT-3.2.2.3.12] subscription identifier available is not 0 or 1", f);
        break;
      case PropertyId::SharedSubscriptionAvailable:
        stored = store_bool_byte(out.shared_subscription_available, b,
                                 "[MQTT-3.2.2.3.13] shared subscription available is not 0 or 1",
                                 f);
        break;
    }
    if (!stored) return false;
  }

  // [MQTT-3.1.2.11.10] / [MQTT-3.2.2.3.18] / [MQTT-3.15.2.2.3]: "It is a Protocol Error to
  // include Authentication Data if there is no Authentication Method".
  if (out.authentication_data && !out.authentication_method) {
    return protocol_error(f, "[MQTT-3.1.2.11.10] authentication data without method");
  }
  return true;
}

}  // namespace tern::codec::detail
