// `taskmill-bench report`: merge taskmill's and the peers' JSON lines into one JSON file
// (an array, one object per measurement), a Markdown summary with each target's verdict,
// and gnuplot data files. One member function per section of the table.
#include <algorithm>
#include <fstream>
#include <functional>
#include <sstream>

#include "common.hpp"
#include "workloads.hpp"

namespace bench {

namespace {

std::vector<Json> load_lines(const std::string& path) {
  std::vector<Json> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] != '{') continue;
    try {
      out.push_back(Json::parse(line));
    } catch (...) {
    }
  }
  return out;
}

double num(const Json& j, const char* k) {
  if (!j.contains(k) || !j[k].is_number()) return NAN;
  return j[k].get<double>();
}

double median(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return std::isnan(x); }), v.end());
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

std::string fmt(double x, int prec = 0) {
  if (std::isnan(x)) return "–";
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(prec);
  s << x;
  std::string r = s.str();
  if (prec == 0 && std::fabs(x) >= 1000) {  // thin-space thousands
    std::string sign = r[0] == '-' ? "-" : "";
    std::string d = sign.empty() ? r : r.substr(1);
    std::string o;
    for (size_t i = 0; i < d.size(); ++i) {
      if (i && (d.size() - i) % 3 == 0) o += ' ';
      o += d[i];
    }
    r = sign + o;
  }
  return r;
}

std::string verdict(int met) { return met < 0 ? "–" : met ? "**yes**" : "**no**"; }
// -1 when either side is missing, else whether a >= k * b
int at_least(double a, double k, double b) { return std::isnan(a) || std::isnan(b) ? -1 : a >= k * b; }

using Pred = std::function<bool(const Json&)>;
using Peer = std::pair<std::string, double>;  // name, value ("" / NAN: none)

bool is(const Json& r, const char* k, const std::string& v) {
  return r.contains(k) && r[k].is_string() && r[k].get<std::string>() == v;
}
bool isn(const Json& r, const char* k, double v) { return r.contains(k) && r[k].is_number() && r[k].get<double>() == v; }
bool flag(const Json& r, const char* k) { return r.contains(k) && r[k].is_boolean() && r[k].get<bool>(); }

const std::vector<std::string> kPeers = {"graphile-worker", "pg-boss", "pgq"};

class Report {
 public:
  Report(std::vector<Json> rows, long process_n) : rows_(std::move(rows)), pn_(process_n) {
    md_ << "| workload | taskmill | best peer | taskmill / best peer | pgbench reference | taskmill / pgbench | target | met |\n";
    md_ << "|---|---|---|---|---|---|---|---|\n";
  }
  void enqueue();
  void dequeue();
  void process();
  void latency();
  void depth();
  void fifo();
  void soak();
  void pgbench_limits();
  void scaling();
  std::string markdown() const { return md_.str(); }
  const Json& verdicts() const { return verdicts_; }
  std::string depth_dat() const { return depth_dat_.str(); }
  std::string soak_dat() const { return soak_dat_.str(); }
  std::string scale_dat() const { return scale_dat_.str(); }

