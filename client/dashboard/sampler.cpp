// Sampler (sampler.hpp). Each pass runs three statements on one pooled connection:
//   1. per queue: taskmill.queue_stats and the results completed since the last pass
//      (taskmill.list_results with completed_after = the newest completed_at seen), with
//      their count and median / 95th percentile of completed_at - scheduled_at;
//   2. per queue, from the tables (needs SELECT on them; skipped for good after a
//      permission error): the oldest available task's age, tasks that appeared since the last
//      pass (ids above the last pass's highest) and tasks dead-lettered since then;
//   3. taskmill.health, taskmill.table_health and taskmill.xmin_holders.
// Counters are observed: they count what the sampler saw appear between two passes, from the
// dashboard's start (Prometheus' rate() needs nothing more). A task both enqueued and
// finished ephemerally between two passes is not seen.
#include "sampler.hpp"

#include <algorithm>
#include <cmath>

#include <taskmill/error.hpp>

namespace taskmill::dashboard {

namespace {

double unix_now() {
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

std::optional<double> opt_double(const Result& r, int row, const char* col) {
  if (r.is_null(row, col)) return std::nullopt;
  return std::stod(std::string(r.get(row, col)));
}

constexpr const char* kQueuesSql = R"SQL(
SELECT q.queue_name, s.available, s.in_flight, s.scheduled, s.retrying, s.in_dlq, s.total,
       r.completed, r.p50, r.p95, r.last_completed_at, pg_catalog.now() AS now
FROM taskmill.list_queues() AS q
CROSS JOIN LATERAL taskmill.queue_stats(q.queue_name) AS s
CROSS JOIN LATERAL (
  SELECT pg_catalog.count(*) AS completed,
         pg_catalog.date_part('epoch', pg_catalog.percentile_cont(0.5)
           WITHIN GROUP (ORDER BY x.completed_at - x.scheduled_at)) AS p50,
         pg_catalog.date_part('epoch', pg_catalog.percentile_cont(0.95)
           WITHIN GROUP (ORDER BY x.completed_at - x.scheduled_at)) AS p95,
         pg_catalog.max(x.completed_at) AS last_completed_at
  FROM taskmill.list_results(q.queue_name, $1::timestamptz, NULL, 1000000) AS x
  WHERE $1 IS NOT NULL) AS r
ORDER BY q.queue_name
)SQL";

constexpr const char* kTablesSql = R"SQL(
WITH w AS (
  SELECT GREATEST((SELECT pg_catalog.max(t.id) FROM taskmill.tasks t),
                  (SELECT pg_catalog.max(r.id) FROM taskmill.task_results r),
                  $1::bigint) AS max_id,
         GREATEST((SELECT pg_catalog.max(t.dlq_at) FROM taskmill.tasks t WHERE t.dlq_at IS NOT NULL),
                  $2::timestamptz) AS max_dlq)
SELECT q.queue_name,
       (SELECT pg_catalog.date_part('epoch', pg_catalog.now() - pg_catalog.min(t.visible_at))
        FROM taskmill.tasks t
        WHERE t.queue_name = q.queue_name AND t.dlq_at IS NULL
          AND t.visible_at <= pg_catalog.now()) AS oldest_available_s,
       (SELECT pg_catalog.count(*) FROM taskmill.tasks t
        WHERE t.queue_name = q.queue_name AND t.id > $1 AND t.id <= w.max_id)
     + (SELECT pg_catalog.count(*) FROM taskmill.task_results r
        WHERE r.queue_name = q.queue_name AND r.id > $1 AND r.id <= w.max_id) AS enqueued,
       (SELECT pg_catalog.count(*) FROM taskmill.tasks t
        WHERE t.queue_name = q.queue_name AND t.dlq_at > $2
          AND t.dlq_at <= w.max_dlq) AS dead_lettered,
       w.max_id, w.max_dlq
FROM taskmill.list_queues() AS q, w
)SQL";

constexpr const char* kHealthSql = R"SQL(
SELECT (SELECT pg_catalog.to_jsonb(h) FROM taskmill.health h) AS health,
       (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(t) ORDER BY t.table_name), '[]')
        FROM taskmill.table_health t) AS tables,
       (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)), '[]')
        FROM (SELECT * FROM taskmill.xmin_holders h
              -- not this sampling statement's own snapshot
              WHERE NOT (h.kind = 'backend'
                         AND pg_catalog.split_part(h.holder, ' ', 1) = pg_catalog.pg_backend_pid()::text)
              LIMIT 20) x) AS xmin_holders
)SQL";

}  // namespace

