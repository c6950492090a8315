// taskmill::Task from a taskmill.tasks-shaped result row.
#include "taskmill/task.hpp"

namespace taskmill {

namespace {

// Column numbers of a result, looked up once per result (PQfnumber scans the column names
// and copies the name it is given: per row and column, that was most of a task's client
// cost in the process benchmark).
struct TaskColumns {
  int id, queue_name, operation_id, payload, meta, priority, attempts, max_attempts, task_group_id,
      idempotency_key, ephemeral, created_at, scheduled_at, visible_at, expires_at, lease, last_error,
      dlq_at, dlq_reason;
  explicit TaskColumns(const Result& r)
      : id(r.column("id")),
        queue_name(r.column("queue_name")),
        operation_id(r.column("operation_id")),
        payload(r.column("payload")),
        meta(r.column("meta")),
        priority(r.column("priority")),
        attempts(r.column("attempts")),
        max_attempts(r.column("max_attempts")),
        task_group_id(r.column("task_group_id")),
        idempotency_key(r.column("idempotency_key")),
        ephemeral(r.column("ephemeral")),
        created_at(r.column("created_at")),
        scheduled_at(r.column("scheduled_at")),
        visible_at(r.column("visible_at")),
        expires_at(r.column("expires_at")),
        lease(r.column("lease")),
        last_error(r.column("last_error")),
        dlq_at(r.column("dlq_at")),
        dlq_reason(r.column("dlq_reason")) {}
};

Task read_row(const Result& r, int row, const TaskColumns& c) {
  Task t;
  if (c.id >= 0) t.id = r.get_int64(row, c.id);
  if (c.queue_name >= 0) t.queue_name = std::string(r.get(row, c.queue_name));
  if (c.operation_id >= 0) t.operation_id = std::string(r.get(row, c.operation_id));
  if (c.payload >= 0) t.payload = r.get_json(row, c.payload);
  if (c.meta >= 0) t.meta = r.get_json(row, c.meta);
  if (c.priority >= 0) t.priority = static_cast<int>(r.get_int64(row, c.priority));
  if (c.attempts >= 0) t.attempts = static_cast<int>(r.get_int64(row, c.attempts));
  if (c.max_attempts >= 0) t.max_attempts = static_cast<int>(r.get_int64(row, c.max_attempts));
  if (c.task_group_id >= 0) t.task_group_id = r.opt(row, c.task_group_id);
  if (c.idempotency_key >= 0) t.idempotency_key = std::string(r.get(row, c.idempotency_key));
  if (c.ephemeral >= 0) t.ephemeral = r.get_bool(row, c.ephemeral);
  if (c.created_at >= 0) t.created_at = r.get_time(row, c.created_at);
  if (c.scheduled_at >= 0) t.scheduled_at = r.get_time(row, c.scheduled_at);
  if (c.visible_at >= 0) t.visible_at = r.get_time(row, c.visible_at);
  if (c.expires_at >= 0) t.expires_at = r.opt_time(row, c.expires_at);
  if (c.lease >= 0) t.lease = std::string(r.get(row, c.lease));
  if (c.last_error >= 0) t.last_error = r.opt(row, c.last_error);
  if (c.dlq_at >= 0) t.dlq_at = r.opt_time(row, c.dlq_at);
  if (c.dlq_reason >= 0) t.dlq_reason = r.opt(row, c.dlq_reason);
  return t;
}

}  // namespace

Task Task::from_row(const Result& r, int row) { return read_row(r, row, TaskColumns(r)); }

std::vector<Task> Task::from_result(const Result& r) {
  TaskColumns c(r);
  std::vector<Task> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) out.push_back(read_row(r, i, c));
  return out;
}

}  // namespace taskmill
