// LocalQueue (see worker_queue.hpp).
#include "worker_queue.hpp"

#include <algorithm>

namespace taskmill::worker {

void LocalQueue::reset() {
  std::lock_guard lk(mu_);
  work_.clear();
  unfinished_ = 0;
  fetching_ = fetcher_waits_ = false;
  wake_ = true;
  more_ = false;
  want_wait_ = false;
  busy_since_ = {};
  idle_execs_ = 0;
  exec_stop_ = stopping_ = false;
}

int LocalQueue::wait_turn(std::stop_token st, Clock::time_point next_poll) {
  std::unique_lock lk(mu_);
  for (;;) {
    if (st.stop_requested()) return 0;
    if (fetching_) {  // the listener's wake-up dequeue: see what it brings
      fetcher_waits_ = true;
      cv_fetch_.wait(lk, st, [&] { return !fetching_; });
      fetcher_waits_ = false;
      continue;
    }
    if (room() && (wake_ || more_ || Clock::now() >= next_poll)) break;
    if (!room())
      cv_fetch_.wait(lk, st, [&] { return room(); });
    else
      cv_fetch_.wait_until(lk, st, next_poll, [&] { return wake_ || more_; });
  }
  wake_ = false;
  fetching_ = true;
  // A whole batch (not just the room left): fewer, fuller dequeues.
  return s_.opt.batch_size;
}

void LocalQueue::fetch_failed(bool retry_now) {
  bool tell;
  {
    std::lock_guard lk(mu_);
    fetching_ = false;
    more_ = false;
    if (retry_now) wake_ = true;
    tell = retry_now || fetcher_waits_;
  }
  if (tell) cv_fetch_.notify_all();
}

void LocalQueue::take(std::vector<Claimed> batch, int n, bool by_listener) {
  bool tell_listener = false, tell_fetcher = false;
  const bool any = !batch.empty();
  {
    std::lock_guard lk(mu_);
    fetching_ = false;
    more_ = static_cast<int>(batch.size()) == n;
    unfinished_ += static_cast<int>(batch.size());
    for (auto& c : batch) work_.push_back(std::move(c));
    // Idle (the queue gave less than asked): wait for a NOTIFY. Busy again: stop waiting
    // (after a grace, see worker_listener.cpp), so producers need not notify.
    if (s_.opt.listen && want_wait_ == more_) {
      want_wait_ = !more_;
      if (more_) busy_since_ = Clock::now();
      tell_listener = !by_listener;
    }
    tell_fetcher = by_listener && (more_ || fetcher_waits_);
  }
  // The executor first: the latency of a wake-up is measured to it.
  if (any) cv_work_.notify_one();
  if (tell_fetcher) cv_fetch_.notify_all();
  if (tell_listener && listener_wake_) listener_wake_->signal();
}

void LocalQueue::wake() {
  {
    std::lock_guard lk(mu_);
    wake_ = true;
  }
  cv_fetch_.notify_all();
}

void LocalQueue::note_more() {
  {
    std::lock_guard lk(mu_);
    more_ = true;
  }
  cv_fetch_.notify_all();
}

LocalQueue::WaitWish LocalQueue::wait_wish() const {
  std::lock_guard lk(mu_);
  return {want_wait_, busy_since_ + kWaitGrace};
}

bool LocalQueue::begin_wake_dequeue(std::stop_token st) {
  {
    std::lock_guard lk(mu_);
    if (want_wait_ && !fetching_ && room() && !st.stop_requested()) {
      fetching_ = true;
      return true;
    }
    wake_ = true;
  }
  cv_fetch_.notify_all();
  return false;
}

std::vector<std::shared_ptr<InFlight>> LocalQueue::remove(
    const std::vector<std::shared_ptr<InFlight>>& entries) {
  std::vector<std::shared_ptr<InFlight>> removed;
  {
    std::lock_guard lk(mu_);
    for (auto& e : entries) {
      auto w = std::find_if(work_.begin(), work_.end(), [&](const Claimed& c) { return c.entry == e; });
      if (w == work_.end()) continue;  // an executor took it: its handler runs
      work_.erase(w);
      --unfinished_;
      removed.push_back(e);
    }
  }
  if (!removed.empty()) cv_idle_.notify_all();
  return removed;
}

std::optional<Claimed> LocalQueue::next() {
  std::optional<Claimed> c;
  bool tell_fetcher, tell_next;
  {
    std::unique_lock lk(mu_);
    if (work_.empty() && !exec_stop_) {
      ++idle_execs_;
      cv_work_.wait(lk, [&] { return !work_.empty() || exec_stop_; });
      --idle_execs_;
    }
    if (work_.empty()) return std::nullopt;  // stopping and nothing left
    c.emplace(std::move(work_.front()));
    work_.pop_front();
    tell_fetcher = work_.size() == s_.low_water;
    tell_next = !work_.empty() && idle_execs_ > 0;
  }
  if (tell_next) cv_work_.notify_one();
  if (tell_fetcher) cv_fetch_.notify_all();
  return c;
}

void LocalQueue::finished() {
  bool tell;
  {
    std::lock_guard lk(mu_);
    --unfinished_;
    tell = stopping_;
  }
  if (tell) cv_idle_.notify_all();
}

std::vector<Claimed> LocalQueue::drain() {
  std::lock_guard lk(mu_);
  std::vector<Claimed> out(std::make_move_iterator(work_.begin()), std::make_move_iterator(work_.end()));
  unfinished_ -= static_cast<int>(work_.size());
  work_.clear();
  stopping_ = true;
  return out;
}

bool LocalQueue::wait_idle(Clock::time_point deadline) {
  std::unique_lock lk(mu_);
  return cv_idle_.wait_until(lk, deadline, [&] { return unfinished_ == 0; });
}

void LocalQueue::stop_executors() {
  {
    std::lock_guard lk(mu_);
    exec_stop_ = true;
  }
  cv_work_.notify_all();
}

}  // namespace taskmill::worker
