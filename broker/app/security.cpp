// Config -> authenticator, ACL and TLS checks; the startup warnings; the reload plan.

#include "broker/app/security.hpp"

#include <filesystem>
#include <string_view>

#include "broker/app/files.hpp"
#include "broker/app/options_map.hpp"
#include "broker/auth/password_file.hpp"
#include "broker/config/quote.hpp"

namespace tern::app {
namespace {

auth::Access to_access(config::AclAccess a) {
  switch (a) {
    case config::AclAccess::Read: return auth::Access::Read;
    case config::AclAccess::Write: return auth::Access::Write;
    case config::AclAccess::ReadWrite: return auth::Access::ReadWrite;
    case config::AclAccess::Deny: return auth::Access::Deny;
  }
  return auth::Access::Deny;
}

std::string listener_path(std::size_t i) { return "listeners[" + std::to_string(i) + "]"; }

// A file other local users may read: `what` names it in the warning.
void warn_if_readable(const config::FileRef& f, std::string_view what,
                      std::vector<std::string>& out) {
  if (f.empty()) return;
  std::error_code ec;
  const auto st = std::filesystem::status(f.path, ec);
  if (ec || !std::filesystem::is_regular_file(st)) return;  // reported as an error elsewhere
  using std::filesystem::perms;
  if ((st.permissions() & (perms::group_read | perms::others_read)) != perms::none) {
    out.push_back(std::string(what) + " " + config::detail::quoted(f.path) + " (" +
                  f.yaml_path + ") can be read by other users; chmod 600 it");
  }
}

// `c` with what a reload applies set from `running`, so that comparing the two shows only
// the changes that need a restart.
config::Config without_reloadable(const config::Config& running, config::Config c) {
  c.auth.password_file = running.auth.password_file;
  c.acl = running.acl;
  for (auto& l : c.listeners) {
    for (const auto& r : running.listeners) {
      if (r.name != l.name || !r.tls || !l.tls) continue;
      // Everything tls::ServerOptions carries goes through Server::set_tls; the CN rule
      // lives in the listener's options and stays.
      const bool cn = l.tls->use_cn_as_username;
      l.tls = r.tls;
      l.tls->use_cn_as_username = cn;
    }
  }
  return c;
}

}  // namespace

auth::AclOptions to_acl_options(const config::Acl& acl) {
  auth::AclOptions o;
  o.default_allow = acl.default_allow;
  o.rules.reserve(acl.rules.size());
  for (const auto& r : acl.rules) {
    o.rules.push_back(auth::AclRule{r.user, r.client, r.topic, to_access(r.access)});
  }
  return o;
}

void check_listener_files(const config::Config& c, bool load_contexts,
                          std::vector<config::Error>& errors) {
  for (std::size_t i = 0; i < c.listeners.size(); ++i) {
    const config::Listener& l = c.listeners[i];
#if !TERN_WITH_WEBSOCKET
    if (l.protocol == config::ListenerProtocol::WebSocket) {
      errors.push_back(config::Error{listener_path(i) + ".protocol", 0, 0,
                                     "built without WebSocket (TERN_WITH_WEBSOCKET=OFF)"});
    }
#endif
    if (!l.tls) continue;
    const config::ListenerTls& t = *l.tls;
    const std::size_t before = errors.size();
    check_pem(t.cert, kMaxCaFile, errors);  // a certificate and its chain
    check_pem(t.key, kMaxSecretFile, errors);
    check_pem(t.ca, kMaxCaFile, errors);
    if (t.min_version == config::TlsVersion::V1_3 && !tls::supports_tls13()) {
      errors.push_back(config::Error{
          listener_path(i) + ".tls.min_version", 0, 0,
          std::string("TLS 1.3 is not available with this build's TLS backend (") +
              TERN_TLS_BACKEND + "); use \"1.2\" or build with -DTERN_TLS=openssl"});
    }
    if (!load_contexts || errors.size() != before) continue;
    std::string error;
    if (!tls::ServerContext::create(to_tls_options(t), error)) {
      errors.push_back(config::Error{listener_path(i) + ".tls", t.cert.line, 0, error});
    }
  }
}

std::optional<Security> build_security(const config::Config& c,
                                       std::vector<config::Error>& errors) {
  Security s;
  std::shared_ptr<const auth::PasswordFile> passwords;
  const config::FileRef& f = c.auth.password_file;
  if (!f.empty()) {
    std::error_code ec;
    const auto st = std::filesystem::status(f.path, ec);
    if (ec) {
      errors.push_back(file_error(
          f, "cannot read " + config::detail::quoted(f.path) + ": " + ec.message() +
                 " (create it with: tern passwd " + f.path + " add <user>)"));
      return std::nullopt;
    }
    if (!std::filesystem::is_regular_file(st)) {
      errors.push_back(file_error(f, config::detail::quoted(f.path) + " is not a regular file"));
      return std::nullopt;
    }
    std::string error;
    auto loaded = auth::PasswordFile::load(f.path, error);
    if (!loaded) {
      errors.push_back(file_error(f, error));
      return std::nullopt;
    }
    s.users = loaded->size();
    passwords = std::make_shared<const auth::PasswordFile>(std::move(*loaded));
  }
  s.authenticator = std::make_shared<const auth::Authenticator>(std::move(passwords));
  if (c.acl) s.acl = std::make_shared<const auth::Acl>(to_acl_options(*c.acl));
  return s;
}

std::vector<std::string> security_warnings(const config::Config& c) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < c.listeners.size(); ++i) {
    const config::Listener& l = c.listeners[i];
    if (l.bind.is_loopback()) continue;
    const std::string where = "listener \"" + l.name + "\" (" + l.bind.to_string() + ")";
    if (l.allow_anonymous.value_or(c.auth.allow_anonymous)) {
      out.push_back(where +
                    " accepts anonymous clients from the network: set auth.allow_anonymous: "
                    "false (or " +
                    listener_path(i) +
                    ".allow_anonymous) and add users with `tern passwd` (README \"Securing "
                    "Tern\")");
    }
    if (!l.tls && !c.auth.password_file.empty()) {
      out.push_back(where + " has no TLS: passwords cross the network in clear text");
    }
  }
  warn_if_readable(c.auth.password_file, "password file", out);
  for (const auto& l : c.listeners) {
    if (l.tls) warn_if_readable(l.tls->key, "TLS private key", out);
  }
  return out;
}

