// tern_log: subsystem loggers, the text and JSON line formats, control-character masking,
// payload excerpts, and a source audit of every log call in the modules.

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "broker/log/log.hpp"
#include "tests/unit/log/json_check.hpp"

namespace {

using namespace tern;
using Catch::Matchers::Contains;

// Every subsystem writes into `out` with `formatter`.
std::shared_ptr<spdlog::sinks::ostream_sink_mt> capture(std::ostringstream& out,
                                                        std::unique_ptr<spdlog::formatter> f) {
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out, /*force_flush=*/true);
  sink->set_formatter(std::move(f));
  log::set_target(sink);
  for (std::size_t i = 0; i < log::kSubsystems; ++i) {
    log::set_level(static_cast<log::Subsystem>(i), spdlog::level::info);
  }
  return sink;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> v;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

}  // namespace

// First in the file: run alone (ctest runs each case in its own process) or first in a
// whole-executable run, it sees the loggers before anything installed a target.
TEST_CASE("before any setup the loggers write text to stderr at info", "[log]") {
  REQUIRE(std::dynamic_pointer_cast<spdlog::sinks::stderr_color_sink_mt>(log::target()));
  char path[] = "/tmp/tern-log-stderr-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  std::fflush(stderr);
  const int saved = dup(2);
  REQUIRE(dup2(fd, 2) == 2);
  log::net().info("early {}", 1);
  log::bridge().debug("not at info");
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(fd);
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  std::remove(path);
  CHECK_THAT(text, Contains("[net] [info] early 1"));
  CHECK(text.find("not at info") == std::string::npos);
}

TEST_CASE("text lines: time, subsystem, level, message", "[log]") {
  std::ostringstream out;
  auto sink = capture(out, log::make_text_formatter());
  log::net().info("client '{}' connected", "c1");
  log::storage().warn("slow commit");
  log::http().error("bind failed");
  const auto lines = lines_of(out.str());
  REQUIRE(lines.size() == 3);
  const std::regex line(R"(^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] \[(\w+)\] \[(\w+)\] (.*)$)");
  std::smatch m;
  REQUIRE(std::regex_match(lines[0], m, line));
  CHECK(m[1] == "net");
  CHECK(m[2] == "info");
  CHECK(m[3] == "client 'c1' connected");
  REQUIRE(std::regex_match(lines[1], m, line));
  CHECK(m[1] == "storage");
  CHECK(m[2] == "warning");
  REQUIRE(std::regex_match(lines[2], m, line));
  CHECK(m[1] == "http");
  CHECK(m[2] == "error");

  // Syslog stamps time and level itself: subsystem and message only.
  std::ostringstream bare;
  auto sink2 = capture(bare, log::make_text_formatter(/*with_time=*/false));
  log::auth().warn("bad password for '{}'", "u");
  CHECK(bare.str() == "[auth] bad password for 'u'\n");
}

TEST_CASE("JSON lines: each line one object with ts, level, subsystem, msg", "[log]") {
  std::ostringstream out;
  auto sink = capture(out, std::make_unique<log::JsonFormatter>());
  const std::vector<log::Subsystem> all = {
      log::Subsystem::App,    log::Subsystem::Net,  log::Subsystem::Core,
      log::Subsystem::Storage, log::Subsystem::Bridge, log::Subsystem::Auth,
      log::Subsystem::Tls,    log::Subsystem::Http};
  for (const auto s : all) log::logger(s).info("from {}", log::name(s));
  // Client-supplied bytes: quotes, backslash, newline, ESC, DEL, C1, invalid UTF-8.
  log::net().warn("client '{}' refused", "a\"b\\c\nd\x1b[2J\x7f\xc2\x9b\xff\xfe\xc3\xa9");
  const auto lines = lines_of(out.str());
  REQUIRE(lines.size() == all.size() + 1);
  const std::regex ts(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$)");
  for (std::size_t i = 0; i < lines.size(); ++i) {
    INFO(lines[i]);
    const auto obj = test::FlatJson::parse(lines[i]);
    REQUIRE(obj);
    for (const char* field : {"ts", "level", "subsystem", "msg"}) CHECK(obj->count(field) == 1);
    CHECK(std::regex_match(obj->at("ts"), ts));
    if (i < all.size()) {
      CHECK(obj->at("subsystem") == log::name(all[i]));
      CHECK(obj->at("level") == "info");
      CHECK(obj->at("msg") == "from " + std::string(log::name(all[i])));
    }
  }
  const auto last = test::FlatJson::parse(lines.back());
  REQUIRE(last);
  CHECK(last->at("level") == "warning");
  // Valid text survives exactly; the bytes that are not UTF-8 become U+FFFD.
  CHECK(last->at("msg") ==
        "client 'a\"b\\c\nd\x1b[2J\x7f\xc2\x9b\xef\xbf\xbd\xef\xbf\xbd\xc3\xa9' refused");
}

