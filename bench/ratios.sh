#!/usr/bin/env bash
# Key ratios, interleaved: taskmill's enqueue against the hand-written pgbench reference on
# one throwaway cluster, both driven by pgbench (same client, same protocol), alternating
# ROUNDS times so machine noise hits both sides alike. Prints one JSON line per measurement
# and a median table. Assumes the extension is installed (bench/run.sh does that).
#
#   bench/ratios.sh                 ROUNDS=3 T=5 (about 2 minutes); writes bench/results/<stamp>-ratios.{jsonl,md}
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
ROUNDS=${ROUNDS:-3}
T=${T:-5}
PEERS_DIR=${PEERS_DIR:-$TOP/bench/peers}
eval "$(scripts/pg-cluster.sh start -c max_connections=200 -c shared_buffers=256MB -c fsync=on -c synchronous_commit=on -c full_page_writes=on)"
trap 'scripts/pg-cluster.sh stop "$TASKMILL_PGDATA"; rm -rf "$W"' EXIT
W=$(mktemp -d /tmp/taskmill-ratios.XXXXXX)
psql -X -q -d postgres -c "CREATE DATABASE r" >/dev/null
psql -X -q -d r -v ON_ERROR_STOP=1 -c "CREATE EXTENSION taskmill" -f "$PEERS_DIR/pgbench/schema.sql" >/dev/null
echo "select taskmill.enqueue('q', 'noop', '{\"i\":1}');" >"$W/tm_enqueue1.sql"
cp "$PEERS_DIR/pgbench/insert1.sql" "$W/ref_insert1.sql"
cp "$PEERS_DIR/pgbench/insert_batch1000_unnest.sql" "$W/ref_batch1000.sql"
# the same 1000 small tasks as one JSON array, built server-side so the script stays short
echo "select count(*) from (select taskmill.enqueue_batch('q', (select jsonb_agg(jsonb_build_object('operation_id', 'noop', 'payload', jsonb_build_object('i', g))) from generate_series(1, 1000) g))) s;" >"$W/tm_batch1000.sql"
OUT=${OUT:-$TOP/bench/results}
STAMP=$(date -u +%Y-%m-%dT%H%MZ)
mkdir -p "$OUT"
out=$OUT/$STAMP-ratios.jsonl
one() { # name clients rows_per_tx
	psql -X -q -d r -c "TRUNCATE taskmill.tasks, q" -c "VACUUM taskmill.tasks" -c "VACUUM q" -c "CHECKPOINT" >/dev/null
	local tps
	tps=$(pgbench -n -c "$2" -j "$(($2 < 2 ? $2 : 2))" -T "$T" -f "$W/$1.sql" r 2>&1 | sed -n 's/^tps = \([0-9.]*\) .*/\1/p')
	echo "{\"workload\":\"$1\",\"clients\":$2,\"round\":$r,\"seconds\":$T,\"jobs_per_s\":$(awk -v t="$tps" -v k="$3" 'BEGIN{printf "%d", t*k}')}" | tee -a "$out"
}
for r in $(seq 1 "$ROUNDS"); do
	for c in 1 4; do
		one ref_insert1 "$c" 1
		one tm_enqueue1 "$c" 1
	done
	one ref_batch1000 1 1000
	one tm_batch1000 1 1000
done
echo "loadavg at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
{
echo "| pair | clients | pgbench reference (median) | taskmill (median) | taskmill / reference |"
echo "|---|---|---|---|---|"
python3 - "$out" <<'EOF' 2>/dev/null || awk '{print}' "$out"
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(w, c): return statistics.median([r["jobs_per_s"] for r in rows if r["workload"] == w and r["clients"] == c])
for ref, tm, c in [("ref_insert1", "tm_enqueue1", 1), ("ref_insert1", "tm_enqueue1", 4), ("ref_batch1000", "tm_batch1000", 1)]:
    a, b = med(ref, c), med(tm, c)
    print(f"| {tm} vs {ref} | {c} | {a:.0f}/s | {b:.0f}/s | {100*b/a:.0f} % |")
EOF
} | tee "$OUT/$STAMP-ratios.md"
