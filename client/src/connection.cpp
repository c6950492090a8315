// RAII libpq wrappers: connections, results, transactions, parameter and time conversions.
#include "taskmill/connection.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <cstdio>
#include <ctime>

#include "taskmill/error.hpp"

namespace taskmill {

namespace detail {
void PGconnDeleter::operator()(pg_conn* c) const noexcept { PQfinish(c); }
void PGresultDeleter::operator()(pg_result* r) const noexcept { PQclear(r); }
}  // namespace detail

// ---- parameters -------------------------------------------------------------------------

Param to_param(std::nullptr_t) { return std::nullopt; }
Param to_param(std::nullopt_t) { return std::nullopt; }
Param to_param(const std::string& s) { return s; }
Param to_param(std::string_view s) { return std::string(s); }
Param to_param(const char* s) { return s ? Param(std::string(s)) : Param(); }
Param to_param(bool b) { return std::string(b ? "true" : "false"); }
Param to_param(int v) { return std::to_string(v); }
Param to_param(long v) { return std::to_string(v); }
Param to_param(long long v) { return std::to_string(v); }
Param to_param(double v) { return std::to_string(v); }
Param to_param(const Json& j) {
  if (j.is_null()) return std::nullopt;
  return j.dump();
}
Param to_param(Clock::time_point t) { return format_timestamp(t); }
Param to_param(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + " milliseconds";
}

// ---- timestamps ------------------------------------------------------------------------

std::string format_timestamp(Clock::time_point t) {
  using namespace std::chrono;
  auto us = duration_cast<microseconds>(t.time_since_epoch()).count();
  int64_t secs = us / 1000000;
  int64_t frac = us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    secs -= 1;
  }
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(frac));
  return buf;
}

// Parses PostgreSQL's ISO output ("2026-01-02 03:04:05.123456+00", offsets like +05:30 or
// -03:00:00) and ISO 8601 ("2026-01-02T03:04:05Z").
Clock::time_point parse_timestamp(std::string_view s) {
  using namespace std::chrono;
  auto fail = [&]() -> Clock::time_point {
    throw Error(ErrorCode::Internal, "cannot parse timestamp \"" + std::string(s) + "\"");
  };
  if (s == "infinity") return Clock::time_point::max();
  if (s == "-infinity") return Clock::time_point::min();
  std::size_t i = 0;
  auto num = [&](int digits, int& out) {
    if (i + digits > s.size()) return false;
    auto r = std::from_chars(s.data() + i, s.data() + i + digits, out);
    if (r.ec != std::errc() || r.ptr != s.data() + i + digits) return false;
    i += digits;
    return true;
  };
  auto expect = [&](char c) {
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  };
  int Y, M, D, h, m, sec;
  if (!num(4, Y) || !expect('-') || !num(2, M) || !expect('-') || !num(2, D)) return fail();
  if (!(expect(' ') || expect('T'))) return fail();
  if (!num(2, h) || !expect(':') || !num(2, m) || !expect(':') || !num(2, sec)) return fail();
  int64_t micros = 0;
  if (expect('.')) {
    int digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (digits < 6) {
        micros = micros * 10 + (s[i] - '0');
        ++digits;
      }
      ++i;
    }
    for (; digits < 6; ++digits) micros *= 10;
  }
  int64_t offset = 0;
  if (i < s.size()) {
    if (s[i] == 'Z') {
      ++i;
    } else if (s[i] == '+' || s[i] == '-') {
      int sign = s[i] == '-' ? -1 : 1;
      ++i;
      int oh = 0, om = 0, os = 0;
      if (!num(2, oh)) return fail();
      if (expect(':')) {
        if (!num(2, om)) return fail();
        if (expect(':') && !num(2, os)) return fail();
      } else if (i + 2 <= s.size()) {
        num(2, om);
      }
      offset = sign * (oh * 3600 + om * 60 + os);
    }
  }
  // Days since 1970 by calendar arithmetic (timegm went through mktime's time zone
  // machinery: a measurable share of a task's client cost, three timestamps per task).
  if (M < 1 || M > 12 || D < 1 || D > 31) return fail();
  const auto days = sys_days{year{Y} / month{static_cast<unsigned>(M)} / day{static_cast<unsigned>(D)}};
  int64_t epoch = static_cast<int64_t>(days.time_since_epoch().count()) * 86400 + h * 3600 + m * 60 + sec - offset;
  return Clock::time_point(duration_cast<Clock::duration>(seconds(epoch) + microseconds(micros)));
}

