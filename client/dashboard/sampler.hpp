// The dashboard's sampler: every interval, one pass over the extension's console functions
// and operator views (queue counts, completions, latencies, health), kept as a short history
// for the page's sparklines and as gauges / counters in the Prometheus registry.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <taskmill/client.hpp>
#include <taskmill/metrics.hpp>

namespace taskmill::dashboard {

class Sampler {
 public:
  // Starts sampling at once, on its own thread, with one pooled connection per pass.
  Sampler(Client& client, metrics::Registry& registry, std::chrono::milliseconds interval,
          std::size_t history = 90);
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // {"sampled_at", "interval_ms", "error", "queues": [{queue, counts, oldest_available_s,
  //  history: {t, throughput, enqueued, latency_p50_ms, latency_p95_ms}}]} as JSON text.
  std::string overview() const;
  // {"health", "tables", "xmin_holders", "oldest": [{queue, age_s}]} as JSON text.
  std::string health() const;

 private:
  struct Point {
    double t;                 // unix seconds
    double throughput;        // results per second since the previous pass
    double enqueued;          // tasks per second since the previous pass (observed)
    std::optional<double> p50_ms, p95_ms;
  };
  struct QueueState {
    Json counts = Json::object();
    std::optional<double> oldest_available_s;
    std::deque<Point> history;
    bool seen = false;        // in the latest pass
  };

  void loop(std::stop_token stop);
  void pass();
  void pass_queues(Connection& conn, double now, double dt);
  void pass_tables(Connection& conn, double dt);
  void pass_health(Connection& conn);

  Client& client_;
  metrics::Registry& registry_;
  const std::chrono::milliseconds interval_;
  const std::size_t history_;

  mutable std::mutex mu_;
  std::map<std::string, QueueState> queues_;
  std::string health_json_ = "null";
  std::optional<std::string> error_;
  double sampled_at_ = 0;

  // Watermarks of the sampler's thread (no lock needed).
  std::optional<std::string> completed_after_;  // timestamptz text
  std::optional<std::string> max_task_id_;
  std::optional<std::string> dlq_after_;
  std::atomic<bool> tables_readable_{true};
  std::map<std::string, std::optional<double>> oldest_;
  double last_pass_ = 0;
  std::map<std::string, double> enqueued_rate_;

  std::mutex wait_mu_;
  std::condition_variable_any wake_;
  std::jthread thread_;  // last: started after every member above exists
};

}  // namespace taskmill::dashboard
