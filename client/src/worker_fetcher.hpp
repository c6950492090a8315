// Fetcher: the dequeue loop. When the LocalQueue says a dequeue is due, claims a batch
// (taskmill.dequeue on a pooled connection) and hands it on with intake(); on failure
// retries with backoff (claimed tasks are never lost: they come back after their
// visibility timeout). FIFO-group acks the acker offers at that moment go with the claim
// (taskmill.ack_dequeue, one commit for both); if the call fails they go back to the acker,
// which sends them on its own. No state of its own but the poll clock, the backoff and
// whether the server has ack_dequeue.
#pragma once

#include <thread>
#include <vector>

#include "worker_acker.hpp"
#include "worker_queue.hpp"
#include "worker_tracker.hpp"

namespace taskmill::worker {

// A dequeued batch (asked for n, claimed at claimed_at) into the tracker, then the local
// queue (in that order: an executor may start a task as soon as it is queued). Returns
// the batch's in-flight records. by_listener: the listener's pipelined wake-up dequeue,
// whose claim is pending until its commit is confirmed (Tracker::settle).
std::vector<std::shared_ptr<InFlight>> intake(Tracker& tracker, LocalQueue& queue,
                                              std::vector<Task> tasks, int n,
                                              Clock::time_point claimed_at, bool by_listener);

class Fetcher {
 public:
  Fetcher(const Setup& setup, LocalQueue& queue, Tracker& tracker, Acker& acker)
      : s_(setup), queue_(queue), tracker_(tracker), acker_(acker) {}
  void start();
  void stop();  // joins: no dequeue is in flight afterwards

 private:
  void loop(std::stop_token st);

  const Setup& s_;
  LocalQueue& queue_;
  Tracker& tracker_;
  Acker& acker_;
  std::jthread thread_;
};

}  // namespace taskmill::worker
