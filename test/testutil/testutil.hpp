// Umbrella header of the client tests' helpers (test/testutil).
#pragma once

#include "assert.hpp"
#include "db.hpp"
#include "env.hpp"
#include "mocks.hpp"
#include "pg.hpp"
#include "sql.hpp"
#include "wait.hpp"

#include <gtest/gtest.h>

#include <ostream>

// gtest prints taskmill::ErrorCode by name.
namespace taskmill {
inline void PrintTo(ErrorCode c, std::ostream* os) { *os << to_string(c); }
}  // namespace taskmill

// Expects `stmt` to throw taskmill::Error with `expected_code`.
#define EXPECT_TASKMILL_ERROR(stmt, expected_code)                                              \
  do {                                                                                          \
    try {                                                                                       \
      stmt;                                                                                     \
      ADD_FAILURE() << #stmt " did not throw (expected " << taskmill::to_string(expected_code) \
                    << ")";                                                                     \
    } catch (const taskmill::Error& e_) {                                                       \
      EXPECT_EQ(e_.code(), expected_code) << "message: " << e_.what()                           \
                                          << " sqlstate: " << e_.sqlstate();                    \
    } catch (const std::exception& e_) {                                                        \
      ADD_FAILURE() << #stmt " threw a non-taskmill exception: " << e_.what();                  \
    }                                                                                           \
  } while (0)
