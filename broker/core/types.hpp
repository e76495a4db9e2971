// Core vocabulary: time, identifiers, the immutable shared message, subscription options.
// Message is immutable once built and shared (refcounted) by every subscriber and queue,
// so fan-out never copies a payload. Thread safety: MessagePtr may cross threads (const).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "broker/codec/packet.hpp"

namespace tern::core {

// Core only ever sees monotonic time, passed in by the caller (a fake clock in tests).
using Clock = std::chrono::steady_clock;
using Time = Clock::time_point;
using Duration = Clock::duration;

// A transport connection, assigned by net. Never reused within one Broker's life.
using ConnId = std::uint64_t;
// A session, assigned by core. Never reused within one Broker's life.
using SessionKey = std::uint64_t;

// A counter that is not copied with its owner: a copy of a Message is held by no queue.
struct QueueRefCount {
  std::uint32_t n = 0;
  QueueRefCount() = default;
  QueueRefCount(const QueueRefCount&) noexcept {}
  QueueRefCount& operator=(const QueueRefCount&) noexcept { return *this; }
};

// A message's stored properties, boxed: codec::Properties is ~500 bytes and most messages
// carry none, so a Message without them is 144 bytes (64-bit) (queued messages are counted in
// millions on a gateway). Reads see an empty set when none is held.
class MessageProps {
 public:
  MessageProps() = default;
  MessageProps(const MessageProps& o)
      : p_(o.p_ ? std::make_unique<codec::Properties>(*o.p_) : nullptr) {}
  MessageProps& operator=(const MessageProps& o) {
    if (this != &o) p_ = o.p_ ? std::make_unique<codec::Properties>(*o.p_) : nullptr;
    return *this;
  }
  MessageProps(MessageProps&&) noexcept = default;
  MessageProps& operator=(MessageProps&&) noexcept = default;
  // Holds p, or nothing when p is empty.
  MessageProps& operator=(codec::Properties&& p) {
    if (p.empty()) {
      p_.reset();
    } else if (p_) {
      *p_ = std::move(p);
    } else {
      p_ = std::make_unique<codec::Properties>(std::move(p));
    }
    return *this;
  }
  const codec::Properties& operator*() const { return p_ ? *p_ : empty_set(); }
  const codec::Properties* operator->() const { return &**this; }
  const codec::Properties* get() const { return p_.get(); }  // null: none
  codec::Properties& edit() {  // the box, made on first use
    if (!p_) p_ = std::make_unique<codec::Properties>();
    return *p_;
  }
  bool operator==(const MessageProps& o) const { return **this == *o; }

 private:
  static const codec::Properties& empty_set() {
    static const codec::Properties e;
    return e;
  }
  std::unique_ptr<codec::Properties> p_;
};

struct Message {
  // User-provided, so make_shared<Message>() initialises member by member.
  Message() noexcept {}
  std::string topic;
  codec::Bytes payload;
  std::uint8_t qos = 0;   // as published; each delivery is min(qos, subscription max)
  bool retain = false;    // as published
  // Stored properties: payload format, content type, response topic, correlation data,
  // user properties. Never topic alias or subscription identifiers (per delivery)
  // [MQTT-3.3.2-7], [MQTT-3.3.4-6]. message_expiry_interval is replaced on delivery.
  MessageProps props;
  std::optional<Time> expires_at;  // from Message Expiry Interval
  std::string origin_client_id;    // publisher, for No Local [MQTT-3.8.3-3]
  Time created{};                  // when the broker received (or reloaded) it
  // Core's bookkeeping for BrokerOptions::memory_budget: how many session queues hold this
  // message in RAM, so its bytes are counted once however many queues share it. Only
  // touched under the broker's serialisation; no other thread ever reads it, so the
  // message stays safe to share (other threads read the immutable fields only).
  mutable QueueRefCount queue_refs;
  std::size_t size_bytes() const { return topic.size() + payload.size(); }
  // Keeps what a PUBLISH may carry: never the per-delivery topic alias and subscription
  // identifiers [MQTT-3.3.2-7], [MQTT-3.3.4-6] or a will's delay; the Message Expiry
  // Interval becomes expires_at, counted from now (the remaining time is sent per
  // delivery [MQTT-3.3.2-6]).
  void take_props(codec::Properties&& p, Time now) {
    p.topic_alias.reset();
    p.subscription_identifiers.clear();
    p.will_delay_interval.reset();
    if (p.message_expiry_interval) {
      expires_at = now + std::chrono::seconds(*p.message_expiry_interval);
      p.message_expiry_interval.reset();
    }
    props = std::move(p);
  }
};
using MessagePtr = std::shared_ptr<const Message>;

struct SubOptions {
  std::uint8_t max_qos = 0;
  bool no_local = false;
  bool retain_as_published = false;
  std::uint8_t retain_handling = 0;
  std::uint32_t subscription_id = 0;  // 0 = none
  bool operator==(const SubOptions&) const = default;
};

}  // namespace tern::core
