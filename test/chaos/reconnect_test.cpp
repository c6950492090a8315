// Deterministic companion of the chaos suite's crash scenario: the library's Worker comes
// back within a bounded time once the server is reachable again, however long the outage.
// (The chaos crash scenario measured the Worker's first handler run 3.2 s after the server
// accepted connections again: its retry backoff doubled up to 5 s, so after an outage of
// several seconds it slept up to 5 s past the server's return.)
//
// The outage is a loopback TCP proxy between the Worker and the server that, while "down",
// cuts every connection and closes new ones at once; the server itself keeps running, so
// tasks are enqueued directly and the moment the path comes back is exact.
//
// Needs PGHOST / PGPORT / PGUSER of a running server and CHAOS_TEST_DB, a database with
// taskmill installed (test/suites/chaos.sh provides both).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <taskmill/taskmill.hpp>

using namespace std::chrono_literals;

namespace {

std::string env(const char* k, const char* def) {
  const char* v = std::getenv(k);
  return v && *v ? v : def;
}

// Forwards 127.0.0.1:<port()> to the server; down() cuts everything until up().
class Proxy {
 public:
  Proxy(std::string host, int target_port) : host_(std::move(host)), target_(target_port) {
    lfd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (::bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(lfd_, 64) != 0)
      throw std::runtime_error("proxy: bind/listen failed");
    socklen_t len = sizeof a;
    ::getsockname(lfd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::jthread([this](std::stop_token st) { accept_loop(st); });
  }
  ~Proxy() {
    acceptor_.request_stop();
    acceptor_.join();
    down();
    std::lock_guard lk(mu_);
    for (auto& t : pipes_) t.request_stop();
    pipes_.clear();
    ::close(lfd_);
  }
  int port() const { return port_; }
  void down() {
    std::lock_guard lk(mu_);
    down_ = true;
    for (auto& [c, s] : live_) {
      ::shutdown(c, SHUT_RDWR);
      ::shutdown(s, SHUT_RDWR);
    }
  }
  void up() {
    std::lock_guard lk(mu_);
    down_ = false;
  }

 private:
  void accept_loop(std::stop_token st) {
    while (!st.stop_requested()) {
      pollfd p{lfd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept(lfd_, nullptr, nullptr);
      if (c < 0) continue;
      std::lock_guard lk(mu_);
      if (down_) {
        ::close(c);  // the client sees the server close the connection at once
        continue;
      }
      int s = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(target_));
      ::inet_pton(AF_INET, host_.c_str(), &a.sin_addr);
      if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(s);
        ::close(c);
        continue;
      }
      live_[c] = s;
      pipes_.emplace_back([this, c, s](std::stop_token pst) { pipe(pst, c, s); });
    }
  }
  void pipe(std::stop_token st, int c, int s) {
    char buf[16384];
    while (!st.stop_requested()) {
      pollfd p[2] = {{c, POLLIN, 0}, {s, POLLIN, 0}};
      if (::poll(p, 2, 50) <= 0) continue;
      bool done = false;
      for (int i = 0; i < 2 && !done; ++i) {
        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = ::read(p[i].fd, buf, sizeof buf);
        // send(MSG_NOSIGNAL): a peer that closed must end this pipe, not raise SIGPIPE and
        // kill the test process
        if (n <= 0 || ::send(i == 0 ? s : c, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) done = true;
      }
      if (done) break;
    }
    std::lock_guard lk(mu_);
    live_.erase(c);
    ::close(c);
    ::close(s);
  }

  std::string host_;
  int target_, lfd_, port_ = 0;
  std::mutex mu_;
  bool down_ = false;
  std::map<int, int> live_;
  std::vector<std::jthread> pipes_;
  std::jthread acceptor_;
};

TEST(Worker, ReconnectsWithinASecondOfTheServerComingBack) {
  const std::string db = env("CHAOS_TEST_DB", "chaos_reconnect");
  const std::string host = env("PGHOST", "127.0.0.1");
  const int port = std::stoi(env("PGPORT", "5432"));
  const std::string direct = "host=" + host + " port=" + std::to_string(port) + " dbname=" + db;
  Proxy proxy(host, port);
  taskmill::Connection admin(direct);
  admin.exec("SELECT taskmill.purge('reconnect')");

  taskmill::Client client("host=127.0.0.1 port=" + std::to_string(proxy.port()) + " dbname=" + db +
                          " user=" + env("PGUSER", "postgres"));
  std::mutex mu;
  std::map<std::string, std::chrono::steady_clock::time_point> handled;
  taskmill::WorkerOptions wo;
  wo.concurrency = 1;
  wo.poll_interval = 200ms;
  wo.visibility_timeout = 5000ms;
  taskmill::Worker worker(client, "reconnect", wo);
  worker.register_task("t", [&](taskmill::TaskContext& ctx) {
    std::lock_guard lk(mu);
    handled.emplace(ctx.payload().at("k").get<std::string>(), std::chrono::steady_clock::now());
  });
  auto wait_handled = [&](const std::string& k, std::chrono::seconds limit) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      {
        std::lock_guard lk(mu);
        auto it = handled.find(k);
        if (it != handled.end()) return it->second;
      }
      std::this_thread::sleep_for(10ms);
    }
    return std::chrono::steady_clock::time_point{};
  };
  auto enqueue = [&](const std::string& k) {
    admin.exec("SELECT taskmill.enqueue('reconnect', 't', jsonb_build_object('k', $1::text))", k);
  };
  worker.start();
  enqueue("before");
  ASSERT_NE(wait_handled("before", 30s), std::chrono::steady_clock::time_point{});

  // An 8 s outage: long enough for a backoff that doubles to reach several seconds.
  proxy.down();
  std::this_thread::sleep_for(8s);
  proxy.up();
  auto back = std::chrono::steady_clock::now();
  enqueue("after");
  auto at = wait_handled("after", 30s);
  ASSERT_NE(at, std::chrono::steady_clock::time_point{}) << "the task enqueued after the outage never ran";
  auto lag = std::chrono::duration_cast<std::chrono::milliseconds>(at - back);
  // Retries are at most 1 s apart: the worker's next dequeue comes within 1 s, plus a
  // connection and a round trip (generous margin for a loaded 2-core machine; the old 5 s
  // backoff gave 3.3 s here).
  EXPECT_LT(lag.count(), 2500) << "worker took " << lag.count() << " ms to come back";
  worker.stop();
}

}  // namespace
