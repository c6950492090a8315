// Seed catalogue section 9: edge cases — payloads, timing, numeric limits, empty states and
// database transactions (the caller's own transaction, concurrent migrate()).
#include <gtest/gtest.h>

#include <barrier>
#include <cstdlib>
#include <thread>

#include "testutil.hpp"

using namespace std::chrono_literals;
using taskmill::EnqueueOptions;
using taskmill::ErrorCode;
using taskmill::Json;
using testutil::TestEnv;

namespace {

Json StoredPayload(TestEnv& env, int64_t id) {
  auto t = testutil::TaskRow(env.pg, id).get(0, "payload_text");
  return t ? Json::parse(*t) : Json();
}

// Runs a worker until the task is processed; returns the payload the handler received.
Json RoundTrip(TestEnv& env, int64_t id, const std::string& op = "op") {
  auto task = testutil::MakeSuccessTask(op);
  taskmill::Worker w(env.client, env.queue, testutil::FastWorkerOptions());
  w.register_task(task->op, task->handler());
  w.start();
  EXPECT_TRUE(testutil::WaitForTaskProcessed(env.pg, id));
  w.stop();
  EXPECT_EQ(task->executed.load(), 1);
  return task->last_payload();
}

bool Available(TestEnv& env, int64_t id) {
  return env.pg.scalar_i64("SELECT count(*) FROM taskmill.tasks WHERE id = $1::bigint AND dlq_at IS NULL"
                           " AND visible_at <= now()",
                           {std::to_string(id)}) == 1;
}

// The next dequeue of one task hands out `id`.
void ExpectNextDequeued(TestEnv& env, int64_t id) {
  auto d = testutil::SqlDequeue(env.pg, env.queue, 1);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].id, id);
}

}  // namespace

// ---- 9.1 Payload edge cases

TEST(Edge, NilPayload) {
  TestEnv env;
  int64_t id = env.enqueuer().enqueue("op", nullptr);
  EXPECT_TRUE(RoundTrip(env, id).is_null());
}

TEST(Edge, EmptyMapPayload) {
  TestEnv env;
  int64_t id = env.enqueuer().enqueue("op", Json::object());
  EXPECT_EQ(StoredPayload(env, id), Json::object());
  EXPECT_EQ(RoundTrip(env, id), Json::object());
}

TEST(Edge, LargePayload) {
  TestEnv env;
  Json payload = {{"blob", std::string(1 << 20, 'x')}, {"n", 1}};
  int64_t id = env.enqueuer().enqueue("op", payload);
  EXPECT_EQ(env.pg.scalar_i64("SELECT length(payload->>'blob') FROM taskmill.tasks WHERE id = $1::bigint",
                              {std::to_string(id)}),
            1 << 20);
  EXPECT_EQ(RoundTrip(env, id), payload);
}

TEST(Edge, NestedPayload) {
  TestEnv env;
  Json payload = Json::object();
  Json* cur = &payload;
  for (int depth = 0; depth < 50; ++depth) {
    (*cur)["level"] = depth;
    (*cur)["list"] = Json::array({depth, "x", nullptr, true});
    (*cur)["child"] = Json::object();
    cur = &(*cur)["child"];
  }
  int64_t id = env.enqueuer().enqueue("op", payload);
  EXPECT_EQ(StoredPayload(env, id), payload);
  EXPECT_EQ(RoundTrip(env, id), payload);
}

TEST(Edge, UnicodePayload) {
  TestEnv env;
  Json payload = {{"greeting", "héllo wörld — 你好，世界 — こんにちは — Привет — مرحبا"},
                  {"emoji", "🚀🔥👍🏽"},
                  {"keys", {{"ключ", "値"}}},
                  {"escapes", "tab\tnewline\nquote\"backslash\\"}};
  int64_t id = env.enqueuer().enqueue("op", payload);
  EXPECT_EQ(StoredPayload(env, id), payload);
  EXPECT_EQ(RoundTrip(env, id), payload);
}

TEST(Edge, SpecialChars_OperationID) {
  TestEnv env;
  const std::string op = "op/test:1 'quoted' \"dq\" ; DROP TABLE x; -- ü";
  int64_t id = env.enqueuer().enqueue(op, Json{{"a", 1}});
  EXPECT_EQ(testutil::TaskRow(env.pg, id).str(0, "operation_id"), op);
  EXPECT_EQ(RoundTrip(env, id, op), (Json{{"a", 1}}));
}

