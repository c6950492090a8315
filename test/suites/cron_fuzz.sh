#!/usr/bin/env bash
# libFuzzer run of the cron parser and wall-clock search (test/cron/fuzz_cron.c over
# extension/cron.c built standalone), with AddressSanitizer, UndefinedBehaviorSanitizer and
# leak detection. Any crash, sanitizer report or leak fails the suite.
#   TASKMILL_FUZZ_SECONDS   how long to fuzz (default 60)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$TOP"
secs=${TASKMILL_FUZZ_SECONDS:-60}
work=$(mktemp -d /tmp/taskmill-fuzz.XXXXXX)
at_exit 'rm -rf "$work"'

clang -g -O1 -DCRON_STANDALONE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-Iextension test/cron/fuzz_cron.c extension/cron.c -o "$work/fuzz_cron"
mkdir -p "$work/corpus"
cp test/cron/corpus/* "$work/corpus/"
set +e
"$work/fuzz_cron" -max_total_time="$secs" -detect_leaks=1 -max_len=512 -timeout=10 \
	-dict=test/cron/cron.dict -artifact_prefix="$work/" -print_final_stats=1 \
	"$work/corpus" >"$work/fuzz.log" 2>&1
rc=$?
set -e
tail -n 25 "$work/fuzz.log"
execs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1/p' "$work/fuzz.log")
crashes=$(find "$work" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
leaks=$(grep -c 'ERROR: LeakSanitizer' "$work/fuzz.log" || true)
echo "fuzz_cron: ${execs:-0} executions in ${secs}s, crashes/timeouts: $crashes, leaks: $leaks, exit status $rc"
if [ "$rc" != 0 ] || [ "$crashes" != 0 ] || [ "$leaks" != 0 ] || [ -z "$execs" ]; then
	for f in "$work"/crash-* "$work"/leak-*; do
		[ -e "$f" ] && { echo "input $f:"; od -c "$f" | head -20; }
	done
	echo "FAIL fuzz_cron"
	exit 1
fi
echo "# All fuzz tests passed"
