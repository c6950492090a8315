// The CLI's console commands: queues, stats, enqueue (one task or a JSON-lines batch), dlq,
// purge, schedules, results, migrate.
#include "commands.hpp"

#include <fstream>
#include <iostream>
#include <set>

#include <taskmill/taskmill.hpp>

#include "output.hpp"

namespace taskmill::cli {

Json parse_json_arg(const std::string& text, const std::string& what) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error&) {
    throw Usage(what + " is not valid JSON: " + text.substr(0, 60));
  }
}

std::chrono::seconds parse_duration(const std::string& s) {
  if (s.empty()) throw Usage("empty duration");
  char unit = s.back();
  const bool bare = std::isdigit(static_cast<unsigned char>(unit));
  std::string num = bare ? s : s.substr(0, s.size() - 1);
  long n;
  try {
    std::size_t used = 0;
    n = std::stol(num, &used);
    if (used != num.size() || n < 0) throw std::invalid_argument("");
  } catch (const std::exception&) {
    throw Usage("bad duration \"" + s.substr(0, 40) + "\" (use e.g. 30s, 90m, 12h, 7d)");
  }
  switch (bare ? 's' : unit) {
    case 's': return std::chrono::seconds(n);
    case 'm': return std::chrono::seconds(n * 60);
    case 'h': return std::chrono::seconds(n * 3600);
    case 'd': return std::chrono::seconds(n * 86400);
  }
  throw Usage("bad duration unit in \"" + s.substr(0, 40) + "\" (s, m, h or d)");
}

Clock::time_point parse_time(const std::string& s) {
  try {
    return parse_timestamp(s);
  } catch (const Error&) {
    throw Usage("bad time \"" + s.substr(0, 40) + "\" (use ISO 8601, e.g. 2026-01-02T03:04:05Z)");
  }
}

namespace {

Json task_json(const Task& t) {
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

void print_count(Ctx& c, const char* key, int64_t n, const std::string& what) {
  if (c.json)
    std::cout << Json{{key, n}}.dump() << "\n";
  else
    std::cout << key << " " << n << " " << what << (n == 1 ? "\n" : "s\n");
}

EnqueueOptions options_of(const EnqueueArgs& a) {
  EnqueueOptions o;
  o.priority = a.priority;
  o.max_attempts = a.max_attempts;
  if (a.delay) o.scheduled_at = Clock::now() + parse_duration(*a.delay);
  if (a.expires_in) o.expires_at = Clock::now() + parse_duration(*a.expires_in);
  o.task_group_id = a.group;
  o.idempotency_key = a.key;
  if (a.ephemeral) o.ephemeral = true;
  if (a.meta) o.meta = parse_json_arg(*a.meta, "--meta");
  return o;
}

// A duration in a batch line: "90s" / "15m" as on the command line, or a number of seconds.
std::chrono::seconds line_duration(const Json& v, const std::string& where) {
  if (v.is_number_integer() && v.get<long>() >= 0) return std::chrono::seconds(v.get<long>());
  if (v.is_string()) return parse_duration(v.get<std::string>());
  throw Usage(where + ": a duration is a string like \"90s\" or a number of seconds");
}

// One line of a batch: {"operation", "payload", "priority", "max_attempts", "delay",
// "expires_in", "group", "key", "ephemeral", "meta"}; the command line's options are the
// defaults of every line.
BatchItem batch_item(const Json& line, const EnqueueArgs& a, const EnqueueOptions& defaults,
                     const std::string& where) {
  static const std::set<std::string> kKeys = {"operation", "payload", "priority", "max_attempts",
                                              "delay",     "expires_in", "group", "key",
                                              "ephemeral", "meta"};
  if (!line.is_object()) throw Usage(where + ": each line must be a JSON object");
  for (auto& [k, v] : line.items())
    if (!kKeys.contains(k)) throw Usage(where + ": unknown field \"" + k.substr(0, 40) + "\"");
  BatchItem item;
  item.options = defaults;
  try {
    if (line.contains("operation"))
      item.operation_id = line["operation"].get<std::string>();
    else if (a.operation)
      item.operation_id = *a.operation;
    else
      throw Usage(where + ": no \"operation\" (and no OPERATION argument)");
    item.payload = line.value("payload", Json(nullptr));
    auto& o = item.options;
    if (line.contains("priority")) o.priority = line["priority"].get<int>();
    if (line.contains("max_attempts")) o.max_attempts = line["max_attempts"].get<int>();
    if (line.contains("delay")) o.scheduled_at = Clock::now() + line_duration(line["delay"], where);
    if (line.contains("expires_in"))
      o.expires_at = Clock::now() + line_duration(line["expires_in"], where);
    if (line.contains("group")) o.task_group_id = line["group"].get<std::string>();
    if (line.contains("key")) o.idempotency_key = line["key"].get<std::string>();
    if (line.contains("ephemeral")) o.ephemeral = line["ephemeral"].get<bool>();
    if (line.contains("meta")) o.meta = line["meta"];
  } catch (const Json::type_error& e) {
    throw Usage(where + ": a field has the wrong type (" + std::string(e.what()).substr(0, 80) + ")");
  }
  return item;
}

int enqueue_batch(Ctx& c, const EnqueueArgs& a) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (*a.file != "-") {
    file.open(*a.file);
    if (!file) throw Usage("cannot read " + *a.file);
    in = &file;
  }
  const auto defaults = options_of(a);
  std::vector<BatchItem> items;
  std::string text;
  for (int n = 1; std::getline(*in, text); ++n) {
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = "line " + std::to_string(n);
    Json line;
    try {
      line = Json::parse(text);
    } catch (const Json::parse_error&) {
      throw Usage(where + " is not valid JSON: " + text.substr(0, 60));
    }
    items.push_back(batch_item(line, a, defaults, where));
  }
  Enqueuer enq(c.client, a.queue);
  auto ids = enq.enqueue_batch(items);  // all or nothing
  if (c.json) {
    std::cout << Json{{"ids", ids}, {"queue_name", a.queue}}.dump() << "\n";
  } else {
    for (auto id : ids) std::cout << id << "\n";
  }
  return 0;
}

}  // namespace

