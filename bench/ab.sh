#!/usr/bin/env bash
# Alternating A/B of one bench-driver workload: an earlier commit (REF, default the latest
# release) against this checkout, each with the driver and client library of its own commit
# against its own throwaway cluster running its own extension, the two sides taking turns
# (ref first in odd rounds, head first in even ones), a fresh database for every run.
# Per run: jobs/s, and the CPU the work cost per 1,000 tasks: the driver's (user + sys) plus
# the server backends' (the postmaster's reaped children, from /proc). CPU per task moves much
# less with a shared machine's load than jobs/s does, so it resolves differences of a few
# per cent that throughput alone cannot on 2 busy cores.
# --args holds one driver workload or several separated by ';' (each run in its own rounds).
# Writes bench/results/<stamp>-ab.{md,json}.
#
#   bench/ab.sh --rounds 12 --args "process --n 150000 --workers 1 --concurrency 4 --batch 100 --ephemeral"
#   bench/ab.sh --args "process --n 150000 --workers 1 --concurrency 4 --batch 100; enqueue_single --n 5000"
set -euo pipefail
. "$(dirname "$0")/builds.sh"
ROUNDS=8
ARGS="process --n 100000 --workers 1 --concurrency 4 --batch 100 --ephemeral"
parse_options ref rounds args out -- "$@"
IFS=';' read -ra WORKLOADS <<<"$ARGS"
for w in "${WORKLOADS[@]}"; do
	[[ "$w" =~ --n\ [0-9]+ ]] || { echo "each workload in --args must name its task count (--n N): $w" >&2; exit 2; }
done
log() { echo "[ab $(date -u +%T)] $*" >&2; }

build_ref_and_head "$REF"
for src in "$REF_SRC" "$TOP"; do
	mkdir -p "$src/bench/build"
	cmake -S "$src/bench" -B "$src/bench/build" -DCMAKE_BUILD_TYPE=Release >"$src/bench/build/ab.log" 2>&1 &&
		cmake --build "$src/bench/build" -j2 >>"$src/bench/build/ab.log" 2>&1 ||
		{ cat "$src/bench/build/ab.log" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/taskmill-ab.XXXXXX)
chmod a+rx "$WORK"     # the postgres OS user runs the clusters beneath it
trap 'for s in ref head; do scripts/pg-cluster.sh stop "$WORK/$s"; done; rm -rf "$WORK"' EXIT
for s in ref head; do
	if [ $s = ref ]; then bin=$REF_PGBIN; else bin=$HEAD_PGBIN; fi
	PGBIN=$bin scripts/pg-cluster.sh start "$WORK/$s" -c max_connections=50 >"$WORK/$s.env"
done

# CPU seconds (x100) the postmaster's exited children have used: every backend once reaped
children_cpu() { awk '{ print $16 + $17 }' "/proc/$(head -1 "$WORK/$1/data/postmaster.pid")/stat"; }
# until no client backend but this probe's own is left (so all of them are counted)
wait_idle() {
	local i
	for ((i = 0; i < 200; i++)); do
		[ "$(psql -XAtq -d postgres -c "SELECT count(*) FROM pg_stat_activity
			WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")" = 0 ] && { sleep 0.3; return; }
		sleep 0.1
	done
}
run_side() {
	local side=$1 round=$2 k=$3 src drv c0 c1 t
	if [ "$side" = ref ]; then src=$REF_SRC; else src=$TOP; fi
	drv=$src/bench/build/taskmill-bench
	. "$WORK/$side.env"
	psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS ab WITH (FORCE)" -c "CREATE DATABASE ab" >/dev/null 2>&1
	psql -XAtq -d ab -c "CREATE EXTENSION taskmill" -c CHECKPOINT >/dev/null
	wait_idle
	c0=$(children_cpu "$side")
	# shellcheck disable=SC2086
	/usr/bin/time -o "$WORK/time" -f "%U %S" "$drv" ${WORKLOADS[$k]} --conninfo dbname=ab >"$WORK/out" 2>"$WORK/err" ||
		{ cat "$WORK/err" >&2; exit 1; }
	t=$(cat "$WORK/time")
	wait_idle
	c1=$(children_cpu "$side")
	echo "$k $round $side $(tail -1 "$WORK/out" | python3 -c 'import json, sys; print(json.load(sys.stdin)["jobs_per_s"])') $t $c0 $c1" >>"$WORK/runs"
	log "${WORKLOADS[$k]}: round $round $side: $(tail -1 "$WORK/runs" | cut -d' ' -f4) jobs/s"
}
: >"$WORK/runs"
for k in "${!WORKLOADS[@]}"; do
	for round in $(seq 1 "$ROUNDS"); do
		alternate "$round" run_side "$k"
	done
