// Shared pieces of the benchmark driver: options, JSON output, percentile, prefill.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pg.hpp"

namespace bench {

using Json = nlohmann::json;

struct Opts {
  std::map<std::string, std::string> kv;
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  }
  long long num(const std::string& k, long long def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : std::stoll(it->second);
  }
  double dbl(const std::string& k, double def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : std::stod(it->second);
  }
  bool flag(const std::string& k) const { return kv.count(k) && kv.at(k) != "0" && kv.at(k) != "false"; }
  std::string conninfo() const { return get("conninfo", ""); }
  std::string queue() const { return get("queue", "bench"); }
};

inline std::mutex& out_mutex() {
  static std::mutex m;
  return m;
}
// One JSON line per measurement on stdout; progress goes to stderr.
inline void emit(Json j) {
  j["peer"] = "taskmill";
  std::lock_guard<std::mutex> g(out_mutex());
  std::cout << j.dump() << std::endl;
}
inline void logf(const std::string& s) {
  std::lock_guard<std::mutex> g(out_mutex());
  std::cerr << "[driver] " << s << std::endl;
}

inline double pct(std::vector<double> v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  long idx = (long)std::ceil(p / 100.0 * (double)v.size()) - 1;
  idx = std::max(0L, std::min((long)v.size() - 1, idx));
  return v[idx];
}
inline double r3(double x) { return std::round(x * 1000.0) / 1000.0; }

// Task spec for JSON batches.
struct Spec {
  bool ephemeral = false;
  long groups = 0;          // 0 = ungrouped; else task_group_id = g<i % groups>
  int max_attempts = 0;     // 0 = default
  std::string op = "noop";
};

inline std::string batch_json(long from, long n, const Spec& s) {
  std::string out;
  out.reserve((size_t)n * 64);
  out += '[';
  for (long k = 0; k < n; ++k) {
    if (k) out += ',';
    out += "{\"operation_id\":\"" + s.op + "\",\"payload\":{\"i\":" + std::to_string(from + k) + "}";
    if (s.ephemeral) out += ",\"ephemeral\":true";
    if (s.groups > 0) out += ",\"task_group_id\":\"g" + std::to_string((from + k) % s.groups) + "\"";
    if (s.max_attempts > 0) out += ",\"max_attempts\":" + std::to_string(s.max_attempts);
    out += '}';
  }
  out += ']';
  return out;
}

// Fill a queue with n tasks through taskmill.enqueue_batch, chunk at a time.
inline void prefill(Conn& c, const std::string& queue, long n, const Spec& s = {}, long chunk = 5000) {
  for (long i = 0; i < n; i += chunk) {
    long m = std::min(chunk, n - i);
    c.q("SELECT count(*) FROM (SELECT taskmill.enqueue_batch($1, $2::jsonb)) s", {queue, batch_json(i, m, s)});
  }
}

inline long long pending(Conn& c, const std::string& queue) {
  return std::stoll(c.scalar("SELECT count(*) FROM taskmill.tasks WHERE queue_name = $1 AND dlq_at IS NULL", {queue}));
}

inline void reset_tables(Conn& c) {
  c.exec("TRUNCATE taskmill.tasks, taskmill.task_results");
  c.exec("VACUUM ANALYZE taskmill.tasks");
  c.exec("VACUUM ANALYZE taskmill.task_results");
}

// Ack a set of delivered tasks in one round trip and one transaction.
inline long ack_all(Conn& c, const std::vector<std::string>& ids, const std::vector<std::string>& leases) {
  if (ids.empty()) return 0;
  std::string a = "{", b = "{";
  for (size_t k = 0; k < ids.size(); ++k) {
    if (k) {
      a += ',';
      b += ',';
    }
    a += ids[k];
    b += leases[k];
  }
  a += '}';
  b += '}';
  c.qp("ack_all", {a, b});
  return (long)ids.size();
}
inline void prepare_ack_all(Conn& c, bool ack_many) {
  if (ack_many)
    c.prepare("ack_all", "SELECT taskmill.ack_many($1::bigint[], $2::uuid[])", 2);
  else
    c.prepare("ack_all",
              "SELECT count(*) FILTER (WHERE taskmill.ack(x.id, x.lease)) FROM unnest($1::bigint[], $2::uuid[]) AS x(id, lease)",
              2);
}
inline bool has_function(Conn& c, const std::string& name) {
  return c.scalar("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                  "WHERE n.nspname = 'taskmill' AND p.proname = $1",
                  {name}) != "0";
}

}  // namespace bench
