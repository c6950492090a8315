// taskmill::Worker: wires the worker's parts together and runs its lifecycle. The parts,
// each in a file of its own with its own state and lock (worker_internal.hpp lists them):
//
//   Fetcher ──dequeue──▶ Tracker (in flight, heartbeats) + LocalQueue ──▶ Executors
//   Listener (NOTIFY) ──wake-up / its own dequeue──▶ the same    Executors ──▶ Acker, nack
//
// The fetcher claims up to batch_size tasks into the local queue, and claims again (at
// most one dequeue in flight) as soon as the queue drops to its low-water mark
// (batch_size / 2), while the executors keep running the tasks already there; so handlers
// never wait for a dequeue round trip when the queue is busy. Completed tasks go to the
// acker, which sends them (a FIFO group's ack goes with the fetcher's next claim instead,
// ack_dequeue: ack and claim in one commit); failed ones are nacked by their handler thread. Every claimed task, queued or
// running, is in the tracker and covered by the heartbeat; queued tasks are handed back at
// once by stop() (taskmill.release).
#include "taskmill/worker.hpp"

#include <condition_variable>
#include <mutex>

#include "taskmill/error.hpp"
#include "worker_acker.hpp"
#include "worker_calls.hpp"
#include "worker_executor.hpp"
#include "worker_fetcher.hpp"
#include "worker_listener.hpp"
#include "worker_queue.hpp"
#include "worker_tracker.hpp"

namespace taskmill {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

// ---- TaskContext -----------------------------------------------------------------------

TaskContext::TaskContext(Task task, Clock::time_point deadline, std::stop_token token)
    : task_(std::move(task)), deadline_(deadline), token_(std::move(token)) {}

bool TaskContext::cancelled() const noexcept {
  return token_.stop_requested() || Clock::now() >= deadline_;
}

void TaskContext::throw_if_cancelled() const {
  if (cancelled()) throw Error(ErrorCode::Timeout, "context deadline exceeded");
}

bool TaskContext::sleep_for(milliseconds d) const {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lk(m);
  auto until = std::min(Clock::now() + d, deadline_);
  cv.wait_until(lk, token_, until, [] { return false; });
  return !cancelled();
}

const char* to_string(TaskEvent::Outcome outcome) noexcept {
  switch (outcome) {
    case TaskEvent::Outcome::Succeeded: return "succeeded";
    case TaskEvent::Outcome::Failed: return "failed";
    case TaskEvent::Outcome::DeadLettered: return "dead_lettered";
    case TaskEvent::Outcome::Panicked: return "panicked";
    case TaskEvent::Outcome::TimedOut: return "timed_out";
    case TaskEvent::Outcome::Released: return "released";
  }
  return "unknown";
}

// ---- shared helpers (worker_internal.hpp) ----------------------------------------------

namespace worker {

namespace {
milliseconds at_least(milliseconds d, milliseconds lo) { return d < lo ? lo : d; }
}  // namespace

Setup::Setup(Client& c, std::string q, WorkerOptions o)
    : client(c), queue(std::move(q)), opt(std::move(o)) {
  if (opt.concurrency < 1) opt.concurrency = 1;
  if (opt.batch_size < 1) opt.batch_size = 1;
  low_water = static_cast<std::size_t>(opt.batch_size / 2);
  opt.poll_interval = at_least(opt.poll_interval, 1ms);
  opt.visibility_timeout = at_least(opt.visibility_timeout, 30ms);
  opt.process_timeout = at_least(opt.process_timeout, 1ms);
}

void Setup::report(const std::string& message) const noexcept {
  if (!opt.on_error) return;
  try {
    opt.on_error(message);
  } catch (...) {
    // An error hook must not take the worker down.
  }
}

bool sleep_for(std::stop_token st, milliseconds d) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lk(m);
  cv.wait_for(lk, st, d, [] { return false; });
  return !st.stop_requested();
}

}  // namespace worker

// ---- Impl: the parts and the lifecycle -------------------------------------------------

struct Worker::Impl {
  Impl(Client& c, std::string q, WorkerOptions o)
      : setup(c, std::move(q), std::move(o)),
        listener(setup, queue, tracker),
        queue(setup, setup.opt.listen ? &listener.wake_fd() : nullptr),
        tracker(setup),
        acker(setup, [this] { queue.note_more(); }),
        executors(setup, handlers, queue, tracker, acker),
        fetcher(setup, queue, tracker, acker) {}

  worker::Setup setup;
  worker::Handlers handlers;  // written before start() only
  // Declared before the queue it is handed to (members are built in this order); the
  // queue only keeps a pointer to the listener's wake-up fd, which exists from the start.
  worker::Listener listener;
  worker::LocalQueue queue;
  worker::Tracker tracker;
  worker::Acker acker;
  worker::Executors executors;
  worker::Fetcher fetcher;

  mutable std::mutex mu;  // guards `running` and `handlers` against start()
  bool running = false;

