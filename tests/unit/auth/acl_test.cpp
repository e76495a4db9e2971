// Acl: deny wins, grants, the default, %u / %c as whole literal levels, '$' topics, and
// filter_covers.
#include <catch2/catch.hpp>

#include "broker/auth/acl.hpp"

using namespace tern::auth;
using tern::core::ClientIdentity;

namespace {

ClientIdentity user(std::string name) { return ClientIdentity{std::move(name), 0}; }
const ClientIdentity kAnon{};

}  // namespace

TEST_CASE("filter_covers table", "[acl]") {
  struct Case {
    const char* outer;
    const char* inner;
    bool covers;
  };
  const std::vector<Case> cases = {
      {"a/b", "a/b", true},
      {"a/b", "a/c", false},
      {"a/b", "a", false},
      {"a", "a/b", false},
      {"a/+", "a/b", true},
      {"a/+", "a/+", true},
      {"a/b", "a/+", false},
      {"a/+", "a/#", false},
      {"a/+", "a/b/c", false},
      {"a/+", "a", false},
      {"a/#", "a", true},  // "a/#" matches its parent level
      {"a/#", "a/b", true},
      {"a/#", "a/+/c", true},
      {"a/#", "a/#", true},
      {"a/#", "b/#", false},
      {"#", "a/b/c", true},
      {"#", "#", true},
      {"#", "+/+", true},
      {"+/#", "a/#", true},
      {"+/#", "#", true},  // every topic has a first level: the same set as "#"
      {"+/+/#", "#", false},
      {"a/+/#", "a/#", false},  // "a/#" matches "a", "a/+/#" does not
      {"+/#", "+", true},
      {"+", "#", false},
      {"+/+", "+/+", true},
      {"+/+", "+/#", false},
      {"a/+/c", "a/b/c", true},
      {"a/+/c", "a/+/+", false},
      {"a/+/#", "a/b", true},
      {"a//b", "a//b", true},
      {"a/+/b", "a//b", true},
      {"a/", "a/+", false},
      // [MQTT-4.7.2-1] leading wildcards do not reach '$' topics
      {"#", "$SYS/broker/uptime", false},
      {"#", "$SYS/#", false},
      {"+/broker/uptime", "$SYS/broker/uptime", false},
      {"$SYS/#", "$SYS/broker/uptime", true},
      {"$SYS/#", "$SYS", true},
      {"$SYS/+/uptime", "$SYS/broker/uptime", true},
      {"$SYS/#", "#", false},
      {"$SYS/#", "+/x", false},
      // invalid filters cover nothing
      {"a/#/b", "a/#/b", false},
      {"a+", "a+", false},
      {"", "", false},
  };
  for (const auto& c : cases) {
    INFO(c.outer << " covers " << c.inner);
    CHECK(filter_covers(c.outer, c.inner) == c.covers);
  }
}

TEST_CASE("deny wins over grants regardless of order", "[acl]") {
  for (bool deny_first : {true, false}) {
    AclOptions o;
    AclRule grant{"", "", "a/#", Access::ReadWrite};
    AclRule deny{"", "", "a/secret/#", Access::Deny};
    if (deny_first) {
      o.rules = {deny, grant};
    } else {
      o.rules = {grant, deny};
    }
    o.default_allow = true;
    const Acl acl(o);
    INFO("deny first: " << deny_first);
    CHECK(acl.may_publish(kAnon, "c", "a/x"));
    CHECK_FALSE(acl.may_publish(kAnon, "c", "a/secret"));
    CHECK_FALSE(acl.may_publish(kAnon, "c", "a/secret/x"));
    CHECK(acl.may_receive(kAnon, "c", "a/x"));
    CHECK_FALSE(acl.may_receive(kAnon, "c", "a/secret/x"));
    // subscribe: a deny covering the filter refuses it; one that only overlaps it is
    // applied per message by may_receive
    CHECK_FALSE(acl.may_subscribe(kAnon, "c", "a/secret/#"));
    CHECK_FALSE(acl.may_subscribe(kAnon, "c", "a/secret/+"));
    CHECK(acl.may_subscribe(kAnon, "c", "a/#"));
    CHECK(acl.may_subscribe(kAnon, "c", "a/+"));
    // a deny also overrides the default allow
    CHECK_FALSE(acl.may_publish(kAnon, "c", "a/secret/y"));
    CHECK(acl.may_publish(kAnon, "c", "elsewhere"));
  }
}

