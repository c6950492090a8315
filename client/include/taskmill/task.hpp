// taskmill::Task: one task row as delivered by taskmill.dequeue (or listed from the DLQ).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "taskmill/connection.hpp"

namespace taskmill {

struct Task {
  int64_t id = 0;
  std::string queue_name{};
  std::string operation_id{};
  Json payload{};  // null when the payload is SQL NULL or JSON null
  Json meta{};     // headers: traceparent ...
  int priority = 0;
  int attempts = 0;
  int max_attempts = 0;
  std::optional<std::string> task_group_id{};
  std::string idempotency_key{};
  bool ephemeral = false;
  Clock::time_point created_at{};
  Clock::time_point scheduled_at{};
  Clock::time_point visible_at{};
  std::optional<Clock::time_point> expires_at{};
  std::string lease{};  // this delivery's lease ("" when not delivered)
  std::optional<std::string> last_error{};
  std::optional<Clock::time_point> dlq_at{};
  std::optional<std::string> dlq_reason{};

  // Reads row `row` of a result whose columns are named as taskmill.tasks' columns
  // (missing columns keep their defaults).
  static Task from_row(const Result& res, int row);
  // Every row of such a result (the columns are looked up once).
  static std::vector<Task> from_result(const Result& res);
};

}  // namespace taskmill
