// Reading and checking the files a configuration names; see files.hpp.

#include "broker/app/files.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string_view>

#include "broker/config/quote.hpp"

namespace tern::app {

config::Error file_error(const config::FileRef& f, const std::string& message) {
  return config::Error{f.yaml_path, f.line, 0, message};
}

std::optional<std::string> read_file(const config::FileRef& f, std::size_t max,
                                     std::vector<config::Error>& errors) {
  const std::string name = config::detail::quoted(f.path);
  std::error_code ec;
  const auto st = std::filesystem::status(f.path, ec);
  if (ec) {
    errors.push_back(file_error(f, "cannot read " + name + ": " + ec.message()));
    return std::nullopt;
  }
  if (!std::filesystem::is_regular_file(st)) {
    errors.push_back(file_error(f, name + " is not a regular file"));
    return std::nullopt;
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(f.path.c_str(), "rb"),
                                                       &std::fclose);
  if (!file) {
    const int err = errno;
    errors.push_back(file_error(f, "cannot read " + name + ": " + std::strerror(err)));
    return std::nullopt;
  }
  std::string out;
  char buf[16384];
  std::size_t n = 0;
  // One byte past the cap tells an oversized file from one that fits exactly.
  while (out.size() <= max && (n = std::fread(buf, 1, sizeof buf, file.get())) > 0) {
    out.append(buf, n);
  }
  if (std::ferror(file.get())) {
    const int err = errno ? errno : EIO;
    errors.push_back(file_error(f, "cannot read " + name + ": " + std::strerror(err)));
    return std::nullopt;
  }
  if (out.size() > max) {
    errors.push_back(file_error(f, name + " is larger than " + config::format_size(max) +
                                       "; not the file meant here"));
    return std::nullopt;
  }
  return out;
}

std::optional<std::string> read_secret(const config::FileRef& f,
                                       std::vector<config::Error>& errors) {
  auto text = read_file(f, kMaxSecretFile, errors);
  if (!text) return std::nullopt;
  constexpr std::string_view kSpace = " \t\r\n\v\f";
  const std::size_t begin = text->find_first_not_of(kSpace);
  if (begin == std::string::npos) {
    errors.push_back(file_error(f, config::detail::quoted(f.path) + " is empty"));
    return std::nullopt;
  }
  const std::size_t end = text->find_last_not_of(kSpace);
  return text->substr(begin, end - begin + 1);
}

// Paho and the listeners' TLS take PEM files only; a DER file or a wrong path fails later
// with an opaque TLS error, so look for a PEM block now.
void check_pem(const config::FileRef& f, std::size_t max, std::vector<config::Error>& errors) {
  if (f.empty()) return;
  const auto text = read_file(f, max, errors);
  if (text && text->find("-----BEGIN ") == std::string::npos) {
    errors.push_back(file_error(
        f, config::detail::quoted(f.path) + " is not a PEM file (no \"-----BEGIN\" line); "
                                             "convert a DER file with openssl -inform der"));
  }
}


}  // namespace tern::app
