// Seed catalogue section 1: Enqueuer integration tests (single, batch, idempotency,
// validation). Each test has its own database and queue (testutil::TestEnv).
#include <gtest/gtest.h>

#include <set>

#include "testutil.hpp"

using namespace std::chrono_literals;
using taskmill::BatchItem;
using taskmill::EnqueueOptions;
using taskmill::ErrorCode;
using taskmill::Json;
using testutil::TaskRow;
using testutil::TestEnv;
using testutil::to_micros;

namespace {

Json PayloadOf(const testutil::PgResult& row) {
  auto t = row.get(0, "payload_text");
  return t ? Json::parse(*t) : Json();
}

// A user type with nlohmann's ADL hook: the Enqueuer serialises it via Serializer<T>.
struct Order {
  int id;
  std::string sku;
  std::vector<int> quantities;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Order, id, sku, quantities)

const std::string kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// Enqueueing with options `o` fails validation and leaves the queue empty.
void ExpectInvalid(TestEnv& env, const EnqueueOptions& o) {
  EXPECT_TASKMILL_ERROR(env.enqueuer().enqueue("op", nullptr, o), ErrorCode::Validation);
  EXPECT_EQ(testutil::CountTasks(env.pg, env.queue), 0);
}

}  // namespace

// ---- 1.1 Single task enqueue

TEST(Enqueue, Success) {
  TestEnv env;
  auto enq = env.enqueuer();
  int64_t id = enq.enqueue("send_welcome", Json{{"user", 42}, {"email", "a@example.com"}});
  ASSERT_GT(id, 0);
  auto row = TaskRow(env.pg, id);
  ASSERT_EQ(row.rows(), 1);
  EXPECT_EQ(row.str(0, "queue_name"), env.queue);
  EXPECT_EQ(row.str(0, "operation_id"), "send_welcome");
  EXPECT_EQ(PayloadOf(row), (Json{{"user", 42}, {"email", "a@example.com"}}));
  EXPECT_EQ(row.i64(0, "attempts"), 0);
  EXPECT_TRUE(row.is_null(0, "dlq_at"));
  EXPECT_TRUE(row.is_null(0, "lease"));
  EXPECT_TRUE(testutil::AssertTaskInQueue(env.pg, id));
}

TEST(Enqueue, WithAllOptions) {
  TestEnv env;
  auto now = std::chrono::system_clock::now();
  EnqueueOptions o;
  o.priority = 50;
  o.max_attempts = 5;
  o.scheduled_at = now + 1h;
  o.expires_at = now + 2h;
  o.task_group_id = "group-a";
  o.idempotency_key = "key-all-options";
  o.ephemeral = true;
  o.meta = Json{{"tenant", "acme"}};
  int64_t id = env.enqueuer().enqueue("op", Json{{"x", 1}}, o);
  auto row = TaskRow(env.pg, id);
  ASSERT_EQ(row.rows(), 1);
  EXPECT_EQ(row.i64(0, "priority"), 50);
  EXPECT_EQ(row.i64(0, "max_attempts"), 5);
  EXPECT_NEAR(row.i64(0, "scheduled_at_us"), to_micros(*o.scheduled_at), 1000);
  EXPECT_NEAR(row.i64(0, "expires_at_us"), to_micros(*o.expires_at), 1000);
  EXPECT_EQ(row.str(0, "task_group_id"), "group-a");
  EXPECT_EQ(row.str(0, "idempotency_key"), "key-all-options");
  EXPECT_TRUE(row.boolean(0, "ephemeral"));
  // Not due for an hour: not visible before its scheduled time.
  EXPECT_NEAR(row.i64(0, "visible_at_us"), to_micros(*o.scheduled_at), 1000);
  auto meta = Json::parse(row.str(0, "meta_text"));
  EXPECT_EQ(meta["tenant"], "acme");
}