int cmd_queues(Ctx& c) {
  auto queues = Console(c.client).list_queues();
  if (c.json) {
    std::cout << Json(queues).dump() << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (auto& q : queues) rows.push_back({q});
  print_table({"queue"}, rows);
  return 0;
}

int cmd_stats(Ctx& c, const std::string& queue) {
  auto s = Console(c.client).stats(queue);
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
    j["queue_name"] = queue;
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  static const std::set<std::string> kFirst = {"available", "in_flight", "scheduled", "in_dlq"};
  for (const char* k : {"available", "in_flight", "scheduled", "in_dlq"})
    rows.push_back({k, s.columns.contains(k) ? s.columns[k] : "0"});
  for (auto& [k, v] : s.columns)
    if (!kFirst.contains(k) && k != "queue_name") rows.push_back({k, v});
  print_table({"state", "count"}, rows);
  return 0;
}

int cmd_enqueue(Ctx& c, const EnqueueArgs& a) {
  if (a.file) {
    if (a.payload) throw Usage("give a JSON payload or --file, not both");
    return enqueue_batch(c, a);
  }
  if (!a.operation) throw Usage("enqueue needs QUEUE OPERATION [JSON], or QUEUE --file FILE");
  Json payload = a.payload ? parse_json_arg(*a.payload, "the payload") : Json(nullptr);
  auto o = options_of(a);
  Enqueuer enq(c.client, a.queue);
  int64_t id = enq.enqueue(*a.operation, payload, o);
  if (c.json)
    std::cout << Json{{"id", id}, {"queue_name", a.queue}}.dump() << "\n";
  else
    std::cout << id << "\n";
  return 0;
}

int cmd_dlq_list(Ctx& c, const std::string& queue, int limit, int offset) {
  auto tasks = Console(c.client).list_dlq(queue, limit, offset);
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
                    fmt_time(t.dlq_at), t.idempotency_key, t.task_group_id.value_or(""),
                    t.dlq_reason.value_or(""), short_json(t.payload)});
  print_table({"id", "operation", "attempts", "dlq_at", "key", "group", "reason", "payload"}, rows);
  return 0;
}

