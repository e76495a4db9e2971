// The systemd notification protocol (sd_notify(3)): READY=1, STATUS=, WATCHDOG=1 and
// STOPPING=1 as datagrams on $NOTIFY_SOCKET. Written by hand (a socket and a sendmsg), so
// Tern needs no libsystemd and cross builds need no target libsystemd-dev.
// Thread safety: Notifier is immutable after construction, its calls are reentrant;
// Watchdog owns one thread, started and stopped by its owner.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace tern::app {

class Notifier {
 public:
  // `socket_path` as systemd passes it: an absolute path, or "@name" for the abstract
  // namespace. Empty = disabled: every call is a no-op that returns false.
  explicit Notifier(std::string socket_path = {});
  // From $NOTIFY_SOCKET (unset or not a usable address = disabled).
  static Notifier from_env();

  bool enabled() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  // Sends `state` (newline-separated VAR=value lines) as one datagram. False when disabled
  // or the send failed (no listener, too long an address): notifications are best effort,
  // the broker runs on either way.
  bool notify(std::string_view state) const;

  bool ready(std::string_view status) const;  // READY=1 + STATUS=
  bool status(std::string_view status) const;
  bool watchdog() const;                      // WATCHDOG=1
  bool stopping() const;                      // STOPPING=1

 private:
  std::string path_;
};

// The interval at which systemd expects WATCHDOG=1, from the values of $WATCHDOG_USEC and
// $WATCHDOG_PID (either may be null). nullopt when no watchdog is asked for us: usec unset,
// not a positive integer, or WATCHDOG_PID names another process (sd_watchdog_enabled(3)).
std::optional<std::chrono::microseconds> watchdog_timeout(const char* usec, const char* pid,
                                                          long self_pid);
// Same, from this process's environment.
std::optional<std::chrono::microseconds> watchdog_timeout_from_env();

// Sends WATCHDOG=1 every `period` (systemd advises half the timeout), but only while
// `heartbeat` returns a value different from the one at the previous ping: the heartbeat is
// the owner's proof that the broker still makes progress. A heartbeat that stops advancing
// or blocks (a deadlock) stops the pings, and systemd restarts the service.
class Watchdog {
 public:
  // REQUIRES: notifier and heartbeat stay valid until stop() or destruction.
  Watchdog(const Notifier& notifier, std::chrono::microseconds period,
           std::function<std::uint64_t()> heartbeat);
  ~Watchdog();  // stop()
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Idempotent; joins the thread (after the heartbeat call in progress, if any, returns).
  void stop();
  std::uint64_t pings() const;  // WATCHDOG=1 datagrams sent so far

 private:
  void run();

  const Notifier& notifier_;
  const std::chrono::microseconds period_;
  const std::function<std::uint64_t()> heartbeat_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::uint64_t pings_ = 0;
  std::thread thread_;
};

}  // namespace tern::app
