#!/usr/bin/env bash
# targeted issue-12 rows on one throwaway cluster (the machine is at load ~55: no full run)
# Runs from the checkout that holds it; its output goes to $OUT (default a new temp folder).
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/pg-root.sh; pg_root_create $PWD/build/pgroot-bench >/dev/null; make -s install DESTDIR="$PGROOT" >/dev/null; export PGBIN
eval "$(scripts/pg-cluster.sh start -c max_connections=200 -c shared_buffers=256MB -c shared_preload_libraries=taskmill -c taskmill.scheduler_databases=tm_soak -c taskmill.vacuum_interval=2 -c taskmill.vacuum_threshold=2000)"
export PGHOST PGPORT PGUSER
OUT=${OUT:-$(mktemp -d /tmp/taskmill-lite.XXXXXX)}; mkdir -p "$OUT"; TM=$OUT/taskmill.jsonl; PEER=$OUT/peers.jsonl; : >$TM; : >$PEER
D=bench/build/taskmill-bench
run() { local db=$1; shift; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null; psql -X -q -d $db -c "CREATE EXTENSION taskmill" >/dev/null; echo "[lite $(date -u +%T)] $*" >&2; timeout 300 $D "$@" --conninfo "dbname=$db" >>$TM 2>>$OUT/driver.log; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null; }
for c in "" --combined; do
  run tm_fifo fifo --groups 1 --workers 1 --n 500 $c
  run tm_fifo fifo --groups 1 --workers 4 --n 500 $c
  run tm_fifo fifo --groups 1000 --workers 4 --n 5000 $c
done
run tm_fifo fifo --groups 0 --workers 4 --n 5000 --combined
run tm_depth depth --depths 20000 --ops 300 --side 1000 --side-depth 20000 --waiting 200000
echo "[lite $(date -u +%T)] peers: pgbench claim+delete, Graphile named queues" >&2
N=5000 PGBENCH_T=5 PGBENCH_CLIENTS="1" ONLY=pgbench WORKLOADS=none PREFILL_SINGLE=50000 PREFILL_BATCH=50000 RESULTS=$PEER timeout 300 bench/peers/run.sh >/dev/null 2>>$OUT/peers.log
N=5000 FIFO_HOT_N=500 ONLY=gw WORKLOADS=fifo RESULTS=$PEER timeout 400 bench/peers/run.sh >/dev/null 2>>$OUT/peers.log
run tm_soak soak --minutes 3 --workers 1 --concurrency 32 --batch 100 --rate 2000 --interval-s 10
scripts/pg-cluster.sh stop "$TASKMILL_PGDATA"
echo "[lite $(date -u +%T)] done" >&2
