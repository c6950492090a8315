// chaos_client: the processes of the chaos suite (test/chaos/run.sh). Each appends one JSON
// line per operation step to its history file (--history), written with one write(2) so a
// SIGKILL never leaves half a line:
//
//   {"p": process, "seq": n, "op": "enqueue|claim|ack|nack|extend|release|tick_run|handle",
//    "type": "invoke|ok|fail|unknown", "wall": client epoch s, "t": server now() epoch s, ...}
//
// An operation's invoke line comes before it is sent; its ok / fail / unknown line (same seq)
// after the answer. "unknown" = the connection broke before an answer (the server may or may
// not have done it); "fail" = the server answered with an error. A process killed in between
// leaves an invoke without completion, which the checker treats as unknown.
//
// Modes:
//   producer   enqueue --count tasks with keys <prefix>-<i> through raw SQL (per-task records)
//   worker     dequeue / ack / nack / extend_visibility / release through raw SQL (--combine 1:
//              acks and nacks sent with the next claim through ack_dequeue)
//   scheduler  a taskmill::Scheduler calling run_due_schedules (run_once) in a loop
//   libworker  the library's own taskmill::Worker and taskmill::Enqueuer (reconnect behaviour):
//              records each handler run and each enqueue; SIGUSR1 stops its enqueues only
//
// The raw-SQL processes reconnect by themselves (a new taskmill::Connection, retried every
// 50 ms); the libworker relies on the library alone.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <taskmill/taskmill.hpp>

using namespace std::chrono_literals;
using taskmill::Json;

namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_stop_producing{false};  // SIGUSR1: the libworker stops enqueuing, keeps working
void on_term(int) { g_stop.store(true); }
void on_usr1(int) { g_stop_producing.store(true); }

struct Args {
  std::map<std::string, std::string> kv;
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  }
  long num(const std::string& k, long def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : std::stol(it->second);
  }
  double dbl(const std::string& k, double def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : std::stod(it->second);
  }
};

double wall_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The history file: one line per write(2), O_APPEND.
class History {
 public:
  History(const std::string& path, std::string proc) : proc_(std::move(proc)) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd_ < 0) {
      std::perror(path.c_str());
      std::exit(2);
    }
  }
  ~History() { ::close(fd_); }
  long next_seq() { return ++seq_; }
  void write(long seq, const std::string& op, const std::string& type, Json fields) {
    fields["p"] = proc_;
    fields["seq"] = seq;
    fields["op"] = op;
    fields["type"] = type;
    fields["wall"] = wall_now();
    std::string line = fields.dump() + "\n";
    std::lock_guard lk(mu_);
    size_t off = 0;
    while (off < line.size()) {
      ssize_t n = ::write(fd_, line.data() + off, line.size() - off);
      if (n <= 0) {
        if (errno == EINTR) continue;
        std::perror("history write");
        std::exit(2);
      }
      off += static_cast<size_t>(n);
    }
  }

 private:
  int fd_;
  std::string proc_;
  std::atomic<long> seq_{0};
  std::mutex mu_;
};

// The outcome class of an exception: "unknown" when the connection broke (the statement may
// have committed), "fail" when the server answered with an error.
std::string outcome_of(const std::exception& e) {
  if (auto* te = dynamic_cast<const taskmill::Error*>(&e)) {
    if (te->code() != taskmill::ErrorCode::Connection) return "fail";
  }
  return "unknown";
}

double to_d(std::string_view s) { return std::stod(std::string(s)); }

// A connection that reopens itself (every 50 ms until it works or the process is told to stop).
class Conn {
 public:
  explicit Conn(std::string conninfo) : conninfo_(std::move(conninfo)) {}
  taskmill::Connection* get() {
    while (!g_stop.load()) {
      if (c_ && c_->ok()) return &*c_;
      c_.reset();
      try {
        c_.emplace(conninfo_, 2000ms);
        return &*c_;
      } catch (const std::exception&) {
        std::this_thread::sleep_for(50ms);
      }
    }
    return nullptr;
  }
  void drop() { c_.reset(); }

 private:
  std::string conninfo_;
  std::optional<taskmill::Connection> c_;
};

std::vector<int> int_list(const std::string& s) {
  std::vector<int> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    out.push_back(std::stoi(s.substr(i, j - i)));
    i = j + 1;
  }
  return out;
}

// ---- producer -----------------------------------------------------------------------------

