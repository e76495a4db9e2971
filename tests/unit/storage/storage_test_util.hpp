// Helpers for the tern_storage unit tests: a temporary directory, a visitor that keeps
// what load() hands over, and sample records with every field set.
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "storage/leveldb_store.hpp"
#include "storage/memory_store.hpp"
#include "storage/records.hpp"
#include "storage/store.hpp"

namespace tern::storage::test {

// A fresh directory under $TMPDIR or /tmp, removed with everything in it (including moved-aside
// copies, which land beside the store: keep stores one level down, at db_path()).
class TempDir {
 public:
  TempDir() {
    // $TMPDIR when set (cross tests under qemu keep stores on tmpfs), else /tmp.
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                       "/tern-storage-test-XXXXXX";
    const char* p = mkdtemp(tmpl.data());
    if (p != nullptr) path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string db_path() const { return path_ + "/db"; }
  // Entries of the directory whose names start with `prefix`.
  std::vector<std::string> entries(const std::string& prefix) const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path_)) {
      const std::string name = e.path().filename().string();
      if (name.rfind(prefix, 0) == 0) out.push_back(name);
    }
    return out;
  }

 private:
  std::string path_;
};

struct LoadedSession {
  SessionRecord record;
  std::vector<InflightRecord> inflight;
  QueueInfo info;
  std::vector<QueueEntry> head;
};

class Loaded final : public LoadVisitor {
 public:
  void on_session(SessionRecord&& s, std::vector<InflightRecord>&& inflight, const QueueInfo& info,
                  std::vector<QueueEntry>&& head) override {
    order.push_back(s.client_id);
    const std::string id = s.client_id;
    sessions[id] = LoadedSession{std::move(s), std::move(inflight), info, std::move(head)};
  }
  void on_retained(StoredMessage&& m) override {
    const std::string t = m.topic;
    retained[t] = std::move(m);
  }
  void discard() override {
    ++discards;
    sessions.clear();
    order.clear();
    retained.clear();
  }

  std::map<std::string, LoadedSession> sessions;
  std::vector<std::string> order;
  std::map<std::string, StoredMessage> retained;
  int discards = 0;
};

inline BrokerTime at_ms(std::int64_t ms) { return BrokerTime(BrokerClock::duration(ms)); }

// A message with every storable PUBLISH property set.
inline StoredMessage full_message(std::string topic, std::string payload, std::uint8_t qos) {
  StoredMessage m;
  m.topic = std::move(topic);
  m.payload = std::move(payload);
  m.qos = qos;
  m.retain = true;
  m.props.payload_format_indicator = 1;
  m.props.message_expiry_interval = 3600;
  m.props.content_type = "application/json";
  m.props.response_topic = "reply/here";
  m.props.correlation_data = std::string("\x00\x01\x02", 3);
  m.props.user_properties = {{"k", "v1"}, {"k", "v2"}, {"a", ""}};
  m.expires_at = at_ms(123'456'789);
  m.origin_client_id = "publisher-1";
  return m;
}

inline StoredMessage plain_message(std::string topic, std::string payload, std::uint8_t qos = 1) {
  StoredMessage m;
  m.topic = std::move(topic);
  m.payload = std::move(payload);
  m.qos = qos;
  m.origin_client_id = "pub";
  return m;
}

// A session with every field set.
inline SessionRecord full_session(std::string client_id) {
  SessionRecord s;
  s.client_id = std::move(client_id);
  s.version = codec::ProtocolVersion::v5;
  s.expiry_interval = 86400;
  s.expires_at = at_ms(987'654'321);
  codec::Will w;
  w.topic = "clients/" + s.client_id + "/status";
  w.payload = "offline";
  w.qos = 2;
  w.retain = true;
  w.props.will_delay_interval = 30;
  w.props.message_expiry_interval = 600;
  w.props.content_type = "text/plain";
  w.props.payload_format_indicator = 1;
  w.props.response_topic = "r";
  w.props.correlation_data = "cd";
  w.props.user_properties = {{"why", "lost"}};
  s.will = w;
  s.will_due = at_ms(555'000);
  s.subscriptions = {
      {"sensors/+/temp", 1, false, false, 0, 0},
      {"alarms/#", 2, true, true, 2, 268'435'455},
      {"$share/group/jobs/#", 0, false, true, 1, 7},
  };
  s.inbound_qos2 = {1, 2, 65535};
  return s;
}

// Overwrites a file with `n` garbage bytes (at least one), keeping it present.
inline void scribble(const std::filesystem::path& p) {
  std::error_code ec;
  std::uintmax_t n = std::filesystem::file_size(p, ec);
  if (ec || n == 0) n = 64;
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  for (std::uintmax_t i = 0; i < n; ++i) f.put(static_cast<char>((i * 131 + 17) & 0xFF));
}

inline std::vector<std::filesystem::path> files_with_suffix(const std::string& dir,
                                                            const std::string& suffix) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      out.push_back(e.path());
    }
  }
  return out;
}

}  // namespace tern::storage::test