// ---- Result ----------------------------------------------------------------------------

int Result::rows() const noexcept { return res_ ? PQntuples(res_.get()) : 0; }
int Result::columns() const noexcept { return res_ ? PQnfields(res_.get()) : 0; }
int Result::column(std::string_view name) const noexcept {
  if (!res_) return -1;
  std::string n(name);
  return PQfnumber(res_.get(), n.c_str());
}
std::string Result::column_name(int col) const {
  const char* n = res_ ? PQfname(res_.get(), col) : nullptr;
  return n ? n : "";
}
bool Result::is_null(int row, int col) const noexcept {
  return !res_ || PQgetisnull(res_.get(), row, col);
}
std::string_view Result::get(int row, int col) const noexcept {
  if (is_null(row, col)) return {};
  return {PQgetvalue(res_.get(), row, col),
          static_cast<std::size_t>(PQgetlength(res_.get(), row, col))};
}
std::optional<std::string> Result::opt(int row, int col) const {
  if (is_null(row, col)) return std::nullopt;
  return std::string(get(row, col));
}
int64_t Result::get_int64(int row, int col) const {
  if (is_null(row, col)) return 0;
  auto v = get(row, col);
  int64_t out = 0;
  auto r = std::from_chars(v.data(), v.data() + v.size(), out);
  if (r.ec != std::errc())
    throw Error(ErrorCode::Internal, "not an integer: \"" + std::string(v) + "\"");
  return out;
}
bool Result::get_bool(int row, int col) const {
  if (is_null(row, col)) return false;
  auto v = get(row, col);
  return v == "t" || v == "true";
}
Json Result::get_json(int row, int col) const {
  if (is_null(row, col)) return nullptr;
  return Json::parse(get(row, col));
}
Clock::time_point Result::get_time(int row, int col) const {
  if (is_null(row, col)) return {};
  return parse_timestamp(get(row, col));
}
std::optional<Clock::time_point> Result::opt_time(int row, int col) const {
  if (is_null(row, col)) return std::nullopt;
  return parse_timestamp(get(row, col));
}
int Result::col_or_throw(std::string_view name) const {
  int c = column(name);
  if (c < 0) throw Error(ErrorCode::Internal, "result has no column \"" + std::string(name) + "\"");
  return c;
}
bool Result::is_null(int row, std::string_view col) const { return is_null(row, col_or_throw(col)); }
std::string_view Result::get(int row, std::string_view col) const { return get(row, col_or_throw(col)); }
std::optional<std::string> Result::opt(int row, std::string_view col) const {
  return opt(row, col_or_throw(col));
}
int64_t Result::get_int64(int row, std::string_view col) const { return get_int64(row, col_or_throw(col)); }
bool Result::get_bool(int row, std::string_view col) const { return get_bool(row, col_or_throw(col)); }
Json Result::get_json(int row, std::string_view col) const { return get_json(row, col_or_throw(col)); }
Clock::time_point Result::get_time(int row, std::string_view col) const {
  return get_time(row, col_or_throw(col));
}
std::optional<Clock::time_point> Result::opt_time(int row, std::string_view col) const {
  return opt_time(row, col_or_throw(col));
}

// ---- Connection ------------------------------------------------------------------------

namespace {

void ignore_notice(void*, const char*) {}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

[[noreturn]] void throw_from(pg_conn* conn, pg_result* res) {
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlstate = state ? state : "";
  std::string message;
  if (res) {
    const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char* detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    if (primary) {
      message = primary;
      if (detail) message += std::string(": ") + detail;
    } else {
      message = trim(PQresultErrorMessage(res));
    }
  }
  if (message.empty()) message = trim(PQerrorMessage(conn));
  if (message.empty()) message = "unknown libpq error";
  ErrorCode code = error_code_from_sqlstate(sqlstate);
  if (PQstatus(conn) != CONNECTION_OK) code = ErrorCode::Connection;
  else if (sqlstate.empty() && !res) code = ErrorCode::Connection;
  throw Error(code, message, sqlstate);
}

Result check(pg_conn* conn, pg_result* raw) {
  Result res(raw);
  if (!raw) throw_from(conn, nullptr);
  auto st = PQresultStatus(raw);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) return res;
  throw_from(conn, raw);
}

}  // namespace

