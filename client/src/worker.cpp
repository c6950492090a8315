// taskmill::Worker: fetcher, executors, heartbeat, acker and listener threads around the
// extension's dequeue / ack_many / nack / extend_visibility functions.
//
// Flow: the fetcher claims up to batch_size tasks into a bounded local queue (`work`), and
// claims again (up to batch_size; at most one dequeue in flight) as soon as the queue drops
// to its low-water mark (batch_size / 2), while the executors keep running the tasks already
// there; so the queue holds at most batch_size + batch_size / 2 tasks. So the
// handlers never wait for a dequeue round trip when the queue is busy. Each executor pops one
// task per wake-up; completed tasks go to the acker, which sends whatever is ready in one
// ack_many as soon as the previous call returns (no timer, no batch to fill). Every claimed
// task, queued or running, is in `inflight` and covered by the heartbeat; queued tasks are
// handed back at once by stop() (extend_visibility to 0 s). An idle worker's wake-up
// dequeue (a NOTIFY arrived) runs on the listener's own connection instead (see
// listen_loop): at most one dequeue is in flight either way (`fetching`).
//
// Locking: one mutex (Impl::mu) guards every piece of shared state below it; user code
// (handlers, on_alert, stop callbacks of handler tokens) never runs while it is held.
// Condition variables are notified only when a waiter can be there (the acker when acks
// goes non-empty, the fetcher when the local queue reaches its low-water mark, stop() when
// it waits), so a task's hand-off costs two short critical sections.
#include "taskmill/worker.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "taskmill/error.hpp"
#include "taskmill/trace.hpp"

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

namespace {

// Sleeps up to `d`; returns false when `st` was requested.
bool sleep_for(std::stop_token st, milliseconds d) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lk(m);
  cv.wait_for(lk, st, d, [] { return false; });
  return !st.stop_requested();
}

// An eventfd that a stop_callback signals, so a poll() on a socket can be interrupted.
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

struct PQfreememDeleter {
  void operator()(PGnotify* n) const noexcept { PQfreemem(n); }
};

constexpr std::string_view kDequeueSql =
    "SELECT * FROM taskmill.dequeue(queue_name => $1, batch_size => $2, "
    "visibility_timeout => $3::interval, task_group_id => $4)";
constexpr std::string_view kNackSql =
    "SELECT taskmill.nack(task_id => $1, lease => $2::uuid, error => $3, "
    "retry_delay => $4::interval)";
constexpr std::string_view kExtendSql =
    "SELECT taskmill.extend_visibility(task_id => $1, lease => $2::uuid, "
    "visibility_timeout => $3::interval)";
// Gives unstarted claims back: visible again at once, lease cleared, and the attempt the
// claim counted is not burnt. One statement for the whole local queue; stale leases and
// tasks gone meanwhile are skipped.
constexpr std::string_view kReleaseSql =
    "SELECT taskmill.release(task_ids => $1::bigint[], leases => $2::uuid[])";
constexpr std::string_view kAckSql =
    "SELECT taskmill.ack(task_id => $1, lease => $2::uuid, result => $3::jsonb)";
constexpr std::string_view kAckManySql =
    "SELECT taskmill.ack_many(task_ids => $1::bigint[], leases => $2::uuid[], "
    "results => $3::jsonb[])";

