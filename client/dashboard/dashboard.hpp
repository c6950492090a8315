// `taskmill dashboard`: a web page over a taskmill database (queues, dead letters, schedules,
// results, health) and /metrics for Prometheus, served by cpp-httplib from this process.
// The page is static HTML/CSS/JS compiled into the binary (assets/) that polls the JSON API.
// With an access token, every read below but /api/session needs the session of a login or
// "Authorization: Bearer TOKEN" (/metrics too, unless metrics_public); without one the
// dashboard serves loopback only, to every local user, and changes nothing (security.hpp):
//   GET  /api/session      {read_only, signed_in, csrf, redact_payloads}
//   POST /api/login        {token} -> session cookie + {csrf};  POST /api/logout
//   GET  /api/overview     queues with counts and sparkline history (sampler.hpp)
//   GET  /api/dlq?queue=&limit=&offset=        dead-lettered tasks
//   POST /api/dlq/requeue  {ids: [..]}            POST /api/dlq/purge {queue, confirm}
//   GET  /api/schedules    GET /api/health
//   GET  /api/results?queue=&after=&before=&limit=&offset=
//   GET  /metrics          Prometheus text format
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <taskmill/client.hpp>
#include <taskmill/metrics.hpp>

#include "listen.hpp"

namespace taskmill::dashboard {

struct DashboardOptions {
  ListenAddress listen{"127.0.0.1", 8080};
  // Needed for every read and action. None: read-only, readable by every local user, and
  // only a loopback `listen` address is accepted.
  std::optional<std::string> token{};
  std::chrono::milliseconds interval{2000};    // sampling period
  std::vector<std::string> allowed_hosts{};    // more Host header values to accept
  bool metrics_public = false;                 // /metrics without the token
  // Payloads, results and error texts are sent as null (queue names, ids, keys, groups,
  // counts and times are not).
  bool redact_payloads = false;
};

class Dashboard {
 public:
  // Binds and starts serving on its own threads; throws std::runtime_error when the address
  // cannot be bound, std::invalid_argument for a non-loopback address without a token.
  // `client` must outlive the dashboard.
  Dashboard(Client& client, DashboardOptions options);
  ~Dashboard();
  Dashboard(const Dashboard&) = delete;
  Dashboard& operator=(const Dashboard&) = delete;

  int port() const noexcept;
  metrics::Registry& registry() noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace taskmill::dashboard
