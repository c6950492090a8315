// The CLI's password policy (see conninfo.hpp): the password never travels in argv or in the
// environment; it comes from libpq's password file or from the terminal.
#include "conninfo.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>

#include <libpq-fe.h>

namespace taskmill::cli {

namespace {

struct ConninfoFree {
  void operator()(PQconninfoOption* o) const noexcept { PQconninfoFree(o); }
};
using Options = std::unique_ptr<PQconninfoOption, ConninfoFree>;

Options parse(const std::string& dsn) {
  char* err = nullptr;
  Options opts(PQconninfoParse(dsn.c_str(), &err));
  if (!opts) {
    std::string msg = err ? err : "out of memory";
    PQfreemem(err);
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    throw std::invalid_argument("--dsn is not a valid connection string: " + msg);
  }
  return opts;
}

// keyword='value' with \ and ' escaped, as libpq's conninfo grammar wants.
std::string quoted(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

// Reads one line from the terminal with echo off (from stdin when there is no terminal, so
// that `printf 'secret\n' | taskmill -W ...` works in scripts).
std::string read_password(const std::string& prompt_text) {
  int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
  const bool tty = fd >= 0;
  if (!tty) fd = STDIN_FILENO;
  termios old{};
  bool restored = false;
  if (tty) {
    (void)!write(fd, prompt_text.data(), prompt_text.size());
    if (tcgetattr(fd, &old) == 0) {
      termios quiet = old;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      tcsetattr(fd, TCSAFLUSH, &quiet);
      restored = true;
    }
  }
  std::string line;
  char c;
  while (read(fd, &c, 1) == 1 && c != '\n') line += c;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (tty) {
    if (restored) tcsetattr(fd, TCSAFLUSH, &old);
    (void)!write(fd, "\n", 1);
    close(fd);
  }
  return line;
}

std::string with_password(const std::string& dsn, const std::string& password) {
  auto opts = parse(dsn);
  std::string out;
  for (auto* o = opts.get(); o->keyword; ++o) {
    if (!o->val || std::string(o->keyword) == "password") continue;
    if (!out.empty()) out += ' ';
    out += std::string(o->keyword) + "=" + quoted(o->val);
  }
  if (!out.empty()) out += ' ';
  return out + "password=" + quoted(password);
}

// Whether connecting with `dsn` fails only for want of a password.
bool server_wants_password(const std::string& dsn) {
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(dsn.c_str()), &PQfinish);
  return conn && PQstatus(conn.get()) == CONNECTION_BAD && PQconnectionNeedsPassword(conn.get());
}

}  // namespace

bool dsn_has_password(const std::string& dsn) {
  auto opts = parse(dsn);
  for (auto* o = opts.get(); o->keyword; ++o)
    if (std::string(o->keyword) == "password" && o->val && *o->val) return true;
  return false;
}

std::string resolve_conninfo(const ConninfoOptions& options) {
  if (dsn_has_password(options.dsn))
    std::cerr << "taskmill: warning: --dsn contains a password, which other users of this "
                 "machine can read in the process list (ps, /proc/PID/cmdline); put it in "
                 "~/.pgpass or the file PGPASSFILE names, or give -W to be prompted\n";
  bool ask = options.prompt;
  if (!ask && options.interactive && !dsn_has_password(options.dsn))
    ask = server_wants_password(options.dsn);
  if (!ask) return options.dsn;
  return with_password(options.dsn, read_password("Password: "));
}

}  // namespace taskmill::cli
