// CONNECT authentication: anonymous access, password file, certificate CN; with a cache of
// verified credentials so a reconnect storm does not cost one PBKDF2 per client.
#include "broker/auth/authenticator.hpp"

#include <array>
#include <span>

#include "broker/tls/crypto.hpp"

namespace tern::auth {
namespace {

// A user name for a log line: quoted, control characters escaped, long names cut, so a
// client cannot forge or flood log lines through its user name.
std::string quoted(std::string_view s) {
  constexpr std::size_t kMax = 128;
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\') {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMax) out += "...";
  out += '\'';
  return out;
}

}  // namespace

Authenticator::Authenticator(std::shared_ptr<const PasswordFile> passwords,
                             std::size_t cache_entries)
    : passwords_(std::move(passwords)), cache_capacity_(cache_entries) {
  // Without a password file nothing is ever verified, so nothing is cached: drawing no key
  // leaves the crypto library's random generator uninitialised (with OpenSSL that is about
  // 2 MiB of resident code and tables in an idle broker).
  if (!passwords_ || cache_capacity_ == 0) {
    cache_capacity_ = 0;
    return;
  }
  std::array<std::uint8_t, 32> key{};
  if (tls::random_bytes(std::span<std::uint8_t>(key)))
    cache_key_.assign(reinterpret_cast<const char*>(key.data()), key.size());
  else
    cache_capacity_ = 0;  // no secret key, no cache: every check pays PBKDF2
}

Decision Authenticator::check(const Request& r) const {
  Decision d;
  if (r.use_cn_as_username) {
    // The certificate, verified by TLS, is the credential; a password is not consulted.
    if (!r.cert_cn || r.cert_cn->empty()) {
      d.outcome = Outcome::NotAuthorized;
      d.reason = "no client certificate Common Name (listener uses the CN as user name)";
      return d;
    }
    d.outcome = Outcome::Accepted;
    d.username = std::string(*r.cert_cn);
    d.reason = "certificate CN " + quoted(*r.cert_cn);
    return d;
  }
  // Without a password file a user name is unverified: it counts as anonymous and must
  // not carry an identity into ACL rules (anyone could claim any name).
  if (!r.username || !passwords_) {
    if (r.allow_anonymous) {
      d.outcome = Outcome::Accepted;
      d.reason = r.username ? "anonymous (no password file; user name " + quoted(*r.username) +
                                  " not verified)"
                            : "anonymous";
    } else {
      d.outcome = Outcome::NotAuthorized;
      d.reason = r.username ? "anonymous access refused (no password file to verify user " +
                                  quoted(*r.username) + ")"
                            : "anonymous access refused";
    }
    return d;
  }

  const std::string_view user = *r.username;
  if (!r.password) {
    d.outcome = Outcome::BadCredentials;
    d.reason = "no password given for user " + quoted(user);
    return d;
  }
  const std::string_view password = *r.password;

  std::string mac;
  if (cache_capacity_ > 0) {
    const auto m = tls::hmac_sha256(cache_key_, password);
    mac.assign(reinterpret_cast<const char*>(m.data()), m.size());
    std::lock_guard lock(mu_);
    const auto it = cache_.find(std::string(user));
    // Constant time even on a hit: the comparison must not leak how much of a guessed
    // password's MAC matches the cached one.
    if (it != cache_.end() && tls::constant_time_equal(it->second.first, mac)) {
      lru_.splice(lru_.begin(), lru_, it->second.second);
      d.outcome = Outcome::Accepted;
      d.username = std::string(user);
      d.reason = "user " + quoted(user) + " (cached)";
      return d;
    }
  }

  // PBKDF2 runs outside the lock: other clients' checks proceed meanwhile.
  if (!passwords_->verify(user, password)) {
    d.outcome = Outcome::BadCredentials;
    d.reason = passwords_->contains(user) ? "wrong password for user " + quoted(user)
                                          : "unknown user " + quoted(user);
    return d;  // a failure is never cached
  }
  d.outcome = Outcome::Accepted;
  d.username = std::string(user);
  d.reason = "user " + quoted(user);

  if (cache_capacity_ > 0) {
    std::lock_guard lock(mu_);
    std::string key(user);
    const auto it = cache_.find(key);
    if (it != cache_.end()) {
      it->second.first = std::move(mac);
      lru_.splice(lru_.begin(), lru_, it->second.second);
    } else {
      if (cache_.size() >= cache_capacity_) {
        cache_.erase(lru_.back());
        lru_.pop_back();
      }
      lru_.push_front(key);
      cache_.emplace(std::move(key), std::make_pair(std::move(mac), lru_.begin()));
    }
  }
  return d;
}

}  // namespace tern::auth
