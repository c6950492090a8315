// taskmill::Scheduler (stub, being implemented).
#include "taskmill/scheduler.hpp"

#include "taskmill/error.hpp"

namespace taskmill {
struct Scheduler::Impl {};
Scheduler::Scheduler(Client&, std::string, SchedulerOptions) : impl_(std::make_unique<Impl>()) {}
Scheduler::~Scheduler() = default;
void Scheduler::register_schedules(const std::vector<Schedule>&) { throw Error(ErrorCode::Internal, "not implemented"); }
int Scheduler::run_once() { throw Error(ErrorCode::Internal, "not implemented"); }
void Scheduler::start() {}
void Scheduler::stop() {}
bool Scheduler::running() const noexcept { return false; }
}  // namespace taskmill
