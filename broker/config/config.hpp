// Tern's configuration: the typed, validated form of the YAML file (see configs/tern.yaml).
// load_file()/load_string() parse, type-check and cross-validate, collecting every error
// (each with its YAML path and line) instead of stopping at the first. A Config owns only
// plain values; it is immutable once loaded and passed by const reference.
// Thread safety: all functions are reentrant; a const Config may be shared across threads.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tern::config {

using Millis = std::chrono::milliseconds;
using Seconds = std::chrono::seconds;

inline constexpr std::uint64_t kKiB = 1024;
inline constexpr std::uint64_t kMiB = 1024 * kKiB;
inline constexpr std::uint64_t kGiB = 1024 * kMiB;

// A Session Expiry Interval of 0xFFFFFFFF means the session never expires (MQTT 5.0
// section 3.1.2.11.2); the YAML spells it `never`.
inline constexpr Seconds kNeverExpires{0xFFFFFFFFu};

// "host:port" of a listener. `host` is an IP literal in canonical form (inet_ntop), so
// "[0::0]:1883" and "[::]:1883" compare equal.
struct BindAddress {
  std::string host = "0.0.0.0";
  std::uint16_t port = 1883;
  bool ipv6 = false;
  // "0.0.0.0:1883" or "[::]:1883": the form net::ListenerOptions::bind takes.
  std::string to_string() const;
  bool is_wildcard() const;  // 0.0.0.0 or ::
  bool is_loopback() const;  // 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104
  bool operator==(const BindAddress&) const = default;
};

enum class ListenerProtocol : std::uint8_t { Mqtt, WebSocket };
enum class TlsVersion : std::uint8_t { V1_2, V1_3 };

// A file the configuration names (a secret or a certificate). The loader checks only the
// path's form and never opens it: app reads or checks the file when it builds the options
// (app::to_bridge_options, app::check_listener_files, app::build_security), and reports a
// problem at `yaml_path` and `line`.
struct FileRef {
  std::string path;       // absolute; empty = not set
  std::string yaml_path;  // where it was set, e.g. "bridges[0].password_file"
  int line = 0;           // 0 = unknown (set in code)
  bool empty() const { return path.empty(); }
  // Where it was written does not change the configuration.
  bool operator==(const FileRef& o) const { return path == o.path; }
};

// listeners[].tls: makes the listener mqtts (or wss). The files are PEM.
struct ListenerTls {
  FileRef cert;  // server certificate, then its chain; required
  FileRef key;   // its private key (unencrypted); required
  FileRef ca;    // CAs that sign client certificates; required by the two options below
  bool require_client_cert = false;
  TlsVersion min_version = TlsVersion::V1_2;  // 1.3 only where the TLS backend has it (app)
  std::string ciphers;                         // backend syntax; empty = backend defaults
  bool use_cn_as_username = false;             // the client certificate's CN is the user
  bool operator==(const ListenerTls&) const = default;
};

struct Listener {
  std::string name = "mqtt";
  BindAddress bind;
  ListenerProtocol protocol = ListenerProtocol::Mqtt;
  std::string path = "/mqtt";        // the HTTP path a WebSocket upgrade must ask for
  std::optional<ListenerTls> tls;    // absent = plain TCP
  std::optional<bool> allow_anonymous;  // absent = auth.allow_anonymous
  std::size_t max_connections = 0;   // 0 = only limits.max_connections applies
  bool accept_v311 = true;           // protocols: the MQTT versions this listener accepts
  bool accept_v5 = true;
  bool operator==(const Listener&) const = default;
};

