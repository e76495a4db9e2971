// The security state the configuration asks for: the CONNECT authenticator (with the
// password file read), the ACL, the checks of the listeners' TLS files, the warnings worth
// logging, and what a SIGHUP reload may apply. Built at startup and again on each reload.
// Owns nothing shared; the results are immutable. Thread safety: reentrant.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "broker/auth/acl.hpp"
#include "broker/auth/authenticator.hpp"
#include "broker/config/config.hpp"
#include "broker/tls/tls.hpp"

namespace tern::app {

auth::AclOptions to_acl_options(const config::Acl& acl);

// The TLS files of every listener: cert, key and ca must be readable PEM files; min_version
// 1.3 needs a backend with TLS 1.3 (tls::supports_tls13). Errors carry the YAML path of the
// key. With `load_contexts` each listener's TLS context is also built (what net does at
// start) so a key that does not match its certificate is reported at listeners[i].tls.
void check_listener_files(const config::Config& c, bool load_contexts,
                          std::vector<config::Error>& errors);

struct Security {
  // Always set: it applies the listeners' allow_anonymous and use_cn_as_username, and the
  // password file when one is configured.
  std::shared_ptr<const auth::Authenticator> authenticator;
  std::shared_ptr<const auth::Acl> acl;  // null: no `acl:` section (everything allowed)
  std::size_t users = 0;                 // in the password file
};

// Reads auth.password_file (errors at "auth.password_file") and builds the ACL. nullopt
// when an error was appended. REQUIRES: `c` loaded or validated without errors.
std::optional<Security> build_security(const config::Config& c,
                                       std::vector<config::Error>& errors);

// What an operator should hear at startup: listeners reachable from the network that
// accept anonymous clients, or carry passwords without TLS, and secrets (password file,
// TLS keys) that other users may read.
std::vector<std::string> security_warnings(const config::Config& c);

// What a SIGHUP reload applies, from the running configuration and the re-read one: the
// new security state, and new TLS settings for each listener that has TLS in both. Other
// differences are not applied; `needs_restart` names the keys that changed.
struct ReloadPlan {
  Security security;
  std::vector<std::pair<std::string, tls::ServerOptions>> tls;  // listener name -> settings
  std::vector<std::string> needs_restart;
};
// nullopt with `errors` when the new state cannot be built (a missing password file, a TLS
// file that does not load): the running state must then stay as it is.
std::optional<ReloadPlan> plan_reload(const config::Config& running, const config::Config& next,
                                      std::vector<config::Error>& errors);

}  // namespace tern::app
