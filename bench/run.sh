#!/usr/bin/env bash
# taskmill benchmark: the one command. Provisions packages, builds and installs the extension,
# builds the driver (bench/driver, against the client library in client/), starts a
# throwaway PostgreSQL 15 cluster with the peers' fixed settings, runs every taskmill
# workload, then the peer queues and pgbench references on the SAME cluster
# (bench/peers/run.sh), and writes bench/results/<stamp>.json (one object per
# measurement), <stamp>.md (the ratio table) and PNG plots.
#
#   bench/run.sh                      default run (N=20000, process N=200000, 1-minute soak)
#   bench/run.sh --n 5000             scale N (every workload's size follows it)
#   bench/run.sh --soak-minutes 10    the full soak
#   bench/run.sh --no-peers           taskmill only
#   bench/run.sh --smoke              tiny N, no peers, no plots: every workload end to end
#   bench/run.sh --only process,latency   a subset of taskmill workloads
#   bench/run.sh --out DIR            where results go (default bench/results)
#
# Workloads: enqueue_ratio enqueue_single enqueue_batch dequeue process latency depth explain fifo
# hot_group soak
set -euo pipefail
BENCH_ARGS="$*"
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"

N=20000
PROCESS_N=""
SOAK_MIN=1
PEERS=1
SMOKE=0
ONLY=""
OUT="$TOP/bench/results"
PEERS_DIR=${PEERS_DIR:-$TOP/bench/peers}
PGBENCH_T=${PGBENCH_T:-5}
RATIO_T=${RATIO_T:-10}
while [ $# -gt 0 ]; do
	case "$1" in
	--n) N=$2; shift 2 ;;
	--process-n) PROCESS_N=$2; shift 2 ;;
	--soak-minutes) SOAK_MIN=$2; shift 2 ;;
	--no-peers) PEERS=0; shift ;;
	--smoke) SMOKE=1; PEERS=0; shift ;;
	--only) ONLY=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	-h|--help) sed -n '2,20p' "$0"; exit 0 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
done
if [ "$SMOKE" = 1 ]; then
	N=${SMOKE_N:-200}
	PROCESS_N=${PROCESS_N:-$N}
	SOAK_MIN=${SMOKE_SOAK_MIN:-0.1}
	RATIO_T=1
	RATIO_CLIENTS="1 4"
fi
RATIO_CLIENTS=${RATIO_CLIENTS:-1 4 1 4}
PROCESS_N=${PROCESS_N:-$((N * 10))}
log() { echo "[bench $(date -u +%T)] $*" >&2; }
want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }

# ---------------------------------------------------------------- build
if [ "${BENCH_SKIP_INSTALL:-0}" != 1 ]; then # scripts/test.sh has done both already
	scripts/provision.sh
	log "building and installing the extension into a private copy of PostgreSQL"
	. scripts/pg-root.sh
	pg_root_create "$TOP/build/pgroot-bench"
	make -s -j2 >/dev/null && make -s install DESTDIR="$PGROOT" >/dev/null
fi
BUILD=${BENCH_BUILD_DIR:-$TOP/bench/build}
log "building the driver in $BUILD"
mkdir -p "$BUILD"
if ! { cmake -S bench -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >"$BUILD/cmake.log" 2>&1 &&
	cmake --build "$BUILD" -j2 >>"$BUILD/cmake.log" 2>&1; }; then
	log "driver build with the client library failed (see $BUILD/cmake.log); building libpq-only"
	BUILD=$BUILD-noclient
	cmake -S bench -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DTASKMILL_BENCH_NO_CLIENT=ON >/dev/null
	cmake --build "$BUILD" -j2 >/dev/null
fi
DRV=$BUILD/taskmill-bench
log "driver: client library built in: $("$DRV" has-client)"

