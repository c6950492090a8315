// Raw libpq helpers for the client tests (see pg.hpp).
#include "pg.hpp"

#include <cstdio>
#include <stdexcept>

namespace testutil {

std::optional<std::string> PgResult::get(int row, int col) const {
  if (!res_ || row >= rows() || col < 0 || col >= cols())
    throw std::out_of_range("PgResult: no such row/column");
  if (PQgetisnull(res_.get(), row, col)) return std::nullopt;
  return std::string(PQgetvalue(res_.get(), row, col), PQgetlength(res_.get(), row, col));
}

std::optional<std::string> PgResult::get(int row, const char* col) const {
  int c = res_ ? PQfnumber(res_.get(), col) : -1;
  if (c < 0) throw std::out_of_range(std::string("PgResult: no column ") + col);
  return get(row, c);
}

std::string PgResult::str(int row, const char* col) const {
  auto v = get(row, col);
  if (!v) throw std::runtime_error(std::string("PgResult: column is NULL: ") + col);
  return *v;
}

int64_t PgResult::i64(int row, const char* col) const { return std::stoll(str(row, col)); }
double PgResult::f64(int row, const char* col) const { return std::stod(str(row, col)); }
bool PgResult::boolean(int row, const char* col) const { return str(row, col) == "t"; }

PgConn::PgConn(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str()), &PQfinish) {
  if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK)
    throw std::runtime_error("testutil: cannot connect (" + conninfo +
                             "): " + (conn_ ? PQerrorMessage(conn_.get()) : "out of memory"));
  // NOTICEs are dropped (e.g. "extension already exists", so test output stays readable)
  // unless on_notice() names a handler.
  PQsetNoticeProcessor(
      conn_.get(),
      [](void* fn, const char* msg) {
        auto* f = static_cast<std::function<void(const char*)>*>(fn);
        if (*f) (*f)(msg);
      },
      notice_.get());
}

PgResult PgConn::checked(PGresult* r, const std::string& what) {
  PgResult res(r);
  auto st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    throw PgError("testutil: " + what + ": " + PQerrorMessage(conn_.get()), state ? state : "");
  }
  return res;
}

namespace {
std::vector<const char*> param_values(const std::vector<std::optional<std::string>>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  return values;
}
}  // namespace

PgResult PgConn::exec(const std::string& sql, const std::vector<std::optional<std::string>>& params) {
  auto values = param_values(params);
  return checked(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                              nullptr, nullptr, 0),
                 sql);
}

PgResult PgConn::script(const std::string& sql) { return checked(PQexec(conn_.get(), sql.c_str()), sql); }

void PgConn::prepare(const std::string& name, const std::string& sql, int nparams) {
  checked(PQprepare(conn_.get(), name.c_str(), sql.c_str(), nparams, nullptr), sql);
}

PgResult PgConn::exec_prepared(const std::string& name, const std::vector<std::optional<std::string>>& params) {
  auto values = param_values(params);
  return checked(PQexecPrepared(conn_.get(), name.c_str(), static_cast<int>(values.size()), values.data(), nullptr,
                                nullptr, 0),
                 name);
}

int64_t PgConn::scalar_i64(const std::string& sql, const std::vector<std::optional<std::string>>& params) {
  auto v = scalar(sql, params);
  if (!v) throw std::runtime_error("testutil: NULL from " + sql);
  return std::stoll(*v);
}

std::optional<std::string> PgConn::scalar(const std::string& sql,
                                          const std::vector<std::optional<std::string>>& params) {
  auto r = exec(sql, params);
  if (r.rows() < 1) return std::nullopt;
  return r.get(0, 0);
}

int64_t to_micros(std::chrono::system_clock::time_point tp) {
  return std::chrono::duration_cast<std::chrono::microseconds>(tp.time_since_epoch()).count();
}

std::string epoch_text(std::chrono::system_clock::time_point tp) {
  int64_t us = to_micros(tp);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%lld.%06lld", static_cast<long long>(us / 1000000),
                static_cast<long long>(us % 1000000));
  return buf;
}

}  // namespace testutil
