// The configured log target and levels. Formats and loggers are tern_log's; this file
// picks the sink, the format and each subsystem's level from config `log`.

#include "broker/app/logging.hpp"

#include <spdlog/details/file_helper.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <syslog.h>

#include <exception>
#include <utility>

namespace tern::app {

static_assert(config::kLogSubsystems == log::kSubsystems);
static_assert(static_cast<int>(config::LogSubsystem::App) == static_cast<int>(log::Subsystem::App));
static_assert(static_cast<int>(config::LogSubsystem::Net) == static_cast<int>(log::Subsystem::Net));
static_assert(static_cast<int>(config::LogSubsystem::Core) ==
              static_cast<int>(log::Subsystem::Core));
static_assert(static_cast<int>(config::LogSubsystem::Storage) ==
              static_cast<int>(log::Subsystem::Storage));
static_assert(static_cast<int>(config::LogSubsystem::Bridge) ==
              static_cast<int>(log::Subsystem::Bridge));
static_assert(static_cast<int>(config::LogSubsystem::Auth) ==
              static_cast<int>(log::Subsystem::Auth));
static_assert(static_cast<int>(config::LogSubsystem::Tls) == static_cast<int>(log::Subsystem::Tls));
static_assert(static_cast<int>(config::LogSubsystem::Http) ==
              static_cast<int>(log::Subsystem::Http));

spdlog::level::level_enum to_spdlog(config::LogLevel level) {
  switch (level) {
    case config::LogLevel::Trace: return spdlog::level::trace;
    case config::LogLevel::Debug: return spdlog::level::debug;
    case config::LogLevel::Info: return spdlog::level::info;
    case config::LogLevel::Warn: return spdlog::level::warn;
    case config::LogLevel::Error: return spdlog::level::err;
    case config::LogLevel::Critical: return spdlog::level::critical;
    case config::LogLevel::Off: return spdlog::level::off;
  }
  return spdlog::level::info;
}

ReopenableFileSink::ReopenableFileSink(std::string path)
    : path_(std::move(path)), file_(std::make_unique<spdlog::details::file_helper>()) {
  file_->open(path_, /*truncate=*/false);
}

ReopenableFileSink::~ReopenableFileSink() = default;

bool ReopenableFileSink::reopen(std::string& error) {
  // Open the new file before letting go of the old one: if the directory is gone or full,
  // lines keep going to the renamed file rather than nowhere.
  auto next = std::make_unique<spdlog::details::file_helper>();
  try {
    next->open(path_, /*truncate=*/false);
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }
  const std::lock_guard<std::mutex> lock(mutex_);
  try {
    file_->flush();  // the old file's last lines; its close flushes again anyway
  } catch (const std::exception&) {
  }
  file_ = std::move(next);
  return true;
}

void ReopenableFileSink::sink_it_(const spdlog::details::log_msg& msg) {
  spdlog::memory_buf_t line;
  formatter_->format(msg, line);
  file_->write(line);
}

void ReopenableFileSink::flush_() { file_->flush(); }

bool setup_logging(const config::Log& log, std::string& error) {
  spdlog::sink_ptr sink;
  try {
    switch (log.to) {
      case config::LogTarget::Stdout:
        sink = std::make_shared<spdlog::sinks::stdout_color_sink_mt>();
        break;
      case config::LogTarget::Stderr:
        sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
        break;
      case config::LogTarget::File:
        sink = std::make_shared<ReopenableFileSink>(log.file);
        break;
      case config::LogTarget::Syslog:
        // Ident "tern", facility daemon; spdlog maps levels: trace and debug -> LOG_DEBUG,
        // info -> LOG_INFO, warn -> LOG_WARNING, error -> LOG_ERR, critical -> LOG_CRIT.
        sink = std::make_shared<spdlog::sinks::syslog_sink_mt>("tern", LOG_PID, LOG_DAEMON,
                                                               /*enable_formatting=*/true);
        break;
    }
  } catch (const std::exception& e) {
    error = "cannot open log " + config::log_target_string(log) + ": " + e.what();
    return false;
  }
  if (log.format == config::LogFormat::Json) {
    sink->set_formatter(std::make_unique<log::JsonFormatter>());
  } else {
    // Syslog stamps time, host and level itself.
    sink->set_formatter(log::make_text_formatter(log.to != config::LogTarget::Syslog));
  }
  for (std::size_t i = 0; i < log::kSubsystems; ++i) {
    log::set_level(static_cast<log::Subsystem>(i), to_spdlog(log.levels[i].value_or(log.level)));
  }
  log::set_target(std::move(sink));
  return true;
}

bool reopen_log_file(std::string& error) {
  const auto file = std::dynamic_pointer_cast<ReopenableFileSink>(log::target());
  if (!file) return true;
  if (file->reopen(error)) return true;
  error = "cannot reopen log file " + file->path() + ": " + error;
  return false;
}

}  // namespace tern::app
