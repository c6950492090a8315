#!/usr/bin/env bash
# The vacuum background worker (extension/vacuum.c), in a cluster started with
#   shared_preload_libraries = taskmill, taskmill.scheduler_databases = 'vac_a,vac_plain',
#   taskmill.vacuum_interval = 1, taskmill.vacuum_threshold = 1000, autovacuum on
# Checks, each with a wait-for-condition loop (no fixed sleeps):
#  - one vacuum worker per listed database; a database without the extension is skipped
#    quietly and the worker goes on;
#  - dead tuples past the threshold in taskmill.tasks are vacuumed by the worker (not by
#    autovacuum, whose naptime is 1 min) within a few intervals; fewer are left alone;
#  - with autovacuum also vacuuming the table (forced by a manual VACUUM holding it), the
#    worker skips it quietly and vacuums it on a later round;
#  - SIGHUP reloads taskmill.vacuum_interval (0 stops vacuuming).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$TOP"

start_cluster -c shared_preload_libraries=taskmill -c taskmill.scheduler_databases=vac_a,vac_plain \
	-c taskmill.vacuum_interval=1 -c taskmill.vacuum_threshold=1000 -c autovacuum_naptime=600
log=$TASKMILL_PGDATA/server.log
new_db vac_a
psql -XAtq -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE vac_plain"

vacuums() { q vac_a "SELECT vacuum_count FROM pg_stat_user_tables WHERE relid = 'taskmill.tasks'::regclass"; }

wait_true 60 postgres "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'taskmill vacuum' AND datname IN ('vac_a', 'vac_plain')"
echo "ok workers: one per listed database (vac_plain has no extension and its worker stays up)"

# 5000 dead tuples: vacuumed by the worker (vacuum_count, not autovacuum_count)
q vac_a "SELECT count(taskmill.enqueue_arrays('q', array_fill('noop'::text, ARRAY[5000])))" >/dev/null
q vac_a "DELETE FROM taskmill.tasks WHERE queue_name = 'q'" >/dev/null
wait_true 60 vac_a "SELECT vacuum_count >= 1 AND n_dead_tup < 1000 AND autovacuum_count = 0 FROM pg_stat_user_tables WHERE relid = 'taskmill.tasks'::regclass"
echo "ok dead tuples past taskmill.vacuum_threshold vacuumed by the worker, not autovacuum"

# below the threshold: left alone for several intervals (the worker's loop goes on: the
# second check below proves rounds ran in between)
before=$(vacuums)
q vac_a "SELECT count(taskmill.enqueue_arrays('q', array_fill('noop'::text, ARRAY[100])))" >/dev/null
q vac_a "DELETE FROM taskmill.tasks WHERE queue_name = 'q'" >/dev/null
wait_true 30 vac_a "SELECT n_dead_tup >= 100 FROM pg_stat_user_tables WHERE relid = 'taskmill.tasks'::regclass"
q vac_a "SELECT pg_sleep(3)" >/dev/null # three intervals; a wait for something NOT to happen
[ "$(vacuums)" = "$before" ] || { echo "FAIL: vacuumed below the threshold"; exit 1; }
echo "ok fewer dead tuples than the threshold are left to autovacuum"

# someone else holds the table's vacuum lock (as autovacuum would): the worker skips it
# without waiting and without a warning, then vacuums it once the lock is free
psql -XAtq -d vac_a -v ON_ERROR_STOP=1 >/dev/null <<'SQL' &
BEGIN;
LOCK TABLE taskmill.tasks IN SHARE UPDATE EXCLUSIVE MODE;
SELECT count(taskmill.enqueue_arrays('q', array_fill('noop'::text, ARRAY[3000])));
SELECT pg_sleep(3);
COMMIT;
SQL
holder=$!
wait_true 30 vac_a "SELECT count(*) = 1 FROM pg_locks WHERE relation = 'taskmill.tasks'::regclass AND mode = 'ShareUpdateExclusiveLock' AND granted"
before=$(vacuums)
q vac_a "SELECT pg_sleep(1.5)" >/dev/null
wait "$holder"
q vac_a "DELETE FROM taskmill.tasks WHERE queue_name = 'q'" >/dev/null
wait_true 60 vac_a "SELECT vacuum_count > $before AND n_dead_tup < 1000 FROM pg_stat_user_tables WHERE relid = 'taskmill.tasks'::regclass"
if grep -q "skipping vacuum of \"tasks\"" "$log"; then echo "FAIL: the worker warned about a held lock"; exit 1; fi
echo "ok a table someone else vacuums is skipped quietly and vacuumed on a later round"

grep -q 'taskmill vacuum worker started for database "vac_a"' "$log"

# SIGHUP: interval 0 stops vacuuming
echo "taskmill.vacuum_interval = 0" >>"$TASKMILL_PGDATA/data/postgresql.conf"
q postgres "SELECT pg_reload_conf()" >/dev/null
wait_true 30 vac_a "SELECT setting = '0' FROM pg_settings WHERE name = 'taskmill.vacuum_interval'"
q vac_a "SELECT pg_sleep(1.5)" >/dev/null # the worker's own reload happens at its next wake-up
before=$(vacuums)
q vac_a "SELECT count(taskmill.enqueue_arrays('q', array_fill('noop'::text, ARRAY[3000])))" >/dev/null
q vac_a "DELETE FROM taskmill.tasks WHERE queue_name = 'q'" >/dev/null
q vac_a "SELECT pg_sleep(3)" >/dev/null
[ "$(vacuums)" = "$before" ] || { echo "FAIL: vacuumed with taskmill.vacuum_interval = 0"; exit 1; }
echo "ok taskmill.vacuum_interval = 0 (SIGHUP) stops it"
