// `taskmill`: the console from a terminal. Tables for people, --json for scripts.
// Exit codes: 0 ok, 1 error (the server's or the connection's), 2 usage.
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <taskmill/taskmill.hpp>

#include "handlers.hpp"

namespace {

using taskmill::Clock;
using taskmill::Json;

constexpr const char* kUsage = R"(usage: taskmill [--dsn CONNINFO] [--json] COMMAND [ARGS]

Commands:
  queues                                 list queue names
  stats QUEUE                            task counts by state
  enqueue QUEUE OPERATION [JSON]         add a task; prints its id
      [--priority N] [--max-attempts N] [--delay SECONDS] [--expires-in SECONDS]
      [--group GROUP] [--key IDEMPOTENCY_KEY] [--ephemeral] [--meta JSON]
  dlq list QUEUE [--limit N]             dead-lettered tasks
  dlq requeue TASK_ID...                 move tasks back to their queue (attempts reset)
  dlq purge QUEUE                        delete a queue's dead-lettered tasks
  purge QUEUE                            delete a queue's pending tasks (the DLQ is kept)
  schedules list [QUEUE]                 cron schedules
  schedules trigger OPERATION [--options JSON]
                                         enqueue a schedule's task now
  results list [QUEUE] [--limit N] [--offset N] [--after TIME] [--before TIME]
  results cleanup [QUEUE] [--before TIME | --older-than DURATION]
  worker QUEUE [--concurrency N] [--batch-size N] [--poll-interval MS]
      [--visibility-timeout MS] [--process-timeout MS] [--group GROUP] [--until-empty]
                                         run the example handlers (echo, sleep, fail,
                                         flaky, panic) until SIGINT/SIGTERM
  migrate                                CREATE / ALTER EXTENSION taskmill

Connection: --dsn (a libpq conninfo string or URI), else the libpq environment variables
(PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD ...).
TIME is ISO 8601 (2026-01-02T03:04:05Z); DURATION is a number with s, m, h or d (90m).
Exit status: 0 ok, 1 error, 2 usage.
)";

struct Usage : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- arguments -------------------------------------------------------------------------

const std::set<std::string> kBoolFlags = {"json", "ephemeral", "until-empty", "help"};

struct Args {
  std::vector<std::string> pos;
  std::map<std::string, std::string> flags;

  bool has(const std::string& k) const { return flags.contains(k); }
  std::optional<std::string> get(const std::string& k) const {
    auto it = flags.find(k);
    if (it == flags.end()) return std::nullopt;
    return it->second;
  }
  int get_int(const std::string& k, int def) const {
    auto v = get(k);
    if (!v) return def;
    try {
      std::size_t used = 0;
      int n = std::stoi(*v, &used);
      if (used != v->size()) throw std::invalid_argument("");
      return n;
    } catch (const std::exception&) {
      throw Usage("--" + k + " needs an integer, not \"" + *v + "\"");
    }
  }
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "--") {
      for (++i; i < argc; ++i) a.pos.emplace_back(argv[i]);
      break;
    }
    if (s.rfind("--", 0) == 0 && s.size() > 2) {
      std::string name = s.substr(2), value;
      auto eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else if (kBoolFlags.contains(name)) {
        value = "true";
      } else {
        if (i + 1 >= argc) throw Usage("--" + name + " needs a value");
        value = argv[++i];
      }
      a.flags[name] = value;
    } else if (s == "-h") {
      a.flags["help"] = "true";
    } else {
      a.pos.push_back(s);
    }
  }
  return a;
}

void check_flags(const Args& a, std::set<std::string> allowed) {
  allowed.insert({"dsn", "json", "help"});
  for (auto& [k, v] : a.flags)
    if (!allowed.contains(k)) throw Usage("unknown option --" + k);
}

void need_pos(const Args& a, std::size_t min, std::size_t max, const char* what) {
  if (a.pos.size() < min || a.pos.size() > max) throw Usage(std::string("usage: taskmill ") + what);
}

Json parse_json_arg(const std::string& text, const char* what) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error&) {
    throw Usage(std::string(what) + " is not valid JSON: " + text);
  }
}

std::chrono::seconds parse_duration(const std::string& s) {
  if (s.empty()) throw Usage("empty duration");
  char unit = s.back();
  std::string num = std::isdigit(static_cast<unsigned char>(unit)) ? s : s.substr(0, s.size() - 1);
  long n;
  try {
    std::size_t used = 0;
    n = std::stol(num, &used);
    if (used != num.size()) throw std::invalid_argument("");
  } catch (const std::exception&) {
    throw Usage("bad duration \"" + s + "\" (use e.g. 30s, 90m, 12h, 7d)");
  }
  switch (std::isdigit(static_cast<unsigned char>(unit)) ? 's' : unit) {
    case 's': return std::chrono::seconds(n);
    case 'm': return std::chrono::seconds(n * 60);
    case 'h': return std::chrono::seconds(n * 3600);
    case 'd': return std::chrono::seconds(n * 86400);
  }
  throw Usage("bad duration unit in \"" + s + "\" (s, m, h or d)");
}