 private:
  std::vector<Json> sel(const Pred& p) const {
    std::vector<Json> v;
    for (auto& r : rows_)
      if (!r.contains("error") && p(r)) v.push_back(r);
    return v;
  }
  double med_of(const Pred& p, const char* key) const {
    std::vector<double> v;
    for (auto& r : sel(p)) v.push_back(num(r, key));
    return median(v);
  }
  // best peer: median per peer, then the best of those
  Peer best_peer(const std::vector<std::string>& names, const Pred& p, const char* key, bool lower_better = false) const {
    Peer best{"", NAN};
    for (auto& name : names) {
      double m = med_of([&](const Json& r) { return is(r, "peer", name) && p(r); }, key);
      if (std::isnan(m)) continue;
      if (std::isnan(best.second) || (lower_better ? m < best.second : m > best.second)) best = {name, m};
    }
    return best;
  }
  // taskmill figure: median per impl; the client library's figure when it exists
  double tm(const Pred& p, const char* key, std::string* impl_out = nullptr) const {
    for (const char* impl : {"client", "libpq", "libpq-loop"}) {
      double m = med_of([&](const Json& r) { return is(r, "peer", "taskmill") && is(r, "impl", impl) && p(r); }, key);
      if (!std::isnan(m)) {
        if (impl_out) *impl_out = impl;
        return m;
      }
    }
    return NAN;
  }
  double ref(const std::string& w, int clients, const char* key = "jobs_per_s") const {
    return med_of([&](const Json& r) { return is(r, "peer", "pgbench-ref") && is(r, "workload", w) && isn(r, "clients", clients); },
                  key);
  }
  void row(const std::string& name, double t, const std::string& impl, Peer bp, const std::string& refname, double rf,
           const std::string& target, int met, bool latency = false) {
    int prec = latency ? 3 : 0;
    std::string unit = latency ? " ms" : "/s";
    md_ << "| " << name << " | " << fmt(t, prec) << unit << (impl.empty() ? "" : " (" + impl + ")") << " | "
        << (bp.first.empty() ? "–" : bp.first + " " + fmt(bp.second, prec) + unit) << " | "
        << (std::isnan(bp.second) || std::isnan(t) ? "–" : fmt(t / bp.second, 2) + "x") << " | "
        << (refname.empty() ? "–" : refname + " " + fmt(rf, prec) + unit) << " | "
        << (std::isnan(rf) || std::isnan(t) ? "–" : fmt(100.0 * t / rf, 0) + " %") << " | " << target << " | "
        << verdict(met) << " |\n";
    verdicts_.push_back({{"workload", name}, {"taskmill", t}, {"impl", impl}, {"best_peer", bp.first},
                         {"best_peer_value", bp.second}, {"reference", refname}, {"reference_value", rf},
                         {"target", target}, {"met", met}});
  }
  // a row whose figure is a sentence (no peer or reference columns)
  void note_row(const std::string& name, const std::string& text, const std::string& target = "–", int met = -1) {
    md_ << "| " << name << " | " << text << " | – | – | – | – | " << target << " | " << verdict(met) << " |\n";
    if (met >= 0) verdicts_.push_back({{"workload", name}, {"result", text}, {"target", target}, {"met", met}});
  }

  std::vector<Json> rows_;
  long pn_;
  std::ostringstream md_, depth_dat_, soak_dat_, scale_dat_;
  Json verdicts_ = Json::array();
};

void Report::enqueue() {
  std::string impl;
  // one per tx against the peers (separate runs, minutes apart: no verdict here) ...
  for (int c : {1, 4}) {
    auto p = [&](const Json& r) { return is(r, "workload", "enqueue_single") && isn(r, "clients", c); };
    row("enqueue, 1 task/tx, " + std::to_string(c) + " client" + (c > 1 ? "s" : ""), tm(p, "jobs_per_s", &impl), impl,
        best_peer(kPeers, p, "jobs_per_s"), "pgbench INSERT 1/tx", ref("ref_insert1", c), "–", -1);
  }
  // ... and against pgbench's INSERT interleaved in one pgbench run (transactions drawn at
  // random from both scripts, so both see the same disk): the ratio of mean latencies is
  // the throughput ratio, and the target's verdict
  for (int c : {1, 4}) {
    auto v = sel([&](const Json& r) { return is(r, "peer", "taskmill") && is(r, "workload", "enqueue_ratio") && isn(r, "clients", c); });
    if (v.empty()) continue;
    std::vector<double> ratios;
    for (auto& r : v) ratios.push_back(num(r, "ratio"));
    std::sort(ratios.begin(), ratios.end());
    double ratio = ratios[ratios.size() / 2];
    auto& r = v.back();
    md_ << "| enqueue 1/tx vs pgbench INSERT 1/tx, interleaved in one pgbench run, " << c << " client" << (c > 1 ? "s" : "")
        << " | " << fmt(num(r, "taskmill_latency_ms"), 3) << " ms/tx | – | – | INSERT " << fmt(num(r, "ref_latency_ms"), 3)
        << " ms/tx | " << fmt(100 * ratio, 0) << " % | >= 90 % of pgbench | " << verdict(ratio >= 0.9) << " |\n";
    verdicts_.push_back({{"workload", "enqueue_ratio"}, {"clients", c}, {"ratio", ratio}, {"target", ">= 90 %"},
                         {"met", ratio >= 0.9}});
  }
  auto p = [&](const Json& r) { return is(r, "workload", "enqueue_batch"); };
  double t = tm(p, "jobs_per_s", &impl);
  auto bp = best_peer(kPeers, p, "jobs_per_s");
  row("enqueue, batches of 1000", t, impl, bp, "pgbench unnest INSERT 1000", ref("ref_insert_batch1000_unnest", 1),
      ">= 2x best peer", at_least(t, 2, bp.second));
  double single = tm([&](const Json& r) { return is(r, "workload", "enqueue_single") && isn(r, "clients", 1); }, "jobs_per_s");
  if (!std::isnan(single) && !std::isnan(t))
    md_ << "| batch 1000 vs one by one (1 client) | " << fmt(t / single, 1) << "x | | | | | | |\n";
}

