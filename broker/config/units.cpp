// Value syntax shared by the YAML loader and the command line: durations, sizes, bind
// addresses and enum names. Pure functions; no YAML here.

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "broker/config/config.hpp"
#include "broker/config/enums.hpp"
#include "broker/config/quote.hpp"

namespace tern::config {
using detail::quoted;
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads a run of decimal digits at the front of `s`. Returns false on no digits or a value
// above `max` (the run is consumed either way so the caller can point at the rest).
bool take_number(std::string_view& s, std::uint64_t max, std::uint64_t& out, bool& too_big) {
  std::size_t n = 0;
  while (n < s.size() && is_digit(s[n])) ++n;
  if (n == 0) return false;
  too_big = false;
  out = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t d = static_cast<std::uint64_t>(s[i] - '0');
    if (out > (max - d) / 10) {
      too_big = true;
      break;
    }
    out = out * 10 + d;
  }
  s.remove_prefix(n);
  return true;
}


struct Unit {
  std::string_view name;
  std::uint64_t factor;
};

// Largest first: a duration such as "1h30m" must list its parts in this order.
constexpr std::array<Unit, 5> kDurationUnits{
    {{"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}}};

// Binary units only: "MB" is ambiguous (10^6 or 2^20), so it is refused with a hint.
constexpr std::array<Unit, 5> kSizeUnits{
    {{"B", 1}, {"KiB", kKiB}, {"MiB", kMiB}, {"GiB", kGiB}, {"TiB", 1024 * kGiB}}};

// Far beyond any sensible setting, far below overflow (about 31,700 years).
constexpr std::uint64_t kMaxDurationMs = 1'000'000'000'000'000ull;
// 1 PiB: beyond any sensible size, far below overflow.
constexpr std::uint64_t kMaxSize = 1024 * 1024 * kGiB;

}  // namespace

std::optional<Millis> parse_duration(std::string_view text, std::string& error) {
  const std::string kExpect =
      "expected a duration with a unit (ms, s, m, h, d), e.g. \"500ms\", \"30s\", \"1h30m\", got " +
      quoted(text);
  std::string_view s = text;
  if (s.empty()) {
    error = kExpect;
    return std::nullopt;
  }
  std::uint64_t total = 0;
  std::size_t last_unit = 0;  // index into kDurationUnits of the previous part, +1
  while (!s.empty()) {
    std::uint64_t n = 0;
    bool too_big = false;
    if (!take_number(s, kMaxDurationMs, n, too_big)) {
      error = kExpect;
      return std::nullopt;
    }
    if (s.empty() || is_digit(s.front())) {
      // Plain integers are refused: "30" could mean seconds or milliseconds.
      error = kExpect;
      return std::nullopt;
    }
    std::size_t len = 0;
    while (len < s.size() && !is_digit(s[len])) ++len;
    const std::string_view unit = s.substr(0, len);
    s.remove_prefix(len);
    std::size_t idx = kDurationUnits.size();
    for (std::size_t i = 0; i < kDurationUnits.size(); ++i) {
      if (kDurationUnits[i].name == unit) idx = i;
    }
    if (idx == kDurationUnits.size()) {
      error = "unknown duration unit " + quoted(unit) + " in " + quoted(text) +
              " (units: ms, s, m, h, d)";
      return std::nullopt;
    }
    if (idx + 1 <= last_unit) {
      error = "duration parts must go from the largest unit to the smallest, e.g. \"1h30m\", got " +
              quoted(text);
      return std::nullopt;
    }
    last_unit = idx + 1;
    const std::uint64_t factor = kDurationUnits[idx].factor;
    if (too_big || n > (kMaxDurationMs - total) / factor) {
      error = "duration " + quoted(text) + " is too large";
      return std::nullopt;
    }
    total += n * factor;
  }
  return Millis{static_cast<Millis::rep>(total)};
}

std::optional<std::uint64_t> parse_size(std::string_view text, std::string& error) {
  const std::string kExpect =
      "expected a size in bytes or with a unit (B, KiB, MiB, GiB, TiB), e.g. \"256KiB\", got " +
      quoted(text);
  std::string_view s = text;
  std::uint64_t n = 0;
  bool too_big = false;
  if (!take_number(s, kMaxSize, n, too_big)) {
    error = kExpect;
    return std::nullopt;
  }
  if (!s.empty() && s.front() == ' ') s.remove_prefix(1);  // "64 MiB" reads naturally
  std::uint64_t factor = 1;
  if (!s.empty()) {
    bool found = false;
    for (const auto& u : kSizeUnits) {
      if (u.name == s) {
        factor = u.factor;
        found = true;
      }
    }
    if (!found) {
      if (s == "K" || s == "k" || s == "KB" || s == "kB" || s == "M" || s == "MB" || s == "G" ||
          s == "GB" || s == "T" || s == "TB" || s == "Kb" || s == "Mb" || s == "Gb") {
        error = "ambiguous size unit " + quoted(s) + " in " + quoted(text) +
                ": use binary units KiB, MiB, GiB, TiB (1 KiB = 1024 bytes)";
      } else {
        error = kExpect;
      }
      return std::nullopt;
    }
  }
  if (too_big || n > kMaxSize / factor) {
    error = "size " + quoted(text) + " is too large";
    return std::nullopt;
  }
  return n * factor;
}

std::optional<std::uint64_t> parse_byte_rate(std::string_view text, std::string& error) {
  // A gigabyte per second per client is past any link a gateway has.
  constexpr std::uint64_t kMaxByteRate = kGiB;
  std::string_view s = text;
  if (s.ends_with("/s")) s.remove_suffix(2);
  std::string size_error;
  const auto v = parse_size(s, size_error);
  if (!v || s.empty()) {
    error = "expected a data rate in bytes per second such as \"1MiB/s\", \"64KiB/s\" or "
            "\"500000\" (0 = unlimited), got " +
            quoted(text);
    if (!v && size_error.starts_with("ambiguous")) error = size_error;
    return std::nullopt;
  }
  if (*v > kMaxByteRate) {
    error = "data rate " + quoted(text) + " is too large (at most 1GiB/s)";
    return std::nullopt;
  }
  return v;
}

namespace {

std::optional<std::uint16_t> parse_port(std::string_view s, std::string& error) {
  std::string_view rest = s;
  std::uint64_t n = 0;
  bool too_big = false;
  if (!take_number(rest, 999'999'999, n, too_big) || !rest.empty()) {
    error = "expected a port number (0-65535), got " + quoted(s);
    return std::nullopt;
  }
  if (too_big || n > 65535) {
    error = "port " + std::string(s.substr(0, 20)) + " out of range (0-65535)";
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(n);
}


}  // namespace

std::optional<BindAddress> parse_bind(std::string_view text, std::string& error) {
  const std::string kExpect =
      "expected \"host:port\" with an IPv4 address or a bracketed IPv6 address, e.g. "
      "\"0.0.0.0:1883\" or \"[::]:1883\", got " +
      quoted(text);
  std::string_view host;
  std::string_view port;
  bool v6 = false;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      error = kExpect;
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    v6 = true;
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      error = kExpect;
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      error = "IPv6 addresses must be in brackets, e.g. \"[::]:1883\", got " + quoted(text);
      return std::nullopt;
    }
  }
  const auto p = parse_port(port, error);
  if (!p) return std::nullopt;
  const auto canon = canonical_ip(host, v6 ? AF_INET6 : AF_INET);
  if (!canon) {
    error = v6 ? "not an IPv6 address: " + quoted(host) + " in " + quoted(text)
               : "not an IPv4 address: " + quoted(host) + " in " + quoted(text) +
                     " (host names are not resolved; IPv6 goes in brackets)";
    return std::nullopt;
  }
  return BindAddress{*canon, *p, v6};
}

std::optional<BindAddress> parse_bind_host(std::string_view text, std::uint16_t port,
                                           std::string& error) {
  std::string_view host = text;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (auto c = canonical_ip(host, AF_INET6)) return BindAddress{*c, port, true};
  } else if (auto c4 = canonical_ip(host, AF_INET)) {
    return BindAddress{*c4, port, false};
  } else if (auto c6 = canonical_ip(host, AF_INET6)) {
    return BindAddress{*c6, port, true};
  }
  error = "expected an IPv4 or IPv6 address such as 0.0.0.0, 127.0.0.1 or ::, got " + quoted(text) +
          " (the port goes in -p/--port)";
  return std::nullopt;
}