  void start() {
    {
      std::lock_guard lk(mu);
      if (running) return;
      running = true;
    }
    executors.join();  // stragglers of an earlier stop() that timed out
    queue.reset();
    acker.start();
    tracker.start_heartbeat();
    executors.start();
    if (setup.opt.listen) listener.start();
    fetcher.start();
  }

  void stop();
  void release(const std::vector<worker::Claimed>& items);
};

// Stops in the order that loses nothing: no new deliveries; queued tasks back at once;
// running tasks get stop_timeout to finish; then acks are flushed. If handlers are still
// running at stop_timeout, their tasks are given back (nack, retry_delay 0) and their stop
// tokens requested; their threads are joined by the destructor.
void Worker::Impl::stop() {
  {
    std::lock_guard lk(mu);
    if (!running) return;
    running = false;
  }
  // 1. No new deliveries.
  fetcher.stop();
  listener.stop();
  // 2. Give the claimed tasks no handler started back at once (they were claimed only so
  //    the handlers need not wait for a dequeue).
  const auto deadline = Clock::now() + setup.opt.stop_timeout;
  auto unstarted = queue.drain();
  std::vector<std::shared_ptr<worker::InFlight>> entries;
  for (auto& c : unstarted) entries.push_back(c.entry);
  tracker.forget(entries);
  release(unstarted);
  // 3. Let running tasks finish, up to stop_timeout. Those that finish after the wait
  //    timed out but before abandon_all() are settled normally (no longer tracked).
  std::vector<std::shared_ptr<worker::InFlight>> stragglers;
  if (!queue.wait_idle(deadline)) stragglers = tracker.abandon_all();
  executors.request_stop();
  queue.stop_executors();
  if (stragglers.empty()) executors.join();
  // 4. Give the stragglers' visibility back and cancel their handlers.
  for (auto& e : stragglers) {
    worker::nack_retrying(setup, e->id, e->lease,
                          "worker stopped before the task finished (stop_timeout)", 0ms);
    e->stop.request_stop();
  }
  // 5. Flush acks, stop the heartbeat.
  acker.stop();
  tracker.stop_heartbeat();
  if (!stragglers.empty())
    throw Error(ErrorCode::Timeout,
                "worker stop timed out after " + std::to_string(setup.opt.stop_timeout.count()) +
                    " ms: " + std::to_string(stragglers.size()) +
                    " task(s) still running were given back to the queue");
}

// Claimed tasks that no handler started: visible again at once, for any worker, with the
// attempt their claim counted given back (taskmill.release): see docs/cpp-api.md,
// "Stopping". If this fails they come back after their visibility timeout.
void Worker::Impl::release(const std::vector<worker::Claimed>& items) {
  if (items.empty()) return;
  try {
    auto lease = setup.client.acquire();
    worker::calls::release(*lease, items);
    return;
  } catch (const Error& e) {
    if (e.code() == ErrorCode::Connection) {
      setup.report(std::string("giving back unstarted tasks failed: ") + e.what());
      return;
    }
  } catch (const std::exception& e) {
    setup.report(std::string("giving back unstarted tasks failed: ") + e.what());
    return;
  }
  // Some other server error (release itself skips stale and gone tasks): one by one,
  // visible again at once but without giving the attempt back.
  try {
    auto lease = setup.client.acquire();
    for (auto& c : items) {
      try {
        worker::calls::extend(*lease, c.task.id, c.task.lease, 0ms);
      } catch (const Error& e) {
        if (e.code() == ErrorCode::Connection) throw;
      }
    }
  } catch (const std::exception& e) {
    setup.report(std::string("giving back unstarted tasks failed: ") + e.what());
  }
}

// ---- Worker ----------------------------------------------------------------------------

Worker::Worker(Client& client, std::string queue_name, WorkerOptions options)
    : impl_(std::make_unique<Impl>(client, std::move(queue_name), std::move(options))) {}

Worker::~Worker() {
  try {
    impl_->stop();
  } catch (...) {
    // A stop timeout: the stragglers were given back; their threads are joined below.
  }
  impl_->executors.join();
}

void Worker::register_task(std::string operation_id, Handler handler) {
  std::lock_guard lk(impl_->mu);
  if (impl_->running)
    throw Error(ErrorCode::Validation, "register_task must be called before start()");
  impl_->handlers[std::move(operation_id)] = std::move(handler);
}

void Worker::start() { impl_->start(); }
void Worker::stop() { impl_->stop(); }

void Worker::run(std::stop_token token) {
  start();
  {
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lk(m);
    cv.wait(lk, token, [] { return false; });
  }
  stop();
}

bool Worker::running() const noexcept {
  std::lock_guard lk(impl_->mu);
  return impl_->running;
}

WorkerStats Worker::stats() const noexcept {
  return {impl_->setup.dequeues.load(std::memory_order_relaxed),
          impl_->setup.wakeups.load(std::memory_order_relaxed)};
}

const std::string& Worker::queue_name() const noexcept { return impl_->setup.queue; }

}  // namespace taskmill
