// spdlog sinks and formats. The JSON formatter is ours: spdlog has none, and a log line
// must stay valid JSON whatever bytes a client put in a client id or topic.

#include "broker/app/logging.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <syslog.h>

#include <chrono>
#include <ctime>
#include <exception>

namespace tern::app {

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

namespace {

constexpr const char* kHex = "0123456789abcdef";

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not one.
std::size_t utf8_len(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  std::size_t n = 0;
  unsigned min = 0;
  unsigned cp = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2, cp = c & 0x1F, min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3, cp = c & 0x0F, min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

}  // namespace

void json_escape(std::string_view s, std::string& out) {
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
    } else if (c == '\n') {
      out += "\\n", ++i;
    } else if (c == '\r') {
      out += "\\r", ++i;
    } else if (c == '\t') {
      out += "\\t", ++i;
    } else if (c < 0x20 || c == 0x7F) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else if (const std::size_t n = utf8_len(s, i)) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\\ufffd";
      ++i;
    }
  }
}

void JsonFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  using namespace std::chrono;
  const auto since = msg.time.time_since_epoch();
  const std::time_t secs = static_cast<std::time_t>(duration_cast<seconds>(since).count());
  const auto ms = duration_cast<milliseconds>(since).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[40];
  const std::size_t n = std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string line;
  line.reserve(96 + msg.payload.size());
  line += "{\"ts\":\"";
  line.append(ts, n);
  line += '.';
  line += static_cast<char>('0' + ms / 100);
  line += static_cast<char>('0' + ms / 10 % 10);
  line += static_cast<char>('0' + ms % 10);
  line += "Z\",\"level\":\"";
  const auto lv = spdlog::level::to_string_view(msg.level);
  line.append(lv.data(), lv.size());
  line += "\",\"logger\":\"";
  json_escape(std::string_view(msg.logger_name.data(), msg.logger_name.size()), line);
  line += "\",\"thread\":";
  line += std::to_string(msg.thread_id);
  line += ",\"msg\":\"";
  json_escape(std::string_view(msg.payload.data(), msg.payload.size()), line);
  line += "\"}\n";
  dest.append(line.data(), line.data() + line.size());
}

std::unique_ptr<spdlog::formatter> JsonFormatter::clone() const {
  return std::make_unique<JsonFormatter>();
}

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
        sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log.file, /*truncate=*/false);
        break;
      case config::LogTarget::Syslog:
        sink = std::make_shared<spdlog::sinks::syslog_sink_mt>("tern", LOG_PID, LOG_DAEMON,
                                                               /*enable_formatting=*/true);
        break;
    }
  } catch (const std::exception& e) {
    error = "cannot open log " + config::log_target_string(log) + ": " + e.what();
    return false;
  }
  if (log.format == config::LogFormat::Json) {
    sink->set_formatter(std::make_unique<JsonFormatter>());
  } else if (log.to == config::LogTarget::Syslog) {
    sink->set_pattern("%v");  // syslog adds time, host and level itself
  } else {
    sink->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v");
  }
  auto logger = std::make_shared<spdlog::logger>("tern", std::move(sink));
  logger->set_level(to_spdlog(log.level));
  // Flush every line: a broker logs little at its default level, and a log that stops short
  // of a crash, or sits in a pipe's buffer, helps no one.
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
  return true;
}

}  // namespace tern::app
