// taskmill::Console (stub, being implemented).
#include "taskmill/console.hpp"

#include "taskmill/error.hpp"

namespace taskmill {
Console::Console(Client& c) : client_(&c) {}
std::vector<std::string> Console::list_queues() { return {}; }
QueueStats Console::stats(std::string_view) { return {}; }
int64_t Console::purge(std::string_view) { return 0; }
int64_t Console::purge_dlq(std::string_view) { return 0; }
void Console::requeue_from_dlq(int64_t) {}
std::vector<ScheduleInfo> Console::list_schedules(std::optional<std::string>) { return {}; }
int64_t Console::trigger_schedule(std::string_view, const Json&) { return 0; }
std::vector<ResultRow> Console::list_results(const ListResultsOptions&) { return {}; }
int64_t Console::cleanup_results(const CleanupResultsOptions&) { return 0; }
std::vector<Task> Console::list_dlq(std::string_view, int) { return {}; }
}  // namespace taskmill
