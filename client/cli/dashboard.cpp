// `taskmill dashboard`: serves the web dashboard (client/dashboard/) until SIGINT/SIGTERM.
// The access token comes from --token-file or TASKMILL_DASHBOARD_TOKEN, never from argv
// (which every local user can read in ps). With a token, every read and action needs it
// (or the session a login trades it for); without one the dashboard listens on loopback
// only and says that every local user reads every queue through it.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "../dashboard/dashboard.hpp"
#include "commands.hpp"
#include "signals.hpp"

namespace taskmill::cli {

std::optional<std::string> read_access_token(const std::optional<std::string>& file,
                                             const char* env, const std::string& option) {
  std::string token;
  if (file) {
    std::ifstream f(*file);
    if (!f) throw Usage("cannot read " + option + " " + *file);
    std::getline(f, token);
  } else if (const char* value = std::getenv(env)) {
    token = value;
  } else {
    return std::nullopt;
  }
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.size() < 16)
    throw Usage("the access token (" + option + " or " + env + ") must have at least 16 characters");
  return token;
}

int cmd_dashboard(Ctx& c, const DashboardArgs& a) {
  dashboard::DashboardOptions o;
  try {
    o.listen = dashboard::parse_listen(a.listen);
  } catch (const std::invalid_argument& e) {
    throw Usage(std::string("--listen: ") + e.what());
  }
  if (a.interval < 0.2 || a.interval > 3600) throw Usage("--interval must be 0.2 .. 3600 seconds");
  o.interval = std::chrono::milliseconds(static_cast<long>(a.interval * 1000));
  o.token = read_access_token(a.token_file, "TASKMILL_DASHBOARD_TOKEN", "--token-file");
  o.allowed_hosts = a.allow_hosts;
  o.metrics_public = a.metrics_public;
  o.redact_payloads = a.redact_payloads;
  const bool loopback = dashboard::is_loopback(o.listen.host);
  if (!o.token && !loopback)
    throw Usage("--listen " + o.listen.text() +
                ": without an access token the dashboard listens on loopback only (whoever "
                "reaches it reads every queue's payloads, results and errors); give "
                "--token-file FILE (or TASKMILL_DASHBOARD_TOKEN), or --listen 127.0.0.1:PORT");
  const std::string url = "http://" + o.listen.text() + "/";
  if (!o.token)
    std::cerr << "dashboard: WARNING: no access token: anyone on this host can read every queue "
                 "(payloads, results, errors) at "
              << url << "; give --token-file FILE to require sign-in" << std::endl;
  else if (!loopback)
    std::cerr << "dashboard: listening on " << o.listen.host
              << ", not on loopback: plain HTTP (put TLS in front, or use an SSH tunnel)"
              << std::endl;
  if (o.token && o.metrics_public)
    std::cerr << "dashboard: /metrics answers without the access token (--metrics-public)"
              << std::endl;

  auto signals = block_stop_signals();
  dashboard::Dashboard dash(c.client, o);
  if (c.json)
    std::cout << Json{{"event", "listening"},
                      {"url", url},
                      {"read_only", !o.token},
                      {"auth_required", o.token.has_value()},
                      {"redact_payloads", o.redact_payloads}}
                     .dump()
              << std::endl;
  else
    std::cerr << "dashboard: " << url << " ("
              << (o.token ? "every read and action needs the access token"
                          : "read-only, readable by every local user: no access token")
              << (o.redact_payloads ? "; payloads redacted" : "")
              << "; metrics on /metrics"
              << (o.token && !o.metrics_public ? " with the token" : "") << "; Ctrl-C stops)"
              << std::endl;
  while (!wait_stop_signal(signals, 1000)) {
  }
  return 0;
}

}  // namespace taskmill::cli
