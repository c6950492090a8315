// taskmill::metrics: the Prometheus text exposition, histogram buckets, WorkerMetrics, and
// concurrent updates from many threads (run under TSan by client_tsan).
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include <taskmill/metrics.hpp>

namespace mx = taskmill::metrics;

TEST(Metrics, ExposesCountersGaugesSortedWithHelpAndType) {
  mx::Registry r;
  r.counter("b_total", "B things.", {{"queue", "q\"1"}}).inc(2);
  r.gauge("a_value", "An A.\nSecond line.").set(1.5);
  EXPECT_EQ(r.expose(),
            "# HELP a_value An A.\\nSecond line.\n"
            "# TYPE a_value gauge\n"
            "a_value 1.5\n"
            "# HELP b_total B things.\n"
            "# TYPE b_total counter\n"
            "b_total{queue=\"q\\\"1\"} 2\n");
}

TEST(Metrics, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  mx::Registry r;
  auto& h = r.histogram("d_seconds", "D.", {{"op", "x"}}, {0.1, 1});
  h.observe(0.05);
  h.observe(0.1);  // on the bound: counts in le="0.1"
  h.observe(0.5);
  h.observe(7);
  EXPECT_EQ(r.expose(),
            "# HELP d_seconds D.\n"
            "# TYPE d_seconds histogram\n"
            "d_seconds_bucket{op=\"x\",le=\"0.1\"} 2\n"
            "d_seconds_bucket{op=\"x\",le=\"1\"} 3\n"
            "d_seconds_bucket{op=\"x\",le=\"+Inf\"} 4\n"
            "d_seconds_sum{op=\"x\"} 7.65\n"
            "d_seconds_count{op=\"x\"} 4\n");
}

TEST(Metrics, RejectsBadNamesAndTypeClashes) {
  mx::Registry r;
  EXPECT_THROW(r.counter("bad name", "x"), std::logic_error);
  EXPECT_THROW(r.counter("ok_total", "x", {{"le", "1"}}), std::logic_error);
  r.counter("same", "x");
  EXPECT_THROW(r.gauge("same", "x"), std::logic_error);
}

TEST(Metrics, WorkerMetricsRecordsOutcomeAndDuration) {
  mx::Registry r;
  mx::WorkerMetrics wm(r);
  auto cb = wm.callback();
  taskmill::TaskEvent e;
  e.task_id = 1;
  e.queue = "emails";
  e.operation = "send";
  e.attempt = 1;
  e.outcome = taskmill::TaskEvent::Outcome::DeadLettered;
  e.duration = std::chrono::milliseconds(20);
  e.finished_at = std::chrono::system_clock::now();
  cb(e);
  auto text = r.expose();
  EXPECT_NE(text.find("taskmill_worker_tasks_total{queue=\"emails\",operation=\"send\",outcome=\"dead_lettered\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("taskmill_worker_task_duration_seconds_bucket{queue=\"emails\",operation=\"send\",le=\"0.025\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("taskmill_worker_task_duration_seconds_count{queue=\"emails\",operation=\"send\"} 1"),
            std::string::npos);
}

TEST(Metrics, ConcurrentUpdatesAndScrapesLoseNothing) {
  mx::Registry r;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&r, t] {
      for (int i = 0; i < 2000; ++i) {
        r.counter("c_total", "C.", {{"t", std::to_string(t % 2)}}).inc();
        r.histogram("h_seconds", "H.").observe(0.001 * (i % 10));
        r.gauge("g", "G.").add(1);
        if (i % 500 == 0) (void)r.expose();
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(r.counter("c_total", "C.", {{"t", "0"}}).value() + r.counter("c_total", "C.", {{"t", "1"}}).value(),
            16000);
  EXPECT_EQ(r.gauge("g", "G.").value(), 16000);
  EXPECT_EQ(r.histogram("h_seconds", "H.").snapshot().count, 16000u);
}
