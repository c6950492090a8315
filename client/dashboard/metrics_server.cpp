// MetricsServer: cpp-httplib serving one registry on /metrics.
#include "metrics_server.hpp"

#include <chrono>
#include <stdexcept>
#include <thread>

#include <httplib.h>

namespace taskmill::dashboard {

void wait_until_running(httplib::Server& server) {
  // stop() before the accept loop started would be lost (and the join would hang).
  for (int i = 0; i < 5000 && !server.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

struct MetricsServer::Impl {
  httplib::Server server;
  int port = 0;
  std::thread thread;
};

MetricsServer::MetricsServer(metrics::Registry& registry, const ListenAddress& address)
    : impl_(std::make_unique<Impl>()) {
  impl_->server.Get("/metrics", [&registry](const httplib::Request&, httplib::Response& res) {
    res.set_content(registry.expose(), kMetricsContentType);
  });
  impl_->server.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("taskmill worker metrics: GET /metrics\n", "text/plain");
  });
  if (address.port == 0)
    impl_->port = impl_->server.bind_to_any_port(address.host);
  else if (impl_->server.bind_to_port(address.host, address.port))
    impl_->port = address.port;
  else
    impl_->port = -1;
  if (impl_->port <= 0)
    throw std::runtime_error("cannot listen on " + address.text() + " for metrics");
  impl_->thread = std::thread([this] { impl_->server.listen_after_bind(); });
  wait_until_running(impl_->server);
}

MetricsServer::~MetricsServer() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int MetricsServer::port() const noexcept { return impl_->port; }

}  // namespace taskmill::dashboard
