// sd_notify.hpp: datagrams on a filesystem socket and on an abstract one, what a disabled
// notifier does, WATCHDOG_USEC/WATCHDOG_PID parsing, and the watchdog's heartbeat rule.

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "broker/app/sd_notify.hpp"

namespace {

using tern::app::Notifier;
using tern::app::Watchdog;
using namespace std::chrono_literals;

// A bound SOCK_DGRAM receiver, as systemd's notify socket is.
class Receiver {
 public:
  // `name`: a filesystem path, or "@x" for the abstract namespace.
  explicit Receiver(const std::string& name) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(name.size() < sizeof(addr.sun_path));
    std::memcpy(addr.sun_path, name.data(), name.size());
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    if (name[0] == '@') {
      addr.sun_path[0] = '\0';
    } else {
      ++len;
    }
    REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), len) == 0);
    timeval tv{0, 200 * 1000};  // receive() gives up after 200 ms
    REQUIRE(::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
  }
  ~Receiver() { ::close(fd_); }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  // The next datagram, or nullopt after the timeout.
  std::optional<std::string> receive() {
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }

 private:
  int fd_ = -1;
};

std::string unique_suffix() {
  std::random_device rd;
  return std::to_string(::getpid()) + "-" + std::to_string(rd());
}

struct TempDir {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("tern-sd-notify-" + unique_suffix());
  TempDir() { std::filesystem::create_directories(path); }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("sd_notify: READY, STATUS, WATCHDOG and STOPPING reach a socket file",
          "[sd_notify]") {
  TempDir dir;
  const std::string path = (dir.path / "notify").string();
  Receiver rx(path);
  const Notifier n(path);
  REQUIRE(n.enabled());
  REQUIRE(n.ready("listening: mqtt=127.0.0.1:1883"));
  CHECK(rx.receive() ==
        std::optional<std::string>("READY=1\nSTATUS=listening: mqtt=127.0.0.1:1883"));
  REQUIRE(n.status("reloading"));
  CHECK(rx.receive() == std::optional<std::string>("STATUS=reloading"));
  REQUIRE(n.watchdog());
  CHECK(rx.receive() == std::optional<std::string>("WATCHDOG=1"));
  REQUIRE(n.stopping());
  const std::optional<std::string> stop = rx.receive();
  REQUIRE(stop);
  CHECK(stop->rfind("STOPPING=1", 0) == 0);
  CHECK_FALSE(rx.receive());  // one datagram per call, nothing more
}

TEST_CASE("sd_notify: an abstract socket name (@...) is reached in the abstract namespace",
          "[sd_notify]") {
  const std::string name = "@tern-sd-notify-test-" + unique_suffix();
  Receiver rx(name);
  const Notifier n(name);
  REQUIRE(n.enabled());
  REQUIRE(n.notify("READY=1"));
  CHECK(rx.receive() == std::optional<std::string>("READY=1"));
  // The '@' is not part of the name: a filesystem socket of that literal name stays unused.
  CHECK_FALSE(std::filesystem::exists(name));
  // A different abstract name is a different socket: nobody listens there.
  CHECK_FALSE(Notifier(name + "-other").notify("READY=1"));
  CHECK_FALSE(rx.receive());
}

TEST_CASE("sd_notify: no NOTIFY_SOCKET (or an unusable one) makes every call a no-op",
          "[sd_notify]") {
  const Notifier none;
  CHECK_FALSE(none.enabled());
  CHECK_FALSE(none.ready("x"));
  CHECK_FALSE(none.watchdog());
  CHECK_FALSE(none.stopping());
  for (const char* bad : {"relative/path", "@", "/", ""}) {
    CHECK_FALSE(Notifier(bad).enabled());
  }
  CHECK_FALSE(Notifier("/" + std::string(200, 'x')).enabled());  // longer than sun_path

  // From the environment: unset = disabled; set = that socket.
  const char* saved = std::getenv("NOTIFY_SOCKET");
  const std::string saved_value = saved != nullptr ? saved : "";
  ::unsetenv("NOTIFY_SOCKET");
  CHECK_FALSE(Notifier::from_env().enabled());
  TempDir dir;
  const std::string path = (dir.path / "notify").string();
  Receiver rx(path);
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  const Notifier from_env = Notifier::from_env();
  if (saved != nullptr) {
    ::setenv("NOTIFY_SOCKET", saved_value.c_str(), 1);
  } else {
    ::unsetenv("NOTIFY_SOCKET");
  }
  CHECK(from_env.path() == path);
  REQUIRE(from_env.watchdog());
  CHECK(rx.receive() == std::optional<std::string>("WATCHDOG=1"));
}

TEST_CASE("sd_notify: a socket path nobody listens on fails without harm", "[sd_notify]") {
  TempDir dir;
  const Notifier n((dir.path / "nobody").string());
  CHECK(n.enabled());
  CHECK_FALSE(n.ready("x"));
}

TEST_CASE("sd_notify: WATCHDOG_USEC and WATCHDOG_PID", "[sd_notify]") {
  using tern::app::watchdog_timeout;
  CHECK(watchdog_timeout("30000000", nullptr, 42) == std::optional(30s));
  CHECK(watchdog_timeout("30000000", "42", 42) == std::optional(30s));
  CHECK_FALSE(watchdog_timeout("30000000", "43", 42));  // another process's watchdog
  CHECK_FALSE(watchdog_timeout("30000000", "x", 42));
  CHECK_FALSE(watchdog_timeout(nullptr, "42", 42));
  CHECK_FALSE(watchdog_timeout("0", nullptr, 42));  // 0 = off
  CHECK_FALSE(watchdog_timeout("", nullptr, 42));
  CHECK_FALSE(watchdog_timeout("-5", nullptr, 42));
  CHECK_FALSE(watchdog_timeout("30s", nullptr, 42));
  CHECK_FALSE(watchdog_timeout("99999999999999999999999", nullptr, 42));  // overflow
}

TEST_CASE("sd_notify: the watchdog pings while the heartbeat advances and stops when it "
          "stalls", "[sd_notify]") {
  TempDir dir;
  const std::string path = (dir.path / "notify").string();
  Receiver rx(path);
  const Notifier n(path);
  std::atomic<std::uint64_t> beat{0};
  std::atomic<bool> advancing{true};
  Watchdog w(n, 20ms, [&] {
    return advancing.load() ? beat.fetch_add(1) + 1 : beat.load();
  });
  // Advancing: a ping about every period.
  for (int i = 0; i < 3; ++i) CHECK(rx.receive() == std::optional<std::string>("WATCHDOG=1"));
  // Stalled: no more pings. One may already be on its way (heartbeat taken before the
  // stall): wait until the count holds still for a few periods, then drain.
  advancing = false;
  std::uint64_t settled = w.pings();
  for (int i = 0; i < 50; ++i) {
    std::this_thread::sleep_for(150ms);
    const std::uint64_t now = w.pings();
    if (now == settled) break;
    settled = now;
  }
  while (rx.receive()) {
  }
  const std::uint64_t before = w.pings();
  std::this_thread::sleep_for(100ms);
  CHECK(w.pings() == before);
  CHECK_FALSE(rx.receive());
  // Progress again: pings resume.
  advancing = true;
  CHECK(rx.receive() == std::optional<std::string>("WATCHDOG=1"));
  w.stop();
  w.stop();  // idempotent
  const std::uint64_t after_stop = w.pings();
  CHECK(after_stop >= 4);
  std::this_thread::sleep_for(60ms);
  CHECK(w.pings() == after_stop);
}
