// TestEnv (see env.hpp).
#include "env.hpp"

namespace testutil {

TestEnv::TestEnv(taskmill::ClientOptions options)
    : db(), pg(db.conninfo()), client(db.conninfo(), options), queue(UniqueName("q")) {}

std::string TestEnv::another_queue(const std::string& hint) const { return UniqueName(hint); }

taskmill::WorkerOptions FastWorkerOptions() {
  taskmill::WorkerOptions o;
  o.concurrency = 4;
  o.batch_size = 4;
  o.poll_interval = std::chrono::milliseconds(100);
  o.visibility_timeout = std::chrono::milliseconds(30000);
  o.process_timeout = std::chrono::milliseconds(60000);
  o.stop_timeout = std::chrono::milliseconds(10000);
  return o;
}

}  // namespace testutil