// ---- 9.2 Timing edge cases

TEST(Edge, ScheduledAt_Past) {
  TestEnv env;
  EnqueueOptions o;
  o.scheduled_at = std::chrono::system_clock::now() - 1h;
  int64_t id = env.enqueuer().enqueue("op", nullptr, o);
  EXPECT_TRUE(Available(env, id));
  ExpectNextDequeued(env, id);
}

TEST(Edge, ScheduledAt_Now) {
  TestEnv env;
  EnqueueOptions o;
  o.scheduled_at = std::chrono::system_clock::now();
  int64_t id = env.enqueuer().enqueue("op", nullptr, o);
  ASSERT_TRUE(testutil::WaitFor([&] { return Available(env, id); }, "the task to be available"));
  ExpectNextDequeued(env, id);
}

TEST(Edge, ExpiresAt_Past) {
  TestEnv env;
  // As the catalogue has it: only expires_at, in the past (scheduled_at defaults to now).
  EnqueueOptions o;
  o.expires_at = std::chrono::system_clock::now() - 1s;
  int64_t id = env.enqueuer().enqueue("op", nullptr, o);
  EXPECT_TRUE(testutil::AssertTaskInQueue(env.pg, id)) << "moved to the DLQ before any dequeue";
  EXPECT_TRUE(testutil::SqlDequeue(env.pg, env.queue, 1).empty());
  EXPECT_TRUE(testutil::AssertTaskInDLQ(env.pg, id));
}

TEST(Edge, VisibilityTimeout_Short) {
  TestEnv env;
  int64_t id = env.enqueuer().enqueue("op");
  auto first = testutil::SqlDequeue(env.pg, env.queue, 1, "1 second");
  ASSERT_EQ(first.size(), 1u);
  EXPECT_FALSE(Available(env, id));
  // After the 1 s visibility timeout it can be delivered again (the case's "sleep 2 s").
  std::vector<testutil::Delivery> again;
  ASSERT_TRUE(testutil::WaitFor(
      [&] { return !(again = testutil::SqlDequeue(env.pg, env.queue, 1, "1 second")).empty(); },
      "the task to become visible again"));
  EXPECT_EQ(again[0].id, id);
  EXPECT_EQ(again[0].attempts, 2);
  EXPECT_NE(again[0].lease, first[0].lease);
  EXPECT_FALSE(testutil::SqlAck(env.pg, first[0])) << "the stale lease still acks";
  EXPECT_TRUE(testutil::SqlAck(env.pg, again[0]));
}

TEST(Edge, ProcessTimeout_ExpiresAt) {
  TestEnv env;
  auto slow = testutil::MakeSlowTask("op", 20s, /*respect_cancel=*/true);
  EnqueueOptions o;
  o.expires_at = std::chrono::system_clock::now() + 1s;
  o.max_attempts = 10;
  int64_t id = env.enqueuer().enqueue("op", nullptr, o);
  auto opts = testutil::FastWorkerOptions();
  opts.process_timeout = 60s;  // expires_at is the nearer deadline
  taskmill::Worker w(env.client, env.queue, opts);
  w.register_task(slow->op, slow->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitFor([&] { return slow->saw_cancel.load() >= 1; }, "the handler to be cancelled"));
  w.stop();
  EXPECT_EQ(slow->completed.load(), 0);
  EXPECT_NEAR(slow->last_deadline_us.load(), testutil::to_micros(*o.expires_at), 1000)
      << "the handler's deadline is not the task's expires_at";
  // Either nacked for retry or, being expired, dead-lettered; never completed.
  EXPECT_FALSE(testutil::AssertTaskInResults(env.pg, id));
}

// ---- 9.3 Numeric edge cases

TEST(Edge, Priority_Min) {
  TestEnv env;
  EnqueueOptions o;
  o.priority = -100;
  int64_t id = env.enqueuer().enqueue("op", nullptr, o);
  EXPECT_EQ(testutil::TaskRow(env.pg, id).i64(0, "priority"), -100);
}

TEST(Edge, Priority_Max) {
  TestEnv env;
  EnqueueOptions o;
  o.priority = 100;
  int64_t id = env.enqueuer().enqueue("op", nullptr, o);
  EXPECT_EQ(testutil::TaskRow(env.pg, id).i64(0, "priority"), 100);
}

