// taskmill::Worker: runs registered handlers for the tasks of one queue.
//
// Threads: one fetcher (taskmill.dequeue of batch_size tasks into a local queue, claiming
// again while handlers run once at most batch_size / 2 are left there; woken by a
// notification on the queue's own channel or the poll interval), `concurrency` executors (run handlers), one heartbeat
// thread (extend_visibility of every claimed task, queued or running; deadline
// cancellation), one acker (ack_many of whatever completed, as soon as the previous call
// returned) and one listener (its own connection with a server session: LISTEN on the
// queue's channel from taskmill.listen; none behind a transaction pooler without
// ClientOptions::listen_conninfo). All are
// joined, never detached. client/src/worker_internal.hpp maps them to their files.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>

#include "taskmill/client.hpp"
#include "taskmill/error.hpp"
#include "taskmill/task.hpp"

namespace taskmill {

// What a handler sees of its task.
class TaskContext {
 public:
  TaskContext(Task task, Clock::time_point deadline, std::stop_token token);

  const Task& task() const noexcept { return task_; }
  const Json& payload() const noexcept { return task_.payload; }
  // min(delivery time + process_timeout, expires_at).
  Clock::time_point deadline() const noexcept { return deadline_; }
  // True once the deadline passed, or the worker's stop gave up waiting (stop_timeout).
  bool cancelled() const noexcept;
  // Requested at the same moments; usable with std::condition_variable_any / stop_callback.
  std::stop_token stop_token() const noexcept { return token_; }
  // Throws Error(Timeout) when cancelled().
  void throw_if_cancelled() const;
  // Sleeps for `d`, or until cancelled; returns false when cancelled.
  bool sleep_for(std::chrono::milliseconds d) const;
  // Stored in task_results.result on ack.
  void set_result(Json result) { result_ = std::move(result); }
  const Json& result() const noexcept { return result_; }

 private:
  Task task_;
  Clock::time_point deadline_;
  std::stop_token token_;
  Json result_{};
};

// Return = ack; throw = nack (with the exception's message as the error).
using Handler = std::function<void(TaskContext&)>;

// One delivery's outcome, reported once per delivery after the handler returned and the
// outcome was sent (ack handed to the acker, nack / release answered). For metrics and logs.
struct TaskEvent {
  enum class Outcome {
    // The handler returned: acked.
    Succeeded,
    // Nacked (the rest but Released); of these, the first that applies is reported, in the
    // order DeadLettered, TimedOut, Panicked, Failed.
    Failed,        // the handler threw taskmill::Error, or none is registered: retried later
    DeadLettered,  // moved to the dead-letter queue (max_attempts reached, or expired)
    Panicked,      // the handler threw something other than taskmill::Error
    TimedOut,      // the handler ran past its deadline (or threw Error(Timeout))
    // stop() gave the task back before its handler finished (stop_timeout), or the claim
    // it was delivered by did not commit: its outcome was dropped; delivered again later.
    Released,
  };
  std::int64_t task_id = 0;
  std::string queue{};
  std::string operation{};
  int attempt = 0;  // this delivery's attempt (1 = first)
  Outcome outcome = Outcome::Succeeded;
  std::chrono::microseconds duration{0};  // handler run time
  std::chrono::system_clock::time_point finished_at{};
  std::string error{};  // "" for Succeeded; else the error recorded by nack
};

// "succeeded", "failed", "dead_lettered", "panicked", "timed_out", "released".
const char* to_string(TaskEvent::Outcome outcome) noexcept;

// A failed delivery, reported after its nack.
struct Alert {
  const Task* task = nullptr;  // never null; valid during the on_alert call only
  std::string message{};       // the error recorded by nack (last_error / dlq_reason)
  bool panic = false;          // the handler threw something other than taskmill::Error
  // TaskNotRegistered (no handler), Timeout (deadline passed), the code of a thrown
  // taskmill::Error, or Internal for a panic.
  ErrorCode code = ErrorCode::Internal;
};

struct WorkerOptions {
  int concurrency = 8;                                  // handler threads
  // Most tasks claimed by one dequeue. They wait in a local queue for a handler thread; the
  // next dequeue starts (while handlers run) when at most batch_size / 2 are left there, so
  // at most batch_size * 3 / 2 claimed tasks wait at once.
  int batch_size = 10;
  std::chrono::milliseconds poll_interval{1000};        // dequeue at least this often when idle
  std::chrono::milliseconds visibility_timeout{30000};  // heartbeat every third of it
  std::chrono::milliseconds process_timeout{60000};     // handler deadline
  std::optional<std::string> task_group_id{};             // only tasks of this FIFO group
  std::chrono::milliseconds stop_timeout{10000};        // stop() waits this long for in-flight
  std::function<void(const Alert&)> on_alert{};           // failed tasks; from handler threads
  // Infrastructure trouble the worker retries by itself (dequeue / ack / nack failing,
  // server unreachable); called from worker threads.
  std::function<void(const std::string&)> on_error{};
  // LISTEN on the queue's own channel (taskmill.listen: a keyed hash of the queue name) for
  // early wake-ups, on a connection of its own (a direct one: see
  // ClientOptions::listen_conninfo; behind a transaction pooler without one, it polls).
  // Notifications on any other channel are never listened to.
  bool listen = true;
  // Called once per delivery whose handler started, once its outcome is known (see
  // TaskEvent), from the handler thread that ran it (concurrently from several threads:
  // the hook must be thread-safe, and quick: the thread runs no task meanwhile).
  // Exceptions it throws are swallowed.
  std::function<void(const TaskEvent&)> on_task_event{};
};

// What a worker has done since it was constructed (Worker::stats), for metrics and tests.
struct WorkerStats {
  std::uint64_t dequeues = 0;  // dequeue / ack_dequeue calls sent (polls, wake-ups, refills)
  std::uint64_t wakeups = 0;   // notifications received on the queue's channel
};

class Worker {
 public:
  Worker(Client& client, std::string queue_name, WorkerOptions options = {});
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  // Stops (swallowing a stop timeout) and joins every thread: blocks until running handlers
  // return.
  ~Worker();

  // Before start(); replaces an earlier handler of the same operation id.
  void register_task(std::string operation_id, Handler handler);
  void start();
  // Stops fetching, gives claimed tasks no handler started back at once (visible again),
  // waits for running tasks up to stop_timeout. If some are still running then, gives their
  // visibility back (nack with retry_delay 0), requests their stop tokens and throws
  // Error(Timeout); those handler threads are joined by the destructor.
  void stop();
  // Blocking: start(), wait until `token` is requested, stop().
  void run(std::stop_token token);
  bool running() const noexcept;
  // Counters of the worker's own calls and wake-ups; safe from any thread.
  WorkerStats stats() const noexcept;

  const std::string& queue_name() const noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace taskmill