int cmd_dlq_requeue(Ctx& c, const std::vector<std::int64_t>& ids) {
  Console con(c.client);
  for (auto id : ids) con.requeue_from_dlq(id);
  if (c.json)
    std::cout << Json{{"requeued", ids}}.dump() << "\n";
  else
    std::cout << "requeued " << ids.size() << (ids.size() == 1 ? " task\n" : " tasks\n");
  return 0;
}

int cmd_dlq_purge(Ctx& c, const std::string& queue) {
  print_count(c, "deleted", Console(c.client).purge_dlq(queue), "dead-lettered task");
  return 0;
}

int cmd_purge(Ctx& c, const std::string& queue) {
  print_count(c, "deleted", Console(c.client).purge(queue), "pending task");
  return 0;
}

int cmd_schedules_list(Ctx& c, const std::optional<std::string>& queue) {
  auto list = Console(c.client).list_schedules(queue);
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
                    fmt_time(s.last_run_at), s.last_status.value_or(""), s.last_error.value_or("")});
  print_table({"queue", "operation", "cron", "timezone", "next_run_at", "last_run_at",
               "last_status", "last_error"},
              rows);
  return 0;
}

int cmd_schedules_trigger(Ctx& c, const std::string& operation,
                          const std::optional<std::string>& options,
                          const std::optional<std::string>& queue) {
  Json opts = options ? parse_json_arg(*options, "--options") : Json(nullptr);
  auto id = Console(c.client).trigger_schedule(operation, opts, queue);
  if (c.json)
    std::cout << Json{{"id", id}}.dump() << "\n";
  else
    std::cout << id << "\n";
  return 0;
}

int cmd_results_list(Ctx& c, const ResultsArgs& a) {
  std::optional<Clock::time_point> after, before;
  if (a.after) after = parse_time(*a.after);
  if (a.before) before = parse_time(*a.before);
  // The columns the C++ ResultRow leaves out (group, key) come with the same function.
  auto lease = c.client.acquire();
  auto r = lease->exec(
      "SELECT id, queue_name, operation_id, payload, result, attempts, task_group_id, "
      "idempotency_key, created_at, completed_at "
      "FROM taskmill.list_results($1, $2, $3, $4, $5)",
      a.queue, after, before, a.limit, a.offset);
  if (c.json) {
    Json arr = Json::array();
    for (int i = 0; i < r.rows(); ++i)
      arr.push_back({{"id", r.get_int64(i, "id")},
                     {"queue_name", std::string(r.get(i, "queue_name"))},
                     {"operation_id", std::string(r.get(i, "operation_id"))},
                     {"payload", r.get_json(i, "payload")},
                     {"result", r.get_json(i, "result")},
                     {"attempts", r.get_int64(i, "attempts")},
                     {"task_group_id", r.opt(i, "task_group_id") ? Json(*r.opt(i, "task_group_id"))
                                                                 : Json(nullptr)},
                     {"idempotency_key", std::string(r.get(i, "idempotency_key"))},
                     {"created_at", json_time(r.opt_time(i, "created_at"))},
                     {"completed_at", json_time(r.opt_time(i, "completed_at"))}});
    std::cout << arr.dump() << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (int i = 0; i < r.rows(); ++i)
    rows.push_back({std::string(r.get(i, "id")), std::string(r.get(i, "queue_name")),
                    std::string(r.get(i, "operation_id")), std::string(r.get(i, "attempts")),
                    fmt_time(r.opt_time(i, "completed_at")), std::string(r.get(i, "idempotency_key")),
                    std::string(r.get(i, "task_group_id")), short_json(r.get_json(i, "result"))});
  print_table({"id", "queue", "operation", "attempts", "completed_at", "key", "group", "result"},
              rows);
  return 0;
}

int cmd_results_cleanup(Ctx& c, const ResultsArgs& a) {
  CleanupResultsOptions o;
  o.queue_name = a.queue;
  if (a.before) o.completed_before = parse_time(*a.before);
  if (a.older_than) o.completed_before = Clock::now() - parse_duration(*a.older_than);
  print_count(c, "deleted", Console(c.client).cleanup_results(o), "result");
  return 0;
}

int cmd_migrate(Ctx& c) {
  c.client.migrate();
  if (c.json)
    std::cout << Json{{"migrated", true}}.dump() << "\n";
  else
    std::cout << "taskmill extension is installed and up to date\n";
  return 0;
}

}  // namespace taskmill::cli
