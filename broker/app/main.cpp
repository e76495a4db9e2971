// tern: the broker executable. Wiring only: command line -> configuration -> logging ->
// security (password file, ACL, TLS files) -> net::Server (which owns core::Broker) ->
// bridges -> run until SIGINT/SIGTERM; SIGHUP reopens a log file and reloads passwords,
// ACLs and certificates.
// Under systemd (Type=notify) it reports READY=1 once listening, WATCHDOG=1 while the
// broker makes progress, and STOPPING=1 on the way out (sd_notify.hpp).
// `tern passwd ...` edits a password file instead (auth::run_passwd).
// Exit codes: 0 clean stop or valid --check-config; 1 invalid configuration, a listener that
// cannot bind, or a startup failure; 2 command line usage error.

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#if TERN_WITH_BRIDGE
#include "bridge/bridge.hpp"
#endif
#include "broker/app/cli.hpp"
#include "broker/app/files.hpp"
#include "broker/app/logging.hpp"
#include "broker/app/options_map.hpp"
#include "broker/app/sd_notify.hpp"
#include "broker/app/security.hpp"
#include "broker/auth/passwd_command.hpp"
#include "broker/config/config.hpp"
#include "broker/log/log.hpp"
#include "broker/net/server.hpp"
#include "broker/ops/monitor.hpp"
#include "broker/ops/http_sources.hpp"
#include "broker/ops/sys_topics.hpp"
#if TERN_WITH_BRIDGE
#include "broker/ops/bridge_figures.hpp"
#endif

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

// The listeners' TLS files and the security state (password file, ACL); every problem on
// `err`. `load_contexts`: also build each TLS context, as --check-config does (at startup
// net builds them and names the listener itself).
std::optional<app::Security> load_security(const config::Config& c, const std::string& source,
                                           bool load_contexts, std::ostream& err) {
  std::vector<config::Error> errors;
  app::check_listener_files(c, load_contexts, errors);
  std::optional<app::Security> s = app::build_security(c, errors);
  if (!errors.empty()) {
    for (const auto& e : errors) err << config::format_error(e, source) << '\n';
    return std::nullopt;
  }
  return s;
}

// http.token_file's bearer token ("" without one), or nullopt with every problem on `err`.
// Off loopback a token is required (the config loader says so too; this holds for configs
// changed on the command line as well).
std::optional<std::string> load_http_token(const config::Config& c, const std::string& source,
                                           std::ostream& err) {
  const config::Http& h = c.http;
  const bool loopback = h.bind.ipv6 ? h.bind.host == "::1" : h.bind.host.rfind("127.", 0) == 0;
  if (h.token_file.empty()) {
    if (loopback) return std::string();
    err << config::format_error(
               {h.token_file.yaml_path.empty() ? "http.token_file" : h.token_file.yaml_path, 0,
                0, "required when http.bind (" + h.bind.to_string() + ") is not loopback"},
               source)
        << '\n';
    return std::nullopt;
  }
  std::vector<config::Error> errors;
  std::optional<std::string> token = app::read_secret(h.token_file, errors);
  for (const auto& e : errors) err << config::format_error(e, source) << '\n';
  return token;
}

void log_security(const config::Config& c, const app::Security& s) {
  log::auth().info("auth: {} ({} users), acl: {}",
                   c.auth.password_file.empty() ? "no password file" : c.auth.password_file.path,
                   s.users,
                   c.acl ? std::to_string(c.acl->rules.size()) + " rules, default " +
                               (c.acl->default_allow ? "allow" : "deny")
                         : std::string("none (everything allowed)"));
  for (const std::string& w : app::security_warnings(c)) log::auth().warn("{}", w);
}

// SIGHUP, on loop 0: re-read the file, then swap in the new password file, ACL and TLS
// settings. Any error keeps the running state; other changes wait for a restart.
void reload(const app::CliOptions& cli, const config::Config& running, net::Server& server) {
  // First the log file (logrotate moved it away, then sent SIGHUP), so that this reload's
  // own lines land in the new file.
  if (std::string log_error; !app::reopen_log_file(log_error)) log::app().error("{}", log_error);
  const std::string source = cli.config_path.empty() ? "<built-in defaults>" : cli.config_path;
  log::app().info("SIGHUP: reloading passwords, ACLs and certificates from {}", source);
  std::ostringstream err;
  const std::optional<config::Config> next = load_config(cli, cli.config_path, err);
  std::vector<config::Error> errors;
  std::optional<app::ReloadPlan> plan;
  if (next) plan = app::plan_reload(running, *next, errors);
  for (const auto& e : errors) err << config::format_error(e, source) << '\n';
  if (!plan) {
    std::istringstream lines(err.str());
    for (std::string line; std::getline(lines, line);) log::app().error("reload: {}", line);
    log::app().error("reload failed: the running passwords, ACLs and certificates stay in force");
    return;
  }
  // Every TLS context was built once by plan_reload, so a failure here is a file changed
  // in between; the listener then keeps its old context.
  for (const auto& [name, opts] : plan->tls) {
    std::string error;
    if (!server.set_tls(name, opts, error)) {
      log::app().error("reload: listener {}: {}; it keeps its previous certificates", name, error);
    }
  }
  server.set_security(plan->security.authenticator, plan->security.acl);
  for (const std::string& key : plan->needs_restart) {
    log::app().warn("reload: changes to {} need a restart; not applied", key);
  }
  log_security(*next, plan->security);
  log::app().info("reload done: {} TLS listener(s) reloaded", plan->tls.size());
}