TEST(Edge, MaxAttempts_One) {
  TestEnv env;
  auto fail = testutil::MakeFailingTask("op");
  EnqueueOptions o;
  o.max_attempts = 1;
  int64_t id = env.enqueuer().enqueue("op", nullptr, o);
  taskmill::Worker w(env.client, env.queue, testutil::FastWorkerOptions());
  w.register_task(fail->op, fail->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitForDLQCount(env.pg, env.queue, 1));
  w.stop();
  EXPECT_TRUE(testutil::AssertTaskInDLQ(env.pg, id));
  EXPECT_EQ(fail->fail_count.load(), 1);
}

TEST(Edge, MaxAttempts_Large) {
  TestEnv env;
  EnqueueOptions o;
  o.max_attempts = 100;
  int64_t id = env.enqueuer().enqueue("op", nullptr, o);
  EXPECT_EQ(testutil::TaskRow(env.pg, id).i64(0, "max_attempts"), 100);
  // 99 failures still retry; the 100th dead-letters.
  for (int attempt = 1; attempt <= 100; ++attempt) {
    testutil::MakeVisibleNow(env.pg, id);
    auto d = testutil::SqlDequeue(env.pg, env.queue, 1);
    ASSERT_EQ(d.size(), 1u) << "attempt " << attempt;
    ASSERT_EQ(d[0].attempts, attempt);
    ASSERT_EQ(testutil::SqlNack(env.pg, d[0]), attempt < 100 ? "retry" : "dlq") << "attempt " << attempt;
  }
  EXPECT_TRUE(testutil::AssertTaskInDLQ(env.pg, id));
}

// ---- 9.4 State edge cases

TEST(Edge, EmptyQueue_Dequeue) {
  TestEnv env;
  EXPECT_TRUE(testutil::SqlDequeue(env.pg, env.queue, 10).empty());
}

TEST(Edge, EmptyQueue_Stats) {
  TestEnv env;
  auto s = taskmill::Console(env.client).stats(env.queue);
  EXPECT_EQ(s.available + s.in_flight + s.scheduled + s.in_dlq, 0);
  EXPECT_TRUE(testutil::AssertQueueStats(env.pg, env.queue, {0, 0, 0, 0}));
}

TEST(Edge, NoSchedules_Start) {
  TestEnv env;
  taskmill::Scheduler s(env.client, env.queue, taskmill::SchedulerOptions{.check_interval = 50ms});
  EXPECT_EQ(s.run_once(), 0);
  EXPECT_NO_THROW(s.start());
  std::this_thread::sleep_for(300ms);  // a few empty checks
  EXPECT_TRUE(s.running());
  EXPECT_NO_THROW(s.stop());
  EXPECT_EQ(testutil::CountTasks(env.pg, env.queue), 0);
}

TEST(Edge, NoTasks_Worker) {
  TestEnv env;
  EnqueueOptions o;
  o.max_attempts = 10;
  int64_t id = env.enqueuer().enqueue("op", nullptr, o);
  auto alerts = testutil::MakeAlertLog();
  auto opts = testutil::FastWorkerOptions();
  opts.on_alert = alerts->hook();
  taskmill::Worker w(env.client, env.queue, opts);  // no handlers
  w.start();
  ASSERT_TRUE(testutil::WaitForNacked(env.pg, id, 1));
  ASSERT_TRUE(alerts->wait_count(1));
  w.stop();
  EXPECT_EQ(alerts->entries().at(0).code, ErrorCode::TaskNotRegistered);
  auto err = testutil::TaskRow(env.pg, id).str(0, "last_error");
  EXPECT_NE(err.find("not registered"), std::string::npos) << err;
}

TEST(Edge, AllTasksInDLQ) {
  TestEnv env;
  EnqueueOptions o;
  o.max_attempts = 1;
  for (int i = 0; i < 5; ++i) testutil::FailToDLQ(env.pg, env.queue, env.enqueuer().enqueue("op", nullptr, o));
  EXPECT_TRUE(testutil::SqlDequeue(env.pg, env.queue, 10).empty());
  EXPECT_EQ(testutil::CountDLQ(env.pg, env.queue), 5);
}

TEST(Edge, AllTasksScheduled) {
  TestEnv env;
  EnqueueOptions o;
  o.scheduled_at = std::chrono::system_clock::now() + 1h;
  for (int i = 0; i < 5; ++i) env.enqueuer().enqueue("op", nullptr, o);
  EXPECT_TRUE(testutil::SqlDequeue(env.pg, env.queue, 10).empty());
  EXPECT_TRUE(testutil::AssertQueueStats(env.pg, env.queue, {0, 0, 5, 0}));
}

