// The broker under test as a child process: the real `tern` binary started on 127.0.0.1
// with port 0 (the port is read from its log) and an optional generated YAML config.
// A TernBroker owns its process and a temp directory (config, log, storage); its log is
// printed when the test that used it fails. Thread safety: one thread per TernBroker.
//
// Setting TERN_IT_REFERENCE=mosquitto runs the same tests against Debian's mosquitto
// instead (config-dependent checks are skipped there): a way to check the tests themselves.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/integration/harness/process.hpp"

namespace tern::it {

// A fresh directory under $TMPDIR (or /tmp), removed at the end of the test case.
std::string make_temp_dir(const std::string& prefix);

// Files to show, and directories to delete, when the current test case ends.
void register_test_log(const std::string& label, const std::string& path);
void register_test_dir(const std::string& path);
// Called by the Catch listener at the end of each test case.
void finish_test_artifacts(bool failed);

// The text "@DIR@" in `yaml` and in `extra_args` stands for the broker's temp directory
// (TernBroker::dir()), so a test can put its storage there, e.g. "path: @DIR@/data".
inline constexpr const char* kDirPlaceholder = "@DIR@";

struct BrokerConfig {
  std::string yaml;                     // empty: no --config
  std::vector<std::string> extra_args;  // appended to the command line
  // The YAML's own `listeners:` are used (each must bind 127.0.0.1:0) instead of the one
  // plain listener --bind/--port would make; port() is the first one's. See listener_port.
  bool own_listeners = false;
};

class TernBroker {
 public:
  // Starts the broker and waits (up to 15 s) for its "listening on" line.
  // Fails the test (REQUIRE) if it exits or never listens. The destructor stops it with
  // SIGTERM and fails the test if it crashed meanwhile or does not exit with status 0.
  explicit TernBroker(BrokerConfig config = {});
  ~TernBroker();
  TernBroker(const TernBroker&) = delete;
  TernBroker& operator=(const TernBroker&) = delete;

  static bool reference_mode();  // TERN_IT_REFERENCE=mosquitto

  std::uint16_t port() const { return port_; }
  // The port of listener `name` from the broker's "ready: a=127.0.0.1:1, b=..." line (as of
  // the last start). REQUIREs that the listener exists.
  std::uint16_t listener_port(const std::string& name) const;
  const std::string& host() const { return host_; }
  std::string uri() const;  // "tcp://127.0.0.1:<port>" for Paho
  const std::string& dir() const { return dir_; }
  bool running() { return proc_ && proc_->running(); }
  // The broker's process id (for /proc), or -1 when it was never started.
  pid_t pid() const { return proc_ ? proc_->pid() : -1; }

  // Graceful stop: SIGTERM, SIGKILL after `grace`. Returns the exit status.
  int stop(Millis grace = Millis(5000));
  // Crash: SIGKILL. Returns the exit status.
  int kill9();
  // Starts again with the same config and directory (so the same storage, when the config
  // puts it under @DIR@); same port unless `same_port` is false. Stops a running broker
  // with SIGTERM first. Fails the test like the constructor if it does not listen.
  void restart(bool same_port = true);
  // Runs another broker process with this one's config, directory and extra args (plus
  // `more_args`) on port 0, without waiting for it to listen, until it exits by itself
  // (SIGKILLed after `timeout`: timed_out). For a start that must be refused (a locked or
  // corrupt store). Its output goes to its own log, shown when the test fails.
  CommandResult run_another(Millis timeout, const std::vector<std::string>& more_args = {});

  std::string log() const;

 private:
  void start(std::uint16_t port);
  std::vector<std::string> command_line(std::uint16_t port) const;
  int others_ = 0;  // run_another() calls, to name their logs
  BrokerConfig config_;
  std::string host_ = "127.0.0.1";
  std::string dir_;
  std::string log_path_;
  std::string config_path_;
  std::uint16_t port_ = 0;
  std::string ready_line_;  // "ready: a=127.0.0.1:1, ..." (own_listeners)
  bool stopped_by_test_ = false;  // stop()/kill9() called: its exit status is the test's business
  std::unique_ptr<Subprocess> proc_;
};

}  // namespace tern::it