TEST(Enqueue, DefaultOptions) {
  TestEnv env;
  int64_t before = testutil::DbNowMicros(env.pg);
  int64_t id = env.enqueuer().enqueue("op");
  int64_t after = testutil::DbNowMicros(env.pg);
  auto row = TaskRow(env.pg, id);
  ASSERT_EQ(row.rows(), 1);
  EXPECT_EQ(row.i64(0, "priority"), 0);
  EXPECT_EQ(row.i64(0, "max_attempts"), 3);
  EXPECT_GE(row.i64(0, "scheduled_at_us"), before - 1000);
  EXPECT_LE(row.i64(0, "scheduled_at_us"), after);
  EXPECT_FALSE(row.str(0, "idempotency_key").empty()) << "idempotency key must be generated";
  EXPECT_TRUE(row.is_null(0, "task_group_id"));
  EXPECT_TRUE(row.is_null(0, "expires_at"));
  EXPECT_FALSE(row.boolean(0, "ephemeral"));
  // Two tasks without keys get different generated keys.
  int64_t id2 = env.enqueuer().enqueue("op");
  EXPECT_NE(TaskRow(env.pg, id2).str(0, "idempotency_key"), row.str(0, "idempotency_key"));
}

TEST(Enqueue, NilPayload) {
  TestEnv env;
  int64_t id = env.enqueuer().enqueue("op", nullptr);
  ASSERT_GT(id, 0);
  auto stored = env.pg.scalar("SELECT coalesce(payload::text, 'SQL NULL') FROM taskmill.tasks WHERE id = $1::bigint",
                              {std::to_string(id)});
  ASSERT_TRUE(stored);
  EXPECT_TRUE(*stored == "SQL NULL" || *stored == "null") << "payload stored as " << *stored;
}

TEST(Enqueue, StructPayload) {
  TestEnv env;
  Order order{7, "SKU-123", {1, 2, 3}};
  int64_t id = env.enqueuer().enqueue("ship", order);
  auto row = TaskRow(env.pg, id);
  ASSERT_EQ(row.rows(), 1);
  EXPECT_EQ(PayloadOf(row), (Json{{"id", 7}, {"sku", "SKU-123"}, {"quantities", {1, 2, 3}}}));
  EXPECT_EQ(PayloadOf(row).get<Order>().sku, "SKU-123");
}

TEST(Enqueue, TracePropagation) {
  TestEnv env;
  int64_t id;
  {
    taskmill::trace::Scope span(kTraceparent);
    id = env.enqueuer().enqueue("op", Json{{"a", 1}});
  }
  auto meta = Json::parse(TaskRow(env.pg, id).str(0, "meta_text"));
  ASSERT_TRUE(meta.contains("traceparent")) << meta.dump();
  EXPECT_EQ(meta["traceparent"], kTraceparent);
  // Without an active span no traceparent is invented.
  int64_t id2 = env.enqueuer().enqueue("op");
  auto meta2 = TaskRow(env.pg, id2).get(0, "meta_text");
  EXPECT_TRUE(!meta2 || !Json::parse(*meta2).is_object() || !Json::parse(*meta2).contains("traceparent"))
      << *meta2;
}

// ---- 1.2 Batch enqueue

TEST(EnqueueBatch, Success) {
  TestEnv env;
  std::vector<BatchItem> items{{"op-a", Json{{"n", 1}}}, {"op-b", Json{{"n", 2}}}, {"op-c", Json{{"n", 3}}}};
  auto ids = env.enqueuer().enqueue_batch(items);
  ASSERT_EQ(ids.size(), 3u);
  for (size_t i = 0; i < ids.size(); ++i) {
    auto row = TaskRow(env.pg, ids[i]);
    ASSERT_EQ(row.rows(), 1) << "task " << ids[i];
    EXPECT_EQ(row.str(0, "operation_id"), items[i].operation_id) << "ids must be in input order";
    EXPECT_EQ(PayloadOf(row), items[i].payload);
  }
  EXPECT_EQ(testutil::CountTasks(env.pg, env.queue), 3);
}

TEST(EnqueueBatch, EmptyBatch) {
  TestEnv env;
  auto ids = env.enqueuer().enqueue_batch({});
  EXPECT_TRUE(ids.empty());
  EXPECT_EQ(testutil::CountTasks(env.pg, env.queue), 0);
}

