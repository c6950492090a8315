#!/usr/bin/env bash
# /metrics scraped by a real Prometheus server (Debian's package): the dashboard's per-queue
# task gauges, observed counters and oldest-task age, and a CLI worker's outcome counters and
# handler-time histogram (--metrics-listen), read back through Prometheus' HTTP API
# (/api/v1/query) after a scrape every second on loopback. Both endpoints need their token
# (Prometheus sends it from a credentials_file): without it they answer 401; a worker's
# --metrics-listen needs a token or --metrics-public.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$TOP/test/cli/lib.sh"
cd "$TOP"
apt_need prometheus
cli_build
start_cluster
new_db prom
export PGDATABASE=prom
background_work prometheus
tm() { "$TASKMILL" "$@"; }

dash_port=$(free_port)
worker_port=$(free_port)
prom_port=$(free_port)
umask 077
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$work/dash.token"
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$work/worker.token"
chmod 644 "$work"/*.token  # Prometheus runs as this user; the files are only in $work
"$TASKMILL" dashboard --listen "127.0.0.1:$dash_port" --token-file "$work/dash.token" --interval 0.5 >"$work/dash.log" 2>&1 &
pids+=($!)
# The observed counters count from the dashboard's first sampling pass on.
first_pass() {
	curl -sf -H "Authorization: Bearer $(cat "$work/dash.token")" "http://127.0.0.1:$dash_port/metrics" |
		grep -qE '^taskmill_dashboard_last_sample_timestamp_seconds [1-9]'
}
wait_for first_pass
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(status "http://127.0.0.1:$dash_port/metrics")" = 401 ] || { echo "not ok - dashboard /metrics without the token"; exit 1; }
[ "$(status -H "Authorization: Bearer nope-nope-nope-nope" "http://127.0.0.1:$dash_port/metrics")" = 401 ] ||
	{ echo "not ok - dashboard /metrics with a wrong token"; exit 1; }
ok "the dashboard's /metrics answers 401 without its token, or with a wrong one"
rc=0
timeout 20 "$TASKMILL" worker prom --metrics-listen "127.0.0.1:$(free_port)" >"$work/refused.log" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q -- '--metrics-public' "$work/refused.log" ||
	{ echo "not ok - worker --metrics-listen without a token (rc $rc)"; cat "$work/refused.log"; exit 1; }
ok "a worker's --metrics-listen without --metrics-token-file or --metrics-public is refused (exit 2)"

# Tasks before the worker starts: 5 available on "prom_wait" (nobody works it), then
# 6 echo + 2 fail (max_attempts 1) on "prom" for the worker.
for i in 1 2 3 4 5; do tm enqueue prom_wait echo "{\"i\": $i}" >/dev/null; done
printf '%s\n' '{"operation":"echo","payload":1}' '{"operation":"echo","payload":2}' \
	'{"operation":"echo","payload":3}' '{"operation":"echo","payload":4}' \
	'{"operation":"sleep","payload":{"ms":20}}' '{"operation":"sleep","payload":{"ms":30}}' \
	'{"operation":"fail","max_attempts":1}' '{"operation":"fail","max_attempts":1}' |
	tm enqueue prom --file - >/dev/null
"$TASKMILL" worker prom --poll-interval 100 --metrics-listen "127.0.0.1:$worker_port" \
	--metrics-token-file "$work/worker.token" >"$work/worker.log" 2>&1 &
pids+=($!)
wait_for curl -sf -H "Authorization: Bearer $(cat "$work/worker.token")" "http://127.0.0.1:$worker_port/metrics"
[ "$(status "http://127.0.0.1:$worker_port/metrics")" = 401 ] || { echo "not ok - worker /metrics without the token"; exit 1; }
[ "$(status -H "Authorization: Bearer $(cat "$work/dash.token")" "http://127.0.0.1:$worker_port/metrics")" = 401 ] ||
	{ echo "not ok - worker /metrics with another token"; exit 1; }
ok "the worker's /metrics answers 401 without its token, or with another one"
# --metrics-public: no token asked (a worker on a queue of its own).
public_port=$(free_port)
"$TASKMILL" worker prom_public --metrics-listen "127.0.0.1:$public_port" --metrics-public >"$work/public.log" 2>&1 &
pids+=($!)
wait_for curl -sf "http://127.0.0.1:$public_port/metrics"
ok "a worker with --metrics-public serves /metrics without a token"

cat >"$work/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: taskmill_dashboard
    authorization: {credentials_file: $work/dash.token}
    static_configs: [{targets: ["127.0.0.1:$dash_port"]}]
  - job_name: taskmill_worker
    authorization: {credentials_file: $work/worker.token}
    static_configs: [{targets: ["127.0.0.1:$worker_port"]}]
YML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
	--web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
pids+=($!)
wait_for -t 60 curl -sf "http://127.0.0.1:$prom_port/-/ready"

# query EXPR WANT: waits until Prometheus answers EXPR with the single value WANT ("any": one
# series, whatever its value; used with PromQL filters such as "> 0").
query() {
	local expr=$1 want=$2 got=""
	local end=$((SECONDS + 45))
	while [ $SECONDS -lt $end ]; do
		got=$(curl -sfG "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$expr" |
			python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if len(r)==1 else "none(%d)" % len(r))' || true)
		if [ "$got" = "$want" ] || { [ "$want" = any ] && [ "${got#none}" = "$got" ] && [ -n "$got" ]; }; then
			n=$((n + 1))
			echo "ok $n - $expr = $want"
			return 0
		fi
		sleep 0.5
	done
	echo "not ok - $expr: got '$got', want '$want'"
	tail -n 20 "$work/prometheus.log"
	curl -s -H "Authorization: Bearer $(cat "$work/dash.token")" "http://127.0.0.1:$dash_port/metrics" | grep -v '^#' | head -40
	return 1
}
query 'up{job="taskmill_dashboard"}' 1
query 'up{job="taskmill_worker"}' 1
query 'taskmill_queue_tasks{queue="prom_wait",state="available"}' 5
query 'taskmill_queue_oldest_available_age_seconds{queue="prom_wait"} > 0' any
query 'taskmill_queue_tasks{queue="prom",state="in_dlq"}' 2
query 'taskmill_queue_tasks{queue="prom",state="available"}' 0
query 'taskmill_worker_tasks_total{queue="prom",operation="echo",outcome="succeeded"}' 4
query 'sum(taskmill_worker_tasks_total{queue="prom",outcome="succeeded"})' 6
query 'taskmill_worker_tasks_total{queue="prom",operation="fail",outcome="dead_lettered"}' 2
query 'sum(taskmill_worker_task_duration_seconds_count{queue="prom"})' 8
query 'taskmill_worker_task_duration_seconds_bucket{queue="prom",operation="sleep",le="0.01"}' 0
query 'taskmill_worker_task_duration_seconds_bucket{queue="prom",operation="sleep",le="+Inf"}' 2
query 'taskmill_worker_task_duration_seconds_sum{queue="prom",operation="sleep"} >= 0.05' any
# The dashboard's observed counters: tasks enqueued after its first pass, completions, dead letters.
query 'taskmill_queue_enqueued_total{queue="prom"}' 8
query 'taskmill_queue_completed_total{queue="prom"}' 6
query 'taskmill_queue_dead_lettered_total{queue="prom"}' 2
query 'taskmill_table_size_bytes{table="tasks"} > 0' any
echo "1..$n"
echo "# All prometheus tests passed"
