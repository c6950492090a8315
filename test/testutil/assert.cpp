// Database-state assertions (see assert.hpp).
#include "assert.hpp"

namespace testutil {

namespace {
std::string describe(PgConn& pg, int64_t id) {
  auto t = pg.exec(
      "SELECT format('tasks row: queue=%s op=%s attempts=%s/%s dlq_at=%s dlq_reason=%s lease=%s visible_in=%s last_error=%s',"
      " queue_name, operation_id, attempts, max_attempts, dlq_at, dlq_reason, lease, visible_at - now(), last_error)"
      " FROM taskmill.tasks WHERE id = $1::bigint",
      {std::to_string(id)});
  if (t.rows() > 0) return *t.get(0, 0);
  auto r = pg.scalar_i64("SELECT count(*) FROM taskmill.task_results WHERE id = $1::bigint", {std::to_string(id)});
  return r > 0 ? "not in tasks; in task_results" : "in neither tasks nor task_results";
}
}  // namespace

::testing::AssertionResult AssertTaskInQueue(PgConn& pg, int64_t id) {
  if (pg.scalar_i64("SELECT count(*) FROM taskmill.tasks WHERE id = $1::bigint AND dlq_at IS NULL",
                    {std::to_string(id)}) == 1)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "task " << id << " is not in the queue: " << describe(pg, id);
}

::testing::AssertionResult AssertTaskInDLQ(PgConn& pg, int64_t id) {
  if (pg.scalar_i64("SELECT count(*) FROM taskmill.tasks WHERE id = $1::bigint AND dlq_at IS NOT NULL",
                    {std::to_string(id)}) == 1)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "task " << id << " is not in the DLQ: " << describe(pg, id);
}

::testing::AssertionResult AssertTaskInResults(PgConn& pg, int64_t id) {
  if (pg.scalar_i64("SELECT count(*) FROM taskmill.task_results WHERE id = $1::bigint", {std::to_string(id)}) == 1)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "task " << id << " is not in task_results: " << describe(pg, id);
}

::testing::AssertionResult AssertTaskNotExists(PgConn& pg, int64_t id) {
  if (pg.scalar_i64("SELECT count(*) FROM taskmill.tasks WHERE id = $1::bigint", {std::to_string(id)}) == 0)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "task " << id << " still exists: " << describe(pg, id);
}

::testing::AssertionResult AssertQueueStats(PgConn& pg, const std::string& queue, const ExpectedStats& want) {
  auto r = pg.exec(
      "SELECT count(*) FILTER (WHERE dlq_at IS NULL AND visible_at <= now()) AS available,"
      "       count(*) FILTER (WHERE dlq_at IS NULL AND visible_at > now() AND lease IS NOT NULL) AS in_flight,"
      "       count(*) FILTER (WHERE dlq_at IS NULL AND visible_at > now() AND lease IS NULL) AS scheduled,"
      "       count(*) FILTER (WHERE dlq_at IS NOT NULL) AS in_dlq"
      "  FROM taskmill.tasks WHERE queue_name = $1",
      {queue});
  ExpectedStats got{r.i64(0, "available"), r.i64(0, "in_flight"), r.i64(0, "scheduled"), r.i64(0, "in_dlq")};
  if (got.available == want.available && got.in_flight == want.in_flight && got.scheduled == want.scheduled &&
      got.in_dlq == want.in_dlq)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "queue " << queue << " stats: got available=" << got.available
                                       << " in_flight=" << got.in_flight << " scheduled=" << got.scheduled
                                       << " in_dlq=" << got.in_dlq << ", want available=" << want.available
                                       << " in_flight=" << want.in_flight << " scheduled=" << want.scheduled
                                       << " in_dlq=" << want.in_dlq;
}

}  // namespace testutil
