#!/usr/bin/env bash
# Run every test of taskmill on throwaway clusters: installs packages (scripts/provision.sh),
# builds and installs the extension, then runs each suite in test/suites/*.sh in parallel,
# each on its own cluster. Prints each failing suite's log and a closing tally.
#
#   scripts/test.sh                 all suites
#   scripts/test.sh regress pgtap   only these suites
#   TASKMILL_TEST_JOBS=2            how many suites run at once (default 3)
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"

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
[ "$failed" -eq 0 ]
