// taskmill::metrics: the registry, its Prometheus text exposition, and WorkerMetrics.
#include "taskmill/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace taskmill::metrics {

namespace {

enum Type { kCounter, kGauge, kHistogram };

bool valid_name(const std::string& s, bool colon) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Label values escape backslash, double quote and newline; help text backslash and newline.
std::string escape(const std::string& s, bool quote) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (quote && c == '"') out += "\\\"";
    else out += c;
  }
  return out;
}

// The shortest text that reads back as the same double ("0.1", not "0.10000000000000001").
std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

std::string label_text(const Labels& labels, const std::string& extra_name = "",
                       const std::string& extra_value = "") {
  if (labels.empty() && extra_name.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (auto& [k, v] : labels) {
    if (!first) out += ",";
    first = false;
    out += k + "=\"" + escape(v, true) + "\"";
  }
  if (!extra_name.empty()) {
    if (!first) out += ",";
    out += extra_name + "=\"" + extra_value + "\"";
  }
  return out + "}";
}

}  // namespace

struct Registry::Family {
  std::string help;
  int type;
  std::map<Labels, std::unique_ptr<Counter>> counters;
  std::map<Labels, std::unique_ptr<Gauge>> gauges;
  std::map<Labels, std::unique_ptr<Histogram>> histograms;
};

Registry::Registry() = default;
Registry::~Registry() = default;

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end()))
    throw std::logic_error("histogram bounds must be ascending");
  counts_.assign(bounds_.size() + 1, 0);
}

void Histogram::observe(double v) {
  auto i = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                                    bounds_.begin());
  std::lock_guard lk(mu_);
  ++counts_[i];
  sum_ += v;
  ++count_;
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  std::lock_guard lk(mu_);
  unsigned long long running = 0;
  for (auto n : counts_) {
    running += n;
    s.cumulative.push_back(running);
  }
  s.sum = sum_;
  s.count = count_;
  return s;
}

std::vector<double> duration_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
}

Registry::Family& Registry::family(const std::string& name, const std::string& help, int type) {
  if (!valid_name(name, true)) throw std::logic_error("bad metric name \"" + name + "\"");
  auto& f = families_[name];
  if (!f) f = std::make_unique<Family>(Family{help, type, {}, {}, {}});
  if (f->type != type) throw std::logic_error("metric \"" + name + "\" has another type");
  return *f;
}

namespace {
void check_labels(const Labels& labels) {
  for (auto& [k, v] : labels)
    if (!valid_name(k, false) || k == "le")
      throw std::logic_error("bad label name \"" + k + "\"");
}
}  // namespace

Counter& Registry::counter(const std::string& name, const std::string& help,
                           const Labels& labels) {
  check_labels(labels);
  std::lock_guard lk(mu_);
  auto& slot = family(name, help, kCounter).counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  check_labels(labels);
  std::lock_guard lk(mu_);
  auto& slot = family(name, help, kGauge).gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& Registry::histogram(const std::string& name, const std::string& help,
                               const Labels& labels, const std::vector<double>& bounds) {
  check_labels(labels);
  std::lock_guard lk(mu_);
  auto& slot = family(name, help, kHistogram).histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>(bounds);
  return *slot;
}

std::string Registry::expose() const {
  std::string out;
  std::lock_guard lk(mu_);
  for (auto& [name, f] : families_) {
    static const char* kTypes[] = {"counter", "gauge", "histogram"};
    out += "# HELP " + name + " " + escape(f->help, false) + "\n";
    out += "# TYPE " + name + " " + kTypes[f->type] + "\n";
    for (auto& [labels, c] : f->counters)
      out += name + label_text(labels) + " " + number(c->value()) + "\n";
    for (auto& [labels, g] : f->gauges)
      out += name + label_text(labels) + " " + number(g->value()) + "\n";
    for (auto& [labels, h] : f->histograms) {
      auto s = h->snapshot();
      for (std::size_t i = 0; i < s.cumulative.size(); ++i) {
        std::string le = i < s.bounds.size() ? number(s.bounds[i]) : "+Inf";
        out += name + "_bucket" + label_text(labels, "le", le) + " " +
               std::to_string(s.cumulative[i]) + "\n";
      }
      out += name + "_sum" + label_text(labels) + " " + number(s.sum) + "\n";
      out += name + "_count" + label_text(labels) + " " + std::to_string(s.count) + "\n";
    }
  }
  return out;
}

void WorkerMetrics::record(const TaskEvent& e) {
  registry_
      ->counter("taskmill_worker_tasks_total",
                "Tasks this worker process handled, by queue, operation and outcome.",
                {{"queue", e.queue}, {"operation", e.operation}, {"outcome", to_string(e.outcome)}})
      .inc();
  registry_
      ->histogram("taskmill_worker_task_duration_seconds",
                  "Time from a handler's start to its ack or nack, by queue and operation.",
                  {{"queue", e.queue}, {"operation", e.operation}})
      .observe(std::chrono::duration<double>(e.duration).count());
  registry_
      ->gauge("taskmill_worker_last_task_timestamp_seconds",
              "Unix time of the last task this worker process finished, by queue.",
              {{"queue", e.queue}})
      .set(std::chrono::duration<double>(e.finished_at.time_since_epoch()).count());
}

}  // namespace taskmill::metrics