void Report::dequeue() {
  std::string impl;
  auto deq = [&](const char* w, long batch) {
    return tm([&](const Json& r) { return is(r, "workload", w) && isn(r, "batch", batch) && isn(r, "clients", 1); }, "jobs_per_s",
              &impl);
  };
  double t = deq("dequeue", 1);
  row("dequeue (claim only), batch 1", t, impl, {"", NAN}, "pgbench SKIP LOCKED update 1", ref("ref_dequeue1", 1), "–", -1);
  t = deq("dequeue", 100);
  row("dequeue (claim only), batch 100", t, impl, {"", NAN}, "", NAN, "–", -1);
  t = deq("dequeue_ack", 100);
  row("dequeue + ack, batch 100", t, impl, {"", NAN}, "pgbench dequeue+delete 100/stmt", ref("ref_dequeue_delete_batch100", 1),
      "–", -1);
}

// process at the process N: taskmill's best setting vs each peer's best
void Report::process() {
  for (bool eph : {false, true}) {
    std::string w = eph ? "process_ephemeral" : "process";
    auto at_n = [&](const Json& r) { return is(r, "peer", "taskmill") && is(r, "workload", w) && isn(r, "n", pn_); };
    bool any_client = !sel([&](const Json& r) { return at_n(r) && is(r, "impl", "client"); }).empty();
    double t = NAN;
    std::string timpl, tset;
    for (auto& r : sel([&](const Json& r) { return at_n(r) && (!any_client || is(r, "impl", "client")); }))
      if (std::isnan(t) || num(r, "jobs_per_s") > t) {
        t = num(r, "jobs_per_s");
        timpl = r.value("impl", "");
        tset = r["settings"].dump();
      }
    auto bp = best_peer({"graphile-worker", "pg-boss"}, [&](const Json& r) { return is(r, "workload", "process") && isn(r, "n", pn_); },
                        "jobs_per_s");
    row(std::string("process no-op, real Worker, N=") + std::to_string(pn_) + (eph ? ", ephemeral" : ", results kept"), t, timpl,
        bp, "pgbench dequeue+delete 100/stmt", ref("ref_dequeue_delete_batch100", 1), ">= 2x best peer",
        at_least(t, 2, bp.second));
    if (!tset.empty()) md_ << "| ↳ taskmill best setting | `" << tset << "` | | | | | | |\n";
    if (!any_client) continue;
    // the same N on raw libpq: dequeue + ack_many (2 tx per batch) and ack_dequeue (1 tx)
    for (bool combined : {false, true}) {
      double raw = NAN;
      long raw_batch = 0, raw_conns = 0;
      for (auto& r : sel([&](const Json& r) { return at_n(r) && is(r, "impl", "libpq-loop") && flag(r, "combined") == combined; }))
        if (std::isnan(raw) || num(r, "jobs_per_s") > raw) {
          raw = num(r, "jobs_per_s");
          raw_batch = static_cast<long>(num(r, "batch"));
          raw_conns = static_cast<long>(num(r, "workers"));
        }
      if (std::isnan(raw)) continue;
      md_ << "| ↳ same N, libpq loop (" << (combined ? "ack_dequeue " : "dequeue + ack_many, ") << raw_batch << ", "
          << raw_conns << " connections) | " << fmt(raw) << "/s | | "
          << (std::isnan(bp.second) ? "–" : fmt(raw / bp.second, 2) + "x") << " | | | | |\n";
    }
  }
}

