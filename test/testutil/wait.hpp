// Wait-for-condition helpers (the catalogue's WaitForTaskProcessed / QueueEmpty / DLQCount /
// ResultsCount): poll the database every 20 ms until the condition holds or the timeout
// passes. Timeouts are generous (default 30 s) so a loaded CI machine does not flake; a
// passing test returns as soon as the condition holds.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "pg.hpp"

namespace testutil {

using namespace std::chrono_literals;
inline constexpr std::chrono::milliseconds kWait = 30s;

// Polls pred until true; the failure message names what was awaited.
::testing::AssertionResult WaitFor(const std::function<bool()>& pred, const std::string& what,
                                   std::chrono::milliseconds timeout = kWait);

// The task has left taskmill.tasks outside the DLQ (acked: in results, or gone if ephemeral).
::testing::AssertionResult WaitForTaskProcessed(PgConn& pg, int64_t id, std::chrono::milliseconds timeout = kWait);
// No task of the queue left outside the DLQ.
::testing::AssertionResult WaitForQueueEmpty(PgConn& pg, const std::string& queue,
                                             std::chrono::milliseconds timeout = kWait);
// Exactly count tasks of the queue in the DLQ.
::testing::AssertionResult WaitForDLQCount(PgConn& pg, const std::string& queue, int64_t count,
                                           std::chrono::milliseconds timeout = kWait);
// Exactly count rows of the queue in task_results.
::testing::AssertionResult WaitForResultsCount(PgConn& pg, const std::string& queue, int64_t count,
                                               std::chrono::milliseconds timeout = kWait);
// The task's attempts-th delivery has been nacked: attempts = n, no lease, last_error set
// (still retrying, or in the DLQ).
::testing::AssertionResult WaitForNacked(PgConn& pg, int64_t id, int attempts,
                                         std::chrono::milliseconds timeout = kWait);

}  // namespace testutil
