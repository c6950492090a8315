// taskmill::Client: a small connection pool and migrate().
#include "taskmill/client.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include "taskmill/error.hpp"

namespace taskmill {

Client::Client(std::string conninfo, ClientOptions options)
    : conninfo_(std::move(conninfo)), options_(options) {
  if (options_.pool_size < 1) options_.pool_size = 1;
}

Client::~Client() = default;

Connection Client::connect() const {
  return Connection(conninfo_, options_.connect_timeout, options_.pooling);
}

std::optional<Connection> Client::connect_session() const {
  if (!options_.listen_conninfo.empty()) {
    Connection c(options_.listen_conninfo, options_.connect_timeout);
    if (c.pooled()) return std::nullopt;  // listen_conninfo names a pooler too
    return c;
  }
  Connection c = connect();
  if (c.pooled()) return std::nullopt;
  return c;
}

namespace {
// An idle pooled connection has nothing to read; if its socket is readable the server closed
// it (restart, pg_terminate_backend) or sent something unexpected: don't hand it out.
bool looks_healthy(const Connection& c) {
  if (!c.ok()) return false;
  pollfd pfd{PQsocket(c.native()), POLLIN, 0};
  if (pfd.fd < 0) return false;
  int n = ::poll(&pfd, 1, 0);
  return n == 0;
}
}  // namespace

Client::Lease Client::acquire(std::stop_token stop) {
  std::unique_lock lk(mu_);
  for (;;) {
    while (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      if (looks_healthy(*conn)) return Lease(this, std::move(conn));
      --open_;  // drop it (destroyed when `conn` goes out of scope)
    }
    if (open_ < options_.pool_size) {
      ++open_;
      lk.unlock();
      try {
        auto conn = std::make_unique<Connection>(conninfo_, options_.connect_timeout,
                                                 options_.pooling);
        return Lease(this, std::move(conn));
      } catch (...) {
        lk.lock();
        --open_;
        cv_.notify_one();
        throw;
      }
    }
    cv_.wait(lk, stop, [&] { return !idle_.empty() || open_ < options_.pool_size; });
    if (stop.stop_requested())
      throw Error(ErrorCode::Timeout, "stopped while waiting for a pooled connection");
  }
}

void Client::give_back(std::unique_ptr<Connection> conn) noexcept {
  std::unique_lock lk(mu_);
  if (conn && conn->ok() && !conn->in_transaction()) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;
    lk.unlock();
    conn.reset();
    lk.lock();
  }
  cv_.notify_one();
}

// The advisory-lock key that serialises migrations: an arbitrary fixed bigint
// (0x6C64D1628611A96C), taken in the transaction that runs them and released at its end.
// Without it, CREATE EXTENSION IF NOT EXISTS races (two creators both pass the existence
// check, one fails on a duplicate key). Transaction-level: behind a transaction pooler a
// session lock could be taken on one server session and "released" on another.
constexpr std::string_view kMigrateLockSql = "SELECT pg_advisory_xact_lock(7810597874853587308)";

void Client::migrate() {
  auto lease = acquire();
  Transaction tx(lease.get());
  lease->exec(kMigrateLockSql);
  lease->exec("CREATE EXTENSION IF NOT EXISTS taskmill");
  lease->exec("ALTER EXTENSION taskmill UPDATE");
  tx.commit();
}

// ---- Lease -----------------------------------------------------------------------------

Client::Lease::Lease(Lease&& o) noexcept : owner_(o.owner_), conn_(std::move(o.conn_)) {
  o.owner_ = nullptr;
}

Client::Lease& Client::Lease::operator=(Lease&& o) noexcept {
  if (this != &o) {
    release();
    owner_ = o.owner_;
    conn_ = std::move(o.conn_);
    o.owner_ = nullptr;
  }
  return *this;
}

Client::Lease::~Lease() { release(); }

void Client::Lease::release() noexcept {
  if (owner_ && conn_) owner_->give_back(std::move(conn_));
  owner_ = nullptr;
  conn_.reset();
}

}  // namespace taskmill
