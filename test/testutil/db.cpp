// Per-test databases (see db.hpp).
#include "db.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <mutex>
#include <random>

namespace testutil {

namespace {
std::atomic<int> g_counter{0};

std::string lower_alnum(std::string_view s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
  return out;
}

std::string env_or(const char* name, const char* dflt) {
  const char* v = std::getenv(name);
  return v && *v ? v : dflt;
}
}  // namespace

std::string UniqueName(std::string_view prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::string(prefix) + "-" + std::to_string(getpid()) + "-" + std::to_string(++g_counter) + "-" +
         std::to_string(rng() % 100000);
}

std::string ConninfoFor(std::string_view dbname) {
  // Quote for conninfo: single quotes, backslash-escaped.
  std::string q = "dbname='";
  for (char c : dbname) {
    if (c == '\'' || c == '\\') q += '\\';
    q += c;
  }
  return q + "'";
}

std::string EnsureTemplate() {
  static const std::string tmpl = env_or("TASKMILL_TEST_TEMPLATE", "taskmill_test_template");
  static std::once_flag once;
  std::call_once(once, [] {
    PgConn admin(ConninfoFor("postgres"));
    admin.exec("SELECT pg_advisory_lock(hashtext('taskmill_test_template'))");
    // Fingerprint of the installed install script: a rebuilt extension gets a new template.
    std::string fp;
    try {
      fp = admin.scalar(
                    "SELECT md5(string_agg(pg_read_file(s.dir || '/' || f), '' ORDER BY f))"
                    "  FROM (SELECT setting || '/extension' AS dir FROM pg_config WHERE name = 'SHAREDIR') s,"
                    "       LATERAL pg_ls_dir(s.dir) f"
                    " WHERE f LIKE 'taskmill%'")
               .value_or("");
    } catch (const PgError&) {
      fp = "";
    }
    auto cur = admin.scalar(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", {tmpl});
    bool exists = admin.scalar_i64("SELECT count(*) FROM pg_database WHERE datname = $1", {tmpl}) > 0;
    if (exists && (!cur || *cur != fp)) {
      admin.exec("DROP DATABASE \"" + tmpl + "\" WITH (FORCE)");
      exists = false;
    }
    if (!exists) {
      admin.exec("CREATE DATABASE \"" + tmpl + "\"");
      {
        PgConn t(ConninfoFor(tmpl));
        t.exec("CREATE EXTENSION taskmill");
      }
      admin.exec("COMMENT ON DATABASE \"" + tmpl + "\" IS " + std::string("'") + fp + "'");
    }
    admin.exec("SELECT pg_advisory_unlock(hashtext('taskmill_test_template'))");
  });
  return tmpl;
}

TestDatabase::TestDatabase(bool with_extension) {
  std::string base = "tm";
  if (const auto* info = ::testing::UnitTest::GetInstance()->current_test_info())
    base += "_" + lower_alnum(info->test_suite_name()) + "_" + lower_alnum(info->name());
  std::string suffix = "_" + std::to_string(getpid()) + "_" + std::to_string(++g_counter);
  if (base.size() + suffix.size() > 63) base.resize(63 - suffix.size());
  name_ = base + suffix;
  std::string tmpl = with_extension ? EnsureTemplate() : "template0";
  PgConn admin(ConninfoFor("postgres"));
  // Two processes copying the same template at the same instant can collide ("source
  // database is being accessed by other users", 55006), and a template being rebuilt after
  // a reinstall of the extension is briefly missing (3D000); retry for a few seconds.
  for (int attempt = 0;; ++attempt) {
    try {
      admin.exec("CREATE DATABASE \"" + name_ + "\" TEMPLATE \"" + tmpl + "\"");
      break;
    } catch (const PgError& e) {
      if (attempt >= 50 || (e.sqlstate != "55006" && e.sqlstate != "3D000")) throw;
      usleep(100000);
    }
  }
}

TestDatabase::~TestDatabase() {
  if (std::getenv("TASKMILL_TEST_KEEP_DB")) return;
  try {
    PgConn admin(ConninfoFor("postgres"));
    admin.exec("DROP DATABASE IF EXISTS \"" + name_ + "\" WITH (FORCE)");
  } catch (const std::exception& e) {
    ADD_FAILURE() << "dropping test database " << name_ << ": " << e.what();
  }
}

}  // namespace testutil
