// Logging setup: points the subsystem loggers (broker/log/log.hpp) at the target config
// `log` names (stdout, stderr, a file or syslog) in text or JSON lines, with `log.level` and
// the `log.levels` overrides. Owns nothing itself: the target lives in tern::log.
// Thread safety: setup_logging() and reopen_log_file() may run while other threads log.
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "broker/config/config.hpp"
#include "broker/log/log.hpp"

namespace spdlog::details {
class file_helper;
}

namespace tern::app {

spdlog::level::level_enum to_spdlog(config::LogLevel level);

// The formats live in tern_log; these names stay for app's callers and tests.
using JsonFormatter = log::JsonFormatter;
inline void json_escape(std::string_view s, std::string& out) { log::json_escape(s, out); }

// A file target that can be reopened at its path: logrotate moves the file away, then
// sends SIGHUP, and the broker carries on in a new file of the same name.
class ReopenableFileSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // Appends to `path` (created when missing). Throws spdlog::spdlog_ex when it cannot.
  explicit ReopenableFileSink(std::string path);
  ~ReopenableFileSink() override;

  // Opens the path anew and switches to it; on failure keeps writing to the file it has
  // (better a renamed file than no log) and returns false with `error`.
  bool reopen(std::string& error);
  const std::string& path() const { return path_; }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;

 private:
  const std::string path_;
  std::unique_ptr<spdlog::details::file_helper> file_;
};

// Returns false with `error` when the target cannot be opened (e.g. an unwritable file);
// the previous target then stays.
bool setup_logging(const config::Log& log, std::string& error);

// SIGHUP (logrotate): reopens the log file when the target is one; true when there is
// nothing to reopen. On failure logging continues into the old file.
bool reopen_log_file(std::string& error);

}  // namespace tern::app