int run_producer(const Args& a, History& h) {
  Conn conn(a.get("conninfo"));
  const std::string queue = a.get("queue", "chaos");
  const std::string prefix = a.get("prefix", "k");
  const long count = a.num("count", 1000);
  const long first = a.num("first", 0);
  const long groups = a.num("groups", 0);
  const double rate = a.dbl("rate", 0);
  const long payload_bytes = a.num("payload-bytes", 0);
  const auto attempts = int_list(a.get("max-attempts", "3"));
  std::mt19937_64 rng(static_cast<uint64_t>(a.num("seed", 1)));
  auto t0 = std::chrono::steady_clock::now();
  for (long i = first; i < first + count && !g_stop.load(); ++i) {
    if (rate > 0) {
      auto due = t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                          std::chrono::duration<double>((i - first) / rate));
      std::this_thread::sleep_until(due);
    }
    std::string key = prefix + "-" + std::to_string(i);
    std::optional<std::string> group;
    if (groups > 0) group = "g" + std::to_string(i % groups);
    int max_attempts = attempts[static_cast<size_t>(i) % attempts.size()];
    Json payload = {{"i", i}};
    if (payload_bytes > 0) {
      // Incompressible filler, so that the ENOSPC scenario really fills the disk.
      std::string fill;
      fill.reserve(static_cast<size_t>(payload_bytes));
      static const char hex[] = "0123456789abcdef";
      for (long b = 0; b < payload_bytes; ++b) fill.push_back(hex[rng() & 15]);
      payload["fill"] = fill;
    }
    auto* c = conn.get();
    if (!c) break;
    long seq = h.next_seq();
    Json rec = {{"key", key}, {"max_attempts", max_attempts}};
    if (group) rec["group"] = *group;
    h.write(seq, "enqueue", "invoke", rec);
    try {
      auto r = c->exec(
          "SELECT taskmill.enqueue(queue_name => $1, operation_id => 'chaos', payload => $2::jsonb, "
          "max_attempts => $3, task_group_id => $4, idempotency_key => $5), "
          "extract(epoch from now())::text",
          queue, payload, max_attempts, group, key);
      rec["id"] = r.get_int64(0, 0);
      rec["t"] = to_d(r.get(0, 1));
      h.write(seq, "enqueue", "ok", rec);
    } catch (const std::exception& e) {
      rec["error"] = std::string(e.what()).substr(0, 200);
      auto kind = outcome_of(e);
      h.write(seq, "enqueue", kind, rec);
      if (kind == "unknown") conn.drop();
    }
  }
  return 0;
}

// ---- worker -------------------------------------------------------------------------------

struct Claimed {
  int64_t id;
  std::string key, lease;
  std::optional<std::string> group;
  int attempts, max_attempts;
};