TEST(EnqueueBatch, MixedOptions) {
  TestEnv env;
  std::vector<BatchItem> items(3);
  for (int i = 0; i < 3; ++i) {
    items[i].operation_id = "op";
    items[i].payload = Json{{"i", i}};
    items[i].options.priority = -10 + 30 * i;  // -10, 20, 50
    items[i].options.max_attempts = 1 + 2 * i;  // 1, 3, 5
  }
  items[2].options.task_group_id = "g";
  auto ids = env.enqueuer().enqueue_batch(items);
  ASSERT_EQ(ids.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    auto row = TaskRow(env.pg, ids[i]);
    EXPECT_EQ(row.i64(0, "priority"), -10 + 30 * i);
    EXPECT_EQ(row.i64(0, "max_attempts"), 1 + 2 * i);
  }
  EXPECT_TRUE(TaskRow(env.pg, ids[0]).is_null(0, "task_group_id"));
  EXPECT_EQ(TaskRow(env.pg, ids[2]).str(0, "task_group_id"), "g");
}

TEST(EnqueueBatch, LargeBatch) {
  TestEnv env;
  std::vector<BatchItem> items;
  for (int i = 0; i < 100; ++i) items.push_back({"op", Json{{"i", i}}});
  auto ids = env.enqueuer().enqueue_batch(items);
  ASSERT_EQ(ids.size(), 100u);
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), 100u);
  EXPECT_EQ(testutil::CountTasks(env.pg, env.queue), 100);
  EXPECT_EQ(PayloadOf(TaskRow(env.pg, ids[57])), (Json{{"i", 57}}));
}

TEST(EnqueueBatch, SharedTraceContext) {
  TestEnv env;
  std::vector<BatchItem> items(5, BatchItem{"op"});
  std::vector<int64_t> ids;
  {
    taskmill::trace::Scope span(kTraceparent);
    ids = env.enqueuer().enqueue_batch(items);
  }
  ASSERT_EQ(ids.size(), 5u);
  auto r = env.pg.exec(
      "SELECT count(*) AS n, count(DISTINCT meta->>'traceparent') AS d, min(meta->>'traceparent') AS tp"
      "  FROM taskmill.tasks WHERE queue_name = $1",
      {env.queue});
  EXPECT_EQ(r.i64(0, "n"), 5);
  EXPECT_EQ(r.i64(0, "d"), 1);
  EXPECT_EQ(r.get(0, "tp").value_or(""), kTraceparent);
}

// ---- 1.3 Idempotency

TEST(Enqueue, DuplicateIdempotencyKey) {
  TestEnv env;
  EnqueueOptions o;
  o.idempotency_key = "abc";
  int64_t first = env.enqueuer().enqueue("op", Json{{"n", 1}}, o);
  try {
    env.enqueuer().enqueue("op", Json{{"n", 2}}, o);
    FAIL() << "duplicate key accepted";
  } catch (const taskmill::Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::DuplicateTask) << e.what();
    EXPECT_EQ(e.sqlstate(), "23505");
  }
  EXPECT_EQ(testutil::CountTasks(env.pg, env.queue), 1);
  EXPECT_EQ(PayloadOf(TaskRow(env.pg, first)), (Json{{"n", 1}}));
}

TEST(Enqueue, SameKeyDifferentQueues) {
  TestEnv env;
  EnqueueOptions o;
  o.idempotency_key = "shared-key";
  std::string queue_b = env.another_queue("queue-b");
  int64_t a = env.enqueuer().enqueue("op", nullptr, o);
  int64_t b = taskmill::Enqueuer(env.client, queue_b).enqueue("op", nullptr, o);
  EXPECT_NE(a, b);
  EXPECT_TRUE(testutil::AssertTaskInQueue(env.pg, a));
  EXPECT_TRUE(testutil::AssertTaskInQueue(env.pg, b));
}

TEST(Enqueue, KeyReusableAfterCompletion) {
  TestEnv env;
  EnqueueOptions o;
  o.idempotency_key = "reuse-after-done";
  int64_t first = env.enqueuer().enqueue("op", nullptr, o);
  auto done = testutil::CompleteTasks(env.pg, env.queue, 1);
  ASSERT_EQ(done[0], first);
  ASSERT_TRUE(testutil::AssertTaskInResults(env.pg, first));
  int64_t second = env.enqueuer().enqueue("op", nullptr, o);
  EXPECT_NE(second, first);
  EXPECT_TRUE(testutil::AssertTaskInQueue(env.pg, second));
}

