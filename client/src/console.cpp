// taskmill::Console: the extension's admin functions (named notation, one call each).
#include "taskmill/console.hpp"

#include "taskmill/error.hpp"

namespace taskmill {

namespace {

ResultRow result_row(const Result& r, int i) {
  ResultRow row;
  auto c = [&](std::string_view n) { return r.column(n); };
  int k;
  if ((k = c("id")) >= 0) row.id = r.get_int64(i, k);
  if ((k = c("queue_name")) >= 0) row.queue_name = std::string(r.get(i, k));
  if ((k = c("operation_id")) >= 0) row.operation_id = std::string(r.get(i, k));
  if ((k = c("payload")) >= 0) row.payload = r.get_json(i, k);
  if ((k = c("result")) >= 0) row.result = r.get_json(i, k);
  if ((k = c("attempts")) >= 0) row.attempts = static_cast<int>(r.get_int64(i, k));
  if ((k = c("created_at")) >= 0) row.created_at = r.get_time(i, k);
  if ((k = c("completed_at")) >= 0) row.completed_at = r.get_time(i, k);
  return row;
}

ScheduleInfo schedule_info(const Result& r, int i) {
  ScheduleInfo s;
  auto c = [&](std::string_view n) { return r.column(n); };
  int k;
  if ((k = c("queue_name")) >= 0) s.queue_name = std::string(r.get(i, k));
  if ((k = c("operation_id")) >= 0) s.operation_id = std::string(r.get(i, k));
  if ((k = c("cron")) >= 0) s.cron = std::string(r.get(i, k));
  if ((k = c("cron_expression")) >= 0) s.cron = std::string(r.get(i, k));
  if ((k = c("timezone")) >= 0) s.timezone = std::string(r.get(i, k));
  if ((k = c("payload")) >= 0) s.payload = r.get_json(i, k);
  if ((k = c("options")) >= 0) s.options = r.get_json(i, k);
  if ((k = c("next_run_at")) >= 0) s.next_run_at = r.opt_time(i, k);
  if ((k = c("last_run_at")) >= 0) s.last_run_at = r.opt_time(i, k);
  if ((k = c("last_status")) >= 0) s.last_status = r.opt(i, k);
  if ((k = c("last_error")) >= 0) s.last_error = r.opt(i, k);
  return s;
}

}  // namespace

Console::Console(Client& client) : client_(&client) {}

std::vector<std::string> Console::list_queues() {
  auto lease = client_->acquire();
  auto r = lease->exec("SELECT * FROM taskmill.list_queues()");
  std::vector<std::string> out;
  for (int i = 0; i < r.rows(); ++i) out.emplace_back(r.get(i, 0));
  return out;
}

QueueStats Console::stats(std::string_view queue) {
  auto lease = client_->acquire();
  auto r = lease->exec("SELECT * FROM taskmill.queue_stats(queue_name => $1)", queue);
  QueueStats s;
  if (r.rows() == 0) return s;
  for (int c = 0; c < r.columns(); ++c) {
    auto name = r.column_name(c);
    s.columns[name] = std::string(r.get(0, c));
    if (name == "available") s.available = r.get_int64(0, c);
    else if (name == "in_flight") s.in_flight = r.get_int64(0, c);
    else if (name == "scheduled") s.scheduled = r.get_int64(0, c);
    else if (name == "in_dlq") s.in_dlq = r.get_int64(0, c);
  }
  return s;
}

int64_t Console::purge(std::string_view queue) {
  auto lease = client_->acquire();
  return lease->exec("SELECT taskmill.purge(queue_name => $1)", queue).get_int64(0, 0);
}

int64_t Console::purge_dlq(std::string_view queue) {
  auto lease = client_->acquire();
  return lease->exec("SELECT taskmill.purge_dlq(queue_name => $1)", queue).get_int64(0, 0);
}

void Console::requeue_from_dlq(int64_t task_id) {
  auto lease = client_->acquire();
  lease->exec("SELECT taskmill.requeue_from_dlq(task_id => $1)", task_id);
}

std::vector<ScheduleInfo> Console::list_schedules(std::optional<std::string> queue) {
  auto lease = client_->acquire();
  auto r = lease->exec("SELECT * FROM taskmill.list_schedules(queue_name => $1)", queue);
  std::vector<ScheduleInfo> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(schedule_info(r, i));
  return out;
}

int64_t Console::trigger_schedule(std::string_view operation_id, const Json& options,
                                  std::optional<std::string> queue) {
  auto lease = client_->acquire();
  try {
    return lease
        ->exec("SELECT taskmill.trigger_schedule(operation_id => $1, options => $2::jsonb, "
               "queue_name => $3)",
               operation_id, options, queue)
        .get_int64(0, 0);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::NotFound)
      throw Error(ErrorCode::ScheduleNotFound, e.what(), e.sqlstate());
    throw;
  }
}

std::vector<ResultRow> Console::list_results(const ListResultsOptions& o) {
  auto lease = client_->acquire();
  auto r = lease->exec(
      "SELECT * FROM taskmill.list_results(queue_name => $1, completed_after => $2::timestamptz, "
      "completed_before => $3::timestamptz, \"limit\" => $4, \"offset\" => $5)",
      o.queue_name, o.completed_after, o.completed_before, o.limit, o.offset);
  std::vector<ResultRow> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(result_row(r, i));
  return out;
}

int64_t Console::cleanup_results(const CleanupResultsOptions& o) {
  auto lease = client_->acquire();
  return lease
      ->exec("SELECT taskmill.cleanup_results(queue_name => $1, "
             "completed_before => $2::timestamptz)",
             o.queue_name, o.completed_before)
      .get_int64(0, 0);
}

std::vector<Task> Console::list_dlq(std::string_view queue, int limit, int offset) {
  auto lease = client_->acquire();
  auto r = lease->exec(
      "SELECT * FROM taskmill.list_dlq(queue_name => $1, \"limit\" => $2, \"offset\" => $3)",
      queue, limit, offset);
  return Task::from_result(r);
}

}  // namespace taskmill
