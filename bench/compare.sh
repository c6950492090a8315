#!/usr/bin/env bash
# Before/after: the same taskmill workloads from an earlier commit (default: the latest
# release in RELEASES) and from this checkout, run alternately on this machine, each with its
# own bench/run.sh, driver, client library and extension build. Rounds alternate the order
# (REF first, then this checkout first) so that a drift of the machine falls on both sides.
# Writes bench/results/<stamp>-compare.{md,json}: the median of each measurement per side.
#
#   bench/compare.sh                              REF = latest release, N=10000, 2 rounds
#   bench/compare.sh --ref v0.1 --n 20000 --rounds 3
#   bench/compare.sh --only enqueue_single,process
set -euo pipefail
. "$(dirname "$0")/builds.sh"
N=10000
ROUNDS=2
ONLY=enqueue_ratio,enqueue_single,enqueue_batch,dequeue,process,latency
parse_options ref n rounds only out -- "$@"
log() { echo "[compare $(date -u +%T)] $*" >&2; }

# ---------------------------------------------------------------- both builds
build_ref_and_head "$REF"

# ---------------------------------------------------------------- alternate runs
WORK=$(mktemp -d /tmp/taskmill-compare.XXXXXX)
# side NAME ROUND WORKLOAD: one bench/run.sh of one side, results into $WORK/NAME/ROUND-WORKLOAD
side() {
	local name=$1 round=$2 w=$3 src bin
	if [ "$name" = ref ]; then src=$REF_SRC bin=$REF_PGBIN; else src=$TOP bin=$HEAD_PGBIN; fi
	log "round $round: $name $w"
	(cd "$src" && BENCH_SKIP_INSTALL=1 PGBIN=$bin PEERS_DIR=$TOP/bench/peers \
		bash bench/run.sh --no-peers --only "$w" --n "$N" --out "$WORK/$name/$round-$w" \
		>"$WORK/$name-$round-$w.log" 2>&1) || log "  $name $w failed: see $WORK/$name-$round-$w.log"
}
for round in $(seq 1 "$ROUNDS"); do
	for w in ${ONLY//,/ }; do
		alternate "$round" side "$w"
	done
done

# ---------------------------------------------------------------- the table
STAMP=$(date -u +%Y-%m-%dT%H%MZ)
mkdir -p "$OUT"
python3 - "$WORK" "$OUT/$STAMP-compare" "$REF ($REF_SHA)" "$HEAD_SHA${DIRTY:+ (uncommitted changes)}" \
	"bench/compare.sh --ref $REF --n $N --rounds $ROUNDS --only $ONLY" <<'EOF'
import glob, json, statistics, sys
work, out, ref, head, command = sys.argv[1:]
# the fields that name a measurement; everything numeric else is a figure
KEY = ("workload", "impl", "clients", "batch", "n", "workers", "concurrency", "ephemeral", "curve", "samples",
       "combined")
FIGURES = {"jobs_per_s": +1, "ratio": +1, "call_p50_ms": -1, "call_p99_ms": -1,
           "p50_ms": -1, "p99_ms": -1, "p50_from_call_ms": -1, "p99_from_call_ms": -1}
rows = {}
for side in ("ref", "head"):
    for f in glob.glob(f"{work}/{side}/*/*.json"):
        for m in json.load(open(f))["measurements"]:
            if m.get("peer") != "taskmill":
                continue
            # since 0.2 the process rows say whether acks rode with the next claim; the
            # libpq loop runs both ways ("combined": false is 0.1's only loop)
            if m.get("workload", "").startswith("process"):
                m.setdefault("combined", False)
            key = tuple((k, m[k]) for k in KEY if k in m)
            for fig in FIGURES:
                if fig in m:
                    rows.setdefault((key, fig), {"ref": [], "head": []})[side].append(m[fig])
lines = [f"# Before/after: `{command}`", "",
         f"REF = {ref}; HEAD = {head}. Median of each side's runs; change > 0 % is better.", "",
         "| measurement | figure | REF | HEAD | change | runs |", "|---|---|---|---|---|---|"]
table = []
for (key, fig), v in sorted(rows.items(), key=lambda r: str(r[0])):
    if not v["ref"] or not v["head"]:
        continue
    a, b = statistics.median(v["ref"]), statistics.median(v["head"])
    change = (b / a - 1) * 100 * FIGURES[fig] if a else 0.0
    name = " ".join(f"{k}={val}" for k, val in key)
    table.append({"measurement": dict(key), "figure": fig, "ref": v["ref"], "head": v["head"],
                  "ref_median": a, "head_median": b, "change_pct": round(change, 1)})
    lines.append(f"| {name} | {fig} | {a:g} | {b:g} | {change:+.1f} % | {len(v['ref'])}/{len(v['head'])} |")
open(out + ".md", "w").write("\n".join(lines) + "\n")
json.dump({"command": command, "ref": ref, "head": head, "rows": table}, open(out + ".json", "w"), indent=1)
print("\n".join(lines))
EOF
log "wrote $OUT/$STAMP-compare.md (logs in $WORK)"
