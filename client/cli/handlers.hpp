// The example handlers that `taskmill worker` runs (echo, sleep, fail, flaky, panic).
#pragma once

#include <functional>
#include <string>

#include <taskmill/worker.hpp>

namespace taskmill::cli {

// Registers the example handlers on `worker`; `log` receives one line per handled task
// (called from handler threads, must be thread-safe).
void register_example_handlers(Worker& worker, std::function<void(const std::string&)> log);

}  // namespace taskmill::cli
