// taskmill::Enqueuer: calls taskmill.enqueue / taskmill.enqueue_batch (named notation).
#include "taskmill/enqueuer.hpp"

#include "taskmill/error.hpp"
#include "taskmill/trace.hpp"

namespace taskmill {

namespace {

constexpr std::string_view kEnqueueSql =
    "SELECT taskmill.enqueue(queue_name => $1, operation_id => $2, payload => $3::jsonb, "
    "priority => $4, max_attempts => $5, scheduled_at => $6::timestamptz, "
    "expires_at => $7::timestamptz, task_group_id => $8, idempotency_key => $9, "
    "ephemeral => $10, meta => $11::jsonb)";

constexpr std::string_view kEnqueueBatchSql =
    "SELECT taskmill.enqueue_batch(queue_name => $1, tasks => $2::jsonb)";

Json task_object(const BatchItem& item, const Json& trace_meta_base) {
  const EnqueueOptions& o = item.options;
  Json t = Json::object();
  t["operation_id"] = item.operation_id;
  t["payload"] = item.payload;
  t["priority"] = o.priority;
  t["max_attempts"] = o.max_attempts;
  if (o.scheduled_at) t["scheduled_at"] = format_timestamp(*o.scheduled_at);
  if (o.expires_at) t["expires_at"] = format_timestamp(*o.expires_at);
  if (o.task_group_id) t["task_group_id"] = *o.task_group_id;
  if (o.idempotency_key) t["idempotency_key"] = *o.idempotency_key;
  t["ephemeral"] = o.ephemeral;
  Json meta = o.meta.is_object() ? o.meta : Json::object();
  if (trace_meta_base.is_object())
    for (auto& [k, v] : trace_meta_base.items())
      if (!meta.contains(k)) meta[k] = v;
  if (!meta.empty()) t["meta"] = meta;
  return t;
}

// enqueue_batch may return bigint[] (one row, "{1,2,3}") or SETOF bigint (a row per id).
std::vector<int64_t> parse_ids(const Result& r) {
  std::vector<int64_t> ids;
  if (r.rows() == 1 && !r.is_null(0, 0) && r.get(0, 0).starts_with("{")) {
    auto v = r.get(0, 0);
    std::string cur;
    for (char ch : v.substr(1)) {
      if (ch == ',' || ch == '}') {
        if (!cur.empty()) ids.push_back(std::stoll(cur));
        cur.clear();
      } else {
        cur.push_back(ch);
      }
    }
    return ids;
  }
  for (int i = 0; i < r.rows(); ++i) ids.push_back(r.get_int64(i, 0));
  return ids;
}

}  // namespace

Json meta_with_trace(const Json& meta) {
  Json out = meta;
  auto tp = trace::current_traceparent();
  if (!tp) return out;
  if (!out.is_object()) {
    if (!out.is_null())
      throw Error(ErrorCode::Validation, "meta must be a JSON object");
    out = Json::object();
  }
  if (!out.contains("traceparent")) out["traceparent"] = *tp;
  return out;
}

Enqueuer::Enqueuer(Client& client, std::string queue_name)
    : client_(&client), queue_name_(std::move(queue_name)) {}

int64_t Enqueuer::enqueue_text(Connection& conn, std::string_view operation_id,
                               std::optional<std::string> payload_text,
                               const EnqueueOptions& o) {
  Json meta = meta_with_trace(o.meta);
  auto r = conn.exec_prepared(
      "taskmill_enqueue", kEnqueueSql,
      {to_param(queue_name_), to_param(operation_id), payload_text, to_param(o.priority),
       to_param(o.max_attempts), to_param(o.scheduled_at), to_param(o.expires_at),
       to_param(o.task_group_id), to_param(o.idempotency_key), to_param(o.ephemeral),
       to_param(meta)});
  return r.get_int64(0, 0);
}

int64_t Enqueuer::enqueue(std::string_view operation_id, const Json& payload,
                          const EnqueueOptions& options) {
  auto lease = client_->acquire();
  return enqueue(lease.get(), operation_id, payload, options);
}

int64_t Enqueuer::enqueue(Connection& conn, std::string_view operation_id, const Json& payload,
                          const EnqueueOptions& options) {
  return enqueue_text(conn, operation_id, to_param(payload), options);
}

int64_t Enqueuer::enqueue_raw(std::string_view operation_id, std::string_view json_text,
                              const EnqueueOptions& options) {
  auto lease = client_->acquire();
  return enqueue_raw(lease.get(), operation_id, json_text, options);
}

int64_t Enqueuer::enqueue_raw(Connection& conn, std::string_view operation_id,
                              std::string_view json_text, const EnqueueOptions& options) {
  std::optional<std::string> text;
  if (!json_text.empty()) text = std::string(json_text);
  return enqueue_text(conn, operation_id, std::move(text), options);
}

std::vector<int64_t> Enqueuer::enqueue_batch(const std::vector<BatchItem>& items) {
  if (items.empty()) return {};
  auto lease = client_->acquire();
  return enqueue_batch(lease.get(), items);
}

std::vector<int64_t> Enqueuer::enqueue_batch(Connection& conn, const std::vector<BatchItem>& items) {
  if (items.empty()) return {};
  Json trace_meta = meta_with_trace(nullptr);  // one trace context for the whole batch
  Json tasks = Json::array();
  for (auto& item : items) tasks.push_back(task_object(item, trace_meta));
  auto r = conn.exec_prepared("taskmill_enqueue_batch", kEnqueueBatchSql,
                              {to_param(queue_name_), to_param(tasks)});
  return parse_ids(r);
}

}  // namespace taskmill