# ---------------------------------------------------------------- cluster
SETTINGS=(-c max_connections=200 -c shared_buffers=256MB -c fsync=on -c synchronous_commit=on -c full_page_writes=on)
# taskmill preloaded when the soak runs, so that the soak's database gets the extension's
# vacuum worker (extension/vacuum.c; every 2 s past 2,000 dead tuples): the deployment
# docs/operations.md recommends. The other workloads' databases are not listed and get no
# worker; without the soak the server runs as the earlier releases' benchmarks ran it
# (bench/compare.sh compares like with like).
if want soak; then
	SETTINGS+=(-c shared_preload_libraries=taskmill -c taskmill.scheduler_databases=tm_soak
		-c taskmill.vacuum_interval=2 -c taskmill.vacuum_threshold=2000)
fi
eval "$(scripts/pg-cluster.sh start "${SETTINGS[@]}")"
trap 'scripts/pg-cluster.sh stop "$TASKMILL_PGDATA"' EXIT
export PGHOST PGPORT PGUSER
log "cluster $PGHOST:$PGPORT ($TASKMILL_PGDATA)"

STAMP=$(date -u +%Y-%m-%dT%H%MZ)
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/taskmill-bench.XXXXXX)
TM="$WORK/taskmill.jsonl"
PEER="$WORK/peers.jsonl"
: >"$TM"
: >"$PEER"
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -d postgres)

# run_tm DB WORKLOAD [driver args...]: fresh database with the extension, one driver call
run_tm() {
	local db=$1
	shift
	"${PSQL[@]}" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE EXTENSION taskmill" -c "CHECKPOINT" >/dev/null
	log "taskmill $*"
	if ! "$DRV" "$@" --conninfo "dbname=$db" >>"$TM" 2> >(sed 's/^/    /' >&2); then
		log "FAILED: $*"
		FAILED=$((FAILED + 1))
	fi
	"${PSQL[@]}" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
}
FAILED=0
T0=$(date +%s)
PHASES=""
# phase NAME: log how long the previous phase took (run.sh's time budget is 15 minutes)
PHASE_NAME=""
PHASE_T=$T0
phase() {
	local now
	now=$(date +%s)
	if [ -n "$PHASE_NAME" ]; then
		log "phase $PHASE_NAME took $((now - PHASE_T))s"
		PHASES="$PHASES${PHASES:+,}\"$PHASE_NAME\":$((now - PHASE_T))"
	fi
	PHASE_NAME=$1
	PHASE_T=$now
}

# enqueue 1/tx against pgbench's INSERT, interleaved: one pgbench run draws each
# transaction at random from both scripts, so both meet the same disk at the same moments
# (the commit rate of a shared disk moves by 2x between runs a minute apart); the ratio of
# the mean latencies is the throughput ratio. Prepared statements on both sides.
if want enqueue_ratio; then
	phase enqueue_ratio
	"${PSQL[@]}" -c "DROP DATABASE IF EXISTS tm_ratio" -c "CREATE DATABASE tm_ratio" >/dev/null
	psql -X -q -v ON_ERROR_STOP=1 -d tm_ratio -c "CREATE EXTENSION taskmill" -f "$PEERS_DIR/pgbench/schema.sql" >/dev/null
	echo "select taskmill.enqueue('q', 'noop', '{\"i\":1}');" >"$WORK/tm_enqueue1.sql"
	for c in $RATIO_CLIENTS; do
		log "taskmill enqueue_ratio --clients $c (pgbench, ${RATIO_T}s)"
		out=$(pgbench -n -M prepared -c "$c" -j "$((c < 2 ? c : 2))" -T "$RATIO_T" \
			-f "$PEERS_DIR/pgbench/insert1.sql@1" -f "$WORK/tm_enqueue1.sql@1" tm_ratio 2>&1) || true
		lat=($(echo "$out" | sed -n 's/^ - latency average = \([0-9.]*\) ms/\1/p'))
		if [ "${#lat[@]}" -eq 2 ]; then
			echo "{\"peer\":\"taskmill\",\"impl\":\"pgbench\",\"workload\":\"enqueue_ratio\",\"clients\":$c,\"seconds\":$RATIO_T,\"ref_latency_ms\":${lat[0]},\"taskmill_latency_ms\":${lat[1]},\"ratio\":$(awk -v a="${lat[0]}" -v b="${lat[1]}" 'BEGIN{printf "%.4f", a/b}'),\"command\":\"pgbench -n -M prepared -c $c -T $RATIO_T -f insert1.sql@1 -f tm_enqueue1.sql@1\"}" >>"$TM"
		else
			log "FAILED: enqueue_ratio --clients $c"
			FAILED=$((FAILED + 1))
		fi
	done
	"${PSQL[@]}" -c "DROP DATABASE IF EXISTS tm_ratio WITH (FORCE)" >/dev/null
