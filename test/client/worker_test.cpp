// Seed catalogue section 2: Worker integration tests (processing, configuration, lifecycle,
// retries). Durations are scaled down through WorkerOptions; assertions are not: every wait
// is a wait-for-condition on the database with a generous timeout.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "testutil.hpp"

using namespace std::chrono_literals;
using taskmill::EnqueueOptions;
using taskmill::ErrorCode;
using taskmill::Json;
using taskmill::WorkerOptions;
using testutil::TaskRow;
using testutil::TestEnv;

namespace {

std::string LastError(testutil::PgConn& pg, int64_t id) {
  return pg.scalar("SELECT coalesce(last_error, '') FROM taskmill.tasks WHERE id = $1::bigint", {std::to_string(id)})
      .value_or("<no row>");
}

bool ContainsCI(std::string hay, std::string needle) {
  for (auto& c : hay) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (auto& c : needle) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return hay.find(needle) != std::string::npos;
}

}  // namespace

// ---- 2.1 Task processing

TEST(Worker, ProcessTask_Success) {
  TestEnv env;
  auto task = testutil::MakeSuccessTask("send_welcome");
  int64_t id = env.enqueuer().enqueue("send_welcome", Json{{"user", 42}});
  taskmill::Worker w(env.client, env.queue, testutil::FastWorkerOptions());
  w.register_task(task->op, task->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, id));
  w.stop();
  EXPECT_TRUE(testutil::AssertTaskInResults(env.pg, id));
  EXPECT_TRUE(testutil::AssertTaskNotExists(env.pg, id));
  EXPECT_EQ(task->executed.load(), 1);
  EXPECT_EQ(testutil::ResultRow(env.pg, id).i64(0, "attempts"), 1);
}

TEST(Worker, ProcessTask_Error) {
  TestEnv env;
  auto task = testutil::MakeFailingTask("op", "smtp timeout");
  EnqueueOptions o;
  o.max_attempts = 10;
  int64_t id = env.enqueuer().enqueue("op", nullptr, o);
  taskmill::Worker w(env.client, env.queue, testutil::FastWorkerOptions());
  w.register_task(task->op, task->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitForNacked(env.pg, id, 1));
  w.stop();
  auto row = TaskRow(env.pg, id);
  ASSERT_EQ(row.rows(), 1);
  // The worker may have retried once more before it stopped; the DB and the handler agree.
  EXPECT_GE(row.i64(0, "attempts"), 1);
  EXPECT_EQ(row.i64(0, "attempts"), task->fail_count.load());
  EXPECT_TRUE(row.is_null(0, "dlq_at"));
  EXPECT_TRUE(ContainsCI(row.str(0, "last_error"), "smtp timeout")) << row.str(0, "last_error");
  // visible_at moved past the first failure by at least the 1 s backoff.
  EXPECT_GE(row.i64(0, "visible_at_us"), row.i64(0, "scheduled_at_us") + 1000000);
  EXPECT_FALSE(testutil::AssertTaskInResults(env.pg, id));
}

TEST(Worker, ProcessTask_Panic) {
  TestEnv env;
  auto panic = testutil::MakePanicTask("explode", "boom: index out of range");
  auto ok = testutil::MakeSuccessTask("fine");
  auto alerts = testutil::MakeAlertLog();
  auto opts = testutil::FastWorkerOptions();
  opts.concurrency = 1;
  opts.on_alert = alerts->hook();
  EnqueueOptions o;
  o.max_attempts = 10;
  int64_t id = env.enqueuer().enqueue("explode", nullptr, o);
  taskmill::Worker w(env.client, env.queue, opts);
  w.register_task(panic->op, panic->handler());
  w.register_task(ok->op, ok->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitForNacked(env.pg, id, 1));
  // The worker survived the exception: it still processes other tasks.
  int64_t after = env.enqueuer().enqueue("fine");
  ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, after));
  ASSERT_TRUE(alerts->wait_count(1)) << "the alert hook was not called";
  w.stop();
  EXPECT_TRUE(ContainsCI(LastError(env.pg, id), "boom: index out of range")) << LastError(env.pg, id);
  auto a = alerts->entries().at(0);
  EXPECT_TRUE(a.panic);
  EXPECT_EQ(a.task_id, id);
  EXPECT_TRUE(ContainsCI(a.message, "boom: index out of range")) << a.message;
}

