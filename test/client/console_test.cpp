// Seed catalogue section 4: Console integration tests (queues, DLQ, schedules, results).
// Each test runs in its own database, so "clean DB" cases really start from nothing.
#include <gtest/gtest.h>

#include <algorithm>

#include "testutil.hpp"

using namespace std::chrono_literals;
using taskmill::Console;
using taskmill::EnqueueOptions;
using taskmill::ErrorCode;
using taskmill::Json;
using testutil::TestEnv;

namespace {

// Sets completed_at of result `id` to now() + offset (SQL interval text, e.g. '-2 hours').
void SetCompletedAt(testutil::PgConn& pg, int64_t id, const std::string& offset) {
  pg.exec("UPDATE taskmill.task_results SET completed_at = now() + $2::interval WHERE id = $1::bigint",
          {std::to_string(id), offset});
}

std::vector<int64_t> Ids(const std::vector<taskmill::ResultRow>& rows) {
  std::vector<int64_t> ids;
  for (const auto& r : rows) ids.push_back(r.id);
  return ids;
}

// n tasks enqueued and completed on `queue`; ids in completion order.
std::vector<int64_t> Completed(TestEnv& env, const std::string& queue, int n) {
  taskmill::Enqueuer e(env.client, queue);
  for (int i = 0; i < n; ++i) e.enqueue("op", Json{{"i", i}});
  return testutil::CompleteTasks(env.pg, queue, n);
}

// The set-up of both purges: two tasks of the test's queue in the DLQ, five pending.
void TwoInDlqFivePending(TestEnv& env) {
  auto e = env.enqueuer();
  EnqueueOptions once;
  once.max_attempts = 1;
  for (int i = 0; i < 2; ++i) testutil::FailToDLQ(env.pg, env.queue, e.enqueue("op", nullptr, once));
  for (int i = 0; i < 5; ++i) e.enqueue("op");
}

}  // namespace

// ---- 4.1 Queue operations

TEST(Console, ListQueues_Empty) {
  TestEnv env;
  EXPECT_TRUE(Console(env.client).list_queues().empty());
}

TEST(Console, ListQueues_Multiple) {
  TestEnv env;
  taskmill::Enqueuer(env.client, "queue-b").enqueue("op");
  taskmill::Enqueuer(env.client, "queue-a").enqueue("op");
  taskmill::Enqueuer(env.client, "queue-a").enqueue("op");
  EXPECT_EQ(Console(env.client).list_queues(), (std::vector<std::string>{"queue-a", "queue-b"}));
}

TEST(Console, Stats_Empty) {
  TestEnv env;
  auto s = Console(env.client).stats(env.queue);
  EXPECT_EQ(s.available, 0);
  EXPECT_EQ(s.in_flight, 0);
  EXPECT_EQ(s.scheduled, 0);
  EXPECT_EQ(s.in_dlq, 0);
}

TEST(Console, Stats_Mixed) {
  TestEnv env;
  auto e = env.enqueuer();
  // in flight: delivered first (lowest ids, highest priority), not acked.
  EnqueueOptions hi;
  hi.priority = 10;
  e.enqueue("op", nullptr, hi);
  auto flying = testutil::SqlDequeue(env.pg, env.queue, 1, "1 hour");
  ASSERT_EQ(flying.size(), 1u);
  // DLQ: two tasks dead-lettered the real way.
  EnqueueOptions once;
  once.max_attempts = 1;
  once.priority = 5;
  int64_t d1 = e.enqueue("op", nullptr, once);
  testutil::FailToDLQ(env.pg, env.queue, d1);
  int64_t d2 = e.enqueue("op", nullptr, once);
  testutil::FailToDLQ(env.pg, env.queue, d2);
  // available: 3; scheduled: 2 (one hour ahead).
  for (int i = 0; i < 3; ++i) e.enqueue("op");
  EnqueueOptions later;
  later.scheduled_at = std::chrono::system_clock::now() + 1h;
  e.enqueue("op", nullptr, later);
  e.enqueue("op", nullptr, later);
  auto s = Console(env.client).stats(env.queue);
  EXPECT_EQ(s.available, 3);
  EXPECT_EQ(s.in_flight, 1);
  EXPECT_EQ(s.scheduled, 2);
  EXPECT_EQ(s.in_dlq, 2);
  EXPECT_TRUE(testutil::AssertQueueStats(env.pg, env.queue, {3, 1, 2, 2}));
}

