// LocalQueue: the claimed tasks that wait for a handler thread, and the state that decides
// when the next dequeue runs and who runs it. Its own lock; a reader can check it alone:
//
//   - `work` holds at most batch_size + low_water tasks: a dequeue (of batch_size) starts
//     only while work.size() <= low_water, and at most one is in flight (`fetching`).
//   - `unfinished` = tasks in `work` + tasks whose handler runs (popped, not finished()).
//   - want_wait = the last dequeue came back short: the listener should hold the queue's
//     idle-waiter lock so that enqueues NOTIFY us; busy_since = when it last went false.
//   - Executors sleep on cv_work_ and are woken one at a time: whoever adds tasks wakes
//     one, and an executor that takes a task and leaves more behind wakes the next (a
//     chain), so a batch does not wake every handler thread at once.
//   - Condition variables are notified only when a waiter can be there.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <stop_token>
#include <vector>

#include "worker_internal.hpp"

namespace taskmill::worker {

class LocalQueue {
 public:
  // listener_wake is signalled when want_wait changes (null: no listener).
  LocalQueue(const Setup& setup, const WakeFd* listener_wake)
      : s_(setup), listener_wake_(listener_wake) {}

  void reset();  // start(): empty, a dequeue due at once

  // ---- fetching ----
  // Blocks until a dequeue is due (room in the queue, and a wake-up, a full last batch, or
  // the poll time) and no other runs; then marks one in flight and returns its batch size.
  // 0 when `st` was requested.
  int wait_turn(std::stop_token st, Clock::time_point next_poll);
  // The dequeue in flight failed: nothing was claimed.
  void fetch_failed(bool retry_now);
  // Puts a dequeued batch (asked for n) into the queue, ends the dequeue in flight and
  // wakes whoever must know. by_listener: the listener's own wake-up dequeue.
  void take(std::vector<Claimed> batch, int n, bool by_listener);
  // Dequeue again now (a NOTIFY, a restart, a FIFO group moved on: `more`).
  void wake();
  void note_more();

  // ---- the listener ----
  struct WaitWish {
    bool want = false;             // hold the idle-waiter lock
    Clock::time_point drop_at{};   // not wanted: give it back from then on
  };
  WaitWish wait_wish() const;
  // A notification came: true if the listener should dequeue itself (the worker is idle:
  // no dequeue in flight, room in the queue; then one is marked in flight), else the
  // fetcher is told and false returned.
  bool begin_wake_dequeue(std::stop_token st);
  // Entries of a failed wake-up claim: those still queued leave it (no handler runs them).
  // Returns those removed.
  std::vector<std::shared_ptr<InFlight>> remove(const std::vector<std::shared_ptr<InFlight>>& entries);

  // ---- executors ----
  // The next task to run (the caller calls finished() after it); nullopt once
  // stop_executors() was called and the queue is empty.
  std::optional<Claimed> next();
  void finished();

  // ---- stop() ----
  std::vector<Claimed> drain();  // every queued task, taken out; marks the worker stopping
  bool wait_idle(Clock::time_point deadline);  // unfinished == 0 by then?
  void stop_executors();

 private:
  bool room() const { return work_.size() <= s_.low_water; }

  const Setup& s_;
  const WakeFd* listener_wake_;
  mutable std::mutex mu_;
  std::condition_variable_any cv_fetch_;  // the fetcher: room, a wake-up, a dequeue ended
  std::condition_variable cv_work_;       // executors: a task to run, or exec_stop_
  std::condition_variable cv_idle_;       // stop(): unfinished_ reached 0

  std::deque<Claimed> work_;
  int unfinished_ = 0;
  bool fetching_ = false;        // a dequeue is in flight (the fetcher's or the listener's)
  bool fetcher_waits_ = false;   // the fetcher waits for fetching_ to end
  bool wake_ = false;            // dequeue as soon as there is room
  bool more_ = false;            // the last dequeue was full, or a FIFO group moved on
  bool want_wait_ = false;
  Clock::time_point busy_since_{};
  int idle_execs_ = 0;           // executors waiting on cv_work_
  bool exec_stop_ = false;       // executors return once work_ is empty
  bool stopping_ = false;        // stop() waits on cv_idle_
};

}  // namespace taskmill::worker
