// Fetcher and intake (see worker_fetcher.hpp).
#include "worker_fetcher.hpp"

#include <algorithm>

#include "taskmill/error.hpp"
#include "worker_calls.hpp"

namespace taskmill::worker {

using namespace std::chrono_literals;

std::vector<std::shared_ptr<InFlight>> intake(Tracker& tracker, LocalQueue& queue,
                                              std::vector<Task> tasks, int n,
                                              Clock::time_point claimed_at, bool by_listener) {
  std::vector<Claimed> batch;
  std::vector<std::shared_ptr<InFlight>> entries;
  batch.reserve(tasks.size());
  entries.reserve(tasks.size());
  for (auto& t : tasks) {
    auto e = std::make_shared<InFlight>();
    e->id = t.id;
    e->lease = t.lease;
    entries.push_back(e);
    batch.push_back(Claimed{std::move(t), std::move(e)});
  }
  tracker.add(batch, claimed_at, by_listener);
  queue.take(std::move(batch), n, by_listener);
  return entries;
}

void Fetcher::start() {
  thread_ = std::jthread([this](std::stop_token st) { loop(st); });
}

void Fetcher::stop() { stop_and_join(thread_); }

void Fetcher::loop(std::stop_token st) {
  milliseconds backoff{0};
  auto next_poll = Clock::now();
  bool combine = true;     // the server has ack_dequeue (0.2 on)
  bool solo_once = false;  // the last ack_dequeue failed on its acks: claim alone once
  while (!st.stop_requested()) {
    const int n = queue_.wait_turn(st, next_poll);
    if (n == 0) return;
    std::vector<Task> tasks;
    std::vector<calls::AckItem> acks;
    if (combine && !solo_once) acks = acker_.take_offered();
    solo_once = false;
    const auto claimed_at = Clock::now();  // the visibility runs from (after) here
    try {
      auto lease = s_.client.acquire(st);
      s_.dequeues.fetch_add(1, std::memory_order_relaxed);
      tasks = acks.empty() ? calls::dequeue(*lease, s_, n) : calls::ack_dequeue(*lease, s_, n, acks);
      backoff = 0ms;
    } catch (const std::exception& e) {
      if (!acks.empty()) {
        // Nothing of the call committed: the acker sends the acks (its own retries and
        // error reports), and the claim is retried at once without them.
        acker_.give_back(std::move(acks));
        const auto* err = dynamic_cast<const Error*>(&e);
        if (err && err->code() != ErrorCode::Connection) {
          if (err->sqlstate() == "42883") combine = false;  // an extension older than 0.2
          solo_once = true;
          queue_.fetch_failed(/*retry_now=*/true);
          continue;
        }
      }
      queue_.fetch_failed(/*retry_now=*/false);
      if (st.stop_requested()) return;
      // Server restart, connection refused, extension missing ...: retry with backoff, at
      // most kMaxRetryDelay apart (back within about a second of the server).
      backoff = backoff == 0ms ? 100ms : std::min(backoff * 2, kMaxRetryDelay);
      s_.report(std::string("dequeue failed: ") + e.what());
      if (!sleep_for(st, backoff)) return;
      next_poll = Clock::now();
      continue;
    }
    next_poll = Clock::now() + s_.opt.poll_interval;
    intake(tracker_, queue_, std::move(tasks), n, claimed_at, false);
  }
}

}  // namespace taskmill::worker