TEST(Worker, ProcessTask_UnregisteredOperation) {
  TestEnv env;
  auto known = testutil::MakeSuccessTask("known");
  EnqueueOptions o;
  o.max_attempts = 10;
  int64_t id = env.enqueuer().enqueue("nobody_handles_this", nullptr, o);
  auto alerts = testutil::MakeAlertLog();
  auto opts = testutil::FastWorkerOptions();
  opts.on_alert = alerts->hook();
  taskmill::Worker w(env.client, env.queue, opts);
  w.register_task(known->op, known->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitForNacked(env.pg, id, 1));
  ASSERT_TRUE(alerts->wait_count(1));
  w.stop();
  EXPECT_EQ(alerts->entries().at(0).code, ErrorCode::TaskNotRegistered);
  EXPECT_FALSE(alerts->entries().at(0).panic);
  EXPECT_TRUE(ContainsCI(LastError(env.pg, id), "not registered")) << LastError(env.pg, id);
  EXPECT_TRUE(testutil::AssertTaskInQueue(env.pg, id));
  EXPECT_EQ(known->executed.load(), 0);
}

TEST(Worker, ProcessTask_Timeout) {
  TestEnv env;
  // The handler would sleep 5 s; the worker's timeout is 1 s.
  auto slow = testutil::MakeSlowTask("slow", 5s, /*respect_cancel=*/true);
  auto alerts = testutil::MakeAlertLog();
  auto opts = testutil::FastWorkerOptions();
  opts.process_timeout = 1s;
  opts.on_alert = alerts->hook();
  EnqueueOptions o;
  o.max_attempts = 10;
  int64_t id = env.enqueuer().enqueue("slow", nullptr, o);
  taskmill::Worker w(env.client, env.queue, opts);
  w.register_task(slow->op, slow->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitForNacked(env.pg, id, 1));
  ASSERT_TRUE(alerts->wait_count(1));
  w.stop();
  EXPECT_EQ(alerts->entries().at(0).code, ErrorCode::Timeout) << "a deadline is reported as Timeout";
  EXPECT_GE(slow->saw_cancel.load(), 1) << "the handler's context was not cancelled at the deadline";
  EXPECT_EQ(slow->completed.load(), 0);
  std::string err = LastError(env.pg, id);
  EXPECT_TRUE(ContainsCI(err, "timeout") || ContainsCI(err, "deadline")) << err;
}

TEST(Worker, ProcessTask_PayloadParsing) {
  TestEnv env;
  Json payload = {{"user", {{"id", 42}, {"name", "Ada"}, {"tags", {"a", "b"}}}},
                  {"items", Json::array({{{"sku", "x"}, {"qty", 2}}, {{"sku", "y"}, {"qty", 1.5}}})},
                  {"flags", {{"urgent", true}, {"note", nullptr}}}};
  auto task = testutil::MakeSuccessTask("op");
  int64_t id = env.enqueuer().enqueue("op", payload);
  taskmill::Worker w(env.client, env.queue, testutil::FastWorkerOptions());
  w.register_task(task->op, task->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, id));
  w.stop();
  EXPECT_EQ(task->last_payload(), payload);
  auto tasks = task->tasks();
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].id, id);
  EXPECT_EQ(tasks[0].operation_id, "op");
  EXPECT_EQ(tasks[0].queue_name, env.queue);
}

// ---- 2.2 Worker configuration

TEST(Worker, Concurrency) {
  TestEnv env;
  // Each run holds until 5 run at once (or 30 s): the observed maximum is the parallelism.
  auto gate = testutil::MakeGateTask("op", /*release_at_active=*/5);
  std::vector<taskmill::BatchItem> items(10, taskmill::BatchItem{"op"});
  env.enqueuer().enqueue_batch(items);
  auto opts = testutil::FastWorkerOptions();
  opts.concurrency = 5;
  opts.batch_size = 10;
  taskmill::Worker w(env.client, env.queue, opts);
  w.register_task(gate->op, gate->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitForResultsCount(env.pg, env.queue, 10));
  w.stop();
  EXPECT_EQ(gate->max_active.load(), 5) << "a worker with concurrency 5 must run exactly 5 handlers at once";
  EXPECT_EQ(gate->executed.load(), 10);
}

