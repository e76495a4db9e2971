// Authenticator: the CONNECT rules table and the verified-credentials cache.
#include <atomic>
#include <chrono>
#include <thread>

#include <catch2/catch.hpp>

#include "broker/auth/authenticator.hpp"

using namespace tern::auth;

namespace {

constexpr std::uint32_t kFast = 50;

std::shared_ptr<const PasswordFile> users(std::uint32_t iterations = kFast) {
  auto pf = std::make_shared<PasswordFile>();
  std::string err;
  REQUIRE(pf->set("alice", "wonderland", iterations, err));
  REQUIRE(pf->set("bob", "builder", iterations, err));
  return pf;
}

Request req(std::optional<std::string_view> user, std::optional<std::string_view> pass,
            bool anon) {
  Request r;
  r.username = user;
  r.password = pass;
  r.allow_anonymous = anon;
  return r;
}

}  // namespace

TEST_CASE("authenticator rules table", "[authenticator]") {
  const Authenticator with_file(users());
  const Authenticator without_file(nullptr);
  using O = Outcome;
  struct Case {
    const char* name;
    const Authenticator* a;
    std::optional<std::string_view> user, pass, cn;
    bool anon, use_cn;
    Outcome expect;
    std::optional<std::string> identity;
  };
  const std::vector<Case> cases = {
      {"anonymous allowed", &with_file, {}, {}, {}, true, false, O::Accepted, {}},
      {"anonymous refused", &with_file, {}, {}, {}, false, false, O::NotAuthorized, {}},
      {"v5 password without user, anonymous refused", &with_file, {}, "x", {}, false, false,
       O::NotAuthorized, {}},
      {"good password", &with_file, "alice", "wonderland", {}, false, false, O::Accepted,
       "alice"},
      {"good password, anonymous also on", &with_file, "bob", "builder", {}, true, false,
       O::Accepted, "bob"},
      {"wrong password", &with_file, "alice", "builder", {}, false, false, O::BadCredentials, {}},
      {"wrong password even where anonymous is allowed", &with_file, "alice", "nope", {}, true,
       false, O::BadCredentials, {}},
      {"unknown user", &with_file, "carol", "wonderland", {}, true, false, O::BadCredentials, {}},
      {"user without password", &with_file, "alice", {}, {}, true, false, O::BadCredentials, {}},
      {"empty password", &with_file, "alice", "", {}, false, false, O::BadCredentials, {}},
      {"user without a file, anonymous allowed", &without_file, "alice", "x", {}, true, false,
       O::Accepted, {}},
      {"user without a file, anonymous refused", &without_file, "alice", "x", {}, false, false,
       O::NotAuthorized, {}},
      {"no user, no file, anonymous allowed", &without_file, {}, {}, {}, true, false,
       O::Accepted, {}},
      {"cert CN as user name", &with_file, {}, {}, "sensor-7", false, true, O::Accepted,
       "sensor-7"},
      {"cert CN ignores user and password", &with_file, "alice", "bad", "sensor-7", false, true,
       O::Accepted, "sensor-7"},
      {"cert CN without a file", &without_file, {}, {}, "sensor-7", false, true, O::Accepted,
       "sensor-7"},
      {"CN listener without certificate", &with_file, "alice", "wonderland", {}, true, true,
       O::NotAuthorized, {}},
      {"CN listener, empty CN", &with_file, {}, {}, "", true, true, O::NotAuthorized, {}},
      {"CN present but listener does not use it", &with_file, {}, {}, "sensor-7", false, false,
       O::NotAuthorized, {}},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    Request r = req(c.user, c.pass, c.anon);
    r.cert_cn = c.cn;
    r.use_cn_as_username = c.use_cn;
    const Decision d = c.a->check(r);
    CHECK(d.outcome == c.expect);
    CHECK(d.username == c.identity);
    CHECK(!d.reason.empty());
    if (c.pass && !c.pass->empty()) CHECK(d.reason.find(*c.pass) == std::string::npos);
  }
}

TEST_CASE("log reasons tell unknown users from wrong passwords, never show passwords",
          "[authenticator]") {
  const Authenticator a(users());
  auto d = a.check(req("carol", "Secr3tPassw0rd", false));
  CHECK(d.reason.find("unknown user 'carol'") != std::string::npos);
  CHECK(d.reason.find("Secr3tPassw0rd") == std::string::npos);
  d = a.check(req("alice", "Secr3tPassw0rd", false));
  CHECK(d.reason.find("wrong password") != std::string::npos);
  CHECK(d.reason.find("Secr3tPassw0rd") == std::string::npos);
  // control characters in a user name cannot forge log lines
  d = a.check(req("eve\nFAKE LOG LINE", "x", false));
  CHECK(d.reason.find('\n') == std::string::npos);
}

