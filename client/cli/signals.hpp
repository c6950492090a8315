// SIGINT / SIGTERM taken synchronously by the main thread: block them before any thread
// starts (threads inherit the mask), then poll.
#pragma once

#include <signal.h>

#include <ctime>

namespace taskmill::cli {

inline sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// True when SIGINT or SIGTERM arrived within `ms` milliseconds.
inline bool wait_stop_signal(const sigset_t& set, long ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000 * 1000};
  int sig = sigtimedwait(&set, nullptr, &ts);
  return sig == SIGINT || sig == SIGTERM;
}

}  // namespace taskmill::cli