TEST(Worker, BatchSize) {
  TestEnv env;
  std::vector<taskmill::BatchItem> items(10, taskmill::BatchItem{"op"});
  env.enqueuer().enqueue_batch(items);
  auto gate = testutil::MakeGateTask("op");
  auto opts = testutil::FastWorkerOptions();
  opts.concurrency = 10;
  opts.batch_size = 3;
  opts.visibility_timeout = 120s;  // no heartbeat moves visible_at during the check
  taskmill::Worker w(env.client, env.queue, opts);
  w.register_task(gate->op, gate->handler());
  w.start();
  ASSERT_TRUE(gate->wait_active(10)) << "active: " << gate->active.load();
  // Every dequeue call stamps its tasks with one visible_at (its now() + visibility): group
  // the in-flight tasks by it to see how many each call claimed.
  auto r = env.pg.exec(
      "SELECT count(*) AS n FROM taskmill.tasks WHERE queue_name = $1 AND lease IS NOT NULL"
      " GROUP BY visible_at ORDER BY n DESC",
      {env.queue});
  gate->open();
  ASSERT_TRUE(testutil::WaitForResultsCount(env.pg, env.queue, 10));
  w.stop();
  ASSERT_GE(r.rows(), 4) << "10 tasks in batches of at most 3 need at least 4 dequeues";
  EXPECT_EQ(r.i64(0, "n"), 3) << "the largest batch must be batch_size";
  int64_t total = 0;
  for (int i = 0; i < r.rows(); ++i) {
    EXPECT_LE(r.i64(i, "n"), 3);
    total += r.i64(i, "n");
  }
  EXPECT_EQ(total, 10);
}

TEST(Worker, PollInterval) {
  TestEnv env;
  // Without LISTEN the worker finds work only by polling. Sample the server's view of the
  // worker's dequeue calls (pg_stat_activity.query_start) for 3 s of an empty queue.
  auto task = testutil::MakeSuccessTask("op");
  auto opts = testutil::FastWorkerOptions();
  opts.poll_interval = 500ms;
  opts.listen = false;
  taskmill::Worker w(env.client, env.queue, opts);
  w.register_task(task->op, task->handler());
  w.start();
  std::set<std::string> polls;
  auto until = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < until) {
    auto r = env.pg.exec(
        "SELECT query_start::text AS qs FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE '%dequeue%'");
    for (int i = 0; i < r.rows(); ++i)
      if (auto qs = r.get(i, "qs")) polls.insert(*qs);
    std::this_thread::sleep_for(25ms);
  }
  // A task enqueued now is found by a poll (no notification is listened to).
  int64_t id = env.enqueuer().enqueue("op");
  ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, id));
  w.stop();
  // ~6 polls expected in 3 s; bounds are loose enough for a loaded machine but catch a worker
  // that never polls or spins.
  EXPECT_GE(polls.size(), 2u) << "the worker did not poll an empty queue";
  EXPECT_LE(polls.size(), 15u) << "the worker polls far more often than every 500 ms";
}

// Sessions holding an idle-waiter lock (taskmill.wait_begin: an advisory-type lock,
// objsubid 21581) in this test's database, where only this test's queue is waited on: the
// lock's key is a hash of the queue name keyed by the database's install secret
// (docs/security.md), which no client can compute. Enqueues NOTIFY only while it is held.
// Waits until `holders` sessions hold it.
static ::testing::AssertionResult WaitForLockHolders(TestEnv& env, int64_t holders, const std::string& what) {
  return testutil::WaitFor(
      [&] {
        return env.pg.scalar_i64(
                   "SELECT count(*) FROM pg_catalog.pg_locks l"
                   " WHERE l.locktype = 'advisory' AND l.objsubid = 21581 AND l.granted AND l.mode = 'ShareLock'"
                   " AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())",
                   {}) == holders;
      },
      what);
}

TEST(Worker, Listen_WakesIdleWorker) {
  TestEnv env;
  // The worker polls only every 10 minutes: within the 30 s waits below, only a NOTIFY
  // (sent because the idle worker holds the queue's wait lock) can make it look.
  auto task = testutil::MakeSuccessTask("op");
  auto opts = testutil::FastWorkerOptions();
  opts.concurrency = 1;
  opts.batch_size = 1;
  opts.poll_interval = 600s;
  taskmill::Worker w(env.client, env.queue, opts);
  w.register_task(task->op, task->handler());
  w.start();
  ASSERT_TRUE(WaitForLockHolders(env, 1, "the idle worker to hold the queue's wait lock"));
  for (int i = 0; i < 3; ++i) {
    int64_t id = env.enqueuer().enqueue("op", Json{{"i", i}});
    ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, id)) << "task " << i << " not woken by NOTIFY";
    // The wake-up claim committed like any other: one attempt, acked under its lease.
    EXPECT_EQ(testutil::ResultRow(env.pg, id).i64(0, "attempts"), 1);
    // Idle again after each task: waiting (again) for the next notification.
    ASSERT_TRUE(WaitForLockHolders(env, 1, "the worker to wait on the queue again"));
  }
  EXPECT_EQ(task->executed.load(), 3);
  w.stop();
  EXPECT_TRUE(WaitForLockHolders(env, 0, "the stopped worker to give the wait lock back"));
}