int run_worker(const Args& a, History& h) {
  Conn conn(a.get("conninfo"));
  const std::string queue = a.get("queue", "chaos");
  const int batch = static_cast<int>(a.num("batch", 5));
  const long vt_ms = a.num("vt-ms", 2000);
  const double fail_rate = a.dbl("fail-rate", 0);
  const double extend_rate = a.dbl("extend-rate", 0);
  const double release_rate = a.dbl("release-rate", 0);
  const double slow_rate = a.dbl("slow-rate", 0);  // handler outlives its lease: a late ack
  const long work_ms = a.num("work-ms", 2);
  const long idle_ms = a.num("idle-ms", 20);
  std::mt19937_64 rng(static_cast<uint64_t>(a.num("seed", 1)));
  std::uniform_real_distribution<double> u(0, 1);
  const std::string vt = std::to_string(vt_ms) + " milliseconds";

  // --combine 1: acks and nacks go with the next claim, through taskmill.ack_dequeue (the
  // library Worker's round trip) instead of a statement each.
  const bool combine = a.num("combine", 0) != 0;
  std::string last_outcome;  // of the last step: ok, fail, unknown, or "" (not sent)

  // One statement with its record; returns the result or nullopt (recorded fail / unknown).
  auto step = [&](const std::string& op, Json rec, auto&& call) -> std::optional<Json> {
    last_outcome.clear();
    auto* c = conn.get();
    if (!c) return std::nullopt;
    long seq = h.next_seq();
    h.write(seq, op, "invoke", rec);
    try {
      Json out = call(*c);
      for (auto& [k, v] : out.items()) rec[k] = v;
      h.write(seq, op, "ok", rec);
      last_outcome = "ok";
      return rec;
    } catch (const std::exception& e) {
      rec["error"] = std::string(e.what()).substr(0, 200);
      auto kind = outcome_of(e);
      last_outcome = kind;
      h.write(seq, op, kind, rec);
      if (kind == "unknown") conn.drop();
      return std::nullopt;
    }
  };
  auto lease_rec = [](const Claimed& t) {
    Json r = {{"id", t.id}, {"key", t.key}, {"lease", t.lease}};
    if (t.group) r["group"] = *t.group;
    return r;
  };
  // A statement on one claim ($1 its id, $2 its lease) whose row is (result, the server's
  // clock): release, nack and ack. res_of reads the result.
  auto on_claim = [&](const std::string& op, const Claimed& t, const char* sql, auto&& res_of) {
    step(op, lease_rec(t), [&](taskmill::Connection& c) {
      auto r = c.exec(sql, static_cast<long long>(t.id), t.lease);
      return Json{{"res", res_of(r)}, {"t", to_d(r.get(0, 1))}};
    });
  };

  std::vector<Claimed> acks, nacks;  // combine: sent with the next claim
  // "{a,b}" of ids, or of leases (uuids need no quoting)
  auto array_of = [](const std::vector<Claimed>& v, bool lease) {
    std::string out = "{";
    for (size_t i = 0; i < v.size(); ++i)
      out += (i ? "," : "") + (lease ? v[i].lease : std::to_string(v[i].id));
    return out + "}";
  };
  static const char* const kColumns =
      "SELECT t.id, t.idempotency_key, t.lease::text, t.task_group_id, t.attempts, "
      "t.max_attempts, extract(epoch from t.visible_at)::text, extract(epoch from now())::text ";

  while (!g_stop.load()) {
    std::vector<Claimed> claimed;
    // The combined acks and nacks are recorded as operations of their own around the claim.
    std::vector<std::pair<long, std::string>> sent;  // seq, op
    std::vector<Json> sent_recs;
    if (combine && conn.get()) {
      for (auto* list : {&acks, &nacks})
        for (auto& t : *list) {
          const char* op = list == &acks ? "ack" : "nack";
          sent.emplace_back(h.next_seq(), op);
          sent_recs.push_back(lease_rec(t));
          h.write(sent.back().first, op, "invoke", sent_recs.back());
        }
    }
    auto got = step("claim", Json{{"batch", batch}}, [&](taskmill::Connection& c) {
      auto r = !combine
          ? c.exec(std::string(kColumns) + "FROM taskmill.dequeue($1, $2, $3::interval) t", queue, batch, vt)
          : c.exec(std::string(kColumns) +
                       "FROM taskmill.ack_dequeue($1, $2, $3::interval, $4::bigint[], $5::uuid[], NULL, "
                       "$6::bigint[], $7::uuid[], NULL) t",
                   queue, batch, vt, array_of(acks, false), array_of(acks, true),
                   array_of(nacks, false), array_of(nacks, true));
      Json tasks = Json::array();
      double t = 0;
      for (int i = 0; i < r.rows(); ++i) {
        Claimed cl{r.get_int64(i, 0), std::string(r.get(i, 1)), std::string(r.get(i, 2)),
                   r.opt(i, 3), static_cast<int>(r.get_int64(i, 4)),
                   static_cast<int>(r.get_int64(i, 5))};
        Json tj = {{"id", cl.id}, {"key", cl.key}, {"lease", cl.lease},
                   {"attempts", cl.attempts}, {"max_attempts", cl.max_attempts},
                   {"visible", to_d(r.get(i, 6))}};
        if (cl.group) tj["group"] = *cl.group;
        tasks.push_back(tj);
        t = to_d(r.get(i, 7));
        claimed.push_back(std::move(cl));
      }
      Json out = {{"tasks", tasks}};
      if (r.rows() > 0) out["t"] = t;
      return out;
    });
    if (combine) {
      // ack_dequeue reports no outcome per delivery (a stale lease is skipped): applied or
      // not is unknown, unless the statement failed (rolled back) or was never sent.
      std::string kind = last_outcome == "fail" || last_outcome.empty() ? "fail" : "unknown";
      for (size_t i = 0; i < sent.size(); ++i)
        h.write(sent[i].first, sent[i].second, kind, sent_recs[i]);
      acks.clear();
      nacks.clear();
    }
    if (!got || claimed.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(idle_ms));
      continue;
    }
    for (auto& t : claimed) {
      if (g_stop.load()) break;  // the rest come back after their visibility timeout
      if (u(rng) < release_rate) {
        // "cancel": give the claim back without running it.
        on_claim("release", t,
                 "SELECT taskmill.release(ARRAY[$1]::bigint[], ARRAY[$2]::uuid[]), "
                 "extract(epoch from now())::text",
                 [](auto& r) { return r.get_int64(0, 0) == 1; });
        continue;
      }
      if (work_ms > 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(rng() % (work_ms + 1)));
      if (u(rng) < extend_rate) {
        step("extend", lease_rec(t), [&](taskmill::Connection& c) {
          auto r = c.exec(
              "SELECT taskmill.extend_visibility($1, $2::uuid, $3::interval), "
              "extract(epoch from now())::text, extract(epoch from now() + $3::interval)::text",
              static_cast<long long>(t.id), t.lease, vt);
          return Json{{"res", r.get_bool(0, 0)}, {"t", to_d(r.get(0, 1))},
                      {"visible", to_d(r.get(0, 2))}};
        });
      }
      if (u(rng) < slow_rate)
        std::this_thread::sleep_for(std::chrono::milliseconds(vt_ms + 300));
      if (combine) {
        (u(rng) < fail_rate ? nacks : acks).push_back(t);
        continue;
      }
      if (u(rng) < fail_rate) {
        on_claim("nack", t,
                 "SELECT taskmill.nack($1, $2::uuid, 'chaos handler failure', '100 milliseconds'), "
                 "extract(epoch from now())::text",
                 [](auto& r) { return std::string(r.get(0, 0)); });
      } else {
        on_claim("ack", t, "SELECT taskmill.ack($1, $2::uuid), extract(epoch from now())::text",
                 [](auto& r) { return r.get_bool(0, 0); });
      }
    }
  }
  return 0;
}

