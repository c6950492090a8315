#!/usr/bin/env bash
# The main job, end to end on a throwaway cluster:
#   provision packages, build + install the extension, build the C++ client, start a
#   PostgreSQL 15 cluster, migrate, run the example producer and worker (tasks succeed,
#   retry and are dead-lettered), print a summary with the `taskmill` CLI, stop the cluster.
# Needs root (or sudo) for apt-get / make install. Takes well under a minute once built.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$TOP"
BUILD=${TASKMILL_DEMO_BUILD:-$TOP/build/demo}
QUEUE=demo

step() { printf '\n==> %s\n' "$*"; }

step "provisioning Debian packages (scripts/provision.sh)"
scripts/provision.sh

step "building and installing the extension (make && make install)"
make -s -j2 >/dev/null
make -s install >/dev/null

step "building the C++ client, CLI and examples (cmake, $BUILD)"
cmake -S client -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j2 --target taskmill_cli taskmill_example_producer taskmill_example_worker >/dev/null
TASKMILL=$BUILD/taskmill
PRODUCER=$BUILD/examples/example-producer
WORKER=$BUILD/examples/example-worker

step "starting a throwaway PostgreSQL 15 cluster"
eval "$(scripts/pg-cluster.sh start)"
trap 'scripts/pg-cluster.sh stop "$TASKMILL_PGDATA"' EXIT
echo "cluster on $PGHOST:$PGPORT ($TASKMILL_PGDATA)"

step "migrating (CREATE EXTENSION taskmill)"
"$TASKMILL" migrate

step "producer: enqueueing tasks on queue \"$QUEUE\""
"$PRODUCER" "$QUEUE"
"$TASKMILL" enqueue "$QUEUE" sleep '{"ms": 300}' >/dev/null
echo "enqueued a sleep task from the CLI"

step "queue before the worker runs"
"$TASKMILL" stats "$QUEUE"

step "worker: processing until nothing is left (retries wait 1 s, 2 s ...)"
"$WORKER" "$QUEUE"

step "summary: taskmill stats $QUEUE"
"$TASKMILL" stats "$QUEUE"
step "summary: taskmill results list $QUEUE"
"$TASKMILL" results list "$QUEUE"
step "summary: taskmill dlq list $QUEUE"
"$TASKMILL" dlq list "$QUEUE"

completed=$("$TASKMILL" --json results list "$QUEUE" | grep -o '"completed_at"' | wc -l)
dead=$("$TASKMILL" --json stats "$QUEUE" | sed -n 's/.*"in_dlq":\([0-9]*\).*/\1/p')
step "done: $completed tasks completed, $dead dead-lettered; stopping the cluster"
