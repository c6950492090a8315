// taskmill::Task from a taskmill.tasks-shaped result row.
#include "taskmill/task.hpp"

namespace taskmill {

Task Task::from_row(const Result& r, int row) {
  Task t;
  auto col = [&](std::string_view name) { return r.column(name); };
  int c;
  if ((c = col("id")) >= 0) t.id = r.get_int64(row, c);
  if ((c = col("queue_name")) >= 0) t.queue_name = std::string(r.get(row, c));
  if ((c = col("operation_id")) >= 0) t.operation_id = std::string(r.get(row, c));
  if ((c = col("payload")) >= 0) t.payload = r.get_json(row, c);
  if ((c = col("meta")) >= 0) t.meta = r.get_json(row, c);
  if ((c = col("priority")) >= 0) t.priority = static_cast<int>(r.get_int64(row, c));
  if ((c = col("attempts")) >= 0) t.attempts = static_cast<int>(r.get_int64(row, c));
  if ((c = col("max_attempts")) >= 0) t.max_attempts = static_cast<int>(r.get_int64(row, c));
  if ((c = col("task_group_id")) >= 0) t.task_group_id = r.opt(row, c);
  if ((c = col("idempotency_key")) >= 0) t.idempotency_key = std::string(r.get(row, c));
  if ((c = col("ephemeral")) >= 0) t.ephemeral = r.get_bool(row, c);
  if ((c = col("created_at")) >= 0) t.created_at = r.get_time(row, c);
  if ((c = col("scheduled_at")) >= 0) t.scheduled_at = r.get_time(row, c);
  if ((c = col("visible_at")) >= 0) t.visible_at = r.get_time(row, c);
  if ((c = col("expires_at")) >= 0) t.expires_at = r.opt_time(row, c);
  if ((c = col("lease")) >= 0) t.lease = std::string(r.get(row, c));
  if ((c = col("last_error")) >= 0) t.last_error = r.opt(row, c);
  if ((c = col("dlq_at")) >= 0) t.dlq_at = r.opt_time(row, c);
  if ((c = col("dlq_reason")) >= 0) t.dlq_reason = r.opt(row, c);
  return t;
}

}  // namespace taskmill
