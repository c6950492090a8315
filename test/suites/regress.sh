#!/usr/bin/env bash
# pg_regress (sql/ -> expected/) and isolation specs (test/specs) against a throwaway cluster.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$TOP"
[ -n "$(ls sql/*.sql 2>/dev/null)" ] || { echo "no regression tests"; exit 0; }
start_cluster
if ! make -s installcheck; then
	cat regression.diffs output_iso/regression.diffs 2>/dev/null | head -200
	exit 1
fi
