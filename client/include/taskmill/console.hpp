// taskmill::Console: the extension's admin functions as C++ calls.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "taskmill/client.hpp"
#include "taskmill/task.hpp"

namespace taskmill {

struct QueueStats {
  int64_t available = 0;
  int64_t in_flight = 0;
  int64_t scheduled = 0;
  int64_t in_dlq = 0;
  // Every column taskmill.queue_stats returned, as text (the four above included).
  std::map<std::string, std::string> columns{};
};

struct ResultRow {
  int64_t id = 0;
  std::string queue_name{}, operation_id{};
  Json payload{}, result{};
  int attempts = 0;
  Clock::time_point created_at{}, completed_at{};
};

struct ListResultsOptions {
  std::optional<std::string> queue_name{};
  std::optional<Clock::time_point> completed_after{}, completed_before{};
  int limit = 100;
  int offset = 0;
};

struct CleanupResultsOptions {
  std::optional<std::string> queue_name{};
  std::optional<Clock::time_point> completed_before{};
};

struct ScheduleInfo {
  std::string queue_name{}, operation_id{}, cron{}, timezone{};
  Json payload{}, options{};
  std::optional<Clock::time_point> next_run_at{}, last_run_at{};
  std::optional<std::string> last_status{}, last_error{};
};

// Thread-safe.
class Console {
 public:
  explicit Console(Client& client);

  std::vector<std::string> list_queues();
  QueueStats stats(std::string_view queue);
  int64_t purge(std::string_view queue);       // pending tasks; the DLQ is kept
  int64_t purge_dlq(std::string_view queue);
  void requeue_from_dlq(int64_t task_id);      // Error NotFound / NotInDlq
  std::vector<ScheduleInfo> list_schedules(std::optional<std::string> queue = std::nullopt);
  // Enqueues the schedule's task now; options override the schedule's enqueue options.
  // `queue` disambiguates an operation id scheduled on several queues. Error ScheduleNotFound.
  int64_t trigger_schedule(std::string_view operation_id, const Json& options = nullptr,
                           std::optional<std::string> queue = std::nullopt);
  std::vector<ResultRow> list_results(const ListResultsOptions& options = {});
  int64_t cleanup_results(const CleanupResultsOptions& options = {});
  std::vector<Task> list_dlq(std::string_view queue, int limit = 100, int offset = 0);

 private:
  Client* client_;
};

}  // namespace taskmill
