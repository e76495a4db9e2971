// Typed MQTT 3.1.1 and 5.0 control packets: the data model shared by codec, core and net.
// Plain value types that own their data; no behaviour beyond construction.
// Thread safety: values, safe to move between threads; no shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace tern::codec {

// Binary data (payloads, passwords, correlation data) is held in std::string: contiguous,
// cheap to move, small-buffer optimised. It is never assumed to be text.
using Bytes = std::string;

// Protocol level byte of CONNECT [MQTT-3.1.2-2]. Level 3 (MQTT 3.1, "MQIsdp") is refused.
enum class ProtocolVersion : std::uint8_t { v311 = 4, v5 = 5 };

enum class PacketType : std::uint8_t {
  Connect = 1, Connack = 2, Publish = 3, Puback = 4, Pubrec = 5, Pubrel = 6, Pubcomp = 7,
  Subscribe = 8, Suback = 9, Unsubscribe = 10, Unsuback = 11, Pingreq = 12, Pingresp = 13,
  Disconnect = 14, Auth = 15,
};

// MQTT 5.0 reason codes (section 2.4). Several names share a value, as in the spec.
enum class ReasonCode : std::uint8_t {
  Success = 0x00,
  NormalDisconnection = 0x00,
  GrantedQos0 = 0x00,
  GrantedQos1 = 0x01,
  GrantedQos2 = 0x02,
  DisconnectWithWillMessage = 0x04,
  NoMatchingSubscribers = 0x10,
  NoSubscriptionExisted = 0x11,
  ContinueAuthentication = 0x18,
  ReAuthenticate = 0x19,
  UnspecifiedError = 0x80,
  MalformedPacket = 0x81,
  ProtocolError = 0x82,
  ImplementationSpecificError = 0x83,
  UnsupportedProtocolVersion = 0x84,
  ClientIdentifierNotValid = 0x85,
  BadUserNameOrPassword = 0x86,
  NotAuthorized = 0x87,
  ServerUnavailable = 0x88,
  ServerBusy = 0x89,
  Banned = 0x8A,
  ServerShuttingDown = 0x8B,
  BadAuthenticationMethod = 0x8C,
  KeepAliveTimeout = 0x8D,
  SessionTakenOver = 0x8E,
  TopicFilterInvalid = 0x8F,
  TopicNameInvalid = 0x90,
  PacketIdentifierInUse = 0x91,
  PacketIdentifierNotFound = 0x92,
  ReceiveMaximumExceeded = 0x93,
  TopicAliasInvalid = 0x94,
  PacketTooLarge = 0x95,
  MessageRateTooHigh = 0x96,
  QuotaExceeded = 0x97,
  AdministrativeAction = 0x98,
  PayloadFormatInvalid = 0x99,
  RetainNotSupported = 0x9A,
  QosNotSupported = 0x9B,
  UseAnotherServer = 0x9C,
  ServerMoved = 0x9D,
  SharedSubscriptionsNotSupported = 0x9E,
  ConnectionRateExceeded = 0x9F,
  MaximumConnectTime = 0xA0,
  SubscriptionIdentifiersNotSupported = 0xA1,
  WildcardSubscriptionsNotSupported = 0xA2,
};

// MQTT 3.1.1 CONNACK return codes (section 3.2.2.3).
enum class ConnackCode311 : std::uint8_t {
  Accepted = 0x00,
  UnacceptableProtocolVersion = 0x01,
  IdentifierRejected = 0x02,
  ServerUnavailable = 0x03,
  BadUserNameOrPassword = 0x04,
  NotAuthorized = 0x05,
};

// MQTT 5.0 property identifiers (section 2.2.2.2).
enum class PropertyId : std::uint8_t {
  PayloadFormatIndicator = 0x01,
  MessageExpiryInterval = 0x02,
  ContentType = 0x03,
  ResponseTopic = 0x08,
  CorrelationData = 0x09,
  SubscriptionIdentifier = 0x0B,
  SessionExpiryInterval = 0x11,
  AssignedClientIdentifier = 0x12,
  ServerKeepAlive = 0x13,
  AuthenticationMethod = 0x15,
  AuthenticationData = 0x16,
  RequestProblemInformation = 0x17,
  WillDelayInterval = 0x18,
  RequestResponseInformation = 0x19,
  ResponseInformation = 0x1A,
  ServerReference = 0x1C,
  ReasonString = 0x1F,
  ReceiveMaximum = 0x21,
  TopicAliasMaximum = 0x22,
  TopicAlias = 0x23,
  MaximumQos = 0x24,
  RetainAvailable = 0x25,
  UserProperty = 0x26,
  MaximumPacketSize = 0x27,
  WildcardSubscriptionAvailable = 0x28,
  SubscriptionIdentifierAvailable = 0x29,
  SharedSubscriptionAvailable = 0x2A,
};

using UserProperty = std::pair<std::string, std::string>;

