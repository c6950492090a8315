// How the CLI prints: aligned tables for people, JSON for scripts, times in one format.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <taskmill/connection.hpp>

namespace taskmill::cli {

// "2026-01-02 03:04:05" (UTC), "" for none.
std::string fmt_time(std::optional<Clock::time_point> t);
// "2026-01-02T03:04:05.123456Z", null for none.
Json json_time(std::optional<Clock::time_point> t);
// A JSON value cut to `max` characters ("" for null).
std::string short_json(const Json& j, std::size_t max = 48);
// Columns padded to their widest cell, a dashed rule, then "(N rows)".
void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows);

}  // namespace taskmill::cli
