// Child processes for the integration tests: the broker under test and the mosquitto
// command-line clients. A Subprocess owns its child: the destructor kills and reaps it, so
// no test leaves a process behind. Output (stdout and stderr) goes to a file.
// Thread safety: a Subprocess is used from one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tern::it {

using Millis = std::chrono::milliseconds;

class Subprocess {
 public:
  // Starts argv[0] (searched in PATH when it has no '/'), stdin from /dev/null, stdout and
  // stderr appended to `output_path`. The child gets SIGKILL if the test process dies, so
  // a crashed or timed-out test run leaves no broker behind. Throws std::runtime_error.
  Subprocess(std::vector<std::string> argv, std::string output_path);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  // True while the child has not exited (reaps it when it has).
  bool running();
  // Waits up to `timeout` for the child to exit; its status, or nullopt if still running.
  // Status is the exit code, or 128 + signal number when killed by a signal.
  std::optional<int> wait_for(Millis timeout);
  // SIGTERM, then SIGKILL after `grace`; returns the exit status.
  int terminate(Millis grace);
  // SIGKILL now (crash simulation); returns the exit status.
  int kill9();
  std::optional<int> exit_status() const { return status_; }
  const std::string& output_path() const { return output_path_; }
  // The whole output file so far.
  std::string output() const;

 private:
  void reap(int options);
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string output_path_;
};

struct CommandResult {
  int status = -1;        // exit status, 128 + signal when killed
  bool timed_out = false; // killed by us after the timeout
  std::string output;     // stdout + stderr
};

// Runs a command to completion (killed after `timeout`), output captured in `output_path`.
CommandResult run_command(std::vector<std::string> argv, Millis timeout,
                          const std::string& output_path);

// Reads a whole file; empty if it does not exist.
std::string read_file(const std::string& path);

// A "<field>:   <n> kB" line of /proc/<pid>/status (e.g. "VmRSS", "VmHWM") in KiB;
// nullopt when the process or the field is not there.
std::optional<std::uint64_t> proc_status_kib(pid_t pid, const std::string& field);

// Sleeps; a named helper so waits in tests read as what they are.
void sleep_for(Millis d);

}  // namespace tern::it
