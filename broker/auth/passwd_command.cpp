// `tern passwd`: the password file editor.
#include "broker/auth/passwd_command.hpp"

#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <istream>
#include <limits>
#include <optional>
#include <ostream>

#include "broker/auth/password_file.hpp"

namespace tern::auth {
namespace {

constexpr std::size_t kMaxPassword = 65535;  // an MQTT password is a 16-bit-length field

constexpr const char* kUsage =
    "usage: tern passwd [--iterations N] [--password-stdin] FILE add|change|delete|list [USER]\n"
    "  add      create USER (and FILE if missing); fails if USER exists\n"
    "  change   set a new password for an existing USER\n"
    "  delete   remove USER\n"
    "  list     print the user names\n"
    "  The password is read from standard input (prompted twice on a terminal).\n"
    "  --iterations N  PBKDF2-SHA512 iterations (default 10000)\n";

int usage(std::ostream& err, const std::string& why) {
  err << "tern passwd: " << why << "\n" << kUsage;
  return 2;
}

enum class ReadResult { Ok, Eof, TooLong };

// One line without its "\n" (and a "\r" before it), bounded so stdin cannot grow memory.
ReadResult read_line(std::istream& in, std::string& line) {
  line.clear();
  std::istream::int_type c;
  bool any = false;
  while ((c = in.get()) != std::istream::traits_type::eof()) {
    any = true;
    if (c == '\n') break;
    if (line.size() > kMaxPassword) {  // keeps one extra byte to tell "too long" apart
      in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
      return ReadResult::TooLong;
    }
    line.push_back(static_cast<char>(c));
  }
  if (!any) return ReadResult::Eof;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line.size() > kMaxPassword ? ReadResult::TooLong : ReadResult::Ok;
}

// Turns terminal echo off on fd 0 for its lifetime (no-op when fd 0 is not a terminal).
class EchoOff {
 public:
  EchoOff() {
    if (::tcgetattr(0, &saved_) != 0) return;
    termios t = saved_;
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    active_ = ::tcsetattr(0, TCSAFLUSH, &t) == 0;
  }
  ~EchoOff() {
    if (active_) ::tcsetattr(0, TCSAFLUSH, &saved_);
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;

 private:
  termios saved_{};
  bool active_ = false;
};

std::optional<std::string> read_password(std::istream& in, std::ostream& err, bool prompt) {
  std::string first;
  ReadResult r;
  if (prompt) {
    EchoOff echo_off;
    err << "Password: " << std::flush;
    r = read_line(in, first);
    err << "\n";
  } else {
    r = read_line(in, first);
  }
  if (r == ReadResult::Eof) {
    err << "tern passwd: no password on standard input\n";
    return std::nullopt;
  }
  if (r == ReadResult::TooLong) {
    err << "tern passwd: password longer than " << kMaxPassword << " bytes\n";
    return std::nullopt;
  }
  if (first.empty()) {
    err << "tern passwd: empty password refused\n";
    return std::nullopt;
  }
  if (prompt) {
    std::string second;
    {
      EchoOff echo_off;
      err << "Reenter password: " << std::flush;
      r = read_line(in, second);
      err << "\n";
    }
    if (r != ReadResult::Ok || second != first) {
      err << "tern passwd: passwords do not match\n";
      return std::nullopt;
    }
  }
  return first;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

int run_passwd(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
               std::ostream& err, bool interactive) {
  std::uint32_t iterations = kDefaultIterations;
  bool password_stdin = false;
  std::vector<std::string> pos;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      out << kUsage;
      return 0;
    }
    if (a == "--password-stdin") {
      password_stdin = true;
    } else if (a == "--iterations" || a.starts_with("--iterations=")) {
      std::string value;
      if (a == "--iterations") {
        if (i + 1 >= args.size()) return usage(err, "--iterations needs a value");
        value = args[++i];
      } else {
        value = a.substr(std::string_view("--iterations=").size());
      }
      std::uint32_t n = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (value.empty() || ec != std::errc{} || end != value.data() + value.size() ||
          n < kMinIterations || n > kMaxIterations)
        return usage(err, "--iterations must be a number from " +
                              std::to_string(kMinIterations) + " to " +
                              std::to_string(kMaxIterations));
      iterations = n;
    } else if (a == "--") {
      pos.insert(pos.end(), args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
      break;
    } else if (a.size() > 1 && a.front() == '-') {
      return usage(err, "unknown option '" + a + "'");
    } else {
      pos.push_back(a);
    }
  }
  if (pos.size() < 2) return usage(err, "expected FILE and a command");
  const std::string& path = pos[0];
  const std::string& cmd = pos[1];
  const bool needs_user = cmd == "add" || cmd == "change" || cmd == "delete";
  if (!needs_user && cmd != "list") return usage(err, "unknown command '" + cmd + "'");
  if (needs_user && pos.size() != 3) return usage(err, cmd + " needs exactly one USER");
  if (!needs_user && pos.size() != 2) return usage(err, "list takes no USER");

  PasswordFile file;
  std::string error;
  if (cmd == "add" && !file_exists(path)) {
    // a new file: starts empty
  } else {
    auto loaded = PasswordFile::load(path, error);
    if (!loaded) {
      err << "tern passwd: " << error << "\n";
      return 1;
    }
    file = std::move(*loaded);
  }

  if (cmd == "list") {
    for (const std::string& u : file.users()) out << u << "\n";
    return 0;
  }
  const std::string& user = pos[2];
  if (!valid_user_name(user, error)) {
    err << "tern passwd: " << error << "\n";
    return 1;
  }
  if (cmd == "delete") {
    if (!file.remove(user)) {
      err << "tern passwd: " << path << ": no user '" << user << "'\n";
      return 1;
    }
  } else {
    if (cmd == "add" && file.contains(user)) {
      err << "tern passwd: " << path << ": user '" << user
          << "' exists (use 'change' to set a new password)\n";
      return 1;
    }
    if (cmd == "change" && !file.contains(user)) {
      err << "tern passwd: " << path << ": no user '" << user << "' (use 'add')\n";
      return 1;
    }
    const auto password = read_password(in, err, interactive && !password_stdin);
    if (!password) return 1;
    if (!file.set(user, *password, iterations, error)) {
      err << "tern passwd: " << error << "\n";
      return 1;
    }
  }
  if (!file.save(path, error)) {
    err << "tern passwd: " << error << "\n";
    return 1;
  }
  return 0;
}

}  // namespace tern::auth
