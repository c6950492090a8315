#!/usr/bin/env bash
# pg_regress (test/regress/sql -> test/regress/expected) and the isolation specs
# (test/isolation/specs -> test/isolation/expected) against a throwaway cluster.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$TOP"
[ -n "$(ls test/regress/sql/*.sql 2>/dev/null)" ] || { echo "no regression tests"; exit 0; }
start_cluster
if ! make -s installcheck; then
	cat test/regress/regression.diffs test/isolation/regression.diffs 2>/dev/null | head -200
	exit 1
fi
