// SQL-level setup shortcuts for the client tests: raw calls of the extension's functions
// (a "crashed worker" that dequeues and never acks, a nack, a completed task) and time
// travel (moving visible_at / next_run_at / completed_at instead of waiting).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pg.hpp"

namespace testutil {

struct Delivery {
  int64_t id;
  std::string lease;
  int attempts;
};

// taskmill.dequeue(queue, batch_size, visibility_timeout) on the raw connection.
std::vector<Delivery> SqlDequeue(PgConn& pg, const std::string& queue, int batch_size = 1,
                                 const std::string& visibility = "30 seconds",
                                 const std::optional<std::string>& group = std::nullopt);
bool SqlAck(PgConn& pg, const Delivery& d);
std::string SqlNack(PgConn& pg, const Delivery& d, const std::string& error = "test failure");
// taskmill.enqueue with defaults and an optional JSON payload (text).
int64_t SqlEnqueue(PgConn& pg, const std::string& queue, const std::string& op,
                   const std::optional<std::string>& payload_json = std::nullopt);
// Dequeues and acks n tasks of the queue; returns their ids in dequeue order.
std::vector<int64_t> CompleteTasks(PgConn& pg, const std::string& queue, int n);
// Sends one task to the DLQ the real way: dequeue + nack until nack answers 'dlq'.
// The queue must hold no other available task.
void FailToDLQ(PgConn& pg, const std::string& queue, int64_t id, const std::string& error = "test failure");

// Time travel.
void MakeVisibleNow(PgConn& pg, int64_t id);                 // visible_at = now()
void SetVisibleAt(PgConn& pg, int64_t id, const std::string& sql_expr);  // e.g. "now() + interval '1 h'"

// Clock of the database (clock_timestamp()), in microseconds since the epoch.
int64_t DbNowMicros(PgConn& pg);

// One row of taskmill.tasks with every timestamp also as <col>_us (epoch microseconds);
// zero rows if the task is not in taskmill.tasks.
PgResult TaskRow(PgConn& pg, int64_t id);
// One row of taskmill.task_results, same conventions.
PgResult ResultRow(PgConn& pg, int64_t id);

int64_t CountTasks(PgConn& pg, const std::string& queue);      // not in DLQ
int64_t CountDLQ(PgConn& pg, const std::string& queue);
int64_t CountResults(PgConn& pg, const std::string& queue);

}  // namespace testutil
