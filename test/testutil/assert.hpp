// Assertions on the database state, read with a raw connection (the catalogue's
// AssertTaskInQueue / InDLQ / InResults / NotExists / QueueStats). Each returns an
// AssertionResult that explains what it found: ASSERT_TRUE(AssertTaskInDLQ(pg, id)).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "pg.hpp"

namespace testutil {

// In taskmill.tasks and not in the DLQ (available, in flight or scheduled).
::testing::AssertionResult AssertTaskInQueue(PgConn& pg, int64_t id);
// In taskmill.tasks with dlq_at set.
::testing::AssertionResult AssertTaskInDLQ(PgConn& pg, int64_t id);
// In taskmill.task_results (completed, non-ephemeral).
::testing::AssertionResult AssertTaskInResults(PgConn& pg, int64_t id);
// Not in taskmill.tasks (completed, purged or never there).
::testing::AssertionResult AssertTaskNotExists(PgConn& pg, int64_t id);

// Expected counts by state, computed from the tables with docs/sql-api.md's definitions (an oracle
// independent of taskmill.queue_stats): available = visible now; in_flight = lease set and
// not yet visible; scheduled = no lease and not yet visible; in_dlq = dlq_at set.
struct ExpectedStats {
  int64_t available = 0, in_flight = 0, scheduled = 0, in_dlq = 0;
};
::testing::AssertionResult AssertQueueStats(PgConn& pg, const std::string& queue, const ExpectedStats& want);

}  // namespace testutil
