// Password files in mosquitto_passwd's "$7$" format (PBKDF2-HMAC-SHA512).
#include "broker/auth/password_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <span>
#include <sstream>

#include "broker/codec/codec.hpp"
#include "broker/tls/crypto.hpp"

namespace tern::auth {
namespace {

constexpr std::string_view kPrefix = "$7$";
constexpr std::size_t kMaxSaltBytes = 64;  // mosquitto writes 12; anything sane fits
// A password file is written by an administrator, but reading one must still be bounded.
constexpr std::uintmax_t kMaxFileBytes = 64ull * 1024 * 1024;

std::string errno_text(int e) { return std::strerror(e); }

bool pbkdf2(std::string_view password, std::string_view salt, std::uint32_t iterations,
            std::array<std::uint8_t, kHashBytes>& out) {
  return tls::pbkdf2_sha512(password, salt, iterations, std::span<std::uint8_t>(out));
}

std::string_view as_view(const std::array<std::uint8_t, kHashBytes>& a) {
  return {reinterpret_cast<const char*>(a.data()), a.size()};
}

// The hash an unknown user is checked against, so that a miss costs one PBKDF2 like a hit.
const PasswordHash& dummy_hash() {
  static const PasswordHash h{kDefaultIterations, std::string(kSaltBytes, '\x5a'),
                              std::string(kHashBytes, '\0')};
  return h;
}

std::string_view trim_right(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool all_blank(std::string_view s) {
  for (const char c : s)
    if (c != ' ' && c != '\t' && c != '\r') return false;
  return true;
}

}  // namespace

// 1..65535 bytes of UTF-8 (an MQTT string), no ':' (the field separator) and no control
// characters (they would corrupt the file or a log line).
bool valid_user_name(std::string_view user, std::string& error) {
  if (user.empty()) {
    error = "empty user name";
    return false;
  }
  if (user.size() > 65535) {
    error = "user name longer than 65535 bytes";
    return false;
  }
  if (!codec::valid_utf8(user)) {
    error = "user name is not valid UTF-8";
    return false;
  }
  for (const char ch : user) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == ':') {
      error = "user name contains ':'";
      return false;
    }
    if (c < 0x20 || c == 0x7f) {
      error = "user name contains a control character";
      return false;
    }
  }
  return true;
}

std::optional<PasswordHash> hash_password(std::string_view password, std::uint32_t iterations) {
  if (iterations < kMinIterations) return std::nullopt;
  PasswordHash h;
  h.iterations = iterations;
  std::array<std::uint8_t, kSaltBytes> salt{};
  if (!tls::random_bytes(std::span<std::uint8_t>(salt))) return std::nullopt;
  h.salt.assign(reinterpret_cast<const char*>(salt.data()), salt.size());
  std::array<std::uint8_t, kHashBytes> out{};
  if (!pbkdf2(password, h.salt, iterations, out)) return std::nullopt;
  h.hash.assign(as_view(out));
  return h;
}

std::string format_hash(const PasswordHash& h) {
  std::string s(kPrefix);
  s += std::to_string(h.iterations);
  s += '$';
  s += tls::base64_encode(h.salt);
  s += '$';
  s += tls::base64_encode(h.hash);
  return s;
}

std::optional<PasswordHash> parse_hash(std::string_view text, std::string& error) {
  if (text.starts_with("$6$")) {
    error =
        "unsupported '$6$' hash (salted SHA-512 without iterations, an old mosquitto_passwd "
        "format); set the password again with `tern passwd` or mosquitto_passwd 2.x";
    return std::nullopt;
  }
  if (!text.starts_with(kPrefix)) {
    error = text.starts_with("$")
                ? "unsupported hash format (expected '$7$<iterations>$<salt>$<hash>')"
                : "password is not hashed (plain text?); expected '$7$<iterations>$<salt>$<hash>' "
                  "as written by `tern passwd` or mosquitto_passwd";
    return std::nullopt;
  }
  std::string_view rest = text.substr(kPrefix.size());
  const std::size_t d1 = rest.find('$');
  const std::size_t d2 = d1 == std::string_view::npos ? d1 : rest.find('$', d1 + 1);
  if (d2 == std::string_view::npos || rest.find('$', d2 + 1) != std::string_view::npos) {
    error = "malformed '$7$' hash (expected '$7$<iterations>$<salt>$<hash>')";
    return std::nullopt;
  }
  const std::string_view iter_text = rest.substr(0, d1);
  const std::string_view salt_text = rest.substr(d1 + 1, d2 - d1 - 1);
  const std::string_view hash_text = rest.substr(d2 + 1);

  PasswordHash h;
  std::uint32_t iterations = 0;
  const auto [end, ec] =
      std::from_chars(iter_text.data(), iter_text.data() + iter_text.size(), iterations);
  if (iter_text.empty() || ec != std::errc{} || end != iter_text.data() + iter_text.size() ||
      iterations < kMinIterations || iterations > kMaxIterations) {
    error = "iteration count must be a number from " + std::to_string(kMinIterations) + " to " +
            std::to_string(kMaxIterations);
    return std::nullopt;
  }
  h.iterations = iterations;
  auto salt = tls::base64_decode(salt_text);
  if (!salt || salt->empty() || salt->size() > kMaxSaltBytes) {
    error = "malformed salt (expected base64 of 1.." + std::to_string(kMaxSaltBytes) + " bytes)";
    return std::nullopt;
  }
  auto hash = tls::base64_decode(hash_text);
  if (!hash || hash->size() != kHashBytes) {
    error = "malformed hash (expected base64 of " + std::to_string(kHashBytes) + " bytes)";
    return std::nullopt;
  }
  h.salt = std::move(*salt);
  h.hash = std::move(*hash);
  return h;
}

