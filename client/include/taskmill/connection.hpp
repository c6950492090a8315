// RAII wrappers over libpq: Result (PGresult), Connection (PGconn) and Transaction.
// Every query is parameterised (PQexecParams / PQexecPrepared); SQL text never carries data.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

struct pg_conn;
struct pg_result;

namespace taskmill {

using Json = nlohmann::json;
using Clock = std::chrono::system_clock;

namespace detail {
struct PGconnDeleter { void operator()(pg_conn*) const noexcept; };
struct PGresultDeleter { void operator()(pg_result*) const noexcept; };
}  // namespace detail

// One query parameter as text; std::nullopt is SQL NULL.
using Param = std::optional<std::string>;

// Conversions used by Connection::exec(sql, args...).
Param to_param(std::nullptr_t);
Param to_param(std::nullopt_t);
Param to_param(const std::string&);
Param to_param(std::string_view);
Param to_param(const char*);
Param to_param(bool);
Param to_param(int);
Param to_param(long);
Param to_param(long long);
Param to_param(double);
Param to_param(const Json&);              // JSON text; a null Json is SQL NULL
Param to_param(Clock::time_point);        // ISO 8601 UTC timestamptz
Param to_param(std::chrono::milliseconds);  // interval '<n> milliseconds'
template <class T>
Param to_param(const std::optional<T>& v) {
  return v ? to_param(*v) : Param{};
}

// Text formatting / parsing of timestamptz values (ISO, any UTC offset).
std::string format_timestamp(Clock::time_point);
Clock::time_point parse_timestamp(std::string_view);

// A query result. Values are read as text; helpers parse the common types.
class Result {
 public:
  Result() = default;
  explicit Result(pg_result* res) : res_(res) {}

  int rows() const noexcept;
  int columns() const noexcept;
  // Column index of a name, or -1 when absent.
  int column(std::string_view name) const noexcept;
  std::string column_name(int col) const;

  bool is_null(int row, int col) const noexcept;
  std::string_view get(int row, int col) const noexcept;  // "" for NULL
  std::optional<std::string> opt(int row, int col) const;
  int64_t get_int64(int row, int col) const;              // 0 for NULL
  bool get_bool(int row, int col) const;                  // false for NULL
  Json get_json(int row, int col) const;                  // null for NULL
  Clock::time_point get_time(int row, int col) const;     // epoch for NULL
  std::optional<Clock::time_point> opt_time(int row, int col) const;

  // By column name (throws Error(Internal) when the column is absent).
  bool is_null(int row, std::string_view col) const;
  std::string_view get(int row, std::string_view col) const;
  std::optional<std::string> opt(int row, std::string_view col) const;
  int64_t get_int64(int row, std::string_view col) const;
  bool get_bool(int row, std::string_view col) const;
  Json get_json(int row, std::string_view col) const;
  Clock::time_point get_time(int row, std::string_view col) const;
  std::optional<Clock::time_point> opt_time(int row, std::string_view col) const;

  pg_result* native() const noexcept { return res_.get(); }

 private:
  int col_or_throw(std::string_view name) const;
  std::unique_ptr<pg_result, detail::PGresultDeleter> res_;
};

// How a conninfo reaches the server. Behind a transaction-pooling proxy (PgBouncer with
// pool_mode = transaction) consecutive transactions of one connection may run on different
// server sessions, so nothing may rely on session state there: statements are sent
// unnamed (no PREPARE), and LISTEN / session advisory locks are not used.
enum class Pooling {
  Detect,       // through a proxy when the server's process id differs from the one the
                // connection was given at startup (a proxy hands out its own): checked in
                // the connect round trip that sets TimeZone / DateStyle, no extra one
  Direct,       // a server session of our own: named prepared statements
  Transaction,  // behind a transaction pooler, whatever Detect would say
};

// One libpq connection. Not thread-safe: use one per thread (Client's pool hands them out).
// Every connection runs with TimeZone UTC and DateStyle ISO.
class Connection {
 public:
  // conninfo "" = libpq environment variables (PGHOST, PGPORT, PGUSER, PGDATABASE ...).
  explicit Connection(const std::string& conninfo = "",
                      std::chrono::milliseconds connect_timeout = std::chrono::milliseconds{5000},
                      Pooling pooling = Pooling::Detect);
  Connection(Connection&&) noexcept;
  Connection& operator=(Connection&&) noexcept;
  ~Connection();

  // Runs one parameterised statement; throws taskmill::Error on failure.
  Result exec_params(std::string_view sql, const std::vector<Param>& params);
  // Same, prepared once per connection under `name` (for hot statements); sent unnamed
  // (as exec_params) behind a transaction pooler.
  Result exec_prepared(const std::string& name, std::string_view sql,
                       const std::vector<Param>& params);
  template <class... Args>
  Result exec(std::string_view sql, const Args&... args) {
    return exec_params(sql, std::vector<Param>{to_param(args)...});
  }

  bool ok() const noexcept;               // connection status is OK
  bool in_transaction() const noexcept;   // inside BEGIN .. COMMIT (or failed transaction)
  // Behind a transaction pooler (declared, or detected at connect): no session state here.
  bool pooled() const noexcept { return pooled_; }
  pg_conn* native() const noexcept { return conn_.get(); }

 private:
  std::unique_ptr<pg_conn, detail::PGconnDeleter> conn_;
  std::map<std::string, bool> prepared_;
  bool pooled_ = false;
};

// BEGIN on construction; commit() commits; the destructor rolls back unless committed.
class Transaction {
 public:
  explicit Transaction(Connection& conn);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  void commit();
  void rollback();
  Connection& connection() noexcept { return conn_; }

 private:
  Connection& conn_;
  bool done_ = false;
};

}  // namespace taskmill
