// Workloads of the consumer side through the real C++ Worker (when the client library is
// built in: TASKMILL_BENCH_HAVE_CLIENT), else through an equivalent libpq loop, labelled
// impl "libpq-loop" in the output so the two are never confused.
#include <poll.h>

#include <condition_variable>
#include <random>

#include "common.hpp"
#include "workloads.hpp"

#ifdef TASKMILL_BENCH_HAVE_CLIENT
#include <taskmill/taskmill.hpp>
#endif

namespace bench {

bool have_client() {
#ifdef TASKMILL_BENCH_HAVE_CLIENT
  return true;
#else
  return false;
#endif
}

static std::string impl_name(const Opts& o) {
  if (o.get("impl", "") == "libpq") return "libpq-loop";
  return have_client() ? "client" : "libpq-loop";
}

// A running set of consumers calling on_task() for every task delivered.
class Consumers {
 public:
  Consumers(const Opts& o, const std::string& queue, int workers, int concurrency, int batch,
            std::chrono::milliseconds poll, std::function<void()> on_task)
      : impl_(impl_name(o)) {
#ifdef TASKMILL_BENCH_HAVE_CLIENT
    if (impl_ == "client") {
      for (int w = 0; w < workers; ++w) {
        taskmill::ClientOptions co;
        co.pool_size = std::max(2, concurrency + 2);
        clients_.push_back(std::make_unique<taskmill::Client>(o.conninfo(), co));
        taskmill::WorkerOptions wo;
        wo.concurrency = concurrency;
        wo.batch_size = batch;
        wo.poll_interval = poll;
        wo.visibility_timeout = std::chrono::milliseconds(60000);
        workers_.push_back(std::make_unique<taskmill::Worker>(*clients_.back(), queue, wo));
        workers_.back()->register_task("noop", [on_task](taskmill::TaskContext&) { on_task(); });
      }
      for (auto& w : workers_) w->start();
      return;
    }
#endif
    // libpq loop: each "worker" is one connection that dequeues a batch, runs the handlers
    // and acks the batch in one statement; idle: LISTEN-free poll every `poll`.
    bool ack_many;
    {
      Conn c(o.conninfo());
      ack_many = has_function(c, "ack_many");
    }
    const bool combined = o.flag("combined");
    for (int w = 0; w < workers * concurrency; ++w) {
      auto conn = std::make_shared<Conn>(o.conninfo());
      conn->prepare("deq", "SELECT id, lease FROM taskmill.dequeue($1, $2::int, '60 s'::interval)", 2);
      prepare_ack_all(*conn, ack_many);
      if (combined) {
        // one call per batch: ack_dequeue acks the previous batch and claims the next
        prepare_ack_dequeue(*conn);
        threads_.emplace_back([this, conn, queue, batch, poll, on_task] {
          std::vector<std::string> ids, leases;
          while (!stop_) {
            Res r = ack_dequeue(*conn, queue, batch, ids, leases);
            ids.clear();
            leases.clear();
            if (r.rows() == 0) {
              std::unique_lock<std::mutex> l(m_);
              cv_.wait_for(l, poll, [this] { return stop_.load(); });
              continue;
            }
            for (int k = 0; k < r.rows(); ++k) {
              on_task();
              ids.push_back(r.str(k, 0));
              leases.push_back(r.str(k, 1));
            }
          }
          ack_all(*conn, ids, leases);
        });
        continue;
      }
      threads_.emplace_back([this, conn, queue, batch, poll, on_task] {
        std::vector<std::string> ids, leases;
        while (!stop_) {
          Res r = conn->exec_prepared("deq", {queue, std::to_string(batch)});
          if (r.rows() == 0) {
            std::unique_lock<std::mutex> l(m_);
            cv_.wait_for(l, poll, [this] { return stop_.load(); });
            continue;
          }
          ids.clear();
          leases.clear();
          for (int k = 0; k < r.rows(); ++k) {
            on_task();
            ids.push_back(r.str(k, 0));
            leases.push_back(r.str(k, 1));
          }
          ack_all(*conn, ids, leases);
        }
      });
    }
  }
  void stop() {
#ifdef TASKMILL_BENCH_HAVE_CLIENT
    for (auto& w : workers_) w->stop();
    workers_.clear();
    clients_.clear();
#endif
    stop_ = true;
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  ~Consumers() { stop(); }
  const std::string& impl() const { return impl_; }

 private:
  std::string impl_;
#ifdef TASKMILL_BENCH_HAVE_CLIENT
  std::vector<std::unique_ptr<taskmill::Client>> clients_;
  std::vector<std::unique_ptr<taskmill::Worker>> workers_;
#endif
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::mutex m_;
  std::condition_variable cv_;
};

// ---------------------------------------------------------------- enqueue through the client
void wl_enqueue_single_client(const Opts& o) {
#ifdef TASKMILL_BENCH_HAVE_CLIENT
  const long n = o.num("n", 20000);
  const int clients = (int)o.num("clients", 1);
  taskmill::ClientOptions co;
  co.pool_size = clients + 1;
  taskmill::Client client(o.conninfo(), co);
  taskmill::Enqueuer enq(client, o.queue());
  std::atomic<long> next{0};
  std::vector<std::thread> th;
  auto t0 = SteadyClock::now();
  for (int i = 0; i < clients; ++i)
    th.emplace_back([&] {
      for (;;) {
        long k = next++;
        if (k >= n) return;
        enq.enqueue("noop", taskmill::Json{{"i", k}});
      }
    });
  for (auto& t : th) t.join();
  double s = secs_since(t0);
  emit({{"workload", "enqueue_single"}, {"impl", "client"}, {"clients", clients}, {"n", n}, {"seconds", r3(s)},
        {"jobs_per_s", std::lround(n / s)}, {"settings", "Enqueuer::enqueue, 1 task/tx, shared Client pool"}});
#else
  wl_enqueue_single_libpq(o);
#endif
}

void wl_enqueue_batch_client(const Opts& o) {
#ifdef TASKMILL_BENCH_HAVE_CLIENT
  const long n = o.num("n", 20000);
  const long batch = o.num("batch", 1000);
  taskmill::Client client(o.conninfo());
  taskmill::Enqueuer enq(client, o.queue());
  auto t0 = SteadyClock::now();
  for (long i = 0; i < n; i += batch) {
    long m = std::min(batch, n - i);
    std::vector<taskmill::BatchItem> items;
    items.reserve(m);
    for (long k = 0; k < m; ++k) items.push_back(taskmill::BatchItem{"noop", taskmill::Json{{"i", i + k}}, {}});
    enq.enqueue_batch(items);
  }
  double s = secs_since(t0);
  emit({{"workload", "enqueue_batch"}, {"impl", "client"}, {"clients", 1}, {"n", n}, {"batch", batch}, {"seconds", r3(s)},
        {"jobs_per_s", std::lround(n / s)}, {"settings", "Enqueuer::enqueue_batch, 1 batch/tx"}});
#else
  wl_enqueue_batch_libpq(o);
#endif
}

// ---------------------------------------------------------------- process throughput
void wl_process(const Opts& o) {
  const long n = o.num("n", 20000);
  const int workers = (int)o.num("workers", 1);
  const int conc = (int)o.num("concurrency", 1);
  const int batch = (int)o.num("batch", 100);
  const bool eph = o.flag("ephemeral");
  const std::string queue = o.queue();
  {
    Conn c(o.conninfo());
    reset_tables(c);
    Spec s;
    s.ephemeral = eph;
    prefill(c, queue, n, s, 5000);
    c.script("VACUUM ANALYZE taskmill.tasks");
    c.script("CHECKPOINT");
  }
  std::atomic<long> count{0};
  std::atomic<bool> started{false};
  SteadyClock::time_point t0{};
  std::mutex t0m;
  auto on_task = [&] {
    if (!started.load(std::memory_order_relaxed)) {
      std::lock_guard<std::mutex> g(t0m);
      if (!started) {
        t0 = SteadyClock::now();
        started = true;
      }
    }
    count.fetch_add(1, std::memory_order_relaxed);
  };
  Conn mon(o.conninfo());
  Consumers cons(o, queue, workers, conc, batch, std::chrono::milliseconds(200), on_task);
  auto deadline = SteadyClock::now() + std::chrono::seconds(o.num("timeout-s", 600));
  while (count < n && SteadyClock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  // done when every task is acked (gone from tasks), as the peers' process measure it
  while (pending(mon, queue) > 0 && SteadyClock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  double s = secs_since(t0);
  bool timed_out = SteadyClock::now() >= deadline;
  cons.stop();
  long results = std::stol(scalar_text(mon, "SELECT count(*) FROM taskmill.task_results"));
  Json j = {{"workload", eph ? "process_ephemeral" : "process"}, {"impl", cons.impl()}, {"n", n}, {"workers", workers},
            {"combined", o.flag("combined")},
            {"concurrency", conc}, {"batch", batch}, {"ephemeral", eph}, {"handled", count.load()},
            {"result_rows", results}, {"curve", o.get("curve", "no")}, {"seconds", r3(s)}, {"jobs_per_s", std::lround(n / s)},
            {"settings", {{"workers", workers}, {"concurrency", conc}, {"batch_size", batch}}}};
  if (timed_out) j["error"] = "timeout";
  emit(j);
}

// ---------------------------------------------------------------- latency: commit -> handler start
void wl_latency(const Opts& o) {
  const int samples = (int)o.num("samples", 200);
  const std::string queue = o.queue();
  const std::string channel = o.get("channel", "taskmill");
  {
    Conn c(o.conninfo());
    reset_tables(c);
  }
  std::mutex m;
  std::condition_variable cv;
  std::optional<SteadyClock::time_point> started;
  auto on_start = [&] {
    auto t = SteadyClock::now();
    std::lock_guard<std::mutex> g(m);
    started = t;
    cv.notify_all();
  };
  std::string impl = impl_name(o);
  std::unique_ptr<Consumers> cons;
  std::thread listener;
  std::atomic<bool> stop{false};
  const auto poll = std::chrono::milliseconds(o.num("poll-ms", 2000));
  if (impl == "client") {
    cons = std::make_unique<Consumers>(o, queue, 1, 1, 1, poll, [&] { on_start(); });
  } else {
    // libpq: LISTEN, wait on the socket, dequeue on a notification or after `poll`
    listener = std::thread([&] {
      Conn c(o.conninfo());
      c.script("LISTEN \"" + channel + "\"");
      c.prepare("deq", "SELECT id, lease FROM taskmill.dequeue($1, 1, '60 s'::interval)", 1);
      bool ack_many = has_function(c, "ack_many");
      prepare_ack_all(c, ack_many);
      // Newer extensions NOTIFY only while an idle waiter holds the queue's wait lock.
      const bool waiter = has_function(c, "wait_begin");
      int fd = PQsocket(c.native());
      while (!stop) {
        for (;;) {
          Res r = c.exec_prepared("deq", {queue});
          if (r.rows() == 0) break;
          on_start();
          ack_all(c, {r.str(0, 0)}, {r.str(0, 1)});
        }
        if (waiter) {
          c.exec("SELECT taskmill.wait_begin($1)", {queue});
          // anything committed before the lock was taken: look once more
          Res r = c.exec_prepared("deq", {queue});
          if (r.rows() > 0) {
            c.exec("SELECT taskmill.wait_end($1)", {queue});
            on_start();
            ack_all(c, {r.str(0, 0)}, {r.str(0, 1)});
            continue;
          }
        }
        pollfd p{fd, POLLIN, 0};
        ::poll(&p, 1, 100);
        PQconsumeInput(c.native());
        while (PGnotify* nf = PQnotifies(c.native())) PQfreemem(nf);
        if (waiter) c.exec("SELECT taskmill.wait_end($1)", {queue});
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  Conn prod(o.conninfo());
  prod.prepare("enq", "SELECT taskmill.enqueue($1, 'noop', $2::jsonb)", 2);
  std::mt19937 rng(42);
  std::vector<double> commit, call;
  int misses = 0;
  for (int i = 0; i < samples + 5; ++i) {
    {
      std::lock_guard<std::mutex> g(m);
      started.reset();
    }
    auto tcall = SteadyClock::now();
    prod.exec_prepared("enq", {queue, "{\"i\":" + std::to_string(i) + "}"});
    auto tcommit = SteadyClock::now();
    std::unique_lock<std::mutex> l(m);
    if (!cv.wait_for(l, std::chrono::seconds(10), [&] { return started.has_value(); })) {
      ++misses;
      continue;
    }
    if (i >= 5) {
      commit.push_back(ms_between(tcommit, *started));
      call.push_back(ms_between(tcall, *started));
    }
    l.unlock();
    std::this_thread::sleep_for(std::chrono::microseconds(20000 + rng() % 50000));
  }
  stop = true;
  if (cons) cons->stop();
  if (listener.joinable()) listener.join();
  Json j = {{"workload", "latency"}, {"impl", impl}, {"samples", (long)commit.size()}, {"p50_ms", r3(pct(commit, 50))},
            {"p99_ms", r3(pct(commit, 99))}, {"max_ms", r3(pct(commit, 100))}, {"p50_from_call_ms", r3(pct(call, 50))},
            {"p99_from_call_ms", r3(pct(call, 99))}, {"misses", misses},
            {"settings", "idle worker: concurrency 1, batch 1, poll_interval " + std::to_string(poll.count()) +
                             " ms, LISTEN/NOTIFY wake-up; producer enqueue autocommit; 20-70 ms random gaps"}};
  emit(j);
}

// ---------------------------------------------------------------- soak
void wl_soak(const Opts& o) {
  const double minutes = o.dbl("minutes", 1.0);
  const long rate = o.num("rate", 2000);
  const int workers = (int)o.num("workers", 1);
  const int conc = (int)o.num("concurrency", 32);
  const int batch = (int)o.num("batch", 100);
  const double interval_s = o.dbl("interval-s", minutes >= 5 ? 30.0 : 10.0);
  const std::string queue = o.queue();
  {
    Conn c(o.conninfo());
    reset_tables(c);
  }
  std::atomic<long> processed{0};
  std::atomic<bool> stop{false};
  Consumers cons(o, queue, workers, conc, batch, std::chrono::milliseconds(200), [&] { processed.fetch_add(1); });
  // producer: batches of 100 at a fixed rate
  std::atomic<long> produced{0};
  std::thread producer([&] {
    Conn c(o.conninfo());
    c.prepare("enqb", "SELECT count(*) FROM (SELECT taskmill.enqueue_batch($1, $2::jsonb)) s", 2);
    const long per = 100;
    auto period = std::chrono::duration<double>((double)per / (double)rate);
    auto next = SteadyClock::now();
    long i = 0;
    while (!stop) {
      c.exec_prepared("enqb", {queue, batch_json(i, per, Spec{})});
      i += per;
      produced += per;
      next += std::chrono::duration_cast<SteadyClock::duration>(period);
      std::this_thread::sleep_until(next);
    }
  });
  Conn mon(o.conninfo());
  auto t0 = SteadyClock::now();
  auto end = t0 + std::chrono::duration<double>(minutes * 60.0);
  long last_processed = 0;
  auto last_t = t0;
  Json series = Json::array();
  while (SteadyClock::now() < end) {
    std::this_thread::sleep_for(std::chrono::duration<double>(interval_s));
    auto now = SteadyClock::now();
    long p = processed.load();
    double dt = std::chrono::duration<double>(now - last_t).count();
    // keep 30 s of results: a retention job, as a deployment would run
    mon.exec("DELETE FROM taskmill.task_results WHERE completed_at < now() - interval '30 seconds'");
    Res r = mon.exec(
        "SELECT pg_relation_size('taskmill.tasks'), pg_indexes_size('taskmill.tasks'), "
        "pg_total_relation_size('taskmill.task_results'), s.n_live_tup, s.n_dead_tup, s.autovacuum_count, "
        "(SELECT count(*) FROM taskmill.tasks WHERE queue_name = $1), s.vacuum_count "
        "FROM pg_stat_user_tables s WHERE s.relid = 'taskmill.tasks'::regclass",
        {queue});
    Json pt = {{"t_s", r3(std::chrono::duration<double>(now - t0).count())},
               {"jobs_per_s", std::lround((p - last_processed) / dt)},
               {"tasks_heap_bytes", r.i64(0, 0)},
               {"tasks_index_bytes", r.i64(0, 1)},
               {"results_total_bytes", r.i64(0, 2)},
               {"live_tup", r.i64(0, 3)},
               {"dead_tup", r.i64(0, 4)},
               {"autovacuum_count", r.i64(0, 5)},
               {"backlog", r.i64(0, 6)},
               {"vacuum_count", r.i64(0, 7)}};
    logf("soak " + pt.dump());
    series.push_back(pt);
    last_processed = p;
    last_t = now;
  }
  stop = true;
  producer.join();
  cons.stop();
  double s = secs_since(t0);
  // the extension's vacuum background worker (preloaded taskmill, this database listed)
  std::string vacuum_worker = scalar_text(mon, 
      "SELECT coalesce((SELECT 'interval ' || current_setting('taskmill.vacuum_interval', true) || ', threshold ' || "
      "current_setting('taskmill.vacuum_threshold', true) FROM pg_stat_activity "
      "WHERE backend_type = 'taskmill vacuum' AND datname = current_database() LIMIT 1), 'none')");
  emit({{"workload", "soak"}, {"vacuum_worker", vacuum_worker}, {"impl", cons.impl()}, {"minutes", minutes}, {"target_rate", rate}, {"workers", workers},
        {"concurrency", conc}, {"batch", batch}, {"produced", produced.load()}, {"processed", processed.load()}, {"seconds", r3(s)},
        {"jobs_per_s", std::lround(processed / s)}, {"series", series},
        {"settings", "producer enqueue_batch of 100 at target_rate; consumers drain; results older than 30 s deleted each interval"}});
}

}  // namespace bench
