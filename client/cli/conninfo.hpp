// Where the CLI's connection password may come from: ~/.pgpass, PGPASSFILE or a prompt.
// A password inside --dsn still works but warns (argv is readable by every local user
// through ps and /proc/PID/cmdline).
#pragma once

#include <string>

namespace taskmill::cli {

struct ConninfoOptions {
  std::string dsn;               // --dsn, "" = the libpq environment variables
  bool prompt = false;           // -W / --password: ask before connecting
  bool interactive = false;      // stdin is a terminal: ask when the server wants a password
};

// The conninfo to connect with: `dsn`, plus a prompted password when one is asked for.
// Warnings go to stderr. Throws std::invalid_argument for a malformed dsn.
std::string resolve_conninfo(const ConninfoOptions& options);

// True when a libpq conninfo string or URI carries a non-empty password.
bool dsn_has_password(const std::string& dsn);

}  // namespace taskmill::cli