bool verify_hash(const PasswordHash& h, std::string_view password) {
  if (h.iterations < kMinIterations || h.hash.size() != kHashBytes) return false;
  std::array<std::uint8_t, kHashBytes> out{};
  if (!pbkdf2(password, h.salt, h.iterations, out)) return false;
  return tls::constant_time_equal(as_view(out), h.hash);
}

std::optional<PasswordFile> PasswordFile::load(const std::string& path, std::string& error) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    error = path + ": cannot open: " + errno_text(errno);
    return std::nullopt;
  }
  std::string text;
  char buf[8192];
  while (f.read(buf, sizeof buf) || f.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(f.gcount()));
    if (text.size() > kMaxFileBytes) {
      error = path + ": larger than " + std::to_string(kMaxFileBytes) + " bytes";
      return std::nullopt;
    }
  }
  if (f.bad()) {
    error = path + ": read error";
    return std::nullopt;
  }
  return parse(text, path, error);
}

std::optional<PasswordFile> PasswordFile::parse(std::string_view text, std::string_view name,
                                                std::string& error) {
  PasswordFile pf;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  auto fail = [&](std::string_view msg) {
    error = std::string(name) + ":" + std::to_string(line_no) + ": " + std::string(msg);
    return std::nullopt;
  };
  while (pos < text.size()) {
    const std::size_t nl = text.find('\n', pos);
    const std::size_t end = nl == std::string_view::npos ? text.size() : nl;
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (all_blank(line) || line.front() == '#') continue;
    line = trim_right(line);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos)
      return fail("expected 'user:$7$<iterations>$<salt>$<hash>' (no ':')");
    const std::string_view user = line.substr(0, colon);
    std::string why;
    if (!valid_user_name(user, why)) return fail(why);
    auto h = parse_hash(line.substr(colon + 1), why);
    if (!h) return fail("user '" + std::string(user) + "': " + why);
    if (!pf.users_.emplace(std::string(user), std::move(*h)).second)
      return fail("user '" + std::string(user) + "' appears more than once");
  }
  return pf;
}

bool PasswordFile::verify(std::string_view user, std::string_view password) const {
  const auto it = users_.find(user);
  if (it == users_.end()) {
    // Same work as a known user with the default iterations, so that response time does
    // not reveal which user names exist.
    (void)verify_hash(dummy_hash(), password);
    return false;
  }
  return verify_hash(it->second, password);
}

bool PasswordFile::contains(std::string_view user) const {
  return users_.find(user) != users_.end();
}

std::vector<std::string> PasswordFile::users() const {
  std::vector<std::string> out;
  out.reserve(users_.size());
  for (const auto& [user, hash] : users_) out.push_back(user);
  return out;
}

bool PasswordFile::set(std::string_view user, std::string_view password,
                       std::uint32_t iterations, std::string& error) {
  if (!valid_user_name(user, error)) return false;
  if (iterations < kMinIterations || iterations > kMaxIterations) {
    error = "iterations must be from " + std::to_string(kMinIterations) + " to " +
            std::to_string(kMaxIterations);
    return false;
  }
  auto h = hash_password(password, iterations);
  if (!h) {
    error = "hashing failed (crypto library error)";
    return false;
  }
  const auto it = users_.find(user);
  if (it != users_.end())
    it->second = std::move(*h);
  else
    users_.emplace(std::string(user), std::move(*h));
  return true;
}

bool PasswordFile::remove(std::string_view user) {
  const auto it = users_.find(user);
  if (it == users_.end()) return false;
  users_.erase(it);
  return true;
}

std::string PasswordFile::to_string() const {
  std::string s;
  for (const auto& [user, h] : users_) {
    s += user;
    s += ':';
    s += format_hash(h);
    s += '\n';
  }
  return s;
}

bool PasswordFile::save(const std::string& path, std::string& error) const {
  const std::size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string tmp = path + ".tmp.XXXXXX";
  // mkstemp creates the file with mode 0600, so the hashes are never readable by others,
  // not even for a moment.
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) {
    error = path + ": cannot create a temporary file in " + dir + ": " + errno_text(errno);
    return false;
  }
  auto fail = [&](const std::string& what) {
    const int e = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    error = path + ": " + what + ": " + errno_text(e);
    return false;
  };
  // Replacing an existing file keeps its group and its group-read bit (at most 0640): a
  // file an administrator shared with the service's group (`tern`) stays readable to the
  // broker after `tern passwd` ran as root. Others never get access.
  mode_t mode = 0600;
  struct stat old {};
  if (::stat(path.c_str(), &old) == 0) {
    mode = static_cast<mode_t>(old.st_mode & 0640);
    mode |= 0600;
    if (::fchown(fd, static_cast<uid_t>(-1), old.st_gid) != 0 && errno != EPERM) {
      return fail("chown");
    }
  }
  if (::fchmod(fd, mode) != 0) return fail("chmod");
  const std::string text = to_string();
  std::size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write");
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("fsync");
  if (::close(fd) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    error = path + ": close: " + errno_text(e);
    return false;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    error = path + ": rename: " + errno_text(e);
    return false;
  }
  // The rename itself must survive a power cut (SD cards on gateways lose them).
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return true;
}

}  // namespace tern::auth
