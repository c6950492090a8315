#!/usr/bin/env bash
# Before/after in instructions instead of seconds: each call of the queue's hot path
# (enqueue, enqueue_batch of 100, enqueue_arrays of 1000 (the C++ Enqueuer's batch), dequeue of
# 1 and of 100, ack, ack_many of 100, nack) run
# CALLS times in a single-user backend under callgrind (after three warm-up calls), counting
# only inside the taskmill function, for an earlier commit (default: the latest release in RELEASES) and for this
# checkout. An instruction count does not move with the load of a shared machine, so
# differences of 1-3 % that bench/compare.sh cannot resolve on 2 busy cores show here; it
# does not see waits (I/O, locks, commits), which only the timed benchmarks measure.
# Writes bench/results/<stamp>-instructions.{md,json}.
#
#   bench/instructions.sh                 REF = latest release
#   bench/instructions.sh --ref v0.1 --only dequeue_1,dequeue_100
set -euo pipefail
. "$(dirname "$0")/builds.sh"
ONLY=""
parse_options ref only out -- "$@"
command -v valgrind >/dev/null || { echo "valgrind is missing (scripts/provision.sh installs it)" >&2; exit 1; }

# name | tasks prefilled (thousands) | C function counted | calls | statement
WORKLOADS=(
	"enqueue|0|taskmill_enqueue|400|SELECT taskmill.enqueue('q', 'op', '{\"a\": 1}');"
	"enqueue_batch_100|0|taskmill_enqueue_batch|40|SELECT taskmill.enqueue_batch('q', (SELECT jsonb_agg(jsonb_build_object('operation_id', 'op', 'payload', jsonb_build_object('i', i))) FROM generate_series(1, 100) i));"
	"enqueue_arrays_1000|0|taskmill_enqueue_arrays|20|SELECT cardinality(taskmill.enqueue_arrays('q', (SELECT array_agg('op'::text) FROM generate_series(1, 1000)), (SELECT array_agg(jsonb_build_object('i', i)) FROM generate_series(1, 1000) i)));"
	"dequeue_1|5|taskmill_dequeue|400|SELECT count(*) FROM taskmill.dequeue('q', 1, '1 hour');"
	"dequeue_100|10|taskmill_dequeue|60|SELECT count(*) FROM taskmill.dequeue('q', 100, '1 hour');"
	"ack|5|taskmill_ack|400|SELECT taskmill.ack(id, lease) FROM taskmill.dequeue('q', 1, '1 hour');"
	"ack_many_100|10|taskmill_ack_many|60|SELECT taskmill.ack_many(ids, leases) FROM (SELECT array_agg(id) ids, array_agg(lease) leases FROM taskmill.dequeue('q', 100, '1 hour')) d;"
	"nack|5|taskmill_nack|400|SELECT taskmill.nack(id, lease, 'failed') FROM taskmill.dequeue('q', 1, '1 hour');"
)

build_ref_and_head "$REF"
WORK=$(mktemp -d /tmp/taskmill-instructions.XXXXXX)
chown postgres: "$WORK" 2>/dev/null || true

# count SIDE PGBIN NAME NK FUNCTION CALLS STATEMENT: instructions per call, into $WORK/SIDE-NAME
count() {
	local side=$1 bin=$2 name=$3 nk=$4 fn=$5 calls=$6 stmt=$7 dir=$WORK/$1-$3
	(
		eval "$(PGBIN=$bin scripts/pg-cluster.sh start "$dir" -c autovacuum=off)"
		psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE EXTENSION taskmill" \
			-c "SELECT count(taskmill.enqueue_batch('q', (SELECT jsonb_agg(jsonb_build_object('operation_id', 'op', 'payload', jsonb_build_object('i', i))) FROM generate_series(1, 1000) i))) FROM generate_series(1, $nk)" \
			-c "VACUUM ANALYZE taskmill.tasks" -c "CHECKPOINT" >/dev/null
		runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" stop -m fast >/dev/null
	)
	# three calls to warm the backend's caches (plans, catalog), then the counters are zeroed
	# (at pg_sleep) and the counted calls run
	{
		for _ in 1 2 3; do echo "$stmt"; done
		echo "SELECT pg_sleep(0);"
		for _ in $(seq "$calls"); do echo "$stmt"; done
	} >"$dir.sql"
	chmod a+r "$dir.sql"
	runuser -u postgres -- valgrind --tool=callgrind --callgrind-out-file="$dir.callgrind" \
		--toggle-collect="$fn" --zero-before=pg_sleep "$bin/postgres" --single -D "$dir/data" \
		-c synchronous_commit=off postgres <"$dir.sql" >"$dir.log" 2>&1
	if grep -q "ERROR" "$dir.log"; then
		echo "$side $name failed: $(grep -m1 ERROR "$dir.log")" >&2
		echo 0
	else
		callgrind_annotate "$dir.callgrind" 2>/dev/null |
			awk -v c="$calls" '/PROGRAM TOTALS/ { gsub(",", "", $1); printf "%d\n", $1 / c; exit }'
	fi
	rm -rf "$dir"
}

: >"$WORK/counts"
for w in "${WORKLOADS[@]}"; do
	IFS='|' read -r name nk fn calls stmt <<<"$w"
	if [ -n "$ONLY" ] && [[ ",$ONLY," != *",$name,"* ]]; then continue; fi
	r=$(count ref "$REF_PGBIN" "$name" "$nk" "$fn" "$calls" "$stmt")
	h=$(count head "$HEAD_PGBIN" "$name" "$nk" "$fn" "$calls" "$stmt")
	echo "[instructions] $name: REF $r, HEAD $h per call" >&2
	echo "$name $calls $r $h" >>"$WORK/counts"
done

STAMP=$(date -u +%Y-%m-%dT%H%MZ)
mkdir -p "$OUT"
python3 - "$WORK/counts" "$OUT/$STAMP-instructions" "$REF ($REF_SHA)" "$HEAD_SHA${DIRTY:+ (uncommitted changes)}" <<'PY'
import json, sys
counts, out, ref, head = sys.argv[1:]
lines = ["# Instructions per call: `bench/instructions.sh`", "",
         f"REF = {ref}; HEAD = {head}. Instructions executed inside the taskmill function per "
         "call (callgrind, single-user backend, after 3 warm-up calls); change < 0 % is better.", "",
         "| call | calls | REF | HEAD | change |", "|---|---|---|---|---|"]
rows = []
for line in open(counts):
    name, calls, r, h = line.split()
    r, h = int(r), int(h)
    change = (h / r - 1) * 100 if r else float("nan")
    rows.append({"call": name, "calls": int(calls), "ref": r, "head": h, "change_pct": round(change, 1)})
    lines.append(f"| {name} | {calls} | {r:,} | {h:,} | {change:+.1f} % |")
open(out + ".md", "w").write("\n".join(lines) + "\n")
json.dump({"ref": ref, "head": head, "rows": rows}, open(out + ".json", "w"), indent=1)
print("\n".join(lines))
PY
echo "[instructions] wrote $OUT/$STAMP-instructions.md" >&2
rm -rf "$WORK"
