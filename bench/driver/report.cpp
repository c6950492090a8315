// `taskmill-bench report`: merge taskmill's and the peers' JSON lines into one JSON file
// (an array, one object per measurement), a Markdown summary and gnuplot data files.
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

using Pred = std::function<bool(const Json&)>;

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
  // ---- the JSON result file: one object per measurement
  {
    std::ofstream f(o.get("json-out"));
    Json all = Json::array();
    for (auto& r : rows) all.push_back(r);
    f << Json{{"meta", meta}, {"measurements", all}}.dump(1) << "\n";
  }
  auto sel = [&](const Pred& p) {
    std::vector<Json> v;
    for (auto& r : rows)
      if (!r.contains("error") && p(r)) v.push_back(r);
    return v;
  };
  auto med_of = [&](const Pred& p, const char* key) {
    std::vector<double> v;
    for (auto& r : sel(p)) v.push_back(num(r, key));
    return median(v);
  };
  auto is = [](const Json& r, const char* k, const std::string& v) {
    return r.contains(k) && r[k].is_string() && r[k].get<std::string>() == v;
  };
  auto isn = [](const Json& r, const char* k, double v) { return r.contains(k) && r[k].is_number() && r[k].get<double>() == v; };
  const std::vector<std::string> peers = {"graphile-worker", "pg-boss", "pgq"};
  // best peer: median per peer, then the best of those
  auto best_peer = [&](const std::vector<std::string>& names, const Pred& p, const char* key, bool lower_better) {
    std::pair<std::string, double> best{"", NAN};
    for (auto& name : names) {
      double m = med_of([&](const Json& r) { return is(r, "peer", name) && p(r); }, key);
      if (std::isnan(m)) continue;
      if (std::isnan(best.second) || (lower_better ? m < best.second : m > best.second)) best = {name, m};
    }
    return best;
  };
  // taskmill figure: median per impl; the client library's figure when it exists
  auto tm = [&](const Pred& p, const char* key, std::string* impl_out = nullptr) {
    for (const char* impl : {"client", "libpq", "libpq-loop"}) {
      double m = med_of([&](const Json& r) { return is(r, "peer", "taskmill") && is(r, "impl", impl) && p(r); }, key);
      if (!std::isnan(m)) {
        if (impl_out) *impl_out = impl;
        return m;
      }
    }
    return (double)NAN;
  };
  auto ref = [&](const std::string& w, int clients, const char* key = "jobs_per_s") {
    return med_of([&](const Json& r) { return is(r, "peer", "pgbench-ref") && is(r, "workload", w) && isn(r, "clients", clients); },
                  key);
  };

  std::ostringstream md;
  md << "| workload | taskmill | best peer | taskmill / best peer | pgbench reference | taskmill / pgbench | target | met |\n";
  md << "|---|---|---|---|---|---|---|---|\n";
  Json verdicts = Json::array();
  auto row = [&](const std::string& name, double t, const std::string& impl, std::pair<std::string, double> bp,
                 const std::string& refname, double rf, const std::string& target, int met /* -1 n/a */,
                 bool latency = false) {
    int prec = latency ? 3 : 0;
    std::string unit = latency ? " ms" : "/s";
    md << "| " << name << " | " << fmt(t, prec) << unit << (impl.empty() ? "" : " (" + impl + ")") << " | "
       << (bp.first.empty() ? "–" : bp.first + " " + fmt(bp.second, prec) + unit) << " | "
       << (std::isnan(bp.second) || std::isnan(t) ? "–" : fmt(t / bp.second, 2) + "x") << " | "
       << (refname.empty() ? "–" : refname + " " + fmt(rf, prec) + unit) << " | "
       << (std::isnan(rf) || std::isnan(t) ? "–" : fmt(100.0 * t / rf, 0) + " %") << " | " << target << " | "
       << (met < 0 ? "–" : met ? "**yes**" : "**no**") << " |\n";
    verdicts.push_back({{"workload", name}, {"taskmill", t}, {"impl", impl}, {"best_peer", bp.first},
                        {"best_peer_value", bp.second}, {"reference", refname}, {"reference_value", rf},
                        {"target", target}, {"met", met}});
  };
  std::string impl;
  // enqueue one per tx: against the peers (separate runs, minutes apart: the commit rate of
  // this shared disk moves a lot between them, so no verdict here) ...
  for (int c : {1, 4}) {
    auto p = [&](const Json& r) { return is(r, "workload", "enqueue_single") && isn(r, "clients", c); };
    double t = tm(p, "jobs_per_s", &impl);
    double rf = ref("ref_insert1", c);
    row("enqueue, 1 task/tx, " + std::to_string(c) + " client" + (c > 1 ? "s" : ""), t, impl,
        best_peer(peers, p, "jobs_per_s", false), "pgbench INSERT 1/tx", rf, "–", -1);
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
    md << "| enqueue 1/tx vs pgbench INSERT 1/tx, interleaved in one pgbench run, " << c << " client" << (c > 1 ? "s" : "")
       << " | " << fmt(num(r, "taskmill_latency_ms"), 3) << " ms/tx | – | – | INSERT " << fmt(num(r, "ref_latency_ms"), 3)
       << " ms/tx | " << fmt(100 * ratio, 0) << " % | >= 90 % of pgbench | " << (ratio >= 0.9 ? "**yes**" : "**no**") << " |\n";
    verdicts.push_back({{"workload", "enqueue_ratio"}, {"clients", c}, {"ratio", ratio}, {"target", ">= 90 %"},
                        {"met", ratio >= 0.9}});
  }
  {
    auto p = [&](const Json& r) { return is(r, "workload", "enqueue_batch"); };
    double t = tm(p, "jobs_per_s", &impl);
    auto bp = best_peer(peers, p, "jobs_per_s", false);
    row("enqueue, batches of 1000", t, impl, bp, "pgbench unnest INSERT 1000", ref("ref_insert_batch1000_unnest", 1),
        ">= 2x best peer", std::isnan(bp.second) || std::isnan(t) ? -1 : t >= 2 * bp.second);
    double single = tm([&](const Json& r) { return is(r, "workload", "enqueue_single") && isn(r, "clients", 1); }, "jobs_per_s");
    if (!std::isnan(single) && !std::isnan(t))
      md << "| batch 1000 vs one by one (1 client) | " << fmt(t / single, 1) << "x | | | | | | |\n";
  }
  // dequeue
  {
    double t = tm([&](const Json& r) { return is(r, "workload", "dequeue") && isn(r, "batch", 1) && isn(r, "clients", 1); },
                  "jobs_per_s", &impl);
    row("dequeue (claim only), batch 1", t, impl, {"", NAN}, "pgbench SKIP LOCKED update 1", ref("ref_dequeue1", 1), "–", -1);
    t = tm([&](const Json& r) { return is(r, "workload", "dequeue") && isn(r, "batch", 100) && isn(r, "clients", 1); },
           "jobs_per_s", &impl);
    row("dequeue (claim only), batch 100", t, impl, {"", NAN}, "", NAN, "–", -1);
    t = tm([&](const Json& r) { return is(r, "workload", "dequeue_ack") && isn(r, "batch", 100) && isn(r, "clients", 1); },
           "jobs_per_s", &impl);
    row("dequeue + ack, batch 100", t, impl, {"", NAN}, "pgbench dequeue+delete 100/stmt",
        ref("ref_dequeue_delete_batch100", 1), "–", -1);
  }
  // process at the process N: taskmill's best setting vs each peer's best
  long pn = o.num("process-n", 200000);
  for (bool eph : {false, true}) {
    std::string w = eph ? "process_ephemeral" : "process";
    double t = NAN;
    std::string timpl, tset;
    bool any_client = !sel([&](const Json& r) { return is(r, "peer", "taskmill") && is(r, "workload", w) && is(r, "impl", "client"); }).empty();
    for (auto& r : sel([&](const Json& r) {
           return is(r, "peer", "taskmill") && is(r, "workload", w) && isn(r, "n", pn) && (!any_client || is(r, "impl", "client"));
         })) {
      double v = num(r, "jobs_per_s");
      if (std::isnan(t) || v > t) {
        t = v;
        timpl = r.value("impl", "");
        tset = r["settings"].dump();
      }
    }
    auto bp = best_peer({"graphile-worker", "pg-boss"},
                        [&](const Json& r) { return is(r, "workload", "process") && isn(r, "n", pn); }, "jobs_per_s", false);
    row(std::string("process no-op, real Worker, N=") + std::to_string(pn) + (eph ? ", ephemeral" : ", results kept"), t,
        timpl, bp, "pgbench dequeue+delete 100/stmt", ref("ref_dequeue_delete_batch100", 1), ">= 2x best peer",
        std::isnan(bp.second) || std::isnan(t) ? -1 : t >= 2 * bp.second);
    if (!tset.empty()) md << "| ↳ taskmill best setting | `" << tset << "` | | | | | | |\n";
    double raw = NAN;
    long raw_batch = 0, raw_conns = 0;
    for (auto& r : sel([&](const Json& r) { return is(r, "peer", "taskmill") && is(r, "workload", w) && isn(r, "n", pn) && is(r, "impl", "libpq-loop"); }))
      if (std::isnan(raw) || num(r, "jobs_per_s") > raw) {
        raw = num(r, "jobs_per_s");
        raw_batch = static_cast<long>(num(r, "batch"));
        raw_conns = static_cast<long>(num(r, "workers"));
      }
    if (!std::isnan(raw) && any_client)
      md << "| ↳ same N, libpq loop (dequeue " << raw_batch << " + ack_many, " << raw_conns << " connections) | " << fmt(raw) << "/s | | "
         << (std::isnan(bp.second) ? "–" : fmt(raw / bp.second, 2) + "x") << " | | | | |\n";
  }
  // latency
  {
    auto p = [&](const Json& r) { return is(r, "workload", "latency"); };
    double t50 = tm(p, "p50_ms", &impl), t99 = tm(p, "p99_ms");
    row("enqueue commit -> handler start, p50", t50, impl, best_peer({"graphile-worker", "pg-boss"}, p, "p50_ms", true), "",
        NAN, "<= 0.5 ms", std::isnan(t50) ? -1 : t50 <= 0.5, true);
    row("enqueue commit -> handler start, p99", t99, impl, best_peer({"graphile-worker", "pg-boss"}, p, "p99_ms", true), "",
        NAN, "<= 1.5 ms", std::isnan(t99) ? -1 : t99 <= 1.5, true);
  }
  // depth
  std::ostringstream depth_dat;
  {
    auto d = [&](long depth, const std::string& variant) {
      return tm([&](const Json& r) { return is(r, "workload", "dequeue_depth") && isn(r, "depth", depth) && is(r, "variant", variant); },
                "p50_ms");
    };
    double d1k = d(1000, "available"), d1m = d(1000000, "available");
    {
      double ratio = d1m / d1k;
      int met = std::isnan(d1m) || std::isnan(d1k) ? -1 : d1m <= 1.5 * d1k;
      md << "| dequeue(1) p50 at depth 1M / at 1k | " << fmt(d1m, 3) << " / " << fmt(d1k, 3) << " ms = "
         << fmt(ratio, 2) << "x | – | – | – | – | <= 1.5x | " << (met < 0 ? "–" : met ? "**yes**" : "**no**") << " |\n";
      verdicts.push_back({{"workload", "dequeue_depth"}, {"ratio_1m_1k", ratio}, {"target", "<= 1.5x"}, {"met", met}});
    }
    for (long dep : {1000L, 10000L, 100000L, 1000000L}) {
      double p50 = d(dep, "available");
      double p99 = tm([&](const Json& r) { return is(r, "workload", "dequeue_depth") && isn(r, "depth", dep) && is(r, "variant", "available"); },
                      "p99_ms");
      if (!std::isnan(p50)) depth_dat << dep << " " << p50 << " " << p99 << "\n";
    }
  }
  // fifo
  {
    auto f = [&](long g, int w, const char* k) {
      return tm([&](const Json& r) { return is(r, "workload", "fifo") && isn(r, "groups", g) && isn(r, "workers", w); }, k);
    };
    for (auto [g, w] : std::vector<std::pair<long, int>>{{1, 1}, {1, 4}, {1000, 4}})
      if (!std::isnan(f(g, w, "jobs_per_s")))
        md << "| FIFO, " << w << " worker" << (w > 1 ? "s" : "") << ", " << (g == 1 ? std::string("1 hot group") : std::to_string(g) + " groups")
           << " (N=" << fmt(f(g, w, "n")) << ") | " << fmt(f(g, w, "jobs_per_s")) << "/s; lock wait "
           << fmt(100 * f(g, w, "lock_wait_fraction"), 1) << " % of worker time; dequeue p50 " << fmt(f(g, w, "dequeue_p50_ms"), 2)
           << " / p99 " << fmt(f(g, w, "dequeue_p99_ms"), 2) << " ms; empty dequeues " << fmt(f(g, w, "empty_dequeues"))
           << " | – | – | – | – | – | – |\n";
  }
  // soak
  std::ostringstream soak_dat;
  {
    auto v = sel([&](const Json& r) { return is(r, "peer", "taskmill") && is(r, "workload", "soak"); });
    if (!v.empty()) {
      auto& s = v.back();
      auto& ser = s["series"];
      for (auto& pt : ser)
        soak_dat << pt["t_s"].get<double>() << " " << pt["jobs_per_s"].get<double>() << " "
                 << pt["tasks_heap_bytes"].get<double>() / 1048576.0 << " " << pt["tasks_index_bytes"].get<double>() / 1048576.0
                 << " " << pt["backlog"].get<double>() << "\n";
      if (ser.size() >= 2) {
        // throughput: second interval (after warm-up) vs last; size: at two thirds vs last, so
        // the growth until the first autovacuum rounds is warm-up, and a plateau counts as flat
        auto& a = ser[ser.size() > 2 ? 1 : 0];
        auto& b = ser.back();
        auto& m = ser[ser.size() * 2 / 3];
        double tput_ratio = b["jobs_per_s"].get<double>() / std::max(1.0, a["jobs_per_s"].get<double>());
        double size_a = m["tasks_heap_bytes"].get<double>() + m["tasks_index_bytes"].get<double>();
        double size_b = b["tasks_heap_bytes"].get<double>() + b["tasks_index_bytes"].get<double>();
        bool flat = tput_ratio > 0.9 && tput_ratio < 1.1 && size_b <= 1.2 * std::max(size_a, 1.0 * 8192 * 16);
        // the target is about a 10-minute soak; a shorter one is mostly autovacuum's warm-up
        bool judged = s["minutes"].get<double>() >= 10;
        md << "| soak " << s["minutes"].get<double>() << " min at " << s["target_rate"].get<long>() << "/s | last/first interval "
           << "throughput " << fmt(tput_ratio, 2) << "x; tasks heap+index at 2/3 of the run " << fmt(size_a / 1048576.0, 1) << " -> end "
           << fmt(size_b / 1048576.0, 1) << " MB | – | – | – | – | flat over 10 min | "
           << (!judged ? "– (run --soak-minutes 10)" : flat ? "**yes**" : "**no**") << " |\n";
        verdicts.push_back({{"workload", "soak"}, {"throughput_ratio", tput_ratio}, {"size_first", size_a}, {"size_last", size_b},
                            {"met", judged ? (flat ? 1 : 0) : -1}});
      }
    }
  }
  // the commit-rate limit
  md << "\n| pgbench limit | 1 client | 4 clients |\n|---|---|---|\n";
  for (auto [w, label] : std::vector<std::pair<std::string, std::string>>{
           {"ref_select1", "SELECT 1 (round trip)"}, {"ref_insert_row", "INSERT 1 row/tx (commit rate)"},
           {"ref_insert1", "INSERT 1 job/tx into a queue table"}, {"ref_dequeue1", "SKIP LOCKED claim 1/tx"},
           {"ref_cycle1", "claim + delete, 2 tx per job"}, {"ref_insert_batch1000_unnest", "INSERT 1000 jobs/tx (jobs/s)"},
           {"ref_dequeue_delete_batch100", "claim+delete 100/stmt (jobs/s)"}})
    md << "| " << label << " | " << fmt(ref(w, 1)) << " | " << fmt(ref(w, 4)) << " |\n";
  // scaling data
  std::ostringstream scale_dat;
  for (int w = 1; w <= 64; ++w) {
    auto get = [&](const char* wl) {
      return tm([&](const Json& r) { return is(r, "workload", wl) && isn(r, "workers", w) && is(r, "curve", "yes"); },
                "jobs_per_s");
    };
    double k = get("process"), e = get("process_ephemeral");
    if (!std::isnan(k) || !std::isnan(e)) scale_dat << w << " " << (std::isnan(k) ? 0 : k) << " " << (std::isnan(e) ? 0 : e) << "\n";
  }
  {
    std::string dir = o.get("dat-dir", ".");
    std::ofstream(dir + "/scaling.dat") << scale_dat.str();
    std::ofstream(dir + "/depth.dat") << depth_dat.str();
    std::ofstream(dir + "/soak.dat") << soak_dat.str();
  }
  std::ofstream(o.get("md-out")) << md.str();
  std::ofstream(o.get("json-out") + ".verdicts") << verdicts.dump(1) << "\n";
  std::cout << md.str();
  return 0;
}

}  // namespace bench
