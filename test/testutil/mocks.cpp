// Mock handlers (see mocks.hpp).
#include "mocks.hpp"

#include <algorithm>
#include <stdexcept>
#include <thread>

namespace testutil {

namespace {
int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
// Leaves RunStats on scope exit, whichever way the handler ends.
struct Leave {
  RunStats& s;
  ~Leave() { s.leave(); }
};

// The handler of most mocks: body(self, ctx) counted in the mock's RunStats. The handler
// holds `self`, so worker threads never outlive the state they touch.
template <class T, class Body>
taskmill::Handler counted(std::shared_ptr<T> self, Body body) {
  return [self = std::move(self), body](taskmill::TaskContext& ctx) {
    self->enter();
    Leave l{*self};
    body(self, ctx);
  };
}

template <class T>
std::shared_ptr<T> make_mock(std::string op) {
  auto t = std::make_shared<T>();
  t->op = std::move(op);
  return t;
}
}  // namespace

void RunStats::enter() {
  executed.fetch_add(1);
  int a = active.fetch_add(1) + 1;
  int m = max_active.load();
  while (a > m && !max_active.compare_exchange_weak(m, a)) {
  }
}

void RunStats::leave() {
  active.fetch_sub(1);
  finished.fetch_add(1);
}

// --- SuccessTask
taskmill::Handler SuccessTask::handler() {
  return counted(shared_from_this(), [](const auto& self, taskmill::TaskContext& ctx) {
    {
      std::lock_guard g(self->mu);
      self->last_payload_ = ctx.payload();
      self->tasks_.push_back(ctx.task());
    }
    if (self->on_run) self->on_run(ctx);
  });
}
taskmill::Json SuccessTask::last_payload() const {
  std::lock_guard g(mu);
  return last_payload_;
}
std::vector<taskmill::Task> SuccessTask::tasks() const {
  std::lock_guard g(mu);
  return tasks_;
}
std::shared_ptr<SuccessTask> MakeSuccessTask(std::string op) {
  return make_mock<SuccessTask>(std::move(op));
}

// --- FailingTask
taskmill::Handler FailingTask::handler() {
  return counted(shared_from_this(), [](const auto& self, taskmill::TaskContext& ctx) {
    if (self->before_fail) self->before_fail(ctx);
    self->fail_count.fetch_add(1);
    throw taskmill::Error(taskmill::ErrorCode::Internal, self->error_message);
  });
}
std::shared_ptr<FailingTask> MakeFailingTask(std::string op, std::string error_message) {
  auto t = make_mock<FailingTask>(std::move(op));
  t->error_message = std::move(error_message);
  return t;
}

// --- PanicTask
taskmill::Handler PanicTask::handler() {
  return counted(shared_from_this(), [](const auto& self, taskmill::TaskContext&) {
    throw std::runtime_error(self->panic_value);
  });
}
std::shared_ptr<PanicTask> MakePanicTask(std::string op, std::string panic_value) {
  auto t = make_mock<PanicTask>(std::move(op));
  t->panic_value = std::move(panic_value);
  return t;
}

// --- SlowTask
taskmill::Handler SlowTask::handler() {
  return counted(shared_from_this(), [](const auto& self, taskmill::TaskContext& ctx) {
    self->last_start_us.store(now_us());
    self->last_deadline_us.store(
        std::chrono::duration_cast<std::chrono::microseconds>(ctx.deadline().time_since_epoch()).count());
    std::unique_lock lk(self->mu);
    if (self->respect_cancel) {
      // Wakes on release(), on the context's stop token, or after the duration.
      self->cv.wait_for(lk, ctx.stop_token(), self->duration, [&] { return self->released; });
      if (!self->released && ctx.cancelled()) {
        self->saw_cancel.fetch_add(1);
        lk.unlock();
        ctx.throw_if_cancelled();
        throw taskmill::Error(taskmill::ErrorCode::Timeout, "cancelled");
      }
    } else {
      self->cv.wait_for(lk, self->duration, [&] { return self->released; });
    }
    self->completed.fetch_add(1);
  });
}
void SlowTask::release() {
  {
    std::lock_guard g(mu);
    released = true;
  }
  cv.notify_all();
}
std::shared_ptr<SlowTask> MakeSlowTask(std::string op, std::chrono::milliseconds duration, bool respect_cancel) {
  auto t = make_mock<SlowTask>(std::move(op));
  t->duration = duration;
  t->respect_cancel = respect_cancel;
  return t;
}

// --- ConditionalTask
taskmill::Handler ConditionalTask::handler() {
  return counted(shared_from_this(), [](const auto& self, taskmill::TaskContext&) {
    int n = self->current_count.fetch_add(1) + 1;
    if (n <= self->fail_times)
      throw taskmill::Error(taskmill::ErrorCode::Internal, "conditional failure " + std::to_string(n));
    self->successes.fetch_add(1);
  });
}
std::shared_ptr<ConditionalTask> MakeConditionalTask(std::string op, int fail_times) {
  auto t = make_mock<ConditionalTask>(std::move(op));
  t->fail_times = fail_times;
  return t;
}

// --- OrderTrackingTask
taskmill::Handler OrderTrackingTask::handler() {
  return counted(shared_from_this(), [](const auto& self, taskmill::TaskContext& ctx) {
    {
      std::lock_guard g(self->mu);
      self->order_.push_back(ctx.task().id);
      const auto& p = ctx.payload();
      self->seqs_.push_back(p.is_object() && p.contains("seq") ? p["seq"].get<int64_t>() : -1);
      self->groups_.push_back(ctx.task().task_group_id.value_or(""));
    }
    if (self->hold.count() > 0) std::this_thread::sleep_for(self->hold);
  });
}
std::vector<int64_t> OrderTrackingTask::order() const {
  std::lock_guard g(mu);
  return order_;
}
std::vector<int64_t> OrderTrackingTask::seqs() const {
  std::lock_guard g(mu);
  return seqs_;
}
std::vector<std::string> OrderTrackingTask::groups() const {
  std::lock_guard g(mu);
  return groups_;
}
std::shared_ptr<OrderTrackingTask> MakeOrderTrackingTask(std::string op, std::chrono::milliseconds hold) {
  auto t = make_mock<OrderTrackingTask>(std::move(op));
  t->hold = hold;
  return t;
}

// --- GateTask
taskmill::Handler GateTask::handler() {
  return [self = shared_from_this()](taskmill::TaskContext& ctx) {
    std::unique_lock lk(self->mu);
    self->enter();
    Leave l{*self};
    self->ids_.push_back(ctx.task().id);
    self->cv.notify_all();
    auto released = [&] {
      return self->opened ||
             (self->release_at_active > 0 && self->max_active.load() >= self->release_at_active);
    };
    if (self->respect_cancel) {
      self->cv.wait_for(lk, ctx.stop_token(), self->safety, released);
      if (!released() && ctx.cancelled()) {
        self->saw_cancel.fetch_add(1);
        lk.unlock();
        ctx.throw_if_cancelled();
      }
    } else {
      self->cv.wait_for(lk, self->safety, released);
    }
  };
}
void GateTask::open() {
  {
    std::lock_guard g(mu);
    opened = true;
  }
  cv.notify_all();
}
bool GateTask::wait_executed(int n, std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu);
  return cv.wait_for(lk, timeout, [&] { return executed.load() >= n; });
}
bool GateTask::wait_active(int n, std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu);
  return cv.wait_for(lk, timeout, [&] { return active.load() >= n; });
}
std::vector<int64_t> GateTask::ids() const {
  std::lock_guard g(mu);
  return ids_;
}
std::shared_ptr<GateTask> MakeGateTask(std::string op, int release_at_active) {
  auto t = make_mock<GateTask>(std::move(op));
  t->release_at_active = release_at_active;
  return t;
}

// --- AlertLog
std::function<void(const taskmill::Alert&)> AlertLog::hook() {
  return [self = shared_from_this()](const taskmill::Alert& a) {
    {
      std::lock_guard g(self->mu);
      self->entries_.push_back({a.task ? a.task->id : -1, a.message, a.panic, a.code});
    }
    self->cv.notify_all();
  };
}
std::vector<AlertLog::Entry> AlertLog::entries() const {
  std::lock_guard g(mu);
  return entries_;
}
bool AlertLog::wait_count(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lk(mu);
  return cv.wait_for(lk, timeout, [&] { return entries_.size() >= n; });
}
std::shared_ptr<AlertLog> MakeAlertLog() { return std::make_shared<AlertLog>(); }

}  // namespace testutil