TEST(Worker, Listen_BusyWorkerStopsWaiting) {
  TestEnv env;
  // An idle worker (holding the wait lock) gets five tasks; one handler, batches of 1, the
  // first task held by the gate: every dequeue comes back full and the local queue is
  // full, so the worker is busy and must not make producers NOTIFY: it gives the wait
  // lock back (after a short grace), and takes it again once the queue is drained.
  auto gate = testutil::MakeGateTask("op");
  auto opts = testutil::FastWorkerOptions();
  opts.concurrency = 1;
  opts.batch_size = 1;
  opts.stop_timeout = 60s;
  taskmill::Worker w(env.client, env.queue, opts);
  w.register_task(gate->op, gate->handler());
  w.start();
  ASSERT_TRUE(WaitForLockHolders(env, 1, "the idle worker to hold the queue's wait lock"));
  std::vector<taskmill::BatchItem> items(5, taskmill::BatchItem{"op"});
  env.enqueuer().enqueue_batch(items);
  ASSERT_TRUE(gate->wait_executed(1));
  EXPECT_TRUE(WaitForLockHolders(env, 0, "the busy worker not to hold the wait lock"));
  gate->open();
  ASSERT_TRUE(testutil::WaitForQueueEmpty(env.pg, env.queue));
  EXPECT_TRUE(WaitForLockHolders(env, 1, "the idle worker to hold the wait lock again"));
  // Idle and waiting: a new task is found through the notification.
  int64_t id = env.enqueuer().enqueue("op");
  EXPECT_TRUE(testutil::WaitForTaskProcessed(env.pg, id));
  w.stop();
  EXPECT_EQ(gate->executed.load(), 6);
}

// Any role may NOTIFY the channel "taskmill" (0.1's shared channel). A worker listens on
// its queue's own channel only (taskmill.listen), so such a NOTIFY, in a loop or not, makes
// no idle worker look: only an enqueue to its queue wakes it. Observed through the worker's
// own counter of notifications received on its channel (Worker::stats): the control
// enqueues after the foreign NOTIFYs are delivered in commit order, so when the last
// control's wake-up is counted, every NOTIFY before it has reached the worker or never
// will.
TEST(Worker, Listen_IgnoresSharedChannel) {
  TestEnv env;
  auto task = testutil::MakeSuccessTask("op");
  auto opts = testutil::FastWorkerOptions();
  opts.concurrency = 1;
  opts.batch_size = 1;
  opts.poll_interval = 600s;  // within the test's waits, only a notification makes it look
  taskmill::Worker w(env.client, env.queue, opts);
  w.register_task(task->op, task->handler());
  w.start();
  ASSERT_TRUE(WaitForLockHolders(env, 1, "the idle worker to hold the queue's wait lock"));
  // A control: an enqueue to the queue reaches the worker (it is listening now).
  int64_t first = env.enqueuer().enqueue("op");
  ASSERT_TRUE(testutil::WaitFor([&] { return w.stats().wakeups >= 1; }, "the first enqueue's wake-up"));
  ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, first));
  ASSERT_TRUE(WaitForLockHolders(env, 1, "the worker to wait on the queue again"));
  EXPECT_EQ(w.stats().wakeups, 1u);

  // Another session (any role could) notifies the shared channel, each form 0.1 used.
  auto other = env.connect();
  for (int i = 0; i < 20; ++i) {
    other.exec("NOTIFY taskmill");
    other.exec("SELECT pg_catalog.pg_notify('taskmill', $1)", {env.queue});
  }

  // The second control: its wake-up comes after every NOTIFY above.
  int64_t second = env.enqueuer().enqueue("op");
  ASSERT_TRUE(testutil::WaitFor([&] { return w.stats().wakeups >= 2; }, "the second enqueue's wake-up"));
  ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, second));
  EXPECT_EQ(w.stats().wakeups, 2u) << "a NOTIFY on the shared channel woke the worker";
  w.stop();
  EXPECT_EQ(task->executed.load(), 2);
}

TEST(Worker, VisibilityTimeout) {
  TestEnv env;
  int64_t id = env.enqueuer().enqueue("op");
  // A worker that crashed: it dequeued with a 1 s visibility and never acked.
  auto lost = testutil::SqlDequeue(env.pg, env.queue, 1, "1 second");
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_TRUE(testutil::SqlDequeue(env.pg, env.queue, 1).empty()) << "in flight: not visible yet";
  auto task = testutil::MakeSuccessTask("op");
  auto opts = testutil::FastWorkerOptions();
  opts.visibility_timeout = 2s;
  int64_t before = testutil::DbNowMicros(env.pg);
  taskmill::Worker w(env.client, env.queue, opts);
  w.register_task(task->op, task->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, id));
  int64_t after = testutil::DbNowMicros(env.pg);
  w.stop();
  // It reappeared and was processed as the second attempt.
  EXPECT_EQ(testutil::ResultRow(env.pg, id).i64(0, "attempts"), 2);
  // The worker's own delivery used its 2 s visibility timeout: visible_at = dequeue time + 2 s.
  auto tasks = task->tasks();
  ASSERT_EQ(tasks.size(), 1u);
  int64_t vis = testutil::to_micros(tasks[0].visible_at);
  EXPECT_GE(vis, before + 2000000 - 1000);
  EXPECT_LE(vis, after + 2000000 + 1000);
}

