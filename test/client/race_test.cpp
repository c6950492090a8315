// Seed catalogue section 6: concurrency and race conditions — several workers (each with
// its own Client, as separate processes would have), racing enqueues, stop during
// processing, several schedulers. Also run under ThreadSanitizer (test/suites/client_tsan.sh).
#include <gtest/gtest.h>

#include <barrier>
#include <map>
#include <thread>

#include "testutil.hpp"

using namespace std::chrono_literals;
using taskmill::BatchItem;
using taskmill::EnqueueOptions;
using taskmill::ErrorCode;
using taskmill::Json;
using testutil::TestEnv;

namespace {

// Counts how many times each task id was handled, across workers.
struct ExactlyOnce {
  std::mutex mu;
  std::map<int64_t, int> seen;
  taskmill::Handler handler() {
    return [this](taskmill::TaskContext& ctx) {
      std::lock_guard g(mu);
      ++seen[ctx.task().id];
    };
  }
  ::testing::AssertionResult check(const std::vector<int64_t>& ids) {
    std::lock_guard g(mu);
    if (seen.size() != ids.size())
      return ::testing::AssertionFailure() << seen.size() << " distinct tasks handled, want " << ids.size();
    for (auto id : ids) {
      auto it = seen.find(id);
      if (it == seen.end()) return ::testing::AssertionFailure() << "task " << id << " never handled";
      if (it->second != 1) return ::testing::AssertionFailure() << "task " << id << " handled " << it->second << " times";
    }
    return ::testing::AssertionSuccess();
  }
};

// n workers on the queue, each with its own client (pool sized for its threads).
struct Fleet {
  std::vector<std::unique_ptr<taskmill::Client>> clients;
  std::vector<std::unique_ptr<taskmill::Worker>> workers;
  Fleet(TestEnv& env, int n, taskmill::WorkerOptions opts, const std::string& op, const taskmill::Handler& h) {
    for (int i = 0; i < n; ++i) {
      clients.push_back(std::make_unique<taskmill::Client>(env.conninfo(), taskmill::ClientOptions{.pool_size = 4}));
      workers.push_back(std::make_unique<taskmill::Worker>(*clients.back(), env.queue, opts));
      workers.back()->register_task(op, h);
    }
  }
  void start() {
    for (auto& w : workers) w->start();
  }
  void stop() {
    for (auto& w : workers) w->stop();
  }
  ~Fleet() { workers.clear(); }
};

std::vector<int64_t> EnqueueN(TestEnv& env, int n, const std::string& op = "op") {
  std::vector<BatchItem> items;
  for (int i = 0; i < n; ++i) items.push_back({op, Json{{"i", i}}});
  return env.enqueuer().enqueue_batch(items);
}

void ExpectAllSingleAttempt(TestEnv& env) {
  EXPECT_EQ(env.pg.scalar_i64("SELECT count(*) FROM taskmill.task_results WHERE queue_name = $1 AND attempts <> 1",
                              {env.queue}),
            0)
      << "some task was delivered more than once";
}


struct FleetRun {
  int tasks, workers, concurrency, batch;
  std::chrono::seconds timeout;
};

// Enqueues r.tasks, runs them through a Fleet of r.workers Workers (r.concurrency threads,
// batches of r.batch): every task is handled exactly once, on its first delivery.
void RunFleet(TestEnv& env, const FleetRun& r) {
  auto ids = EnqueueN(env, r.tasks);
  ExactlyOnce once;
  auto opts = testutil::FastWorkerOptions();
  opts.concurrency = r.concurrency;
  opts.batch_size = r.batch;
  Fleet fleet(env, r.workers, opts, "op", once.handler());
  fleet.start();
  ASSERT_TRUE(testutil::WaitForResultsCount(env.pg, env.queue, r.tasks, r.timeout));
  fleet.stop();
  EXPECT_TRUE(once.check(ids));
  ExpectAllSingleAttempt(env);
}

}  // namespace

// ---- 6.1 Concurrent workers

TEST(Concurrency, MultipleWorkers_SameQueue) {
  TestEnv env;
  RunFleet(env, {.tasks = 100, .workers = 5, .concurrency = 2, .batch = 5, .timeout = 60s});
}

