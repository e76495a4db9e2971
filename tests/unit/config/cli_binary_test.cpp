// The built `tern` binary, run as a user would: --version, --check-config, refusing to
// start on a bad config or a port in use, a clean start/stop on 127.0.0.1 port 0, and the
// security wiring (tern passwd, TLS and password files checked, SIGHUP reload).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#ifndef TERN_BINARY
#error "TERN_BINARY must name the built tern executable"
#endif

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

// A child `tern` with stdout and stderr on one pipe. Killed on destruction if still running.
class Tern {
 public:
  explicit Tern(std::vector<std::string> args) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      dup2(fds[1], 1);
      dup2(fds[1], 2);
      close(fds[0]);
      close(fds[1]);
      std::vector<char*> argv;
      std::string bin = TERN_BINARY;
      argv.push_back(bin.data());
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
    close(fds[1]);
    fd_ = fds[0];
  }
  ~Tern() {
    if (pid_ > 0 && !status_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) close(fd_);
  }
  Tern(const Tern&) = delete;
  Tern& operator=(const Tern&) = delete;

  // Reads output until it contains `text` or the process ends or `timeout` passes.
  bool wait_for_output(const std::string& text, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (output_.find(text) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      char buf[4096];
      const ssize_t n = read(fd_, buf, sizeof buf);
      if (n <= 0) return output_.find(text) != std::string::npos;
      output_.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }

  // Like wait_for_output, but also waits for the end of the line holding `text`.
  bool wait_for_line(const std::string& text, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    if (!wait_for_output(text, timeout)) return false;
    while (output_.find('\n', output_.find(text)) == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      const std::size_t before = output_.size();
      wait_for_output("\x01never\x01", std::chrono::seconds(1));
      if (output_.size() == before && !running()) return false;
    }
    return true;
  }

  bool running() {
    if (status_) return false;
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) == pid_) status_ = st;
    return !status_;
  }

  // Exit code once the process ends within `timeout`; nullopt if it does not (or dies by a
  // signal).
  std::optional<int> wait_exit(std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!status_) {
      int st = 0;
      const pid_t r = waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        status_ = st;
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
      wait_for_output("\x01never\x01", std::chrono::seconds(0));  // drain the pipe
      usleep(20'000);
    }
    wait_for_output("\x01never\x01", std::chrono::seconds(1));  // the rest of the output
    if (!WIFEXITED(*status_)) return std::nullopt;
    return WEXITSTATUS(*status_);
  }

  void signal(int sig) { kill(pid_, sig); }
  const std::string& output() const { return output_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::optional<int> status_;
  std::string output_;
};

struct Result {
  std::optional<int> exit_code;
  std::string output;
};

Result run(std::vector<std::string> args) {
  Tern t(std::move(args));
  Result r;
  r.exit_code = t.wait_exit(std::chrono::seconds(20));
  r.output = t.output();
  return r;
}

std::string temp_file(const std::string& content) {
  char path[] = "/tmp/tern-cli-test-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  std::ofstream(path) << content;
  return path;
}

// The port in "ready: <name>=127.0.0.1:<port>, ...".
int listening_port(const std::string& output, const std::string& name) {
  const std::string marker = name + "=127.0.0.1:";
  const auto at = output.find(marker);
  if (at == std::string::npos) return -1;
  return std::atoi(output.c_str() + at + marker.size());
}

// An MQTT 3.1.1 CONNECT answered by CONNACK 0x00 on 127.0.0.1:port. Proves the broker's
// loop is running (and so its signal handling is in place), not just that the port is bound.
bool mqtt_connect(int port) {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) return false;
  timeval tv{10, 0};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  // CONNECT: protocol "MQTT" level 4, clean session, keep alive 60 s, client id "a".
  const unsigned char connect_packet[] = {0x10, 13,   0, 4,  'M', 'Q', 'T', 'T',
                                          4,    0x02, 0, 60, 0,   1,   'a'};
  ok = ok && send(s, connect_packet, sizeof connect_packet, MSG_NOSIGNAL) ==
                 static_cast<ssize_t>(sizeof connect_packet);
  unsigned char connack[4] = {};
  std::size_t got = 0;
  while (ok && got < sizeof connack) {
    const ssize_t n = recv(s, connack + got, sizeof connack - got, 0);
    if (n <= 0)
      ok = false;
    else
      got += static_cast<std::size_t>(n);
  }
  close(s);
  return ok && connack[0] == 0x20 && connack[1] == 2 && connack[3] == 0;
}

