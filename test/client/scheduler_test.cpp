// Seed catalogue section 3: Scheduler integration tests (registration, cron validation,
// execution, lifecycle). Time travel: next_run_at is moved instead of waiting for a tick.
#include <gtest/gtest.h>

#include <ctime>
#include <thread>

#include "testutil.hpp"

using namespace std::chrono_literals;
using taskmill::ErrorCode;
using taskmill::Json;
using taskmill::Schedule;
using taskmill::SchedulerOptions;
using testutil::TestEnv;

namespace {

// Moves a schedule's next run into the past (or to `expr`), so the next check enqueues it.
void MakeDue(testutil::PgConn& pg, const std::string& queue, const std::string& op,
             const std::string& expr = "now() - interval '1 second'") {
  auto r = pg.exec("UPDATE taskmill.task_schedules SET next_run_at = " + expr +
                       " WHERE queue_name = $1 AND operation_id = $2",
                   {queue, op});
  ASSERT_EQ(std::string(PQcmdTuples(r.native())), "1") << "no schedule " << op;
}

std::optional<taskmill::ScheduleInfo> Find(taskmill::Client& c, const std::string& queue, const std::string& op) {
  for (auto& s : taskmill::Console(c).list_schedules(queue))
    if (s.operation_id == op) return s;
  return std::nullopt;
}

int64_t CountOp(testutil::PgConn& pg, const std::string& queue, const std::string& op) {
  return pg.scalar_i64("SELECT count(*) FROM taskmill.tasks WHERE queue_name = $1 AND operation_id = $2",
                       {queue, op});
}

SchedulerOptions Fast() { return SchedulerOptions{.check_interval = 100ms}; }

std::tm Utc(taskmill::Clock::time_point tp) {
  std::time_t t = taskmill::Clock::to_time_t(tp);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return tm;
}

}  // namespace

// ---- 3.1 Schedule registration

TEST(Scheduler, RegisterSchedules_Success) {
  TestEnv env;
  taskmill::Scheduler s(env.client, env.queue);
  s.register_schedules({{"report", "0 * * * *"}, {"cleanup", "*/5 * * * *", "UTC", Json{{"days", 7}}}});
  EXPECT_EQ(env.pg.scalar_i64("SELECT count(*) FROM taskmill.task_schedules WHERE queue_name = $1", {env.queue}), 2);
  auto cleanup = Find(env.client, env.queue, "cleanup");
  ASSERT_TRUE(cleanup);
  EXPECT_EQ(cleanup->cron, "*/5 * * * *");
  EXPECT_EQ(cleanup->payload, (Json{{"days", 7}}));
  EXPECT_TRUE(cleanup->next_run_at.has_value());
  EXPECT_TRUE(Find(env.client, env.queue, "report"));
}

TEST(Scheduler, RegisterSchedules_Update) {
  TestEnv env;
  taskmill::Scheduler s(env.client, env.queue);
  s.register_schedules({{"report", "0 * * * *"}});
  s.register_schedules({{"report", "30 2 * * *", "UTC", Json{{"v", 2}}}});
  EXPECT_EQ(env.pg.scalar_i64("SELECT count(*) FROM taskmill.task_schedules WHERE queue_name = $1", {env.queue}), 1);
  auto info = Find(env.client, env.queue, "report");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->cron, "30 2 * * *");
  EXPECT_EQ(info->payload, (Json{{"v", 2}}));
  ASSERT_TRUE(info->next_run_at);
  auto tm = Utc(*info->next_run_at);
  EXPECT_EQ(tm.tm_hour, 2);
  EXPECT_EQ(tm.tm_min, 30) << "next_run_at was not recomputed for the new cron";
}

TEST(Scheduler, RegisterSchedules_Cleanup) {
  TestEnv env;
  taskmill::Scheduler s(env.client, env.queue);
  s.register_schedules({{"a", "* * * * *"}, {"b", "* * * * *"}});
  // Another queue's schedules are not touched by this queue's registration.
  std::string other = env.another_queue("other");
  taskmill::Scheduler(env.client, other).register_schedules({{"c", "* * * * *"}});
  s.register_schedules({{"a", "* * * * *"}});
  EXPECT_TRUE(Find(env.client, env.queue, "a"));
  EXPECT_FALSE(Find(env.client, env.queue, "b")) << "schedule b was not deleted";
  EXPECT_TRUE(Find(env.client, other, "c"));
}

