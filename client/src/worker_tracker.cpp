// Tracker (see worker_tracker.hpp): the in-flight table, heartbeats and deadlines.
#include "worker_tracker.hpp"

#include <algorithm>

#include "taskmill/error.hpp"
#include "worker_calls.hpp"

namespace taskmill::worker {

using namespace std::chrono_literals;

void Tracker::earlier(Clock::time_point t, bool& tell) {
  if (t < hb_next_) {
    hb_dirty_ = true;
    tell = true;
  }
}

void Tracker::erase_if_same(const std::shared_ptr<InFlight>& e) {
  if (auto it = table_.find(e->id); it != table_.end() && it->second == e) table_.erase(it);
}

void Tracker::add(const std::vector<Claimed>& batch, Clock::time_point claimed_at,
                  bool claim_pending) {
  if (batch.empty()) return;
  const auto next_hb = claimed_at + s_.opt.visibility_timeout / 3;
  bool tell = false;
  {
    std::lock_guard lk(mu_);
    for (auto& c : batch) {
      c.entry->next_heartbeat = next_hb;
      c.entry->claim_pending = claim_pending;
      table_[c.entry->id] = c.entry;
    }
    earlier(next_hb, tell);
  }
  if (tell) cv_hb_.notify_all();
}

void Tracker::start(const std::shared_ptr<InFlight>& e, Clock::time_point deadline) {
  bool tell = false;
  {
    std::lock_guard lk(mu_);
    e->deadline = deadline;
    e->started = true;
    earlier(deadline, tell);
  }
  if (tell) cv_hb_.notify_all();
}

bool Tracker::finish(const std::shared_ptr<InFlight>& e) {
  std::unique_lock lk(mu_);
  // A wake-up claim still committing: the ack or nack waits for it (~0.1 ms).
  cv_claim_.wait(lk, [&] { return !e->claim_pending; });
  erase_if_same(e);
  return e->abandoned;
}

void Tracker::settle(const std::vector<std::shared_ptr<InFlight>>& entries, bool ok) {
  if (entries.empty()) return;
  {
    std::lock_guard lk(mu_);
    for (auto& e : entries) {
      e->claim_pending = false;
      if (!ok) e->abandoned = true;
    }
  }
  cv_claim_.notify_all();
}

void Tracker::forget(const std::vector<std::shared_ptr<InFlight>>& entries) {
  std::lock_guard lk(mu_);
  for (auto& e : entries) erase_if_same(e);
}

std::vector<std::shared_ptr<InFlight>> Tracker::abandon_all() {
  std::lock_guard lk(mu_);
  std::vector<std::shared_ptr<InFlight>> out;
  for (auto& [id, e] : table_) {
    e->abandoned = true;
    out.push_back(e);
  }
  return out;
}

void Tracker::start_heartbeat() {
  thread_ = std::jthread([this](std::stop_token st) { heartbeat_loop(st); });
}

void Tracker::stop_heartbeat() { stop_and_join(thread_); }

void Tracker::heartbeat_loop(std::stop_token st) {
  const auto interval = s_.opt.visibility_timeout / 3;
  for (;;) {
    std::vector<std::shared_ptr<InFlight>> extend, expire;
    {
      std::unique_lock lk(mu_);
      auto next = Clock::now() + 1h;
      for (auto& [id, e] : table_) {
        next = std::min(next, e->next_heartbeat);
        if (!e->deadline_fired) next = std::min(next, e->deadline);
      }
      hb_next_ = next;
      cv_hb_.wait_until(lk, st, next, [&] { return hb_dirty_; });
      hb_next_ = Clock::time_point::min();  // awake: nobody needs to notify
      if (st.stop_requested()) return;
      hb_dirty_ = false;
      auto now = Clock::now();
      for (auto& [id, e] : table_) {
        if (e->abandoned) continue;
        if (now >= e->next_heartbeat) {
          e->next_heartbeat = now + interval;
          extend.push_back(e);
        }
        if (e->started && !e->deadline_fired && now >= e->deadline) {
          e->deadline_fired = true;
          expire.push_back(e);
        }
      }
    }
    for (auto& e : expire) e->stop.request_stop();
    if (extend.empty()) continue;
    try {
      auto lease = s_.client.acquire(st);
      for (auto& e : extend) {
        try {
          calls::extend(*lease, e->id, e->lease, s_.opt.visibility_timeout);
        } catch (const Error& err) {
          if (err.code() == ErrorCode::Connection) throw;
          // Lease lost or task gone: the ack will be stale; nothing to do here.
        }
      }
    } catch (const std::exception&) {
      // Try again soon: the visibility timeout leaves two thirds of its span.
      std::lock_guard lk(mu_);
      auto soon = Clock::now() + std::min<Clock::duration>(interval / 4, 1s);
      for (auto& e : extend) e->next_heartbeat = std::min(e->next_heartbeat, soon);
    }
  }
}

}  // namespace taskmill::worker
