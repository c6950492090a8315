// SQL-level setup shortcuts and time travel (see sql.hpp).
#include "sql.hpp"

#include <stdexcept>

namespace testutil {

namespace {
const char* kTimeCols =
    ", (extract(epoch FROM created_at) * 1000000)::bigint AS created_at_us"
    ", (extract(epoch FROM completed_at) * 1000000)::bigint AS completed_at_us";
}

std::vector<Delivery> SqlDequeue(PgConn& pg, const std::string& queue, int batch_size,
                                 const std::string& visibility, const std::optional<std::string>& group) {
  auto r = pg.exec(
      "SELECT id, lease::text AS lease, attempts FROM taskmill.dequeue(queue_name => $1, batch_size => $2::int,"
      " visibility_timeout => $3::interval, task_group_id => $4)",
      {queue, std::to_string(batch_size), visibility, group});
  std::vector<Delivery> out;
  for (int i = 0; i < r.rows(); ++i)
    out.push_back({r.i64(i, "id"), r.str(i, "lease"), static_cast<int>(r.i64(i, "attempts"))});
  return out;
}

bool SqlAck(PgConn& pg, const Delivery& d) {
  return pg.scalar("SELECT taskmill.ack(task_id => $1::bigint, lease => $2::uuid)",
                   {std::to_string(d.id), d.lease}) == "t";
}

std::string SqlNack(PgConn& pg, const Delivery& d, const std::string& error) {
  return pg.scalar("SELECT taskmill.nack(task_id => $1::bigint, lease => $2::uuid, error => $3)::text",
                   {std::to_string(d.id), d.lease, error})
      .value_or("");
}

int64_t SqlEnqueue(PgConn& pg, const std::string& queue, const std::string& op,
                   const std::optional<std::string>& payload_json) {
  return pg.scalar_i64("SELECT taskmill.enqueue(queue_name => $1, operation_id => $2, payload => $3::jsonb)",
                       {queue, op, payload_json});
}

std::vector<int64_t> CompleteTasks(PgConn& pg, const std::string& queue, int n) {
  std::vector<int64_t> ids;
  for (int i = 0; i < n; ++i) {
    auto ds = SqlDequeue(pg, queue, 1);
    if (ds.empty()) throw std::runtime_error("CompleteTasks: queue " + queue + " has fewer tasks than asked");
    if (!SqlAck(pg, ds[0])) throw std::runtime_error("CompleteTasks: ack refused");
    ids.push_back(ds[0].id);
  }
  return ids;
}

void FailToDLQ(PgConn& pg, const std::string& queue, int64_t id, const std::string& error) {
  for (int i = 0; i < 1000; ++i) {
    MakeVisibleNow(pg, id);
    auto ds = SqlDequeue(pg, queue, 1);
    if (ds.empty() || ds[0].id != id) throw std::runtime_error("FailToDLQ: task not delivered");
    if (SqlNack(pg, ds[0], error) == "dlq") return;
  }
  throw std::runtime_error("FailToDLQ: task never reached the DLQ");
}

void MakeVisibleNow(PgConn& pg, int64_t id) { SetVisibleAt(pg, id, "now()"); }

void SetVisibleAt(PgConn& pg, int64_t id, const std::string& sql_expr) {
  pg.exec("UPDATE taskmill.tasks SET visible_at = " + sql_expr + " WHERE id = $1::bigint", {std::to_string(id)});
}

int64_t DbNowMicros(PgConn& pg) {
  return pg.scalar_i64("SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint");
}

PgResult TaskRow(PgConn& pg, int64_t id) {
  return pg.exec(
      "SELECT t.*, lease::text AS lease_text, payload::text AS payload_text, meta::text AS meta_text,"
      " (extract(epoch FROM created_at) * 1000000)::bigint AS created_at_us,"
      " (extract(epoch FROM scheduled_at) * 1000000)::bigint AS scheduled_at_us,"
      " (extract(epoch FROM visible_at) * 1000000)::bigint AS visible_at_us,"
      " (extract(epoch FROM expires_at) * 1000000)::bigint AS expires_at_us,"
      " (extract(epoch FROM dlq_at) * 1000000)::bigint AS dlq_at_us,"
      " (extract(epoch FROM now()) * 1000000)::bigint AS now_us"
      " FROM taskmill.tasks t WHERE id = $1::bigint",
      {std::to_string(id)});
}

PgResult ResultRow(PgConn& pg, int64_t id) {
  return pg.exec(std::string("SELECT r.*, payload::text AS payload_text, result::text AS result_text") + kTimeCols +
                     " FROM taskmill.task_results r WHERE id = $1::bigint",
                 {std::to_string(id)});
}

int64_t CountTasks(PgConn& pg, const std::string& queue) {
  return pg.scalar_i64("SELECT count(*) FROM taskmill.tasks WHERE queue_name = $1 AND dlq_at IS NULL", {queue});
}
int64_t CountDLQ(PgConn& pg, const std::string& queue) {
  return pg.scalar_i64("SELECT count(*) FROM taskmill.tasks WHERE queue_name = $1 AND dlq_at IS NOT NULL", {queue});
}
int64_t CountResults(PgConn& pg, const std::string& queue) {
  return pg.scalar_i64("SELECT count(*) FROM taskmill.task_results WHERE queue_name = $1", {queue});
}

}  // namespace testutil
