// Example producer: enqueues a mix of tasks on one queue.
//
//   example-producer [QUEUE]        (connection from libpq env vars: PGHOST, PGPORT, ...)
//
// "echo" tasks succeed, "flaky" ones fail on their first attempt and succeed on the retry,
// "fail" ones fail every time and end in the dead-letter queue.
#include <taskmill/taskmill.hpp>

#include <iostream>
#include <string>

// A user type sent as a payload through its ADL to_json.
struct Greeting {
  std::string to;
  int times = 1;
};
void to_json(taskmill::Json& j, const Greeting& g) { j = {{"to", g.to}, {"times", g.times}}; }

int main(int argc, char** argv) try {
  const std::string queue = argc > 1 ? argv[1] : "demo";
  taskmill::Client client;  // "" = libpq environment variables
  client.migrate();         // CREATE EXTENSION IF NOT EXISTS / ALTER EXTENSION UPDATE

  taskmill::Enqueuer enqueuer(client, queue);
  taskmill::trace::Scope span(taskmill::trace::new_traceparent());  // goes into each task's meta

  // One at a time, with a user type as payload.
  for (int i = 1; i <= 3; ++i) {
    int64_t id = enqueuer.enqueue("echo", Greeting{"user-" + std::to_string(i), i});
    std::cout << "enqueued echo  #" << id << "\n";
  }

  // A batch: all or nothing, ids in input order.
  std::vector<taskmill::BatchItem> batch = {
      {"flaky", {{"succeed_on", 2}}, {.priority = 10}},
      {"fail", {{"message", "card declined"}}, {.max_attempts = 3}},
      {"echo", {{"note", "low priority"}}, {.priority = -10}},
  };
  for (int64_t id : enqueuer.enqueue_batch(batch)) std::cout << "enqueued batch #" << id << "\n";

  // Inside the caller's own transaction: committed together with the caller's work.
  taskmill::Connection conn = client.connect();
  {
    taskmill::Transaction tx(conn);
    int64_t id = enqueuer.enqueue(conn, "echo", {{"from", "transaction"}},
                                  {.idempotency_key = "order-42"});
    tx.commit();
    std::cout << "enqueued in a transaction #" << id << "\n";
  }

  // The same idempotency key again: rejected while that task is live.
  try {
    enqueuer.enqueue("echo", nullptr, {.idempotency_key = "order-42"});
  } catch (const taskmill::Error& e) {
    if (e.code() != taskmill::ErrorCode::DuplicateTask) throw;
    std::cout << "duplicate rejected: " << e.what() << "\n";
  }
  return 0;
} catch (const taskmill::Error& e) {
  std::cerr << "producer: " << e.what() << " [" << taskmill::to_string(e.code()) << "]\n";
  return 1;
}
