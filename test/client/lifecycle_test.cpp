// Seed catalogue section 5: full lifecycle tests — enqueue, worker, scheduler and console
// together, from the first enqueue to a result (or the DLQ).
#include <gtest/gtest.h>

#include "testutil.hpp"

using namespace std::chrono_literals;
using taskmill::EnqueueOptions;
using taskmill::Json;
using testutil::TestEnv;

TEST(Lifecycle, EnqueueToCompletion) {
  TestEnv env;
  auto task = testutil::MakeSuccessTask("op");
  task->on_run = [](taskmill::TaskContext& ctx) { ctx.set_result(Json{{"echo", ctx.payload()}}); };
  int64_t id = env.enqueuer().enqueue("op", Json{{"n", 1}});
  EXPECT_TRUE(testutil::AssertTaskInQueue(env.pg, id));
  taskmill::Worker w(env.client, env.queue, testutil::FastWorkerOptions());
  w.register_task(task->op, task->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, id));
  w.stop();
  EXPECT_TRUE(testutil::AssertTaskNotExists(env.pg, id));
  ASSERT_TRUE(testutil::AssertTaskInResults(env.pg, id));
  auto r = testutil::ResultRow(env.pg, id);
  EXPECT_EQ(r.i64(0, "attempts"), 1);
  EXPECT_EQ(Json::parse(r.str(0, "payload_text")), (Json{{"n", 1}}));
  EXPECT_EQ(Json::parse(r.str(0, "result_text")), (Json{{"echo", {{"n", 1}}}}));
}

TEST(Lifecycle, EnqueueToRetryToCompletion) {
  TestEnv env;
  auto task = testutil::MakeConditionalTask("op", 1);
  int64_t id = env.enqueuer().enqueue("op");
  taskmill::Worker w(env.client, env.queue, testutil::FastWorkerOptions());
  w.register_task(task->op, task->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitForNacked(env.pg, id, 1));
  testutil::MakeVisibleNow(env.pg, id);  // skip the 1 s backoff
  ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, id));
  w.stop();
  ASSERT_TRUE(testutil::AssertTaskInResults(env.pg, id));
  EXPECT_EQ(testutil::ResultRow(env.pg, id).i64(0, "attempts"), 2);
}

TEST(Lifecycle, EnqueueToDLQ) {
  TestEnv env;
  auto task = testutil::MakeFailingTask("op", "permanent failure");
  EnqueueOptions o;
  o.max_attempts = 3;
  int64_t id = env.enqueuer().enqueue("op", nullptr, o);
  taskmill::Worker w(env.client, env.queue, testutil::FastWorkerOptions());
  w.register_task(task->op, task->handler());
  w.start();
  for (int attempt = 1; attempt <= 2; ++attempt) {
    ASSERT_TRUE(testutil::WaitForNacked(env.pg, id, attempt));
    testutil::MakeVisibleNow(env.pg, id);
  }
  ASSERT_TRUE(testutil::WaitForDLQCount(env.pg, env.queue, 1));
  w.stop();
  EXPECT_TRUE(testutil::AssertTaskInDLQ(env.pg, id));
  EXPECT_EQ(task->fail_count.load(), 3);
  EXPECT_FALSE(testutil::AssertTaskInResults(env.pg, id));
}

TEST(Lifecycle, DLQToRequeueToCompletion) {
  TestEnv env;
  // The handler is broken until the test "deploys the fix".
  std::atomic<bool> fixed{false};
  auto task = testutil::MakeSuccessTask("op");
  task->on_run = [&fixed](taskmill::TaskContext&) {
    if (!fixed.load()) throw taskmill::Error(taskmill::ErrorCode::Internal, "bug");
  };
  EnqueueOptions o;
  o.max_attempts = 1;
  int64_t id = env.enqueuer().enqueue("op", nullptr, o);
  taskmill::Worker w(env.client, env.queue, testutil::FastWorkerOptions());
  w.register_task(task->op, task->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitForDLQCount(env.pg, env.queue, 1));
  fixed.store(true);
  taskmill::Console(env.client).requeue_from_dlq(id);
  ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, id));
  w.stop();
  EXPECT_TRUE(testutil::AssertTaskInResults(env.pg, id));
  EXPECT_EQ(testutil::ResultRow(env.pg, id).i64(0, "attempts"), 1) << "attempts restart at 0 on requeue";
}

