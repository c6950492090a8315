// A small HTTP server answering GET /metrics from a metrics::Registry (the CLI worker's
// --metrics-listen). Runs on its own thread from construction to destruction.
#pragma once

#include <memory>
#include <string>

#include <taskmill/metrics.hpp>

#include "listen.hpp"

namespace taskmill::dashboard {

class MetricsServer {
 public:
  // Binds at once: throws std::runtime_error when the address cannot be bound.
  MetricsServer(metrics::Registry& registry, const ListenAddress& address);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  int port() const noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace taskmill::dashboard

namespace httplib {
class Server;
}

namespace taskmill::dashboard {

// Waits (up to 5 s) until `server`'s accept loop, started on another thread, runs.
void wait_until_running(httplib::Server& server);

// The Content-Type of the Prometheus text exposition format.
inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace taskmill::dashboard
