// Tracker: every task this worker has claimed and not yet finished, queued or running
// (the in-flight table), and the heartbeat thread that keeps their claims alive and fires
// their deadlines. Its own lock guards the table and every InFlight field but id, lease
// and stop. Invariants a reader can check here alone:
//   - an entry is in the table from its dequeue until its handler's outcome is settled
//     (finish), or until stop() / a failed claim takes it out of the local queue (forget);
//   - every entry in the table is heartbeaten every visibility_timeout / 3 (extend_visibility)
//     unless abandoned; a started entry's stop token is requested once at its deadline;
//   - hb_next_ is when the heartbeat thread wakes next (min() while it is awake): whoever
//     adds an earlier time sets hb_dirty_ and wakes it.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "worker_internal.hpp"

namespace taskmill::worker {

class Tracker {
 public:
  explicit Tracker(const Setup& setup) : s_(setup) {}

  // A dequeued batch, claimed at `claimed_at` (its visibility runs from then).
  // claim_pending: claimed by the listener's pipelined dequeue, not committed yet.
  void add(const std::vector<Claimed>& batch, Clock::time_point claimed_at, bool claim_pending);
  // Its handler starts now, to run until `deadline`.
  void start(const std::shared_ptr<InFlight>& e, Clock::time_point deadline);
  // Its handler returned: waits while its claim is pending, then takes it out of the table.
  // Returns true when it was abandoned (its outcome must not be sent).
  bool finish(const std::shared_ptr<InFlight>& e);
  // The listener's claim committed (ok) or not: then every entry is abandoned.
  void settle(const std::vector<std::shared_ptr<InFlight>>& entries, bool ok);
  // Out of the table without a handler (given back by stop(), or a failed claim).
  void forget(const std::vector<std::shared_ptr<InFlight>>& entries);
  // stop() gives up waiting: every entry still here is abandoned and returned.
  std::vector<std::shared_ptr<InFlight>> abandon_all();

  void start_heartbeat();
  void stop_heartbeat();

 private:
  void heartbeat_loop(std::stop_token st);
  void erase_if_same(const std::shared_ptr<InFlight>& e);  // mu_ held
  void earlier(Clock::time_point t, bool& tell);           // mu_ held

  const Setup& s_;
  std::mutex mu_;
  std::condition_variable_any cv_hb_;  // the heartbeat: an earlier wake-up is due
  std::condition_variable cv_claim_;   // some claim_pending was settled
  std::map<int64_t, std::shared_ptr<InFlight>> table_;
  Clock::time_point hb_next_ = Clock::time_point::max();
  bool hb_dirty_ = false;
  std::jthread thread_;
};

}  // namespace taskmill::worker