TEST_CASE("levels are per subsystem", "[log]") {
  std::ostringstream out;
  auto sink = capture(out, log::make_text_formatter());
  log::set_level(log::Subsystem::Bridge, spdlog::level::debug);
  log::set_level(log::Subsystem::Net, spdlog::level::info);
  log::set_level(log::Subsystem::Storage, spdlog::level::err);
  log::bridge().debug("bridge detail");
  log::net().debug("net detail");
  log::net().info("net news");
  log::storage().warn("storage warning");
  log::storage().error("storage error");
  const std::string text = out.str();
  CHECK_THAT(text, Contains("[bridge] [debug] bridge detail"));
  CHECK(text.find("net detail") == std::string::npos);
  CHECK_THAT(text, Contains("[net] [info] net news"));
  CHECK(text.find("storage warning") == std::string::npos);
  CHECK_THAT(text, Contains("[storage] [error] storage error"));
}

TEST_CASE("text lines mask control characters from clients", "[log]") {
  std::ostringstream out;
  auto sink = capture(out, log::make_text_formatter());
  // A client id that tries to end the line and forge one of its own, and to drive the
  // terminal (ESC, C1 CSI), plus bytes that are not UTF-8.
  const std::string evil =
      "dev\n[2024-01-01 00:00:00.000] [app] [info] admin logged in\r\x1b[2J\x07\x7f"
      "\xc2\x9b"
      "\xff caf\xc3\xa9 \xe2\x82\xac";
  log::net().info("client '{}' connected", evil);
  const std::string text = out.str();
  REQUIRE(!text.empty());
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);  // one line, its own newline
  CHECK(text.back() == '\n');
  for (std::size_t i = 0; i + 1 < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    INFO("byte " << i);
    CHECK((c >= 0x20 && c != 0x7F));
  }
  CHECK_THAT(text, Contains("dev\\x0a[2024-01-01 00:00:00.000] [app] [info] admin logged in"
                            "\\x0d\\x1b[2J\\x07\\x7f\\xc2\\x9b\\xff caf\xc3\xa9 \xe2\x82\xac"));

  CHECK(log::printable("plain/topic") == "plain/topic");
  CHECK(log::printable(std::string("a\0b", 3)) == "a\\x00b");
  CHECK(log::printable("\xe2\x82") == "\\xe2\\x82");  // truncated sequence
  CHECK(log::printable("\xed\xa0\x80") == "\\xed\\xa0\\x80");  // surrogate
  CHECK(log::printable("\xc2\xa0") == "\xc2\xa0");  // U+00A0 is printable
}

TEST_CASE("payload excerpts are capped and masked", "[log]") {
  CHECK(log::excerpt("21.5") == "21.5");
  CHECK(log::excerpt("a\nb") == "a\\x0ab");
  const std::string big(1000, 'x');
  const std::string e = log::excerpt(big);
  CHECK(e == std::string(log::kExcerptBytes, 'x') + " ... (1000 bytes)");
  CHECK(log::excerpt("abcdef", 3) == "abc ... (6 bytes)");
  // Not cut inside a character: "é" is 2 bytes at offsets 2-3.
  CHECK(log::excerpt("ab\xc3\xa9xyz", 3) == "ab ... (7 bytes)");
  CHECK(log::excerpt("\x01\x02\x03\x04", 2) == "\\x01\\x02 ... (4 bytes)");
}

// --- source audit ---------------------------------------------------------------------

namespace {

namespace fs = std::filesystem;

// The text of each logging call `name(...)` in a source file, with its line number; string
// literals and comments removed (a message may say "password file"; only arguments count).
struct Call {
  std::string file;
  int line = 0;
  std::string level;
  std::string args;
};

std::string strip_literals(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '"') {
      for (++i; i < s.size() && s[i] != '"'; ++i) {
        if (s[i] == '\\') ++i;
      }
      out += "\"\"";
    } else if (s[i] == '\'' && i + 2 < s.size()) {
      const std::size_t close = s.find('\'', i + 1 + (s[i + 1] == '\\' ? 2 : 1));
      out += "''";
      i = close == std::string::npos ? s.size() : close;
    } else if (s.compare(i, 2, "//") == 0) {
      while (i < s.size() && s[i] != '\n') ++i;
      out += '\n';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<Call> log_calls(const fs::path& file) {
  std::ifstream in(file);
  const std::string raw((std::istreambuf_iterator<char>(in)), {});
  const std::string text = strip_literals(raw);
  static const std::regex call(
      R"((?:spdlog|log::\w+\(\))(?:::|\.)(trace|debug|info|warn|error|critical|log)\()");
  std::vector<Call> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), call); it != std::sregex_iterator();
       ++it) {
    const std::size_t open = static_cast<std::size_t>(it->position() + it->length());
    int depth = 1;
    std::size_t i = open;
    for (; i < text.size() && depth > 0; ++i) {
      if (text[i] == '(') ++depth;
      if (text[i] == ')') --depth;
    }
    Call c;
    c.file = file.string();
    c.line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + it->position(), '\n'));
    c.level = (*it)[1];
    c.args = text.substr(open, i - open);
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<fs::path> module_sources() {
  std::vector<fs::path> v;
  for (const char* dir : {"broker", "bridge", "storage"}) {
    const fs::path root = fs::path(TERN_SOURCE_DIR) / dir;
    if (!fs::exists(root)) continue;
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      const auto ext = e.path().extension();
      if (e.is_regular_file() && (ext == ".cpp" || ext == ".hpp")) v.push_back(e.path());
    }
  }
  return v;
}

}  // namespace

