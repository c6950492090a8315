// Acker (see worker_acker.hpp).
#include "worker_acker.hpp"

#include <algorithm>
#include <iterator>

#include "taskmill/error.hpp"

namespace taskmill::worker {

void Acker::start() {
  {
    std::lock_guard lk(mu_);
    running_ = true;
  }
  thread_ = std::jthread([this](std::stop_token st) { loop(st); });
}

void Acker::stop() {
  {
    std::lock_guard lk(mu_);
    running_ = false;  // handler threads still running ack directly from now on
  }
  thread_.request_stop();
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Acker::submit(calls::AckItem item) {
  const bool offer = item.grouped;
  bool tell;
  {
    std::lock_guard lk(mu_);
    if (!running_) return false;
    const bool was_empty = acks_.empty();
    acks_.push_back(std::move(item));
    if (was_empty && offer) handoff_until_ = std::chrono::steady_clock::now() + kHandOff;
    // The acker sleeps while acks_ is empty or holds offered acks only: wake it when that
    // changes (it then sends at once, or waits out the hand-off).
    tell = was_empty || (offered_only_ && !offer);
    offered_only_ = offer && (was_empty || offered_only_);
  }
  if (offer) on_group_acked_();  // the fetcher may claim the group's next task with it
  if (tell) cv_.notify_one();
  return true;
}

std::vector<calls::AckItem> Acker::take_offered() {
  std::vector<calls::AckItem> taken;
  std::lock_guard lk(mu_);
  if (offered_only_) {
    taken.swap(acks_);
    offered_only_ = false;
  }
  return taken;
}

void Acker::give_back(std::vector<calls::AckItem> acks) {
  if (acks.empty()) return;
  {
    std::lock_guard lk(mu_);
    acks_.insert(acks_.begin(), std::make_move_iterator(acks.begin()),
                 std::make_move_iterator(acks.end()));
    offered_only_ = false;  // send them now
  }
  cv_.notify_one();
}

void Acker::loop(std::stop_token st) {
  int failures = 0;
  for (;;) {
    std::vector<calls::AckItem> batch;
    {
      std::unique_lock lk(mu_);
      for (;;) {
        cv_.wait(lk, st, [&] { return !acks_.empty(); });
        if (acks_.empty()) return;  // stopping and flushed
        if (!offered_only_ || st.stop_requested()) break;
        // Offered to the fetcher: send them only if it has not taken them by then. (A copy:
        // the wait reads its deadline while our lock is released, and submit() may set it.)
        const auto until = handoff_until_;
        cv_.wait_until(lk, st, until, [&] { return acks_.empty() || !offered_only_; });
        if (acks_.empty()) continue;
        break;
      }
      batch.swap(acks_);
      offered_only_ = false;
    }
    bool sent = false;
    try {
      auto lease = s_.client.acquire();
      calls::ack(*lease, batch);
      sent = true;
      failures = 0;
    } catch (const Error& e) {
      ++failures;
      bool give_up = e.code() != ErrorCode::Connection ||
                     (st.stop_requested() && failures >= 3) || failures >= 50;
      if (give_up) {
        s_.report(std::string("ack failed: ") + e.what());
        sent = true;  // drop: the tasks come back after their visibility timeout
      } else {
        sleep_for(st, std::min(milliseconds(50) * failures, milliseconds(2000)));
      }
    } catch (const std::exception& e) {
      s_.report(std::string("ack failed: ") + e.what());
      sent = true;
    }
    if (!sent) {
      // Put them back in front of newer ones and retry.
      std::lock_guard lk(mu_);
      acks_.insert(acks_.begin(), std::make_move_iterator(batch.begin()),
                   std::make_move_iterator(batch.end()));
      continue;
    }
    if (std::any_of(batch.begin(), batch.end(), [](auto& a) { return a.grouped; }))
      on_group_acked_();
  }
}

}  // namespace taskmill::worker