TEST(Worker, ProcessTimeout) {
  TestEnv env;
  auto slow = testutil::MakeSlowTask("slow", 20s, /*respect_cancel=*/true);
  auto opts = testutil::FastWorkerOptions();
  opts.process_timeout = 100ms;
  EnqueueOptions o;
  o.max_attempts = 10;
  int64_t id = env.enqueuer().enqueue("slow", nullptr, o);
  taskmill::Worker w(env.client, env.queue, opts);
  w.register_task(slow->op, slow->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitForNacked(env.pg, id, 1));
  w.stop();
  EXPECT_GE(slow->saw_cancel.load(), 1);
  EXPECT_EQ(slow->completed.load(), 0) << "the 20 s handler ran to the end: no deadline at 100 ms";
  // The deadline the handler saw is 100 ms after delivery, which happened before it started.
  EXPECT_LE(slow->last_deadline_us.load(), slow->last_start_us.load() + 100000 + 1000);
  std::string err = LastError(env.pg, id);
  EXPECT_TRUE(ContainsCI(err, "timeout") || ContainsCI(err, "deadline")) << err;
}

TEST(Worker, TaskGroupFilter) {
  TestEnv env;
  auto task = testutil::MakeOrderTrackingTask("op");
  auto enq = env.enqueuer();
  std::vector<int64_t> a, b;
  for (int i = 0; i < 2; ++i) {
    EnqueueOptions oa, ob;
    oa.task_group_id = "group-a";
    ob.task_group_id = "group-b";
    a.push_back(enq.enqueue("op", nullptr, oa));
    b.push_back(enq.enqueue("op", nullptr, ob));
  }
  auto opts = testutil::FastWorkerOptions();
  opts.task_group_id = "group-a";
  taskmill::Worker w(env.client, env.queue, opts);
  w.register_task(task->op, task->handler());
  w.start();
  for (auto id : a) ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, id));
  w.stop();
  for (auto id : b) {
    EXPECT_TRUE(testutil::AssertTaskInQueue(env.pg, id));
    EXPECT_EQ(TaskRow(env.pg, id).i64(0, "attempts"), 0) << "group-b task was delivered";
  }
  for (const auto& g : task->groups()) EXPECT_EQ(g, "group-a");
}

// ---- 2.3 Worker lifecycle

TEST(Worker, Start_Stop) {
  TestEnv env;
  auto task = testutil::MakeSuccessTask("op");
  taskmill::Worker w(env.client, env.queue, testutil::FastWorkerOptions());
  w.register_task(task->op, task->handler());
  EXPECT_FALSE(w.running());
  w.start();
  EXPECT_TRUE(w.running());
  int64_t id = env.enqueuer().enqueue("op");
  ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, id));
  EXPECT_NO_THROW(w.stop());
  EXPECT_FALSE(w.running());
  // Stopped means stopped: a new task stays in the queue.
  int64_t id2 = env.enqueuer().enqueue("op");
  EXPECT_TRUE(testutil::AssertTaskInQueue(env.pg, id2));
  EXPECT_EQ(TaskRow(env.pg, id2).i64(0, "attempts"), 0);
}

TEST(Worker, Stop_WithInFlightTasks) {
  TestEnv env;
  // The handler takes 1 s and ignores cancellation; stop() must wait for it.
  auto slow = testutil::MakeSlowTask("op", 1s, /*respect_cancel=*/false);
  int64_t id = env.enqueuer().enqueue("op");
  taskmill::Worker w(env.client, env.queue, testutil::FastWorkerOptions());
  w.register_task(slow->op, slow->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitFor([&] { return slow->executed.load() >= 1; }, "the handler to start"));
  EXPECT_NO_THROW(w.stop());
  EXPECT_EQ(slow->completed.load(), 1) << "stop() returned before the in-flight task finished";
  EXPECT_TRUE(testutil::WaitForTaskProcessed(env.pg, id, 5s));
  EXPECT_TRUE(testutil::AssertTaskInResults(env.pg, id));
}

