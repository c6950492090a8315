// taskmill-bench: the benchmark driver. One workload per invocation, one JSON line per
// measurement on stdout (progress on stderr); bench/run.sh runs them all.
//
//   taskmill-bench WORKLOAD [--key value ...]
//   workloads: enqueue_single enqueue_batch dequeue depth explain fifo process latency soak report
//   common:    --conninfo "dbname=..." (libpq env vars otherwise) --queue NAME --impl client|libpq
#include "workloads.hpp"

using namespace bench;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: taskmill-bench WORKLOAD [--key value ...]\n";
    return 2;
  }
  std::string wl = argv[1];
  Opts o;
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0) {
      std::cerr << "bad argument " << k << "\n";
      return 2;
    }
    k = k.substr(2);
    if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0)
      o.kv[k] = argv[++i];
    else
      o.kv[k] = "1";
  }
  bool client = o.get("impl", have_client() ? "client" : "libpq") == "client" && have_client();
  try {
    if (wl == "enqueue_single") client ? wl_enqueue_single_client(o) : wl_enqueue_single_libpq(o);
    else if (wl == "enqueue_batch") client ? wl_enqueue_batch_client(o) : wl_enqueue_batch_libpq(o);
    else if (wl == "dequeue") wl_dequeue(o);
    else if (wl == "depth") wl_depth(o);
    else if (wl == "explain") wl_explain(o);
    else if (wl == "fifo") wl_fifo(o);
    else if (wl == "process") wl_process(o);
    else if (wl == "latency") wl_latency(o);
    else if (wl == "soak") wl_soak(o);
    else if (wl == "report") return report(o);
    else if (wl == "has-client") { std::cout << (have_client() ? "yes" : "no") << "\n"; return 0; }
    else {
      std::cerr << "unknown workload " << wl << "\n";
      return 2;
    }
  } catch (const std::exception& e) {
    Json j = {{"workload", wl}, {"error", e.what()}};
    for (auto& [k, v] : o.kv) j["arg_" + k] = v;
    emit(j);
    logf(std::string("error: ") + e.what());
    return 1;
  }
  return 0;
}
