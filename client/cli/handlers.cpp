// The example handlers of `taskmill worker`:
//   echo   stores the payload as the task's result
//   sleep  sleeps payload.ms (default 1000) milliseconds, cooperatively (deadline / stop)
//   fail   always throws (payload.message), so the task retries and ends in the DLQ
//   flaky  fails until attempt payload.succeed_on (default 2), then succeeds
//   panic  throws a non-taskmill exception (reported as a panic)
#include "handlers.hpp"

#include <stdexcept>

#include <taskmill/error.hpp>

namespace taskmill::cli {

void register_example_handlers(Worker& worker, std::function<void(const std::string&)> log) {
  auto id = [](const TaskContext& ctx) { return "#" + std::to_string(ctx.task().id); };
  worker.register_task("echo", [=](TaskContext& ctx) {
    ctx.set_result(ctx.payload());
    log("echo  " + id(ctx) + " " + ctx.payload().dump());
  });
  worker.register_task("sleep", [=](TaskContext& ctx) {
    int ms = ctx.payload().is_object() ? ctx.payload().value("ms", 1000) : 1000;
    if (!ctx.sleep_for(std::chrono::milliseconds(ms))) ctx.throw_if_cancelled();
    log("sleep " + id(ctx) + " slept " + std::to_string(ms) + " ms");
  });
  worker.register_task("fail", [=](TaskContext& ctx) {
    std::string msg = ctx.payload().is_object() ? ctx.payload().value("message", "failed on purpose")
                                                : "failed on purpose";
    throw Error(ErrorCode::Internal, msg);
  });
  worker.register_task("flaky", [=](TaskContext& ctx) {
    int succeed_on = ctx.payload().is_object() ? ctx.payload().value("succeed_on", 2) : 2;
    if (ctx.task().attempts < succeed_on)
      throw Error(ErrorCode::Internal,
                  "flaky: attempt " + std::to_string(ctx.task().attempts) + " fails");
    log("flaky " + id(ctx) + " succeeded on attempt " + std::to_string(ctx.task().attempts));
  });
  worker.register_task("panic", [](TaskContext&) -> void {
    throw std::logic_error("unexpected state in handler");
  });
}

}  // namespace taskmill::cli