TEST(Edge, AllTasksInFlight) {
  TestEnv env;
  for (int i = 0; i < 5; ++i) env.enqueuer().enqueue("op");
  ASSERT_EQ(testutil::SqlDequeue(env.pg, env.queue, 5, "1 hour").size(), 5u);
  EXPECT_TRUE(testutil::SqlDequeue(env.pg, env.queue, 10).empty());
  EXPECT_TRUE(testutil::AssertQueueStats(env.pg, env.queue, {0, 5, 0, 0}));
}

// ---- 9.5 Database edge cases

TEST(Edge, Transaction_Rollback) {
  TestEnv env;
  auto enq = env.enqueuer();
  {
    taskmill::Connection conn(env.conninfo());
    taskmill::Transaction tx(conn);
    conn.exec("CREATE TABLE public.orders (id int)");
    int64_t id = enq.enqueue(conn, "op", Json{{"in", "tx"}});
    enq.enqueue_batch(conn, {{"op"}, {"op"}});
    EXPECT_GT(id, 0);
    tx.rollback();
  }
  EXPECT_EQ(testutil::CountTasks(env.pg, env.queue), 0);
  EXPECT_EQ(env.pg.scalar_i64("SELECT count(*) FROM pg_tables WHERE tablename = 'orders'"), 0);
  // And a transaction dropped without commit rolls back too.
  {
    taskmill::Connection conn(env.conninfo());
    taskmill::Transaction tx(conn);
    enq.enqueue(conn, "op");
  }
  EXPECT_EQ(testutil::CountTasks(env.pg, env.queue), 0);
}

TEST(Edge, Transaction_Commit) {
  TestEnv env;
  auto enq = env.enqueuer();
  int64_t id;
  {
    taskmill::Connection conn(env.conninfo());
    taskmill::Transaction tx(conn);
    conn.exec("CREATE TABLE public.orders (id int)");
    conn.exec("INSERT INTO public.orders VALUES (1)");
    id = enq.enqueue(conn, "op", Json{{"order", 1}});
    // Not visible to others before commit.
    EXPECT_TRUE(testutil::AssertTaskNotExists(env.pg, id));
    tx.commit();
  }
  EXPECT_TRUE(testutil::AssertTaskInQueue(env.pg, id));
  EXPECT_EQ(env.pg.scalar_i64("SELECT count(*) FROM public.orders"), 1);
}

TEST(Edge, ConcurrentMigration) {
  testutil::TestDatabase db(/*with_extension=*/false);
  std::barrier sync(2);
  std::vector<std::string> errors(2);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&, i] {
      try {
        taskmill::Client c(db.conninfo());
        sync.arrive_and_wait();
        c.migrate();
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors[0], "");
  EXPECT_EQ(errors[1], "");
  testutil::PgConn pg(db.conninfo());
  EXPECT_EQ(pg.scalar_i64("SELECT count(*) FROM pg_extension WHERE extname = 'taskmill'"), 1);
  // Idempotent: a later migrate() is a no-op, and the schema works.
  taskmill::Client c(db.conninfo());
  EXPECT_NO_THROW(c.migrate());
  EXPECT_GT(taskmill::Enqueuer(c, "q").enqueue("op"), 0);
}

// ---- Transaction poolers (test/suites/pgbouncer.sh runs these through PgBouncer)

TEST(Edge, Pooling_DetectedAndNoSessionState) {
  TestEnv env;
  const bool through_pooler = std::getenv("TASKMILL_TEST_CLIENT_CONNINFO") != nullptr;
  taskmill::Connection conn(env.conninfo());
  EXPECT_EQ(conn.pooled(), through_pooler) << "pooler detection (backend pid vs startup pid)";
  // Declared either way, detection is skipped.
  EXPECT_TRUE(taskmill::Connection(env.conninfo(), 5s, taskmill::Pooling::Transaction).pooled());
  // Hot statements repeated on one connection (through the pooler: on whatever server
  // session each transaction gets; a named statement there fails as "already exists" or
  // "does not exist").
  auto enq = env.enqueuer();
  for (int i = 0; i < 5; ++i) EXPECT_GT(enq.enqueue(conn, "op", Json{{"i", i}}), 0);
  // The session connection: the direct one when the pooler is in front.
  auto session = env.client.connect_session();
  ASSERT_TRUE(session.has_value());
  EXPECT_FALSE(session->pooled());
}
