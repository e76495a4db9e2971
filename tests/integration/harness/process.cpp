#include "tests/integration/harness/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace tern::it {

namespace {

int decode_status(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return -1;
}

}  // namespace

Subprocess::Subprocess(std::vector<std::string> argv, std::string output_path)
    : output_path_(std::move(output_path)) {
  if (argv.empty()) throw std::runtime_error("Subprocess: empty argv");
  // Everything the child needs is prepared before fork: after fork in a multi-threaded
  // process (Paho runs threads) the child may only make async-signal-safe calls.
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  const pid_t parent = getpid();
  const int out_fd = ::open(output_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out_fd < 0) {
    throw std::runtime_error("Subprocess: cannot open " + output_path_ + ": " +
                             std::strerror(errno));
  }
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const bool search_path = argv[0].find('/') == std::string::npos;

  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(out_fd);
    if (null_fd >= 0) ::close(null_fd);
    throw std::runtime_error(std::string("Subprocess: fork failed: ") + std::strerror(err));
  }
  if (pid == 0) {
    // Child: die with the test process so no broker outlives a crashed test.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(out_fd, 2);
    if (search_path) {
      ::execvp(cargv[0], cargv.data());
    } else {
      ::execv(cargv[0], cargv.data());
    }
    static const char kMsg[] = "Subprocess: exec failed\n";
    [[maybe_unused]] auto n = ::write(2, kMsg, sizeof kMsg - 1);
    ::_exit(127);
  }
  ::close(out_fd);
  if (null_fd >= 0) ::close(null_fd);
  pid_ = pid;
}

Subprocess::~Subprocess() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    reap(0);
  }
}

void Subprocess::reap(int options) {
  if (pid_ <= 0 || status_) return;
  int wstatus = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &wstatus, options);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) status_ = decode_status(wstatus);
  if (r < 0 && errno == ECHILD) status_ = -1;
}

bool Subprocess::running() {
  reap(WNOHANG);
  return !status_;
}

std::optional<int> Subprocess::wait_for(Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    reap(WNOHANG);
    if (status_) return status_;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(Millis(10));
  }
}

int Subprocess::terminate(Millis grace) {
  if (!running()) return *status_;
  ::kill(pid_, SIGTERM);
  if (auto s = wait_for(grace)) return *s;
  return kill9();
}

int Subprocess::kill9() {
  if (!running()) return *status_;
  ::kill(pid_, SIGKILL);
  reap(0);
  return status_.value_or(-1);
}

std::string Subprocess::output() const { return read_file(output_path_); }

CommandResult run_command(std::vector<std::string> argv, Millis timeout,
                          const std::string& output_path) {
  Subprocess p(std::move(argv), output_path);
  CommandResult r;
  if (auto s = p.wait_for(timeout)) {
    r.status = *s;
  } else {
    r.timed_out = true;
    r.status = p.kill9();
  }
  r.output = p.output();
  return r;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<std::uint64_t> proc_status_kib(pid_t pid, const std::string& field) {
  std::istringstream in(read_file("/proc/" + std::to_string(pid) + "/status"));
  const std::string key = field + ":";
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, key.size(), key) != 0) continue;
    std::istringstream value(line.substr(key.size()));
    std::uint64_t kib = 0;
    std::string unit;
    if (value >> kib >> unit && unit == "kB") return kib;
    return std::nullopt;
  }
  return std::nullopt;
}

void sleep_for(Millis d) { std::this_thread::sleep_for(d); }

}  // namespace tern::it
