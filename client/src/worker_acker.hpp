// Acker: sends the acks of completed deliveries, whatever is ready in one ack_many as soon
// as the previous call returned (no timer, no batch to fill). Its own lock guards the
// pending acks and whether it runs; submit() after stop() answers false (the handler
// thread then acks directly: a straggler of a stop that timed out).
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "worker_calls.hpp"

namespace taskmill::worker {

class Acker {
 public:
  // on_group_acked: some acked task was of a FIFO group (its next task is deliverable).
  Acker(const Setup& setup, std::function<void()> on_group_acked)
      : s_(setup), on_group_acked_(std::move(on_group_acked)) {}

  void start();
  // Sends what is pending (a few retries if the server is unreachable), then stops.
  void stop();
  // Queues an ack; false when the acker is not running.
  bool submit(calls::AckItem item);

 private:
  void loop(std::stop_token st);

  const Setup& s_;
  std::function<void()> on_group_acked_;
  std::mutex mu_;
  std::condition_variable_any cv_;  // acks_ went non-empty
  std::vector<calls::AckItem> acks_;
  bool running_ = false;
  std::jthread thread_;
};

}  // namespace taskmill::worker