struct Mqtt {
  std::uint32_t max_packet_size = 1 * kMiB;  // advertised to v5 clients; 16 B .. 256 MiB
  std::uint16_t max_inflight = 32;           // our Receive Maximum; 0 is a protocol error
  std::uint16_t max_inflight_out = 256;      // towards a client; v5 clients' Receive Maximum caps it
  std::uint16_t topic_alias_maximum = 64;    // 0 = clients may not set aliases
  Seconds max_keepalive{0};                  // 0 = accept the client's; else Server Keep Alive cap
  bool retain_available = true;
  std::uint64_t max_retained_bytes = 64 * kMiB;
  bool shared_subscriptions = true;
  bool wildcard_subscriptions = true;
  bool subscription_identifiers = true;
  std::uint8_t maximum_qos = 2;
  Millis connect_timeout{10'000};  // CONNECT must arrive this soon after accept
  bool operator==(const Mqtt&) const = default;
};

enum class Overflow : std::uint8_t { DropOldest, DropNewest };
enum class SlowClient : std::uint8_t { Disconnect, Drop };

struct Sessions {
  Seconds expiry_default{2 * 3600};            // 3.1.1 clean_session=0 sessions
  Seconds max_session_expiry = kNeverExpires;  // cap on what a v5 client may ask
  std::size_t max_queued_messages = 10000;     // per session
  std::uint64_t max_queued_bytes = 16 * kMiB;  // per session
  Overflow overflow = Overflow::DropOldest;
  bool queue_qos0_offline = false;
  std::uint64_t outbound_buffer_limit = 1 * kMiB;  // bytes waiting for one client's socket
  SlowClient on_slow_client = SlowClient::Disconnect;
  bool operator==(const Sessions&) const = default;
};

struct Limits {
  std::size_t max_connections = 10000;  // all listeners together
  std::size_t max_subscriptions_per_session = 10000;       // filters one session may hold
  std::uint64_t max_subscription_bytes_per_session = 1024 * 1024;  // their filter bytes
  double connect_rate = 0;              // new connections per second, all listeners; 0 = off
  double publish_rate = 0;              // PUBLISH packets per second per client; 0 = off
  std::uint64_t publish_bytes_rate = 0;  // payload bytes per second per client; 0 = off
  std::size_t max_topic_length = 0;     // bytes; 0 = MQTT's own 65535
  std::size_t max_topic_levels = 0;     // 0 = unlimited
  std::uint64_t memory_budget = 128 * kMiB;  // all queued messages in RAM; 0 = unlimited
  bool operator==(const Limits&) const = default;
};

// auth: who may connect. Anonymous clients are allowed by default so that the default
// configuration works for a new user on loopback; app warns when a non-loopback listener
// accepts them.
struct Auth {
  bool allow_anonymous = true;  // listeners[].allow_anonymous overrides it per listener
  FileRef password_file;        // written by `tern passwd`; empty = none
  bool operator==(const Auth&) const = default;
};

enum class AclAccess : std::uint8_t { Read, Write, ReadWrite, Deny };

// One acl.rules entry (see auth::AclRule for the meaning of each field).
struct AclRule {
  std::string user;    // empty = everyone; "*" = any user name; "anonymous" = none
  std::string client;  // empty = any client id
  std::string topic;   // topic filter; "%u" and "%c" as whole levels
  AclAccess access = AclAccess::Read;
  bool operator==(const AclRule&) const = default;
};

// acl: authorization. Decision: a matching deny rule wins, then any matching grant, then
// the default.
struct Acl {
  bool default_allow = false;  // `default: deny` unless written otherwise
  std::vector<AclRule> rules;
  bool operator==(const Acl&) const = default;
};

// storage.sync: when a stored write counts as done (see configs/durable.yaml).
enum class SyncMode : std::uint8_t { Always, Batch, None };
// storage.on_corruption: what a store LevelDB reports corrupt or unreadable leads to.
enum class OnCorruption : std::uint8_t { MoveAside, Fail };

// Persistence (LevelDB). An empty path keeps everything in memory; the other keys then
// have no effect but are still checked, so --data-dir can turn a configured store on.
struct Storage {
  std::string path;  // a directory, created if missing; empty = in memory only
  SyncMode sync = SyncMode::Batch;
  Millis batch_window{5};  // group commit wait, sync: batch only; 0 .. 1s
  OnCorruption on_corruption = OnCorruption::MoveAside;
  std::uint64_t cache_size = 8 * kMiB;         // LevelDB block cache
  std::uint64_t write_buffer_size = 4 * kMiB;  // LevelDB memtable (held up to twice)
  std::size_t queue_window = 256;              // queued messages per session kept in RAM
  std::uint64_t queue_window_bytes = 256 * kKiB;
  bool enabled() const { return !path.empty(); }
  bool operator==(const Storage&) const = default;
};

// ---- Bridges (the `bridges:` list; README "Bridging to the cloud") ----

// A remote broker's address: "mqtt://host:port" (tcp:// too) or "mqtts://host:port"
// (ssl:// too); the port defaults to 1883 / 8883.
struct RemoteAddress {
  bool tls = false;
  std::string host;  // a DNS name, or an IP literal (IPv6 without brackets)
  std::uint16_t port = 1883;
  // "mqtts://host:8883", "mqtt://[::1]:1883": the form bridge::BridgeOptions takes.
  std::string to_string() const;
  bool operator==(const RemoteAddress&) const = default;
};

enum class BridgeProtocol : std::uint8_t { V311, V5 };
enum class BridgeDirection : std::uint8_t { Out, In, Both };
// A full bridge queue; Reject also answers v5 publishers with 0x97 (Quota exceeded).
enum class BridgeOverflow : std::uint8_t { DropOldest, DropNewest, Reject };

// One topic rule: `pattern` is matched on the side a message comes from (local for out,
// remote for in); its topic is mapped by swapping local_prefix and remote_prefix.
struct BridgeTopic {
  std::string pattern;
  BridgeDirection direction = BridgeDirection::Out;
  std::uint8_t qos = 1;
  int priority = 0;  // out rules: higher drains first; low = -1, normal = 0, high = 1
  std::string local_prefix;
  std::string remote_prefix;
  bool operator==(const BridgeTopic&) const = default;
};

struct BridgeTls {
  FileRef ca;    // empty = the system's CA store
  FileRef cert;  // client certificate (PEM), with `key`
  FileRef key;
  FileRef key_password_file;
  bool verify = true;  // the server's certificate chain and host name
  std::string alpn;    // e.g. "x-amzn-mqtt-ca" (AWS IoT on port 443); empty = none
  bool operator==(const BridgeTls&) const = default;
};

// The defaults equal bridge::BridgeOptions' own.
struct Bridge {
  std::string name;  // [A-Za-z0-9_-], 1 to 64; unique; names the internal sessions
  RemoteAddress remote;
  std::vector<RemoteAddress> fallbacks;  // tried in order after `remote`
  BridgeProtocol protocol = BridgeProtocol::V5;
  std::string client_id;  // empty = "tern-bridge-<name>"
  std::string username;
  FileRef password_file;                // read by app, surrounding whitespace trimmed
  std::optional<std::string> password;  // inline; allowed, discouraged
  BridgeTls tls;
  Seconds keepalive{60};
  bool clean_start = false;
  Seconds session_expiry{7 * 24 * 3600};  // MQTT 5 only
  Millis reconnect_min{1000};
  Millis reconnect_max{120'000};
  bool reconnect_jitter = true;
  std::size_t queue_max_messages = 1'000'000;
  std::uint64_t queue_max_bytes = 512 * kMiB;
  BridgeOverflow overflow = BridgeOverflow::DropOldest;
  bool queue_qos0 = false;  // QoS 0 messages while the uplink is down: queue or drop
  std::uint16_t max_inflight = 64;
  double rate = 0;  // messages/s upstream; 0 = unlimited
  std::vector<BridgeTopic> topics;
  bool uses_tls() const;  // any of remote, fallbacks is mqtts://
  bool operator==(const Bridge&) const = default;
};

enum class LogLevel : std::uint8_t { Trace, Debug, Info, Warn, Error, Critical, Off };
enum class LogFormat : std::uint8_t { Text, Json };
enum class LogTarget : std::uint8_t { Stdout, Stderr, File, Syslog };

// The subsystems whose log level can be set apart from `log.level` (`log.levels:` map):
// app (startup, reload, signals), net (listeners, connections), core, storage, bridge,
// auth (authentication, ACLs), tls, http (the metrics/health endpoint).
enum class LogSubsystem : std::uint8_t { App, Net, Core, Storage, Bridge, Auth, Tls, Http };
inline constexpr std::size_t kLogSubsystems = 8;

struct Log {
  LogLevel level = LogLevel::Info;
  LogFormat format = LogFormat::Text;
  LogTarget to = LogTarget::Stdout;
  std::string file;  // absolute path; set iff to == File
  // Per-subsystem overrides of `level` (log.levels: {bridge: debug, net: warn}); absent =
  // `level`. Indexed by LogSubsystem.
  std::array<std::optional<LogLevel>, kLogSubsystems> levels{};
  bool operator==(const Log&) const = default;
};

// `http:` the metrics / health / read-only API endpoint (README "Operating Tern"). Off
// unless the section is present. Bound anywhere but loopback it requires a bearer token
// (token_file: one line, the token; checked by app like the other secrets).
struct Http {
  bool enabled = false;
  BindAddress bind{"127.0.0.1", 9090, false};
  FileRef token_file;  // empty = no token (only allowed on a loopback bind)
  bool operator==(const Http&) const = default;
};

// `sys_topics:` the $SYS tree (names after Mosquitto's). interval 0 = off.
struct SysTopics {
  Seconds interval{10};  // 0 (off) or 1s .. 1h
  bool operator==(const SysTopics&) const = default;
};

// `dead_letter:` what Tern drops is republished to $DLQ/<reason>/<original topic>.
struct DeadLetter {
  bool enabled = false;
  // Dead letters per second, 1 .. 100000 (a token bucket, burst = one second's worth);
  // over it the drop is only counted. Dead letters are never dead-lettered themselves.
  std::uint32_t max_rate = 100;
  bool operator==(const DeadLetter&) const = default;
};

struct Config {
  std::vector<Listener> listeners{Listener{}};
  Mqtt mqtt;
  Sessions sessions;
  Limits limits;
  Auth auth;
  std::optional<Acl> acl;  // absent = no authorization policy (everything allowed)
  Storage storage;
  std::vector<Bridge> bridges;
  Log log;
  Http http;
  SysTopics sys_topics;
  DeadLetter dead_letter;
  unsigned io_threads = 0;  // 0 = number of cores, at most 4 (resolved by app)
  bool operator==(const Config&) const = default;
};

// One problem found in a configuration.
struct Error {
  std::string path;  // YAML path, e.g. "listeners[1].bind"; empty for file-level errors
  int line = 0;      // 1-based; 0 = unknown (e.g. a value from the command line)
  int column = 0;    // 1-based; only for YAML syntax errors
  std::string message;
  bool operator==(const Error&) const = default;
};

// "configs/x.yaml:12: mqtt.max_inflight: expected ..." (the line only when known).
std::string format_error(const Error& e, std::string_view source);

struct LoadResult {
  std::string source;            // file name or the name given to load_string
  std::optional<Config> config;  // present iff errors is empty
  std::vector<Error> errors;     // in file order; at most kMaxErrors plus a summary line
  bool ok() const { return config.has_value(); }
  // Every error formatted, one per line.
  std::string error_report() const;
};

inline constexpr std::size_t kMaxErrors = 100;
inline constexpr std::size_t kMaxFileBytes = 1024 * 1024;  // a config file, not a data set

// The built-in defaults: exactly what configs/tern.yaml spells out.
Config defaults();
LoadResult load_file(const std::string& path);
// `name` stands for the file name in error messages.
LoadResult load_string(std::string_view text, std::string_view name = "<string>");
// Cross-field rules (unique listener names, distinct binds, expiry_default within
// max_session_expiry, ...), for a Config built or changed in code (e.g. command line
// overrides). load_* already apply them.
std::vector<Error> validate(const Config& c);

// Every key the loader accepts, as a path with list items written "[]" and sorted:
// "http.bind", "listeners[].tls.cert", "log.levels.net", ... Learnt by running the
// section readers themselves (not a list kept by hand), so a test can hold
// configs/tern.schema.json to exactly these keys.
std::vector<std::string> config_keys();

// Value syntax shared by the loader and the command line. Each returns nullopt and sets
// `error` (a sentence without the YAML path) when `text` is not valid.
std::optional<Millis> parse_duration(std::string_view text, std::string& error);
std::optional<std::uint64_t> parse_size(std::string_view text, std::string& error);
// Canonical text of an IP literal of `family` (AF_INET / AF_INET6), or nullopt when `s` is
// not one.
std::optional<std::string> canonical_ip(std::string_view s, int family);
std::optional<BindAddress> parse_bind(std::string_view text, std::string& error);
// An address alone ("0.0.0.0", "::", "[::1]") for the --bind option.
std::optional<BindAddress> parse_bind_host(std::string_view text, std::uint16_t port,
                                           std::string& error);
std::optional<LogLevel> parse_log_level(std::string_view text);
// A storage directory (storage.path, --data-dir), with trailing slashes removed: the store
// is moved aside as a whole to "<path>.corrupt-<time>", so it must name a directory of its
// own (not "/", ".", ".."). Relative paths only when `allow_relative`.
std::optional<std::string> parse_storage_path(std::string_view text, bool allow_relative,
                                              std::string& error);
// A remote broker address (bridges[].remote, fallbacks).
std::optional<RemoteAddress> parse_remote(std::string_view text, std::string& error);
// A rate in messages per second: "100", "2.5", "100/s", "600/m", "3600/h"; 0 = unlimited.
std::optional<double> parse_rate(std::string_view text, std::string& error);
// A data rate in bytes per second: a size with an optional "/s" ("1MiB/s", "64KiB", "500/s");
// 0 = unlimited.
std::optional<std::uint64_t> parse_byte_rate(std::string_view text, std::string& error);

// Human-readable forms, as the YAML would spell them: "2h", "1500ms", "64MiB", "never".
std::string format_duration(Millis d);
std::string format_size(std::uint64_t bytes);
std::string_view to_string(LogLevel v);
std::string_view to_string(LogFormat v);
std::string_view to_string(LogSubsystem v);  // "app", "net", ... as log.levels spells it
std::string_view to_string(Overflow v);
std::string_view to_string(SlowClient v);
std::string_view to_string(SyncMode v);
std::string_view to_string(OnCorruption v);
std::string_view to_string(BridgeProtocol v);
std::string_view to_string(BridgeDirection v);
std::string_view to_string(BridgeOverflow v);
std::string_view to_string(ListenerProtocol v);
std::string_view to_string(TlsVersion v);
std::string_view to_string(AclAccess v);
// "stdout", "stderr", "syslog" or "file:/path".
std::string log_target_string(const Log& log);

}  // namespace tern::config