const std::string kDefaultConfig = std::string(TERN_SOURCE_DIR) + "/configs/tern.yaml";

}  // namespace

TEST_CASE("tern --version", "[app][binary]") {
  const Result r = run({"--version"});
  CHECK(r.exit_code == 0);
  CHECK(r.output == std::string("tern ") + TERN_VERSION + "\n");
}

TEST_CASE("tern --check-config on configs/tern.yaml exits 0", "[app][binary]") {
  const Result r = run({"--check-config", kDefaultConfig});
  CHECK(r.exit_code == 0);
  CHECK(r.output == "configuration OK\n");
}

TEST_CASE("tern --check-config on a broken file exits 1 with every error", "[app][binary]") {
  const std::string path = temp_file(
      "listeners:\n  - name: a\n    bind: \"0.0.0.0:99999\"\nmqtt:\n  max_inflight: abc\n"
      "storage:\n  path: var/lib/tern\n");
  const Result r = run({"--check-config", path});
  std::remove(path.c_str());
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains(path + ":3: listeners[0].bind: port 99999 out of range"));
  CHECK_THAT(r.output, Contains(path + ":5: mqtt.max_inflight: expected an integer"));
  CHECK_THAT(r.output, Contains(path + ":7: storage.path: expected an absolute path"));
  CHECK(r.output.find("configuration OK") == std::string::npos);

  const Result missing = run({"--check-config", "/nonexistent/tern.yaml"});
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.output, Contains("/nonexistent/tern.yaml: cannot read file"));
}

TEST_CASE("tern --check-config on configs/durable.yaml exits 0", "[app][binary][storage]") {
  const Result r = run({"--check-config", std::string(TERN_SOURCE_DIR) + "/configs/durable.yaml"});
  CHECK(r.exit_code == 0);
  CHECK(r.output == "configuration OK\n");
  const Result help = run({"--help"});
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.output, Contains("--data-dir DIR"));
  // --data-dir is checked with the rest of the command line.
  const Result bad = run({"--check-config", kDefaultConfig, "--data-dir", "/"});
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.output, Contains("command line: --data-dir: expected a directory of its own"));
  CHECK(run({"--check-config", kDefaultConfig, "--data-dir", "/tmp/x"}).exit_code == 0);
}

TEST_CASE("tern refuses to start on an invalid config or command line", "[app][binary]") {
  const std::string path = temp_file("mqtt:\n  max_inflight: 0\n");
  const Result r = run({"--config", path});
  std::remove(path.c_str());
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains(path + ":2: mqtt.max_inflight:"));

  const Result bind = run({"--bind", "localhost", "-p", "0"});
  CHECK(bind.exit_code == 1);
  CHECK_THAT(bind.output, Contains("command line: --bind: expected an IPv4 or IPv6 address"));

  const Result usage = run({"--port", "99999"});
  CHECK(usage.exit_code == 2);
}