done

STAMP=$(date -u +%Y-%m-%dT%H%MZ)
mkdir -p "$OUT"
python3 - "$WORK/runs" "$OUT/$STAMP-ab" "$REF ($REF_SHA)" "$HEAD_SHA${DIRTY:+ (uncommitted changes)}" \
	"bench/ab.sh --ref $REF --rounds $ROUNDS --args \"$ARGS\"" "${WORKLOADS[@]}" <<'EOF'
import json, re, statistics as st, sys
runs, out, ref, head, command = sys.argv[1:6]
workloads = [w.strip() for w in sys.argv[6:]]
rows = {}
for line in open(runs):
    k, r, side, jobs, u, s, c0, c1 = line.split()
    n = int(re.search(r"--n (\d+)", workloads[int(k)]).group(1))
    cpu = (float(u) + float(s) + (int(c1) - int(c0)) / 100) * 1e6 / n   # ms per 1,000 tasks
    rows.setdefault(int(k), {}).setdefault(int(r), {})[side] = {"jobs_per_s": float(jobs), "cpu_ms_per_1k": round(cpu, 2)}
def summary(rounds, key):
    ref = [x["ref"][key] for x in rounds]
    head = [x["head"][key] for x in rounds]
    ratios = [x["head"][key] / x["ref"][key] for x in rounds]
    se = st.stdev(ratios) / len(ratios) ** 0.5 if len(ratios) > 1 else float("nan")
    return {"ref_median": st.median(ref), "head_median": st.median(head),
            "median_change_pct": round((st.median(head) / st.median(ref) - 1) * 100, 1),
            "paired_change_pct": round((st.mean(ratios) - 1) * 100, 1), "paired_se_pct": round(se * 100, 1)}
res = {"command": command, "ref": ref, "head": head, "workloads": []}
top = [f"# A/B: `{command}`", "", f"REF = {ref}; HEAD = {head}. Sides alternate; each its own cluster, "
       "driver and client library. CPU = driver user+sys + server backends, per 1,000 tasks. Change: of the "
       "medians, and the mean of the per-round HEAD/REF ratios ± its standard error (paired).", "",
       "| workload | jobs/s REF | jobs/s HEAD | change | paired | CPU ms/1k REF | HEAD | change | paired |",
       "|---|---|---|---|---|---|---|---|---|"]
detail = []
for k in sorted(rows):
    rounds = [rows[k][r] for r in sorted(rows[k]) if len(rows[k][r]) == 2]
    j, c = summary(rounds, "jobs_per_s"), summary(rounds, "cpu_ms_per_1k")
    res["workloads"].append({"args": workloads[k], "rounds": rounds, "jobs_per_s": j, "cpu_ms_per_1k": c})
    top.append(f"| `{workloads[k]}` | {j['ref_median']:,.0f} | {j['head_median']:,.0f} | {j['median_change_pct']:+.1f} % | "
               f"{j['paired_change_pct']:+.1f} ± {j['paired_se_pct']:.1f} % | {c['ref_median']:.1f} | {c['head_median']:.1f} | "
               f"{c['median_change_pct']:+.1f} % | {c['paired_change_pct']:+.1f} ± {c['paired_se_pct']:.1f} % |")
    detail += ["", f"## `{workloads[k]}`", "", "| round | REF jobs/s | HEAD jobs/s | REF CPU ms/1k | HEAD CPU ms/1k |",
               "|---|---|---|---|---|"]
    for i, x in enumerate(rounds, 1):
        detail.append(f"| {i} | {x['ref']['jobs_per_s']:,.0f} | {x['head']['jobs_per_s']:,.0f} | "
                      f"{x['ref']['cpu_ms_per_1k']:.1f} | {x['head']['cpu_ms_per_1k']:.1f} |")
json.dump(res, open(out + ".json", "w"), indent=1)
open(out + ".md", "w").write("\n".join(top + detail) + "\n")
print("\n".join(top))
EOF
log "wrote $OUT/$STAMP-ab.md"