Sampler::Sampler(Client& client, metrics::Registry& registry, std::chrono::milliseconds interval,
                 std::size_t history)
    : client_(client), registry_(registry), interval_(interval), history_(history) {
  thread_ = std::jthread([this](std::stop_token st) { loop(st); });
}

Sampler::~Sampler() {
  thread_.request_stop();
  wake_.notify_all();
}

void Sampler::loop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    pass();
    std::unique_lock lk(wait_mu_);
    wake_.wait_for(lk, stop, interval_, [] { return false; });
  }
}

void Sampler::pass() {
  const double now = unix_now();
  const double dt = last_pass_ > 0 ? std::max(now - last_pass_, 0.001) : 0;
  try {
    auto lease = client_.acquire();
    if (!completed_after_) {  // the first pass counts from now on, not the whole history
      auto r = lease->exec("SELECT pg_catalog.now()::text");
      completed_after_ = std::string(r.get(0, 0));
    }
    if (tables_readable_) {
      try {
        pass_tables(*lease, dt);
      } catch (const Error& e) {
        if (e.sqlstate() != "42501") throw;
        tables_readable_ = false;  // a role without SELECT on the tables: functions only
        oldest_.clear();
        enqueued_rate_.clear();
      }
    }
    pass_queues(*lease, now, dt);
    pass_health(*lease);
    last_pass_ = now;
    std::lock_guard lk(mu_);
    error_.reset();
    sampled_at_ = now;
  } catch (const std::exception& e) {
    registry_.counter("taskmill_dashboard_sample_errors_total",
                      "Sampling passes of the dashboard that failed.").inc();
    std::lock_guard lk(mu_);
    error_ = e.what();
  }
  registry_.gauge("taskmill_dashboard_last_sample_timestamp_seconds",
                  "Unix time of the dashboard's last successful sampling pass.")
      .set(sampled_at_);
}

void Sampler::pass_queues(Connection& conn, double now, double dt) {
  auto r = conn.exec(kQueuesSql, *completed_after_);
  std::optional<std::string> newest = completed_after_;
  std::lock_guard lk(mu_);
  for (auto& [_, q] : queues_) q.seen = false;
  for (int i = 0; i < r.rows(); ++i) {
    std::string name(r.get(i, "queue_name"));
    auto& q = queues_[name];
    q.seen = true;
    auto old_it = oldest_.find(name);
    q.oldest_available_s = old_it == oldest_.end() ? std::nullopt : old_it->second;
    q.counts = Json::object();
    for (const char* state : {"available", "in_flight", "scheduled", "retrying", "in_dlq", "total"}) {
      auto n = r.get_int64(i, state);
      q.counts[state] = n;
      if (std::string(state) != "total")
        registry_
            .gauge("taskmill_queue_tasks", "Tasks of a queue by state (taskmill.queue_stats).",
                   {{"queue", name}, {"state", state}})
            .set(static_cast<double>(n));
    }
    const auto completed = r.get_int64(i, "completed");
    if (completed > 0) {
      registry_
          .counter("taskmill_queue_completed_total",
                   "Completed tasks (task_results rows) the dashboard saw appear, by queue.",
                   {{"queue", name}})
          .inc(static_cast<double>(completed));
      auto last = r.opt(i, "last_completed_at");
      if (last && (!newest || *last > *newest)) newest = last;  // ISO text, UTC: sorts as time
    }
    if (dt > 0) {
      Point p{now, completed / dt, enqueued_rate_.contains(name) ? enqueued_rate_[name] : 0.0,
              std::nullopt, std::nullopt};
      if (auto v = opt_double(r, i, "p50")) p.p50_ms = *v * 1000.0;
      if (auto v = opt_double(r, i, "p95")) p.p95_ms = *v * 1000.0;
      q.history.push_back(p);
      while (q.history.size() > history_) q.history.pop_front();
    }
  }
  completed_after_ = newest;
  for (auto& [name, q] : queues_)
    if (!q.seen) {
      q.counts = Json::object();
      q.oldest_available_s.reset();
      for (const char* state : {"available", "in_flight", "scheduled", "retrying", "in_dlq"})
        registry_.gauge("taskmill_queue_tasks", "", {{"queue", name}, {"state", state}}).set(0);
    }
}