TEST_CASE("tern exits 1 when a listener cannot bind", "[app][binary]") {
  // Hold a port on 127.0.0.1 and ask tern for the same one.
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(s >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(listen(s, 1) == 0);
  socklen_t len = sizeof a;
  REQUIRE(getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  const int port = ntohs(a.sin_port);

  const Result r = run({"--bind", "127.0.0.1", "-p", std::to_string(port)});
  close(s);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("cannot start"));
}

TEST_CASE("tern starts on 127.0.0.1 port 0, logs its startup, and stops on SIGTERM",
          "[app][binary]") {
  Tern t({"--config", kDefaultConfig, "--bind", "127.0.0.1", "-p", "0"});
  REQUIRE(t.wait_for_line("ready: mqtt=127.0.0.1:", std::chrono::seconds(20)));
  const int port = listening_port(t.output(), "mqtt");
  INFO(t.output());
  REQUIRE(port > 0);
  REQUIRE(mqtt_connect(port));
  CHECK_THAT(t.output(), Contains(std::string("tern ") + TERN_VERSION + " starting"));
  CHECK_THAT(t.output(), Contains("config: " + kDefaultConfig));
  CHECK_THAT(t.output(), Contains("io threads: "));
  t.signal(SIGTERM);
  CHECK(t.wait_exit(std::chrono::seconds(20)) == 0);
  CHECK_THAT(t.output(), Contains("tern stopped"));
}

TEST_CASE("tern logs JSON lines when log.format is json", "[app][binary]") {
  const std::string path = temp_file(
      "listeners:\n  - name: local\n    bind: \"127.0.0.1:0\"\n"
      "log:\n  format: json\n  to: stderr\n  level: debug\n");
  Tern t({"--config", path});
  const bool up = t.wait_for_line("ready: local=127.0.0.1:", std::chrono::seconds(20));
  std::remove(path.c_str());
  INFO(t.output());
  REQUIRE(up);
  REQUIRE(mqtt_connect(listening_port(t.output(), "local")));
  t.signal(SIGINT);
  CHECK(t.wait_exit(std::chrono::seconds(20)) == 0);
  // Every line is one JSON object.
  std::size_t start = 0;
  int lines = 0;
  while (start < t.output().size()) {
    const std::size_t end = t.output().find('\n', start);
    const std::string line = t.output().substr(start, end - start);
    CHECK_THAT(line, StartsWith("{\"ts\":\""));
    CHECK(line.back() == '}');
    ++lines;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  CHECK(lines >= 4);
}

namespace {

// A fresh directory under /tmp, removed with everything in it at scope exit.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/tern-cli-data-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// What LevelDB finds when its CURRENT file is garbage: a corrupt store.
void corrupt_store(const std::filesystem::path& dir) {
  REQUIRE(std::filesystem::exists(dir / "CURRENT"));
  std::ofstream(dir / "CURRENT", std::ios::trunc) << "garbage";
}

std::vector<std::filesystem::path> moved_aside(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(dir.parent_path())) {
    if (e.path().filename().string().starts_with(dir.filename().string() + ".corrupt-"))
      out.push_back(e.path());
  }
  return out;
}

}  // namespace

TEST_CASE("tern --data-dir turns persistence on in that directory", "[app][binary][storage]") {
  TempDir tmp;
  const std::filesystem::path data = tmp.path / "nested" / "data";
  for (int round = 0; round < 2; ++round) {
    Tern t({"--config", kDefaultConfig, "--bind", "127.0.0.1", "-p", "0", "--data-dir",
            data.string() + "/"});
    const bool up = t.wait_for_line("ready: mqtt=127.0.0.1:", std::chrono::seconds(20));
    INFO(t.output());
    REQUIRE(up);
    REQUIRE(mqtt_connect(listening_port(t.output(), "mqtt")));
    // The store was created (with its parents) where --data-dir said, trailing slash gone.
    CHECK(std::filesystem::exists(data / "CURRENT"));
    CHECK_THAT(t.output(), Contains("storage " + data.string() + ": sync batch"));
    t.signal(SIGTERM);
    CHECK(t.wait_exit(std::chrono::seconds(20)) == 0);
  }
  CHECK(moved_aside(data).empty());
}

TEST_CASE("storage.on_corruption: fail refuses to start, move_aside starts empty",
          "[app][binary][storage]") {
  TempDir tmp;
  const std::filesystem::path data = tmp.path / "data";
  {
    Tern t({"--bind", "127.0.0.1", "-p", "0", "--data-dir", data.string()});
    REQUIRE(t.wait_for_line("ready: mqtt=127.0.0.1:", std::chrono::seconds(20)));
    t.signal(SIGTERM);
    REQUIRE(t.wait_exit(std::chrono::seconds(20)) == 0);
  }
  corrupt_store(data);

  // storage: from the YAML, the directory from the command line.
  const std::string fail_cfg = temp_file(
      "listeners:\n  - {name: mqtt, bind: \"127.0.0.1:0\"}\n"
      "storage:\n  path: /nonexistent/overridden\n  on_corruption: fail\n");
  const Result refused = run({"--config", fail_cfg, "--data-dir", data.string()});
  std::remove(fail_cfg.c_str());
  INFO(refused.output);
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.output, Contains("cannot start") && Contains(data.string()));
  CHECK(moved_aside(data).empty());  // left as it was, for someone to look at
  CHECK(std::filesystem::exists(data / "CURRENT"));

  Tern t({"--bind", "127.0.0.1", "-p", "0", "--data-dir", data.string()});
  const bool up = t.wait_for_line("ready: mqtt=127.0.0.1:", std::chrono::seconds(20));
  INFO(t.output());
  REQUIRE(up);
  CHECK_THAT(t.output(), Contains("moved aside to " + data.string() + ".corrupt-"));
  CHECK(moved_aside(data).size() == 1);
  t.signal(SIGTERM);
  CHECK(t.wait_exit(std::chrono::seconds(20)) == 0);
}

