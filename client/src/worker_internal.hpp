// What the Worker's parts share (worker_*.cpp): its settings, the record of one claimed
// task, and two small helpers. Internal: not installed.
//
// The parts, each with its own state and lock (user code never runs under any of them,
// and none is taken while another is held):
//   LocalQueue (worker_queue)     claimed tasks waiting for a handler; when to fetch again
//   Fetcher (worker_fetcher)      the dequeue loop; hands batches to the queue and tracker
//   Tracker (worker_tracker)      every claimed task (queued or running): heartbeats,
//                                 deadlines, and what stop() must give back
//   Executors (worker_executor)   handler threads: run a task, then ack / nack it
//   Acker (worker_acker)          batches acks without waiting for a batch to fill
//   Listener (worker_listener)    LISTEN, the idle-waiter lock, the wake-up dequeue
//   calls (worker_calls)          the SQL statements all of them send
// worker.cpp wires them together (start, stop).
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>

#include "taskmill/worker.hpp"

namespace taskmill::worker {

using std::chrono::milliseconds;

// How long the listener keeps the idle-waiter lock once dequeues come back full: a worker
// busy for less than this (a task or a few, then idle again) keeps it throughout.
inline constexpr milliseconds kWaitGrace{10};

// Longest wait between two retries of the fetcher's dequeue and the listener's connection
// after a failure (server restart or unreachable): the doubling backoff stops here, so a
// worker is back within about this long of the server accepting connections again, however
// long the outage was (test/chaos/reconnect_test.cpp).
inline constexpr milliseconds kMaxRetryDelay{1000};

// The Worker's settings, normalised once, and its infrastructure-error hook.
struct Setup {
  Setup(Client& c, std::string q, WorkerOptions o);
  Client& client;
  const std::string queue;
  WorkerOptions opt;
  std::size_t low_water = 0;  // fetch again once the local queue is this short
  void report(const std::string& message) const noexcept;
  // Worker::stats(): counted by the fetcher and the listener, read by anyone.
  mutable std::atomic<std::uint64_t> dequeues{0}, wakeups{0};
};

// One claimed task, queued or running. id and lease never change; `stop` is thread-safe;
// every other field is guarded by the Tracker's lock (worker_tracker.hpp).
struct InFlight {
  int64_t id = 0;
  std::string lease;
  std::stop_source stop;  // requested at the deadline, or when stop() gives up waiting
  Clock::time_point deadline = Clock::time_point::max();  // set when its handler starts
  Clock::time_point next_heartbeat{};
  bool started = false;  // a handler runs it (else it waits in the local queue)
  bool deadline_fired = false;
  bool abandoned = false;  // given back (stop() timed out, or its claim failed): report nothing
  // Claimed by the listener's pipelined wake-up dequeue whose commit is not confirmed yet:
  // its handler may start, but its ack / nack waits (Tracker::finish): until the claim
  // commits, other sessions still see the task unclaimed, and an ack would find no row.
  bool claim_pending = false;
};

// A task in the local queue with its in-flight record.
struct Claimed {
  Task task;
  std::shared_ptr<InFlight> entry;
};

// Requests the thread's stop and joins it (each part's stop()).
inline void stop_and_join(std::jthread& t) {
  t.request_stop();
  if (t.joinable()) t.join();
}

// Sleeps up to `d`; returns false when `st` was requested.
bool sleep_for(std::stop_token st, milliseconds d);

// An eventfd that wakes a poll(): the listener waits on its socket and on this.
class WakeFd {
 public:
  WakeFd() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  WakeFd(const WakeFd&) = delete;
  WakeFd& operator=(const WakeFd&) = delete;
  ~WakeFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const noexcept { return fd_; }
  void signal() const noexcept {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
  }
  // Reset after a wake-up (non-blocking: nothing to read is fine).
  void drain() const noexcept {
    uint64_t v;
    [[maybe_unused]] auto n = ::read(fd_, &v, sizeof v);
  }

 private:
  int fd_;
};

}  // namespace taskmill::worker
