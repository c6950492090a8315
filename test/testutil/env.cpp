// TestEnv (see env.hpp).
#include "env.hpp"

#include <cstdio>
#include <cstdlib>

namespace testutil {

namespace {
// Behind a pooler the Client's Workers listen on a direct connection (listen_conninfo).
taskmill::ClientOptions with_listen(taskmill::ClientOptions o, const std::string& direct) {
  const char* via = std::getenv("TASKMILL_TEST_CLIENT_CONNINFO");
  if (via && *via && o.listen_conninfo.empty()) o.listen_conninfo = direct;
  return o;
}
}  // namespace

TestEnv::TestEnv(taskmill::ClientOptions options)
    : db(),
      pg(db.conninfo()),
      client(conninfo(), with_listen(options, db.conninfo())),
      queue(UniqueName("q")) {}

std::string TestEnv::conninfo() const {
  const char* via = std::getenv("TASKMILL_TEST_CLIENT_CONNINFO");
  if (!via || !*via) return db.conninfo();
  return db.conninfo() + " " + via;  // later keywords win
}

std::string TestEnv::another_queue(const std::string& hint) const { return UniqueName(hint); }

taskmill::WorkerOptions FastWorkerOptions() {
  taskmill::WorkerOptions o;
  o.concurrency = 4;
  o.batch_size = 4;
  o.poll_interval = std::chrono::milliseconds(100);
  o.visibility_timeout = std::chrono::milliseconds(30000);
  o.process_timeout = std::chrono::milliseconds(60000);
  o.stop_timeout = std::chrono::milliseconds(10000);
  // Infrastructure trouble the worker retries by itself (a failed dequeue, ack or nack)
  // goes to the test's log, so that a case failing for one of them says which.
  o.on_error = [](const std::string& message) { std::fprintf(stderr, "worker on_error: %s\n", message.c_str()); };
  return o;
}

}  // namespace testutil
