// Executors: the `concurrency` handler threads. Each takes the next task of the local
// queue, runs its handler until it returns (or its deadline passes), and settles the
// delivery: ack through the Acker, or nack (retry or dead-letter), then reports it
// (on_alert for failures, on_task_event for every delivery). No state of its own but the
// threads: what it touches belongs to the LocalQueue, the Tracker and the Acker.
#pragma once

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "worker_acker.hpp"
#include "worker_queue.hpp"
#include "worker_tracker.hpp"

namespace taskmill::worker {

using Handlers = std::map<std::string, Handler, std::less<>>;

class Executors {
 public:
  Executors(const Setup& setup, const Handlers& handlers, LocalQueue& queue, Tracker& tracker,
            Acker& acker)
      : s_(setup), handlers_(handlers), queue_(queue), tracker_(tracker), acker_(acker) {}

  void start();
  void request_stop();
  void join();  // also stragglers of a stop() that timed out

 private:
  // What running one handler came to.
  struct Outcome {
    bool ok = false;
    bool panic = false;
    ErrorCode code = ErrorCode::Internal;
    std::string error{};
  };
  void loop(std::stop_token st);
  void process(Claimed c, Clock::time_point deadline, std::chrono::steady_clock::time_point started_at,
               std::stop_token st);
  Outcome run_handler(TaskContext& ctx, bool expiry_deadline);
  void settle_ok(const TaskContext& ctx);
  void event(const Task& task, TaskEvent::Outcome outcome, std::chrono::microseconds took,
             const std::string& error);
  void alert(const Task& task, const Outcome& o);

  const Setup& s_;
  const Handlers& handlers_;  // read-only while running
  LocalQueue& queue_;
  Tracker& tracker_;
  Acker& acker_;
  std::vector<std::jthread> threads_;
};

// nack with retries while the server is unreachable (if it never answers, the visibility
// timeout hands the task out again). Returns nack's verdict, or "" when it was not sent.
std::string nack_retrying(const Setup& s, int64_t id, const std::string& lease,
                          const std::string& error, std::optional<milliseconds> retry_delay,
                          std::stop_token st = {});

}  // namespace taskmill::worker
