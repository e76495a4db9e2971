// Logging setup: installs spdlog's default logger ("tern") as config `log` says, with text
// lines or one JSON object per line, to stdout, stderr, a file or syslog. Other modules
// just call spdlog::info(...). Thread safety: call setup_logging() once, before any thread
// logs; the installed logger itself is thread-safe.
#pragma once

#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>

#include "broker/config/config.hpp"

namespace tern::app {

spdlog::level::level_enum to_spdlog(config::LogLevel level);

// {"ts":"2024-05-01T12:00:00.123Z","level":"info","logger":"tern","msg":"..."} per line.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

// Appends `s` as the body of a JSON string (no quotes): escapes quotes, backslashes and
// control characters; bytes that are not UTF-8 become U+FFFD so every line stays valid JSON.
void json_escape(std::string_view s, std::string& out);

// Returns false with `error` when the sink cannot be opened (e.g. an unwritable file).
bool setup_logging(const config::Log& log, std::string& error);

}  // namespace tern::app
