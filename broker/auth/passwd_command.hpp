// `tern passwd`: adds, changes, deletes and lists users of a password file (PasswordFile),
// the command line the app's main.cpp dispatches to. Owns nothing beyond one call.
// Thread safety: not for concurrent use on the same file (the save itself is atomic).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace tern::auth {

// Usage: tern passwd [--iterations N] [--password-stdin] FILE add|change|delete|list [USER]
// `args` are the words after "passwd". add creates FILE if missing and fails if USER
// exists; change, delete and list require FILE (and change/delete the user). The password
// is one line read from `in`: when `interactive` (a terminal), prompted for twice on `err`
// with echo turned off on fd 0, and both entries must agree; otherwise (and with
// --password-stdin) read once without a prompt. FILE is written atomically with mode 0600.
// Returns 0 on success, 1 on an error (message on `err`), 2 on a usage error.
int run_passwd(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
               std::ostream& err, bool interactive);

}  // namespace tern::auth
