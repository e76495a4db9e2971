// Internal to tern_app: reading and checking the files a configuration names (secrets,
// certificates, keys, password files), each problem reported at the YAML path and line of
// the key that named the file.
// Thread safety: reentrant.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "broker/config/config.hpp"

namespace tern::app {

// A secret or a certificate, never a data set: a bound on what a typo can make us read.
inline constexpr std::size_t kMaxSecretFile = 1 << 20;
inline constexpr std::size_t kMaxCaFile = 8 << 20;  // a whole CA bundle (Debian's is ~200 KiB)
inline constexpr std::size_t kMaxPassword = 65535;  // [MQTT-3.1.3.5] two-byte length

config::Error file_error(const config::FileRef& f, const std::string& message);

// The contents of the regular file `f`, at most `max` bytes, or nullopt after appending why
// not to `errors`.
std::optional<std::string> read_file(const config::FileRef& f, std::size_t max,
                                     std::vector<config::Error>& errors);

// A secret file's contents without surrounding whitespace: editors and `echo` add a final
// newline that is no part of the password. Empty is an error.
std::optional<std::string> read_secret(const config::FileRef& f,
                                       std::vector<config::Error>& errors);

// `f` (when set) must be a readable file of at most `max` bytes holding a PEM block.
void check_pem(const config::FileRef& f, std::size_t max, std::vector<config::Error>& errors);

}  // namespace tern::app