TEST_CASE("a cached success skips PBKDF2, a wrong password after it still fails",
          "[authenticator]") {
  // High iterations make the uncached path measurably slow.
  const Authenticator a(users(200000));
  using clock = std::chrono::steady_clock;
  auto timed = [&](std::string_view u, std::string_view p) {
    const auto t0 = clock::now();
    const Decision d = a.check(req(u, p, false));
    return std::make_pair(d, clock::now() - t0);
  };
  auto [first, slow] = timed("alice", "wonderland");
  REQUIRE(first.outcome == Outcome::Accepted);
  auto [second, fast] = timed("alice", "wonderland");
  CHECK(second.outcome == Outcome::Accepted);
  CHECK(second.username == std::optional<std::string>("alice"));
  CHECK(second.reason.find("cached") != std::string::npos);
  CHECK(fast * 10 < slow);

  auto [wrong, wrong_time] = timed("alice", "wonderlanD");
  CHECK(wrong.outcome == Outcome::BadCredentials);
  CHECK(wrong.reason.find("cached") == std::string::npos);
  CHECK(wrong_time * 10 > slow);  // went through PBKDF2, not the cache
  // the good entry survives a failed attempt
  CHECK(a.check(req("alice", "wonderland", false)).reason.find("cached") != std::string::npos);
  // a failure is never cached: the same wrong password fails again the slow way
  CHECK(a.check(req("alice", "wonderlanD", false)).outcome == Outcome::BadCredentials);
  // another user's password does not hit alice's entry
  CHECK(a.check(req("bob", "wonderland", false)).outcome == Outcome::BadCredentials);
}

TEST_CASE("the cache is bounded and LRU", "[authenticator]") {
  auto pf = std::make_shared<PasswordFile>();
  std::string err;
  for (int i = 0; i < 4; ++i) REQUIRE(pf->set("u" + std::to_string(i), "p", kFast, err));
  const Authenticator a(pf, 2);
  auto cached = [&](const std::string& u) {
    const Decision d = a.check(req(u, "p", false));
    REQUIRE(d.outcome == Outcome::Accepted);
    return d.reason.find("cached") != std::string::npos;
  };
  CHECK_FALSE(cached("u0"));
  CHECK_FALSE(cached("u1"));
  CHECK(cached("u0"));        // u0 now most recent
  CHECK_FALSE(cached("u2"));  // evicts u1
  CHECK(cached("u0"));
  CHECK_FALSE(cached("u1"));  // was evicted; evicts u2
  CHECK(cached("u1"));
  CHECK_FALSE(cached("u2"));

  const Authenticator none(pf, 0);  // capacity 0: no caching at all
  REQUIRE(none.check(req("u0", "p", false)).outcome == Outcome::Accepted);
  CHECK(none.check(req("u0", "p", false)).reason.find("cached") == std::string::npos);
}

TEST_CASE("a changed password file (a new Authenticator) does not honour old cache entries",
          "[authenticator]") {
  auto pf = std::make_shared<PasswordFile>();
  std::string err;
  REQUIRE(pf->set("alice", "old", kFast, err));
  const Authenticator before(pf);
  REQUIRE(before.check(req("alice", "old", false)).outcome == Outcome::Accepted);
  auto changed = std::make_shared<PasswordFile>(*pf);
  REQUIRE(changed->set("alice", "new", kFast, err));
  const Authenticator after(changed);
  CHECK(after.check(req("alice", "old", false)).outcome == Outcome::BadCredentials);
  CHECK(after.check(req("alice", "new", false)).outcome == Outcome::Accepted);
}

TEST_CASE("concurrent checks are consistent", "[authenticator]") {
  const Authenticator a(users(), 1);  // capacity 1: constant eviction under contention
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const bool alice = (i + t) % 2 == 0;
        const bool good = i % 3 != 0;
        const Decision d = a.check(req(alice ? "alice" : "bob",
                                       good ? (alice ? "wonderland" : "builder") : "bad",
                                       false));
        if ((d.outcome == Outcome::Accepted) != good) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(wrong == 0);
}
