// The SQL the Worker sends: every statement, its parameters and how its answer is read,
// in one place (the fetch / ack path changes here, not in the threads that use it).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "taskmill/connection.hpp"
#include "worker_internal.hpp"

namespace taskmill::worker::calls {

// One completed delivery, for ack / ack_many.
struct AckItem {
  int64_t id;
  std::string lease;
  Json result;
  bool grouped;  // of a FIFO group: its ack lets the group's next task go
};

// taskmill.dequeue of up to n tasks (batch_size n) with the Worker's visibility timeout
// and group filter. The statement and its parameters are exposed for the listener's
// pipelined form (worker_listener.cpp).
extern const std::string_view kDequeueSql;
std::vector<Param> dequeue_params(const Setup& s, int n);
std::vector<Task> dequeue(Connection& c, const Setup& s, int n);

// ack (one) or ack_many (several) of the batch, one statement.
void ack(Connection& c, const std::vector<AckItem>& batch);

// taskmill.ack_dequeue: acks `acks` (as ack_many: stale leases skipped) and claims up to n
// tasks as dequeue does, in one statement and one commit. On a FIFO group the ack that
// frees the group and the claim of its next task are one transaction.
std::vector<Task> ack_dequeue(Connection& c, const Setup& s, int n,
                              const std::vector<AckItem>& acks);

// nack's verdict: "retry", "dlq" or "stale".
std::string nack(Connection& c, int64_t id, const std::string& lease, const std::string& error,
                 std::optional<milliseconds> retry_delay);

// extend_visibility; throws on failure (a stale lease is not a failure: false is returned).
void extend(Connection& c, int64_t id, const std::string& lease, milliseconds visibility);

// release: never-started claims back, visible at once, attempt not counted.
void release(Connection& c, const std::vector<Claimed>& items);

}  // namespace taskmill::worker::calls
