// See sd_notify.hpp. The protocol is the one documented in sd_notify(3): one AF_UNIX
// SOCK_DGRAM datagram per notification, to a filesystem path or, when NOTIFY_SOCKET starts
// with '@', to the abstract namespace (the '@' becomes a leading NUL byte and the address
// length covers the name only, no terminator).

#include "broker/app/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace tern::app {

Notifier::Notifier(std::string socket_path) : path_(std::move(socket_path)) {
  // systemd only ever passes absolute paths or abstract names; anything else (a relative
  // path, "@" alone, a name longer than sun_path) is treated as no socket at all.
  const bool usable = (path_.size() >= 2 && (path_[0] == '/' || path_[0] == '@')) &&
                      path_.size() <= sizeof(sockaddr_un::sun_path) - (path_[0] == '/');
  if (!usable) path_.clear();
}

Notifier Notifier::from_env() {
  const char* p = std::getenv("NOTIFY_SOCKET");
  return Notifier(p != nullptr ? std::string(p) : std::string());
}

bool Notifier::notify(std::string_view state) const {
  if (path_.empty() || state.empty()) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path_.data(), path_.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_.size());
  if (path_[0] == '@') {
    addr.sun_path[0] = '\0';
  } else {
    ++len;  // the terminating NUL (addr is zeroed and the path fits, see the constructor)
  }
  // A socket per message: notifications are rare (readiness, a ping every WATCHDOG_USEC/2),
  // and no descriptor stays open for the life of the process.
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ssize_t sent = -1;
  do {
    sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                    reinterpret_cast<const sockaddr*>(&addr), len);
  } while (sent < 0 && errno == EINTR);
  ::close(fd);
  return sent == static_cast<ssize_t>(state.size());
}

bool Notifier::ready(std::string_view status) const {
  std::string msg = "READY=1\nSTATUS=";
  msg.append(status);
  return notify(msg);
}

bool Notifier::status(std::string_view status) const {
  std::string msg = "STATUS=";
  msg.append(status);
  return notify(msg);
}

bool Notifier::watchdog() const { return notify("WATCHDOG=1"); }

bool Notifier::stopping() const { return notify("STOPPING=1\nSTATUS=stopping"); }

namespace {

// A decimal number made of digits only (no sign, no spaces), or nullopt.
std::optional<unsigned long long> parse_decimal(const char* s) {
  if (s == nullptr || *s == '\0') return std::nullopt;
  unsigned long long v = 0;
  for (const char* c = s; *c != '\0'; ++c) {
    if (*c < '0' || *c > '9') return std::nullopt;
    const unsigned d = static_cast<unsigned>(*c - '0');
    if (v > (~0ULL - d) / 10) return std::nullopt;  // overflow
    v = v * 10 + d;
  }
  return v;
}

}  // namespace

std::optional<std::chrono::microseconds> watchdog_timeout(const char* usec, const char* pid,
                                                          long self_pid) {
  const std::optional<unsigned long long> us = parse_decimal(usec);
  // A timeout beyond what microseconds' rep holds is nonsense; so is 0 (watchdog off).
  if (!us || *us == 0 || *us > static_cast<unsigned long long>(
                                   std::chrono::microseconds::max().count())) {
    return std::nullopt;
  }
  // WATCHDOG_PID set: the watchdog is for that process only (a child that inherited the
  // environment must not ping on its parent's behalf).
  if (pid != nullptr) {
    const std::optional<unsigned long long> p = parse_decimal(pid);
    if (!p || self_pid < 0 || *p != static_cast<unsigned long long>(self_pid)) {
      return std::nullopt;
    }
  }
  return std::chrono::microseconds(static_cast<std::chrono::microseconds::rep>(*us));
}

std::optional<std::chrono::microseconds> watchdog_timeout_from_env() {
  return watchdog_timeout(std::getenv("WATCHDOG_USEC"), std::getenv("WATCHDOG_PID"),
                          static_cast<long>(::getpid()));
}

Watchdog::Watchdog(const Notifier& notifier, std::chrono::microseconds period,
                   std::function<std::uint64_t()> heartbeat)
    : notifier_(notifier),
      period_(period > std::chrono::microseconds::zero() ? period
                                                         : std::chrono::microseconds(1)),
      heartbeat_(std::move(heartbeat)) {
  thread_ = std::thread([this] { run(); });
}

Watchdog::~Watchdog() { stop(); }

void Watchdog::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::uint64_t Watchdog::pings() const {
  std::lock_guard<std::mutex> lk(mu_);
  return pings_;
}

void Watchdog::run() {
  // The baseline comes first: even the first ping needs progress since the watchdog began
  // (READY=1 has just been sent; systemd's timeout runs from there).
  std::uint64_t last = heartbeat_();
  std::unique_lock<std::mutex> lk(mu_);
  // steady_clock deadlines: a wall clock that jumps at boot (boards without an RTC) must
  // neither flood nor starve the pings.
  auto next = std::chrono::steady_clock::now() + period_;
  while (!stop_) {
    if (cv_.wait_until(lk, next, [this] { return stop_; })) break;
    next += period_;
    const auto now = std::chrono::steady_clock::now();
    if (next < now) next = now + period_;  // after a stall, no burst of catch-up pings
    lk.unlock();
    const std::uint64_t beat = heartbeat_();  // may block: then no ping, as it should be
    const bool advanced = beat != last;
    last = beat;
    const bool sent = advanced && notifier_.watchdog();
    lk.lock();
    if (sent) ++pings_;
  }
}

}  // namespace tern::app
