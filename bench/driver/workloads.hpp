#pragma once
#include "common.hpp"

namespace bench {
void wl_enqueue_single_libpq(const Opts&);
void wl_enqueue_batch_libpq(const Opts&);
void wl_dequeue(const Opts&);
void wl_depth(const Opts&);
void wl_explain(const Opts&);
void wl_fifo(const Opts&);

void wl_enqueue_single_client(const Opts&);
void wl_enqueue_batch_client(const Opts&);
void wl_process(const Opts&);
void wl_latency(const Opts&);
void wl_soak(const Opts&);
bool have_client();

int report(const Opts&);
}  // namespace bench
