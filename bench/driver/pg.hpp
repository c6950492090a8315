// Minimal libpq helpers for the benchmark driver: the driver times SQL round trips itself,
// so it talks to the server directly where the measurement is of the SQL surface, and goes
// through the taskmill client library (Enqueuer, Worker) where the measurement is of it.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

using SteadyClock = std::chrono::steady_clock;

inline double secs_since(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}
inline double ms_between(SteadyClock::time_point a, SteadyClock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

class Res {
 public:
  Res() = default;
  explicit Res(PGresult* r) : r_(r, &PQclear) {}
  int rows() const { return r_ ? PQntuples(r_.get()) : 0; }
  int cols() const { return r_ ? PQnfields(r_.get()) : 0; }
  bool null(int row, int col) const { return PQgetisnull(r_.get(), row, col); }
  std::string str(int row, int col) const { return PQgetvalue(r_.get(), row, col); }
  long long i64(int row, int col) const { return std::stoll(PQgetvalue(r_.get(), row, col)); }
  double f64(int row, int col) const { return std::stod(PQgetvalue(r_.get(), row, col)); }
  PGresult* get() const { return r_.get(); }

 private:
  std::shared_ptr<PGresult> r_;
};

class Conn {
 public:
  explicit Conn(const std::string& conninfo) {
    c_ = PQconnectdb(conninfo.c_str());
    if (PQstatus(c_) != CONNECTION_OK) {
      std::string m = PQerrorMessage(c_);
      PQfinish(c_);
      c_ = nullptr;
      throw std::runtime_error("connect: " + m);
    }
    PQsetNoticeProcessor(c_, &Conn::notice_trampoline, this);
  }
  ~Conn() {
    if (c_) PQfinish(c_);
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  PGconn* native() { return c_; }

  // Simple-protocol exec of a script (may hold several statements); throws on error.
  Res exec(const std::string& sql) {
    Res r(PQexec(c_, sql.c_str()));
    check(r, sql);
    return r;
  }
  // Extended protocol with text parameters (std::nullopt = SQL NULL).
  Res q(const std::string& sql, const std::vector<std::optional<std::string>>& params = {}) {
    std::vector<const char*> v;
    v.reserve(params.size());
    for (auto& p : params) v.push_back(p ? p->c_str() : nullptr);
    Res r(PQexecParams(c_, sql.c_str(), (int)v.size(), nullptr, v.data(), nullptr, nullptr, 0));
    check(r, sql);
    return r;
  }
  void prepare(const std::string& name, const std::string& sql, int nparams) {
    Res r(PQprepare(c_, name.c_str(), sql.c_str(), nparams, nullptr));
    check(r, sql);
  }
  Res qp(const std::string& name, const std::vector<std::optional<std::string>>& params = {}) {
    std::vector<const char*> v;
    v.reserve(params.size());
    for (auto& p : params) v.push_back(p ? p->c_str() : nullptr);
    Res r(PQexecPrepared(c_, name.c_str(), (int)v.size(), v.data(), nullptr, nullptr, 0));
    check(r, name);
    return r;
  }
  std::string scalar(const std::string& sql, const std::vector<std::optional<std::string>>& params = {}) {
    Res r = q(sql, params);
    if (r.rows() < 1 || r.null(0, 0)) return "";
    return r.str(0, 0);
  }
  // Notices (auto_explain at log_level notice arrives here).
  std::function<void(const char*)> on_notice;

 private:
  static void notice_trampoline(void* self, const char* msg) {
    auto* c = static_cast<Conn*>(self);
    if (c->on_notice) c->on_notice(msg);
  }
  void check(const Res& r, const std::string& what) {
    auto st = r.get() ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return;
    std::string m = r.get() ? PQresultErrorMessage(r.get()) : PQerrorMessage(c_);
    throw std::runtime_error("SQL error: " + m + " in: " + what.substr(0, 200));
  }
  PGconn* c_ = nullptr;
};

}  // namespace bench