TEST(Scheduler, RegisterSchedules_WithOptions) {
  TestEnv env;
  taskmill::Scheduler s(env.client, env.queue);
  s.register_schedules({{"op", "0 0 1 1 *", "UTC", Json{{"k", 1}},
                         Json{{"priority", 7}, {"max_attempts", 5}, {"task_group_id", "g"}, {"ephemeral", true}}}});
  auto info = Find(env.client, env.queue, "op");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->options.value("priority", 0), 7) << info->options.dump();
  MakeDue(env.pg, env.queue, "op");
  EXPECT_EQ(s.run_once(), 1);
  auto r = env.pg.exec(
      "SELECT priority, max_attempts, task_group_id, ephemeral, payload::text AS p FROM taskmill.tasks"
      " WHERE queue_name = $1 AND operation_id = 'op'",
      {env.queue});
  ASSERT_EQ(r.rows(), 1);
  EXPECT_EQ(r.i64(0, "priority"), 7);
  EXPECT_EQ(r.i64(0, "max_attempts"), 5);
  EXPECT_EQ(r.str(0, "task_group_id"), "g");
  EXPECT_TRUE(r.boolean(0, "ephemeral"));
  EXPECT_EQ(Json::parse(r.str(0, "p")), (Json{{"k", 1}}));
}

// ---- 3.2 Cron pattern validation

TEST(Scheduler, CronPattern_EveryMinute) {
  TestEnv env;
  int64_t before = testutil::DbNowMicros(env.pg);
  taskmill::Scheduler(env.client, env.queue).register_schedules({{"op", "* * * * *"}});
  auto info = Find(env.client, env.queue, "op");
  ASSERT_TRUE(info && info->next_run_at);
  int64_t next = testutil::to_micros(*info->next_run_at);
  EXPECT_GT(next, before);
  EXPECT_LE(next, before + 60000000);
  EXPECT_EQ(next % 60000000, 0) << "next run must be on a minute boundary";
}

TEST(Scheduler, CronPattern_Complex) {
  TestEnv env;
  taskmill::Scheduler(env.client, env.queue).register_schedules({{"op", "*/15 9-17 * * 1-5"}});
  auto info = Find(env.client, env.queue, "op");
  ASSERT_TRUE(info && info->next_run_at);
  auto tm = Utc(*info->next_run_at);
  EXPECT_EQ(tm.tm_min % 15, 0);
  EXPECT_EQ(tm.tm_sec, 0);
  EXPECT_GE(tm.tm_hour, 9);
  EXPECT_LE(tm.tm_hour, 17);
  EXPECT_GE(tm.tm_wday, 1);
  EXPECT_LE(tm.tm_wday, 5);
  EXPECT_GT(*info->next_run_at, std::chrono::system_clock::now() - 1s);
  // Exact values from fixed instants (2026-11-28 is a Saturday; 17:45 is the day's last run).
  EXPECT_EQ(env.pg.scalar("SELECT taskmill.cron_next('*/15 9-17 * * 1-5', '2026-11-28 12:00:00+00') = "
                          "'2026-11-30 09:00:00+00'::timestamptz"),
            "t");
  EXPECT_EQ(env.pg.scalar("SELECT taskmill.cron_next('*/15 9-17 * * 1-5', '2026-11-25 17:50:00+00') = "
                          "'2026-11-26 09:00:00+00'::timestamptz"),
            "t");
  EXPECT_EQ(env.pg.scalar("SELECT taskmill.cron_next('*/15 9-17 * * 1-5', '2026-11-25 10:01:00+00') = "
                          "'2026-11-25 10:15:00+00'::timestamptz"),
            "t");
}

TEST(Scheduler, CronPattern_Invalid) {
  TestEnv env;
  taskmill::Scheduler s(env.client, env.queue);
  EXPECT_TASKMILL_ERROR(s.register_schedules({{"op", "60 * * * *"}}), ErrorCode::Validation);
  EXPECT_EQ(env.pg.scalar_i64("SELECT count(*) FROM taskmill.task_schedules WHERE queue_name = $1", {env.queue}), 0);
}