fi

if want enqueue_single; then
	phase enqueue_single
	for c in 1 4; do
		run_tm tm_enq enqueue_single --n "$N" --clients "$c"
		run_tm tm_enq enqueue_single --n "$N" --clients "$c" --impl libpq
	done
fi
if want enqueue_batch; then
	phase enqueue_batch
	for r in 1 2 3; do run_tm tm_enqb enqueue_batch --n $((N * 5)) --batch 1000; done
	run_tm tm_enqb enqueue_batch --n $((N * 5)) --batch 1000 --impl libpq
fi
if want dequeue; then
	phase dequeue
	run_tm tm_deq dequeue --n "$N" --batch 1
	run_tm tm_deq dequeue --n $((N * 5)) --batch 100
	run_tm tm_deq dequeue --n $((N * 5)) --batch 100 --mode cycle
	run_tm tm_deq dequeue --n "$N" --batch 1 --clients 4
fi
if want process; then
	phase process
	# The scaling curve: 1, 2, 4, 8 Workers (each with its own dequeue, ack and listen
	# connections), concurrency 4, batch_size 100, 5 x N tasks.
	for w in 1 2 4 8; do
		run_tm tm_proc process --n $((N * 5)) --workers "$w" --concurrency 4 --batch 100 --curve yes
		run_tm tm_proc process --n $((N * 5)) --workers "$w" --concurrency 4 --batch 100 --curve yes --ephemeral
	done
	# at the process N (200k by default): several settings, as the peers try several and
	# report their best. Two Workers (each its own dequeue and ack connections) use both
	# server cores; more handler threads than cores only add hand-offs for no-op handlers.
	for s in "1 8 500" "2 2 500" "2 4 500"; do
		set -- $s
		run_tm tm_proc process --n "$PROCESS_N" --workers "$1" --concurrency "$2" --batch "$3"
		run_tm tm_proc process --n "$PROCESS_N" --workers "$1" --concurrency "$2" --batch "$3" --ephemeral
	done
	set --
	# the same loop on raw libpq (dequeue 100, ack_many 100): what the SQL surface allows
	run_tm tm_proc process --n "$PROCESS_N" --workers 2 --concurrency 1 --batch 500 --impl libpq
	run_tm tm_proc process --n "$PROCESS_N" --workers 2 --concurrency 1 --batch 500 --impl libpq --ephemeral
	# ... and with ack_dequeue: each batch's acks and the next claim in one transaction
	run_tm tm_proc process --n "$PROCESS_N" --workers 2 --concurrency 1 --batch 500 --impl libpq --combined
	run_tm tm_proc process --n "$PROCESS_N" --workers 2 --concurrency 1 --batch 500 --impl libpq --combined --ephemeral
fi
if want latency; then
	phase latency
	run_tm tm_lat latency --samples $([ "$SMOKE" = 1 ] && echo 10 || echo 200)
	run_tm tm_lat latency --samples $([ "$SMOKE" = 1 ] && echo 10 || echo 200) --impl libpq
