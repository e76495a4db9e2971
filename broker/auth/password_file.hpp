// A password file: one "user:$7$<iterations>$<salt b64>$<hash b64>" line per user, the
// PBKDF2-HMAC-SHA512 format of mosquitto_passwd, so existing Mosquitto password files work
// unchanged. Blank lines and lines starting with '#' are ignored. Written by `tern passwd`.
// A loaded PasswordFile is immutable (edits build a new value) and owns plain strings.
// Thread safety: const members may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tern::auth {

inline constexpr std::uint32_t kDefaultIterations = 10000;
inline constexpr std::uint32_t kMinIterations = 1;  // mosquitto_passwd writes 101
// Upper bound accepted from a file or `tern passwd`: a typo'd iteration count must not turn
// each CONNECT into minutes of PBKDF2.
inline constexpr std::uint32_t kMaxIterations = 10'000'000;
inline constexpr std::size_t kSaltBytes = 12;       // as mosquitto_passwd
inline constexpr std::size_t kHashBytes = 64;       // SHA-512 output

// One user's stored hash.
struct PasswordHash {
  std::uint32_t iterations = kDefaultIterations;
  std::string salt;  // raw bytes
  std::string hash;  // raw bytes, kHashBytes
  bool operator==(const PasswordHash&) const = default;
};

// "$7$10000$<salt>$<hash>" for `password` with a fresh random salt; nullopt if the
// crypto library fails. REQUIRES: iterations >= kMinIterations.
std::optional<PasswordHash> hash_password(std::string_view password, std::uint32_t iterations);
std::string format_hash(const PasswordHash& h);
// nullopt (and `error`) when `text` is not a "$7$..." hash. `error` never quotes `text`
// (a plain-text password must not reach a log).
std::optional<PasswordHash> parse_hash(std::string_view text, std::string& error);
// The user name rules of PasswordFile::set (false with `error` when broken).
bool valid_user_name(std::string_view user, std::string& error);
// Recomputes and compares in constant time.
bool verify_hash(const PasswordHash& h, std::string_view password);

class PasswordFile {
 public:
  // Reads and parses `path`. Errors name the file and line ("passwd:3: ...").
  static std::optional<PasswordFile> load(const std::string& path, std::string& error);
  static std::optional<PasswordFile> parse(std::string_view text, std::string_view name,
                                           std::string& error);

  // True iff `user` exists and `password` matches. An unknown user costs a hash too, so
  // timing does not tell which user names exist.
  bool verify(std::string_view user, std::string_view password) const;
  bool contains(std::string_view user) const;
  std::size_t size() const { return users_.size(); }
  std::vector<std::string> users() const;  // sorted

  // Editing (for `tern passwd`). User names are 1..65535 bytes of UTF-8 without ':' or
  // control characters; set() returns false with `error` otherwise.
  bool set(std::string_view user, std::string_view password, std::uint32_t iterations,
           std::string& error);
  bool remove(std::string_view user);  // false when absent
  std::string to_string() const;       // the file's contents, users in sorted order
  // Writes atomically (a temporary file in the same directory, fsync, rename), mode 0600.
  bool save(const std::string& path, std::string& error) const;

 private:
  std::map<std::string, PasswordHash, std::less<>> users_;
};

}  // namespace tern::auth
