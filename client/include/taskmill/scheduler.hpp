// taskmill::Scheduler: registers a queue's cron schedules and calls
// taskmill.run_due_schedules() every check_interval (exactly-once is the server's job).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "taskmill/client.hpp"

namespace taskmill {

struct Schedule {
  std::string operation_id{};
  std::string cron{};               // 5-field cron expression
  std::string timezone = "UTC";
  Json payload = nullptr;
  Json options = nullptr;         // {priority, max_attempts, task_group_id, expires_in, ephemeral, meta}
};

struct SchedulerOptions {
  std::chrono::milliseconds check_interval{1000};
  // Called from the scheduler thread when a run_due_schedules() call fails (the loop goes on).
  std::function<void(const std::string&)> on_error{};
};

class Scheduler {
 public:
  Scheduler(Client& client, std::string queue_name, SchedulerOptions options = {});
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;
  ~Scheduler();  // stops

  // Upsert by operation id; the queue's schedules not in the list are deleted.
  // Throws Error(Validation) for a bad cron expression or time zone.
  void register_schedules(const std::vector<Schedule>& schedules);
  // One taskmill.run_due_schedules() call; returns how many tasks it enqueued.
  int run_once();
  void start();  // runs run_once() now and every check_interval on a thread
  void stop();
  bool running() const noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace taskmill
