// taskmill::Error and the SQLSTATE -> ErrorCode mapping.
#include "taskmill/error.hpp"

namespace taskmill {

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::DuplicateTask: return "DuplicateTask";
    case ErrorCode::TaskNotRegistered: return "TaskNotRegistered";
    case ErrorCode::ScheduleNotFound: return "ScheduleNotFound";
    case ErrorCode::Validation: return "Validation";
    case ErrorCode::NotFound: return "NotFound";
    case ErrorCode::NotInDlq: return "NotInDlq";
    case ErrorCode::Timeout: return "Timeout";
    case ErrorCode::Connection: return "Connection";
    case ErrorCode::Internal: return "Internal";
  }
  return "Internal";
}

Error::Error(ErrorCode code, const std::string& message, std::string sqlstate)
    : std::runtime_error(message), code_(code), sqlstate_(std::move(sqlstate)) {}

ErrorCode error_code_from_sqlstate(std::string_view s) noexcept {
  if (s == "23505") return ErrorCode::DuplicateTask;
  if (s == "22023" || s == "22004" || s == "22P02" || s == "22007" || s == "22008" ||
      s == "23502" || s == "23514" || s == "22003")
    return ErrorCode::Validation;
  if (s == "P0002") return ErrorCode::NotFound;
  if (s == "55000") return ErrorCode::NotInDlq;
  if (s.starts_with("08") || s == "57P01" || s == "57P02" || s == "57P03")
    return ErrorCode::Connection;
  if (s == "57014") return ErrorCode::Timeout;  // query_canceled (statement_timeout)
  return ErrorCode::Internal;
}

}  // namespace taskmill