// A PostgreSQL array literal; std::nullopt elements are NULL.
std::string pg_array(const std::vector<std::optional<std::string>>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    if (!items[i]) {
      out += "NULL";
      continue;
    }
    out += '"';
    for (char c : *items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

milliseconds clamp_ms(milliseconds d, milliseconds lo) { return d < lo ? lo : d; }

// How long the listener keeps the idle-waiter lock once dequeues come back full: a worker
// busy for less than this (a task or a few, then idle again) keeps it throughout.
constexpr milliseconds kWaitGrace{10};

// Longest wait between two retries of the fetcher's dequeue and the listener's connection
// after a failure (server restart or unreachable): the doubling backoff stops here, so a
// worker is back within about this long of the server accepting connections again, however
// long the outage was (test/chaos/reconnect_test.cpp).
constexpr milliseconds kMaxRetryDelay{1000};

}  // namespace

// ---- Impl ------------------------------------------------------------------------------

struct Worker::Impl {
  struct InFlight {
    int64_t id = 0;
    std::string lease;
    Clock::time_point deadline = Clock::time_point::max();  // set when its handler starts
    Clock::time_point next_heartbeat{};
    bool started = false;  // a handler runs it (else it waits in the local queue)
    std::stop_source stop;
    bool deadline_fired = false;
    bool abandoned = false;  // stop() gave its visibility back; report nothing
    // Claimed by the listener's pipelined wake-up dequeue, whose commit is not confirmed
    // yet: its handler may start, but its outcome (ack / nack) waits on cv_claim. Until
    // the claim commits, the server still shows the task unclaimed to other sessions'
    // snapshots, so an ack sent now would find no row with this lease.
    bool claim_pending = false;
  };
  struct Claimed {
    Task task;
    std::shared_ptr<InFlight> entry;
  };
  struct AckItem {
    int64_t id;
    std::string lease;
    Json result;
    bool grouped;
  };

  Impl(Client& c, std::string q, WorkerOptions o)
      : client(c), queue(std::move(q)), opt(std::move(o)) {
    if (opt.concurrency < 1) opt.concurrency = 1;
    if (opt.batch_size < 1) opt.batch_size = 1;
    low_water = static_cast<std::size_t>(opt.batch_size / 2);
    opt.poll_interval = clamp_ms(opt.poll_interval, 1ms);
    opt.visibility_timeout = clamp_ms(opt.visibility_timeout, 30ms);
    opt.process_timeout = clamp_ms(opt.process_timeout, 1ms);
  }

  Client& client;
  const std::string queue;
  WorkerOptions opt;
  std::size_t low_water = 0;  // the fetcher claims again when the local queue is this short
  std::map<std::string, Handler, std::less<>> handlers;  // read-only while running

  mutable std::mutex mu;
  std::condition_variable_any cv_fetch;  // fetcher: local queue low, a wake-up, more work
  // Executors: a task to run. A plain condition variable (stopped by exec_stop, not a stop
  // token) and woken one at a time: the fetcher wakes one idle executor, and an executor
  // that takes a task and leaves more behind wakes the next (a wake-up chain), so a batch
  // does not wake every handler thread at once to fight over mu.
  std::condition_variable cv_work;
  std::condition_variable cv_claim;  // some InFlight::claim_pending was settled
  int idle_execs = 0;      // executors waiting on cv_work
  bool exec_stop = false;  // executors: return once the local queue is empty
  std::condition_variable_any cv_idle;   // stop(): busy reached 0 / acks flushed
  std::condition_variable_any cv_hb;     // heartbeat: in-flight set changed
  std::condition_variable_any cv_ack;    // acker: acks to send
  std::deque<Claimed> work;  // the local queue: claimed, no handler yet
  int busy = 0;          // claimed and not yet finished (queued or running)
  bool stopping = false; // stop() waits on cv_idle
  int pending_acks = 0;  // handed to the acker and not yet sent
  bool wake = false;     // NOTIFY or restart: dequeue now
  // The last dequeue found less than it asked for: the listener should hold the queue's
  // idle-waiter lock (taskmill.wait_begin), so enqueues NOTIFY us. Set by whoever
  // dequeued, carried out by the listener (listener_wake tells it to look). When it goes
  // false (a full batch), busy_since records when: the listener keeps the lock for
  // kWaitGrace more, so a worker that is only briefly busy (one task, then idle again)
  // neither gives the lock back nor takes it again (wait_end, wait_begin and a re-check
  // dequeue after every task).
  bool want_wait = false;
  Clock::time_point busy_since{};
  WakeFd listener_wake;
  // A dequeue is in flight: the fetcher's, or the listener's own (an idle worker's
  // wake-up dequeue runs on the listener's connection, right where the notification
  // arrived: no hand-off to the fetcher thread, no pool round trip). At most one at a time.
  bool fetching = false;
  bool fetcher_waits_fetch = false;  // the fetcher waits for fetching to end
  bool more = false;     // the last dequeue was full, or a FIFO group moved on
  bool hb_dirty = false; // an earlier wake-up is due: heartbeat recomputes its next one
  Clock::time_point hb_next = Clock::time_point::max();  // when the heartbeat wakes next
  std::map<int64_t, std::shared_ptr<InFlight>> inflight;
  std::vector<AckItem> acks;
  bool running = false;
  bool acker_running = false;

  std::jthread fetcher, listener, heartbeat, acker;
  std::vector<std::jthread> executors;

  void alert(const Task& task, const std::string& message, bool panic, ErrorCode code) {
    if (!opt.on_alert) return;
    try {
      opt.on_alert(Alert{&task, message, panic, code});
    } catch (...) {
      // An alert hook must not take the worker down.
    }
  }

  void report(const std::string& message) {
    if (!opt.on_error) return;
    try {
      opt.on_error(message);
    } catch (...) {
    }
  }

  void wake_fetcher() {
    {
      std::lock_guard lk(mu);
      wake = true;
    }
    cv_fetch.notify_all();
  }

  // ---- fetcher ----
  void fetch_loop(std::stop_token st) {
    milliseconds backoff{0};
    auto next_poll = Clock::now();
    while (!st.stop_requested()) {
      int n = 0;
      {
        std::unique_lock lk(mu);
        for (;;) {
          if (st.stop_requested()) return;
          if (fetching) {  // the listener's wake-up dequeue: see what it brings
            fetcher_waits_fetch = true;
            cv_fetch.wait(lk, st, [&] { return !fetching; });
            fetcher_waits_fetch = false;
            continue;
          }
          bool room = work.size() <= low_water;
          if (room && (wake || more || Clock::now() >= next_poll)) {
            // A whole batch (not just the room left): fewer, fuller dequeues. The local
            // queue holds at most batch_size + low_water tasks.
            n = opt.batch_size;
            break;
          }
          if (!room)
            cv_fetch.wait(lk, st, [&] { return work.size() <= low_water; });
          else
            cv_fetch.wait_until(lk, st, next_poll, [&] { return wake || more; });
        }
        wake = false;
        fetching = true;
      }
      std::vector<Task> tasks;
      const auto claimed_at = Clock::now();  // the visibility runs from (after) here
      try {
        auto lease = client.acquire(st);
        auto r = lease->exec_prepared(
            "taskmill_dequeue", kDequeueSql,
            {to_param(queue), to_param(n), to_param(opt.visibility_timeout),
             to_param(opt.task_group_id)});
        tasks = Task::from_result(r);
        backoff = 0ms;
      } catch (const std::exception& e) {
        {
          std::lock_guard lk(mu);
          more = false;
          fetching = false;
        }
        if (st.stop_requested()) return;
        // Server restart, connection refused, extension missing ...: retry with backoff;
        // nothing is lost (claimed tasks come back after their visibility timeout). At most
        // kMaxRetryDelay apart, so the worker is back within about a second of the server.
        backoff = backoff == 0ms ? 100ms : std::min(backoff * 2, kMaxRetryDelay);
        report(std::string("dequeue failed: ") + e.what());
        if (!sleep_for(st, backoff)) return;
        next_poll = Clock::now();
        continue;
      }
      next_poll = Clock::now() + opt.poll_interval;
      take_batch(std::move(tasks), n, claimed_at, false);
    }
  }

  // Puts a dequeued batch into the local queue (under mu) and wakes whoever must know;
  // ends the dequeue in flight (fetching). The executor is woken first: it is what the
  // latency of a wake-up is measured to. by_listener: the listener's own wake-up dequeue
  // (it needs no signal about want_wait, and the fetcher learns when more is set).
  // Returns the batch's in-flight entries (by_listener: marked claim_pending).
  std::vector<std::shared_ptr<InFlight>> take_batch(std::vector<Task> tasks, int n,
                                                    Clock::time_point claimed_at,
                                                    bool by_listener) {
    bool tell_listener = false, tell_hb = false, tell_fetcher = false;
    std::vector<std::shared_ptr<InFlight>> entries;
    {
      std::lock_guard lk(mu);
      fetching = false;
      more = static_cast<int>(tasks.size()) == n;
      busy += static_cast<int>(tasks.size());
      const auto next_hb = claimed_at + opt.visibility_timeout / 3;
      for (auto& t : tasks) {
        auto e = std::make_shared<InFlight>();
        e->id = t.id;
        e->lease = t.lease;
        e->next_heartbeat = next_hb;
        e->claim_pending = by_listener;
        inflight[t.id] = e;
        if (by_listener) entries.push_back(e);
        work.push_back(Claimed{std::move(t), std::move(e)});
      }
      if (!tasks.empty() && next_hb < hb_next) {
        hb_dirty = true;
        tell_hb = true;
      }
      // Idle (the queue gave less than asked): wait for a NOTIFY. Busy again: stop
      // waiting (after kWaitGrace), so producers need not notify.
      if (opt.listen && want_wait == more) {
        want_wait = !more;
        if (more) busy_since = Clock::now();
        tell_listener = !by_listener;
      }
      tell_fetcher = by_listener && (more || fetcher_waits_fetch);
    }
    if (!tasks.empty()) cv_work.notify_one();
    if (tell_hb) cv_hb.notify_all();
    if (tell_fetcher) cv_fetch.notify_all();
    if (tell_listener) listener_wake.signal();
    return entries;
  }

  // The listener's wake-up claim has committed (ok), or failed: then the claim never
  // happened, and its deliveries are dropped without ack or nack (the tasks come back
  // to the queue as they were); those no handler has started leave the local queue.
  void settle_claims(const std::vector<std::shared_ptr<InFlight>>& entries, bool ok) {
    if (entries.empty()) return;
    {
      std::lock_guard lk(mu);
      for (auto& e : entries) {
        e->claim_pending = false;
        if (ok) continue;
        e->abandoned = true;
        if (e->started) continue;
        auto w = std::find_if(work.begin(), work.end(),
                              [&](const Claimed& c) { return c.entry == e; });
        if (w != work.end()) {
          work.erase(w);
          --busy;
        }
        if (auto it = inflight.find(e->id); it != inflight.end() && it->second == e)
          inflight.erase(it);
      }
    }
    cv_claim.notify_all();
    if (!ok) cv_idle.notify_all();
  }

  // ---- listener: LISTEN taskmill on its own connection ----
  //
  // Enqueues NOTIFY only while some session holds the queue's idle-waiter lock
  // (notify => NULL, the default). So when a dequeue comes back short (want_wait), the
  // listener takes the lock (taskmill.wait_begin) and only then makes the fetcher
  // dequeue once more: a task committed before the lock was taken is found by that
  // dequeue, one committed after it notifies us. (A producer whose commit was already
  // under way when the lock was taken may be missed until the next poll: NOTIFY only
  // shortens the wait, the poll interval bounds it.) While the lock stays held, every
  // commit to the queue notifies us, so no re-check is needed until it is given back.
  // When dequeues come back full, the listener gives the lock back (taskmill.wait_end),
  // but only once the worker has stayed busy for kWaitGrace: a worker that takes one
  // task and is idle again keeps the lock (no wait_end / wait_begin / re-check after
  // every task), and producers stop notifying a worker that stays busy. The lock lives
  // and dies with this connection.
  //
  // A notification that finds the worker idle (want_wait, no dequeue in flight, room in
  // the local queue) is served here, on this connection: the listener claims the batch
  // itself and hands it straight to the executors, one hop less than waking the fetcher,
  // and without waiting for the claim's commit to reach the disk (send_wake_dequeue).
  void listen_loop(std::stop_token st) {
    std::stop_callback on_stop(st, [&] { listener_wake.signal(); });
    milliseconds backoff{100};
    bool first = true;
    while (!st.stop_requested()) {
      try {
        Connection conn = client.connect();
        conn.exec("LISTEN taskmill");
        bool held = false;  // this connection holds the idle-waiter lock
        bool prepared = false;  // the wake-up dequeue is prepared on this connection
        backoff = 100ms;
        // Anything enqueued while we were not listening: look now.
        if (!first) wake_fetcher();
        first = false;
        for (;;) {
          if (st.stop_requested()) return;
          bool want;
          Clock::time_point drop_at;
          {
            std::lock_guard lk(mu);
            want = want_wait;
            drop_at = busy_since + kWaitGrace;
          }
          int timeout_ms = -1;
          if (want && !held) {
            conn.exec("SELECT taskmill.wait_begin($1)", queue);
            held = true;
            // Holding the lock now: the fetcher's next dequeue is the final check
            // before it sleeps.
            wake_fetcher();
            // exec() may have read notifications off the socket: look at them.
            if (take_notifications(conn)) on_notified(conn, prepared, st);
            continue;
          }
          if (!want && held) {
            const auto now = Clock::now();
            if (now >= drop_at) {
              conn.exec("SELECT taskmill.wait_end($1)", queue);
              held = false;
              if (take_notifications(conn)) on_notified(conn, prepared, st);
              continue;
            }
            timeout_ms = static_cast<int>(
                std::chrono::ceil<milliseconds>(drop_at - now).count());
          }
          pollfd fds[2] = {{PQsocket(conn.native()), POLLIN, 0},
                           {listener_wake.fd(), POLLIN, 0}};
          int rc = ::poll(fds, 2, timeout_ms);
          if (st.stop_requested()) return;
          if (rc <= 0) continue;  // EINTR, or the grace ran out
          if (fds[1].revents & POLLIN) listener_wake.drain();
          if (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) {
            if (!PQconsumeInput(conn.native()) || !conn.ok())
              throw Error(ErrorCode::Connection, "LISTEN connection lost");
            if (take_notifications(conn)) on_notified(conn, prepared, st);
          }
        }
      } catch (const std::exception&) {
        if (!sleep_for(st, backoff)) return;
        backoff = std::min(backoff * 2, kMaxRetryDelay);
      }
    }
  }

  // True if a notification for this queue (or with no payload) arrived.
  bool take_notifications(Connection& conn) {
    bool mine = false;
    while (PGnotify* raw = PQnotifies(conn.native())) {
      std::unique_ptr<PGnotify, PQfreememDeleter> n(raw);
      std::string_view payload = n->extra ? n->extra : "";
      if (payload.empty() || payload == queue) mine = true;
    }
    return mine;
  }

  // A notification for this queue: dequeue here if the worker is idle, else tell the
  // fetcher (it dequeues again when its current call returns, or when there is room).
  void on_notified(Connection& conn, bool& prepared, std::stop_token st) {
    for (;;) {
      bool here;
      {
        std::lock_guard lk(mu);
        here = want_wait && !fetching && work.size() <= low_water && !st.stop_requested();
        if (here)
          fetching = true;
        else
          wake = true;
      }
      if (!here) {
        cv_fetch.notify_all();
        return;
      }
      const int n = opt.batch_size;
      std::vector<Task> tasks;
      const auto claimed_at = Clock::now();
      try {
        tasks = send_wake_dequeue(conn.native(), prepared, n);
      } catch (const std::exception& e) {
        // The fetcher takes over (at once) while this connection is rebuilt.
        report(std::string("dequeue failed: ") + e.what());
        {
          std::lock_guard lk(mu);
          fetching = false;
          wake = true;
        }
        cv_fetch.notify_all();
        throw;
      }
      auto entries = take_batch(std::move(tasks), n, claimed_at, true);
      // Now the claim's commit: it almost always succeeds. If it did not (the server
      // crashed or the connection broke in that instant), the tasks just handed out were
      // never claimed: their handlers' outcomes are dropped and the tasks are delivered
      // again.
      auto err = end_pipeline(conn.native());
      settle_claims(entries, err.empty());
      if (!err.empty()) {
        report("committing a wake-up claim failed (its tasks will be delivered again): " + err);
        throw Error(ErrorCode::Connection, err);
      }
      // Notifications that came in during the call: one more look.
      if (!take_notifications(conn)) return;
    }
  }

  // The wake-up dequeue, pipelined: Bind/Execute, then a Flush, then the Sync that commits
  // the claim (the statement runs in the implicit transaction the Sync ends). The server
  // sends the claimed rows at the Flush, so they reach the handlers while the commit's WAL
  // flush is still under way instead of after it (about 0.1 ms of a ~0.5 ms wake-up
  // here). Only the handlers start early: their outcomes (ack, nack) wait until the
  // commit is confirmed (InFlight::claim_pending, settle_claims), since until then other
  // sessions still see the tasks unclaimed and an ack would find no row with the lease.
  // Returns the claimed tasks with the pipeline still open: end_pipeline() reads the
  // commit's outcome.
  std::vector<Task> send_wake_dequeue(PGconn* pc, bool& prepared, int n) {
    if (!prepared) {
      const std::string text(kDequeueSql);
      Result r(PQprepare(pc, "taskmill_wake_dequeue", text.c_str(), 0, nullptr));
      if (!r.native() || PQresultStatus(r.native()) != PGRES_COMMAND_OK)
        throw Error(ErrorCode::Connection,
                    r.native() ? PQresultErrorMessage(r.native()) : PQerrorMessage(pc));
      prepared = true;
    }
    const Param params[] = {to_param(queue), to_param(n), to_param(opt.visibility_timeout),
                            to_param(opt.task_group_id)};
    const char* values[4];
    for (int i = 0; i < 4; ++i) values[i] = params[i] ? params[i]->c_str() : nullptr;
    if (!PQenterPipelineMode(pc))
      throw Error(ErrorCode::Connection, PQerrorMessage(pc));
    if (!PQsendQueryPrepared(pc, "taskmill_wake_dequeue", 4, values, nullptr, nullptr, 0) ||
        !PQsendFlushRequest(pc) || !PQpipelineSync(pc))
      throw Error(ErrorCode::Connection, PQerrorMessage(pc));
    Result r(PQgetResult(pc));
    if (!r.native() || PQresultStatus(r.native()) != PGRES_TUPLES_OK) {
      std::string msg = r.native() ? PQresultErrorMessage(r.native()) : PQerrorMessage(pc);
      end_pipeline(pc);
      throw Error(ErrorCode::Connection, msg);
    }
    return Task::from_result(r);
  }

  // Reads the rest of the pipeline up to its Sync and leaves pipeline mode. Returns the
  // first error met ("" if none); after an error the caller drops the connection.
  static std::string end_pipeline(PGconn* pc) {
    std::string err;
    for (int nulls = 0; nulls < 2;) {
      PGresult* x = PQgetResult(pc);
      if (!x) {
        ++nulls;  // one NULL ends each statement's results; two in a row: nothing comes
        if (PQstatus(pc) != CONNECTION_OK) break;
        continue;
      }
      nulls = 0;
      const auto st = PQresultStatus(x);
      if (st == PGRES_FATAL_ERROR && err.empty()) err = PQresultErrorMessage(x);
      PQclear(x);
      if (st == PGRES_PIPELINE_SYNC) {
        if (!PQexitPipelineMode(pc) && err.empty()) err = PQerrorMessage(pc);
        return err;
      }
    }
    if (err.empty()) err = PQerrorMessage(pc);
    if (err.empty()) err = "pipeline ended without its sync";
    return err;
  }

  // ---- executors ----
  void exec_loop(std::stop_token st) {
    for (;;) {
      Claimed c;
      bool tell_fetcher = false, tell_hb = false, tell_next = false;
      {
        std::unique_lock lk(mu);
        if (work.empty() && !exec_stop) {
          ++idle_execs;
          cv_work.wait(lk, [&] { return !work.empty() || exec_stop; });
          --idle_execs;
        }
        if (work.empty()) return;  // stop requested and nothing left
        c = std::move(work.front());
        work.pop_front();
        tell_fetcher = work.size() == low_water;
        tell_next = !work.empty() && idle_execs > 0;
        // The deadline starts now, with the handler.
        auto deadline = Clock::now() + opt.process_timeout;
        if (c.task.expires_at && *c.task.expires_at < deadline) deadline = *c.task.expires_at;
        c.entry->deadline = deadline;
        c.entry->started = true;
        if (deadline < hb_next) {
          hb_dirty = true;
          tell_hb = true;
        }
      }
      if (tell_next) cv_work.notify_one();
      if (tell_fetcher) cv_fetch.notify_all();
      if (tell_hb) cv_hb.notify_all();
      process(std::move(c.task), c.entry, st);
      bool tell_idle;
      {
        std::lock_guard lk(mu);
        --busy;
        tell_idle = stopping;
      }
      if (tell_idle) cv_idle.notify_all();
    }
  }

  void process(Task delivered, const std::shared_ptr<InFlight>& entry, std::stop_token st) {
    const auto deadline = entry->deadline;  // written under mu by this thread before
    const bool expiry_deadline = delivered.expires_at && *delivered.expires_at == deadline;
    TaskContext ctx(std::move(delivered), deadline, entry->stop.get_token());
    const Task& task = ctx.task();
    const bool grouped = task.task_group_id.has_value();
    bool ok = false;
    bool panic = false;
    ErrorCode code = ErrorCode::Internal;
    std::string error;
    const auto started_at = std::chrono::steady_clock::now();
    auto it = handlers.find(task.operation_id);
    if (it == handlers.end()) {
      code = ErrorCode::TaskNotRegistered;
      error = "task not registered: no handler for operation \"" + task.operation_id + "\"";
    } else {
      std::optional<trace::Scope> scope;
      if (task.meta.is_object() && task.meta.contains("traceparent") &&
          task.meta["traceparent"].is_string())
        scope.emplace(trace::child_traceparent(task.meta["traceparent"].get<std::string>()));
      try {
        it->second(ctx);
        ok = true;
      } catch (const Error& e) {
        error = e.what();
        code = e.code();
      } catch (const std::exception& e) {
        panic = true;
        error = std::string("panic: ") + e.what();
      } catch (...) {
        panic = true;
        error = "panic: unknown exception";
      }
      // The handler thread cannot be interrupted: an overrun is reported when it returns.
      if (Clock::now() >= deadline && !panic) {
        ok = false;
        code = ErrorCode::Timeout;
        error = expiry_deadline
                    ? "context deadline exceeded: task expired while its handler ran"
                    : "context deadline exceeded: handler ran past its process timeout of " +
                          std::to_string(opt.process_timeout.count()) + " ms";
      }
    }

    bool abandoned, direct_ack = false, tell_acker = false;
    {
      std::unique_lock lk(mu);
      // A wake-up claim still committing: the ack or nack waits for it (~0.1 ms).
      cv_claim.wait(lk, [&] { return !entry->claim_pending; });
      if (auto it = inflight.find(task.id); it != inflight.end() && it->second == entry)
        inflight.erase(it);
      abandoned = entry->abandoned;
      if (ok && !abandoned) {
        if (acker_running) {
          acks.push_back(AckItem{task.id, task.lease, ctx.result(), grouped});
          ++pending_acks;
          tell_acker = acks.size() == 1;  // the acker sleeps only while acks is empty
        } else {
          direct_ack = true;  // after a stop timeout: nobody batches acks any more
        }
      }
    }
    const auto took = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started_at);
    if (abandoned) {  // stop() already gave the task back
      event(task, TaskEvent::Outcome::Released, took, error);
      return;
    }
    if (ok) {
      if (!direct_ack) {
        if (tell_acker) cv_ack.notify_one();
      } else {
        try {
          send_acks({AckItem{task.id, task.lease, ctx.result(), grouped}});
        } catch (const std::exception& e) {
          report(std::string("ack failed: ") + e.what());
        }
      }
      event(task, TaskEvent::Outcome::Succeeded, took, {});
      return;
    }
    auto verdict = nack(task, error, std::nullopt, st);
    event(task,
          verdict == "dlq"              ? TaskEvent::Outcome::DeadLettered
          : code == ErrorCode::Timeout  ? TaskEvent::Outcome::TimedOut
          : panic                       ? TaskEvent::Outcome::Panicked
                                        : TaskEvent::Outcome::Failed,
          took, error);
    if (grouped) {
      // A dead-lettered head lets its group's next task go: look again now.
      {
        std::lock_guard lk(mu);
        more = true;
      }
      cv_fetch.notify_all();
    }
    alert(task, error, panic, code);
  }

  // Returns nack's verdict ("retry", "dlq", "stale"), or "" when it could not be sent.
  std::string nack(const Task& task, const std::string& error,
                   std::optional<milliseconds> retry_delay = std::nullopt,
                   std::stop_token st = {}) {
    milliseconds backoff{50};
    for (int attempt = 0; attempt < 8; ++attempt) {
      try {
        auto lease = client.acquire();
        auto r = lease->exec_prepared("taskmill_nack", kNackSql,
                                      {to_param(task.id), to_param(task.lease), to_param(error),
                                       to_param(retry_delay)});
        return r.rows() > 0 ? std::string(r.get(0, 0)) : std::string();
      } catch (const Error& e) {
        if (e.code() != ErrorCode::Connection) {
          report("nack of task " + std::to_string(task.id) + " failed: " + e.what());
          return {};
        }
      } catch (const std::exception& e) {
        report("nack of task " + std::to_string(task.id) + " failed: " + e.what());
        return {};
      }
      // Server unreachable: try again; if it never answers, the visibility timeout hands
      // the task out again, so nothing is lost.
      if (!sleep_for(st, backoff)) return {};
      backoff = std::min(backoff * 2, milliseconds(2000));
    }
    return {};
  }

  void event(const Task& task, TaskEvent::Outcome outcome, std::chrono::microseconds took,
             const std::string& error) {
    if (!opt.on_task_event) return;
    try {
      opt.on_task_event(TaskEvent{task.id, queue, task.operation_id, task.attempts, outcome,
                                  took, Clock::now(), error});
    } catch (...) {
      // An event hook must not take the worker down.
    }
  }

  // ---- heartbeat and deadlines ----
  void heartbeat_loop(std::stop_token st) {
    const auto interval = opt.visibility_timeout / 3;
    for (;;) {
      std::vector<std::shared_ptr<InFlight>> extend, expire;
      {
        std::unique_lock lk(mu);
        auto next = Clock::now() + 1h;
        for (auto& [id, e] : inflight) {
          next = std::min(next, e->next_heartbeat);
          if (!e->deadline_fired) next = std::min(next, e->deadline);
        }
        hb_next = next;
        cv_hb.wait_until(lk, st, next, [&] { return hb_dirty; });
        hb_next = Clock::time_point::min();  // awake: nobody needs to notify
        if (st.stop_requested()) return;
        hb_dirty = false;
        auto now = Clock::now();
        for (auto& [id, e] : inflight) {
          if (e->abandoned) continue;
          if (now >= e->next_heartbeat) {
            e->next_heartbeat = now + interval;
            extend.push_back(e);
          }
          if (e->started && !e->deadline_fired && now >= e->deadline) {
            e->deadline_fired = true;
            expire.push_back(e);
          }
        }
      }
      for (auto& e : expire) e->stop.request_stop();
      if (extend.empty()) continue;
      try {
        auto lease = client.acquire(st);
        for (auto& e : extend) {
          try {
            lease->exec_prepared("taskmill_extend", kExtendSql,
                                 {to_param(e->id), to_param(e->lease),
                                  to_param(opt.visibility_timeout)});
          } catch (const Error& err) {
            if (err.code() == ErrorCode::Connection) throw;
            // Lease lost or task gone: the ack will be stale; nothing to do here.
          }
        }
      } catch (const std::exception&) {
        // Try again soon: the visibility timeout leaves two thirds of its span.
        std::lock_guard lk(mu);
        auto soon = Clock::now() + std::min<Clock::duration>(interval / 4, 1s);
        for (auto& e : extend) e->next_heartbeat = std::min(e->next_heartbeat, soon);
      }
    }
  }

  // ---- acker: batches acks without waiting for a batch to fill ----
  void ack_loop(std::stop_token st) {
    int failures = 0;
    for (;;) {
      std::vector<AckItem> batch;
      {
        std::unique_lock lk(mu);
        cv_ack.wait(lk, st, [&] { return !acks.empty(); });
        if (acks.empty()) return;  // stopping and flushed
        batch.swap(acks);
      }
      bool sent = false;
      try {
        send_acks(batch);
        sent = true;
        failures = 0;
      } catch (const Error& e) {
        ++failures;
        bool give_up = e.code() != ErrorCode::Connection ||
                       (st.stop_requested() && failures >= 3) || failures >= 50;
        if (give_up) {
          report(std::string("ack failed: ") + e.what());
          sent = true;  // drop: the tasks come back after their visibility timeout
        } else {
          sleep_for(st, std::min(milliseconds(50) * failures, milliseconds(2000)));
        }
      } catch (const std::exception& e) {
        report(std::string("ack failed: ") + e.what());
        sent = true;
      }
      bool grouped = false;
      {
        std::lock_guard lk(mu);
        if (sent) {
          pending_acks -= static_cast<int>(batch.size());
          for (auto& a : batch) grouped = grouped || a.grouped;
          if (grouped) more = true;  // the group's next task is deliverable now
        } else {
          // Put them back in front of newer ones and retry.
          acks.insert(acks.begin(), std::make_move_iterator(batch.begin()),
                      std::make_move_iterator(batch.end()));
        }
      }
      if (grouped) cv_fetch.notify_all();
      cv_idle.notify_all();
    }
  }

  void send_acks(const std::vector<AckItem>& batch) {
    auto lease = client.acquire();
    if (batch.size() == 1) {
      auto& a = batch.front();
      lease->exec_prepared("taskmill_ack", kAckSql,
                           {to_param(a.id), to_param(a.lease), to_param(a.result)});
      return;
    }
    std::vector<std::optional<std::string>> ids, leases, results;
    bool any_result = false;
    for (auto& a : batch) {
      ids.push_back(std::to_string(a.id));
      leases.push_back(a.lease);
      results.push_back(to_param(a.result));
      any_result = any_result || !a.result.is_null();
    }
    lease->exec_prepared("taskmill_ack_many", kAckManySql,
                         {pg_array(ids), pg_array(leases),
                          any_result ? Param(pg_array(results)) : Param()});
  }

  // Claimed tasks that no handler started: visible again at once, for any worker, with
  // the attempt their claim counted given back (taskmill.release): see docs/cpp-api.md,
  // "Stopping". If this fails they come back after their visibility timeout.
  void release(const std::vector<Claimed>& items) {
    if (items.empty()) return;
    std::vector<std::optional<std::string>> ids, leases;
    for (auto& c : items) {
      ids.push_back(std::to_string(c.task.id));
      leases.push_back(c.task.lease);
    }
    try {
      auto lease = client.acquire();
      lease->exec_prepared("taskmill_release", kReleaseSql, {pg_array(ids), pg_array(leases)});
      return;
    } catch (const Error& e) {
      if (e.code() == ErrorCode::Connection) {
        report(std::string("giving back unstarted tasks failed: ") + e.what());
        return;
      }
    } catch (const std::exception& e) {
      report(std::string("giving back unstarted tasks failed: ") + e.what());
      return;
    }
    // Some other server error (release itself skips stale and gone tasks): one by one,
    // visible again at once but without giving the attempt back.
    try {
      auto lease = client.acquire();
      for (auto& c : items) {
        try {
          lease->exec_prepared("taskmill_extend", kExtendSql,
                               {to_param(c.task.id), to_param(c.task.lease), to_param(0ms)});
        } catch (const Error& e) {
          if (e.code() == ErrorCode::Connection) throw;
        }
      }
    } catch (const std::exception& e) {
      report(std::string("giving back unstarted tasks failed: ") + e.what());
    }
  }

  // ---- lifecycle ----
  void join_executors() {
    for (auto& t : executors)
      if (t.joinable()) t.join();
    executors.clear();
  }

  void start() {
    std::unique_lock lk(mu);
    if (running) return;
    lk.unlock();
    join_executors();  // stragglers of an earlier stop() that timed out
    lk.lock();
    running = true;
    wake = true;
    more = false;
    want_wait = false;
    busy_since = {};
    fetching = false;
    fetcher_waits_fetch = false;
    busy = 0;
    stopping = false;
    exec_stop = false;
    idle_execs = 0;
    pending_acks = 0;
    work.clear();
    acker_running = true;
    lk.unlock();
    acker = std::jthread([this](std::stop_token st) { ack_loop(st); });
    heartbeat = std::jthread([this](std::stop_token st) { heartbeat_loop(st); });
    for (int i = 0; i < opt.concurrency; ++i)
      executors.emplace_back([this](std::stop_token st) { exec_loop(st); });
    if (opt.listen) listener = std::jthread([this](std::stop_token st) { listen_loop(st); });
    fetcher = std::jthread([this](std::stop_token st) { fetch_loop(st); });
  }

  void stop() {
    {
      std::lock_guard lk(mu);
      if (!running) return;
      running = false;
    }
    // 1. No new deliveries.
    for (auto* t : {&fetcher, &listener}) {
      t->request_stop();
      if (t->joinable()) t->join();
    }
    // 2. Give the claimed tasks no handler started back at once (they were claimed only
    //    so the handlers need not wait for a dequeue).
    const auto deadline = Clock::now() + opt.stop_timeout;
    std::vector<Claimed> unstarted;
    {
      std::lock_guard lk(mu);
      unstarted.assign(std::make_move_iterator(work.begin()), std::make_move_iterator(work.end()));
      busy -= static_cast<int>(work.size());
      work.clear();
      for (auto& c : unstarted) inflight.erase(c.task.id);
      stopping = true;
    }
    release(unstarted);
    // 3. Let running tasks finish, up to stop_timeout.
    std::vector<std::shared_ptr<InFlight>> running_tasks;
    bool timed_out;
    {
      std::unique_lock lk(mu);
      timed_out = !cv_idle.wait_until(lk, deadline, [&] { return busy == 0; });
      if (timed_out) {
        for (auto& [id, e] : inflight) {
          e->abandoned = true;
          running_tasks.push_back(e);
        }
      }
    }
    for (auto& t : executors) t.request_stop();
    {
      std::lock_guard lk(mu);
      exec_stop = true;
    }
    cv_work.notify_all();
    if (!timed_out) join_executors();
    // 4. Give the stragglers' visibility back and cancel their handlers.
    if (timed_out) {
      const std::string msg = "worker stopped before the task finished (stop_timeout)";
      for (auto& e : running_tasks) {
        Task t;
        t.id = e->id;
        t.lease = e->lease;
        nack(t, msg, 0ms);
        e->stop.request_stop();
      }
    }
    // 5. Flush acks, stop the heartbeat.
    {
      std::lock_guard lk(mu);
      acker_running = false;  // executors still running ack directly from now on
    }
    acker.request_stop();
    cv_ack.notify_all();
    if (acker.joinable()) acker.join();
    heartbeat.request_stop();
    if (heartbeat.joinable()) heartbeat.join();
    if (timed_out)
      throw Error(ErrorCode::Timeout,
                  "worker stop timed out after " + std::to_string(opt.stop_timeout.count()) +
                      " ms: " + std::to_string(running_tasks.size()) +
                      " task(s) still running were given back to the queue");
  }
};

// ---- Worker ----------------------------------------------------------------------------

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

Worker::Worker(Client& client, std::string queue_name, WorkerOptions options)
    : impl_(std::make_unique<Impl>(client, std::move(queue_name), std::move(options))) {}

Worker::~Worker() {
  try {
    impl_->stop();
  } catch (...) {
    // A stop timeout: the stragglers were given back; their threads are joined below.
  }
  impl_->join_executors();
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

const std::string& Worker::queue_name() const noexcept { return impl_->queue; }

}  // namespace taskmill
