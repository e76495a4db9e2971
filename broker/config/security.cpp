// The security keys: a listener's transport (protocol, path, tls, allow_anonymous,
// protocols), the `auth:` and `acl:` sections, and the rules spanning them. Files are only
// named here (FileRef); app checks and reads them, so example configs load anywhere.

#include <string>
#include <string_view>

#include "broker/codec/codec.hpp"
#include "broker/config/quote.hpp"
#include "broker/config/sections.hpp"

namespace tern::config::detail {
namespace {

// Rules are checked per PUBLISH and per delivery; thousands would be a generated mistake.
constexpr std::size_t kMaxAclRules = 10000;
// MQTT strings carry a two-byte length [MQTT-1.5.3]: user names and client ids too.
constexpr std::size_t kMaxMqttString = 65535;
constexpr std::size_t kMaxWsPath = 1024;

// An HTTP request path as a WebSocket client sends it: '/' then visible ASCII without
// spaces, '?' or '#' (the listener compares the path alone, RFC 6455 section 3).
bool valid_ws_path(std::string_view s) {
  if (s.empty() || s.front() != '/' || s.size() > kMaxWsPath) return false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '?' || c == '#') return false;
  }
  return true;
}

void read_tls(MapReader& m, ListenerTls& t) {
  m.file("cert", t.cert);
  if (t.cert.empty() && !m.get("cert")) {
    m.diag().error(m.child_path("cert"), m.line(),
                   "required key is missing (the server certificate, PEM)");
  }
  m.file("key", t.key);
  if (t.key.empty() && !m.get("key")) {
    m.diag().error(m.child_path("key"), m.line(),
                   "required key is missing (the server's private key, PEM)");
  }
  m.file("ca", t.ca);
  m.boolean("require_client_cert", t.require_client_cert);
  m.enumeration<TlsVersion>("min_version", t.min_version, kTlsVersions);
  if (const YAML::Node* n = m.get("ciphers")) {
    if (auto v = read_string(*n, m.child_path("ciphers"), m.diag())) {
      // Passed to the TLS library as a C string; a control character is never a cipher.
      bool ok = v->size() <= 4096;
      for (char c : *v) ok = ok && static_cast<unsigned char>(c) >= 0x20;
      if (ok) {
        t.ciphers = *v;
      } else {
        m.error_at("ciphers", *n,
                   "expected a cipher list of at most 4096 printable characters, got " +
                       describe(*n));
      }
    }
  }
  m.boolean("use_cn_as_username", t.use_cn_as_username);
}

void read_protocols(MapReader& m, Listener& l) {
  const YAML::Node* n = m.get("protocols");
  if (!n) return;
  const std::string kExpect = "expected a non-empty list of \"3.1.1\" and/or \"5.0\", got ";
  if (!n->IsSequence() || n->size() == 0 || n->size() > 2) {
    m.error_at("protocols", *n, kExpect + describe(*n));
    return;
  }
  bool v311 = false;
  bool v5 = false;
  bool ok = true;
  const std::string list = m.child_path("protocols");
  std::size_t i = 0;
  for (const auto& item : *n) {
    const std::string path = list + "[" + std::to_string(i++) + "]";
    const std::string s = item.IsScalar() ? item.Scalar() : std::string();
    bool& seen = s == "3.1.1" ? v311 : v5;
    if (s != "3.1.1" && s != "5.0") {
      m.diag().error(path, line_of(item),
                     "expected \"3.1.1\" or \"5.0\", got " + describe(item));
      ok = false;
    } else if (seen) {
      m.diag().error(path, line_of(item), "listed twice: " + describe(item));
      ok = false;
    } else {
      seen = true;
    }
  }
  if (ok) {
    l.accept_v311 = v311;
    l.accept_v5 = v5;
  }
}