// The MQTT 5.0 properties of any packet. The decoder only fills the ones allowed for the
// packet being decoded; the encoder writes whichever are set (v5 only; ignored for 3.1.1).
struct Properties {
  std::optional<std::uint8_t> payload_format_indicator;
  std::optional<std::uint32_t> message_expiry_interval;
  std::optional<std::string> content_type;
  std::optional<std::string> response_topic;
  std::optional<Bytes> correlation_data;
  std::vector<std::uint32_t> subscription_identifiers;  // PUBLISH may carry several
  std::optional<std::uint32_t> session_expiry_interval;
  std::optional<std::string> assigned_client_identifier;
  std::optional<std::uint16_t> server_keep_alive;
  std::optional<std::string> authentication_method;
  std::optional<Bytes> authentication_data;
  std::optional<std::uint8_t> request_problem_information;
  std::optional<std::uint32_t> will_delay_interval;
  std::optional<std::uint8_t> request_response_information;
  std::optional<std::string> response_information;
  std::optional<std::string> server_reference;
  std::optional<std::string> reason_string;
  std::optional<std::uint16_t> receive_maximum;
  std::optional<std::uint16_t> topic_alias_maximum;
  std::optional<std::uint16_t> topic_alias;
  std::optional<std::uint8_t> maximum_qos;
  std::optional<std::uint8_t> retain_available;
  std::vector<UserProperty> user_properties;  // order preserved [MQTT-3.3.2-18]
  std::optional<std::uint32_t> maximum_packet_size;
  std::optional<std::uint8_t> wildcard_subscription_available;
  std::optional<std::uint8_t> subscription_identifier_available;
  std::optional<std::uint8_t> shared_subscription_available;

  bool operator==(const Properties&) const = default;
  // No property set: == Properties{}, without the field-by-field comparison (once per
  // PUBLISH, and most carry none).
  bool empty() const noexcept {
    return !payload_format_indicator && !message_expiry_interval && !content_type &&
           !response_topic && !correlation_data && subscription_identifiers.empty() &&
           !session_expiry_interval && !assigned_client_identifier && !server_keep_alive &&
           !authentication_method && !authentication_data && !request_problem_information &&
           !will_delay_interval && !request_response_information && !response_information &&
           !server_reference && !reason_string && !receive_maximum &&
           !topic_alias_maximum && !topic_alias && !maximum_qos && !retain_available &&
           user_properties.empty() && !maximum_packet_size &&
           !wildcard_subscription_available && !subscription_identifier_available &&
           !shared_subscription_available;
  }
};

struct Will {
  std::string topic;
  Bytes payload;
  std::uint8_t qos = 0;
  bool retain = false;
  Properties props;  // will properties (v5): delay, expiry, format, content type, ...
  bool operator==(const Will&) const = default;
};

struct Connect {
  ProtocolVersion version = ProtocolVersion::v5;
  bool clean_start = true;  // "clean session" in 3.1.1
  std::uint16_t keep_alive = 0;  // seconds
  std::string client_id;
  std::optional<Will> will;
  std::optional<std::string> username;
  std::optional<Bytes> password;
  Properties props;
  bool operator==(const Connect&) const = default;
};

struct Connack {
  bool session_present = false;
  // v5: a ReasonCode value. 3.1.1: a ConnackCode311 value.
  std::uint8_t reason_code = 0;
  Properties props;
  bool operator==(const Connack&) const = default;
};

struct Publish {
  // User-provided: value-initialising an implicit one makes GCC zero all ~570 bytes first,
  // once per decoded PUBLISH.
  Publish() noexcept {}
  std::uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  std::string topic;  // may be empty in v5 when a topic alias is set
  std::uint16_t packet_id = 0;  // only for QoS > 0
  Bytes payload;
  Properties props;
  bool operator==(const Publish&) const = default;
};

// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape.
struct PubAck {
  std::uint16_t packet_id = 0;
  std::uint8_t reason_code = 0;  // v5 only
  Properties props;
  bool operator==(const PubAck&) const = default;
};
struct Puback : PubAck {};
struct Pubrec : PubAck {};
struct Pubrel : PubAck {};
struct Pubcomp : PubAck {};

struct SubscribeEntry {
  std::string filter;
  std::uint8_t max_qos = 0;
  bool no_local = false;            // v5
  bool retain_as_published = false; // v5
  std::uint8_t retain_handling = 0; // v5: 0, 1 or 2
  bool operator==(const SubscribeEntry&) const = default;
};

struct Subscribe {
  std::uint16_t packet_id = 0;
  std::vector<SubscribeEntry> entries;
  Properties props;  // subscription identifier, user properties
  bool operator==(const Subscribe&) const = default;
};

struct Suback {
  std::uint16_t packet_id = 0;
  std::vector<std::uint8_t> reason_codes;  // 3.1.1: 0,1,2 or 0x80
  Properties props;
  bool operator==(const Suback&) const = default;
};

struct Unsubscribe {
  std::uint16_t packet_id = 0;
  std::vector<std::string> filters;
  Properties props;
  bool operator==(const Unsubscribe&) const = default;
};

struct Unsuback {
  std::uint16_t packet_id = 0;
  std::vector<std::uint8_t> reason_codes;  // v5 only; 3.1.1 UNSUBACK has no payload
  Properties props;
  bool operator==(const Unsuback&) const = default;
};

struct Pingreq {
  bool operator==(const Pingreq&) const = default;
};
struct Pingresp {
  bool operator==(const Pingresp&) const = default;
};

struct Disconnect {
  std::uint8_t reason_code = 0;  // v5 only
  Properties props;
  bool operator==(const Disconnect&) const = default;
};

struct Auth {
  std::uint8_t reason_code = 0;
  Properties props;
  bool operator==(const Auth&) const = default;
};

// Alternative index + 1 == PacketType value.
using Packet = std::variant<Connect, Connack, Publish, Puback, Pubrec, Pubrel, Pubcomp, Subscribe,
                            Suback, Unsubscribe, Unsuback, Pingreq, Pingresp, Disconnect, Auth>;

inline PacketType packet_type(const Packet& p) {
  return static_cast<PacketType>(p.index() + 1);
}

}  // namespace tern::codec
