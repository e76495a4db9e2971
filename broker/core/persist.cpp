// Persistence of core state (work in progress: API stubs).
#include "broker/core/broker_impl.hpp"

namespace tern::core {

void Broker::enable_persistence(const PersistenceOptions& opts) { (void)opts; }
storage::Status Broker::restore(Time now, RestoreStats& stats) {
  (void)now;
  (void)stats;
  return storage::Status::ok_status();
}
std::vector<PersistRequest>& Broker::persist_requests() {
  static std::vector<PersistRequest> none;
  return none;
}
void Broker::on_persisted(std::uint64_t token, const storage::Status& status, Time now) {
  (void)token;
  (void)status;
  (void)now;
}

}  // namespace tern::core