Connection::Connection(const std::string& conninfo, std::chrono::milliseconds connect_timeout,
                       Pooling pooling) {
  auto secs = (connect_timeout.count() + 999) / 1000;
  if (secs < 2) secs = 2;
  std::string timeout = std::to_string(secs);
  // Our defaults first: settings in the caller's conninfo (expanded from "dbname") win.
  const char* keys[] = {"connect_timeout", "fallback_application_name", "dbname", nullptr};
  const char* values[] = {timeout.c_str(), "taskmill", conninfo.c_str(), nullptr};
  conn_.reset(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
  if (!conn_) throw Error(ErrorCode::Connection, "out of memory opening a connection");
  if (PQstatus(conn_.get()) != CONNECTION_OK)
    throw Error(ErrorCode::Connection, trim(PQerrorMessage(conn_.get())));
  PQsetNoticeProcessor(conn_.get(), ignore_notice, nullptr);
  // A pooler (PgBouncer) re-applies TimeZone and DateStyle on every server session it
  // hands this connection (it tracks them from the server's ParameterStatus messages).
  // The same round trip tells a proxy apart: the process id in the startup answer is the
  // proxy's own (a random key of its own), not the one of the backend running the query.
  Result who = check(conn_.get(), PQexec(conn_.get(),
                                         "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; "
                                         "SELECT pg_backend_pid()"));
  if (pooling == Pooling::Detect)
    pooled_ = who.rows() == 1 && who.get_int64(0, 0) != PQbackendPID(conn_.get());
  else
    pooled_ = pooling == Pooling::Transaction;
}

Connection::Connection(Connection&&) noexcept = default;
Connection& Connection::operator=(Connection&&) noexcept = default;
Connection::~Connection() = default;

Result Connection::exec_params(std::string_view sql, const std::vector<Param>& params) {
  if (!conn_) throw Error(ErrorCode::Connection, "connection is closed");
  std::string text(sql);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  return check(conn_.get(), PQexecParams(conn_.get(), text.c_str(), static_cast<int>(values.size()),
                                         nullptr, values.data(), nullptr, nullptr, 0));
}

Result Connection::exec_prepared(const std::string& name, std::string_view sql,
                                 const std::vector<Param>& params) {
  if (!conn_) throw Error(ErrorCode::Connection, "connection is closed");
  if (pooled_) return exec_params(sql, params);  // no session to keep a statement in
  auto run = [&]() {
    if (!prepared_.contains(name)) {
      std::string text(sql);
      check(conn_.get(), PQprepare(conn_.get(), name.c_str(), text.c_str(), 0, nullptr));
      prepared_[name] = true;
    }
    std::vector<const char*> values;
    values.reserve(params.size());
    for (auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    return check(conn_.get(), PQexecPrepared(conn_.get(), name.c_str(),
                                             static_cast<int>(values.size()), values.data(),
                                             nullptr, nullptr, 0));
  };
  try {
    return run();
  } catch (const Error& e) {
    // "cached plan must not change result type": the extension was upgraded under this
    // session (e.g. a column added to taskmill.tasks). Prepare again, once, when no
    // transaction of the caller's was aborted by the failure.
    if (e.sqlstate() != "0A000" || !prepared_.contains(name) || in_transaction()) throw;
    std::string dealloc = "DEALLOCATE " + name;  // our own fixed statement names
    check(conn_.get(), PQexec(conn_.get(), dealloc.c_str()));
    prepared_.erase(name);
    return run();
  }
}

bool Connection::ok() const noexcept { return conn_ && PQstatus(conn_.get()) == CONNECTION_OK; }

bool Connection::in_transaction() const noexcept {
  return conn_ && PQtransactionStatus(conn_.get()) != PQTRANS_IDLE;
}

// ---- Transaction -----------------------------------------------------------------------

Transaction::Transaction(Connection& conn) : conn_(conn) { conn_.exec("BEGIN"); }

Transaction::~Transaction() {
  if (!done_) {
    try {
      rollback();
    } catch (...) {
      // The connection is broken or already outside a transaction: nothing left to undo.
    }
  }
}

void Transaction::commit() {
  done_ = true;
  Result res = conn_.exec("COMMIT");
  // COMMIT of a transaction that already failed answers ROLLBACK instead of an error.
  if (std::string_view(PQcmdStatus(res.native())) == "ROLLBACK")
    throw Error(ErrorCode::Internal, "transaction was rolled back: an earlier statement failed");
}

void Transaction::rollback() {
  done_ = true;
  conn_.exec("ROLLBACK");
}

}  // namespace taskmill
