// Implementation header of TopicTree (included at the end of topic_tree.hpp): the trie
// node, the level-keyed child container it shares with RetainedStore, and match().
// Thread safety: as TopicTree (none); the helpers here hold no shared state.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "broker/core/topic_tree.hpp"

namespace tern::core {
namespace detail {

// Children of a trie node keyed by topic level. Most nodes have a handful of children, so
// they sit in a small vector searched linearly (no hashing, one allocation); a node that
// fans out widely (e.g. "devices/<id>") switches to a hash map so lookup and insertion
// stay O(1). Keys are string_views into each child's own `level_` (a child is heap
// allocated and never moves), so lookups by string_view never allocate.
// NodeT must have `std::string level_`.
template <class NodeT>
class LevelChildren {
 public:
  // Above this many children the hash map is used; back to the vector at half of it, so
  // a node oscillating around the threshold does not rebuild on every change.
  static constexpr std::size_t kMaxLinear = 16;

  NodeT* find(std::string_view level) const {
    if (big_) {
      auto it = big_->find(level);
      return it == big_->end() ? nullptr : it->second.get();
    }
    for (const auto& c : small_)
      if (c->level_ == level) return c.get();
    return nullptr;
  }

  // Returns the child for `level`, creating it when absent.
  NodeT* find_or_add(std::string_view level) {
    if (NodeT* n = find(level)) return n;
    auto child = std::make_unique<NodeT>();
    child->level_.assign(level);
    NodeT* raw = child.get();
    if (big_) {
      big_->emplace(std::string_view(raw->level_), std::move(child));
    } else if (small_.size() < kMaxLinear) {
      small_.push_back(std::move(child));
    } else {
      big_ = std::make_unique<Map>();
      big_->reserve(small_.size() * 2);
      for (auto& c : small_) big_->emplace(std::string_view(c->level_), std::move(c));
      std::vector<std::unique_ptr<NodeT>>().swap(small_);
      big_->emplace(std::string_view(raw->level_), std::move(child));
    }
    return raw;
  }

  // Removes (and destroys) the child `n`. REQUIRES: n is a child of this container.
  void remove(NodeT* n) {
    if (big_) {
      big_->erase(std::string_view(n->level_));
      if (big_->size() <= kMaxLinear / 2) {
        small_.reserve(big_->size());
        for (auto& kv : *big_) small_.push_back(std::move(kv.second));
        big_.reset();  // frees the bucket array too: no growth left behind by churn
      }
      return;
    }
    for (std::size_t i = 0; i < small_.size(); ++i) {
      if (small_[i].get() == n) {
        small_[i] = std::move(small_.back());
        small_.pop_back();
        if (small_.empty()) std::vector<std::unique_ptr<NodeT>>().swap(small_);
        return;
      }
    }
  }

  bool empty() const { return big_ ? big_->empty() : small_.empty(); }
  std::size_t size() const { return big_ ? big_->size() : small_.size(); }

  // Calls f(NodeT&) for every child, in unspecified order. f must not add or remove.
  template <class F>
  void for_each(F&& f) const {
    if (big_) {
      for (const auto& kv : *big_) f(*kv.second);
    } else {
      for (const auto& c : small_) f(*c);
    }
  }

  // Moves every child out into `out` (used to destroy deep trees without recursion).
  void release_into(std::vector<std::unique_ptr<NodeT>>& out) {
    if (big_) {
      for (auto& kv : *big_) out.push_back(std::move(kv.second));
      big_.reset();
    }
    for (auto& c : small_) out.push_back(std::move(c));
    std::vector<std::unique_ptr<NodeT>>().swap(small_);
  }

 private:
  using Map = std::unordered_map<std::string_view, std::unique_ptr<NodeT>>;
  std::vector<std::unique_ptr<NodeT>> small_;
  std::unique_ptr<Map> big_;
};

// A stack that lives inline for the common depth and spills to the heap only for unusually
// deep topics, so match() allocates nothing in the common case and never recurses (a
// topic may have ~32k levels; recursion that deep could overflow a thread's stack).
template <class T, std::size_t N>
class InlineStack {
 public:
  void push(const T& v) {
    if (heap_.empty() && n_ < N) {
      inline_[n_++] = v;
    } else {
      heap_.push_back(v);
    }
  }
  bool empty() const { return n_ == 0 && heap_.empty(); }
  T pop() {
    if (!heap_.empty()) {
      T v = heap_.back();
      heap_.pop_back();
      return v;
    }
    return inline_[--n_];
  }