TEST_CASE("tern --check-config on bridge configs", "[app][binary][bridge]") {
  const std::string secret = temp_file("s3cret\n");
  const std::string good = temp_file(
      "bridges:\n  - name: cloud\n    remote: \"mqtt://127.0.0.1:1\"\n    username: u\n"
      "    password_file: " +
      secret + "\n    topics: [{pattern: \"a/#\"}]\n");
  const Result ok = run({"--check-config", good});
  CHECK(ok.exit_code == 0);
  CHECK(ok.output == "configuration OK\n");

  const std::string bad = temp_file(
      "bridges:\n  - name: cloud\n    remote: \"cloud:1883\"\n"
      "    topics: [{pattern: \"a/#/b\"}]\n");
  const Result r = run({"--check-config", bad});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains(bad + ":3: bridges[0].remote: expected \"mqtt://host:port\""));
  CHECK_THAT(r.output,
             Contains(bad + ":4: bridges[0].topics[0].pattern: not a valid topic filter"));
  for (const auto& p : {secret, good, bad}) std::remove(p.c_str());
}

// main runs app::to_bridge_options for --check-config too, so a file the broker could not
// read at start-up fails the check, at the key that named it.
TEST_CASE("tern --check-config reads the files a bridge names", "[app][binary][bridge]") {
  const std::string missing = temp_file(
      "bridges:\n  - name: cloud\n    remote: \"mqtt://127.0.0.1:1\"\n"
      "    password_file: /nonexistent/tern.secret\n    topics: [{pattern: \"a/#\"}]\n");
  const Result m = run({"--check-config", missing});
  CHECK(m.exit_code == 1);
  CHECK_THAT(m.output, Contains(missing +
                                ":4: bridges[0].password_file: cannot read "
                                "\"/nonexistent/tern.secret\": No such file or directory"));
  std::remove(missing.c_str());
}

// ---- security: tern passwd, --check-config on TLS and password files, SIGHUP reload ----

