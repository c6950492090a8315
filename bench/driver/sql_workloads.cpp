// Workloads that measure the SQL surface directly over libpq: enqueue (single, batch),
// dequeue throughput, dequeue time by queue depth, EXPLAIN of the hot statements, FIFO groups.
#include <random>
#include <set>
#include <sstream>

#include "common.hpp"
#include "workloads.hpp"

namespace bench {

// ---------------------------------------------------------------- enqueue, one per transaction
void wl_enqueue_single_libpq(const Opts& o) {
  const long n = o.num("n", 20000);
  const int clients = (int)o.num("clients", 1);
  const std::string queue = o.queue();
  std::atomic<long> next{0};
  std::vector<std::thread> th;
  std::vector<std::unique_ptr<Conn>> conns;
  for (int i = 0; i < clients; ++i) {
    conns.push_back(std::make_unique<Conn>(o.conninfo()));
    conns.back()->prepare("enq", "SELECT taskmill.enqueue($1, $2, $3::jsonb)", 3);
  }
  auto t0 = SteadyClock::now();
  for (int i = 0; i < clients; ++i)
    th.emplace_back([&, i] {
      for (;;) {
        long k = next++;
        if (k >= n) return;
        conns[i]->exec_prepared("enq", {queue, std::string("noop"), "{\"i\":" + std::to_string(k) + "}"});
      }
    });
  for (auto& t : th) t.join();
  double s = secs_since(t0);
  emit({{"workload", "enqueue_single"}, {"impl", "libpq"}, {"clients", clients}, {"n", n}, {"seconds", r3(s)},
        {"jobs_per_s", std::lround(n / s)}, {"settings", "SELECT taskmill.enqueue($1,$2,$3) prepared, autocommit, 1 task/tx"}});
}

// ---------------------------------------------------------------- enqueue in batches
void wl_enqueue_batch_libpq(const Opts& o) {
  const long n = o.num("n", 20000);
  const long batch = o.num("batch", 1000);
  const std::string queue = o.queue();
  Conn c(o.conninfo());
  c.prepare("enqb", "SELECT count(*) FROM (SELECT taskmill.enqueue_batch($1, $2::jsonb)) s", 2);
  // Build the JSON outside the timed loop? No: a real producer builds it too; time it all.
  auto t0 = SteadyClock::now();
  for (long i = 0; i < n; i += batch) {
    long m = std::min(batch, n - i);
    c.exec_prepared("enqb", {queue, batch_json(i, m, Spec{})});
  }
  double s = secs_since(t0);
  emit({{"workload", "enqueue_batch"}, {"impl", "libpq"}, {"clients", 1}, {"n", n}, {"batch", batch}, {"seconds", r3(s)},
        {"jobs_per_s", std::lround(n / s)}, {"settings", "SELECT taskmill.enqueue_batch($1, $2::jsonb), 1 batch/tx"}});
}

// ---------------------------------------------------------------- dequeue throughput
// mode "claim": dequeue only (rows stay in flight); mode "cycle": dequeue then ack the batch
// in a second round trip (two transactions, as a worker does).
void wl_dequeue(const Opts& o) {
  const long n = o.num("n", 20000);
  const long batch = o.num("batch", 1);
  const int clients = (int)o.num("clients", 1);
  const std::string mode = o.get("mode", "claim");
  const std::string queue = o.queue();
  {
    Conn c(o.conninfo());
    reset_tables(c);
    prefill(c, queue, n);
    c.script("VACUUM ANALYZE taskmill.tasks");
    c.script("CHECKPOINT");
  }
  bool ack_many = false;
  {
    Conn c(o.conninfo());
    ack_many = has_function(c, "ack_many");
  }
  std::vector<std::unique_ptr<Conn>> conns;
  for (int i = 0; i < clients; ++i) {
    conns.push_back(std::make_unique<Conn>(o.conninfo()));
    conns.back()->prepare("deq", "SELECT id, lease FROM taskmill.dequeue($1, $2::int, $3::interval)", 3);
    prepare_ack_all(*conns.back(), ack_many);
  }
  std::atomic<long> got{0};
  std::vector<std::vector<double>> lat(clients);
  std::vector<std::thread> th;
  auto t0 = SteadyClock::now();
  for (int i = 0; i < clients; ++i)
    th.emplace_back([&, i] {
      std::vector<std::string> ids, leases;
      for (;;) {
        auto a = SteadyClock::now();
        Res r = conns[i]->exec_prepared("deq", {queue, std::to_string(batch), std::string("1 hour")});
        lat[i].push_back(ms_between(a, SteadyClock::now()));
        if (r.rows() == 0) return;
        got += r.rows();
        if (mode == "cycle") {
          ids.clear();
          leases.clear();
          for (int k = 0; k < r.rows(); ++k) {
            ids.push_back(r.str(k, 0));
            leases.push_back(r.str(k, 1));
          }
          ack_all(*conns[i], ids, leases);
        }
      }
    });
  for (auto& t : th) t.join();
  double s = secs_since(t0);
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  emit({{"workload", mode == "cycle" ? "dequeue_ack" : "dequeue"}, {"impl", "libpq"}, {"clients", clients}, {"n", n},
        {"batch", batch}, {"rows", got.load()}, {"seconds", r3(s)}, {"jobs_per_s", std::lround(got / s)},
        {"call_p50_ms", r3(pct(all, 50))}, {"call_p99_ms", r3(pct(all, 99))},
        {"settings", mode == "cycle" ? std::string("dequeue(q, batch) then ") + (ack_many ? "ack_many" : "acks") +
                                           " in one statement, 2 tx per batch"
                                     : "SELECT id, lease FROM taskmill.dequeue(q, batch), 1 tx per call"}});
}

// ---------------------------------------------------------------- dequeue time by depth
static void measure_depth(Conn& c, const std::string& queue, long depth, const std::string& variant, long ops,
                          bool ack_many) {
  c.script("VACUUM ANALYZE taskmill.tasks");
  c.script("CHECKPOINT");
  std::vector<double> lat;
  lat.reserve(ops);
  // warm-up: a few calls so the saved plans exist
  for (int w = 0; w < 5; ++w) {
    Res r = c.exec_prepared("deq1", {queue});
    if (r.rows()) ack_all(c, {r.str(0, 0)}, {r.str(0, 1)});
  }
  for (long k = 0; k < ops; ++k) {
    auto a = SteadyClock::now();
    Res r = c.exec_prepared("deq1", {queue});
    lat.push_back(ms_between(a, SteadyClock::now()));
    if (r.rows() == 0) break;
    ack_all(c, {r.str(0, 0)}, {r.str(0, 1)});
  }
  double mean = 0;
  for (double x : lat) mean += x;
  mean /= std::max<size_t>(1, lat.size());
  emit({{"workload", "dequeue_depth"}, {"impl", "libpq"}, {"depth", depth}, {"variant", variant},
        {"ops", (long)lat.size()}, {"p50_ms", r3(pct(lat, 50))}, {"p99_ms", r3(pct(lat, 99))}, {"mean_ms", r3(mean)},
        {"settings", "dequeue(q, 1) timed, ack untimed; VACUUM ANALYZE before"}});
  logf("depth " + std::to_string(depth) + " " + variant + " p50 " + std::to_string(pct(lat, 50)) + " ms");
}

// Claim n tasks 1,000 at a time and nack each: with backoff (an interval) they wait for a
// retry; without, the default backoff, which dead-letters tasks of max_attempts 1.
static void claim_and_nack(Conn& c, const std::string& queue, long n, const std::string& backoff) {
  const std::string nack = backoff.empty() ? "taskmill.nack(x.id, x.lease, 'bench')"
                                           : "taskmill.nack(x.id, x.lease, 'bench', '" + backoff + "'::interval)";
  for (long k = 0; k < n; k += 1000) {
    Res r = c.exec("SELECT id, lease FROM taskmill.dequeue($1, 1000, '1 hour'::interval)", {queue});
    std::vector<std::string> ids, leases;
    for (int i = 0; i < r.rows(); ++i) {
      ids.push_back(r.str(i, 0));
      leases.push_back(r.str(i, 1));
    }
    c.exec("SELECT count(" + nack + ") FROM unnest($1::bigint[], $2::uuid[]) x(id, lease)",
           {array_literal(ids), array_literal(leases)});
  }
}

void wl_depth(const Opts& o) {
  const std::string queue = o.queue();
  std::vector<long> depths;
  {
    std::stringstream ss(o.get("depths", "1000,10000,100000,1000000"));
    std::string t;
    while (std::getline(ss, t, ',')) depths.push_back(std::stol(t));
  }
  const long ops = o.num("ops", 500);
  const long side = o.num("side", 10000);
  const long side_depth = o.num("side-depth", 100000);
  Conn c(o.conninfo());
  bool ack_many = has_function(c, "ack_many");
  c.prepare("deq1", "SELECT id, lease FROM taskmill.dequeue($1, 1, '1 hour'::interval)", 1);
  prepare_ack_all(c, ack_many);
  for (long d : depths) {
    reset_tables(c);
    prefill(c, queue, d + ops + 5, Spec{}, 10000);
    measure_depth(c, queue, d, "available", ops, ack_many);
  }
  // side_depth available, plus `side` in flight ahead of them in (priority, id) order
  {
    reset_tables(c);
    prefill(c, queue, side, Spec{}, 10000);
    for (long k = 0; k < side; k += 1000) c.exec("SELECT count(*) FROM taskmill.dequeue($1, 1000, '1 hour'::interval)", {queue});
    prefill(c, queue, side_depth + ops + 5, Spec{}, 10000);
    measure_depth(c, queue, side_depth, "plus_in_flight_" + std::to_string(side), ops, ack_many);
  }
  // side_depth available, plus `side` in the DLQ ahead of them
  {
    reset_tables(c);
    Spec s;
    s.max_attempts = 1;
    prefill(c, queue, side, s, 10000);
    claim_and_nack(c, queue, side, "");
    logf("dlq now " + scalar_text(c, "SELECT count(*) FROM taskmill.tasks WHERE dlq_at IS NOT NULL"));
    prefill(c, queue, side_depth + ops + 5, Spec{}, 10000);
    measure_depth(c, queue, side_depth, "plus_dlq_" + std::to_string(side), ops, ack_many);
  }
  // side_depth available, plus `side` scheduled in the future (nacked, waiting for retry)
  {
    reset_tables(c);
    prefill(c, queue, side, Spec{}, 10000);
    claim_and_nack(c, queue, side, "1 hour");
    prefill(c, queue, side_depth + ops + 5, Spec{}, 10000);
    measure_depth(c, queue, side_depth, "plus_retrying_" + std::to_string(side), ops, ack_many);
  }
  // side_depth available beside `waiting` waiting for a retry (claimed and nacked with a
  // 1-hour delay, 10k per statement), then beside `waiting` scheduled for an hour later
  // (issue 12: dequeue cost independent of how many wait)
  const long waiting = o.num("waiting", 0);
  if (waiting > 0) {
    reset_tables(c);
    prefill(c, queue, waiting, Spec{}, 10000);
    for (long k = 0; k < waiting; k += 10000)
      c.exec("SELECT count(taskmill.nack(d.id, d.lease, 'bench', '1 hour'::interval)) "
          "FROM taskmill.dequeue($1, 10000, '1 hour'::interval) d",
          {queue});
    prefill(c, queue, side_depth + ops + 5, Spec{}, 10000);
    measure_depth(c, queue, side_depth, "plus_retrying_" + std::to_string(waiting), ops, ack_many);

    reset_tables(c);
    for (long k = 0; k < waiting; k += 10000)
      c.exec("SELECT count(*) FROM (SELECT taskmill.enqueue_arrays($1, array_fill('noop'::text, ARRAY[$2::int]), "
          "scheduled_ats => array_fill(now() + interval '1 hour', ARRAY[$2::int]))) s",
          {queue, std::to_string(std::min(10000L, waiting - k))});
    prefill(c, queue, side_depth + ops + 5, Spec{}, 10000);
    measure_depth(c, queue, side_depth, "plus_scheduled_" + std::to_string(waiting), ops, ack_many);
  }
  reset_tables(c);
}

// ---------------------------------------------------------------- EXPLAIN of the hot statements
// The hot statements run inside the extension's C functions through SPI, so a plain EXPLAIN of
// `SELECT taskmill.dequeue(...)` shows only a function scan. auto_explain with
// log_nested_statements logs the plan of every statement the functions run, and with
// log_level = notice those plans arrive at this client as notices.
void wl_explain(const Opts& o) {
  const std::string queue = o.queue();
  const long depth = o.num("depth", 100000);
  Conn c(o.conninfo());
  reset_tables(c);
  prefill(c, queue, depth, Spec{}, 10000);
  Spec g;
  g.groups = 100;
  prefill(c, queue + "_fifo", 10000, g, 10000);
  c.script("VACUUM ANALYZE taskmill.tasks");
  bool ack_many = has_function(c, "ack_many");
  std::vector<std::string> notices;
  c.on_notice([&](const char* m) { notices.emplace_back(m); });
  c.script("LOAD 'auto_explain'");
  c.script("SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on; SET auto_explain.log_buffers = on;"
         "SET auto_explain.log_nested_statements = on; SET auto_explain.log_level = notice;"
         "SET auto_explain.log_timing = on; SET client_min_messages = notice");
  Json out = Json::array();
  std::string full;
  auto run = [&](const std::string& name, const std::string& sql, const std::vector<std::optional<std::string>>& p) -> Res {
    // twice: the first call of a session may plan differently from the saved plan used after
    Res r;
    int reps = (int)o.num("reps", 6);
    for (int i = 0; i < reps; ++i) {
      notices.clear();
      r = c.exec(sql, p);
    }
    std::set<std::string> nodes;
    bool seq = false;
    std::string text;
    int plans = 0;
    for (auto& m : notices) {
      if (m.find("Query Text:") == std::string::npos) continue;
      // Skip the top-level statement (it is the bench's own SELECT around the function).
      if (m.find(sql.substr(0, 40)) != std::string::npos) continue;
      ++plans;
      text += m;
      std::istringstream ls(m);
      std::string line;
      while (std::getline(ls, line)) {
        if (line.find("Seq Scan on") != std::string::npos) seq = true;
        for (const char* k : {"Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Bitmap Index Scan", "Seq Scan",
                              "LockRows", "Limit", "Sort", "Insert", "Update", "Delete", "Result", "Function Scan",
                              "Nested Loop", "Hash Join", "Aggregate"})
          if (line.find(k) != std::string::npos) nodes.insert(k);
      }
    }
    full += "==== " + name + ": " + sql + "\n" + text + "\n";
    out.push_back({{"statement", name}, {"sql", sql}, {"nested_plans", plans}, {"seq_scan", seq},
                   {"nodes", std::vector<std::string>(nodes.begin(), nodes.end())}});
    logf("explain " + name + ": " + std::to_string(plans) + " plans, seq_scan=" + (seq ? "YES" : "no"));
    return r;
  };
  run("enqueue", "SELECT taskmill.enqueue($1, 'noop', '{\"i\":1}'::jsonb)", {queue});
  run("enqueue_idempotent", "SELECT taskmill.enqueue($1, 'noop', NULL, idempotency_key => md5(random()::text))", {queue});
  run("enqueue_batch_100", "SELECT count(*) FROM (SELECT taskmill.enqueue_batch($1, $2::jsonb)) s",
      {queue, batch_json(0, 100, Spec{})});
  run("dequeue_1", "SELECT id, lease FROM taskmill.dequeue($1, 1, '1 hour'::interval)", {queue});
  Res d = run("dequeue_100", "SELECT id, lease FROM taskmill.dequeue($1, 100, '1 hour'::interval)", {queue});
  run("dequeue_fifo_10", "SELECT id, lease FROM taskmill.dequeue($1, 10, '1 hour'::interval)", {queue + "_fifo"});
  // ack / nack / extend need fresh deliveries each rep: use a deliver-and-act single statement
  run("ack", "SELECT taskmill.ack(d.id, d.lease) FROM taskmill.dequeue($1, 1, '1 hour'::interval) d", {queue});
  run("nack", "SELECT taskmill.nack(d.id, d.lease, 'bench') FROM taskmill.dequeue($1, 1, '1 hour'::interval) d", {queue});
  run("extend_visibility",
      "SELECT taskmill.extend_visibility(d.id, d.lease, '1 hour'::interval) FROM taskmill.dequeue($1, 1, '1 hour'::interval) d",
      {queue});
  if (ack_many)
    run("ack_many_100",
        "SELECT taskmill.ack_many(array_agg(d.id), array_agg(d.lease)) FROM taskmill.dequeue($1, 100, '1 hour'::interval) d",
        {queue});
  if (has_function(c, "queue_stats")) run("queue_stats", "SELECT * FROM taskmill.queue_stats($1)", {queue});
  c.on_notice(nullptr);
  bool any_seq = false;
  for (auto& e : out) any_seq = any_seq || e["seq_scan"].get<bool>();
  emit({{"workload", "explain"}, {"depth", depth}, {"any_seq_scan", any_seq}, {"statements", out}});
  std::string path = o.get("plans-out", "");
  if (!path.empty()) {
    FILE* f = fopen(path.c_str(), "w");
    if (f) {
      fwrite(full.data(), 1, full.size(), f);
      fclose(f);
    }
  }
}

// ---------------------------------------------------------------- FIFO lock contention
void wl_fifo(const Opts& o) {
  const long n = o.num("n", 5000);
  const long groups = o.num("groups", 1);
  const int workers = (int)o.num("workers", 4);
  const long batch = o.num("batch", 10);
  const long empty_sleep_us = o.num("empty-sleep-us", 1000);
  // > 0: an idle loop's pause doubles after each empty dequeue, up to this, and is reset by
  // a delivery: idle workers back off as the Worker does (it waits for its poll interval
  // or a NOTIFY), so that loops waiting on a busy group leave the CPU to the one that holds it
  const long empty_backoff_max_us = o.num("empty-backoff-max-us", 0);
  // combined: one ack_dequeue call per round (acks the previous batch, claims the next:
  // one transaction per batch); else dequeue then ack_many (two)
  const bool combined = o.flag("combined");
  const std::string queue = o.queue();
  {
    Conn c(o.conninfo());
    reset_tables(c);
    Spec s;
    s.groups = groups;  // 0: ungrouped, the same loop's non-FIFO reference
    prefill(c, queue, n, s, 5000);
    c.script("VACUUM ANALYZE taskmill.tasks");
    c.script("CHECKPOINT");
  }
  bool ack_many;
  {
    Conn c(o.conninfo());
    ack_many = has_function(c, "ack_many");
  }
  std::atomic<long> done{0}, empty{0}, calls{0};
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> lat(workers);
  std::vector<std::unique_ptr<Conn>> conns;
  for (int i = 0; i < workers; ++i) {
    std::string ci = o.conninfo() + " application_name=tm-bench-fifo";
    conns.push_back(std::make_unique<Conn>(ci));
    conns.back()->prepare("deq", "SELECT id, lease FROM taskmill.dequeue($1, $2::int, '1 hour'::interval)", 2);
    prepare_ack_all(*conns.back(), ack_many);
    if (combined) prepare_ack_dequeue(*conns.back(), "1 hour");
  }
  // sampler: how many of the workers' backends wait on a lock, every 5 ms
  long samples = 0, waiting = 0, active = 0;
  std::map<std::string, long> events;
  std::thread sampler([&] {
    Conn s(o.conninfo());
    s.prepare("w",
              "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU'), count(*) FROM pg_stat_activity "
              "WHERE application_name = 'tm-bench-fifo' AND state = 'active' GROUP BY 1",
              0);
    while (!stop) {
      Res r = s.exec_prepared("w");
      ++samples;
      for (int k = 0; k < r.rows(); ++k) {
        long cnt = r.i64(k, 1);
        active += cnt;
        events[r.str(k, 0)] += cnt;
        if (r.str(k, 0).rfind("Lock:", 0) == 0) waiting += cnt;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  auto t0 = SteadyClock::now();
  std::vector<std::thread> th;
  for (int i = 0; i < workers; ++i)
    th.emplace_back([&, i] {
      std::vector<std::string> ids, leases;
      long pause_us = empty_sleep_us;
      while (done < n) {
        auto a = SteadyClock::now();
        Res r = combined ? ack_dequeue(*conns[i], queue, batch, ids, leases)
                         : conns[i]->exec_prepared("deq", {queue, std::to_string(batch)});
        lat[i].push_back(ms_between(a, SteadyClock::now()));
        ++calls;
        if (combined) {
          done += (long)ids.size();  // acked by this call
          ids.clear();
          leases.clear();
        }
        if (r.rows() == 0) {
          ++empty;  // the group's head is in flight elsewhere: poll again after a short pause
          std::this_thread::sleep_for(std::chrono::microseconds(pause_us));
          if (empty_backoff_max_us > 0) pause_us = std::min(pause_us * 2, empty_backoff_max_us);
          continue;
        }
        pause_us = empty_sleep_us;
        ids.clear();
        leases.clear();
        for (int k = 0; k < r.rows(); ++k) {
          ids.push_back(r.str(k, 0));
          leases.push_back(r.str(k, 1));
        }
        if (!combined) {
          ack_all(*conns[i], ids, leases);
          done += r.rows();
        }
      }
      if (combined && !ids.empty()) done += (long)ack_all(*conns[i], ids, leases);
    });
  for (auto& t : th) t.join();
  double s = secs_since(t0);
  stop = true;
  sampler.join();
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  Json ev = Json::object();
  for (auto& [k, v] : events) ev[k] = v;
  emit({{"workload", "fifo"}, {"impl", "libpq"}, {"groups", groups}, {"workers", workers}, {"batch", batch}, {"n", n},
        {"combined", combined},
        {"seconds", r3(s)}, {"jobs_per_s", std::lround(n / s)}, {"dequeue_calls", calls.load()},
        {"empty_dequeues", empty.load()}, {"dequeue_p50_ms", r3(pct(all, 50))}, {"dequeue_p99_ms", r3(pct(all, 99))},
        {"lock_wait_fraction", samples ? r3((double)waiting / (double)(samples * workers)) : 0.0},
        {"active_backends_avg", samples ? r3((double)active / (double)samples) : 0.0}, {"wait_events", ev},
        {"settings", std::string(combined ? "libpq loops: ack_dequeue(q, batch, previous batch's ids and leases), one "
                                            "transaction per batch"
                                          : "libpq loops: dequeue(q, batch) then ack in one statement") +
                         (empty_backoff_max_us > 0 ? "; empty poll retried after a pause doubling from empty_sleep_us to empty_backoff_max_us"
                                                    : "; empty poll retried after empty_sleep_us") +
                         std::string("; pg_stat_activity sampled every 5 ms")},
        {"empty_sleep_us", empty_sleep_us}, {"empty_backoff_max_us", empty_backoff_max_us}});
}

}  // namespace bench
