// Example worker: runs handlers for one queue until it has nothing left to do (or SIGINT).
//
//   example-worker [QUEUE]          (connection from libpq env vars: PGHOST, PGPORT, ...)
#include <taskmill/taskmill.hpp>

#include <csignal>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

namespace {

std::mutex out_mu;  // handlers run on several threads
void log(const std::string& line) {
  std::lock_guard lk(out_mu);
  std::cout << line << std::endl;
}

volatile std::sig_atomic_t interrupted = 0;

}  // namespace

int main(int argc, char** argv) try {
  const std::string queue = argc > 1 ? argv[1] : "demo";
  taskmill::Client client;
  client.migrate();

  taskmill::Worker worker(client, queue,
                          {.concurrency = 4,
                           .batch_size = 10,
                           .poll_interval = std::chrono::milliseconds(500),
                           .on_alert = [](const taskmill::Alert& a) {
                             log("  alert: task #" + std::to_string(a.task->id) + " " +
                                   a.task->operation_id + " attempt " +
                                   std::to_string(a.task->attempts) + "/" +
                                   std::to_string(a.task->max_attempts) + ": " + a.message +
                                   (a.panic ? " (panic)" : ""));
                           },
                           .on_error = [](const std::string& e) {
                             log("  worker: " + e + " (retrying)");
                           }});

  // Return = ack; throw = nack (retried with backoff, dead-lettered at max_attempts).
  worker.register_task("echo", [](taskmill::TaskContext& ctx) {
    log("  echo  #" + std::to_string(ctx.task().id) + " " + ctx.payload().dump());
    ctx.set_result({{"echoed", ctx.payload()}});
  });
  worker.register_task("flaky", [](taskmill::TaskContext& ctx) {
    int succeed_on = ctx.payload().value("succeed_on", 2);
    if (ctx.task().attempts < succeed_on)
      throw taskmill::Error(taskmill::ErrorCode::Internal,
                            "flaky: attempt " + std::to_string(ctx.task().attempts) + " fails");
    log("  flaky #" + std::to_string(ctx.task().id) + " succeeded on attempt " +
        std::to_string(ctx.task().attempts));
  });
  worker.register_task("fail", [](taskmill::TaskContext& ctx) {
    // A taskmill::Error is an ordinary failure; any other exception is reported as a panic.
    throw taskmill::Error(taskmill::ErrorCode::Internal, ctx.payload().value("message", "always fails"));
  });
  worker.register_task("sleep", [](taskmill::TaskContext& ctx) {
    // Cooperative: returns early (as a timeout) when the deadline passes or the worker stops.
    int ms = ctx.payload().value("ms", 1000);
    if (!ctx.sleep_for(std::chrono::milliseconds(ms))) ctx.throw_if_cancelled();
    log("  sleep #" + std::to_string(ctx.task().id) + " slept " + std::to_string(ms) + " ms");
  });

  std::signal(SIGINT, [](int) { interrupted = 1; });
  worker.start();
  log("worker: processing queue \"" + queue + "\"");

  // Stop when nothing is available, in flight or waiting for a retry.
  taskmill::Console console(client);
  while (!interrupted) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto s = console.stats(queue);
    if (s.available + s.in_flight + s.scheduled == 0) break;
  }
  worker.stop();  // waits for in-flight tasks (up to stop_timeout)
  log("worker: stopped");
  return 0;
} catch (const taskmill::Error& e) {
  std::cerr << "worker: " << e.what() << " [" << taskmill::to_string(e.code()) << "]\n";
  return 1;
}
