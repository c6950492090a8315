// A small HTTP server answering GET /metrics from a metrics::Registry (the CLI worker's
// --metrics-listen). Runs on its own thread from construction to destruction. With a token,
// /metrics answers only "Authorization: Bearer TOKEN" (401 otherwise); without one, anyone
// who reaches the address (the CLI asks for --metrics-public then).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <taskmill/metrics.hpp>

#include "listen.hpp"

namespace taskmill::dashboard {

class MetricsServer {
 public:
  // Binds at once: throws std::runtime_error when the address cannot be bound.
  MetricsServer(metrics::Registry& registry, const ListenAddress& address,
                std::optional<std::string> token = std::nullopt);
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

// Runs a bound `server`'s accept loop on its own thread, from construction (which returns
// once the loop runs, waiting up to 5 s) until destruction (which stops it and joins).
// The dashboard and the /metrics server share it; declare it after the server it runs.
class ServingThread {
 public:
  explicit ServingThread(httplib::Server& server);
  ~ServingThread();
  ServingThread(const ServingThread&) = delete;
  ServingThread& operator=(const ServingThread&) = delete;

 private:
  httplib::Server& server_;
  std::thread thread_;
};

// The Content-Type of the Prometheus text exposition format.
inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace taskmill::dashboard
