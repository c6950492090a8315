// `taskmill`: the console from a terminal. Tables for people, --json for scripts.
// The command line is parsed by CLI11; the commands live in commands.cpp, worker.cpp and
// dashboard.cpp. Exit status: 0 ok, 1 error (the server's or the connection's), 2 usage.
#include <unistd.h>

#include <functional>
#include <iostream>
#include <limits>

#include <CLI/CLI.hpp>

#include <taskmill/taskmill.hpp>

#include "commands.hpp"
#include "conninfo.hpp"

namespace {

using namespace taskmill::cli;

constexpr int kMaxInt = std::numeric_limits<int>::max();

constexpr const char* kFooter = R"(
Connection: --dsn takes a libpq conninfo string or URI; without it the libpq environment
variables apply (PGHOST, PGPORT, PGUSER, PGDATABASE). Passwords come from ~/.pgpass (or the
file PGPASSFILE names) or from a prompt (-W): a password inside --dsn is visible to every
local user in the process list, so taskmill warns about it.
TIME is ISO 8601 (2026-01-02T03:04:05Z); DURATION is a number with s, m, h or d (90m).
Exit status: 0 ok, 1 error, 2 usage.)";

struct Cli {
  CLI::App app{"taskmill: the console of a taskmill task queue", "taskmill"};
  std::string dsn;
  bool json = false, prompt = false;
  std::function<int(Ctx&)> run;  // the chosen command

  EnqueueArgs enq;
  ResultsArgs res;
  WorkerArgs wrk;
  DashboardArgs dash;
  std::string queue;
  std::optional<std::string> opt_queue, operation, options_json;
  std::vector<std::int64_t> ids;
  int limit = 100, offset = 0;

  Cli() {
    app.footer(kFooter);
    app.require_subcommand(1);
    app.fallthrough();  // global options may follow the command's own
    app.add_option("--dsn", dsn, "libpq conninfo string or URI");
    app.add_flag("--json", json, "JSON on stdout (errors as JSON on stderr)");
    app.add_flag("-W,--password", prompt, "ask for the password before connecting");

    auto* q = app.add_subcommand("queues", "list queue names");
    q->callback([this] { run = [](Ctx& c) { return cmd_queues(c); }; });

    auto* st = app.add_subcommand("stats", "task counts by state");
    st->add_option("QUEUE", queue, "queue name")->required();
    st->callback([this] { run = [this](Ctx& c) { return cmd_stats(c, queue); }; });

    enqueue_command();
    dlq_command();

    auto* pu = app.add_subcommand("purge", "delete a queue's pending tasks (the DLQ is kept)");
    pu->add_option("QUEUE", queue, "queue name")->required();
    pu->callback([this] { run = [this](Ctx& c) { return cmd_purge(c, queue); }; });

    schedules_command();
    results_command();
    worker_command();
    dashboard_command();

    auto* mi = app.add_subcommand("migrate", "CREATE / ALTER EXTENSION taskmill");
    mi->callback([this] { run = [](Ctx& c) { return cmd_migrate(c); }; });
  }

  void enqueue_command() {
    auto* e = app.add_subcommand("enqueue", "add a task (prints its id), or a batch of JSON lines");
    e->add_option("QUEUE", enq.queue, "queue name")->required();
    e->add_option("OPERATION", enq.operation, "operation id (optional with --file)");
    e->add_option("JSON", enq.payload, "payload (JSON)");
    e->add_option("--priority", enq.priority, "-100 .. 100, higher first (default: the server's, 0)");
    e->add_option("--max-attempts", enq.max_attempts, "attempts before the DLQ (default: the server's, 3)");
    e->add_option("--delay", enq.delay, "DURATION before it is visible");
    e->add_option("--expires-in", enq.expires_in, "DURATION until it expires (to the DLQ)");
    e->add_option("--group", enq.group, "FIFO group");
    e->add_option("--key", enq.key, "idempotency key");
    e->add_flag("--ephemeral", enq.ephemeral, "keep no result row when done");
    e->add_option("--meta", enq.meta, "extra headers (a JSON object)");
    e->add_option("--file", enq.file,
                  "enqueue a batch: one JSON object per line (\"-\" = stdin); the options "
                  "above are every line's defaults");
    e->callback([this] { run = [this](Ctx& c) { return cmd_enqueue(c, enq); }; });
  }

