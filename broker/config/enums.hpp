// Internal to tern_config: the YAML spelling of every enum, in one table per enum, so the
// parser, its "allowed values" error text and the to_string() functions never disagree.
// Thread safety: constant data and pure functions.
#pragma once

#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "broker/config/config.hpp"

namespace tern::config::detail {

template <class E>
struct EnumName {
  std::string_view name;
  E value;
};

inline constexpr EnumName<LogLevel> kLogLevels[] = {
    {"trace", LogLevel::Trace}, {"debug", LogLevel::Debug}, {"info", LogLevel::Info},
    {"warn", LogLevel::Warn},   {"error", LogLevel::Error}, {"critical", LogLevel::Critical},
    {"off", LogLevel::Off},
};
// The keys of `log.levels:` (see LogSubsystem).
inline constexpr EnumName<LogSubsystem> kLogSubsystemNames[] = {
    {"app", LogSubsystem::App},   {"net", LogSubsystem::Net},       {"core", LogSubsystem::Core},
    {"storage", LogSubsystem::Storage}, {"bridge", LogSubsystem::Bridge},
    {"auth", LogSubsystem::Auth}, {"tls", LogSubsystem::Tls},       {"http", LogSubsystem::Http},
};
static_assert(std::size(kLogSubsystemNames) == kLogSubsystems);
inline constexpr EnumName<LogFormat> kLogFormats[] = {
    {"text", LogFormat::Text},
    {"json", LogFormat::Json},
};
inline constexpr EnumName<Overflow> kOverflows[] = {
    {"drop_oldest", Overflow::DropOldest},
    {"drop_newest", Overflow::DropNewest},
};
inline constexpr EnumName<SlowClient> kSlowClients[] = {
    {"disconnect", SlowClient::Disconnect},
    {"drop", SlowClient::Drop},
};
inline constexpr EnumName<SyncMode> kSyncModes[] = {
    {"always", SyncMode::Always},
    {"batch", SyncMode::Batch},
    {"none", SyncMode::None},
};
inline constexpr EnumName<OnCorruption> kOnCorruptions[] = {
    {"move_aside", OnCorruption::MoveAside},
    {"fail", OnCorruption::Fail},
};
inline constexpr EnumName<ListenerProtocol> kListenerProtocols[] = {
    {"mqtt", ListenerProtocol::Mqtt},
    {"websocket", ListenerProtocol::WebSocket},
};
// Quoted in YAML or not: an unquoted 1.2 is the scalar "1.2" to yaml-cpp as well.
inline constexpr EnumName<TlsVersion> kTlsVersions[] = {
    {"1.2", TlsVersion::V1_2},
    {"1.3", TlsVersion::V1_3},
};
inline constexpr EnumName<AclAccess> kAclAccesses[] = {
    {"read", AclAccess::Read},
    {"write", AclAccess::Write},
    {"readwrite", AclAccess::ReadWrite},
    {"deny", AclAccess::Deny},
};
inline constexpr EnumName<bool> kAclDefaults[] = {
    {"allow", true},
    {"deny", false},
};

inline constexpr EnumName<BridgeProtocol> kBridgeProtocols[] = {
    {"3.1.1", BridgeProtocol::V311},
    {"5.0", BridgeProtocol::V5},
};
inline constexpr EnumName<BridgeDirection> kBridgeDirections[] = {
    {"out", BridgeDirection::Out},
    {"in", BridgeDirection::In},
    {"both", BridgeDirection::Both},
};
inline constexpr EnumName<BridgeOverflow> kBridgeOverflows[] = {
    {"drop_oldest", BridgeOverflow::DropOldest},
    {"drop_newest", BridgeOverflow::DropNewest},
    {"reject", BridgeOverflow::Reject},
};
// Topic rule priorities by name; an integer in [kMinPriority, kMaxPriority] works too.
inline constexpr EnumName<int> kPriorityNames[] = {
    {"low", -1},
    {"normal", 0},
    {"high", 1},
};
inline constexpr int kMinPriority = -100;
inline constexpr int kMaxPriority = 100;

template <class E>
std::optional<E> enum_value(std::span<const EnumName<E>> table, std::string_view name) {
  for (const auto& e : table) {
    if (e.name == name) return e.value;
  }
  return std::nullopt;
}

template <class E>
std::string_view enum_name(std::span<const EnumName<E>> table, E value) {
  for (const auto& e : table) {
    if (e.value == value) return e.name;
  }
  return "?";
}

// "drop_oldest | drop_newest", as the error message lists the allowed values.
template <class E>
std::string enum_choices(std::span<const EnumName<E>> table) {
  std::string out;
  for (const auto& e : table) {
    if (!out.empty()) out += " | ";
    out += e.name;
  }
  return out;
}

}  // namespace tern::config::detail
