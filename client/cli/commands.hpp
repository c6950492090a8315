// The CLI's commands. main.cpp parses the command line (CLI11) into these argument structs;
// each command returns the exit status (0) or throws: Usage (exit 2) for bad input,
// taskmill::Error (exit 1) for the server's or the connection's errors.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <taskmill/client.hpp>

namespace taskmill::cli {

struct Usage : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Ctx {
  Client& client;
  bool json;
};

struct EnqueueArgs {
  std::string queue;
  std::optional<std::string> operation, payload;
  std::optional<int> priority, max_attempts;  // unset: the server's defaults apply
  std::optional<std::string> delay, expires_in, group, key, meta;
  bool ephemeral = false;
  std::optional<std::string> file;  // JSON lines; "-" = stdin
};

struct ResultsArgs {
  std::optional<std::string> queue;
  int limit = 100, offset = 0;
  std::optional<std::string> after, before, older_than;
};

struct WorkerArgs {
  std::string queue;
  int concurrency = 4, batch_size = 10, poll_interval = 1000, visibility_timeout = 30000,
      process_timeout = 60000;
  std::optional<std::string> group, metrics_listen;
  // /metrics needs the token in this file (or TASKMILL_METRICS_TOKEN), or metrics_public.
  std::optional<std::string> metrics_token_file;
  bool metrics_public = false;
  // A direct server connection for the worker's LISTEN when --dsn goes through a
  // transaction pooler (ClientOptions::listen_conninfo); without one it polls there.
  std::optional<std::string> listen_dsn;
  bool until_empty = false;
};

struct DashboardArgs {
  std::string listen = "127.0.0.1:8080";
  std::optional<std::string> token_file;
  double interval = 2.0;
  std::vector<std::string> allow_hosts;
  bool metrics_public = false, redact_payloads = false;
};

int cmd_queues(Ctx& c);
int cmd_stats(Ctx& c, const std::string& queue);
int cmd_enqueue(Ctx& c, const EnqueueArgs& a);
int cmd_dlq_list(Ctx& c, const std::string& queue, int limit, int offset);
int cmd_dlq_requeue(Ctx& c, const std::vector<std::int64_t>& ids);
int cmd_dlq_purge(Ctx& c, const std::string& queue);
int cmd_purge(Ctx& c, const std::string& queue);
int cmd_schedules_list(Ctx& c, const std::optional<std::string>& queue);
int cmd_schedules_trigger(Ctx& c, const std::string& operation,
                          const std::optional<std::string>& options,
                          const std::optional<std::string>& queue);
int cmd_results_list(Ctx& c, const ResultsArgs& a);
int cmd_results_cleanup(Ctx& c, const ResultsArgs& a);
int cmd_migrate(Ctx& c);
int cmd_worker(Ctx& c, const WorkerArgs& a);        // worker.cpp
int cmd_dashboard(Ctx& c, const DashboardArgs& a);  // dashboard.cpp

// Shared argument parsers (throw Usage).
Json parse_json_arg(const std::string& text, const std::string& what);
std::chrono::seconds parse_duration(const std::string& s);
Clock::time_point parse_time(const std::string& s);
// An access token: the first line of `file`, else the variable `env`, else none; at least
// 16 characters (dashboard.cpp). Never from argv, which every local user reads in ps.
std::optional<std::string> read_access_token(const std::optional<std::string>& file,
                                             const char* env, const std::string& option);

}  // namespace taskmill::cli
