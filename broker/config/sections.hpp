// Internal to tern_config: the YAML tree -> Config reader (sections.cpp) and the
// cross-field rules (validate.cpp), both reporting into Diagnostics.
// Thread safety: reentrant.
#pragma once

#include <yaml-cpp/yaml.h>

#include "broker/config/config.hpp"
#include "broker/config/reader.hpp"

namespace tern::config::detail {

// Reads every section present in `root` over the defaults already in `c`.
void read_config(const YAML::Node& root, Diagnostics& d, Config& c);
// Rules that span fields. `d` supplies lines for the paths it read (none when the Config
// came from code) and receives the errors.
void check_config(const Config& c, Diagnostics& d);
// The `bridges:` list (bridges.cpp): its reader, called with the top-level mapping, and
// its cross-field rules, called by check_config.
void read_bridges(MapReader& top, Config& c);
// security.cpp: a listener's protocol, path, tls, allow_anonymous and protocols keys; the
// `auth:` section (a kSections reader); `acl:` (called with the top-level mapping); and
// the rules spanning them, called by check_config.
void read_listener_security(MapReader& m, Listener& l);
void read_auth(MapReader& m, Config& c);
void read_acl(MapReader& top, Config& c);
void check_security(const Config& c, Diagnostics& d);
void check_bridges(const Config& c, Diagnostics& d);
// operations.cpp: the `http:`, `sys_topics:` and `dead_letter:` sections (kSections
// readers), `log.levels:` (called by the `log:` reader), and their cross-field rules (the
// token off loopback, the HTTP port against the listeners), called by check_config.
void read_http(MapReader& m, Config& c);
void read_sys_topics(MapReader& m, Config& c);
void read_dead_letter(MapReader& m, Config& c);
void read_log_levels(MapReader& m, Log& l);
void check_operations(const Config& c, Diagnostics& d);

}  // namespace tern::config::detail