TEST_CASE("read, write and readwrite grant their direction only", "[acl]") {
  AclOptions o;
  o.rules = {{"", "", "r/#", Access::Read},
             {"", "", "w/#", Access::Write},
             {"", "", "rw/#", Access::ReadWrite}};
  const Acl acl(o);
  CHECK(acl.may_receive(kAnon, "c", "r/1"));
  CHECK(acl.may_subscribe(kAnon, "c", "r/+"));
  CHECK_FALSE(acl.may_publish(kAnon, "c", "r/1"));
  CHECK(acl.may_publish(kAnon, "c", "w/1"));
  CHECK_FALSE(acl.may_receive(kAnon, "c", "w/1"));
  CHECK_FALSE(acl.may_subscribe(kAnon, "c", "w/#"));
  CHECK(acl.may_publish(kAnon, "c", "rw/1"));
  CHECK(acl.may_receive(kAnon, "c", "rw/1"));
  CHECK(acl.may_subscribe(kAnon, "c", "rw/#"));
  CHECK_FALSE(acl.may_publish(kAnon, "c", "other"));
}

TEST_CASE("the default policy applies when no rule matches", "[acl]") {
  for (bool def : {false, true}) {
    AclOptions o;
    o.default_allow = def;
    o.rules = {{"alice", "", "a/#", Access::ReadWrite}};
    const Acl acl(o);
    INFO("default allow: " << def);
    CHECK(acl.may_publish(user("alice"), "c", "a/1"));
    CHECK(acl.may_publish(user("bob"), "c", "a/1") == def);
    CHECK(acl.may_publish(user("alice"), "c", "b/1") == def);
    CHECK(acl.may_subscribe(user("bob"), "c", "#") == def);
    CHECK(acl.may_receive(kAnon, "c", "x") == def);
    // a subscription only partly covered by a grant falls to the default
    CHECK(acl.may_subscribe(user("alice"), "c", "#") == def);
    CHECK(acl.may_subscribe(user("alice"), "c", "a/#"));
  }
}

TEST_CASE("$SYS and other '$' topics are only reachable through a rule that names them",
          "[acl]") {
  AclOptions o;
  o.default_allow = true;
  o.rules = {{"", "", "#", Access::ReadWrite}, {"admin", "", "$SYS/#", Access::Read}};
  const Acl acl(o);
  CHECK(acl.may_subscribe(user("admin"), "c", "$SYS/#"));
  CHECK(acl.may_receive(user("admin"), "c", "$SYS/broker/uptime"));
  CHECK_FALSE(acl.may_publish(user("admin"), "c", "$SYS/broker/uptime"));
  // "#" does not reach '$' topics and the default does not open them
  CHECK_FALSE(acl.may_subscribe(user("bob"), "c", "$SYS/#"));
  CHECK_FALSE(acl.may_subscribe(user("bob"), "c", "$SYS/broker/uptime"));
  CHECK_FALSE(acl.may_receive(user("bob"), "c", "$SYS/broker/uptime"));
  CHECK_FALSE(acl.may_receive(kAnon, "c", "$SYS/broker/uptime"));
  CHECK_FALSE(acl.may_publish(kAnon, "c", "$other"));
  // ordinary topics follow "#" and the default
  CHECK(acl.may_subscribe(user("bob"), "c", "#"));
  CHECK(acl.may_receive(user("bob"), "c", "a/b"));
}

