#!/usr/bin/env bash
# The chaos suite: fault scenarios against throwaway clusters, each history checked offline.
#
#   test/chaos/run.sh                      short versions of every scenario (a few minutes)
#   test/chaos/run.sh --long               the long versions (the issue's sizes; tens of minutes)
#   test/chaos/run.sh [--long] kill fifo   only these scenarios
#   test/chaos/run.sh --unit               only the checker's own test (doctored histories)
#
# Scenarios: kill sigstop crash enospc cron fifo snapshot (test/chaos/chaos.py says what each
# does). Needs root (the enospc scenario mounts a tmpfs; servers run as the postgres OS user),
# cmake, a C++20 compiler, libpq and python3. Builds the extension into the checkout's private
# PostgreSQL copy (scripts/pg-root.sh) unless PGBIN already points at one, and the client into
# build/chaos. Histories and report.json go to $CHAOS_OUT (default: a new temp directory).
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP"
export TOP

long=()
unit_only=0
args=()
for a in "$@"; do
	case "$a" in
	--long) long=(--long) ;;
	--unit) unit_only=1 ;;
	*) args+=("$a") ;;
	esac
done

python3 test/chaos/test_check.py
[ "$unit_only" = 1 ] && exit 0

if [ -z "${PGROOT:-}" ] || [ ! -x "${PGBIN:-/nonexistent}/postgres" ]; then
	. scripts/pg-root.sh
	pg_root_create "$TOP/build/pgroot"
	make -s >/dev/null
	make -s install DESTDIR="$PGROOT" >/dev/null
fi
export PGBIN

t0=$SECONDS
cmake -S test/chaos -B build/chaos >build/chaos.configure.log 2>&1 || { cat build/chaos.configure.log; exit 1; }
cmake --build build/chaos -j "${CHAOS_BUILD_JOBS:-2}" >build/chaos.build.log 2>&1 \
	|| { grep -E 'error' -A5 build/chaos.build.log | head -60; exit 1; }
echo "built build/chaos in $((SECONDS - t0))s"

out=${CHAOS_OUT:-$(mktemp -d /tmp/taskmill-chaos.XXXXXX)}
chmod 755 "$out"
python3 test/chaos/chaos.py --client "$TOP/build/chaos/chaos_client" --out "$out" "${long[@]}" "${args[@]}"
