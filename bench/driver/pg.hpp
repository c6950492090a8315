// The benchmark driver's libpq access: the test suites' wrapper (test/testutil/pg.hpp,
// compiled into the driver by bench/CMakeLists.txt), so the tree has one libpq wrapper. The
// driver times SQL round trips itself, so it talks to the server directly where the
// measurement is of the SQL surface, and goes through the taskmill client library
// (Enqueuer, Worker) where the measurement is of it.
#pragma once

#include <chrono>

#include <optional>
#include <string>
#include <vector>

#include "../../test/testutil/pg.hpp"

namespace bench {

using Conn = testutil::PgConn;
using Res = testutil::PgResult;
using SteadyClock = std::chrono::steady_clock;

inline double secs_since(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}
// First column of the first row as text; "" for no row or NULL.
inline std::string scalar_text(Conn& c, const std::string& sql, const std::vector<std::optional<std::string>>& p = {}) {
  return c.scalar(sql, p).value_or("");
}
inline double ms_between(SteadyClock::time_point a, SteadyClock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace bench