TEST_CASE("who: user, '*', 'anonymous', everyone, and a client id", "[acl]") {
  AclOptions o;
  o.rules = {{"alice", "", "alice/#", Access::ReadWrite},
             {"*", "", "users/#", Access::ReadWrite},
             {"anonymous", "", "public/#", Access::ReadWrite},
             {"", "", "everyone/#", Access::ReadWrite},
             {"", "gw-1", "gw/#", Access::ReadWrite},
             {"bob", "bob-phone", "bob/phone/#", Access::ReadWrite}};
  const Acl acl(o);
  const auto alice = user("alice");
  const auto bob = user("bob");
  CHECK(acl.may_publish(alice, "x", "alice/1"));
  CHECK_FALSE(acl.may_publish(bob, "x", "alice/1"));
  CHECK_FALSE(acl.may_publish(kAnon, "x", "alice/1"));
  CHECK(acl.may_publish(alice, "x", "users/1"));
  CHECK(acl.may_publish(bob, "x", "users/1"));
  CHECK_FALSE(acl.may_publish(kAnon, "x", "users/1"));
  CHECK(acl.may_publish(kAnon, "x", "public/1"));
  CHECK_FALSE(acl.may_publish(alice, "x", "public/1"));
  CHECK(acl.may_publish(kAnon, "x", "everyone/1"));
  CHECK(acl.may_publish(alice, "x", "everyone/1"));
  CHECK(acl.may_publish(kAnon, "gw-1", "gw/1"));
  CHECK_FALSE(acl.may_publish(kAnon, "gw-2", "gw/1"));
  CHECK(acl.may_publish(bob, "bob-phone", "bob/phone/x"));
  CHECK_FALSE(acl.may_publish(bob, "bob-laptop", "bob/phone/x"));
  CHECK_FALSE(acl.may_publish(alice, "bob-phone", "bob/phone/x"));
  // a user literally named "*" has no special power
  CHECK_FALSE(acl.may_publish(user("*"), "x", "alice/1"));
}

TEST_CASE("%u and %c substitute whole levels", "[acl]") {
  AclOptions o;
  o.rules = {{"*", "", "users/%u/#", Access::ReadWrite},
             {"", "", "devices/%c/#", Access::ReadWrite},
             {"", "", "x/%c/%u", Access::Read},
             {"", "", "pre-%u/#", Access::ReadWrite}};  // not a whole level: literal text
  const Acl acl(o);
  const auto alice = user("alice");
  CHECK(acl.may_publish(alice, "c1", "users/alice/t"));
  CHECK(acl.may_publish(alice, "c1", "users/alice"));  // "#" includes the parent level
  CHECK_FALSE(acl.may_publish(alice, "c1", "users/bob/t"));
  CHECK_FALSE(acl.may_publish(alice, "c1", "users/alicex/t"));
  CHECK(acl.may_subscribe(alice, "c1", "users/alice/#"));
  CHECK(acl.may_subscribe(alice, "c1", "users/alice/+/x"));
  CHECK_FALSE(acl.may_subscribe(alice, "c1", "users/+/#"));
  CHECK_FALSE(acl.may_subscribe(alice, "c1", "users/#"));
  CHECK(acl.may_publish(kAnon, "c1", "devices/c1/temp"));
  CHECK_FALSE(acl.may_publish(kAnon, "c1", "devices/c2/temp"));
  CHECK(acl.may_receive(alice, "c1", "x/c1/alice"));
  CHECK_FALSE(acl.may_receive(alice, "c1", "x/alice/c1"));
  // %u never matches a client without a user name, even an empty-looking level
  CHECK_FALSE(acl.may_receive(kAnon, "c1", "x/c1/"));
  CHECK_FALSE(acl.may_publish(kAnon, "c1", "users//t"));
  // "pre-%u" is literal
  CHECK_FALSE(acl.may_publish(alice, "c1", "pre-alice/t"));
  CHECK(acl.may_publish(alice, "c1", "pre-%u/t"));
}

