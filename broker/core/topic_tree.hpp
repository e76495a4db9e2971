// Subscription tree: topic filters (with '+', '#' and $share groups) -> subscribers.
// Matching walks one path per topic level, so cost depends on the topic's depth and the
// number of matching filters, not on the number of subscriptions.
// Rules: '+' matches one level, '#' the parent level and everything below
// [MQTT-4.7.1-2]; filters starting with a wildcard do not match topics starting with '$'
// [MQTT-4.7.2-1]; `$share/<group>/<filter>` subscriptions form a group per (group, filter),
// and each message goes to one member of the group [MQTT-4.8.2].
// Thread safety: not thread-safe; owned by core::Broker.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/types.hpp"

namespace tern::core {

struct Subscriber {
  SessionKey session = 0;
  SubOptions opts;
};

struct SharedGroup {
  std::string name;                  // the <group> part
  std::vector<Subscriber> members;   // in subscription order
  std::size_t next = 0;              // round-robin cursor, owned by the caller's policy
};

class TopicTree {
 public:
  TopicTree();
  ~TopicTree();
  TopicTree(const TopicTree&) = delete;
  TopicTree& operator=(const TopicTree&) = delete;

  // Adds or replaces the subscription of `session` to `filter` (which may be a $share
  // filter). Returns true when one existed and was replaced [MQTT-3.8.4-3].
  // REQUIRES: codec::valid_topic_filter(filter).
  bool subscribe(std::string_view filter, SessionKey session, const SubOptions& opts);
  // Removes it; returns false when there was none. Empty nodes are freed.
  bool unsubscribe(std::string_view filter, SessionKey session);

  // Calls on_sub(const Subscriber&) once per matching non-shared subscription and
  // on_group(SharedGroup&) once per matching shared group. A session with several
  // overlapping subscriptions is reported once per subscription; merging is core's job.
  // REQUIRES: codec::valid_topic_name(topic). Callbacks must not modify the tree.
  template <class OnSub, class OnGroup>
  void match(std::string_view topic, OnSub&& on_sub, OnGroup&& on_group);

  std::size_t size() const;  // subscriptions, shared ones included

 private:
  struct Node;
  std::unique_ptr<Node> root_;
  std::size_t size_ = 0;
};

}  // namespace tern::core

// The template definition of match() and Node live in the implementation header:
#include "broker/core/topic_tree_impl.hpp"
