// TopicTree: the matching table of section 4.7 (3.1.1 and 5.0), replace/unsubscribe,
// node freeing, $share groups, and a randomized comparison against a brute-force matcher.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <new>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "broker/core/topic_tree.hpp"
#include "tests/unit/core/reference_match.hpp"

// Live heap allocations in this process, counted by replacing the global allocation
// functions (forwarding to malloc). Tests compare the count before subscribing and after
// unsubscribing everything: equal counts mean every node, vector and index was freed.
// Sanitizer runtimes own operator new themselves, so under them the count is unavailable
// (-1) and the memory checks are skipped; LeakSanitizer covers leaks there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
long tern_test_live_allocs() { return -1; }
#else
namespace {
std::atomic<long> g_live_allocs{0};
}

long tern_test_live_allocs() { return g_live_allocs.load(); }

// noinline: inlined into callers, the malloc/free pairs trip -Wmismatched-new-delete.
[[gnu::noinline]] void* operator new(std::size_t n) {
  void* p = std::malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  ++g_live_allocs;
  return p;
}
void* operator new[](std::size_t n) { return operator new(n); }
[[gnu::noinline]] void operator delete(void* p) noexcept {
  if (!p) return;
  --g_live_allocs;
  std::free(p);
}
void operator delete[](void* p) noexcept { operator delete(p); }
void operator delete(void* p, std::size_t) noexcept { operator delete(p); }
void operator delete[](void* p, std::size_t) noexcept { operator delete(p); }
#endif

namespace {

using tern::core::SessionKey;
using tern::core::SharedGroup;
using tern::core::SubOptions;
using tern::core::Subscriber;
using tern::core::TopicTree;

// prefix + number + suffix, built with append: GCC 12 at -O3 warns falsely (-Wrestrict)
// on `"literal" + std::string&&`.
std::string join(const char* prefix, std::uint64_t n, const char* suffix = "") {
  std::string s(prefix);
  s += std::to_string(n);
  s += suffix;
  return s;
}

struct Hits {
  std::vector<std::pair<SessionKey, SubOptions>> subs;
  std::vector<SharedGroup*> groups;
  std::multiset<SessionKey> sessions() const {
    std::multiset<SessionKey> s;
    for (const auto& x : subs) s.insert(x.first);
    return s;
  }
};

Hits run_match(TopicTree& t, std::string_view topic) {
  Hits h;
  t.match(
      topic, [&](const Subscriber& s) { h.subs.emplace_back(s.session, s.opts); },
      [&](SharedGroup& g) { h.groups.push_back(&g); });
  return h;
}

bool matches(std::string_view filter, std::string_view topic) {
  TopicTree t;
  t.subscribe(filter, 1, {});
  Hits h = run_match(t, topic);
  return h.subs.size() == 1;
}

using tern::core::test::reference_match;

}  // namespace

