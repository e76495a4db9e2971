// A bridge's topic rules compiled for lookups: which local filters each priority class
// subscribes to, which remote filters the uplink subscribes to, and the topic mapping
// local_prefix + X <-> remote_prefix + X in both directions.
// Thread safety: immutable after construction; const methods are reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/options.hpp"

namespace tern::bridge {

// MQTT topic matching: '+' one level, '#' the parent level and all below [MQTT-4.7.1-2];
// a filter starting with a wildcard does not match a topic starting with '$'
// [MQTT-4.7.2-1]. REQUIRES: a valid filter and a valid topic name.
bool topic_matches(std::string_view filter, std::string_view topic);

// `prefix` + X -> X; nullopt when `topic` does not start with `prefix`.
std::optional<std::string_view> strip_prefix(std::string_view topic, std::string_view prefix);

// A message's topic on the other side, or nullopt when the result is not a valid topic
// name (e.g. empty, or longer than 65535 bytes).
std::optional<std::string> map_topic(std::string_view topic, std::string_view from_prefix,
                                     std::string_view to_prefix);

struct Filter {
  std::string filter;  // prefix + pattern
  std::uint8_t qos = 1;
};

// One priority class of out rules: one internal session.
struct OutClass {
  int priority = 0;
  std::string client_id;           // "$bridge/<name>/p<priority>"
  std::vector<Filter> filters;     // local_prefix + pattern, in rule order
  std::vector<std::size_t> rules;  // indexes into the rule list, same order
};

struct InMatch {
  std::string local_topic;
  std::uint8_t qos = 0;  // the rule's maximum
};

class RuleSet {
 public:
  explicit RuleSet(const BridgeOptions& opts);

  // Highest priority first.
  const std::vector<OutClass>& out_classes() const { return out_; }
  // remote_prefix + pattern of each in/both rule, in rule order.
  const std::vector<Filter>& in_filters() const { return in_filters_; }
  bool has_in() const { return !in_filters_.empty(); }
  const std::string& in_client_id() const { return in_client_id_; }
  // "$bridge/<name>/": what core's loop prevention keys on.
  const std::string& loop_prefix() const { return loop_prefix_; }

  // The remote topic for a message the out class `cls` received on local `topic`: the
  // first of the class's rules whose filter matches. nullopt when none does (a filter left
  // over from an older configuration) or the mapped topic is invalid.
  std::optional<std::string> map_out(std::size_t cls, std::string_view topic) const;
  // The local topic and QoS cap for a message from the remote: the first in rule whose
  // filter matches. nullopt when none does or the mapped topic is invalid.
  std::optional<InMatch> map_in(std::string_view remote_topic) const;
  // Whether any both-direction rule matches local `topic` on the way out (for the echo
  // filter of 3.1.1 uplinks, which have no No Local).
  bool is_both(std::size_t cls, std::string_view topic) const;

 private:
  std::vector<TopicRule> rules_;
  std::vector<OutClass> out_;
  std::vector<Filter> in_filters_;
  std::vector<std::size_t> in_rules_;
  std::string in_client_id_;
  std::string loop_prefix_;
};

}  // namespace tern::bridge
