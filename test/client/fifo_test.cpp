// Seed catalogue section 7: FIFO task groups — one task of a group at a time, in order,
// groups independent, across workers (advisory-lock serialisation), released on completion
// and on failure. Also run under ThreadSanitizer.
#include <gtest/gtest.h>

#include "testutil.hpp"

using namespace std::chrono_literals;
using taskmill::EnqueueOptions;
using taskmill::Json;
using testutil::TestEnv;

namespace {

int64_t EnqueueInGroup(TestEnv& env, const std::string& op, const std::string& group, int seq, int priority = 0) {
  EnqueueOptions o;
  o.task_group_id = group;
  o.priority = priority;
  o.max_attempts = 5;
  return env.enqueuer().enqueue(op, Json{{"seq", seq}}, o);
}

taskmill::WorkerOptions Wide() {
  auto o = testutil::FastWorkerOptions();
  o.concurrency = 5;
  o.batch_size = 5;
  return o;
}

int64_t Attempts(TestEnv& env, int64_t id) { return testutil::TaskRow(env.pg, id).i64(0, "attempts"); }

}  // namespace

TEST(FIFO, SingleGroup_Ordering) {
  TestEnv env;
  for (int i = 1; i <= 5; ++i) EnqueueInGroup(env, "op", "group-a", i);
  auto task = testutil::MakeOrderTrackingTask("op", 20ms);
  taskmill::Worker w(env.client, env.queue, Wide());
  w.register_task(task->op, task->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitForResultsCount(env.pg, env.queue, 5));
  w.stop();
  EXPECT_EQ(task->seqs(), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(task->max_active.load(), 1) << "two tasks of one group ran at once";
}

TEST(FIFO, MultipleGroups_Independent) {
  TestEnv env;
  std::vector<int64_t> a, b;
  for (int i = 1; i <= 3; ++i) {
    a.push_back(EnqueueInGroup(env, "a", "group-a", i));
    b.push_back(EnqueueInGroup(env, "b", "group-b", i));
  }
  auto gate = testutil::MakeGateTask("a");              // holds group-a's head
  auto track = testutil::MakeOrderTrackingTask("b");
  taskmill::Worker w(env.client, env.queue, Wide());
  w.register_task(gate->op, gate->handler());
  w.register_task(track->op, track->handler());
  w.start();
  ASSERT_TRUE(gate->wait_executed(1));
  // group-b runs to the end while group-a's head is held.
  for (auto id : b) ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, id));
  EXPECT_EQ(track->order(), b);
  EXPECT_EQ(Attempts(env, a[1]), 0) << "group-a's second task was delivered while its head was in flight";
  EXPECT_EQ(Attempts(env, a[2]), 0);
  gate->open();
  ASSERT_TRUE(testutil::WaitForResultsCount(env.pg, env.queue, 6));
  w.stop();
  EXPECT_EQ(gate->ids(), a);
}

TEST(FIFO, AdvisoryLock_Serialization) {
  TestEnv env;
  for (int i = 1; i <= 5; ++i) EnqueueInGroup(env, "op", "group-a", i);
  auto task = testutil::MakeOrderTrackingTask("op", 30ms);
  std::vector<std::unique_ptr<taskmill::Client>> clients;
  std::vector<std::unique_ptr<taskmill::Worker>> workers;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<taskmill::Client>(env.conninfo(), taskmill::ClientOptions{.pool_size = 4}));
    workers.push_back(std::make_unique<taskmill::Worker>(*clients.back(), env.queue, Wide()));
    workers.back()->register_task(task->op, task->handler());
  }
  for (auto& w : workers) w->start();
  ASSERT_TRUE(testutil::WaitForResultsCount(env.pg, env.queue, 5));
  for (auto& w : workers) w->stop();
  EXPECT_EQ(task->max_active.load(), 1) << "workers processed one group concurrently";
  EXPECT_EQ(task->seqs(), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(env.pg.scalar_i64("SELECT max(attempts) FROM taskmill.task_results WHERE queue_name = $1", {env.queue}), 1);
  workers.clear();
}

TEST(FIFO, LockRelease_OnCompletion) {
  TestEnv env;
  int64_t t1 = EnqueueInGroup(env, "op", "g", 1);
  int64_t t2 = EnqueueInGroup(env, "op", "g", 2);
  auto gate = testutil::MakeGateTask("op");
  taskmill::Worker w(env.client, env.queue, Wide());
  w.register_task(gate->op, gate->handler());
  w.start();
  ASSERT_TRUE(gate->wait_executed(1));
  // While the first is in flight the group delivers nothing, to anyone.
  EXPECT_TRUE(testutil::SqlDequeue(env.pg, env.queue, 10).empty());
  EXPECT_EQ(Attempts(env, t2), 0);
  gate->open();
  ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, t1));
  ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, t2));
  w.stop();
  EXPECT_EQ(gate->ids(), (std::vector<int64_t>{t1, t2}));
}

