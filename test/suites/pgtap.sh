#!/usr/bin/env bash
# pgTAP behaviour tests (test/pgtap/*.sql). Each file runs in a database of its own, cloned
# from a template that has taskmill, pgtap and dblink installed, so files run in parallel
# (pg_prove --jobs) and a "clean database" test never sees another file's queues. pg_prove
# calls a small psql wrapper (written below) that connects --file NAME.sql to taskmill_pgtap_NAME.
#
#   test/suites/pgtap.sh                       every file
#   test/suites/pgtap.sh test/pgtap/fifo.sql   only these
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$TOP"
if [ $# -gt 0 ]; then files=("$@"); else files=(test/pgtap/*.sql); fi
[ -e "${files[0]}" ] || { echo "no pgTAP tests"; exit 0; }
start_cluster
new_db taskmill_pgtap_template pgtap dblink
for f in "${files[@]}"; do
	psql -q -d postgres -v ON_ERROR_STOP=1 \
		-c "CREATE DATABASE \"taskmill_pgtap_$(basename "$f" .sql)\" TEMPLATE taskmill_pgtap_template" >/dev/null
done
wrapper=$TASKMILL_PGDATA/pgtap-psql
cat >"$wrapper" <<'WRAP'
#!/usr/bin/env bash
prev=""
for a in "$@"; do
	[ "$prev" = --file ] && export PGDATABASE="taskmill_pgtap_$(basename "$a" .sql)"
	prev=$a
done
exec psql "$@"
WRAP
chmod +x "$wrapper"
pg_prove --psql-bin "$wrapper" --jobs "${TASKMILL_PGTAP_JOBS:-2}" --failures "${files[@]}"
