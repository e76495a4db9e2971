// app's logging setup: config `log` (target, format, level, levels) applied to the subsystem
// loggers, the file target reopened for logrotate, syslog.

#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "broker/app/logging.hpp"
#include "broker/config/config.hpp"
#include "broker/log/log.hpp"
#include "tests/unit/log/json_check.hpp"

namespace {

using namespace tern;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

// A fresh directory under $TMPDIR (or /tmp), removed with its contents at scope end.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/tern-log-XXXXXX";
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

config::Log file_log(const std::string& path) {
  config::Log log;
  log.to = config::LogTarget::File;
  log.file = path;
  return log;
}

std::size_t idx(config::LogSubsystem s) { return static_cast<std::size_t>(s); }

// Back to the default target so a later test case in the same process starts clean.
struct RestoreStdout {
  ~RestoreStdout() {
    std::string error;
    app::setup_logging(config::Log{}, error);
  }
};

}  // namespace

TEST_CASE("log.levels overrides log.level per subsystem", "[log][app]") {
  TempDir dir;
  RestoreStdout restore;
  config::Log log = file_log(dir.file("tern.log"));
  log.level = config::LogLevel::Info;
  log.levels[idx(config::LogSubsystem::Bridge)] = config::LogLevel::Debug;
  log.levels[idx(config::LogSubsystem::Storage)] = config::LogLevel::Error;
  std::string error;
  REQUIRE(app::setup_logging(log, error));
  log::bridge().debug("bridge {}: reconnecting in {} ms", "cloud", 250);
  log::net().debug("conn {}: read error", 7);
  log::net().info("listener mqtt listening");
  log::storage().warn("storage: slow");
  log::storage().error("storage: write failed");
  spdlog::info("stray line");  // spdlog's default logger is the app logger
  const std::string text = read_all(dir.file("tern.log"));
  CHECK_THAT(text, Contains("] [bridge] [debug] bridge cloud: reconnecting in 250 ms\n"));
  CHECK(text.find("read error") == std::string::npos);
  CHECK_THAT(text, Contains("] [net] [info] listener mqtt listening\n"));
  CHECK(text.find("storage: slow") == std::string::npos);
  CHECK_THAT(text, Contains("] [storage] [error] storage: write failed\n"));
  CHECK_THAT(text, Contains("] [app] [info] stray line\n"));

  // The same through the JSON format: "subsystem" names the logger.
  config::Log json = file_log(dir.file("tern.json"));
  json.format = config::LogFormat::Json;
  json.level = config::LogLevel::Warn;
  json.levels[idx(config::LogSubsystem::Net)] = config::LogLevel::Trace;
  REQUIRE(app::setup_logging(json, error));
  log::net().trace("net trace");
  log::app().info("app info hidden");
  log::tls().warn("tls warning");
  std::vector<test::FlatJson::Object> objs;
  std::istringstream lines(read_all(dir.file("tern.json")));
  for (std::string l; std::getline(lines, l);) {
    INFO(l);
    auto o = test::FlatJson::parse(l);
    REQUIRE(o);
    objs.push_back(std::move(*o));
  }
  REQUIRE(objs.size() == 2);
  CHECK(objs[0].at("subsystem") == "net");
  CHECK(objs[0].at("level") == "trace");
  CHECK(objs[0].at("msg") == "net trace");
  CHECK(objs[1].at("subsystem") == "tls");
  CHECK(objs[1].at("level") == "warning");
}

TEST_CASE("a file target is reopened after logrotate moved it", "[log][app]") {
  TempDir dir;
  RestoreStdout restore;
  const std::string path = dir.file("tern.log");
  std::string error;
  REQUIRE(app::setup_logging(file_log(path), error));
  log::app().info("first line");
  REQUIRE(std::rename(path.c_str(), dir.file("tern.log.1").c_str()) == 0);
  log::app().info("after the move, before the reopen");  // still into the moved file
  REQUIRE(app::reopen_log_file(error));
  log::app().info("second line");
  const std::string old_text = read_all(dir.file("tern.log.1"));
  const std::string new_text = read_all(path);
  CHECK_THAT(old_text, Contains("first line"));
  CHECK_THAT(old_text, Contains("after the move, before the reopen"));
  CHECK(old_text.find("second line") == std::string::npos);
  CHECK_THAT(new_text, Contains("[app] [info] second line"));
  CHECK(new_text.find("first line") == std::string::npos);

  // Reopening without a move appends to the same file (nothing is truncated).
  REQUIRE(app::reopen_log_file(error));
  log::app().info("third line");
  const std::string again = read_all(path);
  CHECK_THAT(again, Contains("second line"));
  CHECK_THAT(again, Contains("third line"));
}

TEST_CASE("a log file that cannot be reopened keeps the old one", "[log][app]") {
  TempDir dir;
  RestoreStdout restore;
  fs::create_directory(dir.file("logs"));
  const std::string path = dir.file("logs/tern.log");
  std::string error;
  REQUIRE(app::setup_logging(file_log(path), error));
  log::app().info("before");
  // The directory moves away and a regular file takes its name: the path cannot be opened
  // (even by root, and spdlog cannot create the directory).
  fs::rename(dir.file("logs"), dir.file("logs.old"));
  std::ofstream(dir.file("logs")) << "not a directory";
  CHECK_FALSE(app::reopen_log_file(error));
  CHECK_THAT(error, Contains("cannot reopen log file " + path));
  log::app().info("still logged");
  const std::string text = read_all(dir.file("logs.old/tern.log"));
  CHECK_THAT(text, Contains("before"));
  CHECK_THAT(text, Contains("still logged"));
}

TEST_CASE("reopen is a no-op for stdout and syslog targets", "[log][app]") {
  RestoreStdout restore;
  std::string error;
  REQUIRE(app::setup_logging(config::Log{}, error));
  CHECK(app::reopen_log_file(error));
  config::Log sys;
  sys.to = config::LogTarget::Syslog;
  REQUIRE(app::setup_logging(sys, error));
  CHECK(app::reopen_log_file(error));
}

TEST_CASE("syslog target: ident tern, facility daemon, subsystem in the message", "[log][app]") {
  RestoreStdout restore;
  config::Log sys;
  sys.to = config::LogTarget::Syslog;
  sys.level = config::LogLevel::Debug;
  std::string error;
  REQUIRE(app::setup_logging(sys, error));
  const auto sink = std::dynamic_pointer_cast<spdlog::sinks::syslog_sink_mt>(log::target());
  REQUIRE(sink);
  CHECK(log::net().level() == spdlog::level::debug);
  // Its lines carry no time (syslog adds it): "[net] message", controls masked.
  spdlog::details::log_msg msg("net", spdlog::level::warn, "client 'a\nb' gone");
  spdlog::memory_buf_t buf;
  log::make_text_formatter(/*with_time=*/false)->format(msg, buf);
  CHECK(std::string(buf.data(), buf.size()) == "[net] client 'a\\x0ab' gone\n");
  log::net().info("tern unit test: syslog target works");  // must not throw without syslogd
}

TEST_CASE("a log file that cannot be opened is an error and the old target stays", "[log][app]") {
  TempDir dir;
  RestoreStdout restore;
  std::string error;
  REQUIRE(app::setup_logging(file_log(dir.file("ok.log")), error));
  std::ofstream(dir.file("plain")) << "x";
  CHECK_FALSE(app::setup_logging(file_log(dir.file("plain/tern.log")), error));
  CHECK_THAT(error, Contains("cannot open log file:" + dir.file("plain/tern.log")));
  log::app().info("kept");
  CHECK_THAT(read_all(dir.file("ok.log")), Contains("kept"));
}