 private:
  // Deliberately not value-initialised: zeroing it would cost more than a typical match.
  std::array<T, N> inline_;
  std::size_t n_ = 0;
  std::vector<T> heap_;  // holds the entries above the inline ones
};

// Destroys a trie iteratively: unique_ptr's recursive destruction of a ~32k-level chain
// could overflow the stack. NodeT must provide release_children(std::vector<...>&).
template <class NodeT>
void destroy_trie(std::unique_ptr<NodeT> root) {
  std::vector<std::unique_ptr<NodeT>> pending;
  if (root) pending.push_back(std::move(root));
  while (!pending.empty()) {
    std::unique_ptr<NodeT> n = std::move(pending.back());
    pending.pop_back();
    n->release_children(pending);
    // n is destroyed here, childless.
  }
}

}  // namespace detail

struct TopicTree::Node {
  std::string level_;                          // key in the parent's `children_`
  detail::LevelChildren<Node> children_;       // literal levels
  std::unique_ptr<Node> plus_;                 // the '+' level
  std::unique_ptr<Node> hash_;                 // the '#' level (always a leaf)
  std::vector<Subscriber> subs_;               // unique per session; order irrelevant
  // Index session -> position in subs_, built only when many sessions share one filter
  // (e.g. thousands of devices on "cmd/all"), so subscribe/unsubscribe stay O(1).
  std::unique_ptr<std::unordered_map<SessionKey, std::uint32_t>> sub_index_;
  // Shared groups, unique by name; null when none (most nodes), to keep nodes small.
  std::unique_ptr<std::vector<SharedGroup>> groups_;

  static constexpr std::size_t kIndexSubsAbove = 32;

  bool empty() const {
    return subs_.empty() && !groups_ && children_.empty() && !plus_ && !hash_;
  }
  void release_children(std::vector<std::unique_ptr<Node>>& out) {
    children_.release_into(out);
    if (plus_) out.push_back(std::move(plus_));
    if (hash_) out.push_back(std::move(hash_));
  }
};

template <class OnSub, class OnGroup>
void TopicTree::match(std::string_view topic, OnSub&& on_sub, OnGroup&& on_group) {
  // A state is a node whose path has matched topic[0, pos). kAll: every level consumed.
  constexpr std::size_t kAll = static_cast<std::size_t>(-1);
  struct State {
    Node* node;
    std::size_t pos;
  };
  auto report = [&](Node& n) {
    for (const Subscriber& s : n.subs_) on_sub(s);
    if (n.groups_)
      for (SharedGroup& g : *n.groups_) on_group(g);
  };
  // [MQTT-4.7.2-1] a filter whose first level is a wildcard does not match a '$' topic.
  const bool dollar = !topic.empty() && topic.front() == '$';

  detail::InlineStack<State, 32> stack;
  stack.push({root_.get(), 0});
  while (!stack.empty()) {
    const State st = stack.pop();
    Node& n = *st.node;
    if (st.pos == kAll) {
      report(n);
      // [MQTT-4.7.1-2] "sport/#" also matches "sport": '#' matches the parent level.
      if (n.hash_) report(*n.hash_);
      continue;
    }
    const bool wild_ok = !(dollar && st.pos == 0);
    const std::size_t slash = topic.find('/', st.pos);
    const std::string_view level = slash == std::string_view::npos
                                       ? topic.substr(st.pos)
                                       : topic.substr(st.pos, slash - st.pos);
    const std::size_t next = slash == std::string_view::npos ? kAll : slash + 1;
    if (wild_ok) {
      if (n.hash_) report(*n.hash_);  // this level and everything below
      // '+' matches exactly one level, an empty one included ("a//b").
      if (n.plus_) stack.push({n.plus_.get(), next});
    }
    if (Node* c = n.children_.find(level)) stack.push({c, next});
  }
}

}  // namespace tern::core
