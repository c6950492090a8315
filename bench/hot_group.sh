#!/usr/bin/env bash
# One hot FIFO group drained by plain SQL loops, against hand-written SQL's claim + delete,
# on the same cluster in alternating rounds (pgbench; these machines are noisy, compare only
# figures of one run):
#   taskmill   bench/pgbench/hot_group_dequeue_ack.sql: dequeue(queue, 1) in one transaction,
#              ack in another; one group of --tasks tasks; 1 and 4 clients;
#   reference  bench/peers/pgbench/cycle1.sql: an UPDATE ... FOR UPDATE SKIP LOCKED claim in
#              one transaction, a DELETE in another, on a bare table (no groups); 1 and 4 clients.
# Only the group's head can move, so 4 clients should reach what 1 does, and 1 client should
# reach 80 % of the reference (two commits a task either way). Prints one JSON line a run
# and a table of medians (tasks/s, the slowest transaction).
#
#   bench/hot_group.sh [--seconds 10] [--rounds 3] [--tasks 20000] [--out FILE.jsonl]
# (The reference's table holds 300,000 rows: it drains 20,000 in a few seconds.)
# Uses the cluster in PGHOST/PGPORT (bench/run.sh's), or starts its own with bench/run.sh's
# settings.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
SECS=10
ROUNDS=3
TASKS=20000
REF_TASKS=300000
OUT=""
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) SECS=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--tasks) TASKS=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	-h|--help) sed -n '2,17p' "$0"; exit 0 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
done
WORK=$(mktemp -d /tmp/taskmill-hot.XXXXXX)
chmod a+rwx "$WORK"
if [ -z "${PGPORT:-}" ]; then
	scripts/provision.sh
	. scripts/pg-root.sh
	pg_root_create "$TOP/build/pgroot-bench"
	make -s -j2 >/dev/null && make -s install DESTDIR="$PGROOT" >/dev/null
	eval "$(scripts/pg-cluster.sh start -c max_connections=200 -c shared_buffers=256MB -c fsync=on \
		-c synchronous_commit=on -c full_page_writes=on)"
	trap 'scripts/pg-cluster.sh stop "$TASKMILL_PGDATA"; rm -rf "$WORK"' EXIT
else
	trap 'rm -rf "$WORK"' EXIT
fi
export PGHOST PGPORT PGUSER
OUT=${OUT:-$WORK/hot_group.jsonl}
: >"$OUT"
PSQL=(psql -X -q -v ON_ERROR_STOP=1)

fresh_db() {
	"${PSQL[@]}" -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS tm_hot" \
		-c "CREATE DATABASE tm_hot" >/dev/null
}

# run IMPL CLIENTS ROUND
run() {
	local impl=$1 clients=$2 round=$3 script before after done out slowest
	fresh_db
	if [ "$impl" = taskmill ]; then
		"${PSQL[@]}" -d tm_hot -c "CREATE EXTENSION taskmill" -c "SELECT count(*) FROM (SELECT
			taskmill.enqueue_batch('hot', (SELECT jsonb_agg(jsonb_build_object('operation_id', 'op' || i,
			'task_group_id', 'hot')) FROM generate_series(b, b + 4999) i)) FROM generate_series(1, $TASKS, 5000) b) s" >/dev/null
		script=$TOP/bench/pgbench/hot_group_dequeue_ack.sql
	else
		"${PSQL[@]}" -d tm_hot -f bench/peers/pgbench/schema.sql \
			-c "INSERT INTO q (payload) SELECT '{}' FROM generate_series(1, $REF_TASKS)" >/dev/null
		script=$TOP/bench/peers/pgbench/cycle1.sql
	fi
	"${PSQL[@]}" -d tm_hot -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
	rm -f "$WORK"/pgbench_log.*
	out=$(cd "$WORK" && pgbench -n -M prepared -c "$clients" -j "$clients" -T "$SECS" -l -f "$script" tm_hot 2>&1)
	if [ "$impl" = taskmill ]; then
		after=$(psql -XAt -d tm_hot -c "SELECT count(*) FROM taskmill.tasks")
	else
		after=$(psql -XAt -d tm_hot -c "SELECT count(*) FROM q")
		after=$((after - REF_TASKS + TASKS))
	fi
	done=$((TASKS - after))
	slowest=$(cat "$WORK"/pgbench_log.* | awk '{ if ($3 > m) m = $3 } END { printf "%.1f", m / 1000 }')
	local rate
	rate=$(awk -v d="$done" -v s="$SECS" 'BEGIN { printf "%.1f", d / s }')
	echo "{\"workload\":\"hot_group\",\"impl\":\"$impl\",\"clients\":$clients,\"round\":$round,\"seconds\":$SECS,\"tasks_done\":$done,\"tasks_per_s\":$rate,\"slowest_ms\":$slowest,\"pgbench_transactions\":$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p'),\"command\":\"pgbench -n -M prepared -c $clients -j $clients -T $SECS -f $(basename "$script")\"}" | tee -a "$OUT"
}

configs=("taskmill 1" "taskmill 4" "reference 1" "reference 4")
for ((r = 1; r <= ROUNDS; r++)); do
	# each round starts one configuration later, so none always runs first
	for ((k = 0; k < ${#configs[@]}; k++)); do
		run ${configs[$(((k + r - 1) % ${#configs[@]}))]} "$r"
	done
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = {}
for impl in ("taskmill", "reference"):
    for c in (1, 4):
        rs = [r for r in rows if r["impl"] == impl and r["clients"] == c]
        med[impl, c] = (statistics.median(r["tasks_per_s"] for r in rs), max(r["slowest_ms"] for r in rs))
print("| one hot group, %d rounds | tasks/s (median) | slowest transaction (ms, max) |" % max(r["round"] for r in rows))
print("|---|---|---|")
for (impl, c), (rate, slow) in med.items():
    print("| %s, %d client%s | %.0f | %.0f |" % (impl, c, "s" if c > 1 else "", rate, slow))
t1, t4, r1 = med["taskmill", 1][0], med["taskmill", 4][0], med["reference", 1][0]
print("\ntaskmill 4 clients / 1 client: %.2f (target >= 1.0); taskmill 1 client / reference 1 client: %.2f (target >= 0.80)"
      % (t4 / t1, t1 / r1))
PY
