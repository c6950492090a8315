// taskmill::Worker (stub, being implemented).
#include "taskmill/worker.hpp"

#include "taskmill/error.hpp"

namespace taskmill {
TaskContext::TaskContext(Task task, Clock::time_point deadline, std::stop_token token)
    : task_(std::move(task)), deadline_(deadline), token_(std::move(token)) {}
bool TaskContext::cancelled() const noexcept { return token_.stop_requested() || Clock::now() >= deadline_; }
void TaskContext::throw_if_cancelled() const { if (cancelled()) throw Error(ErrorCode::Timeout, "context deadline exceeded"); }
bool TaskContext::sleep_for(std::chrono::milliseconds) const { return !cancelled(); }
struct Worker::Impl { std::string queue; };
Worker::Worker(Client&, std::string q, WorkerOptions) : impl_(std::make_unique<Impl>()) { impl_->queue = std::move(q); }
Worker::~Worker() = default;
void Worker::register_task(std::string, Handler) {}
void Worker::start() {}
void Worker::stop() {}
void Worker::run(std::stop_token) {}
bool Worker::running() const noexcept { return false; }
const std::string& Worker::queue_name() const noexcept { return impl_->queue; }
}  // namespace taskmill