std::optional<ReloadPlan> plan_reload(const config::Config& running, const config::Config& next,
                                      std::vector<config::Error>& errors) {
  const std::size_t before = errors.size();
  check_listener_files(next, /*load_contexts=*/true, errors);
  std::optional<Security> security = build_security(next, errors);
  if (!security || errors.size() != before) return std::nullopt;

  ReloadPlan plan;
  plan.security = std::move(*security);
  for (const auto& r : running.listeners) {
    if (!r.tls) continue;
    for (const auto& l : next.listeners) {
      if (l.name == r.name && l.tls) plan.tls.emplace_back(l.name, to_tls_options(*l.tls));
    }
  }
  const config::Config n = without_reloadable(running, next);
  const auto differ = [&](bool changed, const char* key) {
    if (changed) plan.needs_restart.emplace_back(key);
  };
  differ(n.listeners != running.listeners, "listeners");
  differ(n.mqtt != running.mqtt, "mqtt");
  differ(n.sessions != running.sessions, "sessions");
  differ(n.limits != running.limits, "limits");
  differ(n.auth != running.auth, "auth.allow_anonymous");
  differ(n.storage != running.storage, "storage");
  differ(n.bridges != running.bridges, "bridges");
  differ(n.log != running.log, "log");
  differ(n.io_threads != running.io_threads, "io_threads");
  return plan;
}

}  // namespace tern::app