TEST(Scheduler, CronPattern_WrongFields) {
  TestEnv env;
  taskmill::Scheduler s(env.client, env.queue);
  EXPECT_TASKMILL_ERROR(s.register_schedules({{"op", "* * *"}}), ErrorCode::Validation);
  EXPECT_EQ(env.pg.scalar_i64("SELECT count(*) FROM taskmill.task_schedules WHERE queue_name = $1", {env.queue}), 0);
}

// ---- 3.3 Schedule execution

TEST(Scheduler, ProcessDueSchedule) {
  TestEnv env;
  taskmill::Scheduler s(env.client, env.queue, Fast());
  s.register_schedules({{"op", "0 0 1 1 *", "UTC", Json{{"from", "cron"}}}});
  MakeDue(env.pg, env.queue, "op");
  int64_t before = testutil::DbNowMicros(env.pg);
  s.start();
  ASSERT_TRUE(testutil::WaitFor([&] { return CountOp(env.pg, env.queue, "op") == 1; }, "the scheduled task"));
  s.stop();
  auto info = Find(env.client, env.queue, "op");
  ASSERT_TRUE(info && info->next_run_at && info->last_run_at);
  EXPECT_GT(testutil::to_micros(*info->next_run_at), before) << "next_run_at not advanced";
  auto tm = Utc(*info->next_run_at);
  EXPECT_EQ(tm.tm_mon, 0);
  EXPECT_EQ(tm.tm_mday, 1);
  EXPECT_EQ(CountOp(env.pg, env.queue, "op"), 1);
}

TEST(Scheduler, ProcessDueSchedule_WithOptions) {
  TestEnv env;
  taskmill::Scheduler s(env.client, env.queue, Fast());
  s.register_schedules({{"op", "0 0 1 1 *", "UTC", nullptr, Json{{"priority", 10}}}});
  MakeDue(env.pg, env.queue, "op");
  s.start();
  ASSERT_TRUE(testutil::WaitFor([&] { return CountOp(env.pg, env.queue, "op") == 1; }, "the scheduled task"));
  s.stop();
  EXPECT_EQ(env.pg.scalar_i64("SELECT priority FROM taskmill.tasks WHERE queue_name = $1", {env.queue}), 10);
}

TEST(Scheduler, SkipNotDueSchedule) {
  TestEnv env;
  taskmill::Scheduler s(env.client, env.queue, Fast());
  s.register_schedules({{"op", "* * * * *"}});
  MakeDue(env.pg, env.queue, "op", "now() + interval '1 hour'");
  EXPECT_EQ(s.run_once(), 0);
  s.start();
  // Let a few check intervals pass (this case is about time passing with nothing due).
  std::this_thread::sleep_for(500ms);
  s.stop();
  EXPECT_EQ(CountOp(env.pg, env.queue, "op"), 0);
}

TEST(Scheduler, ProcessMultipleDue) {
  TestEnv env;
  taskmill::Scheduler s(env.client, env.queue, Fast());
  s.register_schedules({{"a", "0 0 1 1 *"}, {"b", "0 0 1 1 *"}, {"c", "0 0 1 1 *"}});
  for (auto op : {"a", "b", "c"}) MakeDue(env.pg, env.queue, op);
  s.start();
  ASSERT_TRUE(testutil::WaitFor([&] { return testutil::CountTasks(env.pg, env.queue) == 3; }, "3 scheduled tasks"));
  s.stop();
  for (auto op : {"a", "b", "c"}) EXPECT_EQ(CountOp(env.pg, env.queue, op), 1) << op;
}