TEST(FIFO, LockRelease_OnFailure) {
  TestEnv env;
  int64_t t1 = EnqueueInGroup(env, "op", "g", 1);
  int64_t t2 = EnqueueInGroup(env, "op", "g", 2);
  // Fails the first delivery only.
  std::atomic<int> runs{0};
  auto task = testutil::MakeSuccessTask("op");
  task->on_run = [&runs](taskmill::TaskContext&) {
    if (runs.fetch_add(1) == 0) throw taskmill::Error(taskmill::ErrorCode::Internal, "first try fails");
  };
  taskmill::Worker w(env.client, env.queue, Wide());
  w.register_task(task->op, task->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitForNacked(env.pg, t1, 1));
  // The failed head waits for its retry and keeps its place: t2 is not delivered past it.
  EXPECT_EQ(Attempts(env, t2), 0);
  testutil::MakeVisibleNow(env.pg, t1);
  ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, t1));
  ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, t2));
  w.stop();
  std::vector<int64_t> order;
  for (auto& t : task->tasks()) order.push_back(t.id);
  EXPECT_EQ(order, (std::vector<int64_t>{t1, t1, t2}));
  EXPECT_EQ(testutil::ResultRow(env.pg, t1).i64(0, "attempts"), 2);
}

TEST(FIFO, WorkerWithGroupFilter) {
  TestEnv env;
  std::vector<int64_t> a, b;
  for (int i = 1; i <= 3; ++i) a.push_back(EnqueueInGroup(env, "op", "group-a", i));
  for (int i = 1; i <= 2; ++i) b.push_back(EnqueueInGroup(env, "op", "group-b", i));
  auto task = testutil::MakeOrderTrackingTask("op");
  auto opts = Wide();
  opts.task_group_id = "group-a";
  taskmill::Worker w(env.client, env.queue, opts);
  w.register_task(task->op, task->handler());
  w.start();
  for (auto id : a) ASSERT_TRUE(testutil::WaitForTaskProcessed(env.pg, id));
  w.stop();
  EXPECT_EQ(task->order(), a);
  for (auto id : b) {
    EXPECT_TRUE(testutil::AssertTaskInQueue(env.pg, id));
    EXPECT_EQ(Attempts(env, id), 0);
  }
}

TEST(FIFO, Priority_WithinGroup) {
  TestEnv env;
  EnqueueInGroup(env, "op", "g", 1, 0);
  EnqueueInGroup(env, "op", "g", 2, 10);
  EnqueueInGroup(env, "op", "g", 3, 5);
  auto task = testutil::MakeOrderTrackingTask("op");
  taskmill::Worker w(env.client, env.queue, Wide());
  w.register_task(task->op, task->handler());
  w.start();
  ASSERT_TRUE(testutil::WaitForResultsCount(env.pg, env.queue, 3));
  w.stop();
  EXPECT_EQ(task->seqs(), (std::vector<int64_t>{2, 3, 1}));
}

// Not a catalogue case: the Worker sends a hot group's ack with its claim of the group's next
// task (taskmill.ack_dequeue, one commit; docs/cpp-api.md). Every task still runs once, in
// order, and its result is stored; the server's function statistics show the combined call.
TEST(FIFO, HotGroup_AckWithNextClaim) {
  TestEnv env;
  constexpr int kTasks = 20;
  std::vector<int64_t> ids;
  for (int i = 1; i <= kTasks; ++i) ids.push_back(EnqueueInGroup(env, "op", "hot", i));
  env.pg.exec("ALTER DATABASE " + env.db.name() + " SET track_functions = 'all'");
  // A client of its own, straight to the server (a pooler would hand it server sessions
  // opened before the setting): its sessions start after the setting.
  taskmill::Client client(env.db.conninfo(), taskmill::ClientOptions{.pool_size = 4});
  auto task = testutil::MakeSuccessTask("op");
  task->on_run = [](taskmill::TaskContext& ctx) { ctx.set_result(Json{{"seq", ctx.payload()["seq"]}}); };
  auto opts = Wide();
  opts.poll_interval = 5s;  // the next head must come from the ack, not from a poll
  {
    taskmill::Worker w(client, env.queue, opts);
    w.register_task(task->op, task->handler());
    w.start();
    ASSERT_TRUE(testutil::WaitForResultsCount(env.pg, env.queue, kTasks, 20s))
        << "a group's next task waited for a poll";
    w.stop();
  }
  std::vector<int64_t> seen;
  for (auto& t : task->tasks()) seen.push_back(t.id);
  EXPECT_EQ(seen, ids) << "the group's tasks ran out of order, or one twice";
  EXPECT_EQ(task->max_active.load(), 1);
  for (int i = 0; i < kTasks; ++i) {
    auto r = testutil::ResultRow(env.pg, ids[i]);
    EXPECT_EQ(r.i64(0, "attempts"), 1);
    EXPECT_EQ(Json::parse(r.str(0, "result_text")), (Json{{"seq", i + 1}}));
  }
  // Statistics reach the view when a session goes idle (at most about 10 s later).
  EXPECT_TRUE(testutil::WaitFor(
      [&] {
        return env.pg.scalar_i64("SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions "
                                 "WHERE schemaname = 'taskmill' AND funcname = 'ack_dequeue'") > 0;
      },
      "taskmill.ack_dequeue in pg_stat_user_functions", 20s));
}
