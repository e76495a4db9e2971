// PasswordFile: the $7$ format, verification, parse errors and atomic 0600 saves.
#include <sys/stat.h>

#include <array>
#include <chrono>

#include <catch2/catch.hpp>

#include "broker/auth/password_file.hpp"
#include "broker/tls/crypto.hpp"
#include "tests/unit/auth/auth_test_util.hpp"

using namespace tern::auth;
using tern::auth::test::TempDir;

namespace {
constexpr std::uint32_t kFast = 50;  // keeps PBKDF2 cheap where iterations do not matter
}

TEST_CASE("hash_password formats as $7$<iterations>$<salt>$<hash> and parses back",
          "[password]") {
  auto h = hash_password("s3cret", 1234);
  REQUIRE(h);
  CHECK(h->iterations == 1234);
  CHECK(h->salt.size() == kSaltBytes);
  CHECK(h->hash.size() == kHashBytes);
  const std::string text = format_hash(*h);
  CHECK(text.starts_with("$7$1234$"));
  // 12 salt bytes are 16 base64 characters, 64 hash bytes are 88.
  const auto salt_end = text.find('$', 8);
  REQUIRE(salt_end != std::string::npos);
  CHECK(salt_end - 8 == 16);
  CHECK(text.size() - salt_end - 1 == 88);
  std::string err;
  auto back = parse_hash(text, err);
  REQUIRE(back);
  CHECK(*back == *h);
  CHECK(verify_hash(*back, "s3cret"));
  CHECK_FALSE(verify_hash(*back, "s3creT"));
  CHECK_FALSE(verify_hash(*back, ""));
}

TEST_CASE("each hash gets a fresh salt", "[password]") {
  auto a = hash_password("same", kFast);
  auto b = hash_password("same", kFast);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->salt != b->salt);
  CHECK(a->hash != b->hash);
}

TEST_CASE("the hash is PBKDF2-HMAC-SHA512 over the raw salt", "[password]") {
  // RFC-style check against the primitive directly: the stored hash must be exactly
  // PBKDF2(password, salt, iterations, 64), which is what mosquitto computes.
  auto h = hash_password("pw", 77);
  REQUIRE(h);
  std::array<std::uint8_t, 64> out{};
  REQUIRE(tern::tls::pbkdf2_sha512("pw", h->salt, 77, out));
  CHECK(std::string(reinterpret_cast<const char*>(out.data()), out.size()) == h->hash);
}

