// Seed catalogue section 8: the dead-letter queue — how tasks get there (attempts, expiry),
// the reason recorded, stats, never delivered, requeue.
#include <gtest/gtest.h>

#include "testutil.hpp"

using namespace std::chrono_literals;
using taskmill::EnqueueOptions;
using taskmill::Json;
using testutil::TestEnv;

namespace {

std::string DlqReason(TestEnv& env, int64_t id) {
  return env.pg.scalar("SELECT coalesce(dlq_reason, '<null>') FROM taskmill.tasks WHERE id = $1::bigint",
                       {std::to_string(id)})
      .value_or("<no row>");
}

// Runs a worker with `handler` for op until the task is in the DLQ (time-travelling retries).
template <class Handler>
void FailUntilDLQ(TestEnv& env, int64_t id, int max_attempts, const std::string& op, Handler h) {
  taskmill::Worker w(env.client, env.queue, testutil::FastWorkerOptions());
  w.register_task(op, h);
  w.start();
  for (int attempt = 1; attempt < max_attempts; ++attempt) {
    ASSERT_TRUE(testutil::WaitForNacked(env.pg, id, attempt));
    testutil::MakeVisibleNow(env.pg, id);
  }
  ASSERT_TRUE(testutil::WaitForDLQCount(env.pg, env.queue, 1));
  w.stop();
}

// A task of one attempt whose handler (of "op") fails: its DLQ reason quotes `message`.
void ExpectReasonQuotes(TestEnv& env, taskmill::Handler h, const std::string& message) {
  EnqueueOptions o;
  o.max_attempts = 1;
  int64_t id = env.enqueuer().enqueue("op", nullptr, o);
  FailUntilDLQ(env, id, 1, "op", std::move(h));
  EXPECT_NE(DlqReason(env, id).find(message), std::string::npos) << DlqReason(env, id);
}

}  // namespace

TEST(DLQ, MaxAttemptsExceeded) {
  TestEnv env;
  auto fail = testutil::MakeFailingTask("op");
  EnqueueOptions o;
  o.max_attempts = 2;
  int64_t id = env.enqueuer().enqueue("op", nullptr, o);
  FailUntilDLQ(env, id, 2, fail->op, fail->handler());
  EXPECT_TRUE(testutil::AssertTaskInDLQ(env.pg, id));
  EXPECT_EQ(fail->fail_count.load(), 2);
  EXPECT_EQ(testutil::TaskRow(env.pg, id).i64(0, "attempts"), 2);
}

TEST(DLQ, Expired) {
  TestEnv env;
  EnqueueOptions o;
  o.expires_at = std::chrono::system_clock::now() - 1h;
  int64_t id = env.enqueuer().enqueue("op", nullptr, o);
  EXPECT_TRUE(testutil::SqlDequeue(env.pg, env.queue, 10).empty()) << "an expired task was delivered";
  EXPECT_TRUE(testutil::AssertTaskInDLQ(env.pg, id));
  EXPECT_EQ(DlqReason(env, id), "expired");
}

TEST(DLQ, Reason_Error) {
  TestEnv env;
  auto fail = testutil::MakeFailingTask("op", "payment gateway said no (code 402)");
  ExpectReasonQuotes(env, fail->handler(), "payment gateway said no (code 402)");
}

TEST(DLQ, Reason_Panic) {
  TestEnv env;
  auto panic = testutil::MakePanicTask("op", "vector::_M_range_check: n >= size()");
  ExpectReasonQuotes(env, panic->handler(), "vector::_M_range_check: n >= size()");
}

TEST(DLQ, Stats) {
  TestEnv env;
  EnqueueOptions o;
  o.max_attempts = 1;
  for (int i = 0; i < 3; ++i) testutil::FailToDLQ(env.pg, env.queue, env.enqueuer().enqueue("op", nullptr, o));
  env.enqueuer().enqueue("op");
  auto s = taskmill::Console(env.client).stats(env.queue);
  EXPECT_EQ(s.in_dlq, 3);
  EXPECT_EQ(s.available, 1);
  EXPECT_TRUE(testutil::AssertQueueStats(env.pg, env.queue, {1, 0, 0, 3}));
  EXPECT_EQ(taskmill::Console(env.client).list_dlq(env.queue).size(), 3u);
}

TEST(DLQ, NotDequeued) {
  TestEnv env;
  EnqueueOptions o;
  o.max_attempts = 1;
  std::vector<int64_t> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(env.enqueuer().enqueue("op", nullptr, o));
    testutil::FailToDLQ(env.pg, env.queue, ids.back());
  }
  // Even with visible_at in the past, DLQ rows are never delivered.
  env.pg.exec("UPDATE taskmill.tasks SET visible_at = now() - interval '1 hour' WHERE queue_name = $1", {env.queue});
  EXPECT_TRUE(testutil::SqlDequeue(env.pg, env.queue, 10).empty());
  // Nor handed to a worker: a later task is processed, the DLQ rows stay untouched.
  auto task = testutil::MakeSuccessTask("op");
  taskmill::Worker w(env.client, env.queue, testutil::FastWorkerOptions());
  w.register_task(task->op, task->handler());
  w.start();
  int64_t fresh = env.enqueuer().enqueue("op");
  ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, fresh));
  w.stop();
  EXPECT_EQ(task->executed.load(), 1);
  for (auto id : ids) EXPECT_TRUE(testutil::AssertTaskInDLQ(env.pg, id));
}

TEST(DLQ, RequeueSuccess) {
  TestEnv env;
  EnqueueOptions o;
  o.max_attempts = 1;
  int64_t id = env.enqueuer().enqueue("op", Json{{"k", "v"}}, o);
  testutil::FailToDLQ(env.pg, env.queue, id);
  taskmill::Console(env.client).requeue_from_dlq(id);
  auto task = testutil::MakeSuccessTask("op");
  taskmill::Worker w(env.client, env.queue, testutil::FastWorkerOptions());
  w.register_task(task->op, task->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, id));
  w.stop();
  EXPECT_TRUE(testutil::AssertTaskInResults(env.pg, id));
  EXPECT_EQ(task->last_payload(), (Json{{"k", "v"}}));
}

TEST(DLQ, RequeueResetsAttempts) {
  TestEnv env;
  EnqueueOptions o;
  o.max_attempts = 3;
  int64_t id = env.enqueuer().enqueue("op", nullptr, o);
  testutil::FailToDLQ(env.pg, env.queue, id);
  ASSERT_EQ(testutil::TaskRow(env.pg, id).i64(0, "attempts"), 3);
  taskmill::Console(env.client).requeue_from_dlq(id);
  auto row = testutil::TaskRow(env.pg, id);
  EXPECT_EQ(row.i64(0, "attempts"), 0);
  EXPECT_TRUE(row.is_null(0, "dlq_at"));
  // A full set of attempts is available again.
  auto d = testutil::SqlDequeue(env.pg, env.queue, 1);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].attempts, 1);
  EXPECT_EQ(testutil::SqlNack(env.pg, d[0]), "retry");
}