TEST(Lifecycle, ScheduleToCompletion) {
  TestEnv env;
  auto task = testutil::MakeSuccessTask("nightly_report");
  taskmill::Scheduler s(env.client, env.queue, taskmill::SchedulerOptions{.check_interval = 100ms});
  s.register_schedules({{"nightly_report", "0 0 1 1 *", "UTC", Json{{"kind", "report"}}}});
  env.pg.exec("UPDATE taskmill.task_schedules SET next_run_at = now() - interval '1 second' WHERE queue_name = $1",
              {env.queue});
  taskmill::Worker w(env.client, env.queue, testutil::FastWorkerOptions());
  w.register_task(task->op, task->handler());
  w.start();
  s.start();
  ASSERT_TRUE(testutil::WaitForResultsCount(env.pg, env.queue, 1));
  s.stop();
  w.stop();
  EXPECT_EQ(task->executed.load(), 1);
  EXPECT_EQ(task->last_payload(), (Json{{"kind", "report"}}));
}

TEST(Lifecycle, EphemeralTask) {
  TestEnv env;
  auto task = testutil::MakeSuccessTask("op");
  EnqueueOptions o;
  o.ephemeral = true;
  int64_t id = env.enqueuer().enqueue("op", nullptr, o);
  taskmill::Worker w(env.client, env.queue, testutil::FastWorkerOptions());
  w.register_task(task->op, task->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, id));
  w.stop();
  EXPECT_EQ(task->executed.load(), 1);
  EXPECT_TRUE(testutil::AssertTaskNotExists(env.pg, id));
  EXPECT_FALSE(testutil::AssertTaskInResults(env.pg, id)) << "an ephemeral task was kept in results";
}

TEST(Lifecycle, PriorityOrdering) {
  TestEnv env;
  auto task = testutil::MakeOrderTrackingTask("op");
  EnqueueOptions low, high;
  low.priority = -50;
  high.priority = 50;
  int64_t l = env.enqueuer().enqueue("op", nullptr, low);
  int64_t h = env.enqueuer().enqueue("op", nullptr, high);
  auto opts = testutil::FastWorkerOptions();
  opts.concurrency = 1;
  opts.batch_size = 1;
  taskmill::Worker w(env.client, env.queue, opts);
  w.register_task(task->op, task->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitForResultsCount(env.pg, env.queue, 2));
  w.stop();
  EXPECT_EQ(task->order(), (std::vector<int64_t>{h, l}));
}

TEST(Lifecycle, ScheduledTask_FutureExecution) {
  TestEnv env;
  auto task = testutil::MakeSuccessTask("op");
  EnqueueOptions o;
  o.scheduled_at = std::chrono::system_clock::now() + 2s;  // the catalogue's 5 s, scaled down
  int64_t id = env.enqueuer().enqueue("op", nullptr, o);
  taskmill::Worker w(env.client, env.queue, testutil::FastWorkerOptions());
  w.register_task(task->op, task->handler());
  w.start();
  EXPECT_EQ(task->executed.load(), 0);
  ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, id));
  w.stop();
  auto r = env.pg.exec(
      "SELECT (extract(epoch FROM completed_at) * 1000000)::bigint AS done,"
      "       (extract(epoch FROM scheduled_at) * 1000000)::bigint AS due FROM taskmill.task_results WHERE id = $1::bigint",
      {std::to_string(id)});
  ASSERT_EQ(r.rows(), 1);
  EXPECT_GE(r.i64(0, "done"), r.i64(0, "due")) << "processed before its scheduled time";
  EXPECT_NEAR(r.i64(0, "due"), testutil::to_micros(*o.scheduled_at), 1000);
}

TEST(Lifecycle, ExpiredTask) {
  TestEnv env;
  auto task = testutil::MakeSuccessTask("op");
  auto now = std::chrono::system_clock::now();
  EnqueueOptions o;
  o.scheduled_at = now - 2h;
  o.expires_at = now - 1h;
  int64_t id = env.enqueuer().enqueue("op", nullptr, o);
  taskmill::Worker w(env.client, env.queue, testutil::FastWorkerOptions());
  w.register_task(task->op, task->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitForDLQCount(env.pg, env.queue, 1));
  w.stop();
  EXPECT_TRUE(testutil::AssertTaskInDLQ(env.pg, id));
  EXPECT_EQ(task->executed.load(), 0) << "an expired task was handed to a handler";
  EXPECT_EQ(testutil::TaskRow(env.pg, id).str(0, "dlq_reason"), "expired");
}