namespace {

// `tern passwd ARGS` with `input` on stdin, through the shell; the exit code.
int passwd(const std::string& args, const std::string& input) {
  const std::string cmd = "printf '%s\\n' '" + input + "' | '" + std::string(TERN_BINARY) +
                          "' passwd " + args + " >/dev/null 2>&1";
  const int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string temp_dir() {
  char tmpl[] = "/tmp/tern-cli-sec-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  return tmpl;
}

// The CONNACK return code for an MQTT 3.1.1 CONNECT with a user name and password, or -1.
int connect_code(int port, const std::string& user, const std::string& password) {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) return -1;
  timeval tv{10, 0};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(s);
    return -1;
  }
  const auto str = [](std::string& out, const std::string& v) {
    out += static_cast<char>(v.size() >> 8);
    out += static_cast<char>(v.size() & 0xff);
    out += v;
  };
  std::string body;
  str(body, "MQTT");
  body += '\x04';        // 3.1.1
  body += '\xC2';        // user name, password, clean session
  body += '\x00';
  body += '\x3c';        // keep alive 60 s
  str(body, "c1");
  str(body, user);
  str(body, password);
  std::string packet = "\x10";
  packet += static_cast<char>(body.size());  // < 128 here
  packet += body;
  int code = -1;
  if (send(s, packet.data(), packet.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(packet.size())) {
    unsigned char connack[4] = {};
    std::size_t got = 0;
    while (got < sizeof connack) {
      const ssize_t n = recv(s, connack + got, sizeof connack - got, 0);
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    if (got == 4 && connack[0] == 0x20) code = connack[3];
  }
  close(s);
  return code;
}

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Waits until `what` occurs `n` times in the output (a log line repeated by later events).
bool wait_for_count(Tern& t, const std::string& what, std::size_t n) {
  for (int i = 0; i < 40 && occurrences(t.output(), what) < n; ++i) {
    t.wait_for_output("\x01never\x01", std::chrono::seconds(1));
  }
  return occurrences(t.output(), what) >= n;
}

}  // namespace

TEST_CASE("tern passwd adds, lists and deletes users", "[app][binary][security]") {
  const std::string dir = temp_dir();
  const std::string file = dir + "/passwd";
  CHECK(passwd("--password-stdin " + file + " add alice", "s3cret") == 0);
  CHECK(passwd("--password-stdin " + file + " add bob", "hunter2") == 0);
  std::ifstream in(file);
  std::string line;
  REQUIRE(std::getline(in, line));
  CHECK_THAT(line, StartsWith("alice:$7$"));
  CHECK(std::filesystem::status(file).permissions() ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  const Result list = run({"passwd", file, "list"});
  CHECK(list.exit_code == 0);
  CHECK_THAT(list.output, Contains("alice") && Contains("bob"));
  CHECK(passwd(file + " delete bob", "") == 0);
  CHECK_THAT(run({"passwd", file, "list"}).output, !Contains("bob"));
  // A usage error is exit code 2, as for the broker's own command line.
  CHECK(run({"passwd"}).exit_code == 2);
  // The broker's --help points at it.
  CHECK_THAT(run({"--help"}).output, Contains("tern passwd --help"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("tern --check-config loads TLS files and the password file", "[app][binary][security]") {
  const std::string dir = temp_dir();
  REQUIRE(std::system(("'" + std::string(TERN_SOURCE_DIR) + "/tests/certs/generate.sh' '" + dir +
                       "'")
                          .c_str()) == 0);
  REQUIRE(passwd("--password-stdin " + dir + "/passwd add alice", "one") == 0);
  const std::string tls = "listeners:\n  - name: s\n    bind: \"127.0.0.1:0\"\n    tls:\n"
                          "      cert: " + dir + "/server.crt\n      key: " + dir + "/";
  const std::string good = temp_file(tls + "server.key\nauth:\n  password_file: " + dir +
                                     "/passwd\n");
  const Result ok = run({"--check-config", good});
  INFO(ok.output);
  CHECK(ok.exit_code == 0);
  CHECK(ok.output == "configuration OK\n");

  // Every problem at once: a key for another certificate, a missing password file.
  const std::string bad = temp_file(tls + "other-server.key\nauth:\n  password_file: " + dir +
                                    "/nope\n");
  const Result r = run({"--check-config", bad});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains(bad + ":5: listeners[0].tls: "));
  CHECK_THAT(r.output, Contains(bad + ":8: auth.password_file: cannot read \"" + dir +
                                "/nope\": No such file or directory"));
  // The broker refuses to start on the same file.
  const Result start = run({"--config", bad});
  CHECK(start.exit_code == 1);
  CHECK_THAT(start.output, Contains("auth.password_file: cannot read"));
  for (const auto& p : {good, bad}) std::remove(p.c_str());
  std::filesystem::remove_all(dir);
}

TEST_CASE("SIGHUP reloads the password file, a broken one keeps the old state",
          "[app][binary][security]") {
  const std::string dir = temp_dir();
  const std::string pw = dir + "/passwd";
  REQUIRE(passwd("--password-stdin " + pw + " add alice", "one") == 0);
  const std::string cfg_path = dir + "/tern.yaml";
  const std::string cfg = "listeners:\n  - name: local\n    bind: \"127.0.0.1:0\"\n"
                          "auth:\n  password_file: " + pw + "\n";
  std::ofstream(cfg_path) << cfg;
  Tern t({"--config", cfg_path});
  REQUIRE(t.wait_for_line("ready: local=127.0.0.1:", std::chrono::seconds(20)));
  INFO(t.output());
  const int port = listening_port(t.output(), "local");
  REQUIRE(port > 0);
  CHECK_THAT(t.output(), Contains("auth: " + pw + " (1 users)"));
  CHECK(connect_code(port, "alice", "one") == 0);
  CHECK(connect_code(port, "alice", "two") == 4);  // 3.1.1 bad user name or password

  // A new password, applied on SIGHUP without a restart.
  REQUIRE(passwd("--password-stdin " + pw + " change alice", "two") == 0);
  t.signal(SIGHUP);
  REQUIRE(wait_for_count(t, "reload done", 1));
  CHECK(connect_code(port, "alice", "two") == 0);
  CHECK(connect_code(port, "alice", "one") == 4);

  // A broken file: logged, the running state stays, the broker keeps running.
  std::ofstream(pw) << "not a password line\n";
  t.signal(SIGHUP);
  REQUIRE(wait_for_count(t, "reload failed: the running", 1));
  CHECK_THAT(t.output(), Contains("auth.password_file"));
  CHECK(t.running());
  CHECK(connect_code(port, "alice", "two") == 0);

  // Other sections are not applied, only named.
  std::filesystem::remove(pw);
  REQUIRE(passwd("--password-stdin " + pw + " add alice", "three") == 0);
  std::ofstream(cfg_path) << cfg << "mqtt:\n  max_inflight: 5\n";
  t.signal(SIGHUP);
  REQUIRE(wait_for_count(t, "reload done", 2));
  CHECK_THAT(t.output(), Contains("changes to mqtt need a restart"));
  CHECK(connect_code(port, "alice", "three") == 0);

  t.signal(SIGTERM);
  CHECK(t.wait_exit(std::chrono::seconds(20)) == 0);
  std::filesystem::remove_all(dir);
}