// Log calls at info or above in `file` whose arguments name a payload or a secret, other
// than for its size, emptiness or file path ("file:line: call" each); `calls` counts all.
std::vector<std::string> secret_findings(const fs::path& file, std::size_t& calls) {
  // password_file, token_file: paths, allowed.
  static const std::regex secret(R"(\b\w*(payload|password|passwd|secret|token)(?!_file)\w*\b)",
                                 std::regex::icase);
  static const std::regex harmless(R"(^\s*(\.|->)\s*(size|empty|path)\b)");
  std::vector<std::string> out;
  for (const Call& c : log_calls(file)) {
    ++calls;
    if (c.level == "trace" || c.level == "debug") continue;
    bool bad = c.args.find("excerpt(") != std::string::npos;  // excerpts: debug and trace only
    for (auto m = std::sregex_iterator(c.args.begin(), c.args.end(), secret);
         m != std::sregex_iterator(); ++m) {
      const auto after = static_cast<std::size_t>(m->position() + m->length());
      if (!std::regex_search(c.args.substr(after), harmless)) bad = true;
    }
    if (bad) out.push_back(c.file + ":" + std::to_string(c.line) + ": " + c.level + "(" + c.args);
  }
  return out;
}

TEST_CASE("audit: no payload, password or token in a log call at info or above", "[log]") {
  std::size_t calls = 0;
  std::vector<std::string> findings;
  for (const auto& f : module_sources()) {
    for (auto& x : secret_findings(f, calls)) findings.push_back(std::move(x));
  }
  for (const auto& x : findings) UNSCOPED_INFO(x);
  CHECK(findings.empty());
  CHECK(calls > 50);  // the audit found the code it is meant to look at

  // The audit itself catches what it is meant to catch.
  const fs::path probe = fs::temp_directory_path() / ("tern-log-audit-" +
                                                      std::to_string(getpid()) + ".cpp");
  std::ofstream(probe) << "void f() {\n"
                          "  log::net().info(\"got {}\", p.payload);\n"
                          "  log::auth().warn(\"user {} pw {}\", c.username, *c.password);\n"
                          "  log::http().info(\"token set: {}\", !token.empty());\n"
                          "  log::net().debug(\"payload {}\", log::excerpt(p.payload));\n"
                          "  log::app().info(\"payload {}\", log::excerpt(p.payload));\n"
                          "  log::app().info(\"{} bytes\", p.payload.size());\n"
                          "  spdlog::error(\"secret {}\", cfg.secret);\n"
                          "}\n";
  std::size_t probe_calls = 0;
  const auto probe_findings = secret_findings(probe, probe_calls);
  fs::remove(probe);
  CHECK(probe_calls == 7);
  REQUIRE(probe_findings.size() == 4);
  CHECK_THAT(probe_findings[0], Contains(":2: info"));
  CHECK_THAT(probe_findings[1], Contains(":3: warn"));
  CHECK_THAT(probe_findings[2], Contains(":6: info"));
  CHECK_THAT(probe_findings[3], Contains(":8: error"));
}

TEST_CASE("audit: modules log through their subsystem logger", "[log]") {
  // spdlog::info(...) goes to the app logger; a module's lines should carry its name so
  // log.levels.<subsystem> applies to them.
  const std::regex bare(R"(\bspdlog::(trace|debug|info|warn|error|critical|log)\()");
  for (const auto& f : module_sources()) {
    std::ifstream in(f);
    const std::string text = strip_literals(std::string((std::istreambuf_iterator<char>(in)), {}));
    INFO(f.string());
    CHECK_FALSE(std::regex_search(text, bare));
  }
}
