#!/usr/bin/env bash
# The `taskmill` command line (test/cli/test_cli.py): exit codes, --json shapes, errors on bad
# input, batch enqueue, the worker's structured events, password sources (.pgpass /
# PGPASSFILE / the -W prompt; a warning for a password in --dsn). A role that must give a
# password (scram-sha-256 in pg_hba.conf) checks the last.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$TOP/test/cli/lib.sh"
cd "$TOP"
cli_build
start_cluster
new_db cli
export PGDATABASE=cli
export PWUSER=taskmill_cli_pw PWUSER_PASSWORD=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
psql -q -v ON_ERROR_STOP=1 -c "CREATE ROLE $PWUSER LOGIN SUPERUSER PASSWORD '$PWUSER_PASSWORD'" >/dev/null
hba="$TASKMILL_PGDATA/data/pg_hba.conf"
{ echo "host all $PWUSER 127.0.0.1/32 scram-sha-256"; cat "$hba"; } >"$hba.new"
chown --reference="$hba" "$hba.new"
mv "$hba.new" "$hba"
psql -q -c "SELECT pg_reload_conf()" >/dev/null
python3 test/cli/test_cli.py
