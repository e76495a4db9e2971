// Per-subsystem loggers: one spdlog logger per part of the broker (app, net, core, storage,
// bridge, auth, tls, http), all writing through one shared sink, each with its own level.
// Owns the loggers and that sink for the life of the process; before app installs the
// configured target they write to stderr at info (so tests and early startup are seen).
// Thread safety: logging, set_target() and set_level() are safe from any thread.
#pragma once

#include <spdlog/formatter.h>
#include <spdlog/logger.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace tern::log {

// Same order as config::LogSubsystem (app checks this at compile time).
enum class Subsystem : std::uint8_t { App, Net, Core, Storage, Bridge, Auth, Tls, Http };
inline constexpr std::size_t kSubsystems = 8;

// "app", "net", ...: the logger's name, shown as [net] in text and "subsystem":"net" in JSON.
std::string_view name(Subsystem s);

spdlog::logger& logger(Subsystem s);
inline spdlog::logger& app() { return logger(Subsystem::App); }
inline spdlog::logger& net() { return logger(Subsystem::Net); }
inline spdlog::logger& core() { return logger(Subsystem::Core); }
inline spdlog::logger& storage() { return logger(Subsystem::Storage); }
inline spdlog::logger& bridge() { return logger(Subsystem::Bridge); }
inline spdlog::logger& auth() { return logger(Subsystem::Auth); }
inline spdlog::logger& tls() { return logger(Subsystem::Tls); }
inline spdlog::logger& http() { return logger(Subsystem::Http); }

// Sends every subsystem's lines to `target` from now on (the previous target is released
// once no line is being written to it), and makes the app logger spdlog's default logger,
// so a stray spdlog::info() still lands in the configured target, as [app].
// REQUIRES: target != nullptr; it formats its own lines (set its formatter first).
void set_target(spdlog::sink_ptr target);
// The current target (e.g. to find the file sink to reopen).
spdlog::sink_ptr target();

void set_level(Subsystem s, spdlog::level::level_enum level);

// Text lines: "[2024-05-01 12:00:00.123] [net] [info] message" (spdlog's default layout,
// with the logger name as the subsystem). `with_time` false (syslog stamps lines itself):
// "[net] message". Control characters in the message are masked (see append_printable):
// a client id or topic must not be able to start a forged line.
std::unique_ptr<spdlog::formatter> make_text_formatter(bool with_time = true);

// {"ts":"2024-05-01T12:00:00.123Z","level":"info","subsystem":"net","thread":1,"msg":"..."}
// per line; every line is valid JSON whatever bytes the message holds.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

// Appends `s` as the body of a JSON string (no quotes): escapes quotes, backslashes and
// control characters; bytes that are not UTF-8 become U+FFFD so every line stays valid JSON.
void json_escape(std::string_view s, std::string& out);

// Appends `s` with every byte that could move a terminal's cursor or end a line masked as
// \xNN: C0 controls, DEL, C1 controls (U+0080..U+009F) and bytes that are not UTF-8.
// Valid UTF-8 text is kept as is.
void append_printable(std::string_view s, std::string& out);
std::string printable(std::string_view s);

// A message payload for a debug or trace line, never above: at most `max_bytes` of it,
// masked like printable(), then " ... (N bytes)" when cut. Payloads may hold secrets and
// personal data; info-level lines name topics and sizes only.
inline constexpr std::size_t kExcerptBytes = 64;
std::string excerpt(std::string_view payload, std::size_t max_bytes = kExcerptBytes);

}  // namespace tern::log