TEST_CASE("parse_hash rejects other formats with a clear message and never quotes the text",
          "[password]") {
  struct Case {
    std::string text;
    std::string expect;  // part of the error
  };
  const std::string good_salt = "L/ehkV/u7Rk/hZ7P";
  const std::string good_hash =
      "IdfEl9DtKqvuG7nMRU2FCKQ6q/aOTX1nkoYbVBiRUBTY+rk7jjHjMExFXIXkMcYOwbeq8nXUJ05miU5i47h+gw==";
  const std::vector<Case> cases = {
      {"$6$70456Tiip/ymjkAB$" + good_hash, "$6$"},
      {"hunter2", "plain text"},
      {"$5$abc$def", "unsupported hash format"},
      {"$7$$" + good_salt + "$" + good_hash, "iteration"},
      {"$7$0$" + good_salt + "$" + good_hash, "iteration"},
      {"$7$-5$" + good_salt + "$" + good_hash, "iteration"},
      {"$7$12x$" + good_salt + "$" + good_hash, "iteration"},
      {"$7$99999999999$" + good_salt + "$" + good_hash, "iteration"},
      {"$7$101$" + good_hash, "malformed"},
      {"$7$101$" + good_salt + "$" + good_hash + "$x", "malformed"},
      {"$7$101$$" + good_hash, "salt"},
      {"$7$101$@@@@$" + good_hash, "salt"},
      {"$7$101$" + good_salt + "$" + good_salt, "hash"},
      {"$7$101$" + good_salt + "$", "hash"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    std::string err;
    CHECK_FALSE(parse_hash(c.text, err));
    CHECK(err.find(c.expect) != std::string::npos);
  }
  std::string err;
  CHECK_FALSE(parse_hash("hunter2", err));
  CHECK(err.find("hunter2") == std::string::npos);
}

TEST_CASE("PasswordFile verifies good, bad and unknown users", "[password]") {
  PasswordFile pf;
  std::string err;
  REQUIRE(pf.set("alice", "wonderland", kFast, err));
  REQUIRE(pf.set("bob", "builder", kFast, err));
  CHECK(pf.size() == 2);
  CHECK(pf.verify("alice", "wonderland"));
  CHECK(pf.verify("bob", "builder"));
  CHECK_FALSE(pf.verify("alice", "builder"));
  CHECK_FALSE(pf.verify("alice", ""));
  CHECK_FALSE(pf.verify("carol", "wonderland"));
  CHECK_FALSE(pf.verify("", ""));
  CHECK(pf.contains("alice"));
  CHECK_FALSE(pf.contains("carol"));
  CHECK(pf.users() == std::vector<std::string>{"alice", "bob"});

  // change, remove
  REQUIRE(pf.set("alice", "new", kFast, err));
  CHECK(pf.verify("alice", "new"));
  CHECK_FALSE(pf.verify("alice", "wonderland"));
  CHECK(pf.remove("bob"));
  CHECK_FALSE(pf.remove("bob"));
  CHECK_FALSE(pf.verify("bob", "builder"));
  CHECK(pf.size() == 1);
}

TEST_CASE("user name rules for set", "[password]") {
  PasswordFile pf;
  std::string err;
  CHECK_FALSE(pf.set("", "x", kFast, err));
  CHECK_FALSE(pf.set("a:b", "x", kFast, err));
  CHECK(err.find("':'") != std::string::npos);
  CHECK_FALSE(pf.set("a\nb", "x", kFast, err));
  CHECK_FALSE(pf.set(std::string("a\0b", 3), "x", kFast, err));
  CHECK_FALSE(pf.set("\xff\xfe", "x", kFast, err));
  CHECK_FALSE(pf.set(std::string(65536, 'u'), "x", kFast, err));
  CHECK_FALSE(pf.set("ok", "x", 0, err));
  CHECK_FALSE(pf.set("ok", "x", kMaxIterations + 1, err));
  CHECK(pf.size() == 0);
  CHECK(pf.set("ünïcode user", "x", kFast, err));
  CHECK(pf.set("$weird/+#", "x", kFast, err));
  CHECK(pf.size() == 2);
}

TEST_CASE("to_string and parse round trip, comments, blank lines and CRLF", "[password]") {
  PasswordFile pf;
  std::string err;
  REQUIRE(pf.set("zed", "1", kFast, err));
  REQUIRE(pf.set("amy", "2", kFast, err));
  const std::string text = pf.to_string();
  CHECK(text.starts_with("amy:$7$50$"));  // sorted
  CHECK(text.find("\nzed:$7$50$") != std::string::npos);

  std::string with_noise = "# tern password file\n\n   \n";
  for (char c : text) {
    if (c == '\n') with_noise += "\r";
    with_noise += c;
  }
  auto back = PasswordFile::parse(with_noise, "pw", err);
  REQUIRE(back);
  CHECK(back->to_string() == text);
  CHECK(back->verify("amy", "2"));
  CHECK(back->verify("zed", "1"));
  // No trailing newline on the last line is fine too.
  auto last = PasswordFile::parse(text.substr(0, text.size() - 1), "pw", err);
  REQUIRE(last);
  CHECK(last->size() == 2);
  auto empty = PasswordFile::parse("", "pw", err);
  REQUIRE(empty);
  CHECK(empty->size() == 0);
}

TEST_CASE("parse errors name file:line", "[password]") {
  PasswordFile pf;
  std::string err;
  REQUIRE(pf.set("good", "pw", kFast, err));
  const std::string good = pf.to_string();  // "good:$7$...\n"
  const std::string h = good.substr(good.find(':') + 1, good.size() - good.find(':') - 2);
  struct Case {
    std::string text;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"# c\n" + good + "nocolon\n", "passwd:3: expected 'user:"},
      {good + "bob:$6$abc$def\n", "passwd:2: user 'bob': unsupported '$6$'"},
      {"\n\ncarol:plaintext\n", "passwd:3: user 'carol': password is not hashed"},
      {":" + h + "\n", "passwd:1: empty user name"},
      {good + good, "passwd:2: user 'good' appears more than once"},
      {"u\x01:" + h + "\n", "passwd:1: user name contains a control character"},
      {"dave:$7$101$AAAA\n", "passwd:1: user 'dave': malformed"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    err.clear();
    CHECK_FALSE(PasswordFile::parse(c.text, "passwd", err));
    CHECK_THAT(err, Catch::StartsWith(c.expect));
  }
  // the plain-text password never appears in the message
  err.clear();
  CHECK_FALSE(PasswordFile::parse("carol:plaintext\n", "passwd", err));
  CHECK(err.find("plaintext") == std::string::npos);
}

TEST_CASE("load reports a missing file with its path", "[password]") {
  TempDir dir;
  std::string err;
  CHECK_FALSE(PasswordFile::load(dir.file("absent"), err));
  CHECK(err.find(dir.file("absent")) != std::string::npos);
}

TEST_CASE("save writes atomically (0600, or the replaced file's group and group-read bit) and load reads it back", "[password]") {
  TempDir dir;
  REQUIRE(!dir.path().empty());
  const std::string path = dir.file("passwd");
  PasswordFile pf;
  std::string err;
  REQUIRE(pf.set("alice", "pw1", kFast, err));
  REQUIRE(pf.save(path, err));
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);

  // Overwriting an existing, world-readable file replaces it (new inode): others lose
  // access, the group keeps its read bit and the file its group (a file shared with the
  // service's group stays readable to the broker).
  REQUIRE(::chmod(path.c_str(), 0644) == 0);
  const ino_t old_inode = st.st_ino;
  const gid_t old_gid = st.st_gid;
  REQUIRE(pf.set("bob", "pw2", kFast, err));
  REQUIRE(pf.save(path, err));
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0640);
  CHECK(st.st_gid == old_gid);
  CHECK(st.st_ino != old_inode);  // renamed into place, not rewritten in place
  // A private file stays private.
  REQUIRE(::chmod(path.c_str(), 0600) == 0);
  REQUIRE(pf.save(path, err));
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);

  auto back = PasswordFile::load(path, err);
  REQUIRE(back);
  CHECK(back->to_string() == pf.to_string());
  CHECK(back->verify("bob", "pw2"));

  // No temporary files left behind.
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  CHECK(entries == 1);
}

TEST_CASE("save into a missing directory fails, leaving nothing", "[password]") {
  TempDir dir;
  PasswordFile pf;
  std::string err;
  CHECK_FALSE(pf.save(dir.file("no/such/passwd"), err));
  CHECK(err.find("no/such/passwd") != std::string::npos);
}

TEST_CASE("an unknown user costs about as much as a known one", "[password][slow]") {
  // Timing side channel: a miss must run PBKDF2 with the default iterations. Compare
  // against a known user hashed with the default iterations; allow a wide margin.
  PasswordFile pf;
  std::string err;
  REQUIRE(pf.set("known", "pw", kDefaultIterations, err));
  auto time_it = [&](std::string_view user) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 5; ++i) (void)pf.verify(user, "wrong");
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  (void)time_it("known");
  const double known = time_it("known");
  const double unknown = time_it("nobody");
  CHECK(unknown > known * 0.5);
  CHECK(unknown < known * 2.0);
}
