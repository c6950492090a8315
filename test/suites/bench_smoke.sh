#!/usr/bin/env bash
# Smoke run of the benchmark (bench/run.sh --smoke): every taskmill workload end to end at a
# tiny N on its own throwaway cluster, no peers, no timed assertions. It fails only when a
# workload fails to run, so the benchmark never rots. Results go to a temp dir, not bench/results.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$TOP"
out=$(mktemp -d /tmp/taskmill-bench-smoke.XXXXXX)
at_exit 'rm -rf "$out"'
BENCH_SKIP_INSTALL=1 BENCH_BUILD_DIR="$TOP/bench/build-smoke" bench/run.sh --smoke --out "$out"
echo "bench smoke: every workload ran"