TEST(Enqueue, KeyReusableAfterDLQ) {
  TestEnv env;
  EnqueueOptions o;
  o.idempotency_key = "reuse-after-dlq";
  o.max_attempts = 1;
  int64_t first = env.enqueuer().enqueue("op", nullptr, o);
  testutil::FailToDLQ(env.pg, env.queue, first);
  ASSERT_TRUE(testutil::AssertTaskInDLQ(env.pg, first));
  int64_t second = env.enqueuer().enqueue("op", nullptr, o);
  EXPECT_NE(second, first);
  EXPECT_TRUE(testutil::AssertTaskInQueue(env.pg, second));
  EXPECT_TRUE(testutil::AssertTaskInDLQ(env.pg, first));
}

TEST(EnqueueBatch, DuplicateKeyInBatch) {
  TestEnv env;
  std::vector<BatchItem> items(3, BatchItem{"op"});
  items[0].options.idempotency_key = "dup";
  items[2].options.idempotency_key = "dup";
  EXPECT_TASKMILL_ERROR(env.enqueuer().enqueue_batch(items), ErrorCode::DuplicateTask);
  EXPECT_EQ(testutil::CountTasks(env.pg, env.queue), 0) << "the whole batch must fail";
}

TEST(EnqueueBatch, ConflictWithExisting) {
  TestEnv env;
  EnqueueOptions o;
  o.idempotency_key = "existing";
  env.enqueuer().enqueue("op", nullptr, o);
  std::vector<BatchItem> items(3, BatchItem{"op"});
  items[1].options.idempotency_key = "existing";
  EXPECT_TASKMILL_ERROR(env.enqueuer().enqueue_batch(items), ErrorCode::DuplicateTask);
  EXPECT_EQ(testutil::CountTasks(env.pg, env.queue), 1) << "the whole batch must fail";
}

// ---- 1.4 Validation errors

TEST(Enqueue, InvalidPriority_TooHigh) {
  TestEnv env;
  ExpectInvalid(env, {.priority = 101});
}

TEST(Enqueue, InvalidPriority_TooLow) {
  TestEnv env;
  ExpectInvalid(env, {.priority = -101});
}

TEST(Enqueue, InvalidMaxAttempts_Zero) {
  TestEnv env;
  ExpectInvalid(env, {.max_attempts = 0});
}

TEST(Enqueue, EmptyIdempotencyKey) {
  TestEnv env;
  ExpectInvalid(env, {.idempotency_key = ""});
}

// Defaults are the server's (issue: defaults stated once): an unset option is sent as NULL,
// one at a time or as a NULL element of the batch arrays next to items that set it.
TEST(EnqueueBatch, UnsetOptionsTakeServerDefaults) {
  TestEnv env;
  const EnqueueOptions unset{};
  EXPECT_FALSE(unset.priority.has_value());
  EXPECT_FALSE(unset.max_attempts.has_value());
  EXPECT_FALSE(unset.ephemeral.has_value());
  std::vector<taskmill::BatchItem> items = {
      {"op", nullptr, {.priority = 7, .max_attempts = 9, .ephemeral = true}},
      {"op", nullptr, {}},
  };
  auto ids = env.enqueuer().enqueue_batch(items);
  ASSERT_EQ(ids.size(), 2u);
  auto set = TaskRow(env.pg, ids[0]);
  EXPECT_EQ(set.i64(0, "priority"), 7);
  EXPECT_EQ(set.i64(0, "max_attempts"), 9);
  EXPECT_TRUE(set.boolean(0, "ephemeral"));
  // The same task enqueued in SQL with those arguments left out: the server's defaults.
  auto dflt = TaskRow(env.pg, ids[1]);
  auto sql = TaskRow(env.pg, env.pg.scalar_i64("SELECT taskmill.enqueue($1, 'op')", {env.queue}));
  for (const char* col : {"priority", "max_attempts"})
    EXPECT_EQ(dflt.i64(0, col), sql.i64(0, col)) << col;
  EXPECT_EQ(dflt.boolean(0, "ephemeral"), sql.boolean(0, "ephemeral"));
}