void Report::latency() {
  std::string impl;
  auto p = [&](const Json& r) { return is(r, "workload", "latency"); };
  double t50 = tm(p, "p50_ms", &impl), t99 = tm(p, "p99_ms");
  row("enqueue commit -> handler start, p50", t50, impl, best_peer({"graphile-worker", "pg-boss"}, p, "p50_ms", true), "", NAN,
      "<= 0.4 ms", std::isnan(t50) ? -1 : t50 <= 0.4, true);
  row("enqueue commit -> handler start, p99", t99, impl, best_peer({"graphile-worker", "pg-boss"}, p, "p99_ms", true), "", NAN,
      "<= 1.0 ms", std::isnan(t99) ? -1 : t99 <= 1.0, true);
}

void Report::depth() {
  auto d = [&](long depth, const std::string& variant, const char* key = "p50_ms") {
    return tm([&](const Json& r) { return is(r, "workload", "dequeue_depth") && isn(r, "depth", depth) && is(r, "variant", variant); },
              key);
  };
  double d1k = d(1000, "available"), d1m = d(1000000, "available");
  note_row("dequeue(1) p50 at depth 1M / at 1k",
           fmt(d1m, 3) + " / " + fmt(d1k, 3) + " ms = " + fmt(d1m / d1k, 2) + "x", "<= 1.5x",
           std::isnan(d1m) || std::isnan(d1k) ? -1 : d1m <= 1.5 * d1k);
  // beside waiting tasks: the 100k-available figure is the baseline
  double base = d(100000, "available");
  for (auto& r : sel([&](const Json& r) { return is(r, "peer", "taskmill") && is(r, "workload", "dequeue_depth"); })) {
    std::string v = r.value("variant", "");
    bool retry = v.rfind("plus_retrying_", 0) == 0, sched = v.rfind("plus_scheduled_", 0) == 0;
    long waiting = retry || sched ? std::stol(v.substr(v.rfind('_') + 1)) : 0;
    if (waiting < 1000000) continue;
    double p50 = num(r, "p50_ms");
    note_row("dequeue(1) p50, " + fmt(num(r, "depth")) + " available + " + fmt((double)waiting) +
                 (retry ? " waiting for a retry" : " scheduled for later") + " / " + fmt(num(r, "depth")) + " alone",
             fmt(p50, 3) + " / " + fmt(base, 3) + " ms = " + fmt(p50 / base, 2) + "x", "<= 1.5x",
             std::isnan(base) || std::isnan(p50) ? -1 : p50 <= 1.5 * base);
  }
  for (long dep : {1000L, 10000L, 100000L, 1000000L}) {
    double p50 = d(dep, "available");
    if (!std::isnan(p50)) depth_dat_ << dep << " " << p50 << " " << d(dep, "available", "p99_ms") << "\n";
  }
}