TEST(Console, Purge) {
  TestEnv env;
  TwoInDlqFivePending(env);
  std::string other = env.another_queue("other");
  taskmill::Enqueuer(env.client, other).enqueue("op");
  EXPECT_EQ(Console(env.client).purge(env.queue), 5);
  EXPECT_EQ(testutil::CountTasks(env.pg, env.queue), 0);
  EXPECT_EQ(testutil::CountDLQ(env.pg, env.queue), 2) << "purge must keep the DLQ";
  EXPECT_EQ(testutil::CountTasks(env.pg, other), 1) << "purge touched another queue";
}

TEST(Console, PurgeDLQ) {
  TestEnv env;
  TwoInDlqFivePending(env);
  EXPECT_EQ(Console(env.client).purge_dlq(env.queue), 2);
  EXPECT_EQ(testutil::CountDLQ(env.pg, env.queue), 0);
  EXPECT_EQ(testutil::CountTasks(env.pg, env.queue), 5) << "purge_dlq must keep pending tasks";
}

// ---- 4.2 DLQ operations

TEST(Console, RequeueFromDLQ_Success) {
  TestEnv env;
  EnqueueOptions o;
  o.max_attempts = 2;
  int64_t id = env.enqueuer().enqueue("op", nullptr, o);
  testutil::FailToDLQ(env.pg, env.queue, id);
  ASSERT_TRUE(testutil::AssertTaskInDLQ(env.pg, id));
  Console(env.client).requeue_from_dlq(id);
  EXPECT_TRUE(testutil::AssertTaskInQueue(env.pg, id));
  auto row = testutil::TaskRow(env.pg, id);
  EXPECT_TRUE(row.is_null(0, "dlq_at"));
  EXPECT_EQ(row.i64(0, "attempts"), 0);
  EXPECT_LE(row.i64(0, "visible_at_us"), row.i64(0, "now_us")) << "requeued task is not available now";
  auto again = testutil::SqlDequeue(env.pg, env.queue, 1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].id, id);
}

TEST(Console, RequeueFromDLQ_NotInDLQ) {
  TestEnv env;
  int64_t id = env.enqueuer().enqueue("op");
  EXPECT_TASKMILL_ERROR(Console(env.client).requeue_from_dlq(id), ErrorCode::NotInDlq);
  EXPECT_TRUE(testutil::AssertTaskInQueue(env.pg, id));
}

TEST(Console, RequeueFromDLQ_NotFound) {
  TestEnv env;
  EXPECT_TASKMILL_ERROR(Console(env.client).requeue_from_dlq(999), ErrorCode::NotFound);
}

// ---- 4.3 Schedule operations

TEST(Console, ListSchedules_All) {
  TestEnv env;
  taskmill::Scheduler(env.client, "queue-a").register_schedules({{"a1", "* * * * *"}, {"a2", "0 * * * *"}});
  taskmill::Scheduler(env.client, "queue-b").register_schedules({{"b1", "0 0 * * *"}});
  auto all = Console(env.client).list_schedules();
  ASSERT_EQ(all.size(), 3u);
  std::vector<std::string> ops;
  for (auto& s : all) ops.push_back(s.operation_id);
  std::sort(ops.begin(), ops.end());
  EXPECT_EQ(ops, (std::vector<std::string>{"a1", "a2", "b1"}));
}

TEST(Console, ListSchedules_ByQueue) {
  TestEnv env;
  taskmill::Scheduler(env.client, "queue-a").register_schedules({{"a1", "* * * * *"}, {"a2", "0 * * * *"}});
  taskmill::Scheduler(env.client, "queue-b").register_schedules({{"b1", "0 0 * * *"}});
  auto a = Console(env.client).list_schedules("queue-a");
  ASSERT_EQ(a.size(), 2u);
  for (auto& s : a) EXPECT_EQ(s.queue_name, "queue-a");
}

TEST(Console, TriggerSchedule_Success) {
  TestEnv env;
  taskmill::Scheduler(env.client, env.queue).register_schedules({{"nightly", "0 3 * * *", "UTC", Json{{"x", 1}}}});
  int64_t id = Console(env.client).trigger_schedule("nightly");
  ASSERT_GT(id, 0);
  auto row = testutil::TaskRow(env.pg, id);
  ASSERT_EQ(row.rows(), 1);
  EXPECT_EQ(row.str(0, "queue_name"), env.queue);
  EXPECT_EQ(row.str(0, "operation_id"), "nightly");
  EXPECT_EQ(Json::parse(row.str(0, "payload_text")), (Json{{"x", 1}}));
  EXPECT_LE(row.i64(0, "visible_at_us"), row.i64(0, "now_us")) << "a triggered task is available at once";
}

