// Authorization rules from the `acl:` config section, as core::AccessPolicy.
// A rule names who (a user name, "*" for any authenticated user, "anonymous" for clients
// without one; optionally a client id) and a topic pattern (an MQTT filter in which "%u"
// and "%c" stand for the client's user name and client id, each a whole level), with an
// access of read, write, readwrite or deny. Decision: a matching deny rule wins; otherwise
// a matching rule that grants the access allows; otherwise the default policy applies.
// Order of rules does not matter. Patterns that need %u never match a client without one.
// Substitution compares whole levels, never splices text: a "%c" level matches exactly one
// topic level equal to the client id, so an id containing '/', '+' or '#' cannot widen a
// pattern (it matches nothing a wildcard would), and a substituted first level never
// matches a '$' topic (as wildcards [MQTT-4.7.2-1]; a client id "$SYS" gains nothing).
// Topics starting with '$' are never granted by the default policy: only a rule whose
// pattern names them (e.g. "$SYS/#") allows them, so $SYS stays readable only where allowed.
// Thread safety: immutable after construction; may be shared across threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/broker.hpp"

namespace tern::auth {

enum class Access : std::uint8_t { Read, Write, ReadWrite, Deny };

struct AclRule {
  // Who: exactly one of these forms. user "*" = any client with a user name;
  // user "anonymous" = clients without one; empty user = everyone. `client`, when set,
  // must also match the client id exactly.
  std::string user;
  std::string client;
  std::string topic;  // MQTT topic filter with %u / %c levels
  Access access = Access::Read;
};

struct AclOptions {
  bool default_allow = false;  // what no matching rule means
  std::vector<AclRule> rules;
};

class Acl final : public core::AccessPolicy {
 public:
  // REQUIRES: every rule's topic is a valid topic filter (config validates); an invalid
  // pattern never matches.
  explicit Acl(AclOptions opts);

  bool may_publish(const core::ClientIdentity& who, std::string_view client_id,
                   std::string_view topic) const override;
  // Granted when some read rule's pattern covers every topic `filter` can match (e.g. "a/#"
  // covers "a/+/b") and no deny rule covers it; a deny rule that only overlaps the filter
  // (deny "a/secret/#" under a subscription to "a/#") is applied per message instead.
  bool may_subscribe(const core::ClientIdentity& who, std::string_view client_id,
                     std::string_view filter) const override;
  bool may_receive(const core::ClientIdentity& who, std::string_view client_id,
                   std::string_view topic) const override;

 private:
  // One pattern level, parsed once at construction.
  struct Level {
    enum class Kind : std::uint8_t { Literal, Plus, Hash, User, Client };
    Kind kind = Kind::Literal;
    std::string text;  // Literal only
  };
  struct Compiled {
    std::vector<Level> levels;  // empty = invalid pattern, never matches
    bool needs_user = false;
  };
  enum class Op : std::uint8_t { Publish, Subscribe, Receive };

  bool applies(const AclRule& rule, const core::ClientIdentity& who,
               std::string_view client_id) const;
  // Does rule `c`'s pattern, with %u / %c bound, match topic name `subject` (Publish,
  // Receive) or cover topic filter `subject` (Subscribe)?
  static bool pattern_applies(const Compiled& c, Op op, const core::ClientIdentity& who,
                              std::string_view client_id, std::string_view subject);
  bool decide(Op op, const core::ClientIdentity& who, std::string_view client_id,
              std::string_view subject) const;

  AclOptions opts_;
  std::vector<Compiled> compiled_;  // parallel to opts_.rules
};

// True when every topic matching `inner` also matches `outer` (both topic filters).
bool filter_covers(std::string_view outer, std::string_view inner);

}  // namespace tern::auth
