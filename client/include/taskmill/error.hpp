// taskmill::Error: the one exception type of the client library, with a code mapped from
// the server's SQLSTATE (never from message text).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace taskmill {

enum class ErrorCode {
  DuplicateTask,      // 23505: idempotency key already used by a live task in the queue
  TaskNotRegistered,  // worker: no handler for the task's operation id
  ScheduleNotFound,   // trigger_schedule of an unknown operation id
  Validation,         // 22023 / 22004 / 22P02 / 22007 / 22008: bad input
  NotFound,           // P0002: no such task / schedule
  NotInDlq,           // 55000: requeue_from_dlq of a task that is not dead-lettered
  Timeout,            // deadline passed (handler deadline, Worker::stop timeout)
  Connection,         // connection lost or refused (SQLSTATE class 08, 57P0x)
  Internal,           // anything else
};

// Name of a code, e.g. "DuplicateTask".
std::string_view to_string(ErrorCode code) noexcept;

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message, std::string sqlstate = {});

  ErrorCode code() const noexcept { return code_; }
  // SQLSTATE of the server error; "" when the error did not come from the server.
  const std::string& sqlstate() const noexcept { return sqlstate_; }

 private:
  ErrorCode code_;
  std::string sqlstate_;
};

// The code a SQLSTATE maps to (see docs/cpp-api.md).
ErrorCode error_code_from_sqlstate(std::string_view sqlstate) noexcept;

}  // namespace taskmill
