// MetricsServer: cpp-httplib serving one registry on /metrics.
#include "metrics_server.hpp"

#include <chrono>
#include <optional>
#include <stdexcept>

#include <httplib.h>

#include "security.hpp"

namespace taskmill::dashboard {

ServingThread::ServingThread(httplib::Server& server)
    : server_(server), thread_([&server] { server.listen_after_bind(); }) {
  // stop() before the accept loop started would be lost (and the join would hang).
  for (int i = 0; i < 5000 && !server_.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

ServingThread::~ServingThread() {
  server_.stop();
  if (thread_.joinable()) thread_.join();
}

struct MetricsServer::Impl {
  httplib::Server server;
  int port = 0;
  std::optional<ServingThread> serving;  // after server: stopped before it goes
};

MetricsServer::MetricsServer(metrics::Registry& registry, const ListenAddress& address,
                             std::optional<std::string> token)
    : impl_(std::make_unique<Impl>()) {
  impl_->server.Get("/metrics", [&registry, token = std::move(token)](const httplib::Request& req,
                                                                       httplib::Response& res) {
    if (token && !bearer_matches(req.get_header_value("Authorization"), *token)) {
      res.status = 401;
      res.set_header("WWW-Authenticate", "Bearer realm=\"taskmill worker metrics\"");
      res.set_content("the metrics need Authorization: Bearer TOKEN\n", "text/plain");
      return;
    }
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
  impl_->serving.emplace(impl_->server);
}

MetricsServer::~MetricsServer() = default;

int MetricsServer::port() const noexcept { return impl_->port; }

}  // namespace taskmill::dashboard