  void dlq_command() {
    auto* d = app.add_subcommand("dlq", "the dead-letter queue");
    d->require_subcommand(1);
    auto* l = d->add_subcommand("list", "dead-lettered tasks, newest first");
    l->add_option("QUEUE", queue, "queue name")->required();
    l->add_option("--limit", limit, "rows")->capture_default_str()->check(CLI::Range(1, 100000));
    l->add_option("--offset", offset, "rows to skip")->check(CLI::Range(0, kMaxInt));
    l->callback([this] { run = [this](Ctx& c) { return cmd_dlq_list(c, queue, limit, offset); }; });
    auto* r = d->add_subcommand("requeue", "move tasks back to their queue (attempts reset)");
    r->add_option("TASK_ID", ids, "task ids")->required();
    r->callback([this] { run = [this](Ctx& c) { return cmd_dlq_requeue(c, ids); }; });
    auto* p = d->add_subcommand("purge", "delete a queue's dead-lettered tasks");
    p->add_option("QUEUE", queue, "queue name")->required();
    p->callback([this] { run = [this](Ctx& c) { return cmd_dlq_purge(c, queue); }; });
  }

  void schedules_command() {
    auto* s = app.add_subcommand("schedules", "cron schedules");
    s->require_subcommand(1);
    auto* l = s->add_subcommand("list", "schedules with next / last run and last error");
    l->add_option("QUEUE", opt_queue, "only this queue");
    l->callback([this] { run = [this](Ctx& c) { return cmd_schedules_list(c, opt_queue); }; });
    auto* t = s->add_subcommand("trigger", "enqueue a schedule's task now (prints its id)");
    t->add_option("OPERATION", queue, "the schedule's operation id")->required();
    t->add_option("--options", options_json, "enqueue option overrides (a JSON object)");
    t->add_option("--queue", opt_queue, "the schedule's queue, when several have OPERATION");
    t->callback([this] {
      run = [this](Ctx& c) { return cmd_schedules_trigger(c, queue, options_json, opt_queue); };
    });
  }

  void results_command() {
    auto* r = app.add_subcommand("results", "completed tasks' results");
    r->require_subcommand(1);
    auto* l = r->add_subcommand("list", "completed tasks, newest first");
    l->add_option("QUEUE", res.queue, "only this queue");
    l->add_option("--limit", res.limit, "rows")->capture_default_str()->check(CLI::Range(1, 100000));
    l->add_option("--offset", res.offset, "rows to skip")->check(CLI::Range(0, kMaxInt));
    l->add_option("--after", res.after, "completed after TIME");
    l->add_option("--before", res.before, "completed before TIME");
    l->callback([this] { run = [this](Ctx& c) { return cmd_results_list(c, res); }; });
    auto* c = r->add_subcommand("cleanup", "delete results");
    c->add_option("QUEUE", res.queue, "only this queue");
    auto* before = c->add_option("--before", res.before, "completed before TIME");
    c->add_option("--older-than", res.older_than, "completed more than DURATION ago")
        ->excludes(before);
    c->callback([this] { run = [this](Ctx& c) { return cmd_results_cleanup(c, res); }; });
  }

