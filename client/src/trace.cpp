// W3C trace context: a thread-local current traceparent and id generation.
#include "taskmill/trace.hpp"

#include <cstdint>
#include <random>

namespace taskmill::trace {

namespace {
thread_local std::optional<std::string> current;

std::string random_hex(std::size_t n) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n);
  while (out.size() < n) {
    uint64_t v = rng();
    for (int i = 0; i < 16 && out.size() < n; ++i, v >>= 4) out.push_back(digits[v & 0xf]);
  }
  // All-zero ids are invalid.
  if (out.find_first_not_of('0') == std::string::npos) out.back() = '1';
  return out;
}

bool is_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}
}  // namespace

Scope::Scope(std::string traceparent) : previous_(std::move(current)) {
  current = std::move(traceparent);
}

Scope::~Scope() { current = std::move(previous_); }

std::optional<std::string> current_traceparent() { return current; }

std::string new_traceparent() { return "00-" + random_hex(32) + "-" + random_hex(16) + "-01"; }

bool valid_traceparent(std::string_view s) {
  // version(2) - trace-id(32) - parent-id(16) - flags(2)
  if (s.size() != 55 || s[2] != '-' || s[35] != '-' || s[52] != '-') return false;
  auto version = s.substr(0, 2), trace_id = s.substr(3, 32), parent = s.substr(36, 16),
       flags = s.substr(53, 2);
  if (!is_hex(version) || version == "ff" || !is_hex(trace_id) || !is_hex(parent) || !is_hex(flags))
    return false;
  return trace_id.find_first_not_of('0') != std::string_view::npos &&
         parent.find_first_not_of('0') != std::string_view::npos;
}

std::string child_traceparent(std::string_view parent) {
  if (!valid_traceparent(parent)) return new_traceparent();
  return std::string(parent.substr(0, 36)) + random_hex(16) + std::string(parent.substr(52));
}

}  // namespace taskmill::trace
