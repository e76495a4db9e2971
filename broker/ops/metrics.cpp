#include "broker/ops/metrics.hpp"

namespace tern::ops {

std::string render_prometheus(const Snapshot&) { return {}; }  // real body follows

}  // namespace tern::ops
