// tern_storage internal: the on-disk format. Keys (GUIDE §8) sort so that one prefix scan
// reads one kind of record in order:
//   s/<client>                 SessionRecord
//   q/<client>\0<seq:8 BE>     QueueEntry (FIFO order = key order)
//   f/<client>\0<pid:2 BE>     InflightRecord
//   r/<topic>                  retained StoredMessage
//   meta/version, meta/clock
// '\0' cannot occur in a client id or topic (MQTT strings exclude U+0000 [MQTT-1.5.4-2]),
// so "<client>\0" is an exact prefix and keys of one client sort together, in the same
// client order under every prefix. Values start with a record version byte; a message is
// stored as its v5 PUBLISH encoding (the codec's own format for topic, flags, properties
// and payload) after a small header (expiry, origin). Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/records.hpp"

namespace tern::storage::format {

inline constexpr std::uint8_t kRecordVersion = 1;   // first byte of every value
inline constexpr std::uint32_t kFormatVersion = 1;  // meta/version: the key layout

inline constexpr std::string_view kSessionPrefix = "s/";
inline constexpr std::string_view kQueuePrefix = "q/";
inline constexpr std::string_view kInflightPrefix = "f/";
inline constexpr std::string_view kRetainedPrefix = "r/";
inline constexpr std::string_view kVersionKey = "meta/version";
inline constexpr std::string_view kClockKey = "meta/clock";

// ---- keys (each assigns `out`)
void session_key(std::string_view client, std::string& out);
void queue_prefix(std::string_view client, std::string& out);  // "q/<client>\0"
void queue_key(std::string_view client, std::uint64_t seq, std::string& out);
void inflight_prefix(std::string_view client, std::string& out);  // "f/<client>\0"
void inflight_key(std::string_view client, std::uint16_t packet_id, std::string& out);
void retained_key(std::string_view topic, std::string& out);

// Splits "q/<client>\0<seq>" / "f/<client>\0<id>"; false when `key` is not one.
bool parse_queue_key(std::string_view key, std::string_view& client, std::uint64_t& seq);
bool parse_inflight_key(std::string_view key, std::string_view& client, std::uint16_t& id);

// ---- input checks: nullptr when storable, else a static text naming the problem
const char* check_name(std::string_view client_or_topic);
const char* check_message(const MessageView& m);
const char* check_delivery(const Delivery& d);
const char* check_session(const SessionRecord& s);

// ---- values (each appends to `out`). REQUIRES: the matching check_* passed.
void encode_session(const SessionRecord& s, std::string& out);
void encode_queue_entry(const Delivery& d, const MessageView& m, std::string& out);
// `m` may be null (see InflightRecord::message).
void encode_inflight(const InflightInfo& f, const MessageView* m, std::string& out);
void encode_retained(const MessageView& m, std::string& out);
void encode_clock(const ClockRecord& c, std::string& out);
void encode_format_version(std::string& out);

// ---- decoding: false when the value is not a well-formed record of this version
bool decode_session(std::string_view client, std::string_view value, SessionRecord& out);
bool decode_queue_entry(std::uint64_t seq, std::string_view value, QueueEntry& out);
// Topic + payload size of a queue entry's message without decoding it.
bool peek_queue_entry_bytes(std::string_view value, std::uint64_t& bytes);
bool decode_inflight(std::uint16_t packet_id, std::string_view value, InflightRecord& out);
bool decode_retained(std::string_view value, StoredMessage& out);
bool decode_clock(std::string_view value, ClockRecord& out);
bool decode_format_version(std::string_view value, std::uint32_t& version);

}  // namespace tern::storage::format