// ---- scheduler (the library's taskmill::Scheduler) ---------------------------------------

int run_scheduler(const Args& a, History& h) {
  taskmill::Client client(a.get("conninfo"), taskmill::ClientOptions{.pool_size = 1});
  taskmill::Scheduler sched(client, a.get("queue", "cron"));
  const long interval_ms = a.num("interval-ms", 200);
  while (!g_stop.load()) {
    long seq = h.next_seq();
    try {
      int n = sched.run_once();
      if (n > 0) h.write(seq, "tick_run", "ok", Json{{"n", n}});
    } catch (const std::exception& e) {
      h.write(seq, "tick_run", outcome_of(e), Json{{"error", std::string(e.what()).substr(0, 200)}});
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
  }
  return 0;
}

// ---- libworker: the library's Worker and Enqueuer, nothing of our own ---------------------

int run_libworker(const Args& a, History& h) {
  const std::string queue = a.get("queue", "lib");
  const std::string prefix = a.get("prefix", "lib");
  const double rate = a.dbl("rate", 50);
  const long count = a.num("count", 1000000);
  taskmill::Client client(a.get("conninfo"), taskmill::ClientOptions{.pool_size = 4});
  taskmill::WorkerOptions wo;
  wo.concurrency = static_cast<int>(a.num("concurrency", 2));
  wo.batch_size = 10;
  wo.poll_interval = 200ms;
  wo.visibility_timeout = std::chrono::milliseconds(a.num("vt-ms", 3000));
  wo.on_error = [&](const std::string& msg) {
    h.write(h.next_seq(), "worker_error", "info", Json{{"error", msg.substr(0, 200)}});
  };
  taskmill::Worker worker(client, queue, wo);
  worker.register_task("chaos", [&](taskmill::TaskContext& ctx) {
    const auto& t = ctx.task();
    h.write(h.next_seq(), "handle", "ok",
            Json{{"id", t.id}, {"key", t.idempotency_key}, {"lease", t.lease},
                 {"attempts", t.attempts}});
  });
  worker.start();
  taskmill::Enqueuer enq(client, queue);
  auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < count && !g_stop.load() && !g_stop_producing.load(); ++i) {
    std::this_thread::sleep_until(
        t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                 std::chrono::duration<double>(i / rate)));
    std::string key = prefix + "-" + std::to_string(i);
    long seq = h.next_seq();
    h.write(seq, "enqueue", "invoke", Json{{"key", key}, {"max_attempts", 25}});
    taskmill::EnqueueOptions eo;
    eo.idempotency_key = key;
    eo.max_attempts = 25;
    try {
      int64_t id = enq.enqueue("chaos", Json{{"i", i}}, eo);
      h.write(seq, "enqueue", "ok", Json{{"key", key}, {"id", id}, {"max_attempts", 25}});
    } catch (const std::exception& e) {
      h.write(seq, "enqueue", outcome_of(e),
              Json{{"key", key}, {"max_attempts", 25}, {"error", std::string(e.what()).substr(0, 200)}});
    }
  }
  while (!g_stop.load()) std::this_thread::sleep_for(50ms);
  try {
    worker.stop();
  } catch (const std::exception&) {
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: chaos_client producer|worker|scheduler|libworker --history F --proc P [--key value ...]\n");
    return 2;
  }
  std::string mode = argv[1];
  Args a;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0) {
      std::fprintf(stderr, "bad argument %s\n", argv[i]);
      return 2;
    }
    a.kv[k.substr(2)] = argv[i + 1];
  }
  struct sigaction sa {};
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  struct sigaction su {};
  su.sa_handler = on_usr1;
  sigaction(SIGUSR1, &su, nullptr);
  signal(SIGPIPE, SIG_IGN);
  History h(a.get("history", "/dev/stdout"), a.get("proc", mode));
  if (mode == "producer") return run_producer(a, h);
  if (mode == "worker") return run_worker(a, h);
  if (mode == "scheduler") return run_scheduler(a, h);
  if (mode == "libworker") return run_libworker(a, h);
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
