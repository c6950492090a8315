// Acker: sends the acks of completed deliveries, whatever is ready in one ack_many as soon
// as the previous call returned (no timer, no batch to fill). Its own lock guards the
// pending acks and whether it runs; submit() after stop() answers false (the handler
// thread then acks directly: a straggler of a stop that timed out).
//
// The fetcher takes whatever is pending when it claims (take_pending) and sends it with
// its claim in one ack_dequeue: one commit instead of two. Acks of FIFO-group tasks are
// offered to it first: submit() wakes the fetcher, and the acker sends them itself only if
// they are still pending kHandOff later (the fetcher had no room or was busy). On a hot
// group that makes the ack that frees the group and the claim of its next task one
// transaction.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "worker_calls.hpp"

namespace taskmill::worker {

// How long an ack offered to the fetcher waits for it (it normally takes it within
// microseconds; this bounds the delay when it is busy with a claim of its own).
inline constexpr milliseconds kHandOff{2};

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
  // The fetcher's side: every pending ack, taken out (the fetcher sends them), and those
  // it could not send, given back in front of newer ones.
  std::vector<calls::AckItem> take_pending();
  void give_back(std::vector<calls::AckItem> acks);

 private:
  void loop(std::stop_token st);

  const Setup& s_;
  std::function<void()> on_group_acked_;
  std::mutex mu_;
  std::condition_variable_any cv_;  // acks_ went non-empty
  std::vector<calls::AckItem> acks_;
  // Only acks offered to the fetcher are pending (every one grouped): send them at
  // handoff_until_ if still there.
  bool offered_only_ = false;
  std::chrono::steady_clock::time_point handoff_until_{};
  bool running_ = false;
  std::jthread thread_;
};

}  // namespace taskmill::worker