// A user name or client id in a rule: compared with what clients send, an MQTT string.
void read_rule_string(MapReader& m, std::string_view key, std::string& out) {
  const YAML::Node* n = m.get(key);
  if (!n) return;
  const auto v = read_string(*n, m.child_path(key), m.diag());
  if (!v) return;
  if (v->size() > kMaxMqttString || !codec::valid_utf8(*v)) {
    m.error_at(key, *n,
               "expected at most 65535 bytes of valid UTF-8 without U+0000 [MQTT-1.5.4-1, "
               "MQTT-1.5.4-2], got " +
                   describe(*n));
    return;
  }
  out = *v;
}

// An ACL topic pattern: a topic filter [MQTT-4.7.1-1..3] in which "%u" and "%c" stand for
// whole levels. Returns the error, empty when valid.
std::string acl_pattern_error(std::string_view s) {
  if (s.starts_with("$share/")) {
    return "ACL patterns apply to the filter inside a shared subscription; write it without "
           "the \"$share/<group>/\" prefix";
  }
  std::string probe;  // s with every %u/%c level replaced by a plain level
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = std::min(s.find('/', start), s.size());
    const std::string_view level = s.substr(start, slash - start);
    if (level == "%u" || level == "%c") {
      probe += 'x';
    } else if (level.find('%') != std::string_view::npos) {
      return "\"%u\" and \"%c\" must fill a whole level (as in \"devices/%c/#\"), got " +
             quoted(s);
    } else {
      probe += level;
    }
    if (slash == s.size()) break;
    probe += '/';
    start = slash + 1;
  }
  if (!codec::valid_topic_filter(probe)) {
    return "not a valid topic filter ('+' and '#' must fill a whole level, '#' only at the "
           "end) [MQTT-4.7.1-1..3], got " +
           quoted(s);
  }
  return {};
}

void read_rule(MapReader& m, AclRule& r) {
  read_rule_string(m, "user", r.user);
  read_rule_string(m, "client", r.client);
  if (const YAML::Node* n = m.get("topic")) {
    if (auto v = read_string(*n, m.child_path("topic"), m.diag())) {
      if (v->size() > kMaxMqttString) {
        m.error_at("topic", *n, "longer than 65535 bytes (an MQTT topic filter)");
      } else if (std::string err = acl_pattern_error(*v); !err.empty()) {
        m.error_at("topic", *n, err);
      } else if (r.user == "anonymous" && (*v == "%u" || v->find("%u/") != std::string::npos ||
                                           v->ends_with("/%u"))) {
        m.error_at("topic", *n,
                   "a rule for anonymous clients cannot use %u: they have no user name, so it "
                   "would never match");
      } else {
        r.topic = *v;
      }
    }
  } else {
    m.diag().error(m.child_path("topic"), m.line(), "required key is missing");
  }
  if (!m.get("access")) {
    m.diag().error(m.child_path("access"), m.line(),
                   "required key is missing (" + enum_choices<AclAccess>(kAclAccesses) + ")");
  }
  m.enumeration<AclAccess>("access", r.access, kAclAccesses);
}

}  // namespace

void read_listener_security(MapReader& m, Listener& l) {
  m.enumeration<ListenerProtocol>("protocol", l.protocol, kListenerProtocols);
  if (const YAML::Node* n = m.get("path")) {
    if (auto v = read_string(*n, m.child_path("path"), m.diag())) {
      if (valid_ws_path(*v)) {
        l.path = *v;
      } else {
        m.error_at("path", *n,
                   "expected an HTTP path starting with '/' (printable ASCII without spaces, "
                   "'?' or '#', at most 1024 bytes), e.g. \"/mqtt\", got " +
                       describe(*n));
      }
    }
    // Read above so its own errors show too; check_security reports it on a non-WebSocket
    // listener (protocol may come after path in the file).
  }
  if (const YAML::Node* n = m.get("tls")) {
    MapReader t(*n, m.child_path("tls"), m.diag());
    if (t.is_map()) {
      if (n->IsNull()) {
        m.error_at("tls", *n, "expected the TLS settings (at least cert and key), got nothing");
      } else {
        ListenerTls tls;
        read_tls(t, tls);
        t.finish();
        l.tls = std::move(tls);
      }
    }
  }
  if (m.get("allow_anonymous")) {
    bool v = false;
    const std::size_t before = m.diag().errors().size();
    m.boolean("allow_anonymous", v);
    if (m.diag().errors().size() == before) l.allow_anonymous = v;
  }
  read_protocols(m, l);
}

