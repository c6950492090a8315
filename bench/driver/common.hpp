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
    c.exec("SELECT count(*) FROM (SELECT taskmill.enqueue_batch($1, $2::jsonb)) s", {queue, batch_json(i, m, s)});
  }
}

inline long long pending(Conn& c, const std::string& queue) {
  return std::stoll(scalar_text(c, "SELECT count(*) FROM taskmill.tasks WHERE queue_name = $1 AND dlq_at IS NULL", {queue}));
}

inline void reset_tables(Conn& c) {
  c.script("TRUNCATE taskmill.tasks, taskmill.task_results");
  c.script("VACUUM ANALYZE taskmill.tasks");
  c.script("VACUUM ANALYZE taskmill.task_results");
}

// An array literal of plain elements (ids, uuids: nothing to quote).
inline std::string array_literal(const std::vector<std::string>& v) {
  std::string a = "{";
  for (size_t k = 0; k < v.size(); ++k) {
    if (k) a += ',';
    a += v[k];
  }
  return a + '}';
}

// Ack a set of delivered tasks in one round trip and one transaction.
inline long ack_all(Conn& c, const std::vector<std::string>& ids, const std::vector<std::string>& leases) {
  if (ids.empty()) return 0;
  c.exec_prepared("ack_all", {array_literal(ids), array_literal(leases)});
  return (long)ids.size();
}

// The combined call: ack the previous batch (none: NULL) and claim the next, one
// transaction. Prepared as "ack_deq" ($1 queue, $2 batch, $3 ids, $4 leases).
inline void prepare_ack_dequeue(Conn& c, const std::string& visibility = "60 s") {
  c.prepare("ack_deq",
            "SELECT id, lease FROM taskmill.ack_dequeue($1, $2::int, '" + visibility +
                "'::interval, $3::bigint[], $4::uuid[])",
            4);
}
inline Res ack_dequeue(Conn& c, const std::string& queue, long batch, const std::vector<std::string>& ids,
                       const std::vector<std::string>& leases) {
  std::optional<std::string> a, b;
  if (!ids.empty()) {
    a = array_literal(ids);
    b = array_literal(leases);
  }
  return c.exec_prepared("ack_deq", {queue, std::to_string(batch), a, b});
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
  return scalar_text(c, "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                  "WHERE n.nspname = 'taskmill' AND p.proname = $1",
                  {name}) != "0";
}

}  // namespace bench
