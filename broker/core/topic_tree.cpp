// TopicTree: subscribe / unsubscribe. match() is a template in topic_tree_impl.hpp.
#include "broker/core/topic_tree.hpp"

#include <algorithm>
#include <optional>

namespace tern::core {
namespace {

constexpr std::string_view kSharePrefix = "$share/";

struct SplitFilter {
  std::string_view group;   // empty for a non-shared subscription
  std::string_view filter;
};

// "$share/<group>/<filter>" -> {group, filter} [MQTT-4.8.2-1]. Parsed here rather than
// with codec::parse_shared so the tree has no link-time dependency on the codec; the
// caller has already validated the filter (REQUIRES of subscribe).
SplitFilter split_shared(std::string_view f) {
  if (f.substr(0, kSharePrefix.size()) != kSharePrefix) return {{}, f};
  const std::string_view rest = f.substr(kSharePrefix.size());
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) return {{}, f};  // not a valid share
  return {rest.substr(0, slash), rest.substr(slash + 1)};
}

// Calls f(level) for each '/'-separated level of `s` (empty levels included).
template <class F>
void for_each_level(std::string_view s, F&& f) {
  std::size_t pos = 0;
  for (;;) {
    const std::size_t slash = s.find('/', pos);
    if (slash == std::string_view::npos) {
      f(s.substr(pos));
      return;
    }
    f(s.substr(pos, slash - pos));
    pos = slash + 1;
  }
}

}  // namespace

TopicTree::TopicTree() : root_(std::make_unique<Node>()) {}

TopicTree::~TopicTree() { detail::destroy_trie(std::move(root_)); }

std::size_t TopicTree::size() const { return size_; }

bool TopicTree::subscribe(std::string_view filter, SessionKey session,
                          const SubOptions& opts) {
  const SplitFilter sf = split_shared(filter);
  Node* n = root_.get();
  for_each_level(sf.filter, [&](std::string_view level) {
    std::unique_ptr<Node>* wild = level == "+" ? &n->plus_ : level == "#" ? &n->hash_ : nullptr;
    if (wild) {
      if (!*wild) *wild = std::make_unique<Node>();
      n = wild->get();
    } else {
      n = n->children_.find_or_add(level);
    }
  });

  if (!sf.group.empty()) {
    if (!n->groups_) n->groups_ = std::make_unique<std::vector<SharedGroup>>();
    std::vector<SharedGroup>& groups = *n->groups_;
    auto g = std::find_if(groups.begin(), groups.end(),
                          [&](const SharedGroup& x) { return x.name == sf.group; });
    if (g == groups.end()) {
      groups.push_back(SharedGroup{std::string(sf.group), {}, 0});
      g = groups.end() - 1;
    }
    for (Subscriber& m : g->members) {
      if (m.session == session) {  // [MQTT-3.8.4-3] replace, keep its place in the rotation
        m.opts = opts;
        return true;
      }
    }
    g->members.push_back(Subscriber{session, opts});
    ++size_;
    return false;
  }

  // [MQTT-3.8.4-3] a subscription with the same filter replaces the existing one.
  if (n->sub_index_) {
    auto it = n->sub_index_->find(session);
    if (it != n->sub_index_->end()) {
      n->subs_[it->second].opts = opts;
      return true;
    }
  } else {
    for (Subscriber& s : n->subs_) {
      if (s.session == session) {
        s.opts = opts;
        return true;
      }
    }
  }
  n->subs_.push_back(Subscriber{session, opts});
  if (n->sub_index_) {
    n->sub_index_->emplace(session, static_cast<std::uint32_t>(n->subs_.size() - 1));
  } else if (n->subs_.size() > Node::kIndexSubsAbove) {
    n->sub_index_ = std::make_unique<std::unordered_map<SessionKey, std::uint32_t>>();
    n->sub_index_->reserve(n->subs_.size() * 2);
    for (std::uint32_t i = 0; i < n->subs_.size(); ++i)
      n->sub_index_->emplace(n->subs_[i].session, i);
  }
  ++size_;
  return false;
}

bool TopicTree::unsubscribe(std::string_view filter, SessionKey session) {
  const SplitFilter sf = split_shared(filter);
  // The path from the root, to free nodes left empty on the way back up. Unsubscribe is
  // not the hot path; one small allocation here is fine.
  struct Step {
    Node* parent;
    Node* node;
  };
  std::vector<Step> path;
  Node* n = root_.get();
  bool found = true;
  for_each_level(sf.filter, [&](std::string_view level) {
    if (!found) return;
    Node* next = level == "+"   ? n->plus_.get()
                 : level == "#" ? n->hash_.get()
                                : n->children_.find(level);
    if (!next) {
      found = false;
      return;
    }
    path.push_back({n, next});
    n = next;
  });
  if (!found) return false;

  if (!sf.group.empty()) {
    if (!n->groups_) return false;
    std::vector<SharedGroup>& groups = *n->groups_;
    auto g = std::find_if(groups.begin(), groups.end(),
                          [&](const SharedGroup& x) { return x.name == sf.group; });
    if (g == groups.end()) return false;
    auto m = std::find_if(g->members.begin(), g->members.end(),
                          [&](const Subscriber& s) { return s.session == session; });
    if (m == g->members.end()) return false;
    const auto idx = static_cast<std::size_t>(m - g->members.begin());
    g->members.erase(m);  // keeps subscription order
    // Keep the caller's round-robin cursor pointing at the same next member.
    if (g->next > idx) --g->next;
    if (g->next >= g->members.size()) g->next = 0;
    if (g->members.empty()) {
      groups.erase(g);
      if (groups.empty()) n->groups_.reset();
    } else if (g->members.size() < g->members.capacity() / 4) {
      g->members.shrink_to_fit();
    }
  } else {
    std::size_t idx = n->subs_.size();
    if (n->sub_index_) {
      auto it = n->sub_index_->find(session);
      if (it == n->sub_index_->end()) return false;
      idx = it->second;
      n->sub_index_->erase(it);
    } else {
      for (std::size_t i = 0; i < n->subs_.size(); ++i) {
        if (n->subs_[i].session == session) {
          idx = i;
          break;
        }
      }
      if (idx == n->subs_.size()) return false;
    }
    // Swap-remove: delivery order across sessions carries no meaning.
    if (idx + 1 != n->subs_.size()) {
      n->subs_[idx] = n->subs_.back();
      if (n->sub_index_) (*n->sub_index_)[n->subs_[idx].session] = static_cast<std::uint32_t>(idx);
    }
    n->subs_.pop_back();
    if (n->sub_index_ && n->subs_.size() <= Node::kIndexSubsAbove / 2) n->sub_index_.reset();
    // Give memory back after mass unsubscribes: nothing keeps its high-water mark.
    if (n->subs_.empty() || n->subs_.size() < n->subs_.capacity() / 4) n->subs_.shrink_to_fit();
  }
  --size_;

  // Free the nodes this left empty, deepest first. The root is never freed.
  for (auto it = path.rbegin(); it != path.rend(); ++it) {
    Node* child = it->node;
    if (!child->empty()) break;
    Node* parent = it->parent;
    if (parent->plus_.get() == child) {
      parent->plus_.reset();
    } else if (parent->hash_.get() == child) {
      parent->hash_.reset();
    } else {
      parent->children_.remove(child);
    }
  }
  return true;
}

}  // namespace tern::core
