// RetainedStore: set/replace/clear, byte accounting, expiry, wildcard matching with the '$'
// rule, memory returned on erase, and a randomized comparison against a brute-force matcher.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "broker/core/retained.hpp"
#include "tests/unit/core/reference_match.hpp"

long tern_test_live_allocs();  // defined in topic_tree_test.cpp

namespace {

using tern::core::Message;
using tern::core::MessagePtr;
using tern::core::RetainedStore;
using tern::core::Time;
using namespace std::chrono_literals;

// prefix + number + suffix, built with append: GCC 12 at -O3 warns falsely (-Wrestrict)
// on `"literal" + std::string&&`.
std::string join(const char* prefix, std::uint64_t n, const char* suffix = "") {
  std::string s(prefix);
  s += std::to_string(n);
  s += suffix;
  return s;
}

MessagePtr msg(std::string topic, std::string payload,
               std::optional<Time> expires_at = std::nullopt) {
  auto m = std::make_shared<Message>();
  m->topic = std::move(topic);
  m->payload = std::move(payload);
  m->retain = true;
  m->expires_at = expires_at;
  return m;
}

std::set<std::string> topics_matching(const RetainedStore& r, std::string_view filter) {
  std::set<std::string> out;
  std::size_t calls = 0;
  r.match(filter, [&](const MessagePtr& m) {
    ++calls;
    out.insert(m->topic);
  });
  CHECK(calls == out.size());  // each message visited once
  return out;
}

using tern::core::test::reference_match;

}  // namespace

TEST_CASE("retained: set, replace, clear with empty payload, byte accounting",
          "[core][retained]") {
  RetainedStore r;
  CHECK(r.size() == 0);
  CHECK(r.bytes() == 0);
  CHECK(r.find("a/b") == nullptr);

  auto m1 = msg("a/b", "hello");
  r.put(m1);
  CHECK(r.size() == 1);
  CHECK(r.bytes() == 3 + 5);
  CHECK(r.find("a/b") == m1);
  CHECK(r.find("a") == nullptr);     // an inner node holds no message
  CHECK(r.find("a/b/c") == nullptr);

  auto m2 = msg("a/b", "hi");
  r.put(m2);  // one message per topic: replaces
  CHECK(r.size() == 1);
  CHECK(r.bytes() == 3 + 2);
  CHECK(r.find("a/b") == m2);

  r.put(msg("a", "x"));
  r.put(msg("/", "yy"));
  r.put(msg("a//b", "zzz"));
  CHECK(r.size() == 4);
  CHECK(r.bytes() == 5 + 2 + 3 + 7);
  CHECK(r.find("/")->payload == "yy");
  CHECK(r.find("a//b")->payload == "zzz");

  // [MQTT-3.3.1-6] [MQTT-3.3.1-7] an empty payload removes and is not stored.
  r.put(msg("a/b", ""));
  CHECK(r.find("a/b") == nullptr);
  CHECK(r.size() == 3);
  CHECK(r.bytes() == 2 + 3 + 7);
  r.put(msg("never/stored", ""));
  CHECK(r.size() == 3);
  CHECK(r.find("never/stored") == nullptr);

  CHECK(r.erase("a"));
  CHECK_FALSE(r.erase("a"));
  CHECK_FALSE(r.erase("nope"));
  CHECK(r.find("a//b") != nullptr);  // a child of the erased topic stays
  CHECK(r.size() == 2);
  CHECK(r.bytes() == 3 + 7);
}

TEST_CASE("retained: erase frees every node", "[core][retained]") {
  // Allocation counts are read with no Catch assertion in between (Catch keeps the text
  // of the last assertion on the heap).
  RetainedStore r;
  const std::vector<std::string> topics = {
      "a", "a/b", "a/b/c", "x/y/z/a-level-name-longer-than-the-sso", "$SYS/x", "/", "//"};
  const Time t0{};
  std::vector<long> live;
  std::vector<std::size_t> sizes;
  int erased = 0;
  live.reserve(2);  // before the baseline: these vectors must not allocate in the loop
  sizes.reserve(4);
  const long base = tern_test_live_allocs();
  for (int round = 0; round < 2; ++round) {
    for (const auto& t : topics) r.put(msg(t, "p", t0 + std::chrono::seconds(round)));
    for (int i = 0; i < 100; ++i) r.put(msg(join("wide/", i), "p"));  // hash map
    sizes.push_back(r.size());
    for (const auto& t : topics) erased += r.erase(t);
    for (int i = 0; i < 100; ++i) r.put(msg(join("wide/", i), ""));
    sizes.push_back(r.size() + r.bytes());
    live.push_back(tern_test_live_allocs());
  }
  CHECK(erased == 2 * static_cast<int>(topics.size()));
  CHECK(sizes == std::vector<std::size_t>{topics.size() + 100, 0, topics.size() + 100, 0});
  CHECK(live == std::vector<long>{base, base});
}

