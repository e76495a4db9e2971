// tern: the broker executable. Wiring only: command line -> configuration -> logging ->
// net::Server (which owns core::Broker) -> bridges -> run until SIGINT/SIGTERM.
// Exit codes: 0 clean stop or valid --check-config; 1 invalid configuration, a listener that
// cannot bind, or a startup failure; 2 command line usage error.

#include <spdlog/spdlog.h>

#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bridge/bridge.hpp"
#include "broker/app/cli.hpp"
#include "broker/app/logging.hpp"
#include "broker/app/options_map.hpp"
#include "broker/config/config.hpp"
#include "broker/net/server.hpp"

#ifndef TERN_VERSION
#error "TERN_VERSION must be defined by the build"
#endif

namespace {

using namespace tern;

// The effective configuration (file or defaults, then command line), or every error on `err`.
std::optional<config::Config> load_config(const app::CliOptions& cli, const std::string& path,
                                          std::ostream& err) {
  config::LoadResult r;
  if (path.empty()) {
    r.source = "<built-in defaults>";
    r.config = config::defaults();
  } else {
    r = config::load_file(path);
  }
  if (!r.ok()) {
    err << r.error_report();
    return std::nullopt;
  }
  std::vector<config::Error> errors;
  config::Config c = app::apply_cli(*r.config, cli, errors);
  if (!errors.empty()) {
    for (const auto& e : errors) err << config::format_error(e, "command line") << '\n';
    return std::nullopt;
  }
  return c;
}

// The bridges' options, with the files they name read and checked; every problem on `err`.
std::optional<std::vector<bridge::BridgeOptions>> load_bridges(const config::Config& c,
                                                               const std::string& source,
                                                               std::ostream& err) {
  std::vector<config::Error> errors;
  std::vector<bridge::BridgeOptions> v = app::to_bridge_options(c, errors);
  if (!errors.empty()) {
    for (const auto& e : errors) err << config::format_error(e, source) << '\n';
    return std::nullopt;
  }
  return v;
}

std::string endpoint(const net::BoundListener& l) {
  const bool v6 = l.address.find(':') != std::string::npos;
  return (v6 ? "[" + l.address + "]" : l.address) + ":" + std::to_string(l.port);
}

// A startup failure goes to the log and, when the log is not on the terminal, to stderr too.
void fail(const config::Log& log, const std::string& message) {
  spdlog::critical("{}", message);
  if (log.to == config::LogTarget::File || log.to == config::LogTarget::Syslog) {
    std::cerr << "tern: " << message << '\n';
  }
}

int run_broker(const app::CliOptions& cli) {
  const std::optional<config::Config> loaded = load_config(cli, cli.config_path, std::cerr);
  if (!loaded) return 1;
  const config::Config& cfg = *loaded;  // immutable from here on
  const std::string source = cli.config_path.empty() ? "<built-in defaults>" : cli.config_path;
  const std::optional<std::vector<bridge::BridgeOptions>> bridge_opts =
      load_bridges(cfg, source, std::cerr);
  if (!bridge_opts) return 1;

  std::string error;
  if (!app::setup_logging(cfg.log, error)) {
    std::cerr << "tern: " << error << '\n';
    return 1;
  }
  spdlog::info("tern {} starting", TERN_VERSION);
  spdlog::info("config: {}", cli.config_path.empty() ? "built-in defaults" : cli.config_path);

  net::ServerOptions net_opts = app::to_server_options(cfg, std::thread::hardware_concurrency());
  spdlog::info("io threads: {}", net_opts.io_threads);
  try {
    net::Server server(std::move(net_opts), app::to_broker_options(cfg));
    if (!server.start(error)) {
      fail(cfg.log, "cannot start: " + error);
      return 1;
    }
    // One line with the real ports (port 0 binds any free one): what scripts wait for.
    std::string bound;
    for (const auto& l : server.listeners()) {
      bound += (bound.empty() ? "" : ", ") + l.name + "=" + endpoint(l);
    }
    spdlog::info("ready: {}", bound);
    // Bridges after the listeners are up: each opens its internal sessions at once, so
    // matching messages queue (durably, with storage on) even while its uplink is down.
    // REQUIRES (Bridge): the server outlives them; they are stopped before it goes.
    // Sessions of bridges or priority classes no longer configured would queue forever.
    std::vector<std::string> keep;
    for (const bridge::BridgeOptions& b : *bridge_opts) {
      for (std::string& id : bridge::internal_client_ids(b)) keep.push_back(std::move(id));
    }
    for (const std::string& id : server.end_internal_sessions_except(keep)) {
      spdlog::warn("bridge session {} is no longer configured: ended, its queue deleted", id);
    }
    std::vector<std::unique_ptr<bridge::Bridge>> bridges;
    for (const bridge::BridgeOptions& b : *bridge_opts) {
      bridges.push_back(std::make_unique<bridge::Bridge>(b, server));
      bridges.back()->start();
    }
    server.run();
    // The server has closed the internal sessions (they stay, queued, in the store):
    // disconnect upstream and join each bridge's thread.
    for (auto& b : bridges) b->stop();
    bridges.clear();
  } catch (const std::exception& e) {
    fail(cfg.log, std::string("fatal: ") + e.what());
    return 1;
  }
  spdlog::info("tern stopped");
  return 0;
}

int check_config(const app::CliOptions& cli) {
  const std::optional<config::Config> c = load_config(cli, cli.check_path, std::cerr);
  if (!c) return 1;
  // The files bridges name (password, CA, certificate, key) are checked too.
  if (!load_bridges(*c, cli.check_path, std::cerr)) return 1;
  std::cout << "configuration OK\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const app::CliResult parsed = app::parse_cli(argc, argv, TERN_VERSION, std::cout, std::cerr);
  if (!parsed.options) return parsed.exit_code;
  if (!parsed.options->check_path.empty()) return check_config(*parsed.options);
  return run_broker(*parsed.options);
}
