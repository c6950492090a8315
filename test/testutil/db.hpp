// Per-test databases and unique names (the catalogue's NewTestDB / CleanupDB / MigrateTestDB):
// each test runs in a database of its own, copied from a template that has taskmill
// installed, so tests are independent and can run in parallel; it is dropped at the end.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "pg.hpp"

namespace testutil {

// A name unique across processes and calls: prefix-<pid>-<counter>-<random>.
std::string UniqueName(std::string_view prefix);

// conninfo for a database: "dbname=NAME"; host, port and user come from PGHOST/PGPORT/PGUSER.
std::string ConninfoFor(std::string_view dbname);

// Makes sure the template database (env TASKMILL_TEST_TEMPLATE, default
// "taskmill_test_template") exists with the currently installed taskmill script; rebuilds it
// when the installed install script changed. Safe across processes (advisory lock).
std::string EnsureTemplate();

// A fresh database for one test. with_extension=false gives an empty database (for
// migrate() tests). Dropped in the destructor unless TASKMILL_TEST_KEEP_DB is set.
class TestDatabase {
 public:
  explicit TestDatabase(bool with_extension = true);
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;
  const std::string& name() const { return name_; }
  std::string conninfo() const { return ConninfoFor(name_); }

 private:
  std::string name_;
};

}  // namespace testutil
