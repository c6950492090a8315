#!/usr/bin/env bash
# Run every test of taskmill on throwaway clusters: installs packages (scripts/provision.sh),
# builds and installs the extension, then runs each suite in test/suites/*.sh in parallel,
# each on its own cluster. Prints each failing suite's log and a closing tally.
#
#   scripts/test.sh                 all suites
#   scripts/test.sh regress pgtap   only these suites
#   TASKMILL_TEST_JOBS=2            how many suites run at once (default 3)
# After the suites, no process they started may still run (each suite ends its own,
# test/suites/lib.sh): any left is listed and the run fails.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
. scripts/procs.sh

scripts/provision.sh || exit 1
# The suites' servers run from a private copy of the PostgreSQL installation with this
# checkout's extension installed into it (as `make check` does with its temp install), so the
# machine's own PostgreSQL is left alone and two checkouts can be tested at once.
. scripts/pg-root.sh
pg_root_create "$TOP/build/pgroot" || exit 1
make -s >/dev/null && make -s install DESTDIR="$PGROOT" >/dev/null || { echo "extension build failed"; make; exit 1; }

suites=("$@")
if [ ${#suites[@]} -eq 0 ]; then
	for f in test/suites/*.sh; do
		n=$(basename "$f" .sh)
		case $n in lib | lib_*) ;; *) suites+=("$n") ;; esac
	done
fi

logdir=$(mktemp -d /tmp/taskmill-test.XXXXXX)
# Every process the suites start inherits it (the roots of pg17/pg18 clear the environment:
# their processes are found by their programs, under build/).
export TASKMILL_TEST_RUN="test.sh:$$"
jobs=${TASKMILL_TEST_JOBS:-3}
declare -A pid_of
start=$(date +%s)
run_suite() {
	local n=$1 t0=$(date +%s)
	if "test/suites/$n.sh" >"$logdir/$n.log" 2>&1; then
		echo "ok    $n ($(( $(date +%s) - t0 ))s)"
	else
		echo "FAIL  $n ($(( $(date +%s) - t0 ))s)"
		return 1
	fi
}
for n in "${suites[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
	run_suite "$n" &
	pid_of[$n]=$!
done
passed=0
failed=0
failed_names=()
for n in "${suites[@]}"; do
	if wait "${pid_of[$n]}"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failed_names+=("$n")
	fi
done
for n in "${failed_names[@]}"; do
	echo "===== $n (log: $logdir/$n.log, last 150 lines)"
	tail -n 150 "$logdir/$n.log"
done
# Show each suite's own closing lines (test counts) for the record.
for n in "${suites[@]}"; do
	echo "----- $n:"
	grep -E '^(Result:|Files=|All [0-9]+ tests|# All|# [0-9]+ of|\[  PASSED  \]|\[  FAILED  \]|[0-9]+ passed)' "$logdir/$n.log" | tail -n 3 || true
done
echo "suites took $(( $(date +%s) - start ))s; logs in $logdir"
echo "suites: $passed passed, $failed failed"

# Left running: a process of this run, or a program of this checkout's build/ (a `taskmill
# worker` or `taskmill dashboard`, a postgres of build/pgroot or of a chroot). Those still
# exiting get 10 s.
for ((i = 0; i < 50; i++)); do
	marked_pids "TASKMILL_TEST_RUN=$TASKMILL_TEST_RUN" ours
	exe_under_pids "$TOP/build" built
	[ $((${#ours[@]} + ${#built[@]})) -eq 0 ] && break
	sleep 0.2
done
if [ $((${#ours[@]} + ${#built[@]})) -gt 0 ]; then
	echo "FAIL  processes started from this checkout are still running after the suites:"
	for p in $(printf '%s\n' "${ours[@]}" "${built[@]}" | sort -un); do proc_line "$p"; done
	# Those of this run are ended; anything else from build/ is left for whoever started it.
	end_pids "${ours[@]}"
	exit 1
fi
echo "no process of the suites left running"
[ "$failed" -eq 0 ]