TEST(Console, TriggerSchedule_WithOptions) {
  TestEnv env;
  taskmill::Scheduler(env.client, env.queue).register_schedules({{"nightly", "0 3 * * *"}});
  int64_t id = Console(env.client).trigger_schedule("nightly", Json{{"priority", 50}});
  EXPECT_EQ(testutil::TaskRow(env.pg, id).i64(0, "priority"), 50);
}

TEST(Console, TriggerSchedule_NotFound) {
  TestEnv env;
  EXPECT_TASKMILL_ERROR(Console(env.client).trigger_schedule("unknown"), ErrorCode::ScheduleNotFound);
  EXPECT_TRUE(Console(env.client).list_queues().empty());
}

// ---- 4.4 Results operations

TEST(Console, ListResults_All) {
  TestEnv env;
  auto ids = Completed(env, env.queue, 5);
  auto rows = Console(env.client).list_results({.limit = 10});
  ASSERT_EQ(rows.size(), 5u);
  auto got = Ids(rows);
  std::sort(got.begin(), got.end());
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(got, ids);
  for (auto& r : rows) {
    EXPECT_EQ(r.queue_name, env.queue);
    EXPECT_EQ(r.attempts, 1);
  }
}

TEST(Console, ListResults_ByQueue) {
  TestEnv env;
  auto a = Completed(env, "queue-a", 3);
  Completed(env, "queue-b", 2);
  taskmill::ListResultsOptions o;
  o.queue_name = "queue-a";
  auto rows = Console(env.client).list_results(o);
  ASSERT_EQ(rows.size(), 3u);
  for (auto& r : rows) EXPECT_EQ(r.queue_name, "queue-a");
}

TEST(Console, ListResults_Pagination) {
  TestEnv env;
  auto ids = Completed(env, env.queue, 10);
  // Distinct completion times: ids[i] completed i minutes after ids[0]. Newest first, so
  // results 3-5 (offset 2, limit 3) are ids[7], ids[6], ids[5].
  for (int i = 0; i < 10; ++i) SetCompletedAt(env.pg, ids[i], std::to_string(i - 20) + " minutes");
  taskmill::ListResultsOptions o;
  o.limit = 3;
  o.offset = 2;
  EXPECT_EQ(Ids(Console(env.client).list_results(o)), (std::vector<int64_t>{ids[7], ids[6], ids[5]}));
}

TEST(Console, ListResults_ByTimeRange) {
  TestEnv env;
  auto ids = Completed(env, env.queue, 3);
  SetCompletedAt(env.pg, ids[0], "-3 hours");
  SetCompletedAt(env.pg, ids[1], "-2 hours");
  SetCompletedAt(env.pg, ids[2], "-1 hours");
  auto now = std::chrono::system_clock::now();
  taskmill::ListResultsOptions o;
  o.completed_after = now - 150min;
  o.completed_before = now - 90min;
  EXPECT_EQ(Ids(Console(env.client).list_results(o)), (std::vector<int64_t>{ids[1]}));
  o.completed_before.reset();
  EXPECT_EQ(Ids(Console(env.client).list_results(o)), (std::vector<int64_t>{ids[2], ids[1]}));
}

TEST(Console, CleanupResults_ByAge) {
  TestEnv env;
  auto ids = Completed(env, env.queue, 4);
  SetCompletedAt(env.pg, ids[0], "-3 hours");
  SetCompletedAt(env.pg, ids[1], "-2 hours");
  taskmill::CleanupResultsOptions o;
  o.completed_before = std::chrono::system_clock::now() - 1h;
  EXPECT_EQ(Console(env.client).cleanup_results(o), 2);
  EXPECT_FALSE(testutil::AssertTaskInResults(env.pg, ids[0]));
  EXPECT_FALSE(testutil::AssertTaskInResults(env.pg, ids[1]));
  EXPECT_TRUE(testutil::AssertTaskInResults(env.pg, ids[2]));
  EXPECT_TRUE(testutil::AssertTaskInResults(env.pg, ids[3]));
}

TEST(Console, CleanupResults_ByQueue) {
  TestEnv env;
  Completed(env, "queue-a", 3);
  Completed(env, "queue-b", 2);
  taskmill::CleanupResultsOptions o;
  o.queue_name = "queue-a";
  EXPECT_EQ(Console(env.client).cleanup_results(o), 3);
  EXPECT_EQ(testutil::CountResults(env.pg, "queue-a"), 0);
  EXPECT_EQ(testutil::CountResults(env.pg, "queue-b"), 2);
}
