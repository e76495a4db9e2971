#include "bridge/rules.hpp"

#include <algorithm>
#include <set>

#include "broker/codec/codec.hpp"

namespace tern::bridge {

bool topic_matches(std::string_view filter, std::string_view topic) {
  return codec::topic_matches(filter, topic);
}

std::optional<std::string_view> strip_prefix(std::string_view topic, std::string_view prefix) {
  if (!topic.starts_with(prefix)) return std::nullopt;
  return topic.substr(prefix.size());
}

std::optional<std::string> map_topic(std::string_view topic, std::string_view from_prefix,
                                     std::string_view to_prefix) {
  const auto rest = strip_prefix(topic, from_prefix);
  if (!rest) return std::nullopt;
  std::string out;
  out.reserve(to_prefix.size() + rest->size());
  out.append(to_prefix).append(*rest);
  if (!codec::valid_topic_name(out)) return std::nullopt;  // [MQTT-4.7.3-1] non-empty etc.
  return out;
}

RuleSet::RuleSet(const BridgeOptions& opts)
    : rules_(opts.topics), loop_prefix_("$bridge/" + opts.name + "/") {
  // Classes: the distinct priorities of out/both rules, highest first.
  std::set<int, std::greater<int>> prios;
  for (const TopicRule& r : rules_)
    if (r.direction != Direction::In) prios.insert(r.priority);
  for (int p : prios) {
    OutClass c;
    c.priority = p;
    c.client_id = loop_prefix_ + "p" + std::to_string(p);
    for (std::size_t i = 0; i < rules_.size(); ++i) {
      const TopicRule& r = rules_[i];
      if (r.direction == Direction::In || r.priority != p) continue;
      c.filters.push_back(Filter{r.local_prefix + r.pattern, r.qos});
      c.rules.push_back(i);
    }
    out_.push_back(std::move(c));
  }
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    const TopicRule& r = rules_[i];
    if (r.direction == Direction::Out) continue;
    in_filters_.push_back(Filter{r.remote_prefix + r.pattern, r.qos});
    in_rules_.push_back(i);
  }
  if (!in_filters_.empty()) in_client_id_ = loop_prefix_ + "in";
}

std::optional<std::string> RuleSet::map_out(std::size_t cls, std::string_view topic) const {
  if (cls >= out_.size()) return std::nullopt;
  const OutClass& c = out_[cls];
  for (std::size_t k = 0; k < c.filters.size(); ++k) {
    if (!topic_matches(c.filters[k].filter, topic)) continue;
    const TopicRule& r = rules_[c.rules[k]];
    return map_topic(topic, r.local_prefix, r.remote_prefix);
  }
  return std::nullopt;
}

std::optional<InMatch> RuleSet::map_in(std::string_view remote_topic) const {
  for (std::size_t k = 0; k < in_filters_.size(); ++k) {
    if (!topic_matches(in_filters_[k].filter, remote_topic)) continue;
    const TopicRule& r = rules_[in_rules_[k]];
    auto local = map_topic(remote_topic, r.remote_prefix, r.local_prefix);
    if (!local) return std::nullopt;
    return InMatch{std::move(*local), r.qos};
  }
  return std::nullopt;
}

bool RuleSet::is_both(std::size_t cls, std::string_view topic) const {
  if (cls >= out_.size()) return false;
  const OutClass& c = out_[cls];
  for (std::size_t k = 0; k < c.filters.size(); ++k) {
    if (rules_[c.rules[k]].direction == Direction::Both &&
        topic_matches(c.filters[k].filter, topic))
      return true;
  }
  return false;
}

}  // namespace tern::bridge