std::string endpoint(const net::BoundListener& l) {
  const bool v6 = l.address.find(':') != std::string::npos;
  return (v6 ? "[" + l.address + "]" : l.address) + ":" + std::to_string(l.port);
}

// A startup failure goes to the log and, when the log is not on the terminal, to stderr too.
void fail(const config::Log& log, const std::string& message) {
  log::app().critical("{}", message);
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
  const std::optional<app::Security> security =
      load_security(cfg, source, /*load_contexts=*/false, std::cerr);
  if (!security) return 1;
  std::optional<std::string> http_token;
  if (cfg.http.enabled) {
    http_token = load_http_token(cfg, source, std::cerr);
    if (!http_token) return 1;
  }

  std::string error;
  if (!app::setup_logging(cfg.log, error)) {
    std::cerr << "tern: " << error << '\n';
    return 1;
  }
  log::app().info("tern {} starting", TERN_VERSION);
  log::app().info("config: {}", cli.config_path.empty() ? "built-in defaults" : cli.config_path);

  net::ServerOptions net_opts = app::to_server_options(cfg, std::thread::hardware_concurrency());
  log::app().info("io threads: {}", net_opts.io_threads);
  log_security(cfg, *security);
  net_opts.authenticator = security->authenticator;
  net_opts.access_policy = security->acl;
  net_opts.record_peer_addresses = cfg.http.enabled;  // GET /api/v1/clients shows them
  ops::HttpServer* running_http = nullptr;  // set while the HTTP endpoint runs
  // Set once the server exists; SIGHUP is only handled while run() runs, after that.
  net::Server* running_server = nullptr;
  net_opts.on_reload = [&cli, &cfg, &running_server, &running_http, source] {
    if (running_server == nullptr) return;
    try {
      reload(cli, cfg, *running_server);
      // The bearer token file is re-read too (rotating the token needs no restart); a
      // file that cannot be read keeps the running token.
      if (running_http != nullptr && !cfg.http.token_file.empty()) {
        std::ostringstream err;
        if (std::optional<std::string> t = load_http_token(cfg, source, err)) {
          running_http->set_token(std::move(*t));
          log::http().info("reload: http token re-read from {}", cfg.http.token_file.path);
        } else {
          log::http().error("reload: {}the running http token stays in force", err.str());
        }
      }
    } catch (const std::exception& e) {
      // A reload must never take the broker down.
      log::app().error("reload failed: {}; the running state stays in force", e.what());
    }
  };
  try {
    net::Server server(std::move(net_opts), app::to_broker_options(cfg));
    running_server = &server;
    if (!server.start(error)) {
      fail(cfg.log, "cannot start: " + error);
      return 1;
    }
    // One line with the real ports (port 0 binds any free one): what scripts wait for.
    std::string bound;
    for (const auto& l : server.listeners()) {
      bound += (bound.empty() ? "" : ", ") + l.name + "=" + endpoint(l);
    }
    log::app().info("ready: {}", bound);
    // Bridges after the listeners are up: each opens its internal sessions at once, so
    // matching messages queue (durably, with storage on) even while its uplink is down.
    // REQUIRES (Bridge): the server outlives them; they are stopped before it goes.
    // Sessions of bridges or priority classes no longer configured would queue forever.
    std::vector<std::string> keep;
#if TERN_WITH_BRIDGE  // without: `bridges:` is a config error (app::apply_cli)
    for (const bridge::BridgeOptions& b : *bridge_opts) {
      for (std::string& id : bridge::internal_client_ids(b)) keep.push_back(std::move(id));
    }
#endif
    for (const std::string& id : server.end_internal_sessions_except(keep)) {
      log::app().warn("bridge session {} is no longer configured: ended, its queue deleted", id);
    }
#if TERN_WITH_BRIDGE
    std::vector<std::unique_ptr<bridge::Bridge>> bridges;
    for (const bridge::BridgeOptions& b : *bridge_opts) {
      bridges.push_back(std::make_unique<bridge::Bridge>(b, server));
      bridges.back()->start();
    }
#endif
    // Operations figures (thread-safe snapshots for $SYS and the HTTP endpoint) and the
    // $SYS publisher on loop 0 (sys_topics.interval, 0 = off).
    ops::Monitor monitor(server, TERN_VERSION);
#if TERN_WITH_BRIDGE
    monitor.set_bridge_source([&bridges] {
      std::vector<ops::BridgeFigures> v;
      for (const auto& b : bridges) v.push_back(ops::bridge_figures(b->status()));
      return v;
    });
#endif
    ops::schedule_sys_topics(server, monitor, cfg.sys_topics.interval);
    // The HTTP endpoint (http:): /metrics, /health, /api/v1/*, on its own thread.
    std::optional<ops::HttpServer> http;
    if (cfg.http.enabled) {
      ops::HttpServerOptions ho;
      ho.bind = cfg.http.bind.to_string();
      ho.token = *http_token;
      http.emplace(std::move(ho), ops::http_sources(server, monitor),
                   ops::health_sources(server, cfg.listeners.size(), cfg.storage.enabled()));
      if (!http->start(error)) {
        fail(cfg.log, "cannot start: " + error);
        return 1;
      }
      running_http = &*http;
      // Scripts (and the integration tests) find the real port here when bind asks for 0.
      log::http().info("http endpoint: http://{} (/metrics, /health, /api/v1/clients, "
                      "/api/v1/bridges){}",
                      endpoint(net::BoundListener{"http", http->address(), http->port()}),
                      http_token->empty() ? "" : "; bearer token required");
    }
    // systemd: ready once every listener is bound (the kernel queues connections from
    // here; run() accepts them) and the bridges' sessions exist.
    const app::Notifier notifier = app::Notifier::from_env();
    notifier.ready("listening: " + bound);
    std::optional<app::Watchdog> watchdog;
    if (const auto timeout = app::watchdog_timeout_from_env(); timeout && notifier.enabled()) {
      // Liveness = loop 0's timer tick still runs (at least once a second) and takes the
      // broker lock: a stuck loop 0 or a deadlock under the lock stops the pings.
      watchdog.emplace(notifier, *timeout / 2, [&server] { return server.loop_heartbeat(); });
      log::app().info("systemd watchdog: WATCHDOG=1 every {} ms",
                      std::chrono::duration_cast<std::chrono::milliseconds>(*timeout / 2).count());
    }
    server.run();
    // No more requests once the broker is stopping (its figures are going away).
    running_http = nullptr;
    if (http) http->stop();
    // run() returns after a signal or stop(), once clients are closed and storage is
    // committed; tell systemd before the bridges' (possibly slow) disconnects.
    if (watchdog) watchdog->stop();
    notifier.stopping();
    // The server has closed the internal sessions (they stay, queued, in the store):
    // disconnect upstream and join each bridge's thread.
#if TERN_WITH_BRIDGE
    monitor.set_bridge_source({});  // before the bridges it reads go
    for (auto& b : bridges) b->stop();
    bridges.clear();
#endif
    running_server = nullptr;
  } catch (const std::exception& e) {
    fail(cfg.log, std::string("fatal: ") + e.what());
    return 1;
  }
  log::app().info("tern stopped");
  return 0;
}

int check_config(const app::CliOptions& cli) {
  const std::optional<config::Config> c = load_config(cli, cli.check_path, std::cerr);
  if (!c) return 1;
  // The files bridges name (password, CA, certificate, key) are checked too.
  const bool bridges_ok = load_bridges(*c, cli.check_path, std::cerr).has_value();
  // The listeners' certificates and keys are loaded as the listeners would load them, and
  // the password file is read: every error at once, with the key that named the file.
  const bool security_ok =
      load_security(*c, cli.check_path, /*load_contexts=*/true, std::cerr).has_value();
  if (!bridges_ok || !security_ok) return 1;
  std::cout << "configuration OK\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // `tern passwd ...` is a tool of its own: its arguments are not the broker's options.
  if (argc >= 2 && std::string_view(argv[1]) == "passwd") {
    const std::vector<std::string> args(argv + 2, argv + argc);
    return auth::run_passwd(args, std::cin, std::cout, std::cerr, isatty(0) == 1);
  }
  const app::CliResult parsed = app::parse_cli(argc, argv, TERN_VERSION, std::cout, std::cerr);
  if (!parsed.options) return parsed.exit_code;
  if (!parsed.options->check_path.empty()) return check_config(*parsed.options);
  return run_broker(*parsed.options);
}
