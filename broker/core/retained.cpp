// RetainedStore: a trie of topic levels with at most one message per exact topic, matched
// in the reverse direction of TopicTree (a filter with wildcards against stored topics).
// Messages with an expiry are also indexed by expiry time, so erase_expired() costs
// O(expired * log n) rather than a walk of the whole store.
#include "broker/core/retained.hpp"

#include <cassert>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "broker/core/topic_tree.hpp"  // detail::LevelChildren, detail::destroy_trie

namespace tern::core {

struct RetainedStore::Node {
  std::string level_;
  detail::LevelChildren<Node> children_;
  MessagePtr msg_;
  // Root only: (expiry, node) for every message with an expiry, ordered by time; the pair
  // is unique, so an entry is found in O(log n) even when many expire at the same time.
  // It lives here because retained.hpp declares no member for it; other nodes pay one
  // null pointer.
  std::unique_ptr<std::set<std::pair<Time, Node*>>> expiry_;

  bool empty() const { return !msg_ && children_.empty(); }
  void release_children(std::vector<std::unique_ptr<Node>>& out) {
    children_.release_into(out);
  }
};

namespace {


// Splits off the first level of `rest`; `last` tells whether it was the final level.
std::string_view next_level(std::string_view& rest, bool& last) {
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) {
    last = true;
    std::string_view l = rest;
    rest = {};
    return l;
  }
  last = false;
  std::string_view l = rest.substr(0, slash);
  rest.remove_prefix(slash + 1);
  return l;
}

}  // namespace

RetainedStore::RetainedStore() : root_(std::make_unique<Node>()) {
  root_->expiry_ = std::make_unique<std::set<std::pair<Time, Node*>>>();
}

RetainedStore::~RetainedStore() { detail::destroy_trie(std::move(root_)); }

std::size_t RetainedStore::size() const { return size_; }
std::size_t RetainedStore::bytes() const { return bytes_; }

void RetainedStore::put(MessagePtr msg) {
  if (!msg) return;
  // [MQTT-3.3.1-6], [MQTT-3.3.1-7] a zero-length retained payload removes the topic's
  // retained message and is itself never stored.
  if (msg->payload.empty()) {
    erase(msg->topic);
    return;
  }
  Node* n = root_.get();
  std::string_view rest = msg->topic;
  bool last = false;
  while (!last) n = n->children_.find_or_add(next_level(rest, last));

  if (n->msg_) {
    bytes_ -= n->msg_->size_bytes();
    if (n->msg_->expires_at) root_->expiry_->erase({*n->msg_->expires_at, n});
    --size_;
  }
  bytes_ += msg->size_bytes();
  ++size_;
  if (msg->expires_at) root_->expiry_->emplace(*msg->expires_at, n);
  n->msg_ = std::move(msg);
}

bool RetainedStore::erase(std::string_view topic) {
  // The path from the root, to free nodes left empty. Stored topics are at most 65535
  // bytes, so the path is bounded.
  std::vector<Node*> path;
  path.push_back(root_.get());
  std::string_view rest = topic;
  bool last = false;
  while (!last) {
    Node* c = path.back()->children_.find(next_level(rest, last));
    if (!c) return false;
    path.push_back(c);
  }
  Node* n = path.back();
  if (!n->msg_) return false;
  bytes_ -= n->msg_->size_bytes();
  if (n->msg_->expires_at) root_->expiry_->erase({*n->msg_->expires_at, n});
  --size_;
  n->msg_.reset();
  // Free the nodes left empty, deepest first; the root (path[0]) stays.
  for (std::size_t i = path.size() - 1; i > 0 && path[i]->empty(); --i)
    path[i - 1]->children_.remove(path[i]);
  return true;
}

MessagePtr RetainedStore::find(std::string_view topic) const {
  const Node* n = root_.get();
  std::string_view rest = topic;
  bool last = false;
  while (!last) {
    n = n->children_.find(next_level(rest, last));
    if (!n) return nullptr;
  }
  return n->msg_;
}

void RetainedStore::match(std::string_view filter,
                          const std::function<void(const MessagePtr&)>& visit) const {
  // Explicit stack, no recursion: stored topics may be ~32k levels deep.
  struct State {
    const Node* node;
    std::size_t pos;  // start of the next filter level
    bool done;        // every filter level consumed
  };
  std::vector<State> stack;
  std::vector<const Node*> subtree;  // for '#': every message at or below a node
  auto visit_subtree = [&](const Node& from, bool skip_dollar) {
    subtree.clear();
    from.children_.for_each([&](const Node& c) {
      // [MQTT-4.7.2-1] a leading '#' does not reach topics starting with '$'.
      if (!(skip_dollar && !c.level_.empty() && c.level_.front() == '$')) subtree.push_back(&c);
    });
    while (!subtree.empty()) {
      const Node* s = subtree.back();
      subtree.pop_back();
      if (s->msg_) visit(s->msg_);
      s->children_.for_each([&](const Node& c) { subtree.push_back(&c); });
    }
  };

  stack.push_back({root_.get(), 0, false});
  while (!stack.empty()) {
    const State st = stack.back();
    stack.pop_back();
    const Node& n = *st.node;
    if (st.done) {
      if (n.msg_) visit(n.msg_);
      continue;
    }
    const bool at_root = st.pos == 0;
    const std::size_t slash = filter.find('/', st.pos);
    const std::string_view level = slash == std::string_view::npos
                                       ? filter.substr(st.pos)
                                       : filter.substr(st.pos, slash - st.pos);
    const bool last = slash == std::string_view::npos;
    const std::size_t next = last ? 0 : slash + 1;
    if (level == "#") {
      // [MQTT-4.7.1-2] '#' matches the parent level too ("sport/#" matches "sport"). The
      // root is no topic (topics have at least one level), so it has no message.
      if (!at_root && n.msg_) visit(n.msg_);
      visit_subtree(n, at_root);
    } else if (level == "+") {
      n.children_.for_each([&](const Node& c) {
        if (at_root && !c.level_.empty() && c.level_.front() == '$') return;  // [MQTT-4.7.2-1]
        stack.push_back({&c, next, last});
      });
    } else if (const Node* c = n.children_.find(level)) {
      stack.push_back({c, next, last});
    }
  }
}

std::optional<Time> RetainedStore::next_expiry() const {
  const auto& idx = *root_->expiry_;
  if (idx.empty()) return std::nullopt;
  return idx.begin()->first;
}

std::size_t RetainedStore::erase_expired(Time now,
                                         const std::function<void(const MessagePtr&)>& on_removed) {
  std::size_t n = 0;
  auto& idx = *root_->expiry_;
  while (!idx.empty() && idx.begin()->first <= now) {
    // Keep the message alive while erase() walks its topic.
    const MessagePtr m = idx.begin()->second->msg_;
    if (on_removed) on_removed(m);
    const bool erased = erase(m->topic);
    assert(erased);  // the index only holds stored messages
    if (!erased) idx.erase(idx.begin());  // never loop forever on a broken invariant
    ++n;
  }
  return n;
}

}  // namespace tern::core
