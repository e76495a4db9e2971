// Decides whether a CONNECT may proceed: anonymous access per listener, user names and
// passwords against a PasswordFile, and client certificates whose Common Name stands in
// for the user name. Verified credentials are cached (keyed by an HMAC of the password
// under a per-process random key), so a reconnecting client does not pay PBKDF2 again.
// Thread safety: check() may be called from several threads at once (the cache is locked).
// An Authenticator is immutable apart from its cache; reloading builds a new one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "broker/auth/password_file.hpp"

namespace tern::auth {

enum class Outcome : std::uint8_t {
  Accepted,
  BadCredentials,  // v5 0x86 Bad User Name or Password; 3.1.1 0x04
  NotAuthorized,   // v5 0x87 Not authorized; 3.1.1 0x05
};

struct Request {
  std::optional<std::string_view> username;  // as sent in CONNECT
  std::optional<std::string_view> password;
  std::optional<std::string_view> cert_cn;   // CN of a verified client certificate
  bool allow_anonymous = false;              // the listener's setting
  bool use_cn_as_username = false;           // the listener's setting
};

struct Decision {
  Outcome outcome = Outcome::NotAuthorized;
  std::optional<std::string> username;  // the identity for ACLs (the CN when used)
  std::string reason;                   // for the log, e.g. "unknown user 'bob'"
};

class Authenticator {
 public:
  // `passwords` null = no password file: a client giving a user name is then treated
  // like an anonymous one (allowed only where anonymous access is).
  explicit Authenticator(std::shared_ptr<const PasswordFile> passwords,
                         std::size_t cache_entries = 4096);
  // Rules, in order: a listener with use_cn_as_username requires a client certificate
  // (else NotAuthorized) and takes its CN as the user name, ignoring the password; a
  // CONNECT without a user name is Accepted iff allow_anonymous; a user name with a
  // password file must match it (else BadCredentials); a user name without a password
  // file counts as anonymous (Decision.username stays empty: an unverified name must not
  // select ACL rules). Decision.reason never contains the password.
  Decision check(const Request& r) const;

 private:
  std::shared_ptr<const PasswordFile> passwords_;
  std::string cache_key_;  // random, per process
  std::size_t cache_capacity_;
  mutable std::mutex mu_;
  // user -> HMAC(cache_key_, password) of the last password verified for that user; LRU.
  mutable std::list<std::string> lru_;
  mutable std::unordered_map<std::string, std::pair<std::string, std::list<std::string>::iterator>>
      cache_;
};

}  // namespace tern::auth