TEST_CASE("topic tree: section 4.7 matching table", "[core][topic_tree]") {
  struct Case {
    const char* filter;
    const char* topic;
    bool match;
  };
  const Case cases[] = {
      // 4.7.1.2 multi-level wildcard
      {"sport/tennis/player1/#", "sport/tennis/player1", true},
      {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
      {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
      {"sport/tennis/player1/#", "sport/tennis/player2", false},
      {"sport/tennis/player1/#", "sport/tennis", false},
      {"sport/#", "sport", true},  // [MQTT-4.7.1-2] parent level
      {"sport/#", "sport/", true},
      {"sport/#", "sports", false},
      {"#", "sport/tennis/player1", true},
      {"#", "/", true},
      // 4.7.1.3 single-level wildcard
      {"sport/tennis/+", "sport/tennis/player1", true},
      {"sport/tennis/+", "sport/tennis/player2", true},
      {"sport/tennis/+", "sport/tennis/player1/ranking", false},
      {"sport/+", "sport", false},
      {"sport/+", "sport/", true},  // '+' matches an empty level
      {"+/+", "/finance", true},
      {"/+", "/finance", true},
      {"+", "/finance", false},
      {"+", "finance", true},
      {"+/tennis/#", "sport/tennis/player1", true},
      {"+/tennis/#", "sport/tennis", true},
      {"a/+/b", "a//b", true},
      {"a/+/b", "a/b", false},
      {"+/+/+", "//", true},
      {"+/#", "sport", true},
      // 4.7.2 topics beginning with '$' [MQTT-4.7.2-1]
      {"#", "$SYS/monitor/Clients", false},
      {"+/monitor/Clients", "$SYS/monitor/Clients", false},
      {"+", "$SYS", false},
      {"+/#", "$SYS/x", false},
      {"$SYS/#", "$SYS/monitor/Clients", true},
      {"$SYS/#", "$SYS", true},
      {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
      {"$SYS/monitor/+", "$SYS/monitor/Clients/x", false},
      {"a/$x", "a/$x", true},
      {"a/+", "a/$x", true},  // '$' only matters in the first level
      {"a/#", "a/$x/y", true},
      // 4.7.3 topic semantics: case sensitive, spaces allowed, leading '/' is a level
      {"ACCOUNTS", "Accounts", false},
      {"Accounts payable", "Accounts payable", true},
      {"/finance", "finance", false},
      {"finance", "/finance", false},
      {"finance/", "finance", false},
  };
  for (const Case& c : cases) {
    INFO("filter '" << c.filter << "' topic '" << c.topic << "'");
    CHECK(matches(c.filter, c.topic) == c.match);
    CHECK(reference_match(c.filter, c.topic) == c.match);  // the reference agrees
  }
}

TEST_CASE("topic tree: overlapping subscriptions are reported once each", "[core][topic_tree]") {
  TopicTree t;
  SubOptions q1;
  q1.max_qos = 1;
  CHECK_FALSE(t.subscribe("sport/tennis/player1", 7, {}));
  CHECK_FALSE(t.subscribe("sport/#", 7, q1));
  CHECK_FALSE(t.subscribe("sport/+/player1", 7, {}));
  CHECK_FALSE(t.subscribe("#", 8, {}));
  CHECK_FALSE(t.subscribe("sport/tennis/player2", 9, {}));
  CHECK(t.size() == 5);

  Hits h = run_match(t, "sport/tennis/player1");
  CHECK(h.sessions() == std::multiset<SessionKey>{7, 7, 7, 8});
  CHECK(h.groups.empty());
  CHECK(std::count_if(h.subs.begin(), h.subs.end(),
                      [](const auto& s) { return s.second.max_qos == 1; }) == 1);

  CHECK(run_match(t, "sport").sessions() == std::multiset<SessionKey>{7, 8});
  CHECK(run_match(t, "other").sessions() == std::multiset<SessionKey>{8});
  CHECK(run_match(t, "$SYS/x").sessions().empty());
}

TEST_CASE("topic tree: resubscribing replaces the options", "[core][topic_tree]") {
  TopicTree t;
  SubOptions a;
  a.max_qos = 0;
  SubOptions b;
  b.max_qos = 2;
  b.no_local = true;
  b.subscription_id = 42;
  CHECK_FALSE(t.subscribe("a/+", 1, a));
  CHECK(t.subscribe("a/+", 1, b));  // [MQTT-3.8.4-3]
  CHECK(t.size() == 1);
  Hits h = run_match(t, "a/x");
  REQUIRE(h.subs.size() == 1);
  CHECK(h.subs[0].second == b);

  // Another session on the same filter is a separate subscription.
  CHECK_FALSE(t.subscribe("a/+", 2, a));
  CHECK(t.size() == 2);
  CHECK(run_match(t, "a/x").sessions() == std::multiset<SessionKey>{1, 2});
}

TEST_CASE("topic tree: unsubscribe removes and frees nodes", "[core][topic_tree]") {
  // Allocation counts are read with no Catch assertion in between: Catch keeps the text
  // of the last assertion on the heap, which would skew the count.
  const char* filters[] = {"a/b/c",  "a/b/#", "a/+/c", "+/b/c",  "#",
                           "a/b/c/d/e/f/g/h/a-long-level-name-beyond-sso",
                           "$share/g/a/b/c", "$share/h/a/#", "/", "//"};
  if (tern_test_live_allocs() < 0) WARN("allocation counting unavailable; memory checks skipped");
  const long before = tern_test_live_allocs();
  long empty_tree = 0, full_tree = 0, after_unsub = 0;
  int added = 0, refused = 0, removed = 0, removed_twice = 0;
  std::size_t size_full = 0, size_after = 0;
  {
    TopicTree t;
    empty_tree = tern_test_live_allocs();
    for (SessionKey s = 1; s <= 3; ++s)
      for (const char* f : filters) added += !t.subscribe(f, s, {});
    full_tree = tern_test_live_allocs();
    size_full = t.size();
    refused += !t.unsubscribe("a/b/x", 1);   // no such filter
    refused += !t.unsubscribe("a/b/c", 99);  // no such session
    refused += !t.unsubscribe("$share/zz/a/b/c", 1);
    refused += !t.unsubscribe("a/b", 1);     // an inner node, no subscription
    for (SessionKey s = 1; s <= 3; ++s) {
      for (const char* f : filters) {
        removed += t.unsubscribe(f, s);
        removed_twice += t.unsubscribe(f, s);
      }
    }
    size_after = t.size();
    after_unsub = tern_test_live_allocs();
  }
  const long after_destroy = tern_test_live_allocs();

  const int n = 3 * static_cast<int>(std::size(filters));
  CHECK(added == n);
  CHECK(size_full == static_cast<std::size_t>(n));
  CHECK((full_tree > empty_tree || before < 0));
  CHECK(refused == 4);
  CHECK(removed == n);
  CHECK(removed_twice == 0);
  CHECK(size_after == 0);
  // Every node, vector and index created by the subscriptions was freed.
  CHECK(after_unsub == empty_tree);
  CHECK(after_destroy == before);
}

TEST_CASE("topic tree: churn does not grow memory", "[core][topic_tree]") {
  TopicTree t;
  t.subscribe("keep/me", 1, {});
  std::vector<long> live;
  std::vector<std::size_t> all_hits;
  live.reserve(3);  // before the baseline: these vectors must not allocate in the loop
  all_hits.reserve(3);
  const long base = tern_test_live_allocs();
  int removed = 0;
  for (int round = 0; round < 3; ++round) {
    // Wide fan-out (hash-map children) and many sessions per filter (session index).
    for (SessionKey s = 0; s < 200; ++s) {
      t.subscribe(join("dev/", s, "/cmd"), s, {});
      t.subscribe("all/cmd", s, {});
      t.subscribe("$share/w/jobs/+", s, {});
    }
    std::size_t hits = 0;
    t.match("all/cmd", [&](const Subscriber&) { ++hits; }, [](SharedGroup&) {});
    std::size_t jobs = 0;
    t.match("jobs/x", [](const Subscriber&) {}, [&](SharedGroup& g) { jobs += g.members.size(); });
    all_hits.push_back(hits + jobs);
    for (SessionKey s = 0; s < 200; ++s) {
      removed += t.unsubscribe(join("dev/", s, "/cmd"), s);
      removed += t.unsubscribe("all/cmd", 199 - s);  // another order than added
      removed += t.unsubscribe("$share/w/jobs/+", s);
    }
    live.push_back(tern_test_live_allocs());
  }
  CHECK(removed == 3 * 600);
  CHECK(t.size() == 1);
  CHECK(all_hits == std::vector<std::size_t>{400, 400, 400});
  CHECK(live == std::vector<long>{base, base, base});
  CHECK(run_match(t, "keep/me").sessions() == std::multiset<SessionKey>{1});
}

TEST_CASE("topic tree: wide fan-out and many sessions per filter", "[core][topic_tree]") {
  TopicTree t;
  for (SessionKey s = 0; s < 200; ++s) {
    t.subscribe(join("dev/", s, "/cmd"), s, {});
    t.subscribe("all/cmd", s, {});
  }
  CHECK(t.size() == 400);
  CHECK(run_match(t, "all/cmd").subs.size() == 200);
  CHECK(run_match(t, "dev/123/cmd").sessions() == std::multiset<SessionKey>{123});
  SubOptions q1;
  q1.max_qos = 1;
  CHECK(t.subscribe("all/cmd", 150, q1));  // replace through the session index
  for (SessionKey s = 0; s < 190; ++s) {
    if (s != 150) CHECK(t.unsubscribe("all/cmd", s));
    CHECK(t.unsubscribe(join("dev/", s, "/cmd"), s));
  }
  Hits h = run_match(t, "all/cmd");
  CHECK(h.sessions() ==
        std::multiset<SessionKey>{150, 190, 191, 192, 193, 194, 195, 196, 197, 198, 199});
  for (const auto& [s, o] : h.subs) CHECK(o.max_qos == (s == 150 ? 1 : 0));
  CHECK(run_match(t, "dev/195/cmd").sessions() == std::multiset<SessionKey>{195});
  CHECK(run_match(t, "dev/5/cmd").sessions().empty());
}

TEST_CASE("topic tree: shared subscription groups", "[core][topic_tree]") {
  TopicTree t;
  SubOptions q2;
  q2.max_qos = 2;
  CHECK_FALSE(t.subscribe("$share/g1/sensors/+", 1, {}));
  CHECK_FALSE(t.subscribe("$share/g1/sensors/+", 2, q2));
  CHECK_FALSE(t.subscribe("$share/g2/sensors/+", 3, {}));
  CHECK_FALSE(t.subscribe("sensors/+", 1, {}));  // same filter, not shared
  CHECK_FALSE(t.subscribe("$share/g1/sensors/#", 4, {}));  // another filter, another group
  CHECK(t.size() == 5);

  SECTION("each group is reported once with its members in order") {
    Hits h = run_match(t, "sensors/t1");
    CHECK(h.sessions() == std::multiset<SessionKey>{1});
    REQUIRE(h.groups.size() == 3);
    std::map<std::pair<std::string, std::size_t>, std::vector<SessionKey>> seen;
    for (SharedGroup* g : h.groups) {
      std::vector<SessionKey> m;
      for (const Subscriber& s : g->members) m.push_back(s.session);
      seen[{g->name, m.size()}] = m;
    }
    CHECK(seen[{"g1", 2}] == std::vector<SessionKey>{1, 2});
    CHECK(seen[{"g2", 1}] == std::vector<SessionKey>{3});
    CHECK(seen[{"g1", 1}] == std::vector<SessionKey>{4});
  }
  SECTION("resubscribing in a group replaces in place") {
    CHECK(t.subscribe("$share/g1/sensors/+", 1, q2));
    CHECK(t.size() == 5);
    Hits h = run_match(t, "sensors/t1");
    for (SharedGroup* g : h.groups) {
      if (g->name == "g1" && g->members.size() == 2) {
        CHECK(g->members[0].session == 1);
        CHECK(g->members[0].opts == q2);
      }
    }
  }
  SECTION("the round-robin cursor is kept and survives member removal") {
    Hits h = run_match(t, "sensors/x");
    for (SharedGroup* g : h.groups) g->next = g->members.size() - 1;  // caller's policy
    CHECK(t.unsubscribe("$share/g1/sensors/+", 1));
    h = run_match(t, "sensors/x");
    for (SharedGroup* g : h.groups) {
      CHECK(g->next < g->members.size());
      if (g->name == "g1" && g->members[0].session == 2) CHECK(g->next == 0);
    }
  }
  SECTION("an emptied group disappears") {
    CHECK(t.unsubscribe("$share/g2/sensors/+", 3));
    CHECK_FALSE(t.unsubscribe("$share/g2/sensors/+", 3));
    Hits h = run_match(t, "sensors/t1");
    CHECK(h.groups.size() == 2);
    for (SharedGroup* g : h.groups) CHECK(g->name == "g1");
    CHECK(t.size() == 4);
  }
  SECTION("shared filters follow the '$' rule of their filter part") {
    t.subscribe("$share/g/#", 9, {});
    CHECK(run_match(t, "$SYS/x").groups.empty());
    CHECK(run_match(t, "anything").groups.size() == 1);
  }
}

TEST_CASE("topic tree: very deep filters and topics", "[core][topic_tree]") {
  // 65535-byte topics allow ~32k levels: match and destruction must not recurse that deep.
  std::string deep;
  std::string plus;
  for (int i = 0; i < 30000; ++i) {
    deep += i ? "/a" : "a";
    plus += i ? "/+" : "+";
  }
  TopicTree t;
  t.subscribe(deep, 1, {});
  t.subscribe(plus, 2, {});
  t.subscribe(deep + "/#", 3, {});
  CHECK(run_match(t, deep).sessions() == std::multiset<SessionKey>{1, 2, 3});
  CHECK(run_match(t, deep + "/b").sessions() == std::multiset<SessionKey>{3});
  CHECK(t.unsubscribe(deep, 1));
  CHECK(run_match(t, deep).sessions() == std::multiset<SessionKey>{2, 3});
  // t is destroyed with ~60k nodes still present.
}

TEST_CASE("topic tree: randomized against a brute-force matcher", "[core][topic_tree]") {
  std::mt19937 rng(20240611);
  // A small level alphabet so filters and topics collide often; enough distinct levels
  // that some nodes switch to hash-map children.
  std::vector<std::string> levels = {"a", "b", "", "$s", "c"};
  for (int i = 0; i < 24; ++i) levels.push_back(join("x", i));
  auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
  auto random_topic = [&] {
    std::string s;
    const std::size_t depth = 1 + pick(4);
    for (std::size_t i = 0; i < depth; ++i) {
      if (i) s += '/';
      // Few distinct levels below the first keep the match rate high.
      s += levels[i == 0 ? pick(levels.size()) : pick(5)];
    }
    return s;
  };
  auto random_filter = [&] {
    std::string s;
    const std::size_t depth = 1 + pick(4);
    for (std::size_t i = 0; i < depth; ++i) {
      if (i) s += '/';
      const std::size_t r = pick(10);
      if (r == 0 && i + 1 == depth) {
        s += '#';
      } else if (r <= 2) {
        s += '+';
      } else {
        s += levels[i == 0 ? pick(levels.size()) : pick(5)];
      }
    }
    return s;
  };

  TopicTree t;
  // The reference: (filter, session) -> group name ("" = not shared).
  std::map<std::pair<std::string, SessionKey>, std::string> subs;
  std::vector<std::tuple<std::string, SessionKey, std::string>> added;
  for (int i = 0; i < 3000; ++i) {
    const std::string f = random_filter();
    const SessionKey s = pick(40);
    const std::string group = pick(4) == 0 ? join("g", pick(2)) : "";
    const std::string full = group.empty() ? f : "$share/" + group + "/" + f;
    const bool existed = subs.count({full, s}) > 0;
    CHECK(t.subscribe(full, s, {}) == existed);
    subs[{full, s}] = group;
    added.emplace_back(full, s, group);
  }
  // Remove a third of them again.
  for (std::size_t i = 0; i < added.size(); i += 3) {
    const auto& [full, s, group] = added[i];
    const bool existed = subs.erase({full, s}) > 0;
    CHECK(t.unsubscribe(full, s) == existed);
  }
  CHECK(t.size() == subs.size());

  for (int i = 0; i < 3000; ++i) {
    const std::string topic = random_topic();
    std::multiset<SessionKey> want_subs;
    std::map<std::string, std::multiset<SessionKey>> want_groups;  // "group|filter"
    for (const auto& [key, group] : subs) {
      std::string_view f = key.first;
      if (!group.empty()) f.remove_prefix(8 + group.size());
      if (!reference_match(f, topic)) continue;
      if (group.empty()) {
        want_subs.insert(key.second);
      } else {
        want_groups[group + "|" + std::string(f)].insert(key.second);
      }
    }
    Hits h = run_match(t, topic);
    INFO("topic '" << topic << "'");
    CHECK(h.sessions() == want_subs);
    // Groups: compare the multiset of member sets (one entry per matching group).
    std::multiset<std::multiset<SessionKey>> got_g;
    std::multiset<std::multiset<SessionKey>> want_g;
    for (SharedGroup* g : h.groups) {
      std::multiset<SessionKey> m;
      for (const Subscriber& s : g->members) m.insert(s.session);
      got_g.insert(m);
    }
    for (const auto& [k, m] : want_groups) want_g.insert(m);
    CHECK(got_g == want_g);
  }

  for (const auto& [key, group] : subs) CHECK(t.unsubscribe(key.first, key.second));
  CHECK(t.size() == 0);
  CHECK(run_match(t, "a").subs.empty());
}
