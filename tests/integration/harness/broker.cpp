#include "tests/integration/harness/broker.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <stdexcept>

#ifndef TERN_BINARY
#error "TERN_BINARY must name the broker executable"
#endif

namespace tern::it {

namespace {

struct Artifacts {
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> logs;  // label, path
  std::vector<std::string> dirs;
};

// Test-harness bookkeeping only (not product code): which files belong to the running
// test case, so the Catch listener can show them on failure and clean up afterwards.
Artifacts& artifacts() {
  static Artifacts a;
  return a;
}

constexpr const char* kMosquitto = "/usr/sbin/mosquitto";

std::uint16_t pick_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot pick a free port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

bool can_connect(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// Parses the port from "listener <name> listening on 127.0.0.1:<port>" at or after `from`.
std::optional<std::uint16_t> find_listening_port(const std::string& log, std::size_t from) {
  static const std::string kNeedle = "listening on 127.0.0.1:";
  const auto at = log.find(kNeedle, from);
  if (at == std::string::npos) return std::nullopt;
  std::size_t i = at + kNeedle.size();
  unsigned long v = 0;
  std::size_t digits = 0;
  while (i < log.size() && log[i] >= '0' && log[i] <= '9' && digits < 6) {
    v = v * 10 + static_cast<unsigned long>(log[i] - '0');
    ++i;
    ++digits;
  }
  if (digits == 0 || v == 0 || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

// Every "@DIR@" in `text` replaced by `dir`.
std::string expand_dir(std::string text, const std::string& dir) {
  const std::string needle = kDirPlaceholder;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at)) {
    text.replace(at, needle.size(), dir);
    at += dir.size();
  }
  return text;
}

}  // namespace

std::string make_temp_dir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/" + prefix + "-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  register_test_dir(pattern);
  return pattern;
}

void register_test_log(const std::string& label, const std::string& path) {
  auto& a = artifacts();
  std::lock_guard lock(a.mu);
  a.logs.emplace_back(label, path);
}

void register_test_dir(const std::string& path) {
  auto& a = artifacts();
  std::lock_guard lock(a.mu);
  a.dirs.push_back(path);
}

void finish_test_artifacts(bool failed) {
  auto& a = artifacts();
  std::lock_guard lock(a.mu);
  if (failed) {
    for (const auto& [label, path] : a.logs) {
      std::string text = read_file(path);
      constexpr std::size_t kMax = 64 * 1024;  // the tail is what explains a failure
      if (text.size() > kMax) text = "[... " + std::to_string(text.size() - kMax) +
                                     " bytes cut ...]\n" + text.substr(text.size() - kMax);
      std::cerr << "----- " << label << " (" << path << ") -----\n"
                << text << "\n----- end of " << label << " -----\n";
    }
  }
  const bool keep = failed && std::getenv("TERN_IT_KEEP") != nullptr;
  if (!keep) {
    for (const auto& d : a.dirs) {
      std::error_code ec;
      std::filesystem::remove_all(d, ec);
    }
  }
  a.logs.clear();
  a.dirs.clear();
}

bool TernBroker::reference_mode() {
  const char* r = std::getenv("TERN_IT_REFERENCE");
  return r != nullptr && std::string(r) == "mosquitto";
}

TernBroker::TernBroker(BrokerConfig config) : config_(std::move(config)) {
  dir_ = make_temp_dir("tern-it");
  config_.yaml = expand_dir(std::move(config_.yaml), dir_);
  for (auto& a : config_.extra_args) a = expand_dir(std::move(a), dir_);
  log_path_ = dir_ + "/broker.log";
  register_test_log(reference_mode() ? "mosquitto output" : "tern output", log_path_);
  if (reference_mode()) {
    config_path_ = dir_ + "/mosquitto.conf";
  } else if (!config_.yaml.empty()) {
    config_path_ = dir_ + "/tern.yaml";
    std::ofstream(config_path_) << config_.yaml;
  }
  start(0);
}

TernBroker::~TernBroker() {
  if (!proc_) return;
  // A broker that crashed during the test, or does not exit cleanly on SIGTERM, fails the
  // test even when every client check passed. Not while unwinding: the test already failed.
  const bool check = std::uncaught_exceptions() == 0 && !stopped_by_test_;
  if (!proc_->running()) {
    if (check) {
      FAIL_CHECK("broker exited by itself during the test, status "
                 << proc_->exit_status().value_or(-1));
    }
    return;
  }
  const int status = proc_->terminate(Millis(5000));
  if (check && status != 0) {
    FAIL_CHECK("broker exit status after SIGTERM at the end of the test: " << status);
  }
}

std::string TernBroker::uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

std::string TernBroker::log() const { return read_file(log_path_); }

std::uint16_t TernBroker::listener_port(const std::string& name) const {
  const std::string needle = " " + name + "=127.0.0.1:";
  const std::string line = " " + ready_line_.substr(std::min<std::size_t>(7, ready_line_.size()));
  const auto at = line.find(needle);
  INFO("ready line: " << ready_line_);
  REQUIRE(at != std::string::npos);
  return static_cast<std::uint16_t>(std::stoul(line.substr(at + needle.size())));
}

void TernBroker::start(std::uint16_t port) {
  stopped_by_test_ = false;
  const std::size_t log_offset = read_file(log_path_).size();
  if (reference_mode()) {
    port = port != 0 ? port : pick_free_port();
    std::ofstream(config_path_) << "listener " << port << " 127.0.0.1\n"
                                << "allow_anonymous true\n"
                                << "persistence false\n"
                                << "log_dest stderr\n"
                                << "log_type all\n";
  }
  proc_ = std::make_unique<Subprocess>(command_line(port), log_path_);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (true) {
    if (reference_mode()) {
      if (can_connect(port)) {
        port_ = port;
        return;
      }
    } else if (config_.own_listeners) {
      // Every listener is bound once the "ready:" line is out.
      const std::string log = read_file(log_path_);
      const auto at = log.find("ready: ", log_offset);
      if (at != std::string::npos && log.find('\n', at) != std::string::npos) {
        ready_line_ = log.substr(at, log.find('\n', at) - at);
        if (auto p = find_listening_port(log, log_offset)) {
          port_ = *p;
          return;
        }
      }
    } else if (auto p = find_listening_port(read_file(log_path_), log_offset)) {
      port_ = *p;
      return;
    }
    if (!proc_->running()) {
      FAIL("broker exited with status " << proc_->exit_status().value_or(-1)
                                        << " before listening; output:\n"
                                        << read_file(log_path_));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      proc_->kill9();
      FAIL("broker did not log 'listening on 127.0.0.1:<port>' within 15 s; output:\n"
           << read_file(log_path_));
    }
    sleep_for(Millis(20));
  }
}

std::vector<std::string> TernBroker::command_line(std::uint16_t port) const {
  std::vector<std::string> argv;
  if (reference_mode()) {
    argv = {kMosquitto, "-c", config_path_};
  } else {
    argv = {TERN_BINARY};
    if (!config_.own_listeners) {
      for (const char* a : {"--bind", host_.c_str(), "--port"}) argv.emplace_back(a);
      argv.push_back(std::to_string(port));
    }
    if (!config_path_.empty()) {
      argv.push_back("--config");
      argv.push_back(config_path_);
    }
  }
  for (const auto& a : config_.extra_args) argv.push_back(a);
  return argv;
}

CommandResult TernBroker::run_another(Millis timeout, const std::vector<std::string>& more_args) {
  auto argv = command_line(0);
  for (const auto& a : more_args) argv.push_back(expand_dir(a, dir_));
  const std::string path = dir_ + "/another-" + std::to_string(++others_) + ".log";
  register_test_log("second tern process output", path);
  return run_command(std::move(argv), timeout, path);
}

int TernBroker::stop(Millis grace) {
  if (!proc_) return -1;
  stopped_by_test_ = true;
  return proc_->terminate(grace);
}

int TernBroker::kill9() {
  if (!proc_) return -1;
  stopped_by_test_ = true;
  return proc_->kill9();
}

void TernBroker::restart(bool same_port) {
  if (proc_ && proc_->running()) proc_->terminate(Millis(5000));
  start(same_port ? port_ : 0);
}

}  // namespace tern::it
