// The command line, on CLI11. Exit codes: 0 for --help/--version, 2 for usage errors (the
// broker's own failures, such as an invalid config, exit with 1 from main).

#include "broker/app/cli.hpp"

#include <CLI/CLI.hpp>
#include <vector>

#include "broker/config/config.hpp"

namespace tern::app {

CliResult parse_cli(int argc, const char* const* argv, std::string_view version, std::ostream& out,
                    std::ostream& err) {
  CLI::App app{"Tern: an MQTT 3.1.1 / 5.0 broker for IoT edge gateways", "tern"};
  app.footer("Password files: tern passwd --help");
  app.set_version_flag("--version", "tern " + std::string(version), "Print the version and exit");

  CliOptions o;
  std::vector<std::string> levels;
  for (auto l : {config::LogLevel::Trace, config::LogLevel::Debug, config::LogLevel::Info,
                 config::LogLevel::Warn, config::LogLevel::Error, config::LogLevel::Critical,
                 config::LogLevel::Off}) {
    levels.emplace_back(config::to_string(l));
  }
  int port = -1;
  std::string bind;
  std::string level;
  std::string data_dir;

  auto* cfg = app.add_option("-c,--config", o.config_path,
                             "YAML configuration file (default: built-in defaults, as in "
                             "configs/tern.yaml)");
  auto* check = app.add_option("--check-config", o.check_path,
                               "Validate FILE, print \"configuration OK\" or every error, and exit "
                               "(0 = valid, 1 = invalid)");
  check->type_name("FILE");
  cfg->type_name("FILE");
  cfg->excludes(check);
  auto* port_opt = app.add_option("-p,--port", port,
                                  "Listen on this TCP port only, replacing the configured "
                                  "listeners (default 1883 when --bind is given)")
                       ->check(CLI::Range(0, 65535));
  auto* bind_opt = app.add_option("--bind", bind,
                                  "Listen on this address only, replacing the configured "
                                  "listeners (default 0.0.0.0 when --port is given)")
                       ->type_name("ADDR");
  auto* level_opt =
      app.add_option("--log-level", level, "Override log.level")->check(CLI::IsMember(levels));
  auto* data_opt = app.add_option("--data-dir", data_dir,
                                  "Keep sessions, queues and retained messages in this directory "
                                  "(created if missing), overriding storage.path: turns "
                                  "persistence on")
                       ->type_name("DIR");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e, out, err);
    return CliResult{std::nullopt, code == 0 ? 0 : 2};
  }
  if (port_opt->count() > 0) o.port = static_cast<std::uint16_t>(port);
  if (bind_opt->count() > 0) o.bind = bind;
  if (level_opt->count() > 0) o.log_level = config::parse_log_level(level);
  if (data_opt->count() > 0) o.data_dir = data_dir;
  return CliResult{std::move(o), 0};
}

}  // namespace tern::app
