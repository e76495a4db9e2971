// The subsystem loggers and the two line formats. One spdlog dist_sink is the permanent
// sink of every logger; set_target() swaps what it forwards to under its lock, so a target
// can change while other threads log.

#include "broker/log/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <mutex>
#include <utility>

namespace tern::log {

namespace {

constexpr std::array<std::string_view, kSubsystems> kNames = {
    "app", "net", "core", "storage", "bridge", "auth", "tls", "http"};

constexpr const char* kHex = "0123456789abcdef";

// Logging is the one process-wide state Tern keeps (spdlog's own registry is another):
// every module must reach its logger without app passing it down through sans-IO layers.
// Built on first use and never destroyed, so a line logged while statics are torn down at
// exit still finds its logger.
struct Registry {
  Registry() : sink(std::make_shared<spdlog::sinks::dist_sink_mt>()) {
    // Before app installs the configured target: stderr, text, info.
    auto err = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    err->set_formatter(make_text_formatter());
    target = err;
    sink->set_sinks({err});
    for (std::size_t i = 0; i < kSubsystems; ++i) {
      auto l = std::make_shared<spdlog::logger>(std::string(kNames[i]), sink);
      l->set_level(spdlog::level::info);
      // Flush every line: a broker logs little at its default level, and a log that stops
      // short of a crash, or sits in a pipe's buffer, helps no one.
      l->flush_on(spdlog::level::trace);
      loggers[i] = std::move(l);
    }
  }
  std::shared_ptr<spdlog::sinks::dist_sink_mt> sink;
  std::array<std::shared_ptr<spdlog::logger>, kSubsystems> loggers;
  std::mutex mu;  // guards target
  spdlog::sink_ptr target;
};

Registry& registry() {
  static Registry* const r = new Registry;  // leaked on purpose, see Registry
  return *r;
}

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

void append_hex_byte(unsigned char c, std::string& out) {
  out += "\\x";
  out += kHex[c >> 4];
  out += kHex[c & 0xF];
}

bool all_plain_ascii(std::string_view s) {
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7F) return false;
  }
  return true;
}

// %* in a text pattern: the message with control characters masked.
class PrintableMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string_view s(msg.payload.data(), msg.payload.size());
    if (all_plain_ascii(s)) {  // the usual case: no copy
      dest.append(s.data(), s.data() + s.size());
      return;
    }
    std::string out;
    append_printable(s, out);
    dest.append(out.data(), out.data() + out.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<PrintableMessage>();
  }
};

}  // namespace

std::string_view name(Subsystem s) { return kNames[static_cast<std::size_t>(s)]; }

spdlog::logger& logger(Subsystem s) {
  return *registry().loggers[static_cast<std::size_t>(s)];
}

void set_target(spdlog::sink_ptr target) {
  Registry& r = registry();
  {
    const std::lock_guard<std::mutex> lock(r.mu);
    r.target = target;
    r.sink->set_sinks({std::move(target)});
  }
  spdlog::set_default_logger(r.loggers[static_cast<std::size_t>(Subsystem::App)]);
}

spdlog::sink_ptr target() {
  Registry& r = registry();
  const std::lock_guard<std::mutex> lock(r.mu);
  return r.target;
}

void set_level(Subsystem s, spdlog::level::level_enum level) { logger(s).set_level(level); }

std::unique_ptr<spdlog::formatter> make_text_formatter(bool with_time) {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  f->add_flag<PrintableMessage>('*');
  // %^ %$: the level in colour on a colour terminal sink; other sinks ignore them.
  f->set_pattern(with_time ? "[%Y-%m-%d %H:%M:%S.%e] [%n] [%^%l%$] %*" : "[%n] %*");
  return f;
}

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

void append_printable(std::string_view s, std::string& out) {
  out.reserve(out.size() + s.size());
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) {
      append_hex_byte(c, out);
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else if (const std::size_t n = utf8_len(s, i)) {
      // U+0080..U+009F (C2 80..C2 9F) are C1 controls: CSI (U+009B) starts an escape
      // sequence on some terminals.
      if (n == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) <= 0x9F) {
        append_hex_byte(c, out);
        append_hex_byte(static_cast<unsigned char>(s[i + 1]), out);
      } else {
        out.append(s.substr(i, n));
      }
      i += n;
    } else {
      append_hex_byte(c, out);
      ++i;
    }
  }
}

std::string printable(std::string_view s) {
  std::string out;
  append_printable(s, out);
  return out;
}

std::string excerpt(std::string_view payload, std::size_t max_bytes) {
  std::string out;
  if (payload.size() <= max_bytes) {
    append_printable(payload, out);
    return out;
  }
  // Cut at a character boundary so the cut itself does not produce masked bytes.
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(payload[cut]) & 0xC0) == 0x80) --cut;
  append_printable(payload.substr(0, cut), out);
  out += " ... (";
  out += std::to_string(payload.size());
  out += " bytes)";
  return out;
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
  line.reserve(112 + msg.payload.size());
  line += "{\"ts\":\"";
  line.append(ts, n);
  line += '.';
  line += static_cast<char>('0' + ms / 100);
  line += static_cast<char>('0' + ms / 10 % 10);
  line += static_cast<char>('0' + ms % 10);
  line += "Z\",\"level\":\"";
  const auto lv = spdlog::level::to_string_view(msg.level);
  line.append(lv.data(), lv.size());
  line += "\",\"subsystem\":\"";
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

}  // namespace tern::log
