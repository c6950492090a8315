// Acker: sends the acks of completed deliveries, whatever is ready in one ack_many as soon
// as the previous call returned (no timer, no batch to fill). Its own lock guards the
// pending acks and whether it runs; submit() after stop() answers false (the handler
// thread then acks directly: a straggler of a stop that timed out).
//
// Acks of FIFO-group tasks are offered to the fetcher first: submit() wakes it, and it
// takes them (take_offered) and sends them with its next claim in one ack_dequeue, so that
// the ack that frees a group and the claim of the group's next task are one transaction;
// the acker sends them itself if they are still pending kHandOff later (the fetcher had no
// room or was busy). Other acks are the acker's alone: sent on its own connection they
// overlap the fetcher's claim on another server backend, where carried by the claim they
// would lengthen it (bench: one Worker on a plain queue, docs/benchmarks.md).
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
  // The fetcher's side: the pending acks when every one was offered to it (FIFO-group
  // acks), taken out (the fetcher sends them), else none; and those it could not send,
  // given back in front of newer ones.
  std::vector<calls::AckItem> take_offered();
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
