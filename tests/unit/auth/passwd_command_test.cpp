// `tern passwd`: add / change / delete / list, errors and exit codes.
#include <sys/stat.h>

#include <sstream>

#include <catch2/catch.hpp>

#include "broker/auth/passwd_command.hpp"
#include "broker/auth/password_file.hpp"
#include "tests/unit/auth/auth_test_util.hpp"

using namespace tern::auth;
using tern::auth::test::TempDir;

namespace {

struct Result {
  int code;
  std::string out;
  std::string err;
};

Result passwd(std::vector<std::string> args, const std::string& input = "",
              bool interactive = false) {
  std::istringstream in(input);
  std::ostringstream out;
  std::ostringstream err;
  const int code = run_passwd(args, in, out, err, interactive);
  return {code, out.str(), err.str()};
}

PasswordFile load(const std::string& path) {
  std::string err;
  auto pf = PasswordFile::load(path, err);
  INFO(err);
  REQUIRE(pf);
  return *pf;
}

}  // namespace

TEST_CASE("passwd add creates the file, change, delete and list", "[passwd]") {
  TempDir dir;
  REQUIRE(!dir.path().empty());
  const std::string f = dir.file("passwd");

  auto r = passwd({"--iterations", "100", f, "add", "alice"}, "first\n");
  INFO(r.err);
  REQUIRE(r.code == 0);
  struct stat st {};
  REQUIRE(::stat(f.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(load(f).verify("alice", "first"));
  CHECK(tern::auth::test::read_text(f).find("alice:$7$100$") == 0);

  REQUIRE(passwd({f, "add", "bob"}, "b0b pass\r\n").code == 0);  // CRLF stripped
  CHECK(load(f).verify("bob", "b0b pass"));
  CHECK(tern::auth::test::read_text(f).find("bob:$7$10000$") != std::string::npos);

  r = passwd({f, "list"});
  CHECK(r.code == 0);
  CHECK(r.out == "alice\nbob\n");

  REQUIRE(passwd({"--iterations=200", f, "change", "alice"}, "second\n").code == 0);
  auto pf = load(f);
  CHECK(pf.verify("alice", "second"));
  CHECK_FALSE(pf.verify("alice", "first"));
  CHECK(pf.verify("bob", "b0b pass"));  // others untouched

  REQUIRE(passwd({f, "delete", "bob"}).code == 0);
  pf = load(f);
  CHECK_FALSE(pf.contains("bob"));
  CHECK(pf.contains("alice"));
  CHECK(passwd({f, "list"}).out == "alice\n");
}

TEST_CASE("passwd errors exit 1 with a message and leave the file alone", "[passwd]") {
  TempDir dir;
  const std::string f = dir.file("passwd");
  REQUIRE(passwd({"--iterations", "50", f, "add", "alice"}, "pw\n").code == 0);
  const std::string before = tern::auth::test::read_text(f);

  struct Case {
    std::vector<std::string> args;
    std::string input;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{f, "add", "alice"}, "x\n", "exists"},
      {{f, "change", "bob"}, "x\n", "no user 'bob'"},
      {{f, "delete", "bob"}, "", "no user 'bob'"},
      {{dir.file("absent"), "change", "alice"}, "x\n", "cannot open"},
      {{dir.file("absent"), "delete", "alice"}, "", "cannot open"},
      {{dir.file("absent"), "list"}, "", "cannot open"},
      {{f, "add", "carol"}, "", "no password"},
      {{f, "add", "carol"}, "\n", "empty password"},
      {{f, "add", "ca:rol"}, "x\n", "':'"},
      {{f, "add", "carol"}, std::string(70000, 'p') + "\n", "longer than 65535"},
      {{dir.file("no/dir/passwd"), "add", "carol"}, "x\n", "no/dir/passwd"},
  };
  for (const auto& c : cases) {
    std::string joined;
    for (const auto& a : c.args) joined += a + " ";
    INFO(joined);
    const auto r = passwd(c.args, c.input);
    CHECK(r.code == 1);
    CHECK(r.err.find(c.expect) != std::string::npos);
    CHECK(r.out.empty());
  }
  CHECK(tern::auth::test::read_text(f) == before);
}

TEST_CASE("passwd refuses to edit a file it cannot parse", "[passwd]") {
  TempDir dir;
  const std::string f = dir.file("passwd");
  tern::auth::test::write_text(f, "alice:plaintext\n");
  const auto r = passwd({f, "add", "bob"}, "x\n");
  CHECK(r.code == 1);
  CHECK(r.err.find(f + ":1:") != std::string::npos);
  CHECK(tern::auth::test::read_text(f) == "alice:plaintext\n");
}

TEST_CASE("passwd usage errors exit 2", "[passwd]") {
  TempDir dir;
  const std::string f = dir.file("passwd");
  const std::vector<std::vector<std::string>> cases = {
      {},
      {f},
      {f, "frobnicate", "alice"},
      {f, "add"},
      {f, "add", "a", "b"},
      {f, "list", "alice"},
      {"--iterations", f, "add", "alice"},
      {"--iterations", "0", f, "add", "alice"},
      {"--iterations", "x", f, "add", "alice"},
      {"--iterations=99999999999", f, "add", "alice"},
      {"--iterations"},
      {"--bogus", f, "add", "alice"},
  };
  for (const auto& args : cases) {
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    INFO(joined);
    const auto r = passwd(args, "x\n");
    CHECK(r.code == 2);
    CHECK(r.err.find("usage: tern passwd") != std::string::npos);
  }
  struct stat st {};
  CHECK(::stat(f.c_str(), &st) != 0);  // nothing created

  const auto help = passwd({"--help"});
  CHECK(help.code == 0);
  CHECK(help.out.find("usage: tern passwd") != std::string::npos);
}

TEST_CASE("passwd interactive: prompts twice and requires both to match", "[passwd]") {
  TempDir dir;
  const std::string f = dir.file("passwd");
  auto r = passwd({"--iterations", "50", f, "add", "alice"}, "one\ntwo\n", true);
  CHECK(r.code == 1);
  CHECK(r.err.find("do not match") != std::string::npos);
  struct stat st {};
  CHECK(::stat(f.c_str(), &st) != 0);

  r = passwd({"--iterations", "50", f, "add", "alice"}, "same\nsame\n", true);
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.err.find("Password:") != std::string::npos);
  CHECK(r.err.find("Reenter password:") != std::string::npos);
  CHECK(r.err.find("same") == std::string::npos);  // never echoed
  CHECK(load(f).verify("alice", "same"));

  r = passwd({"--iterations", "50", f, "change", "alice"}, "only-once\n", true);
  CHECK(r.code == 1);  // second entry missing

  // --password-stdin: one line, no prompt, even on a terminal
  r = passwd({"--password-stdin", "--iterations", "50", f, "change", "alice"}, "piped\n", true);
  CHECK(r.code == 0);
  CHECK(r.err.empty());
  CHECK(load(f).verify("alice", "piped"));
}

TEST_CASE("a file written by tern passwd works with mosquitto_passwd and back",
          "[passwd][mosquitto]") {
  TempDir dir;
  const std::string f = dir.file("passwd");
  REQUIRE(passwd({f, "add", "alice"}, "pw1\n").code == 0);
  // mosquitto_passwd appends a user to our file, and we read its entry
  REQUIRE(tern::auth::test::run({"mosquitto_passwd", "-b", f, "bob", "pw2"}, dir.file("log")) ==
          0);
  auto pf = load(f);
  CHECK(pf.verify("alice", "pw1"));
  CHECK(pf.verify("bob", "pw2"));
  REQUIRE(passwd({f, "delete", "bob"}).code == 0);
  CHECK(passwd({f, "list"}).out == "alice\n");
}