  void worker_command() {
    auto* w = app.add_subcommand(
        "worker", "run the example handlers (echo, sleep, fail, flaky, panic) until SIGINT/SIGTERM");
    w->add_option("QUEUE", wrk.queue, "queue name")->required();
    w->add_option("--concurrency", wrk.concurrency, "handler threads")
        ->capture_default_str()->check(CLI::Range(1, 1024));
    w->add_option("--batch-size", wrk.batch_size, "tasks per dequeue")
        ->capture_default_str()->check(CLI::Range(1, 10000));
    w->add_option("--poll-interval", wrk.poll_interval, "MS between polls when idle")
        ->capture_default_str()->check(CLI::Range(1, kMaxInt));
    w->add_option("--visibility-timeout", wrk.visibility_timeout, "MS")
        ->capture_default_str()->check(CLI::Range(1, kMaxInt));
    w->add_option("--process-timeout", wrk.process_timeout, "MS a handler may run")
        ->capture_default_str()->check(CLI::Range(1, kMaxInt));
    w->add_option("--group", wrk.group, "only tasks of this FIFO group");
    w->add_flag("--until-empty", wrk.until_empty,
                "stop when nothing is available, in flight or waiting for a retry");
    auto* ml = w->add_option("--metrics-listen", wrk.metrics_listen,
                             "serve Prometheus metrics on HOST:PORT/metrics (needs "
                             "--metrics-token-file or --metrics-public)");
    auto* mt = w->add_option("--metrics-token-file", wrk.metrics_token_file,
                             "file holding the token scrapers send as Authorization: Bearer "
                             "(or set TASKMILL_METRICS_TOKEN)")
                   ->needs(ml);
    w->add_flag("--metrics-public", wrk.metrics_public,
                "serve /metrics without a token to whoever reaches HOST:PORT")
        ->needs(ml)
        ->excludes(mt);
    w->add_option("--listen-dsn", wrk.listen_dsn,
                  "a direct server connection for LISTEN when --dsn goes through a transaction "
                  "pooler such as PgBouncer (without one the worker polls there); password from "
                  "~/.pgpass or PGPASSFILE");
    w->callback([this] { run = [this](Ctx& c) { return cmd_worker(c, wrk); }; });
  }

  void dashboard_command() {
    auto* d = app.add_subcommand("dashboard", "serve the web dashboard and /metrics");
    d->add_option("--listen", dash.listen, "HOST:PORT (loopback unless told otherwise)")
        ->capture_default_str();
    d->add_option("--token-file", dash.token_file,
                  "file holding the access token every read and action needs (or set "
                  "TASKMILL_DASHBOARD_TOKEN); without one the dashboard is read-only, "
                  "readable by every local user, and loopback only");
    d->add_option("--interval", dash.interval, "seconds between samples")->capture_default_str();
    d->add_option("--allow-host", dash.allow_hosts,
                  "another HOST:PORT the browser may use to reach it (e.g. behind a proxy)");
    d->add_flag("--metrics-public", dash.metrics_public,
                "serve /metrics without the access token");
    d->add_flag("--redact-payloads", dash.redact_payloads,
                "never show payloads, results or error texts");
    d->callback([this] { run = [this](Ctx& c) { return cmd_dashboard(c, dash); }; });
  }
};

void print_error(bool json, const std::string& message, const std::string& code,
                 const std::string& sqlstate = "") {
  if (json) {
    taskmill::Json j{{"error", message}, {"code", code}};
    if (!sqlstate.empty()) j["sqlstate"] = sqlstate;
    std::cerr << j.dump() << "\n";
  } else {
    std::cerr << "taskmill: " << message << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  Cli cli;
  try {
    cli.app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return cli.app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return cli.app.exit(e);
  } catch (const CLI::ParseError& e) {
    print_error(cli.json, e.what(), "Usage");
    if (!cli.json) std::cerr << "Run with --help for more information.\n";
    return 2;
  }
  try {
    const std::string conninfo = resolve_conninfo(
        {.dsn = cli.dsn, .prompt = cli.prompt, .interactive = isatty(STDIN_FILENO) == 1});
    taskmill::ClientOptions options{.pool_size = 6};
    if (cli.wrk.listen_dsn)
      options.listen_conninfo = resolve_conninfo({.dsn = *cli.wrk.listen_dsn});
    taskmill::Client client(conninfo, options);
    Ctx ctx{client, cli.json};
    return cli.run(ctx);
  } catch (const std::invalid_argument& e) {  // a malformed --dsn
    print_error(cli.json, e.what(), "Usage");
    return 2;
  } catch (const Usage& e) {
    print_error(cli.json, e.what(), "Usage");
    return 2;
  } catch (const taskmill::Error& e) {
    print_error(cli.json, e.what(), std::string(taskmill::to_string(e.code())), e.sqlstate());
    return 1;
  } catch (const std::exception& e) {
    print_error(cli.json, e.what(), "Internal");
    return 1;
  }
}