// FIFO groups: the 2-transaction loop and the ack_dequeue loop, against pgbench's claim +
// delete (2 tx per job, 1 client), the same loop without groups and Graphile Worker's
// named queues (workload "fifo" of the peers' harness, when it has one)
void Report::fifo() {
  // backoff: the idle loops back off as the Worker does (--empty-backoff-max-us)
  auto f = [&](long g, int w, bool combined, const char* k, bool backoff = false) {
    return tm([&](const Json& r) {
      const bool bo = r.contains("empty_backoff_max_us") && r["empty_backoff_max_us"].is_number() &&
                      r["empty_backoff_max_us"].get<double>() > 0;
      return is(r, "workload", "fifo") && isn(r, "groups", g) && isn(r, "workers", w) &&
             flag(r, "combined") == combined && bo == backoff;
    }, k);
  };
  auto gw = [&](long g, int w) {
    return best_peer({"graphile-worker"},
                     [&](const Json& r) { return is(r, "workload", "fifo") && isn(r, "groups", g) && isn(r, "workers", w); },
                     "jobs_per_s");
  };
  for (bool combined : {false, true})
    for (auto [g, w] : std::vector<std::pair<long, int>>{{1, 1}, {1, 4}, {1000, 4}, {0, 4}})
      if (!std::isnan(f(g, w, combined, "jobs_per_s")))
        note_row(std::string("FIFO ") + (combined ? "ack_dequeue loop" : "dequeue + ack_many loop") + ", " + std::to_string(w) +
                     " worker" + (w > 1 ? "s" : "") + ", " +
                     (g == 0 ? std::string("no groups") : g == 1 ? std::string("1 hot group") : std::to_string(g) + " groups") +
                     " (N=" + fmt(f(g, w, combined, "n")) + ")",
                 fmt(f(g, w, combined, "jobs_per_s")) + "/s; lock wait " + fmt(100 * f(g, w, combined, "lock_wait_fraction"), 1) +
                     " %; dequeue p50 " + fmt(f(g, w, combined, "dequeue_p50_ms"), 2) + " / p99 " +
                     fmt(f(g, w, combined, "dequeue_p99_ms"), 2) + " ms; empty dequeues " +
                     fmt(f(g, w, combined, "empty_dequeues")));
  if (!std::isnan(f(1, 4, true, "jobs_per_s", true)))
    note_row("FIFO ack_dequeue loop, 4 workers, 1 hot group, idle loops backing off (N=" + fmt(f(1, 4, true, "n", true)) + ")",
             fmt(f(1, 4, true, "jobs_per_s", true)) + "/s; dequeue p50 " + fmt(f(1, 4, true, "dequeue_p50_ms", true), 2) +
                 " ms; empty dequeues " + fmt(f(1, 4, true, "empty_dequeues", true)));
  double hot1 = f(1, 1, true, "jobs_per_s"), hot4 = f(1, 4, true, "jobs_per_s", true);
  double many = f(1000, 4, true, "jobs_per_s"), plain = f(0, 4, true, "jobs_per_s");
  double cycle = ref("ref_cycle1", 1);
  Peer g1 = gw(1, 1), g1000 = gw(1000, 4);
  row("hot FIFO group, 1 worker (ack_dequeue)", hot1, "libpq", g1, "pgbench claim + delete 2 tx/job", cycle,
      ">= 80 % of pgbench and >= 2x Graphile one named queue",
      std::isnan(hot1) || std::isnan(cycle) ? -1 : hot1 >= 0.8 * cycle && at_least(hot1, 2, g1.second) != 0);
  row("hot FIFO group, 4 workers (ack_dequeue, idle loops back off)", hot4, "libpq", gw(1, 4), "", NAN, ">= the 1-worker figure",
      at_least(hot4, 1, hot1));
  row("1,000 groups, 4 workers (ack_dequeue)", many, "libpq", g1000, "same loop, no groups", plain,
      ">= 60 % of no groups and >= 2x Graphile 1,000 named queues",
      std::isnan(many) || std::isnan(plain) ? -1 : many >= 0.6 * plain && at_least(many, 2, g1000.second) != 0);
}

