// Maps the validated config::Config onto the option structs of net, core and bridge, and
// applies the command line overrides. The only place that knows both vocabularies.
// Thread safety: reentrant.
#pragma once

#include <vector>

#include "bridge/options.hpp"
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

// Listener and limits settings included. The authenticator and access policy are left
// null: build_security() (security.hpp) makes them, reading the password file.
net::ServerOptions to_server_options(const config::Config& c, unsigned hardware_threads);
// One listener; allow_anonymous resolved against auth.allow_anonymous. TLS contexts are
// built by net from the file names (check_listener_files checks the files first).
net::ListenerOptions to_listener_options(const config::Config& c, const config::Listener& l);
tls::ServerOptions to_tls_options(const config::ListenerTls& t);
core::BrokerOptions to_broker_options(const config::Config& c);

// One BridgeOptions per `bridges:` entry, in order. This is where the files a bridge names
// are read: password_file and tls.key_password_file (contents with surrounding whitespace,
// the final newline included, removed; empty is an error), and tls.ca, tls.cert and tls.key
// (must be readable PEM files; their contents are left to the bridge's TLS library). Each
// problem is appended to `errors` with the YAML path and line of the key that named the
// file. Call it for --check-config as well as at start-up, so both see the same errors.
// REQUIRES: `c` loaded (or validated) without errors. Use the result only if no error was
// appended.
std::vector<bridge::BridgeOptions> to_bridge_options(const config::Config& c,
                                                     std::vector<config::Error>& errors);

}  // namespace tern::app