TEST(Worker, Stop_Timeout) {
  TestEnv env;
  EXPECT_EQ(WorkerOptions{}.stop_timeout, 10s) << "the default stop timeout is 10 s";
  // The handler would take 30 s and ignores cancellation; stop_timeout is scaled to 500 ms.
  auto slow = testutil::MakeSlowTask("op", 30s, /*respect_cancel=*/false);
  int64_t id = env.enqueuer().enqueue("op");
  auto opts = testutil::FastWorkerOptions();
  opts.stop_timeout = 500ms;
  taskmill::Worker w(env.client, env.queue, opts);
  w.register_task(slow->op, slow->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitFor([&] { return slow->executed.load() >= 1; }, "the handler to start"));
  EXPECT_TASKMILL_ERROR(w.stop(), ErrorCode::Timeout);
  // The in-flight task's visibility was given back: available again, not lost, not done.
  auto row = TaskRow(env.pg, id);
  ASSERT_EQ(row.rows(), 1);
  EXPECT_TRUE(row.is_null(0, "dlq_at"));
  EXPECT_TRUE(row.is_null(0, "lease")) << "the delivery was not released";
  EXPECT_LE(row.i64(0, "visible_at_us"), row.i64(0, "now_us")) << "not visible again";
  slow->release();  // let the handler thread end so the destructor joins quickly
}

TEST(Worker, Stop_ReleasesQueuedTasks) {
  TestEnv env;
  // One handler at a time, batches of 10: the first task runs (held by the gate) while the
  // other four wait in the worker's local queue. stop() gives those four back through
  // taskmill.release: available again at once, their claim's attempt not counted.
  auto gate = testutil::MakeGateTask("op");
  std::vector<taskmill::BatchItem> items(5, taskmill::BatchItem{"op"});
  env.enqueuer().enqueue_batch(items);
  auto opts = testutil::FastWorkerOptions();
  opts.concurrency = 1;
  opts.batch_size = 10;
  opts.visibility_timeout = 120s;  // no expiry makes a task available during the check
  opts.stop_timeout = 60s;         // stop() waits for the gated handler
  taskmill::Worker w(env.client, env.queue, opts);
  w.register_task(gate->op, gate->handler());
  w.start();
  ASSERT_TRUE(gate->wait_executed(1));
  const std::string claimed_sql =
      "SELECT count(*) FROM taskmill.tasks WHERE queue_name = $1 AND lease IS NOT NULL AND attempts = 1";
  ASSERT_TRUE(testutil::WaitFor([&] { return env.pg.scalar_i64(claimed_sql, {env.queue}) == 5; },
                                "all 5 tasks claimed by the worker"));
  std::thread stopper([&] { w.stop(); });
  const std::string released_sql =
      "SELECT count(*) FROM taskmill.tasks WHERE queue_name = $1 AND lease IS NULL"
      " AND attempts = 0 AND visible_at <= now() AND dlq_at IS NULL";
  EXPECT_TRUE(testutil::WaitFor([&] { return env.pg.scalar_i64(released_sql, {env.queue}) == 4; },
                                "the 4 queued tasks to be available again with attempts 0"));
  EXPECT_EQ(gate->executed.load(), 1) << "only the first task ran";
  EXPECT_EQ(env.pg.scalar_i64(claimed_sql, {env.queue}), 1) << "the running task keeps its delivery";
  gate->open();
  stopper.join();
  auto ids = gate->ids();
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_TRUE(testutil::WaitForTaskProcessed(env.pg, ids[0]));
  EXPECT_EQ(env.pg.scalar_i64(released_sql, {env.queue}), 4) << "the released tasks stay available";
}

TEST(Worker, ContextCancellation) {
  TestEnv env;
  auto task = testutil::MakeSuccessTask("op");
  int64_t id = env.enqueuer().enqueue("op");
  taskmill::Worker w(env.client, env.queue, testutil::FastWorkerOptions());
  w.register_task(task->op, task->handler());
  std::stop_source src;
  std::exception_ptr err;
  std::thread runner([&] {
    try {
      w.run(src.get_token());
    } catch (...) {
      err = std::current_exception();
    }
  });
  ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, id));
  src.request_stop();
  runner.join();
  EXPECT_FALSE(err) << "run() threw after cancellation";
  EXPECT_FALSE(w.running());
}

// ---- 2.4 Retry behaviour