TEST(Concurrency, SkipLocked) {
  TestEnv env;
  // Three dequeuers claim at the same instant: SKIP LOCKED hands each different rows, none
  // blocks or fails, and together they claim all 10.
  auto ids = EnqueueN(env, 10);
  std::barrier sync(3);
  std::mutex mu;
  std::vector<int64_t> claimed;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t)
    threads.emplace_back([&] {
      try {
        testutil::PgConn pg(env.conninfo());
        sync.arrive_and_wait();
        for (;;) {
          auto ds = testutil::SqlDequeue(pg, env.queue, 2);
          if (ds.empty()) break;
          for (auto& d : ds) {
            testutil::SqlAck(pg, d);
            std::lock_guard g(mu);
            claimed.push_back(d.id);
          }
        }
      } catch (const std::exception& e) {
        std::lock_guard g(mu);
        errors.push_back(e.what());
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_TRUE(errors.empty()) << errors.front();
  std::sort(claimed.begin(), claimed.end());
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(claimed, ids) << "each task must be claimed exactly once";
  // And the same through three Workers.
  auto more = EnqueueN(env, 10);
  ExactlyOnce once;
  auto opts = testutil::FastWorkerOptions();
  opts.batch_size = 10;
  Fleet fleet(env, 3, opts, "op", once.handler());
  fleet.start();
  ASSERT_TRUE(testutil::WaitForResultsCount(env.pg, env.queue, 20));
  fleet.stop();
  EXPECT_TRUE(once.check(more));
}

TEST(Concurrency, HighThroughput) {
  TestEnv env;
  RunFleet(env, {.tasks = 1000, .workers = 10, .concurrency = 5, .batch = 10, .timeout = 120s});
}

TEST(Concurrency, WorkerInternalConcurrency) {
  TestEnv env;
  EnqueueN(env, 20);
  auto gate = testutil::MakeGateTask("op", /*release_at_active=*/10);
  auto opts = testutil::FastWorkerOptions();
  opts.concurrency = 10;
  opts.batch_size = 10;
  taskmill::Worker w(env.client, env.queue, opts);
  w.register_task(gate->op, gate->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitForResultsCount(env.pg, env.queue, 20));
  w.stop();
  EXPECT_EQ(gate->max_active.load(), 10) << "one worker with concurrency 10 runs 10 handlers at once";
}

// ---- 6.2 Race conditions

TEST(Race, ConcurrentEnqueue_SameKey) {
  TestEnv env;
  std::barrier sync(10);
  std::atomic<int> ok{0}, dup{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 10; ++t)
    threads.emplace_back([&, t] {
      EnqueueOptions o;
      o.idempotency_key = "same-key";
      auto enq = env.enqueuer();
      sync.arrive_and_wait();
      try {
        enq.enqueue("op", Json{{"thread", t}}, o);
        ok.fetch_add(1);
      } catch (const taskmill::Error& e) {
        (e.code() == ErrorCode::DuplicateTask ? dup : other).fetch_add(1);
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(dup.load(), 9);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(testutil::CountTasks(env.pg, env.queue), 1);
}

TEST(Race, ConcurrentDequeue) {
  TestEnv env;
  auto ids = EnqueueN(env, 50);
  ExactlyOnce once;
  auto opts = testutil::FastWorkerOptions();
  opts.concurrency = 2;
  opts.batch_size = 3;
  Fleet fleet(env, 10, opts, "op", once.handler());
  fleet.start();
  ASSERT_TRUE(testutil::WaitForResultsCount(env.pg, env.queue, 50, 60s));
  fleet.stop();
  EXPECT_TRUE(once.check(ids));
  ExpectAllSingleAttempt(env);
}

TEST(Race, EnqueueDuringProcessing) {
  TestEnv env;
  auto task = testutil::MakeOrderTrackingTask("op", 5ms);
  taskmill::Worker w(env.client, env.queue, testutil::FastWorkerOptions());
  w.register_task(task->op, task->handler());
  w.start();
  EnqueueN(env, 10);
  std::atomic<int> enqueued{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < 2; ++p)
    producers.emplace_back([&] {
      auto enq = env.enqueuer();
      for (int i = 0; i < 20; ++i) {
        enq.enqueue("op", Json{{"i", i}});
        enqueued.fetch_add(1);
      }
    });
  for (auto& p : producers) p.join();
  ASSERT_EQ(enqueued.load(), 40);
  ASSERT_TRUE(testutil::WaitForResultsCount(env.pg, env.queue, 50));
  w.stop();
  EXPECT_EQ(task->executed.load(), 50);
}

TEST(Race, StopDuringProcessing) {
  TestEnv env;
  auto slow = testutil::MakeSlowTask("op", 300ms, /*respect_cancel=*/true);
  int64_t id = env.enqueuer().enqueue("op");
  taskmill::Worker w(env.client, env.queue, testutil::FastWorkerOptions());
  w.register_task(slow->op, slow->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitFor([&] { return slow->executed.load() >= 1; }, "the handler to start"));
  try {
    w.stop();
  } catch (const taskmill::Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Timeout) << e.what();
  }
  // Either it completed, or its delivery was given back: never stuck in flight, never lost.
  bool done = testutil::AssertTaskInResults(env.pg, id);
  auto row = testutil::TaskRow(env.pg, id);
  bool restored = row.rows() == 1 && row.is_null(0, "lease") && row.is_null(0, "dlq_at") &&
                  row.i64(0, "visible_at_us") <= row.i64(0, "now_us");
  EXPECT_TRUE(done || restored) << testutil::AssertTaskInQueue(env.pg, id).message();
  EXPECT_FALSE(done && row.rows() == 1) << "completed and still queued";
}

TEST(Race, VisibilityTimeout_Reprocess) {
  TestEnv env;
  // The handler runs 5 s with a 2 s visibility timeout: the heartbeat (every third of it)
  // must keep the task invisible, so no other worker gets it while it runs. 2 s rather than
  // 1 s leaves a loaded CI machine 1.3 s of slack per heartbeat.
  auto slow = testutil::MakeSlowTask("op", 5000ms, /*respect_cancel=*/false);
  int64_t id = env.enqueuer().enqueue("op");
  auto opts = testutil::FastWorkerOptions();
  opts.visibility_timeout = 2s;
  Fleet fleet(env, 2, opts, "op", slow->handler());
  fleet.start();
  ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, id));
  fleet.stop();
  EXPECT_EQ(slow->executed.load(), 1) << "the task was redelivered while its handler ran";
  EXPECT_EQ(testutil::ResultRow(env.pg, id).i64(0, "attempts"), 1);
}

// ---- 6.3 Scheduler concurrency

TEST(Race, MultipleSchedulers) {
  TestEnv env;
  std::vector<std::unique_ptr<taskmill::Client>> clients;
  std::vector<std::unique_ptr<taskmill::Scheduler>> schedulers;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<taskmill::Client>(env.conninfo(), taskmill::ClientOptions{.pool_size = 2}));
    schedulers.push_back(std::make_unique<taskmill::Scheduler>(
        *clients.back(), env.queue, taskmill::SchedulerOptions{.check_interval = 20ms}));
  }
  schedulers[0]->register_schedules({{"op", "0 0 1 1 *"}});
  env.pg.exec("UPDATE taskmill.task_schedules SET next_run_at = now() - interval '1 second' WHERE queue_name = $1",
              {env.queue});
  // Three run_once calls released at the same instant...
  std::barrier sync(3);
  std::atomic<int> total{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i)
    threads.emplace_back([&, i] {
      sync.arrive_and_wait();
      total.fetch_add(schedulers[i]->run_once());
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(total.load(), 1);
  // ...then three running schedulers on a second due tick.
  env.pg.exec("UPDATE taskmill.task_schedules SET next_run_at = now() - interval '1 second' WHERE queue_name = $1",
              {env.queue});
  for (auto& s : schedulers) s->start();
  ASSERT_TRUE(testutil::WaitFor([&] { return testutil::CountTasks(env.pg, env.queue) >= 2; }, "the second tick"));
  // Let every scheduler check a few more times (the case is about them running at once).
  std::this_thread::sleep_for(300ms);
  for (auto& s : schedulers) s->stop();
  EXPECT_EQ(testutil::CountTasks(env.pg, env.queue), 2) << "a tick was enqueued more than once";
}

TEST(Race, SchedulerDuringRegister) {
  TestEnv env;
  taskmill::Scheduler running(env.client, env.queue, taskmill::SchedulerOptions{.check_interval = 10ms});
  running.register_schedules({{"base", "* * * * *"}});
  running.start();
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 1; ++t)
    threads.emplace_back([&, t] {
      taskmill::Scheduler reg(env.client, env.queue);
      for (int i = 0; i < 20; ++i) {
        try {
          reg.register_schedules({{"base", "* * * * *"}, {"extra-" + std::to_string((t + i) % 3), "*/5 * * * *"}});
        } catch (const std::exception& e) {
          ADD_FAILURE() << "register_schedules during a run: " << e.what();
          errors.fetch_add(1);
        }
      }
    });
  for (auto& t : threads) t.join();
  running.register_schedules({{"base", "* * * * *"}, {"final", "0 * * * *"}});
  EXPECT_NO_THROW(running.stop());
  EXPECT_EQ(errors.load(), 0);
  auto list = taskmill::Console(env.client).list_schedules(env.queue);
  std::vector<std::string> ops;
  for (auto& s : list) ops.push_back(s.operation_id);
  std::sort(ops.begin(), ops.end());
  EXPECT_EQ(ops, (std::vector<std::string>{"base", "final"}));
}