Clock::time_point parse_time(const std::string& s) {
  try {
    return taskmill::parse_timestamp(s);
  } catch (const taskmill::Error&) {
    throw Usage("bad time \"" + s + "\" (use ISO 8601, e.g. 2026-01-02T03:04:05Z)");
  }
}

// ---- output ----------------------------------------------------------------------------

std::string fmt_time(std::optional<Clock::time_point> t) {
  if (!t) return "";
  auto s = taskmill::format_timestamp(*t);  // 2026-01-02T03:04:05.123456Z
  return s.substr(0, 10) + " " + s.substr(11, 8);
}
Json json_time(std::optional<Clock::time_point> t) {
  return t ? Json(taskmill::format_timestamp(*t)) : Json(nullptr);
}
std::string short_json(const Json& j, std::size_t max = 48) {
  if (j.is_null()) return "";
  auto s = j.dump();
  if (s.size() > max) s = s.substr(0, max - 3) + "...";
  return s;
}

void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> w(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) w[c] = header[c].size();
  for (auto& r : rows)
    for (std::size_t c = 0; c < r.size() && c < w.size(); ++c) w[c] = std::max(w[c], r[c].size());
  auto line = [&](const std::vector<std::string>& r) {
    std::string out;
    for (std::size_t c = 0; c < header.size(); ++c) {
      std::string cell = c < r.size() ? r[c] : "";
      out += cell;
      if (c + 1 < header.size()) out += std::string(w[c] - cell.size() + 2, ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    std::cout << out << "\n";
  };
  line(header);
  std::vector<std::string> dashes;
  for (auto n : w) dashes.emplace_back(n, '-');
  line(dashes);
  for (auto& r : rows) line(r);
  std::cout << "(" << rows.size() << (rows.size() == 1 ? " row)\n" : " rows)\n");
}

Json task_json(const taskmill::Task& t) {
  return {{"id", t.id},
          {"queue_name", t.queue_name},
          {"operation_id", t.operation_id},
          {"payload", t.payload},
          {"meta", t.meta},
          {"priority", t.priority},
          {"attempts", t.attempts},
          {"max_attempts", t.max_attempts},
          {"task_group_id", t.task_group_id ? Json(*t.task_group_id) : Json(nullptr)},
          {"idempotency_key", t.idempotency_key},
          {"created_at", json_time(t.created_at)},
          {"expires_at", json_time(t.expires_at)},
          {"last_error", t.last_error ? Json(*t.last_error) : Json(nullptr)},
          {"dlq_at", json_time(t.dlq_at)},
          {"dlq_reason", t.dlq_reason ? Json(*t.dlq_reason) : Json(nullptr)}};
}

// ---- commands --------------------------------------------------------------------------

struct Ctx {
  Args& args;
  taskmill::Client& client;
  bool json;
};

int cmd_queues(Ctx& c) {
  check_flags(c.args, {});
  need_pos(c.args, 1, 1, "queues");
  auto queues = taskmill::Console(c.client).list_queues();
  if (c.json) {
    std::cout << Json(queues).dump() << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (auto& q : queues) rows.push_back({q});
  print_table({"queue"}, rows);
  return 0;
}

int cmd_stats(Ctx& c) {
  check_flags(c.args, {});
  need_pos(c.args, 2, 2, "stats QUEUE");
  auto s = taskmill::Console(c.client).stats(c.args.pos[1]);
  if (c.json) {
    Json j = Json::object();
    for (auto& [k, v] : s.columns) {
      try {
        std::size_t used = 0;
        long long n = std::stoll(v, &used);
        if (used == v.size()) {
          j[k] = n;
          continue;
        }
      } catch (const std::exception&) {
      }
      j[k] = v;
    }
    j["queue_name"] = c.args.pos[1];
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const char* k : {"available", "in_flight", "scheduled", "in_dlq"})
    rows.push_back({k, s.columns.contains(k) ? s.columns[k] : "0"});
  for (auto& [k, v] : s.columns)
    if (k != "available" && k != "in_flight" && k != "scheduled" && k != "in_dlq" &&
        k != "queue_name")
      rows.push_back({k, v});
  print_table({"state", "count"}, rows);
  return 0;
}

int cmd_enqueue(Ctx& c) {
  check_flags(c.args, {"priority", "max-attempts", "delay", "expires-in", "group", "key",
                       "ephemeral", "meta"});
  need_pos(c.args, 3, 4, "enqueue QUEUE OPERATION [JSON]");
  Json payload = c.args.pos.size() > 3 ? parse_json_arg(c.args.pos[3], "the payload") : Json(nullptr);
  taskmill::EnqueueOptions o;
  o.priority = c.args.get_int("priority", 0);
  o.max_attempts = c.args.get_int("max-attempts", 3);
  if (auto d = c.args.get("delay")) o.scheduled_at = Clock::now() + parse_duration(*d);
  if (auto d = c.args.get("expires-in")) o.expires_at = Clock::now() + parse_duration(*d);
  o.task_group_id = c.args.get("group");
  o.idempotency_key = c.args.get("key");
  o.ephemeral = c.args.has("ephemeral");
  if (auto m = c.args.get("meta")) o.meta = parse_json_arg(*m, "--meta");
  taskmill::Enqueuer enq(c.client, c.args.pos[1]);
  int64_t id = enq.enqueue(c.args.pos[2], payload, o);
  if (c.json)
    std::cout << Json{{"id", id}, {"queue_name", c.args.pos[1]}}.dump() << "\n";
  else
    std::cout << id << "\n";
  return 0;
}

int cmd_dlq(Ctx& c) {
  auto& a = c.args;
  if (a.pos.size() < 2) throw Usage("usage: taskmill dlq list|requeue|purge ...");
  taskmill::Console con(c.client);
  const auto& sub = a.pos[1];
  if (sub == "list") {
    check_flags(a, {"limit"});
    need_pos(a, 3, 3, "dlq list QUEUE [--limit N]");
    auto tasks = con.list_dlq(a.pos[2], a.get_int("limit", 100));
    if (c.json) {
      Json arr = Json::array();
      for (auto& t : tasks) arr.push_back(task_json(t));
      std::cout << arr.dump() << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (auto& t : tasks)
      rows.push_back({std::to_string(t.id), t.operation_id,
                      std::to_string(t.attempts) + "/" + std::to_string(t.max_attempts),
                      fmt_time(t.dlq_at), t.dlq_reason.value_or(""), short_json(t.payload)});
    print_table({"id", "operation", "attempts", "dlq_at", "reason", "payload"}, rows);
    return 0;
  }
  if (sub == "requeue") {
    check_flags(a, {});
    if (a.pos.size() < 3) throw Usage("usage: taskmill dlq requeue TASK_ID...");
    std::vector<int64_t> ids;
    for (std::size_t i = 2; i < a.pos.size(); ++i) {
      try {
        std::size_t used = 0;
        ids.push_back(std::stoll(a.pos[i], &used));
        if (used != a.pos[i].size()) throw std::invalid_argument("");
      } catch (const std::exception&) {
        throw Usage("not a task id: \"" + a.pos[i] + "\"");
      }
    }
    for (auto id : ids) con.requeue_from_dlq(id);
    if (c.json)
      std::cout << Json{{"requeued", ids}}.dump() << "\n";
    else
      std::cout << "requeued " << ids.size() << (ids.size() == 1 ? " task\n" : " tasks\n");
    return 0;
  }
  if (sub == "purge") {
    check_flags(a, {});
    need_pos(a, 3, 3, "dlq purge QUEUE");
    auto n = con.purge_dlq(a.pos[2]);
    if (c.json)
      std::cout << Json{{"deleted", n}}.dump() << "\n";
    else
      std::cout << "deleted " << n << " dead-lettered task" << (n == 1 ? "\n" : "s\n");
    return 0;
  }
  throw Usage("unknown dlq command \"" + sub + "\" (list, requeue, purge)");
}

int cmd_purge(Ctx& c) {
  check_flags(c.args, {});
  need_pos(c.args, 2, 2, "purge QUEUE");
  auto n = taskmill::Console(c.client).purge(c.args.pos[1]);
  if (c.json)
    std::cout << Json{{"deleted", n}}.dump() << "\n";
  else
    std::cout << "deleted " << n << " pending task" << (n == 1 ? "\n" : "s\n");
  return 0;
}

int cmd_schedules(Ctx& c) {
  auto& a = c.args;
  if (a.pos.size() < 2) throw Usage("usage: taskmill schedules list|trigger ...");
  taskmill::Console con(c.client);
  if (a.pos[1] == "list") {
    check_flags(a, {});
    need_pos(a, 2, 3, "schedules list [QUEUE]");
    std::optional<std::string> q;
    if (a.pos.size() > 2) q = a.pos[2];
    auto list = con.list_schedules(q);
    if (c.json) {
      Json arr = Json::array();
      for (auto& s : list)
        arr.push_back({{"queue_name", s.queue_name},
                       {"operation_id", s.operation_id},
                       {"cron", s.cron},
                       {"timezone", s.timezone},
                       {"payload", s.payload},
                       {"options", s.options},
                       {"next_run_at", json_time(s.next_run_at)},
                       {"last_run_at", json_time(s.last_run_at)},
                       {"last_status", s.last_status ? Json(*s.last_status) : Json(nullptr)},
                       {"last_error", s.last_error ? Json(*s.last_error) : Json(nullptr)}});
      std::cout << arr.dump() << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (auto& s : list)
      rows.push_back({s.queue_name, s.operation_id, s.cron, s.timezone, fmt_time(s.next_run_at),
                      fmt_time(s.last_run_at), s.last_status.value_or(""),
                      s.last_error.value_or("")});
    print_table({"queue", "operation", "cron", "timezone", "next_run_at", "last_run_at",
                 "last_status", "last_error"},
                rows);
    return 0;
  }
  if (a.pos[1] == "trigger") {
    check_flags(a, {"options"});
    need_pos(a, 3, 3, "schedules trigger OPERATION [--options JSON]");
    Json opts = a.get("options") ? parse_json_arg(*a.get("options"), "--options") : Json(nullptr);
    auto id = con.trigger_schedule(a.pos[2], opts);
    if (c.json)
      std::cout << Json{{"id", id}}.dump() << "\n";
    else
      std::cout << id << "\n";
    return 0;
  }
  throw Usage("unknown schedules command \"" + a.pos[1] + "\" (list, trigger)");
}

int cmd_results(Ctx& c) {
  auto& a = c.args;
  if (a.pos.size() < 2) throw Usage("usage: taskmill results list|cleanup ...");
  taskmill::Console con(c.client);
  if (a.pos[1] == "list") {
    check_flags(a, {"limit", "offset", "after", "before"});
    need_pos(a, 2, 3, "results list [QUEUE] [--limit N] [--offset N] [--after TIME] [--before TIME]");
    taskmill::ListResultsOptions o;
    if (a.pos.size() > 2) o.queue_name = a.pos[2];
    o.limit = a.get_int("limit", 100);
    o.offset = a.get_int("offset", 0);
    if (auto t = a.get("after")) o.completed_after = parse_time(*t);
    if (auto t = a.get("before")) o.completed_before = parse_time(*t);
    auto rows_in = con.list_results(o);
    if (c.json) {
      Json arr = Json::array();
      for (auto& r : rows_in)
        arr.push_back({{"id", r.id},
                       {"queue_name", r.queue_name},
                       {"operation_id", r.operation_id},
                       {"payload", r.payload},
                       {"result", r.result},
                       {"attempts", r.attempts},
                       {"created_at", json_time(r.created_at)},
                       {"completed_at", json_time(r.completed_at)}});
      std::cout << arr.dump() << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (auto& r : rows_in)
      rows.push_back({std::to_string(r.id), r.queue_name, r.operation_id,
                      std::to_string(r.attempts), fmt_time(r.completed_at), short_json(r.result)});
    print_table({"id", "queue", "operation", "attempts", "completed_at", "result"}, rows);
    return 0;
  }
  if (a.pos[1] == "cleanup") {
    check_flags(a, {"before", "older-than"});
    need_pos(a, 2, 3, "results cleanup [QUEUE] [--before TIME | --older-than DURATION]");
    taskmill::CleanupResultsOptions o;
    if (a.pos.size() > 2) o.queue_name = a.pos[2];
    if (a.has("before") && a.has("older-than"))
      throw Usage("give --before or --older-than, not both");
    if (auto t = a.get("before")) o.completed_before = parse_time(*t);
    if (auto d = a.get("older-than")) o.completed_before = Clock::now() - parse_duration(*d);
    auto n = con.cleanup_results(o);
    if (c.json)
      std::cout << Json{{"deleted", n}}.dump() << "\n";
    else
      std::cout << "deleted " << n << " result" << (n == 1 ? "\n" : "s\n");
    return 0;
  }
  throw Usage("unknown results command \"" + a.pos[1] + "\" (list, cleanup)");
}

int cmd_worker(Ctx& c) {
  auto& a = c.args;
  check_flags(a, {"concurrency", "batch-size", "poll-interval", "visibility-timeout",
                  "process-timeout", "group", "until-empty"});
  need_pos(a, 2, 2, "worker QUEUE [options]");
  const std::string queue = a.pos[1];
  std::mutex out_mu;
  auto log = [&out_mu, json = c.json](const std::string& line) {
    std::lock_guard lk(out_mu);
    if (json)
      std::cout << Json{{"event", "done"}, {"message", line}}.dump() << std::endl;
    else
      std::cout << line << std::endl;
  };
  taskmill::WorkerOptions o;
  o.concurrency = a.get_int("concurrency", 4);
  o.batch_size = a.get_int("batch-size", 10);
  o.poll_interval = std::chrono::milliseconds(a.get_int("poll-interval", 1000));
  o.visibility_timeout = std::chrono::milliseconds(a.get_int("visibility-timeout", 30000));
  o.process_timeout = std::chrono::milliseconds(a.get_int("process-timeout", 60000));
  o.task_group_id = a.get("group");
  o.on_alert = [&out_mu, json = c.json](const taskmill::Alert& al) {
    std::lock_guard lk(out_mu);
    if (json) {
      std::cout << Json{{"event", al.panic ? "panic" : "error"},
                        {"task_id", al.task->id},
                        {"operation_id", al.task->operation_id},
                        {"attempts", al.task->attempts},
                        {"code", std::string(taskmill::to_string(al.code))},
                        {"message", al.message}}
                       .dump()
                << std::endl;
    } else {
      std::cout << "fail  #" << al.task->id << " " << al.task->operation_id << " (attempt "
                << al.task->attempts << "/" << al.task->max_attempts << "): " << al.message
                << (al.panic ? " [panic]" : "") << std::endl;
    }
  };
  o.on_error = [&out_mu](const std::string& message) {
    std::lock_guard lk(out_mu);
    std::cerr << "worker: " << message << " (retrying)" << std::endl;
  };

  // Signals are taken synchronously by this thread only (blocked before any thread starts).
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  taskmill::Worker worker(c.client, queue, o);
  taskmill::cli::register_example_handlers(worker, log);
  worker.start();
  if (!c.json) std::cerr << "worker: processing queue \"" << queue << "\" (Ctrl-C stops)\n";
  taskmill::Console con(c.client);
  const bool until_empty = a.has("until-empty");
  for (;;) {
    timespec ts{0, 200 * 1000 * 1000};
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM) break;
    if (until_empty) {
      auto s = con.stats(queue);
      if (s.available + s.in_flight + s.scheduled == 0) break;
    }
  }
  worker.stop();
  if (!c.json) std::cerr << "worker: stopped\n";
  return 0;
}

int cmd_migrate(Ctx& c) {
  check_flags(c.args, {});
  need_pos(c.args, 1, 1, "migrate");
  c.client.migrate();
  if (c.json)
    std::cout << Json{{"migrated", true}}.dump() << "\n";
  else
    std::cout << "taskmill extension is installed and up to date\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  try {
    args = parse_args(argc, argv);
  } catch (const Usage& e) {
    std::cerr << "taskmill: " << e.what() << "\n" << kUsage;
    return 2;
  }
  if (args.has("help") || args.pos.empty() || args.pos[0] == "help") {
    (args.pos.empty() && !args.has("help") ? std::cerr : std::cout) << kUsage;
    return args.pos.empty() && !args.has("help") ? 2 : 0;
  }
  const bool json = args.has("json");
  static const std::map<std::string, int (*)(Ctx&)> commands = {
      {"queues", cmd_queues}, {"stats", cmd_stats},   {"enqueue", cmd_enqueue},
      {"dlq", cmd_dlq},       {"purge", cmd_purge},   {"schedules", cmd_schedules},
      {"results", cmd_results}, {"worker", cmd_worker}, {"migrate", cmd_migrate}};
  auto it = commands.find(args.pos[0]);
  if (it == commands.end()) {
    std::cerr << "taskmill: unknown command \"" << args.pos[0] << "\"\n" << kUsage;
    return 2;
  }
  try {
    taskmill::Client client(args.get("dsn").value_or(""), {.pool_size = 4});
    Ctx ctx{args, client, json};
    return it->second(ctx);
  } catch (const Usage& e) {
    std::cerr << "taskmill: " << e.what() << "\n";
    return 2;
  } catch (const taskmill::Error& e) {
    if (json)
      std::cerr << Json{{"error", e.what()},
                        {"code", std::string(taskmill::to_string(e.code()))},
                        {"sqlstate", e.sqlstate()}}
                       .dump()
                << "\n";
    else
      std::cerr << "taskmill: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "taskmill: " << e.what() << "\n";
    return 1;
  }
}