TEST(Worker, Retry_ExponentialBackoff) {
  TestEnv env;
  // The handler reads the database clock just before failing: the nack that follows runs
  // later, so failure time <= nack time <= when the test sees the nack, and
  // visible_at = nack time + backoff is bounded exactly by both.
  auto fail = testutil::MakeFailingTask("op", "always fails");
  std::atomic<int64_t> fail_clock{0};
  auto handler_pg = std::make_shared<testutil::PgConn>(env.conninfo());
  fail->before_fail = [handler_pg, &fail_clock](taskmill::TaskContext&) {
    fail_clock.store(testutil::DbNowMicros(*handler_pg));
  };
  EnqueueOptions o;
  o.max_attempts = 4;
  int64_t id = env.enqueuer().enqueue("op", nullptr, o);
  auto opts = testutil::FastWorkerOptions();
  opts.concurrency = 1;
  taskmill::Worker w(env.client, env.queue, opts);
  w.register_task(fail->op, fail->handler());
  w.start();
  const int64_t expected_backoff_us[] = {1000000, 2000000, 4000000};
  for (int attempt = 1; attempt <= 3; ++attempt) {
    ASSERT_TRUE(testutil::WaitForNacked(env.pg, id, attempt));
    int64_t seen = testutil::DbNowMicros(env.pg);
    auto row = TaskRow(env.pg, id);
    int64_t vis = row.i64(0, "visible_at_us");
    int64_t backoff = expected_backoff_us[attempt - 1];
    SCOPED_TRACE("attempt " + std::to_string(attempt));
    EXPECT_GE(vis - fail_clock.load(), backoff - 1000) << "backoff shorter than expected";
    EXPECT_LE(vis - seen, backoff + 1000) << "backoff longer than expected";
    EXPECT_TRUE(row.is_null(0, "dlq_at"));
    // Time travel instead of waiting out the backoff.
    testutil::MakeVisibleNow(env.pg, id);
  }
  ASSERT_TRUE(testutil::WaitForDLQCount(env.pg, env.queue, 1));
  w.stop();
  EXPECT_EQ(fail->fail_count.load(), 4);
}

TEST(Worker, Retry_MaxAttempts) {
  TestEnv env;
  auto fail = testutil::MakeFailingTask("op");
  EnqueueOptions o;
  o.max_attempts = 2;
  int64_t id = env.enqueuer().enqueue("op", nullptr, o);
  taskmill::Worker w(env.client, env.queue, testutil::FastWorkerOptions());
  w.register_task(fail->op, fail->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitForNacked(env.pg, id, 1));
  EXPECT_TRUE(testutil::AssertTaskInQueue(env.pg, id)) << "in the DLQ after only one failure";
  testutil::MakeVisibleNow(env.pg, id);
  ASSERT_TRUE(testutil::WaitForDLQCount(env.pg, env.queue, 1));
  w.stop();
  EXPECT_TRUE(testutil::AssertTaskInDLQ(env.pg, id));
  EXPECT_EQ(TaskRow(env.pg, id).i64(0, "attempts"), 2);
  EXPECT_EQ(fail->fail_count.load(), 2);
}

TEST(Worker, Retry_PreservesAttempts) {
  TestEnv env;
  auto task = testutil::MakeConditionalTask("op", 2);
  EnqueueOptions o;
  o.max_attempts = 5;
  int64_t id = env.enqueuer().enqueue("op", nullptr, o);
  taskmill::Worker w(env.client, env.queue, testutil::FastWorkerOptions());
  w.register_task(task->op, task->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitForNacked(env.pg, id, 1));
  EXPECT_EQ(TaskRow(env.pg, id).i64(0, "attempts"), 1);
  testutil::MakeVisibleNow(env.pg, id);
  ASSERT_TRUE(testutil::WaitForNacked(env.pg, id, 2));
  EXPECT_EQ(TaskRow(env.pg, id).i64(0, "attempts"), 2);
  EXPECT_NE(LastError(env.pg, id).find("conditional failure 2"), std::string::npos) << LastError(env.pg, id);
  testutil::MakeVisibleNow(env.pg, id);
  ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, id));
  w.stop();
  EXPECT_EQ(testutil::ResultRow(env.pg, id).i64(0, "attempts"), 3);
  EXPECT_EQ(task->current_count.load(), 3);
}

// ---- Per-delivery events (WorkerOptions::on_task_event: metrics and the CLI's --json log)

