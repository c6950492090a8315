// Wait-for-condition helpers (see wait.hpp).
#include "wait.hpp"

#include <thread>

#include "sql.hpp"

namespace testutil {

::testing::AssertionResult WaitFor(const std::function<bool()>& pred, const std::string& what,
                                   std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return ::testing::AssertionSuccess();
    if (std::chrono::steady_clock::now() >= deadline)
      return ::testing::AssertionFailure() << "timed out after " << timeout.count() << " ms waiting for " << what;
    std::this_thread::sleep_for(20ms);
  }
}

::testing::AssertionResult WaitForTaskProcessed(PgConn& pg, int64_t id, std::chrono::milliseconds timeout) {
  auto r = WaitFor(
      [&] {
        return pg.scalar_i64("SELECT count(*) FROM taskmill.tasks WHERE id = $1::bigint", {std::to_string(id)}) == 0;
      },
      "task " + std::to_string(id) + " to be processed", timeout);
  if (!r) {
    auto row = TaskRow(pg, id);
    if (row.rows() > 0)
      r << " (attempts=" << row.get(0, "attempts").value_or("?") << " last_error=" << row.get(0, "last_error").value_or("")
        << " dlq_reason=" << row.get(0, "dlq_reason").value_or("") << ")";
  }
  return r;
}

::testing::AssertionResult WaitForQueueEmpty(PgConn& pg, const std::string& queue, std::chrono::milliseconds timeout) {
  return WaitFor([&] { return CountTasks(pg, queue) == 0; }, "queue " + queue + " to be empty", timeout);
}

namespace {
// Waits until count() returns `want`; a timeout's message says the last count seen.
::testing::AssertionResult WaitForCount(const std::function<int64_t()>& count, int64_t want, const std::string& what,
                                        std::chrono::milliseconds timeout) {
  int64_t last = -1;
  auto r = WaitFor([&] { return (last = count()) == want; }, what + " to hold " + std::to_string(want), timeout);
  if (!r) r << " (last seen " << last << ")";
  return r;
}
}  // namespace

::testing::AssertionResult WaitForDLQCount(PgConn& pg, const std::string& queue, int64_t count,
                                           std::chrono::milliseconds timeout) {
  return WaitForCount([&] { return CountDLQ(pg, queue); }, count, "DLQ of " + queue, timeout);
}

::testing::AssertionResult WaitForResultsCount(PgConn& pg, const std::string& queue, int64_t count,
                                               std::chrono::milliseconds timeout) {
  return WaitForCount([&] { return CountResults(pg, queue); }, count, "results of " + queue, timeout);
}

::testing::AssertionResult WaitForNacked(PgConn& pg, int64_t id, int attempts, std::chrono::milliseconds timeout) {
  return WaitFor(
      [&] {
        return pg.scalar_i64("SELECT count(*) FROM taskmill.tasks WHERE id = $1::bigint AND attempts = $2::int"
                             " AND lease IS NULL AND last_error IS NOT NULL",
                             {std::to_string(id), std::to_string(attempts)}) == 1;
      },
      "task " + std::to_string(id) + " to be nacked after attempt " + std::to_string(attempts), timeout);
}

}  // namespace testutil
