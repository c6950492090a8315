// Example scheduler and console: registers cron schedules for a queue, triggers one at once,
// lets the scheduler loop run for a moment and prints what the console sees.
//
//   example-scheduler [QUEUE]       (connection from libpq env vars: PGHOST, PGPORT, ...)
#include <taskmill/taskmill.hpp>

#include <iostream>
#include <thread>

int main(int argc, char** argv) try {
  const std::string queue = argc > 1 ? argv[1] : "reports";
  taskmill::Client client;
  client.migrate();

  taskmill::Scheduler scheduler(client, queue,
                                {.check_interval = std::chrono::milliseconds(500),
                                 .on_error = [](const std::string& e) {
                                   std::cerr << "scheduler: " << e << "\n";
                                 }});
  // Upsert by operation id; this queue's schedules not in the list are deleted.
  scheduler.register_schedules({
      {.operation_id = "nightly_report", .cron = "0 3 * * *", .timezone = "Europe/Paris"},
      {.operation_id = "heartbeat",
       .cron = "* * * * *",
       .payload = {{"source", "example"}},
       .options = {{"priority", 10}, {"ephemeral", true}}},
  });

  taskmill::Console console(client);
  // Enqueue a schedule's task now, with an option override.
  int64_t id = console.trigger_schedule("nightly_report", {{"priority", 50}});
  std::cout << "triggered nightly_report: task #" << id << "\n";

  scheduler.start();  // run_due_schedules() now and every check_interval
  std::this_thread::sleep_for(std::chrono::seconds(1));
  scheduler.stop();

  for (const auto& s : console.list_schedules(queue))
    std::cout << s.operation_id << "  " << s.cron << " (" << s.timezone << ")  next run "
              << (s.next_run_at ? taskmill::format_timestamp(*s.next_run_at) : "-") << "\n";
  auto stats = console.stats(queue);
  std::cout << queue << ": " << stats.available << " available, " << stats.in_dlq << " in DLQ\n";
  return 0;
} catch (const taskmill::Error& e) {
  std::cerr << "scheduler: " << e.what() << " [" << taskmill::to_string(e.code()) << "]\n";
  return 1;
}
