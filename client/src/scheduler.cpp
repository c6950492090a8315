// taskmill::Scheduler: register_schedules, and a thread calling run_due_schedules().
#include "taskmill/scheduler.hpp"

#include <condition_variable>
#include <mutex>
#include <thread>

#include "taskmill/error.hpp"

namespace taskmill {

struct Scheduler::Impl {
  Impl(Client& c, std::string q, SchedulerOptions o)
      : client(c), queue(std::move(q)), opt(std::move(o)) {}
  Client& client;
  std::string queue;
  SchedulerOptions opt;
  mutable std::mutex mu;
  std::jthread thread;
  bool running = false;

  int run_once() {
    auto lease = client.acquire();
    auto r = lease->exec("SELECT taskmill.run_due_schedules()");
    return r.rows() > 0 && r.columns() > 0 ? static_cast<int>(r.get_int64(0, 0)) : 0;
  }

  void loop(std::stop_token st) {
    std::mutex m;
    std::condition_variable_any cv;
    auto interval = opt.check_interval.count() > 0 ? opt.check_interval
                                                    : std::chrono::milliseconds(1000);
    while (!st.stop_requested()) {
      try {
        run_once();
      } catch (const std::exception& e) {
        if (opt.on_error) {
          try {
            opt.on_error(e.what());
          } catch (...) {
          }
        }
      }
      std::unique_lock lk(m);
      cv.wait_for(lk, st, interval, [] { return false; });
    }
  }
};

Scheduler::Scheduler(Client& client, std::string queue_name, SchedulerOptions options)
    : impl_(std::make_unique<Impl>(client, std::move(queue_name), std::move(options))) {}

Scheduler::~Scheduler() { stop(); }

void Scheduler::register_schedules(const std::vector<Schedule>& schedules) {
  Json arr = Json::array();
  for (auto& s : schedules) {
    Json o = {{"operation_id", s.operation_id}, {"cron", s.cron}, {"timezone", s.timezone}};
    if (!s.payload.is_null()) o["payload"] = s.payload;
    if (!s.options.is_null()) o["options"] = s.options;
    arr.push_back(std::move(o));
  }
  auto lease = impl_->client.acquire();
  lease->exec("SELECT taskmill.register_schedules(queue_name => $1, schedules => $2::jsonb)",
              impl_->queue, arr);
}

int Scheduler::run_once() { return impl_->run_once(); }

void Scheduler::start() {
  std::lock_guard lk(impl_->mu);
  if (impl_->running) return;
  impl_->running = true;
  impl_->thread = std::jthread([impl = impl_.get()](std::stop_token st) { impl->loop(st); });
}

void Scheduler::stop() {
  std::jthread t;
  {
    std::lock_guard lk(impl_->mu);
    if (!impl_->running) return;
    impl_->running = false;
    t = std::move(impl_->thread);
  }
  t.request_stop();
  if (t.joinable()) t.join();
}

bool Scheduler::running() const noexcept {
  std::lock_guard lk(impl_->mu);
  return impl_->running;
}

}  // namespace taskmill
