// taskmill::Enqueuer: calls taskmill.enqueue / taskmill.enqueue_arrays (named notation).
#include "taskmill/enqueuer.hpp"

#include "array_literal.hpp"
#include "taskmill/error.hpp"
#include "taskmill/trace.hpp"

namespace taskmill {

namespace {

constexpr std::string_view kEnqueueSql =
    "SELECT taskmill.enqueue(queue_name => $1, operation_id => $2, payload => $3::jsonb, "
    "priority => $4, max_attempts => $5, scheduled_at => $6::timestamptz, "
    "expires_at => $7::timestamptz, task_group_id => $8, idempotency_key => $9, "
    "ephemeral => $10, meta => $11::jsonb)";

// The array form (taskmill.enqueue_arrays): one text-format array per field, task i =
// element i; an element left unset is NULL (the server's default), and an array of NULLs
// only is sent as NULL. No JSON document
// is built around the payloads, and the server does not walk one.
constexpr std::string_view kEnqueueBatchSql =
    "SELECT taskmill.enqueue_arrays(queue_name => $1, operation_ids => $2::text[], "
    "payloads => $3::jsonb[], priorities => $4::int4[], max_attempts => $5::int4[], "
    "scheduled_ats => $6::timestamptz[], expires_ats => $7::timestamptz[], "
    "task_group_ids => $8::text[], idempotency_keys => $9::text[], "
    "ephemerals => $10::bool[], metas => $11::jsonb[])";

Json task_meta(const EnqueueOptions& o, const Json& trace_meta_base) {
  Json meta = o.meta.is_object() ? o.meta : Json::object();
  if (trace_meta_base.is_object())
    for (auto& [k, v] : trace_meta_base.items())
      if (!meta.contains(k)) meta[k] = v;
  return meta;
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
  const size_t n = items.size();
  detail::ArrayLiteral ops(n * 16), payloads(n * 32), priorities(n * 2), max_attempts(n * 2),
      scheduled(n * 5), expires(n * 5), groups(n * 5), keys(n * 5), ephemerals(n * 2), metas(n * 5);
  for (auto& item : items) {
    const EnqueueOptions& o = item.options;
    ops.quoted(item.operation_id);
    payloads.element(to_param(item.payload));
    priorities.element(to_param(o.priority));
    max_attempts.element(to_param(o.max_attempts));
    scheduled.element(to_param(o.scheduled_at));
    expires.element(to_param(o.expires_at));
    groups.element(o.task_group_id);
    keys.element(o.idempotency_key);
    ephemerals.element(to_param(o.ephemeral));
    Json meta = task_meta(o, trace_meta);
    metas.element(meta.empty() ? Param{} : Param(meta.dump()));
  }
  auto r = conn.exec_prepared(
      "taskmill_enqueue_arrays", kEnqueueBatchSql,
      {to_param(queue_name_), ops.finish(), payloads.finish(), priorities.finish(),
       max_attempts.finish(), scheduled.finish(), expires.finish(), groups.finish(),
       keys.finish(), ephemerals.finish(), metas.finish()});
  return parse_ids(r);
}

}  // namespace taskmill
