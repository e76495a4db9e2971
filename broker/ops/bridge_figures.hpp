// bridge::BridgeStatus -> ops::BridgeFigures, for the app's Monitor bridge source. Header
// only, so tern_ops does not link the bridge (nor Paho); include it only where
// TERN_WITH_BRIDGE is on. Pure function, thread-safe.
#pragma once

#include "bridge/bridge.hpp"
#include "broker/ops/metrics.hpp"

namespace tern::ops {

inline BridgeFigures bridge_figures(const bridge::BridgeStatus& st) {
  BridgeFigures f;
  f.name = st.name;
  f.connected = st.connected;
  f.connects = st.connects;
  f.queued = st.queued;
  f.on_disk = st.on_disk;
  f.inflight = st.inflight;
  if (st.oldest_age) f.oldest_age_seconds = static_cast<double>(st.oldest_age->count()) / 1000.0;
  f.forwarded_out = st.forwarded_out;
  f.forwarded_in = st.forwarded_in;
  f.dropped = {
      {"dropped_oldest", st.dropped_oldest}, {"dropped_newest", st.dropped_newest},
      {"rejected", st.rejected},             {"qos0_offline", st.dropped_qos0},
      {"remote_rejected", st.remote_rejected}, {"too_large", st.dropped_too_large},
      {"unmapped", st.dropped_unmapped},     {"expired", st.dropped_expired},
      {"inbound_full", st.dropped_in},
  };
  return f;
}

}  // namespace tern::ops
