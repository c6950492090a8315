// Mock handlers (the catalogue's SuccessTask, FailingTask, PanicTask, SlowTask,
// ConditionalTask, OrderTrackingTask) plus GateTask, a handler that holds each delivery until
// the test lets it go (for in-flight, stop and FIFO-blocking cases).
//
// Each is created with Make<...>() as a shared_ptr; handler() returns a taskmill::Handler that
// keeps the object alive, so worker threads never outlive the state they touch.
// "Error" = the handler throws taskmill::Error; "panic" = it throws anything else (a
// std::runtime_error), which the Worker reports as Alert{panic = true}.
#pragma once

#include <taskmill/taskmill.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace testutil {

using namespace std::chrono_literals;

// Counts runs and tracks how many run at once (shared by every mock).
struct RunStats {
  std::atomic<int> executed{0};   // handler entered
  std::atomic<int> finished{0};   // handler left (either way)
  std::atomic<int> active{0};
  std::atomic<int> max_active{0};
  void enter();
  void leave();
};

// Always succeeds; remembers the last payload, the ids and the contexts' tasks it saw.
struct SuccessTask : std::enable_shared_from_this<SuccessTask>, RunStats {
  std::string op;
  std::function<void(taskmill::TaskContext&)> on_run;  // optional extra work (before returning)
  taskmill::Handler handler();
  taskmill::Json last_payload() const;
  std::vector<taskmill::Task> tasks() const;

  mutable std::mutex mu;
  taskmill::Json last_payload_;
  std::vector<taskmill::Task> tasks_;
};
std::shared_ptr<SuccessTask> MakeSuccessTask(std::string op);

// Always fails with taskmill::Error(Internal, error_message).
struct FailingTask : std::enable_shared_from_this<FailingTask>, RunStats {
  std::string op;
  std::string error_message = "handler failed on purpose";
  std::function<void(taskmill::TaskContext&)> before_fail;  // optional (e.g. read the DB clock)
  std::atomic<int> fail_count{0};
  taskmill::Handler handler();
};
std::shared_ptr<FailingTask> MakeFailingTask(std::string op, std::string error_message = "handler failed on purpose");

// Always throws std::runtime_error(panic_value): an unexpected exception, i.e. a panic.
struct PanicTask : std::enable_shared_from_this<PanicTask>, RunStats {
  std::string op;
  std::string panic_value = "boom: unexpected exception in handler";
  taskmill::Handler handler();
};
std::shared_ptr<PanicTask> MakePanicTask(std::string op, std::string panic_value = "boom: unexpected exception in handler");

// Takes `duration`. With respect_cancel it wakes when the task's context is cancelled
// (deadline or stop gave up) and throws via throw_if_cancelled(); saw_cancel records it.
// release() ends every current and future run early (lets a test finish quickly).
struct SlowTask : std::enable_shared_from_this<SlowTask>, RunStats {
  std::string op;
  std::chrono::milliseconds duration{1000};
  bool respect_cancel = true;
  std::atomic<int> saw_cancel{0};
  std::atomic<int> completed{0};  // ran the whole duration (or released) and returned
  std::atomic<int64_t> last_deadline_us{0};  // context deadline of the last run (epoch us)
  std::atomic<int64_t> last_start_us{0};     // local clock at entry (epoch us)
  taskmill::Handler handler();
  void release();

  std::mutex mu;
  std::condition_variable_any cv;
  bool released = false;
};
std::shared_ptr<SlowTask> MakeSlowTask(std::string op, std::chrono::milliseconds duration, bool respect_cancel = true);

// Fails (taskmill::Error) the first fail_times runs, then succeeds.
struct ConditionalTask : std::enable_shared_from_this<ConditionalTask>, RunStats {
  std::string op;
  int fail_times = 1;
  std::atomic<int> current_count{0};
  std::atomic<int> successes{0};
  taskmill::Handler handler();
};
std::shared_ptr<ConditionalTask> MakeConditionalTask(std::string op, int fail_times);

// Records the order of execution: task ids (and payload["seq"] when present) in entry order.
// An optional hold keeps each run busy for that long (so overlap would show in max_active).
struct OrderTrackingTask : std::enable_shared_from_this<OrderTrackingTask>, RunStats {
  std::string op;
  std::chrono::milliseconds hold{0};
  taskmill::Handler handler();
  std::vector<int64_t> order() const;     // task ids
  std::vector<int64_t> seqs() const;      // payload["seq"]
  std::vector<std::string> groups() const;

  mutable std::mutex mu;
  std::vector<int64_t> order_;
  std::vector<int64_t> seqs_;
  std::vector<std::string> groups_;
};
std::shared_ptr<OrderTrackingTask> MakeOrderTrackingTask(std::string op, std::chrono::milliseconds hold = 0ms);

// Holds every run until open() (or, with release_at_active = n, until n runs are active at
// once; or until the safety timeout), then succeeds. Ignores cancellation unless
// respect_cancel. Used to observe parallelism and in-flight states deterministically.
struct GateTask : std::enable_shared_from_this<GateTask>, RunStats {
  std::string op;
  int release_at_active = 0;                 // 0 = only open() releases
  bool respect_cancel = false;
  std::chrono::milliseconds safety{30000};   // never hold longer than this
  std::atomic<int> saw_cancel{0};
  taskmill::Handler handler();
  void open();
  // Waits until at least n runs have entered (true) or the timeout passes (false).
  bool wait_executed(int n, std::chrono::milliseconds timeout = 30s);
  bool wait_active(int n, std::chrono::milliseconds timeout = 30s);
  std::vector<int64_t> ids() const;

  mutable std::mutex mu;
  std::condition_variable_any cv;
  bool opened = false;
  std::vector<int64_t> ids_;
};
std::shared_ptr<GateTask> MakeGateTask(std::string op, int release_at_active = 0);

// Records the Worker's alerts (WorkerOptions::on_alert), copied out of the callback.
struct AlertLog : std::enable_shared_from_this<AlertLog> {
  struct Entry {
    int64_t task_id;
    std::string message;
    bool panic;
    taskmill::ErrorCode code;
  };
  std::function<void(const taskmill::Alert&)> hook();
  std::vector<Entry> entries() const;
  bool wait_count(size_t n, std::chrono::milliseconds timeout = 30s) const;

  mutable std::mutex mu;
  mutable std::condition_variable cv;
  std::vector<Entry> entries_;
};
std::shared_ptr<AlertLog> MakeAlertLog();

}  // namespace testutil
