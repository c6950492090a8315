#!/usr/bin/env bash
# `taskmill dashboard` end to end: a real headless Chromium (Debian's chromium + chromium-driver,
# driven by python3-selenium) sees the no-token banner of a dashboard started without a token,
# sees nothing of a dashboard with one until it signs in with the token, sees an enqueued task
# appear, requeues a task from the DLQ and sees it leave, purges a DLQ after typing the queue's
# name, and captures each page (test/dashboard/e2e.py). The access rules are checked over plain
# HTTP (test/dashboard/security.py): every read refused (401) without the token or a session
# and answered with them, a non-loopback address refused without a token, --redact-payloads.
# Screenshots go to $DASHBOARD_SHOTS (default build/dashboard-shots; docs/dashboard-*.png are
# copies of a run).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$TOP/test/cli/lib.sh"
cd "$TOP"
apt_need chromium chromium-driver python3-selenium fonts-inter
cli_build
start_cluster
new_db dash
export PGDATABASE=dash
shots=${DASHBOARD_SHOTS:-$TOP/build/dashboard-shots}
mkdir -p "$shots"
background_work dashboard

# ---- data: dead letters, schedules, results, and steady traffic for the sparklines ----
tm() { "$TASKMILL" "$@"; }
for i in 1 2 3; do tm enqueue emails fail "{\"message\": \"SMTP 550: mailbox user$i@example.com unavailable\"}" --max-attempts 1 --key "welcome-$i" --group "user-$i" >/dev/null; done
tm enqueue emails panic '{}' --max-attempts 1 --key receipt-7 >/dev/null
for i in 1 2; do tm enqueue webhooks fail '{"message": "POST https://hooks.example.com returned 502"}' --max-attempts 1 >/dev/null; done
tm worker emails --until-empty --poll-interval 100 >/dev/null 2>&1
tm worker webhooks --until-empty --poll-interval 100 >/dev/null 2>&1
dlq_id=$(tm --json dlq list emails | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])')
psql -q -v ON_ERROR_STOP=1 <<'SQL'
SELECT taskmill.register_schedules('reports', $$[
  {"operation_id": "daily_digest", "cron": "30 6 * * 1-5", "timezone": "Europe/London", "payload": {"format": "pdf"}},
  {"operation_id": "hourly_rollup", "cron": "@hourly"},
  {"operation_id": "heartbeat", "cron": "* * * * *"}]$$);
SELECT taskmill.register_schedules('billing', $$[
  {"operation_id": "invoice_run", "cron": "0 2 1 * *", "timezone": "America/New_York"}]$$);
SQL
# Traffic: producers put batches of short tasks on three queues, workers drain them.
producer() {
	local q=$1 ms=$2 n=$3
	while :; do
		python3 - "$ms" "$n" <<'PY' | tm enqueue "$q" --file - >/dev/null || true
import json, random, sys
ms, n = int(sys.argv[1]), int(sys.argv[2])
for i in range(random.randint(1, n)):
    print(json.dumps({"operation": random.choice(["sleep", "echo"]), "payload": {"ms": random.randint(1, ms)}}))
PY
		sleep 0.4
	done
}
# (Not on emails or webhooks: a requeued task there must stay put for the test to see it.)
producer thumbnails 60 12 & pids+=($!)
producer billing 25 6 & pids+=($!)
producer notifications 40 8 & pids+=($!)
for q in thumbnails billing notifications; do
	"$TASKMILL" worker "$q" --concurrency 4 --poll-interval 200 >/dev/null 2>&1 &
	pids+=($!)
done
for i in $(seq 1 25); do tm enqueue reports render "{\"report\": $i}" >/dev/null; done

# ---- the dashboards: one with an access token, one read-only (no token), one redacting ----
umask 077
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$work/token"
port=$(free_port)
"$TASKMILL" dashboard --listen "127.0.0.1:$port" --token-file "$work/token" --interval 0.5 >"$work/dash.log" 2>&1 &
pids+=($!)
ro_port=$(free_port)
"$TASKMILL" dashboard --listen "127.0.0.1:$ro_port" --interval 5 >"$work/dash-ro.log" 2>&1 &
pids+=($!)
rd_port=$(free_port)
"$TASKMILL" dashboard --listen "127.0.0.1:$rd_port" --token-file "$work/token" --interval 5 \
	--redact-payloads --metrics-public >"$work/dash-redact.log" 2>&1 &
pids+=($!)
wait_for curl -sf "http://127.0.0.1:$port/api/session"
wait_for curl -sf "http://127.0.0.1:$ro_port/api/session"
wait_for curl -sf "http://127.0.0.1:$rd_port/api/session"
# Some results for the redaction check (the traffic's workers make them).
has_results() { tm --json results list --limit 1 | grep -q '"id"'; }
wait_for has_results
echo "# dashboard on port $port (token), $ro_port (read-only, no token), $rd_port (token, redacting)"
python3 test/dashboard/security.py "http://127.0.0.1:$port/" "$work/token" "http://127.0.0.1:$ro_port/" \
	"$work/dash-ro.log" "http://127.0.0.1:$rd_port/"

# Let the sparklines gather ~20 s of samples before the screenshots; then run the schedules
# that are due by now (no scheduler worker runs in this cluster), for their last-run column.
sleep 20
psql -q -c "SELECT taskmill.run_due_schedules()" >/dev/null
# Debian's python3, where python3-selenium is installed (not a python3 earlier in PATH).
TASKMILL="$TASKMILL" E2E_RO_URL="http://127.0.0.1:$ro_port/" E2E_REDACT_URL="http://127.0.0.1:$rd_port/" \
	E2E_DLQ_ID=$dlq_id E2E_DLQ_QUEUE=emails E2E_PURGE_QUEUE=webhooks \
	/usr/bin/python3 test/dashboard/e2e.py "http://127.0.0.1:$port/" "$work/token" "$shots"
echo "screenshots in $shots"
echo "# All dashboard tests passed"
