// `taskmill worker`: runs the example handlers (handlers.hpp) on one queue. Each handled
// task prints one line, or with --json one object: {"event": "task", "task_id", "queue",
// "operation", "attempt", "outcome", "duration_ms", "time", "error"}. --metrics-listen serves
// the worker's registry (metrics.hpp: counts by outcome, handler-time histograms) on /metrics,
// to scrapers that send the --metrics-token-file token, or to anyone with --metrics-public.
#include <iomanip>
#include <iostream>
#include <mutex>
#include <sstream>

#include <taskmill/metrics.hpp>
#include <taskmill/taskmill.hpp>

#include "../dashboard/metrics_server.hpp"
#include "commands.hpp"
#include "handlers.hpp"
#include "output.hpp"
#include "signals.hpp"

namespace taskmill::cli {

namespace {

Json event_json(const TaskEvent& e) {
  return {{"event", "task"},
          {"task_id", e.task_id},
          {"queue", e.queue},
          {"operation", e.operation},
          {"attempt", e.attempt},
          {"outcome", to_string(e.outcome)},
          {"duration_ms", std::chrono::duration<double, std::milli>(e.duration).count()},
          {"time", format_timestamp(e.finished_at)},
          {"error", e.error.empty() ? Json(nullptr) : Json(e.error)}};
}

std::string event_line(const TaskEvent& e) {
  std::ostringstream s;
  s << fmt_time(e.finished_at) << "  " << std::left << std::setw(13)
    << to_string(e.outcome) << " #" << e.task_id << " " << e.operation << " (attempt "
    << e.attempt << ", " << std::fixed << std::setprecision(1)
    << std::chrono::duration<double, std::milli>(e.duration).count() << " ms)";
  if (!e.error.empty()) s << ": " << e.error;
  return s.str();
}

}  // namespace

int cmd_worker(Ctx& c, const WorkerArgs& a) {
  std::optional<dashboard::ListenAddress> metrics_at;
  std::optional<std::string> metrics_token;
  if (a.metrics_listen) {
    try {
      metrics_at = dashboard::parse_listen(*a.metrics_listen);
    } catch (const std::invalid_argument& e) {
      throw Usage(std::string("--metrics-listen: ") + e.what());
    }
    // The metrics name the queue and its operations: served to whom holds the token, or
    // to anyone only when asked for.
    if (!a.metrics_public) {
      metrics_token = read_access_token(a.metrics_token_file, "TASKMILL_METRICS_TOKEN",
                                        "--metrics-token-file");
      if (!metrics_token)
        throw Usage("--metrics-listen needs --metrics-token-file FILE (or TASKMILL_METRICS_TOKEN; "
                    "scrapers send Authorization: Bearer TOKEN) or --metrics-public (anyone who "
                    "reaches " + metrics_at->text() + " reads the metrics)");
    }
  }
  std::mutex out_mu;
  metrics::Registry registry;
  metrics::WorkerMetrics worker_metrics(registry);
  WorkerOptions o;
  o.concurrency = a.concurrency;
  o.batch_size = a.batch_size;
  o.poll_interval = std::chrono::milliseconds(a.poll_interval);
  o.visibility_timeout = std::chrono::milliseconds(a.visibility_timeout);
  o.process_timeout = std::chrono::milliseconds(a.process_timeout);
  o.task_group_id = a.group;
  o.on_task_event = [&, json = c.json](const TaskEvent& e) {
    worker_metrics.record(e);
    std::lock_guard lk(out_mu);
    std::cout << (json ? event_json(e).dump() : event_line(e)) << std::endl;
  };
  o.on_error = [&out_mu](const std::string& message) {
    std::lock_guard lk(out_mu);
    std::cerr << "worker: " << message << " (retrying)" << std::endl;
  };

  auto signals = block_stop_signals();
  std::unique_ptr<dashboard::MetricsServer> metrics_server;
  if (metrics_at)
    metrics_server = std::make_unique<dashboard::MetricsServer>(registry, *metrics_at, metrics_token);

  Worker worker(c.client, a.queue, o);
  register_example_handlers(worker, [](const std::string&) {});  // events say it all
  worker.start();
  if (!c.json) {
    std::cerr << "worker: processing queue \"" << a.queue << "\" (Ctrl-C stops)";
    if (metrics_at)
      std::cerr << "; metrics on http://" << metrics_at->text() << "/metrics"
                << (metrics_token ? " (with the token)" : " (public)");
    std::cerr << "\n";
  }
  Console con(c.client);
  while (!wait_stop_signal(signals, 200)) {
    if (a.until_empty) {
      auto s = con.stats(a.queue);
      if (s.available + s.in_flight + s.scheduled == 0) break;
    }
  }
  worker.stop();
  if (!c.json) std::cerr << "worker: stopped\n";
  return 0;
}

}  // namespace taskmill::cli
