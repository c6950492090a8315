// W3C trace context (traceparent) carried in a thread-local "current span".
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace taskmill::trace {

// Makes `traceparent` the current one on this thread until destruction (restores the previous).
class Scope {
 public:
  explicit Scope(std::string traceparent);
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
  ~Scope();

 private:
  std::optional<std::string> previous_;
};

// The current traceparent of this thread, if any.
std::optional<std::string> current_traceparent();
// A random valid traceparent: 00-<32 hex trace id>-<16 hex parent id>-01.
std::string new_traceparent();
// A child of `parent`: same trace id and flags, new parent id. Returns a new traceparent
// when `parent` is not valid.
std::string child_traceparent(std::string_view parent);
// Whether `s` is a syntactically valid traceparent.
bool valid_traceparent(std::string_view s);

}  // namespace taskmill::trace