void Sampler::pass_tables(Connection& conn, double dt) {
  auto r = conn.exec(kTablesSql, max_task_id_, dlq_after_);
  const bool baseline = !max_task_id_;
  oldest_.clear();
  for (int i = 0; i < r.rows(); ++i) {
    std::string name(r.get(i, "queue_name"));
    auto age = opt_double(r, i, "oldest_available_s");
    oldest_[name] = age;
    registry_
        .gauge("taskmill_queue_oldest_available_age_seconds",
               "Age of the oldest task of a queue that a worker could take now (0: none).",
               {{"queue", name}})
        .set(age.value_or(0.0));
    if (!baseline) {
      auto enq = r.get_int64(i, "enqueued");
      auto dead = r.get_int64(i, "dead_lettered");
      registry_
          .counter("taskmill_queue_enqueued_total",
                   "Tasks the dashboard saw appear in a queue (new task ids), by queue.",
                   {{"queue", name}})
          .inc(static_cast<double>(enq));
      registry_
          .counter("taskmill_queue_dead_lettered_total",
                   "Tasks the dashboard saw move to the dead-letter queue, by queue.",
                   {{"queue", name}})
          .inc(static_cast<double>(dead));
      enqueued_rate_[name] = dt > 0 ? enq / dt : 0.0;
    }
    if (!r.is_null(i, "max_id")) max_task_id_ = std::string(r.get(i, "max_id"));
    if (!r.is_null(i, "max_dlq")) dlq_after_ = std::string(r.get(i, "max_dlq"));
  }
  if (baseline && !max_task_id_) max_task_id_ = "0";
  if (baseline && !dlq_after_) dlq_after_ = *completed_after_;
}

void Sampler::pass_health(Connection& conn) {
  auto r = conn.exec(kHealthSql);
  Json health = r.get_json(0, "health");
  Json tables = r.get_json(0, "tables");
  Json holders = r.get_json(0, "xmin_holders");
  if (health.is_object()) {
    if (health["notify_queue_usage"].is_number())
      registry_
          .gauge("taskmill_notify_queue_usage_ratio",
                 "Fraction of the NOTIFY queue in use (pg_notification_queue_usage).")
          .set(health["notify_queue_usage"].get<double>());
    registry_
        .gauge("taskmill_oldest_xmin_age_transactions",
               "Age in transactions of the oldest xmin holding back vacuum (0: none).")
        .set(health["oldest_xmin_age"].is_number() ? health["oldest_xmin_age"].get<double>() : 0);
  }
  for (auto& t : tables) {
    std::string name = t.value("table_name", "");
    if (t["dead_tuples"].is_number())
      registry_
          .gauge("taskmill_table_dead_tuples", "Dead tuples of a taskmill table.",
                 {{"table", name}})
          .set(t["dead_tuples"].get<double>());
    if (t["total_bytes"].is_number())
      registry_
          .gauge("taskmill_table_size_bytes", "Size of a taskmill table with its indexes and TOAST.",
                 {{"table", name}})
          .set(t["total_bytes"].get<double>());
  }
  Json out = {{"health", health}, {"tables", tables}, {"xmin_holders", holders}};
  std::lock_guard lk(mu_);
  health_json_ = out.dump();
}

std::string Sampler::overview() const {
  std::lock_guard lk(mu_);
  Json queues = Json::array();
  for (auto& [name, q] : queues_) {
    if (!q.seen) continue;
    Json hist = Json::array();
    for (auto& p : q.history)
      hist.push_back({{"t", p.t},
                      {"throughput", p.throughput},
                      {"enqueued", p.enqueued},
                      {"latency_p50_ms", p.p50_ms ? Json(*p.p50_ms) : Json(nullptr)},
                      {"latency_p95_ms", p.p95_ms ? Json(*p.p95_ms) : Json(nullptr)}});
    queues.push_back({{"queue", name},
                      {"counts", q.counts},
                      {"oldest_available_s",
                       q.oldest_available_s ? Json(*q.oldest_available_s) : Json(nullptr)},
                      {"history", hist}});
  }
  return Json{{"sampled_at", sampled_at_},
              {"interval_ms", interval_.count()},
              {"error", error_ ? Json(*error_) : Json(nullptr)},
              {"tables_readable", tables_readable_.load()},
              {"queues", queues}}
      .dump();
}

std::string Sampler::health() const {
  std::lock_guard lk(mu_);
  Json oldest = Json::array();
  for (auto& [name, q] : queues_)
    if (q.seen)
      oldest.push_back({{"queue", name},
                        {"age_s", q.oldest_available_s ? Json(*q.oldest_available_s) : Json(nullptr)},
                        {"available", q.counts.value("available", 0)}});
  Json h = Json::parse(health_json_);
  if (!h.is_object()) h = Json::object();
  h["oldest"] = oldest;
  return h.dump();
}

}  // namespace taskmill::dashboard