std::string BindAddress::to_string() const {
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

bool BindAddress::is_wildcard() const { return host == "0.0.0.0" || host == "::"; }

bool BindAddress::is_loopback() const {
  // `host` is canonical (inet_ntop), so prefixes compare reliably.
  if (ipv6) return host == "::1" || host.starts_with("::ffff:127.");
  return host.starts_with("127.");
}

std::optional<LogLevel> parse_log_level(std::string_view text) {
  return detail::enum_value<LogLevel>(detail::kLogLevels, text);
}

std::string format_duration(Millis d) {
  if (d.count() <= 0) return "0s";
  std::uint64_t ms = static_cast<std::uint64_t>(d.count());
  std::string out;
  for (const auto& u : kDurationUnits) {
    if (ms >= u.factor) {
      out += std::to_string(ms / u.factor);
      out += u.name;
      ms %= u.factor;
    }
  }
  return out;
}

std::string format_size(std::uint64_t bytes) {
  for (std::size_t i = kSizeUnits.size(); i-- > 1;) {
    if (bytes != 0 && bytes % kSizeUnits[i].factor == 0) {
      return std::to_string(bytes / kSizeUnits[i].factor) + std::string(kSizeUnits[i].name);
    }
  }
  return std::to_string(bytes) + "B";
}

std::optional<std::string> parse_storage_path(std::string_view text, bool allow_relative,
                                              std::string& error) {
  // Room for the ".corrupt-YYYYMMDDTHHMMSSZ-N" suffix within PATH_MAX (4096 on Linux).
  constexpr std::size_t kMaxPath = 4000;
  if (text.empty()) {
    error = "expected a directory, got an empty string";
    return std::nullopt;
  }
  if (text.find('\0') != std::string_view::npos) {
    error = "a directory name cannot contain a NUL byte";
    return std::nullopt;
  }
  if (text.size() > kMaxPath) {
    error = "path is longer than " + std::to_string(kMaxPath) + " bytes";
    return std::nullopt;
  }
  if (!allow_relative && text.front() != '/') {
    error = "expected an absolute path (starting with /), got " + quoted(text);
    return std::nullopt;
  }
  std::string_view p = text;
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  const std::size_t slash = p.rfind('/');
  const std::string_view last = slash == std::string_view::npos ? p : p.substr(slash + 1);
  if (p == "/" || last == "." || last == "..") {
    error = "expected a directory of its own for the store (it is moved aside whole when "
            "corrupt), such as /var/lib/tern, got " +
            quoted(text);
    return std::nullopt;
  }
  return std::string(p);
}

std::string_view to_string(LogLevel v) {
  return detail::enum_name<LogLevel>(detail::kLogLevels, v);
}
std::string_view to_string(LogFormat v) {
  return detail::enum_name<LogFormat>(detail::kLogFormats, v);
}
std::string_view to_string(LogSubsystem v) {
  return detail::enum_name<LogSubsystem>(detail::kLogSubsystemNames, v);
}
std::string_view to_string(Overflow v) {
  return detail::enum_name<Overflow>(detail::kOverflows, v);
}
std::string_view to_string(SlowClient v) {
  return detail::enum_name<SlowClient>(detail::kSlowClients, v);
}
std::string_view to_string(SyncMode v) {
  return detail::enum_name<SyncMode>(detail::kSyncModes, v);
}
std::string_view to_string(OnCorruption v) {
  return detail::enum_name<OnCorruption>(detail::kOnCorruptions, v);
}

std::string_view to_string(ListenerProtocol v) {
  return detail::enum_name<ListenerProtocol>(detail::kListenerProtocols, v);
}
std::string_view to_string(TlsVersion v) {
  return detail::enum_name<TlsVersion>(detail::kTlsVersions, v);
}
std::string_view to_string(AclAccess v) {
  return detail::enum_name<AclAccess>(detail::kAclAccesses, v);
}

std::string log_target_string(const Log& log) {
  switch (log.to) {
    case LogTarget::Stdout: return "stdout";
    case LogTarget::Stderr: return "stderr";
    case LogTarget::Syslog: return "syslog";
    case LogTarget::File: return "file:" + log.file;
  }
  return "?";
}

// Canonical text of an IP literal, or nullopt when `s` is not one of the given family.
std::optional<std::string> canonical_ip(std::string_view s, int family) {
  if (s.empty() || s.size() > 64) return std::nullopt;
  const std::string z(s);  // inet_pton wants a NUL-terminated string
  unsigned char buf[16];
  if (inet_pton(family, z.c_str(), buf) != 1) return std::nullopt;
  char out[INET6_ADDRSTRLEN];
  if (inet_ntop(family, buf, out, sizeof out) == nullptr) return std::nullopt;
  return std::string(out);
}

}  // namespace tern::config