void Report::soak() {
  auto v = sel([&](const Json& r) { return is(r, "peer", "taskmill") && is(r, "workload", "soak"); });
  if (v.empty()) return;
  auto& s = v.back();
  auto& ser = s["series"];
  for (auto& pt : ser)
    soak_dat_ << pt["t_s"].get<double>() << " " << pt["jobs_per_s"].get<double>() << " "
              << pt["tasks_heap_bytes"].get<double>() / 1048576.0 << " " << pt["tasks_index_bytes"].get<double>() / 1048576.0
              << " " << pt["backlog"].get<double>() << "\n";
  if (ser.size() < 2) return;
  // throughput: second interval (after warm-up) vs last; size: at two thirds vs last, and
  // the largest size after the first minute against the 16 MB target
  auto& a = ser[ser.size() > 2 ? 1 : 0];
  auto& b = ser.back();
  auto& m = ser[ser.size() * 2 / 3];
  auto size = [](const Json& pt) { return pt["tasks_heap_bytes"].get<double>() + pt["tasks_index_bytes"].get<double>(); };
  double tput_ratio = b["jobs_per_s"].get<double>() / std::max(1.0, a["jobs_per_s"].get<double>());
  double size_a = size(m), size_b = size(b), peak = 0;
  for (auto& pt : ser)
    if (pt["t_s"].get<double>() >= 60) peak = std::max(peak, size(pt));
  bool flat = tput_ratio > 0.9 && tput_ratio < 1.1 && size_b <= 1.2 * std::max(size_a, 1.0 * 8192 * 16);
  bool small = peak <= 16.0 * 1048576;
  // the target is about a 10-minute soak; a shorter one is mostly warm-up
  bool judged = s["minutes"].get<double>() >= 10;
  note_row("soak " + fmt(s["minutes"].get<double>(), 1) + " min at " + std::to_string(s["target_rate"].get<long>()) + "/s",
           "last/first interval throughput " + fmt(tput_ratio, 2) + "x; tasks heap+indexes at 2/3 of the run " +
               fmt(size_a / 1048576.0, 1) + " -> end " + fmt(size_b / 1048576.0, 1) + " MB, largest after 60 s " +
               fmt(peak / 1048576.0, 1) + " MB" + (s.contains("vacuum_worker") ? ", vacuum worker " + s["vacuum_worker"].dump() : ""),
           "flat, <= 16 MB", judged ? (flat && small ? 1 : 0) : -1);
}

void Report::pgbench_limits() {
  md_ << "\n| pgbench limit | 1 client | 4 clients |\n|---|---|---|\n";
  for (auto [w, label] : std::vector<std::pair<std::string, std::string>>{
           {"ref_select1", "SELECT 1 (round trip)"}, {"ref_insert_row", "INSERT 1 row/tx (commit rate)"},
           {"ref_insert1", "INSERT 1 job/tx into a queue table"}, {"ref_dequeue1", "SKIP LOCKED claim 1/tx"},
           {"ref_cycle1", "claim + delete, 2 tx per job"}, {"ref_insert_batch1000_unnest", "INSERT 1000 jobs/tx (jobs/s)"},
           {"ref_dequeue_delete_batch100", "claim+delete 100/stmt (jobs/s)"}})
    md_ << "| " << label << " | " << fmt(ref(w, 1)) << " | " << fmt(ref(w, 4)) << " |\n";
}

void Report::scaling() {
  for (int w = 1; w <= 64; ++w) {
    auto get = [&](const char* wl) {
      return tm([&](const Json& r) { return is(r, "workload", wl) && isn(r, "workers", w) && is(r, "curve", "yes"); },
                "jobs_per_s");
    };
    double k = get("process"), e = get("process_ephemeral");
    if (!std::isnan(k) || !std::isnan(e)) scale_dat_ << w << " " << (std::isnan(k) ? 0 : k) << " " << (std::isnan(e) ? 0 : e) << "\n";
  }
}

}  // namespace

int report(const Opts& o) {
  std::vector<Json> rows;
  {
    std::stringstream ss(o.get("in"));
    std::string p;
    while (std::getline(ss, p, ',')) {
      auto v = load_lines(p);
      rows.insert(rows.end(), v.begin(), v.end());
    }
  }
  Json meta = Json::parse(o.get("meta", "{}"));
  {  // the JSON result file: one object per measurement
    std::ofstream f(o.get("json-out"));
    Json all = Json::array();
    for (auto& r : rows) all.push_back(r);
    f << Json{{"meta", meta}, {"measurements", all}}.dump(1) << "\n";
  }
  Report rep(std::move(rows), o.num("process-n", 200000));
  rep.enqueue();
  rep.dequeue();
  rep.process();
  rep.latency();
  rep.depth();
  rep.fifo();
  rep.soak();
  rep.pgbench_limits();
  rep.scaling();
  std::string dir = o.get("dat-dir", ".");
  std::ofstream(dir + "/scaling.dat") << rep.scale_dat();
  std::ofstream(dir + "/depth.dat") << rep.depth_dat();
  std::ofstream(dir + "/soak.dat") << rep.soak_dat();
  std::ofstream(o.get("md-out")) << rep.markdown();
  std::ofstream(o.get("json-out") + ".verdicts") << rep.verdicts().dump(1) << "\n";
  std::cout << rep.markdown();
  return 0;
}

}  // namespace bench
