// Listener (see worker_listener.hpp).
#include "worker_listener.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>

#include "taskmill/error.hpp"
#include "worker_calls.hpp"
#include "worker_fetcher.hpp"

namespace taskmill::worker {

using namespace std::chrono_literals;

namespace {
struct PQfreememDeleter {
  void operator()(PGnotify* n) const noexcept { PQfreemem(n); }
};
}  // namespace

void Listener::start() {
  thread_ = std::jthread([this](std::stop_token st) { loop(st); });
}

void Listener::stop() { stop_and_join(thread_); }

// Connects (again) with backoff; serve() runs until the connection breaks or stop.
void Listener::loop(std::stop_token st) {
  std::stop_callback on_stop(st, [&] { wake_.signal(); });
  milliseconds backoff{100};
  bool first = true;
  while (!st.stop_requested()) {
    try {
      auto conn = s_.client.connect_session();
      if (!conn) {
        // Behind a transaction pooler with no direct connection to listen on: the worker
        // polls (poll_interval).
        s_.report("no direct connection to LISTEN on (ClientOptions::listen_conninfo): polling");
        return;
      }
      Session session{std::move(*conn)};
      // The queue's own channel (a keyed hash of its name, handed out to roles with the
      // consume right), never a shared one: a NOTIFY on any other channel, such as the
      // "taskmill" every role may notify, does not reach this connection.
      session.channel = std::string(
          session.conn.exec("SELECT taskmill.listen($1)", s_.queue).get(0, 0));
      backoff = 100ms;
      // Anything enqueued while we were not listening: look now.
      if (!first) queue_.wake();
      first = false;
      serve(session, st);
      return;
    } catch (const std::exception& e) {
      // The server refused (no consume right, an extension without taskmill.listen): say
      // so, as the worker only polls meanwhile. A lost connection is the fetcher's to report.
      const auto* err = dynamic_cast<const Error*>(&e);
      if (err && err->code() != ErrorCode::Connection)
        s_.report(std::string("cannot listen for the queue's notifications (polling): ") + e.what());
      if (!sleep_for(st, backoff)) return;
      backoff = std::min(backoff * 2, kMaxRetryDelay);
    }
  }
}

// Holds or gives back the idle-waiter lock as the LocalQueue wishes, and waits for
// notifications (or a change of wish, or stop) on the socket. Returns on stop; throws
// when the connection breaks.
void Listener::serve(Session& s, std::stop_token st) {
  for (;;) {
    if (st.stop_requested()) return;
    const auto wish = queue_.wait_wish();
    int timeout_ms = -1;
    if (wish.want && !s.held) {
      s.conn.exec("SELECT taskmill.wait_begin($1)", s_.queue);
      s.held = true;
      // Holding the lock now: the fetcher's next dequeue is the final check before it
      // sleeps.
      queue_.wake();
      // exec() may have read notifications off the socket: look at them.
      if (take_notifications(s)) on_notified(s, st);
      continue;
    }
    if (!wish.want && s.held) {
      const auto now = Clock::now();
      if (now >= wish.drop_at) {
        s.conn.exec("SELECT taskmill.wait_end($1)", s_.queue);
        s.held = false;
        if (take_notifications(s)) on_notified(s, st);
        continue;
      }
      timeout_ms = static_cast<int>(std::chrono::ceil<milliseconds>(wish.drop_at - now).count());
    }
    pollfd fds[2] = {{PQsocket(s.conn.native()), POLLIN, 0}, {wake_.fd(), POLLIN, 0}};
    int rc = ::poll(fds, 2, timeout_ms);
    if (st.stop_requested()) return;
    if (rc <= 0) continue;  // EINTR, or the grace ran out
    if (fds[1].revents & POLLIN) wake_.drain();
    if (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) {
      if (!PQconsumeInput(s.conn.native()) || !s.conn.ok())
        throw Error(ErrorCode::Connection, "LISTEN connection lost");
      if (take_notifications(s)) on_notified(s, st);
    }
  }
}

// True if a notification on the queue's channel arrived. The connection listens on no
// other channel; the check keeps it so should anything else LISTEN there.
bool Listener::take_notifications(Session& s) {
  bool mine = false;
  while (PGnotify* raw = PQnotifies(s.conn.native())) {
    std::unique_ptr<PGnotify, PQfreememDeleter> n(raw);
    if (n->relname && s.channel == n->relname) {
      mine = true;
      s_.wakeups.fetch_add(1, std::memory_order_relaxed);
    }
  }
  return mine;
}

// A notification for this queue: dequeue here if the worker is idle, else the fetcher is
// told (it dequeues again when its current call returns, or when there is room).
void Listener::on_notified(Session& s, std::stop_token st) {
  for (;;) {
    if (!queue_.begin_wake_dequeue(st)) return;
    const int n = s_.opt.batch_size;
    std::vector<Task> tasks;
    const auto claimed_at = Clock::now();
    try {
      s_.dequeues.fetch_add(1, std::memory_order_relaxed);
      tasks = send_wake_dequeue(s, n);
    } catch (const std::exception& e) {
      // The fetcher takes over (at once) while this connection is rebuilt.
      s_.report(std::string("dequeue failed: ") + e.what());
      queue_.fetch_failed(/*retry_now=*/true);
      throw;
    }
    auto entries = intake(tracker_, queue_, std::move(tasks), n, claimed_at, true);
    // Now the claim's commit: it almost always succeeds. If it did not (the server crashed
    // or the connection broke in that instant), the tasks just handed out were never
    // claimed: their handlers' outcomes are dropped, those not started leave the local
    // queue, and the tasks are delivered again.
    auto err = end_pipeline(s.conn.native());
    tracker_.settle(entries, err.empty());
    if (!err.empty()) {
      tracker_.forget(queue_.remove(entries));
      s_.report("committing a wake-up claim failed (its tasks will be delivered again): " + err);
      throw Error(ErrorCode::Connection, err);
    }
    // Notifications that came in during the call: one more look.
    if (!take_notifications(s)) return;
  }
}

// The wake-up dequeue, pipelined: Bind/Execute, then a Flush, then the Sync that commits
// the claim (the statement runs in the implicit transaction the Sync ends). The server
// sends the claimed rows at the Flush, so they reach the handlers while the commit's WAL
// flush is still under way instead of after it (about 0.1 ms of a ~0.5 ms wake-up here).
// Only the handlers start early: their outcomes wait until the commit is confirmed
// (InFlight::claim_pending). Returns the claimed tasks with the pipeline still open:
// end_pipeline() reads the commit's outcome. The connection is a direct one (never a
// pooled one), so the named statement stays with it.
std::vector<Task> Listener::send_wake_dequeue(Session& s, int n) {
  PGconn* pc = s.conn.native();
  if (!s.prepared) {
    const std::string text(calls::kDequeueSql);
    Result r(PQprepare(pc, "taskmill_wake_dequeue", text.c_str(), 0, nullptr));
    if (!r.native() || PQresultStatus(r.native()) != PGRES_COMMAND_OK)
      throw Error(ErrorCode::Connection,
                  r.native() ? PQresultErrorMessage(r.native()) : PQerrorMessage(pc));
    s.prepared = true;
  }
  const auto params = calls::dequeue_params(s_, n);
  std::vector<const char*> values;
  for (auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  if (!PQenterPipelineMode(pc)) throw Error(ErrorCode::Connection, PQerrorMessage(pc));
  if (!PQsendQueryPrepared(pc, "taskmill_wake_dequeue", static_cast<int>(values.size()),
                           values.data(), nullptr, nullptr, 0) ||
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
std::string Listener::end_pipeline(PGconn* pc) {
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

}  // namespace taskmill::worker
