// Maps the validated config::Config onto the option structs of net and core, and applies
// the command line overrides. The only place that knows both vocabularies.
// Thread safety: reentrant.
#pragma once

#include <vector>

#include "broker/app/cli.hpp"
#include "broker/config/config.hpp"
#include "broker/core/broker.hpp"
#include "broker/net/server.hpp"

namespace tern::app {

// io_threads 0 means one loop per core, at most 4 (a Pi has 4; more loops than that only
// add handoffs). `hardware` 0 (unknown) counts as 1.
unsigned resolve_io_threads(unsigned configured, unsigned hardware);

// The configuration with -p/--port, --bind, --log-level and --data-dir applied: -p or
// --bind replace every listener with one plain TCP listener "mqtt" on ADDR:PORT;
// --data-dir replaces storage.path (a relative DIR is taken as given, i.e. against the
// working directory). Errors (a bad --bind, a rule the result breaks) are appended to
// `errors`, path "--bind" etc.
config::Config apply_cli(const config::Config& base, const CliOptions& cli,
                         std::vector<config::Error>& errors);

net::ServerOptions to_server_options(const config::Config& c, unsigned hardware_threads);
core::BrokerOptions to_broker_options(const config::Config& c);

}  // namespace tern::app
