// Listener: the wake-up path, on a connection of its own (a session: LISTEN, and the
// queue's idle-waiter lock, need one; behind a transaction pooler it is the direct
// connection of ClientOptions::listen_conninfo, and without one the worker polls).
//
// Enqueues NOTIFY only while some session holds the queue's idle-waiter lock (notify =>
// NULL, the default). So when a dequeue comes back short (LocalQueue want_wait), the
// listener takes the lock (taskmill.wait_begin) and only then makes the fetcher dequeue
// once more: a task committed before the lock was taken is found by that dequeue, one
// committed after it notifies us. (A producer whose commit was already under way when the
// lock was taken may be missed until the next poll: NOTIFY only shortens the wait, the poll
// interval bounds it.) While the lock is held, every commit to the queue notifies us. When
// dequeues come back full, the listener gives the lock back (taskmill.wait_end), but only
// once the worker has stayed busy for kWaitGrace: a worker that takes one task and is idle
// again keeps the lock (no wait_end / wait_begin / re-check after every task). The lock
// lives and dies with the connection.
//
// The connection LISTENs on the queue's own channel only (taskmill.listen: "taskmill_" and
// a keyed hash of the queue name, handed out to roles with the consume right), so only
// enqueues to this queue wake it; a NOTIFY on any other channel never reaches it.
//
// A notification that finds the worker idle is served here, on this connection: the
// listener claims the batch itself (a pipelined dequeue whose rows arrive before its
// commit is confirmed) and hands it straight to the executors.
#pragma once

#include <string>
#include <thread>
#include <vector>

#include "worker_queue.hpp"
#include "worker_tracker.hpp"

struct pg_conn;

namespace taskmill::worker {

class Listener {
 public:
  Listener(const Setup& setup, LocalQueue& queue, Tracker& tracker)
      : s_(setup), queue_(queue), tracker_(tracker) {}

  // Signalled when the LocalQueue's want_wait changes (and on stop).
  const WakeFd& wake_fd() const noexcept { return wake_; }
  void start();
  void stop();  // joins: no wake-up dequeue is in flight afterwards

 private:
  // The listener's connection, and what it holds.
  struct Session {
    Connection conn;
    bool held = false;      // the idle-waiter lock
    bool prepared = false;  // the wake-up dequeue is prepared here
    std::string channel{};  // the queue's NOTIFY channel (taskmill.listen)
  };
  void loop(std::stop_token st);
  void serve(Session& s, std::stop_token st);
  bool take_notifications(Session& s);
  void on_notified(Session& s, std::stop_token st);
  std::vector<Task> send_wake_dequeue(Session& s, int n);
  static std::string end_pipeline(pg_conn* pc);

  const Setup& s_;
  LocalQueue& queue_;
  Tracker& tracker_;
  WakeFd wake_;
  std::jthread thread_;
};

}  // namespace taskmill::worker
