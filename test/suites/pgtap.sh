#!/usr/bin/env bash
# pgTAP behaviour tests (test/pgtap/*.sql), one database per file so files run in parallel.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$TOP"
files=(test/pgtap/*.sql)
[ -e "${files[0]}" ] || { echo "no pgTAP tests"; exit 0; }
start_cluster
psql -q -d postgres -c "CREATE DATABASE taskmill_pgtap" >/dev/null
for ext in taskmill pgtap dblink; do psql -q -d taskmill_pgtap -c "CREATE EXTENSION $ext" >/dev/null; done
export PGDATABASE=taskmill_pgtap
pg_prove --jobs 1 --failures "${files[@]}"
