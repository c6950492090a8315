#!/usr/bin/env bash
# Write what a database's taskmill extension consists of, for the upgrade suite to compare
# an updated installation with a fresh one:
#   OUT.sql    pg_dump --schema-only of the extension's objects. pg_dump leaves an
#              extension's member objects out (a restore runs CREATE EXTENSION instead), so
#              it dumps a scratch copy of DB in which their membership is removed from
#              pg_depend: the dump then shows every table, column, index, function, view,
#              comment and grant the install or update scripts made.
#   OUT.facts  what such a dump cannot show: the member list, the tables and sequences
#              marked for pg_dump (pg_extension_config_dump), the initial privileges recorded
#              for the members (pg_init_privs; a table's or sequence's row that is only the
#              owner's default privileges is left out), the extension's own row.
#
#   test/upgrade/schema-dump.sh DB OUT [pg_dump options ...]
# Uses PGHOST/PGPORT/PGUSER; needs superuser (the scratch copy's pg_depend is edited).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 DB OUT [pg_dump options ...]" >&2; exit 2; }
db=$1 out=$2
shift 2
scratch="${db}_schema_dump"
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

q -d "$db" -A -t -o "$out.facts" <<'SQL'
SELECT 'extension ' || e.extname || ' ' || e.extversion || ' schema ' || n.nspname
	   || ' relocatable ' || e.extrelocatable
FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'taskmill';
SELECT 'member ' || pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid)
FROM pg_catalog.pg_depend d
WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.deptype = 'e'
  AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'taskmill')
ORDER BY 1;
SELECT 'dumped with data ' || c.oid::regclass::text || ' where ' || pg_catalog.quote_literal(x.cond)
FROM pg_catalog.pg_extension e,
	 LATERAL ROWS FROM (pg_catalog.unnest(e.extconfig), pg_catalog.unnest(e.extcondition)) AS x(rel, cond)
	 JOIN pg_catalog.pg_class c ON c.oid = x.rel
WHERE e.extname = 'taskmill'
ORDER BY 1;
-- (A row that is just the owner's default privileges on a table or sequence means what no
-- row means, to pg_dump as to everyone: an update script's REVOKE of privileges granted
-- after install leaves one, which a fresh install does not have. Left out.)
SELECT 'initial privileges ' || pg_catalog.pg_describe_object(p.classoid, p.objoid, p.objsubid)
	   || ' ' || p.privtype::text || ' ' || p.initprivs::text
FROM pg_catalog.pg_init_privs p
JOIN pg_catalog.pg_depend d ON d.classid = p.classoid AND d.objid = p.objoid
LEFT JOIN pg_catalog.pg_class c ON p.classoid = 'pg_catalog.pg_class'::regclass AND c.oid = p.objoid
WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.deptype = 'e'
  AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'taskmill')
  AND NOT (c.oid IS NOT NULL AND p.objsubid = 0 AND c.relkind IN ('r', 'p', 'S')
		   AND p.initprivs = pg_catalog.acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", c.relowner))
ORDER BY 1;
SQL

q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS \"$scratch\"" -c "CREATE DATABASE \"$scratch\" TEMPLATE \"$db\""
q -d "$scratch" -c "DELETE FROM pg_catalog.pg_depend
	WHERE refclassid = 'pg_catalog.pg_extension'::regclass AND deptype = 'e'
	  AND refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'taskmill')"
# pg_dump 15.14 and later fence the script with \restrict KEY ... \unrestrict KEY, a random
# key per run: left out, so two dumps of the same schema are the same text.
pg_dump --schema-only "$@" -d "$scratch" | grep -vE '^\\(un)?restrict ' >"$out.sql"
q -d postgres -c "DROP DATABASE \"$scratch\""