fi
if want depth; then
	phase depth
	if [ "$SMOKE" = 1 ]; then
		run_tm tm_depth depth --depths 100,1000 --ops 20 --side 200 --side-depth 1000 --waiting 2000
	else
		# --waiting: 100k available beside 1M waiting for a retry, then beside 1M scheduled
		run_tm tm_depth depth --depths 1000,10000,100000,1000000 --ops 500 --side 10000 --side-depth 100000 \
			--waiting 1000000
	fi
fi
if want explain; then
	phase explain
	run_tm tm_explain explain --depth $([ "$SMOKE" = 1 ] && echo 1000 || echo 100000) --plans-out "$WORK/plans.txt"
fi
if want fifo; then
	phase fifo
	# one hot group delivers one task per commit (pgbench's claim + delete is its
	# reference), so its N is small; 1 worker on it is the no-contention baseline. Each
	# shape with dequeue + ack_many (2 tx per batch) and with ack_dequeue (1 tx per batch);
	# the ack_dequeue loop without groups is the 1,000-group row's reference.
	hot=$((N / 10 > 50 ? N / 10 : 50))
	for c in "" --combined; do
		run_tm tm_fifo fifo --groups 1 --workers 1 --n "$hot" $c
		run_tm tm_fifo fifo --groups 1 --workers 4 --n "$hot" $c
		run_tm tm_fifo fifo --groups 1000 --workers 4 --n "$N" $c
	done
	run_tm tm_fifo fifo --groups 0 --workers 4 --n "$N" --combined
	# four loops on the hot group whose idle ones back off (1 ms doubling to 20 ms) as the
	# Worker does between polls: the target row "4 workers >= 1 worker"
	run_tm tm_fifo fifo --groups 1 --workers 4 --n "$hot" --combined --empty-backoff-max-us 20000
fi
if want hot_group; then
	phase hot_group
	# plain dequeue + ack loops on one hot group against hand-written claim + delete (pgbench)
	if ! bench/hot_group.sh $([ "$SMOKE" = 1 ] && echo --seconds 1 --rounds 1 --tasks 500 || echo --seconds 10 --rounds 3) \
		--out "$WORK/hot_group.jsonl" >"$WORK/hot_group.txt"; then
		log "FAILED: hot_group"
		FAILED=$((FAILED + 1))
	fi
fi
if want soak; then
	phase soak
	run_tm tm_soak soak --minutes "$SOAK_MIN" --workers 1 --concurrency 32 --batch 100 --rate $([ "$SMOKE" = 1 ] && echo 500 || echo 2000) \
		--interval-s $([ "$SMOKE" = 1 ] && echo 2 || echo 10)
fi
phase peers
log "taskmill workloads took $(( $(date +%s) - T0 ))s, $FAILED failed"

# ---------------------------------------------------------------- peers, same cluster
if [ "$PEERS" = 1 ]; then
	T1=$(date +%s)
	log "peers: $PEERS_DIR/run.sh against $PGHOST:$PGPORT (N=$N, pgbench ${PGBENCH_T}s, clients 1 and 4)"
	# PEERS_ONLY / PEERS_WORKLOADS narrow the peers' run (their ONLY / WORKLOADS)
	N=$N PGBENCH_T=$PGBENCH_T PGBENCH_CLIENTS="1 4" PREFILL_SINGLE=${PREFILL_SINGLE:-100000} \
		PREFILL_BATCH=${PREFILL_BATCH:-700000} RESULTS="$PEER" ONLY=${PEERS_ONLY:-gw,boss,pgq,pgbench} \
		WORKLOADS=${PEERS_WORKLOADS:-enqueue_single,enqueue_batch,process,latency} \
		"$PEERS_DIR/run.sh" >/dev/null || log "peers run.sh failed (partial results kept)"
	if want fifo; then
		log "peers: Graphile Worker named queues (fifo: 1 queue x 1 and 4 workers, 1000 queues x 4)"
		N=$N FIFO_HOT_N=$((N / 10 > 50 ? N / 10 : 50)) ONLY=gw WORKLOADS=fifo RESULTS="$PEER" \
			"$PEERS_DIR/run.sh" >/dev/null || log "peers fifo run failed"
	fi
	if want process && [ "$PROCESS_N" != "$N" ]; then
		log "peers: process at N=$PROCESS_N"
		N=$PROCESS_N ONLY=gw,boss WORKLOADS=process RESULTS="$PEER" \
			"$PEERS_DIR/run.sh" >/dev/null || log "peers process run failed"
	fi
	log "peers took $(( $(date +%s) - T1 ))s"