TEST(Scheduler, Idempotency) {
  TestEnv env;
  taskmill::Scheduler s(env.client, env.queue);
  s.register_schedules({{"op", "0 0 1 1 *"}});
  MakeDue(env.pg, env.queue, "op", "date_trunc('minute', now()) - interval '1 minute'");
  auto tick = env.pg.scalar("SELECT next_run_at::text FROM taskmill.task_schedules WHERE queue_name = $1", {env.queue});
  EXPECT_EQ(s.run_once(), 1);
  ASSERT_EQ(CountOp(env.pg, env.queue, "op"), 1);
  // The same tick comes round again while its task exists: no duplicate and no error.
  MakeDue(env.pg, env.queue, "op", "'" + tick.value_or("") + "'::timestamptz");
  EXPECT_NO_THROW(s.run_once());
  EXPECT_EQ(CountOp(env.pg, env.queue, "op"), 1) << "the same tick was enqueued twice";
}

TEST(Scheduler, FailedEnqueue) {
  TestEnv env;
  // An invalid setup the server cannot enqueue: a trigger in this test's database rejects
  // the "broken" schedule's task. The healthy schedule due at the same time still runs.
  env.pg.exec(
      "CREATE FUNCTION public.reject_broken() RETURNS trigger LANGUAGE plpgsql AS $$"
      " BEGIN RAISE EXCEPTION 'broken schedule target'; END $$");
  env.pg.exec(
      "CREATE TRIGGER reject_broken BEFORE INSERT ON taskmill.tasks FOR EACH ROW"
      " WHEN (NEW.operation_id = 'broken') EXECUTE FUNCTION public.reject_broken()");
  taskmill::Scheduler s(env.client, env.queue, Fast());
  s.register_schedules({{"broken", "0 0 1 1 *"}, {"healthy", "0 0 1 1 *"}});
  MakeDue(env.pg, env.queue, "broken");
  MakeDue(env.pg, env.queue, "healthy");
  int64_t before = testutil::DbNowMicros(env.pg);
  s.start();
  ASSERT_TRUE(testutil::WaitFor(
      [&] {
        auto i = Find(env.client, env.queue, "broken");
        return i && i->last_status && *i->last_status != "ok" && *i->last_status != "success";
      },
      "the broken schedule to be marked failed"));
  ASSERT_TRUE(testutil::WaitFor([&] { return CountOp(env.pg, env.queue, "healthy") == 1; }, "the healthy task"));
  s.stop();
  auto info = Find(env.client, env.queue, "broken");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->last_status.value_or(""), "failed");
  ASSERT_TRUE(info->last_error);
  EXPECT_NE(info->last_error->find("broken schedule target"), std::string::npos) << *info->last_error;
  ASSERT_TRUE(info->next_run_at);
  EXPECT_GT(testutil::to_micros(*info->next_run_at), before) << "no retry scheduled";
  EXPECT_EQ(CountOp(env.pg, env.queue, "broken"), 0);
}

// ---- 3.4 Scheduler lifecycle

TEST(Scheduler, Start_Stop) {
  TestEnv env;
  taskmill::Scheduler s(env.client, env.queue, Fast());
  s.register_schedules({{"op", "0 0 1 1 *"}});
  EXPECT_FALSE(s.running());
  EXPECT_NO_THROW(s.start());
  EXPECT_TRUE(s.running());
  EXPECT_NO_THROW(s.stop());
  EXPECT_FALSE(s.running());
  EXPECT_NO_THROW(s.stop()) << "a second stop is harmless";
}

TEST(Scheduler, CheckInterval) {
  TestEnv env;
  taskmill::Scheduler s(env.client, env.queue, SchedulerOptions{.check_interval = 1s});
  s.register_schedules({{"op", "0 0 1 1 *"}});
  MakeDue(env.pg, env.queue, "op", "now() + interval '2 seconds'");
  auto due = env.pg.scalar_i64(
      "SELECT (extract(epoch FROM next_run_at) * 1000000)::bigint FROM taskmill.task_schedules WHERE queue_name = $1",
      {env.queue});
  s.start();
  ASSERT_TRUE(testutil::WaitFor([&] { return CountOp(env.pg, env.queue, "op") == 1; }, "the task due in 2 s"));
  s.stop();
  // Enqueued by a later check, not before it was due.
  auto created = env.pg.scalar_i64(
      "SELECT (extract(epoch FROM created_at) * 1000000)::bigint FROM taskmill.tasks WHERE queue_name = $1",
      {env.queue});
  EXPECT_GE(created, due);
}