void read_auth(MapReader& m, Config& c) {
  m.boolean("allow_anonymous", c.auth.allow_anonymous);
  m.file("password_file", c.auth.password_file);
}

void read_acl(MapReader& top, Config& c) {
  const YAML::Node* n = top.get("acl");
  if (!n) return;
  MapReader m(*n, "acl", top.diag());
  if (!m.is_map()) return;
  Acl acl;
  m.enumeration<bool>("default", acl.default_allow, kAclDefaults);
  if (const YAML::Node* rules = m.get("rules"); rules && !rules->IsNull()) {
    if (!rules->IsSequence()) {
      m.error_at("rules", *rules,
                 "expected a list of rules such as {user: \"*\", topic: \"devices/%c/#\", "
                 "access: readwrite}, got " +
                     describe(*rules));
    } else if (rules->size() > kMaxAclRules) {
      m.error_at("rules", *rules,
                 "at most " + std::to_string(kMaxAclRules) + " rules are allowed, got " +
                     std::to_string(rules->size()));
    } else {
      std::size_t i = 0;
      for (const auto& item : *rules) {
        const std::string path = "acl.rules[" + std::to_string(i++) + "]";
        if (!item.IsMap()) {
          m.diag().error(path, line_of(item),
                         "expected a rule mapping such as {user: dashboard, topic: \"#\", "
                         "access: read}, got " +
                             describe(item));
          continue;
        }
        MapReader r(item, path, m.diag());
        AclRule rule;
        read_rule(r, rule);
        r.finish();
        acl.rules.push_back(std::move(rule));
      }
    }
  }
  m.finish();
  c.acl = std::move(acl);
}

void check_security(const Config& c, Diagnostics& d) {
  const bool have_passwords = !c.auth.password_file.empty();
  for (std::size_t i = 0; i < c.listeners.size(); ++i) {
    const Listener& l = c.listeners[i];
    const std::string base = "listeners[" + std::to_string(i) + "]";
    if (const std::string p = base + ".path";
        l.protocol != ListenerProtocol::WebSocket && (l.path != Listener{}.path || d.line_of(p))) {
      d.error(p, d.line_of(p), "path applies to WebSocket listeners only (protocol: websocket)");
    }
    if (!l.accept_v311 && !l.accept_v5) {
      const std::string p = base + ".protocols";
      d.error(p, d.line_of(p), "at least one MQTT version (\"3.1.1\", \"5.0\") is required");
    }
    if (l.tls) {
      const ListenerTls& t = *l.tls;
      const std::string tp = base + ".tls";
      if (t.cert.empty()) d.error(tp + ".cert", d.line_of(tp), "a TLS listener needs cert");
      if (t.key.empty()) d.error(tp + ".key", d.line_of(tp), "a TLS listener needs key");
      if (t.ca.empty() && t.require_client_cert) {
        const std::string p = tp + ".require_client_cert";
        d.error(p, d.line_of(p),
                "client certificates need tls.ca (the CA that signs them) to be verified");
      }
      if (t.ca.empty() && t.use_cn_as_username) {
        const std::string p = tp + ".use_cn_as_username";
        d.error(p, d.line_of(p),
                "the CN is only trusted from a verified client certificate: set tls.ca");
      }
    }
    const bool anonymous = l.allow_anonymous.value_or(c.auth.allow_anonymous);
    const bool cn_users = l.tls && l.tls->use_cn_as_username;
    if (!anonymous && !have_passwords && !cn_users) {
      // Without a password file a user name counts as anonymous (auth::Authenticator), so
      // nobody could ever connect here.
      const std::string p =
          l.allow_anonymous ? base + ".allow_anonymous" : std::string("auth.allow_anonymous");
      d.error(p, d.line_of(p),
              "listener \"" + l.name +
                  "\" refuses anonymous clients, but there is no auth.password_file and no "
                  "tls.use_cn_as_username: no client could connect to it");
    }
  }
}

}  // namespace tern::config::detail
