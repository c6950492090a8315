// `taskmill dashboard`: serves the web dashboard (client/dashboard/) until SIGINT/SIGTERM.
// The access token comes from --token-file or TASKMILL_DASHBOARD_TOKEN, never from argv
// (which every local user can read in ps).
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "../dashboard/dashboard.hpp"
#include "commands.hpp"
#include "signals.hpp"

namespace taskmill::cli {

namespace {

std::optional<std::string> read_token(const DashboardArgs& a) {
  std::string token;
  if (a.token_file) {
    std::ifstream f(*a.token_file);
    if (!f) throw Usage("cannot read --token-file " + *a.token_file);
    std::getline(f, token);
  } else if (const char* env = std::getenv("TASKMILL_DASHBOARD_TOKEN")) {
    token = env;
  } else {
    return std::nullopt;
  }
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.size() < 16) throw Usage("the dashboard's access token must have at least 16 characters");
  return token;
}

}  // namespace

int cmd_dashboard(Ctx& c, const DashboardArgs& a) {
  dashboard::DashboardOptions o;
  try {
    o.listen = dashboard::parse_listen(a.listen);
  } catch (const std::invalid_argument& e) {
    throw Usage(std::string("--listen: ") + e.what());
  }
  if (a.interval < 0.2 || a.interval > 3600) throw Usage("--interval must be 0.2 .. 3600 seconds");
  o.interval = std::chrono::milliseconds(static_cast<long>(a.interval * 1000));
  o.token = read_token(a);
  o.allowed_hosts = a.allow_hosts;
  if (!dashboard::is_loopback(o.listen.host))
    std::cerr << "dashboard: warning: listening on " << o.listen.host
              << ", not on loopback: anyone who can reach it sees the queues"
              << (o.token ? "" : " (and nothing needs a token: it is read-only)") << "\n";

  auto signals = block_stop_signals();
  dashboard::Dashboard dash(c.client, o);
  if (c.json)
    std::cout << Json{{"event", "listening"},
                      {"url", "http://" + o.listen.text() + "/"},
                      {"read_only", !o.token}}
                     .dump()
              << std::endl;
  else
    std::cerr << "dashboard: http://" << o.listen.text() << "/ ("
              << (o.token ? "actions need the access token" : "read-only: no access token")
              << "; metrics on /metrics; Ctrl-C stops)" << std::endl;
  while (!wait_stop_signal(signals, 1000)) {
  }
  return 0;
}

}  // namespace taskmill::cli
