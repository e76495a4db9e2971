// ACL rules: deny wins, then any granting rule, then the default; patterns compiled once.
#include "broker/auth/acl.hpp"

#include <utility>

#include "broker/codec/codec.hpp"

namespace tern::auth {
namespace {

// Walks the '/'-separated levels of a topic name or filter without allocating.
class LevelCursor {
 public:
  explicit LevelCursor(std::string_view s) : s_(s) {}
  bool more() const { return more_; }
  // REQUIRES: more().
  std::string_view next() {
    const std::size_t e = s_.find('/', pos_);
    if (e == std::string_view::npos) {
      more_ = false;
      return s_.substr(pos_);
    }
    const std::string_view level = s_.substr(pos_, e - pos_);
    pos_ = e + 1;  // "a/" has a second, empty level
    return level;
  }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
  bool more_ = true;
};

bool is_dollar(std::string_view s) { return !s.empty() && s.front() == '$'; }

}  // namespace

Acl::Acl(AclOptions opts) : opts_(std::move(opts)) {
  compiled_.reserve(opts_.rules.size());
  for (const AclRule& rule : opts_.rules) {
    Compiled c;
    if (codec::valid_topic_filter(rule.topic)) {
      LevelCursor cur(rule.topic);
      while (cur.more()) {
        const std::string_view level = cur.next();
        Level l;
        if (level == "+") {
          l.kind = Level::Kind::Plus;
        } else if (level == "#") {
          l.kind = Level::Kind::Hash;
        } else if (level == "%u") {
          l.kind = Level::Kind::User;
          c.needs_user = true;
        } else if (level == "%c") {
          l.kind = Level::Kind::Client;
        } else {
          l.text = std::string(level);  // "dev-%u" is literal: only whole levels substitute
        }
        c.levels.push_back(std::move(l));
      }
    }
    compiled_.push_back(std::move(c));
  }
}

bool Acl::applies(const AclRule& rule, const core::ClientIdentity& who,
                  std::string_view client_id) const {
  if (!rule.client.empty() && rule.client != client_id) return false;
  if (rule.user.empty()) return true;
  if (rule.user == "*") return who.username.has_value();
  if (rule.user == "anonymous") return !who.username.has_value();
  return who.username && *who.username == rule.user;
}

bool Acl::pattern_applies(const Compiled& c, Op op, const core::ClientIdentity& who,
                          std::string_view client_id, std::string_view subject) {
  const bool cover = op == Op::Subscribe;
  const auto& levels = c.levels;
  // [MQTT-4.7.2-1] a pattern starting with a wildcard does not reach '$' topics.
  if (is_dollar(subject) && (levels.front().kind == Level::Kind::Plus ||
                             levels.front().kind == Level::Kind::Hash))
    return false;
  LevelCursor cur(subject);
  for (std::size_t i = 0; i < levels.size(); ++i) {
    const Level& l = levels[i];
    if (l.kind == Level::Kind::Hash) return true;  // this level and all below, or none
    if (!cur.more()) return false;
    const std::string_view level = cur.next();
    // Only a '#' covers a '#', except that "+/#" covers "#" at the top level: every topic
    // has a first level, so both match the same set.
    if (cover && level == "#")
      return i == 0 && l.kind == Level::Kind::Plus && levels.size() == 2 &&
             levels[1].kind == Level::Kind::Hash;
    switch (l.kind) {
      case Level::Kind::Plus:
        break;  // any one level; for cover, a '+' or a literal
      case Level::Kind::Literal:
        if (level != l.text || (cover && level == "+")) return false;
        break;
      case Level::Kind::User:
      case Level::Kind::Client: {
        // Literal-level comparison with the bound value: a value holding '/' never equals
        // one level, a value "+" never covers a wildcard, and a bound first level never
        // reaches '$' topics, so no client id or user name widens the pattern.
        const std::string_view value =
            l.kind == Level::Kind::User ? std::string_view(*who.username) : client_id;
        if (level != value || (cover && level == "+")) return false;
        if (i == 0 && is_dollar(value)) return false;
        break;
      }
      case Level::Kind::Hash:
        break;  // handled above
    }
  }
  return !cur.more();
}

bool Acl::decide(Op op, const core::ClientIdentity& who, std::string_view client_id,
                 std::string_view subject) const {
  bool granted = false;
  for (std::size_t i = 0; i < compiled_.size(); ++i) {
    const Compiled& c = compiled_[i];
    const AclRule& rule = opts_.rules[i];
    if (c.levels.empty()) continue;  // invalid pattern
    const bool deny = rule.access == Access::Deny;
    if (!deny) {
      if (granted) continue;  // only a deny can still change the answer
      const bool grants = op == Op::Publish ? rule.access != Access::Read
                                            : rule.access != Access::Write;
      if (!grants) continue;
    }
    if (c.needs_user && !who.username) continue;
    if (!applies(rule, who, client_id)) continue;
    if (!pattern_applies(c, op, who, client_id, subject)) continue;
    if (deny) return false;  // deny wins, whatever the order
    granted = true;
  }
  if (granted) return true;
  // '$' topics ($SYS) need a rule that names them; the default never opens them.
  if (is_dollar(subject)) return false;
  return opts_.default_allow;
}

bool Acl::may_publish(const core::ClientIdentity& who, std::string_view client_id,
                      std::string_view topic) const {
  return decide(Op::Publish, who, client_id, topic);
}

bool Acl::may_subscribe(const core::ClientIdentity& who, std::string_view client_id,
                        std::string_view filter) const {
  return decide(Op::Subscribe, who, client_id, filter);
}

bool Acl::may_receive(const core::ClientIdentity& who, std::string_view client_id,
                      std::string_view topic) const {
  return decide(Op::Receive, who, client_id, topic);
}

bool filter_covers(std::string_view outer, std::string_view inner) {
  if (!codec::valid_topic_filter(outer) || !codec::valid_topic_filter(inner)) return false;
  // [MQTT-4.7.2-1] a filter starting with a wildcard matches no '$' topic.
  if (is_dollar(inner) && (outer.front() == '+' || outer.front() == '#')) return false;
  LevelCursor o(outer);
  LevelCursor in(inner);
  for (bool first = true; o.more(); first = false) {
    const std::string_view ol = o.next();
    if (ol == "#") return true;  // covers the parent level and everything below
    if (!in.more()) return false;
    const std::string_view il = in.next();
    // Only '#' covers '#', and "+/#", which matches the same set at the top level.
    if (il == "#") return first && ol == "+" && o.more() && o.next() == "#" && !o.more();
    if (ol == "+") continue;      // covers '+' and any literal level
    if (il == "+" || il != ol) return false;
  }
  return !in.more();
}

}  // namespace tern::auth
