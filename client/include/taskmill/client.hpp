// taskmill::Client: conninfo + a small pool of connections, and migrate().
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "taskmill/connection.hpp"

namespace taskmill {

struct ClientOptions {
  // Most connections open at once in the pool (Worker/Scheduler/Enqueuer borrow from it;
  // a Worker's LISTEN connection is its own, outside the pool).
  int pool_size = 8;
  // libpq connect_timeout (rounded up to whole seconds, at least 2 s, as libpq wants).
  std::chrono::milliseconds connect_timeout{5000};
  // How conninfo reaches the server (Connection::pooled): Detect finds PgBouncer & co. by
  // itself; Transaction declares a transaction pooler; Direct declares a server session.
  Pooling pooling = Pooling::Detect;
  // A direct (unpooled) server connection for what needs a session of its own: a Worker's
  // LISTEN and idle-waiter lock (one connection per Worker). Empty: conninfo itself, unless
  // that goes through a transaction pooler: then Workers poll (poll_interval) instead.
  std::string listen_conninfo{};
};

// Thread-safe. Must outlive every Enqueuer, Worker, Scheduler and Console built on it.
class Client {
 public:
  explicit Client(std::string conninfo = "", ClientOptions options = {});
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client();

  // CREATE EXTENSION IF NOT EXISTS taskmill, then ALTER EXTENSION taskmill UPDATE, in one
  // transaction under a transaction-level advisory lock (no session state: works behind a
  // transaction pooler), so several processes may call it at once and all succeed.
  void migrate();

  // A pooled connection borrowed for the lease's lifetime; returned on destruction
  // (discarded instead if it broke, or if a transaction was left open).
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&&) noexcept;
    Lease& operator=(Lease&&) noexcept;
    ~Lease();
    Connection* operator->() const noexcept { return conn_.get(); }
    Connection& operator*() const noexcept { return *conn_; }
    Connection& get() const noexcept { return *conn_; }
    explicit operator bool() const noexcept { return conn_ != nullptr; }

   private:
    friend class Client;
    Lease(Client* owner, std::unique_ptr<Connection> conn) : owner_(owner), conn_(std::move(conn)) {}
    void release() noexcept;
    Client* owner_ = nullptr;
    std::unique_ptr<Connection> conn_;
  };

  // Borrow a connection: an idle one, a new one while fewer than pool_size are open, or wait
  // for one to come back (until `stop` is requested: then Error(Timeout)). Throws
  // Error(Connection) when a new connection cannot be opened.
  Lease acquire(std::stop_token stop = {});

  // A new connection outside the pool (e.g. for a caller's own transaction).
  Connection connect() const;
  // A new connection with a server session of its own (listen_conninfo, else conninfo),
  // for LISTEN and session locks; std::nullopt when the only one on offer goes through a
  // transaction pooler.
  std::optional<Connection> connect_session() const;

  const std::string& conninfo() const noexcept { return conninfo_; }
  const ClientOptions& options() const noexcept { return options_; }

 private:
  void give_back(std::unique_ptr<Connection> conn) noexcept;

  std::string conninfo_{};
  ClientOptions options_;
  std::mutex mu_;
  std::condition_variable_any cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
  int open_ = 0;
};

}  // namespace taskmill
