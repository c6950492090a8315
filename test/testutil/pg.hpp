// Raw libpq access for test assertions and setup, independent of the library under test:
// a test checks the database with its own connection, never through taskmill's client.
// The benchmark driver (bench/driver) uses the same wrapper for its SQL-level workloads:
// one libpq wrapper in the tree.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <optional>
#include <string>
#include <vector>

namespace testutil {

// One result set. Values are text (libpq text format); get() returns nullopt for SQL NULL.
class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(PGresult* r) : res_(r, &PQclear) {}
  int rows() const { return res_ ? PQntuples(res_.get()) : 0; }
  int cols() const { return res_ ? PQnfields(res_.get()) : 0; }
  std::optional<std::string> get(int row, int col) const;
  std::optional<std::string> get(int row, const char* col) const;
  // By column number (the benchmark's hot loops; no name lookup): text, and whether NULL.
  bool null(int row, int col) const { return PQgetisnull(res_.get(), row, col); }
  std::string str(int row, int col) const { return PQgetvalue(res_.get(), row, col); }
  long long i64(int row, int col) const { return std::stoll(PQgetvalue(res_.get(), row, col)); }
  double f64(int row, int col) const { return std::stod(PQgetvalue(res_.get(), row, col)); }
  bool is_null(int row, const char* col) const { return !get(row, col).has_value(); }
  std::string str(int row, const char* col) const;   // throws if NULL
  int64_t i64(int row, const char* col) const;        // throws if NULL
  double f64(int row, const char* col) const;         // throws if NULL
  bool boolean(int row, const char* col) const;       // throws if NULL
  PGresult* native() const { return res_.get(); }

 private:
  std::shared_ptr<PGresult> res_;
};

// Error thrown by PgConn::exec: keeps the SQLSTATE so tests can assert on it.
struct PgError : std::runtime_error {
  PgError(std::string msg, std::string state) : std::runtime_error(std::move(msg)), sqlstate(std::move(state)) {}
  std::string sqlstate;
};

// One libpq connection (not thread-safe: one per thread). Connection parameters come from
// the conninfo string plus libpq's environment (PGHOST, PGPORT, PGUSER).
class PgConn {
 public:
  explicit PgConn(const std::string& conninfo);
  PgConn(PgConn&&) = default;
  PgResult exec(const std::string& sql, const std::vector<std::optional<std::string>>& params = {});
  // Simple-protocol exec of a script (may hold several statements).
  PgResult script(const std::string& sql);
  // A named prepared statement and its execution (text parameters, nullopt = NULL).
  void prepare(const std::string& name, const std::string& sql, int nparams);
  PgResult exec_prepared(const std::string& name, const std::vector<std::optional<std::string>>& params = {});
  // Where NOTICEs go (nullptr: dropped, the default).
  void on_notice(std::function<void(const char*)> fn) { *notice_ = std::move(fn); }
  // Convenience: first column of first row, as int64 / string / optional string.
  int64_t scalar_i64(const std::string& sql, const std::vector<std::optional<std::string>>& params = {});
  std::optional<std::string> scalar(const std::string& sql,
                                    const std::vector<std::optional<std::string>>& params = {});
  PGconn* native() const { return conn_.get(); }

 private:
  PgResult checked(PGresult* r, const std::string& what);
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn_;
  // on the heap so that its address, given to libpq, survives a move of the PgConn
  std::unique_ptr<std::function<void(const char*)>> notice_ = std::make_unique<std::function<void(const char*)>>();
};

// Conversions between the database's timestamps and C++ time points (microseconds, the
// precision of timestamptz). Parameters are passed as epoch seconds via to_timestamp().
int64_t to_micros(std::chrono::system_clock::time_point tp);
std::string epoch_text(std::chrono::system_clock::time_point tp);  // "1732500000.123456"

}  // namespace testutil
