// Password files shared with Mosquitto both ways: files written by mosquitto_passwd verify
// here, and files we write authenticate clients at a real mosquitto. The binaries are test
// peers (Debian mosquitto, mosquitto-clients); a missing one fails the test.
#include <pwd.h>
#include <signal.h>

#include <chrono>
#include <thread>

#include <catch2/catch.hpp>

#include "broker/auth/password_file.hpp"
#include "tests/unit/auth/auth_test_util.hpp"

using namespace tern::auth;
using namespace tern::auth::test;

TEST_CASE("a file written by mosquitto_passwd verifies with PasswordFile", "[mosquitto]") {
  TempDir dir;
  REQUIRE(!dir.path().empty());
  const std::string path = dir.file("passwd");
  const std::string log = dir.file("log");
  REQUIRE(run({"mosquitto_passwd", "-c", "-b", path, "alice", "p@ss word"}, log) == 0);
  REQUIRE(run({"mosquitto_passwd", "-b", path, "bob", "other:secret$"}, log) == 0);
  INFO(read_text(path));

  std::string err;
  auto pf = PasswordFile::load(path, err);
  INFO(err);
  REQUIRE(pf);
  CHECK(pf->size() == 2);
  CHECK(pf->verify("alice", "p@ss word"));
  CHECK(pf->verify("bob", "other:secret$"));
  CHECK_FALSE(pf->verify("alice", "p@ss"));
  CHECK_FALSE(pf->verify("bob", "p@ss word"));
  CHECK_FALSE(pf->verify("carol", "p@ss word"));

  // Its hashes parse to mosquitto's parameters (101 iterations, 12-byte salt).
  const std::string text = read_text(path);
  const auto colon = text.find(':');
  const auto hash_text = text.substr(colon + 1, text.find('\n') - colon - 1);
  auto h = parse_hash(hash_text, err);
  REQUIRE(h);
  CHECK(h->iterations == 101);
  CHECK(h->salt.size() == kSaltBytes);
  CHECK(format_hash(*h) == hash_text);  // byte-identical re-encoding
}

TEST_CASE("a mosquitto_passwd -H sha512 ($6$) file is refused with file:line", "[mosquitto]") {
  TempDir dir;
  const std::string path = dir.file("legacy");
  REQUIRE(run({"mosquitto_passwd", "-H", "sha512", "-c", "-b", path, "old", "pw"},
              dir.file("log")) == 0);
  std::string err;
  CHECK_FALSE(PasswordFile::load(path, err));
  CHECK_THAT(err, Catch::StartsWith(path + ":1: user 'old': unsupported '$6$'"));
}

namespace {

// A mosquitto on 127.0.0.1:<free port> with our password file; stopped by its pid.
class Mosquitto {
 public:
  Mosquitto(const TempDir& dir, const std::string& password_file) {
    for (int attempt = 0; attempt < 5 && pid_ < 0; ++attempt) {
      port_ = free_port();
      if (port_ <= 0) continue;
      const std::string conf = dir.file("mosquitto.conf");
      std::string text = "listener " + std::to_string(port_) + " 127.0.0.1\n" +
                         "allow_anonymous false\n" + "password_file " + password_file + "\n" +
                         "persistence false\n";
      // Run as root, mosquitto would switch to its own user and could not read a 0600
      // file; "user" names the current user so it keeps ours.
      if (const passwd* pw = ::getpwuid(::geteuid()))
        text += std::string("user ") + pw->pw_name + "\n";
      write_text(conf, text);
      pid_ = spawn({"mosquitto", "-c", conf}, dir.file("mosquitto.log"));
      if (pid_ < 0) return;
      for (int i = 0; i < 100 && !can_connect(port_); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (!can_connect(port_)) {  // port taken meanwhile or a start failure: try again
        stop();
      }
    }
  }
  ~Mosquitto() { stop(); }
  Mosquitto(const Mosquitto&) = delete;
  Mosquitto& operator=(const Mosquitto&) = delete;
  bool running() const { return pid_ > 0; }
  int port() const { return port_; }

 private:
  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      (void)wait_exit(pid_);
      pid_ = -1;
    }
  }
  pid_t pid_ = -1;
  int port_ = -1;
};

}  // namespace

TEST_CASE("mosquitto authenticates clients against a file we wrote", "[mosquitto]") {
  TempDir dir;
  REQUIRE(!dir.path().empty());
  const std::string path = dir.file("passwd");
  PasswordFile pf;
  std::string err;
  REQUIRE(pf.set("alice", "correct horse", kDefaultIterations, err));
  REQUIRE(pf.set("bob", "b0b", 101, err));
  REQUIRE(pf.save(path, err));

  Mosquitto broker(dir, path);
  INFO(read_text(dir.file("mosquitto.log")));
  REQUIRE(broker.running());
  const std::string port = std::to_string(broker.port());
  auto pub = [&](const std::string& user, const std::string& password, const std::string& v) {
    return run({"mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-V", v, "-i", "tern-auth-test",
                "-u", user, "-P", password, "-t", "tern/test", "-m", "hi", "-q", "1"},
               dir.file("pub.log"));
  };
  for (const std::string v : {"mqttv311", "mqttv5"}) {
    INFO(v);
    CHECK(pub("alice", "correct horse", v) == 0);
    CHECK(pub("bob", "b0b", v) == 0);
    CHECK(pub("alice", "correct horsE", v) != 0);
    CHECK(pub("bob", "correct horse", v) != 0);
    CHECK(pub("mallory", "b0b", v) != 0);
  }
  INFO(read_text(dir.file("pub.log")));
}