TEST_CASE("retained: expiry", "[core][retained]") {
  RetainedStore r;
  const Time t0{};
  r.put(msg("a", "1", t0 + 10s));
  r.put(msg("b", "2", t0 + 20s));
  r.put(msg("c", "3"));              // never expires
  r.put(msg("d/e", "4", t0 + 10s));  // same expiry time as "a"
  CHECK(r.size() == 4);
  CHECK(r.next_expiry() == t0 + 10s);

  CHECK(r.erase_expired(t0 + 9s) == 0);
  CHECK(r.erase_expired(t0 + 10s) == 2);  // expires_at <= now
  CHECK(r.find("a") == nullptr);
  CHECK(r.find("d/e") == nullptr);
  CHECK(r.size() == 2);
  CHECK(r.bytes() == 2 + 2);
  CHECK(r.next_expiry() == t0 + 20s);

  // Replacing a message replaces its expiry too.
  r.put(msg("b", "22", t0 + 100s));
  CHECK(r.erase_expired(t0 + 50s) == 0);
  CHECK(r.find("b")->payload == "22");
  r.put(msg("b", "no expiry"));
  CHECK_FALSE(r.next_expiry());
  CHECK(r.erase_expired(t0 + 1000s) == 0);
  CHECK(r.size() == 2);

  // Erasing (explicitly or by an empty payload) removes it from the expiry index.
  r.put(msg("e", "5", t0 + 30s));
  r.put(msg("f", "6", t0 + 30s));
  CHECK(r.erase("e"));
  r.put(msg("f", ""));
  CHECK(r.erase_expired(t0 + 2000s) == 0);
  CHECK(r.size() == 2);
}

TEST_CASE("retained: wildcard match and the '$' rule", "[core][retained]") {
  RetainedStore r;
  for (const char* t : {"sport", "sport/tennis", "sport/tennis/player1",
                        "sport/tennis/player1/ranking", "sport/tennis/player2", "sport/",
                        "/finance", "finance", "$SYS/monitor/Clients", "$SYS", "a//b", "a/$x"})
    r.put(msg(t, "p"));
  using S = std::set<std::string>;
  CHECK(topics_matching(r, "sport/tennis/player1/#") ==
        S{"sport/tennis/player1", "sport/tennis/player1/ranking"});
  CHECK(topics_matching(r, "sport/#") ==
        S{"sport", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking",
          "sport/tennis/player2", "sport/"});
  CHECK(topics_matching(r, "sport/tennis/+") ==
        S{"sport/tennis/player1", "sport/tennis/player2"});
  CHECK(topics_matching(r, "sport/+") == S{"sport/tennis", "sport/"});
  CHECK(topics_matching(r, "+/+") == S{"sport/tennis", "sport/", "/finance", "a/$x"});
  CHECK(topics_matching(r, "/+") == S{"/finance"});
  CHECK(topics_matching(r, "+") == S{"sport", "finance"});  // not "$SYS" [MQTT-4.7.2-1]
  CHECK(topics_matching(r, "a/+/b") == S{"a//b"});
  CHECK(topics_matching(r, "a/+") == S{"a/$x"});
  CHECK(topics_matching(r, "#").count("$SYS") == 0);
  CHECK(topics_matching(r, "#").size() == 10);
  CHECK(topics_matching(r, "+/monitor/Clients").empty());
  CHECK(topics_matching(r, "$SYS/#") == S{"$SYS", "$SYS/monitor/Clients"});
  CHECK(topics_matching(r, "$SYS/monitor/+") == S{"$SYS/monitor/Clients"});
  CHECK(topics_matching(r, "sport/tennis/player1") == S{"sport/tennis/player1"});
  CHECK(topics_matching(r, "Sport").empty());
  CHECK(topics_matching(r, "nothing/#").empty());
}

TEST_CASE("retained: very deep topics", "[core][retained]") {
  std::string deep;
  std::string plus;
  for (int i = 0; i < 30000; ++i) {
    deep += i ? "/a" : "a";
    plus += i ? "/+" : "+";
  }
  RetainedStore r;
  r.put(msg(deep, "p"));
  r.put(msg(deep + "/b", "q"));
  CHECK(topics_matching(r, "#").size() == 2);
  CHECK(topics_matching(r, plus).size() == 1);
  CHECK(topics_matching(r, deep + "/#").size() == 2);
  CHECK(r.erase(deep));
  CHECK(r.find(deep + "/b") != nullptr);
  // r is destroyed with a ~30k-node chain.
}

TEST_CASE("retained: randomized against a brute-force matcher", "[core][retained]") {
  std::mt19937 rng(7);
  std::vector<std::string> levels = {"a", "b", "", "$s", "c"};
  for (int i = 0; i < 24; ++i) levels.push_back(join("x", i));
  auto pick = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  auto random_name = [&](bool wild) {
    std::string s;
    const std::size_t depth = 1 + pick(4);
    for (std::size_t i = 0; i < depth; ++i) {
      if (i) s += '/';
      const std::size_t r = pick(10);
      if (wild && r == 0 && i + 1 == depth) {
        s += '#';
      } else if (wild && r <= 2) {
        s += '+';
      } else {
        s += levels[i == 0 ? pick(levels.size()) : pick(5)];
      }
    }
    return s;
  };

  RetainedStore r;
  std::map<std::string, std::string> ref;  // topic -> payload
  for (int i = 0; i < 3000; ++i) {
    const std::string t = random_name(false);
    const std::string p = pick(5) == 0 ? "" : std::string(1 + pick(20), 'p');
    r.put(msg(t, p));
    if (p.empty()) {
      ref.erase(t);
    } else {
      ref[t] = p;
    }
  }
  std::size_t ref_bytes = 0;
  for (const auto& [t, p] : ref) ref_bytes += t.size() + p.size();
  CHECK(r.size() == ref.size());
  CHECK(r.bytes() == ref_bytes);

  for (int i = 0; i < 2000; ++i) {
    const std::string f = random_name(true);
    std::set<std::string> want;
    for (const auto& [t, p] : ref)
      if (reference_match(f, t)) want.insert(t);
    INFO("filter '" << f << "'");
    CHECK(topics_matching(r, f) == want);
  }
  for (const auto& [t, p] : ref) CHECK(r.find(t)->payload == p);
}
