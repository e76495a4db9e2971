// Retained messages by topic, matched against subscription filters with wildcards.
// One message per topic; storing a zero-length payload removes it [MQTT-3.3.1-6, 3.3.1-7].
// Tracks total bytes so core can enforce max_retained_bytes.
// Thread safety: not thread-safe; owned by core::Broker.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "broker/core/types.hpp"

namespace tern::core {

class RetainedStore {
 public:
  RetainedStore();
  ~RetainedStore();
  RetainedStore(const RetainedStore&) = delete;
  RetainedStore& operator=(const RetainedStore&) = delete;

  // Stores msg under msg->topic, replacing any previous one; an empty payload erases.
  void put(MessagePtr msg);
  bool erase(std::string_view topic);
  MessagePtr find(std::string_view topic) const;

  // Calls visit(const MessagePtr&) for every retained message whose topic matches `filter`
  // (a plain filter, no $share prefix), with the '$' rule of [MQTT-4.7.2-1].
  void match(std::string_view filter, const std::function<void(const MessagePtr&)>& visit) const;

  // Removes messages whose expires_at <= now, calling on_removed (if set) for each before
  // it goes; returns how many.
  std::size_t erase_expired(Time now,
                            const std::function<void(const MessagePtr&)>& on_removed = {});
  // Earliest expires_at among stored messages; nullopt when none expires.
  std::optional<Time> next_expiry() const;

  std::size_t size() const;
  std::size_t bytes() const;  // sum of Message::size_bytes()

 private:
  struct Node;
  std::unique_ptr<Node> root_;
  std::size_t size_ = 0;
  std::size_t bytes_ = 0;
};

}  // namespace tern::core