fi
phase report

# ---------------------------------------------------------------- results
META=$(printf '{"stamp":"%s","command":"bench/run.sh %s","n":%s,"process_n":%s,"soak_minutes":%s,"settings":"%s","server":"%s","cpus":%s,"cpu_model":"%s","mem_gib":%s,"kernel":"%s","loadavg_end":"%s","git":"%s","client_library":"%s","phase_seconds":{%s}}' \
	"$STAMP" "${BENCH_ARGS:-}" "$N" "$PROCESS_N" "$SOAK_MIN" \
	"$(psql -X -At -d postgres -c "select string_agg(name||'='||current_setting(name), ' ' order by name) from pg_settings where name in ('fsync','synchronous_commit','shared_buffers','max_connections','full_page_writes','wal_level','max_wal_size','checkpoint_timeout','wal_sync_method')")" \
	"$(psql -X -At -d postgres -c 'show server_version')" "$(nproc)" \
	"$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)" "$(awk '/MemTotal/{printf "%d", $2/1048576}' /proc/meminfo)" \
	"$(uname -r)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(git rev-parse --short HEAD 2>/dev/null || echo none)" "$("$DRV" has-client)" "$PHASES")
if [ "$SMOKE" = 1 ]; then
	RES_DIR=$WORK
else
	RES_DIR=$OUT
fi
"$DRV" report --in "$TM,$PEER" --meta "$META" --process-n "$PROCESS_N" \
	--json-out "$RES_DIR/$STAMP.json" --md-out "$RES_DIR/$STAMP.md" --dat-dir "$WORK" >/dev/null
[ -f "$WORK/plans.txt" ] && cp "$WORK/plans.txt" "$RES_DIR/$STAMP-plans.txt"
[ -f "$WORK/hot_group.jsonl" ] && cp "$WORK/hot_group.jsonl" "$RES_DIR/$STAMP-hot_group.jsonl"
if [ "$SMOKE" != 1 ] && command -v gnuplot >/dev/null; then
	gnuplot -e "dir='$WORK'; out='$RES_DIR/$STAMP'" bench/plot.gp 2>&1 | sed 's/^/    gnuplot: /' >&2 || true
fi
{
	echo "## taskmill benchmark $STAMP"
	echo
	echo "Command: \`bench/run.sh ${BENCH_ARGS:-}\` — N=$N, process N=$PROCESS_N, soak $SOAK_MIN min."
	echo
	cat "$RES_DIR/$STAMP.md"
	if [ -s "$WORK/hot_group.txt" ]; then
		echo
		echo "### One hot FIFO group: plain dequeue + ack against claim + delete (bench/hot_group.sh)"
		echo
		grep -v '^{' "$WORK/hot_group.txt"
	fi
} >"$RES_DIR/$STAMP.md.tmp" && mv "$RES_DIR/$STAMP.md.tmp" "$RES_DIR/$STAMP.md"
cat "$RES_DIR/$STAMP.md"
log "results: $RES_DIR/$STAMP.json $RES_DIR/$STAMP.md (work dir $WORK)"
log "total $(( $(date +%s) - T0 ))s; $FAILED taskmill workload(s) failed"
[ "$FAILED" -eq 0 ]
