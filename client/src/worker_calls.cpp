// The Worker's SQL statements (see worker_calls.hpp). Named notation throughout, so the
// statements survive new optional parameters; prepared where the connection allows it
// (Connection::exec_prepared).
#include "worker_calls.hpp"

#include "array_literal.hpp"

namespace taskmill::worker::calls {

namespace {

constexpr std::string_view kNackSql =
    "SELECT taskmill.nack(task_id => $1, lease => $2::uuid, error => $3, "
    "retry_delay => $4::interval)";
constexpr std::string_view kExtendSql =
    "SELECT taskmill.extend_visibility(task_id => $1, lease => $2::uuid, "
    "visibility_timeout => $3::interval)";
// Gives unstarted claims back: visible again at once, lease cleared, and the attempt the
// claim counted is not burnt. Stale leases and tasks gone meanwhile are skipped.
constexpr std::string_view kReleaseSql =
    "SELECT taskmill.release(task_ids => $1::bigint[], leases => $2::uuid[])";
constexpr std::string_view kAckSql =
    "SELECT taskmill.ack(task_id => $1, lease => $2::uuid, result => $3::jsonb)";
constexpr std::string_view kAckManySql =
    "SELECT taskmill.ack_many(task_ids => $1::bigint[], leases => $2::uuid[], "
    "results => $3::jsonb[])";
constexpr std::string_view kAckDequeueSql =
    "SELECT * FROM taskmill.ack_dequeue(queue_name => $1, batch_size => $2, "
    "visibility_timeout => $3::interval, task_group_id => $4, task_ids => $5::bigint[], "
    "leases => $6::uuid[], results => $7::jsonb[])";

// The batch as the three parallel array literals ack_many and ack_dequeue take.
std::vector<Param> ack_arrays(const std::vector<AckItem>& batch) {
  detail::ArrayLiteral ids(batch.size() * 8), leases(batch.size() * 40), results;
  for (auto& a : batch) {
    ids.plain(std::to_string(a.id));
    leases.quoted(a.lease);
    results.element(to_param(a.result));
  }
  return {ids.finish(), leases.finish(), results.finish()};
}

}  // namespace

const std::string_view kDequeueSql =
    "SELECT * FROM taskmill.dequeue(queue_name => $1, batch_size => $2, "
    "visibility_timeout => $3::interval, task_group_id => $4)";

std::vector<Param> dequeue_params(const Setup& s, int n) {
  return {to_param(s.queue), to_param(n), to_param(s.opt.visibility_timeout),
          to_param(s.opt.task_group_id)};
}

std::vector<Task> dequeue(Connection& c, const Setup& s, int n) {
  return Task::from_result(c.exec_prepared("taskmill_dequeue", kDequeueSql, dequeue_params(s, n)));
}

void ack(Connection& c, const std::vector<AckItem>& batch) {
  if (batch.empty()) return;
  if (batch.size() == 1) {
    auto& a = batch.front();
    c.exec_prepared("taskmill_ack", kAckSql, {to_param(a.id), to_param(a.lease), to_param(a.result)});
    return;
  }
  c.exec_prepared("taskmill_ack_many", kAckManySql, ack_arrays(batch));
}

std::vector<Task> ack_dequeue(Connection& c, const Setup& s, int n,
                              const std::vector<AckItem>& acks) {
  auto params = dequeue_params(s, n);
  for (auto& p : ack_arrays(acks)) params.push_back(std::move(p));
  return Task::from_result(c.exec_prepared("taskmill_ack_dequeue", kAckDequeueSql, params));
}

std::string nack(Connection& c, int64_t id, const std::string& lease, const std::string& error,
                 std::optional<milliseconds> retry_delay) {
  auto r = c.exec_prepared("taskmill_nack", kNackSql,
                           {to_param(id), to_param(lease), to_param(error), to_param(retry_delay)});
  return r.rows() > 0 ? std::string(r.get(0, 0)) : std::string();
}

void extend(Connection& c, int64_t id, const std::string& lease, milliseconds visibility) {
  c.exec_prepared("taskmill_extend", kExtendSql,
                  {to_param(id), to_param(lease), to_param(visibility)});
}

void release(Connection& c, const std::vector<Claimed>& items) {
  detail::ArrayLiteral ids(items.size() * 8), leases(items.size() * 40);
  for (auto& it : items) {
    ids.plain(std::to_string(it.task.id));
    leases.quoted(it.task.lease);
  }
  c.exec_prepared("taskmill_release", kReleaseSql, {ids.finish(), leases.finish()});
}

}  // namespace taskmill::worker::calls
