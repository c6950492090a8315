// Executors (see worker_executor.hpp).
#include "worker_executor.hpp"

#include <optional>

#include "taskmill/error.hpp"
#include "taskmill/trace.hpp"

namespace taskmill::worker {

void Executors::start() {
  for (int i = 0; i < s_.opt.concurrency; ++i)
    threads_.emplace_back([this](std::stop_token st) { loop(st); });
}

void Executors::request_stop() {
  for (auto& t : threads_) t.request_stop();
}

void Executors::join() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void Executors::loop(std::stop_token st) {
  while (auto c = queue_.next()) {
    // The deadline starts now, with the handler; so does the duration its event reports
    // (taken first, so a timed-out handler's duration is never under its timeout).
    const auto started_at = std::chrono::steady_clock::now();
    auto deadline = Clock::now() + s_.opt.process_timeout;
    if (c->task.expires_at && *c->task.expires_at < deadline) deadline = *c->task.expires_at;
    tracker_.start(c->entry, deadline);
    process(std::move(*c), deadline, started_at, st);
    queue_.finished();
  }
}

Executors::Outcome Executors::run_handler(TaskContext& ctx, bool expiry_deadline) {
  const Task& task = ctx.task();
  Outcome o;
  auto it = handlers_.find(task.operation_id);
  if (it == handlers_.end()) {
    o.code = ErrorCode::TaskNotRegistered;
    o.error = "task not registered: no handler for operation \"" + task.operation_id + "\"";
    return o;
  }
  std::optional<trace::Scope> scope;
  if (task.meta.is_object() && task.meta.contains("traceparent") && task.meta["traceparent"].is_string())
    scope.emplace(trace::child_traceparent(task.meta["traceparent"].get<std::string>()));
  try {
    it->second(ctx);
    o.ok = true;
  } catch (const Error& e) {
    o.error = e.what();
    o.code = e.code();
  } catch (const std::exception& e) {
    o.panic = true;
    o.error = std::string("panic: ") + e.what();
  } catch (...) {
    o.panic = true;
    o.error = "panic: unknown exception";
  }
  // The handler thread cannot be interrupted: an overrun is reported when it returns.
  if (Clock::now() >= ctx.deadline() && !o.panic) {
    o.ok = false;
    o.code = ErrorCode::Timeout;
    o.error = expiry_deadline
                  ? "context deadline exceeded: task expired while its handler ran"
                  : "context deadline exceeded: handler ran past its process timeout of " +
                        std::to_string(s_.opt.process_timeout.count()) + " ms";
  }
  return o;
}

void Executors::process(Claimed c, Clock::time_point deadline,
                        std::chrono::steady_clock::time_point started_at, std::stop_token st) {
  const bool expiry_deadline = c.task.expires_at && *c.task.expires_at == deadline;
  TaskContext ctx(std::move(c.task), deadline, c.entry->stop.get_token());
  const Task& task = ctx.task();
  const Outcome o = run_handler(ctx, expiry_deadline);
  const auto took = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - started_at);
  if (tracker_.finish(c.entry)) {  // given back meanwhile: its outcome is not ours to send
    event(task, TaskEvent::Outcome::Released, took, o.error);
    return;
  }
  if (o.ok) {
    settle_ok(ctx);
    event(task, TaskEvent::Outcome::Succeeded, took, {});
    return;
  }
  const auto verdict = nack_retrying(s_, task.id, task.lease, o.error, std::nullopt, st);
  // A dead-lettered head lets its group's next task go: look again now.
  if (task.task_group_id) queue_.note_more();
  alert(task, o);
  using O = TaskEvent::Outcome;
  event(task,
        verdict == "dlq"                  ? O::DeadLettered
        : o.code == ErrorCode::Timeout    ? O::TimedOut
        : o.panic                         ? O::Panicked
                                          : O::Failed,
        took, o.error);
}

void Executors::settle_ok(const TaskContext& ctx) {
  const Task& task = ctx.task();
  calls::AckItem item{task.id, task.lease, ctx.result(), task.task_group_id.has_value()};
  if (acker_.submit(item)) return;
  // After a stop timeout: nobody batches acks any more.
  try {
    auto lease = s_.client.acquire();
    calls::ack(*lease, {item});
  } catch (const std::exception& e) {
    s_.report(std::string("ack failed: ") + e.what());
  }
}

void Executors::alert(const Task& task, const Outcome& o) {
  if (!s_.opt.on_alert) return;
  try {
    s_.opt.on_alert(Alert{&task, o.error, o.panic, o.code});
  } catch (...) {
    // An alert hook must not take the worker down.
  }
}

void Executors::event(const Task& task, TaskEvent::Outcome outcome,
                      std::chrono::microseconds took, const std::string& error) {
  if (!s_.opt.on_task_event) return;
  try {
    s_.opt.on_task_event(TaskEvent{task.id, s_.queue, task.operation_id, task.attempts, outcome,
                                   took, Clock::now(), error});
  } catch (...) {
    // An event hook must not take the worker down.
  }
}

std::string nack_retrying(const Setup& s, int64_t id, const std::string& lease,
                          const std::string& error, std::optional<milliseconds> retry_delay,
                          std::stop_token st) {
  milliseconds backoff{50};
  for (int attempt = 0; attempt < 8; ++attempt) {
    try {
      auto conn = s.client.acquire();
      return calls::nack(*conn, id, lease, error, retry_delay);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::Connection) {
        s.report("nack of task " + std::to_string(id) + " failed: " + e.what());
        return {};
      }
    } catch (const std::exception& e) {
      s.report("nack of task " + std::to_string(id) + " failed: " + e.what());
      return {};
    }
    if (!sleep_for(st, backoff)) return {};
    backoff = std::min(backoff * 2, milliseconds(2000));
  }
  return {};
}

}  // namespace taskmill::worker
