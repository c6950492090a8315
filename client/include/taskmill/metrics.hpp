// taskmill::metrics: counters, gauges and histograms with labels, exposed in the Prometheus
// text format (version 0.0.4), and WorkerMetrics, which feeds a registry from a Worker's
// task events (WorkerOptions::on_task_event).
//
//   taskmill::metrics::Registry registry;
//   taskmill::metrics::WorkerMetrics wm(registry);
//   options.on_task_event = wm.callback();
//   ... serve registry.expose() on GET /metrics
//
// Thread-safe: series are created under the registry's lock and updated lock-free
// (counters, gauges) or under the series' own lock (histograms); a series lives as long as
// its registry, so the references handed out stay valid.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "taskmill/worker.hpp"


namespace taskmill::metrics {

// Label names and values, in the order given (the exposition prints them in that order).
using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(double by = 1.0) noexcept { value_.fetch_add(by, std::memory_order_relaxed); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(double by) noexcept { value_.fetch_add(by, std::memory_order_relaxed); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  // `bounds`: the buckets' upper bounds, ascending (+Inf is added by the exposition).
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<unsigned long long> cumulative;  // one per bound, then +Inf
    double sum = 0;
    unsigned long long count = 0;
  };
  Snapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<unsigned long long> counts_;  // per bucket (not cumulative), last is +Inf
  double sum_ = 0;
  unsigned long long count_ = 0;
};

// Default buckets of task durations, in seconds: 1 ms .. 5 min.
std::vector<double> duration_buckets();

class Registry {
 public:
  Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;
  ~Registry();

  // The series of family `name` with `labels`, created on first use. A family has one type
  // and one help text (the first call's); asking for another type throws std::logic_error.
  // Names must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*.
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help, const Labels& labels = {},
                       const std::vector<double>& bounds = duration_buckets());

  // Every family, sorted by name, each series sorted by its labels: the body of a scrape
  // (Content-Type: text/plain; version=0.0.4).
  std::string expose() const;

  struct Family;

 private:
  Family& family(const std::string& name, const std::string& help, int type);
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family>> families_;
};

// Feeds a registry from a Worker's TaskEvents:
//   taskmill_worker_tasks_total{queue, operation, outcome}      counter
//     (outcome: succeeded, failed, dead_lettered, panicked, timed_out, released)
//   taskmill_worker_task_duration_seconds{queue, operation}     histogram of handler time
//   taskmill_worker_last_task_timestamp_seconds{queue}          gauge (unix time)
class WorkerMetrics {
 public:
  explicit WorkerMetrics(Registry& registry) : registry_(&registry) {}
  void record(const TaskEvent& event);
  // For WorkerOptions::on_task_event; `this` must outlive the Worker.
  std::function<void(const TaskEvent&)> callback() {
    return [this](const TaskEvent& e) { record(e); };
  }
  Registry& registry() noexcept { return *registry_; }

 private:
  Registry* registry_;
};

}  // namespace taskmill::metrics
