// The `tern` command line (CLI11): what was asked, before any configuration is read.
// Owns nothing beyond the parsed values. Thread safety: reentrant.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "broker/config/config.hpp"

namespace tern::app {

struct CliOptions {
  std::string config_path;                    // --config; empty = built-in defaults
  std::string check_path;                     // --check-config: validate this file and exit
  std::optional<std::uint16_t> port;          // -p/--port
  std::optional<std::string> bind;            // --bind (an address, no port)
  std::optional<config::LogLevel> log_level;  // --log-level
  std::optional<std::string> data_dir;        // --data-dir: storage.path, persistence on
};

struct CliResult {
  std::optional<CliOptions> options;  // absent: exit now with exit_code
  int exit_code = 0;                  // 0 after --help/--version, 2 on a usage error
};

// Parses argv. --help and --version print to `out`; usage errors print to `err`.
CliResult parse_cli(int argc, const char* const* argv, std::string_view version, std::ostream& out,
                    std::ostream& err);

}  // namespace tern::app
