// TestEnv: everything one client test needs — its own database (copied from the taskmill
// template), a raw connection for assertions, a taskmill::Client on that database and a
// unique queue name (the catalogue's NewTestDB + NewTestEnqueuer/Worker/Console).
#pragma once

#include <taskmill/taskmill.hpp>

#include <memory>
#include <string>

#include "db.hpp"
#include "pg.hpp"

namespace testutil {

struct TestEnv {
  explicit TestEnv(taskmill::ClientOptions options = {.pool_size = 16});

  TestDatabase db;
  PgConn pg;                 // raw libpq, for assertions and setup (test thread only)
  taskmill::Client client;
  std::string queue;         // unique queue name for this test

  // How the code under test reaches the database: straight to the server, or through the
  // pooler named by TASKMILL_TEST_CLIENT_CONNINFO (extra conninfo such as "host=127.0.0.1
  // port=6432": test/suites/pgbouncer.sh). `pg` and connect() always go straight.
  std::string conninfo() const;
  // Another queue name, unique too (for multi-queue cases).
  std::string another_queue(const std::string& hint = "q") const;
  // A fresh raw connection (for threads other than the test thread).
  PgConn connect() const { return PgConn(db.conninfo()); }
  taskmill::Enqueuer enqueuer() { return taskmill::Enqueuer(client, queue); }
};

// WorkerOptions scaled for tests: quick polls, short visibility so lost deliveries come back
// soon, alerts ignored.
taskmill::WorkerOptions FastWorkerOptions();

}  // namespace testutil