TEST(Worker, TaskEvents_OnePerDelivery) {
  TestEnv env;
  struct Log {
    std::mutex mu;
    std::vector<taskmill::TaskEvent> events;
    std::size_t size() {
      std::lock_guard lk(mu);
      return events.size();
    }
  };
  auto log = std::make_shared<Log>();
  auto ok = testutil::MakeSuccessTask("ok");
  auto fail = testutil::MakeFailingTask("fail", "card declined");
  auto panic = testutil::MakePanicTask("explode", "boom");
  auto slow = testutil::MakeSlowTask("slow", 5s, /*respect_cancel=*/true);
  auto opts = testutil::FastWorkerOptions();
  opts.process_timeout = 300ms;
  opts.on_task_event = [log](const taskmill::TaskEvent& e) {
    std::lock_guard lk(log->mu);
    log->events.push_back(e);
  };
  EnqueueOptions once;
  once.max_attempts = 1;
  EnqueueOptions many;
  many.max_attempts = 10;
  auto enq = env.enqueuer();
  const auto before = std::chrono::system_clock::now();
  int64_t ok_id = enq.enqueue("ok");
  int64_t retried = enq.enqueue("fail", nullptr, many);
  int64_t dead = enq.enqueue("fail", nullptr, once);
  int64_t panicked = enq.enqueue("explode", nullptr, many);
  int64_t timed_out = enq.enqueue("slow", nullptr, many);
  taskmill::Worker w(env.client, env.queue, opts);
  w.register_task(ok->op, ok->handler());
  w.register_task(fail->op, fail->handler());
  w.register_task(panic->op, panic->handler());
  w.register_task(slow->op, slow->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, ok_id));
  ASSERT_TRUE(testutil::WaitForNacked(env.pg, retried, 1));
  ASSERT_TRUE(testutil::WaitForDLQCount(env.pg, env.queue, 1));
  ASSERT_TRUE(testutil::WaitForNacked(env.pg, panicked, 1));
  ASSERT_TRUE(testutil::WaitForNacked(env.pg, timed_out, 1));
  ASSERT_TRUE(testutil::WaitFor([&] { return log->size() >= 5; }, "five task events"));
  w.stop();
  std::lock_guard lk(log->mu);
  // The first event of each task (retried ones may have run again before stop()).
  std::map<int64_t, taskmill::TaskEvent> first;
  for (auto& e : log->events) first.emplace(e.task_id, e);
  ASSERT_EQ(first.size(), 5u);
  using O = taskmill::TaskEvent::Outcome;
  EXPECT_EQ(first.at(ok_id).outcome, O::Succeeded);
  EXPECT_EQ(first.at(retried).outcome, O::Failed);
  EXPECT_EQ(first.at(dead).outcome, O::DeadLettered);
  EXPECT_EQ(first.at(panicked).outcome, O::Panicked);
  EXPECT_EQ(first.at(timed_out).outcome, O::TimedOut);
  EXPECT_STREQ(taskmill::to_string(O::DeadLettered), "dead_lettered");
  EXPECT_STREQ(taskmill::to_string(first.at(timed_out).outcome), "timed_out");
  EXPECT_EQ(first.at(ok_id).error, "");
  EXPECT_TRUE(ContainsCI(first.at(retried).error, "card declined")) << first.at(retried).error;
  EXPECT_TRUE(ContainsCI(first.at(panicked).error, "boom")) << first.at(panicked).error;
  EXPECT_GE(first.at(timed_out).duration, std::chrono::microseconds(300ms));
  for (auto& [id, e] : first) {
    EXPECT_EQ(e.queue, env.queue);
    EXPECT_EQ(e.attempt, 1) << "task " << id;
    EXPECT_GE(e.finished_at, before);
    EXPECT_GE(e.duration.count(), 0);
  }
  EXPECT_EQ(first.at(ok_id).operation, "ok");
  EXPECT_EQ(first.at(dead).operation, "fail");
}

TEST(Worker, TaskEvents_ReleasedOnStopTimeout) {
  TestEnv env;
  std::atomic<int> released{0}, events{0};
  auto slow = testutil::MakeSlowTask("slow", 1500ms, /*respect_cancel=*/false);
  auto opts = testutil::FastWorkerOptions();
  opts.stop_timeout = 200ms;
  opts.on_task_event = [&](const taskmill::TaskEvent& e) {
    ++events;
    if (e.outcome == taskmill::TaskEvent::Outcome::Released) ++released;
  };
  int64_t id = env.enqueuer().enqueue("slow");
  {
    taskmill::Worker w(env.client, env.queue, opts);
    w.register_task(slow->op, slow->handler());
    w.start();
    ASSERT_TRUE(testutil::WaitFor([&] { return slow->executed.load() >= 1; }, "the handler started"));
    EXPECT_THROW(w.stop(), taskmill::Error);
  }  // the destructor joins the straggler: its event has been reported by now
  EXPECT_EQ(events.load(), 1);
  EXPECT_EQ(released.load(), 1);
  EXPECT_TRUE(testutil::AssertTaskInQueue(env.pg, id));
}