TEST_CASE("a client id or user name with '+', '#' or '/' cannot widen a pattern", "[acl]") {
  AclOptions o;
  o.rules = {{"", "", "devices/%c/#", Access::ReadWrite},
             {"*", "", "users/%u/data", Access::ReadWrite},
             {"", "", "%c/#", Access::ReadWrite}};
  const Acl acl(o);
  // client id "+" or "#": as text splicing these would become wildcards
  for (const char* id : {"+", "#"}) {
    INFO("client id " << id);
    CHECK_FALSE(acl.may_subscribe(kAnon, id, "devices/+/#"));
    CHECK_FALSE(acl.may_subscribe(kAnon, id, "devices/#"));
    CHECK_FALSE(acl.may_subscribe(kAnon, id, "#"));
    CHECK_FALSE(acl.may_subscribe(kAnon, id, "+/#"));
    CHECK_FALSE(acl.may_publish(kAnon, id, "devices/other/x"));
    CHECK_FALSE(acl.may_receive(kAnon, id, "devices/other/x"));
    CHECK_FALSE(acl.may_receive(kAnon, id, "other/x"));
  }
  // client id with '/': would reach another client's subtree as text
  CHECK_FALSE(acl.may_publish(kAnon, "victim/x", "devices/victim/x/y"));
  CHECK_FALSE(acl.may_subscribe(kAnon, "victim/x", "devices/victim/x/#"));
  CHECK_FALSE(acl.may_publish(kAnon, "a/b", "a/b/c"));
  // user names likewise
  CHECK_FALSE(acl.may_publish(user("+"), "c", "users/bob/data"));
  CHECK_FALSE(acl.may_subscribe(user("+"), "c", "users/+/data"));
  CHECK_FALSE(acl.may_subscribe(user("#"), "c", "users/#"));
  CHECK_FALSE(acl.may_publish(user("bob/data/x"), "c", "users/bob/data"));
  CHECK_FALSE(acl.may_publish(user("bob/x"), "c", "users/bob/x/data"));
  // a substituted first level does not reach '$' topics
  CHECK_FALSE(acl.may_subscribe(kAnon, "$SYS", "$SYS/#"));
  CHECK_FALSE(acl.may_receive(kAnon, "$SYS", "$SYS/broker/uptime"));
  CHECK_FALSE(acl.may_publish(kAnon, "$SYS", "$SYS/x"));
  // ... while ordinary ids still work
  CHECK(acl.may_subscribe(kAnon, "c9", "c9/#"));
  CHECK(acl.may_publish(kAnon, "c9", "devices/c9/t"));
}

TEST_CASE("invalid patterns never match", "[acl]") {
  AclOptions o;
  o.default_allow = false;
  o.rules = {{"", "", "a/#/b", Access::ReadWrite}, {"", "", "", Access::ReadWrite},
             {"", "", "x+", Access::ReadWrite}, {"", "", "a/#/b", Access::Deny}};
  const Acl acl(o);
  CHECK_FALSE(acl.may_publish(kAnon, "c", "a/x/b"));
  CHECK_FALSE(acl.may_publish(kAnon, "c", "x+"));
  AclOptions o2 = o;
  o2.default_allow = true;
  const Acl acl2(o2);  // the invalid deny does not deny
  CHECK(acl2.may_publish(kAnon, "c", "a/x/b"));
}

TEST_CASE("a copied Acl decides like the original", "[acl]") {
  AclOptions o;
  o.rules = {{"", "", "devices/%c/#", Access::ReadWrite}};
  const Acl a(o);
  const Acl b = a;
  CHECK(b.may_publish(kAnon, "c1", "devices/c1/x"));
  CHECK_FALSE(b.may_publish(kAnon, "c1", "devices/c2/x"));
}
