#!/usr/bin/env bash
# Update from every released version (RELEASES) to the version being built:
#   1. build the release's full install script from its commit (test/upgrade/release-script.sh)
#      and install it next to this checkout's build (the .so is the current one);
#   2. CREATE EXTENSION taskmill VERSION 'x', fill it with tasks in every state, results and
#      schedules (test/upgrade/fill-x.sql), copy every row (snapshot.sql);
#   3. ALTER EXTENSION taskmill UPDATE; nothing was lost and the queue works on the old
#      tasks, leases from before the update included (verify.sql);
#      A dump of the filled database taken before the update, restored into a database
#      created at the old version and then updated, passes the same checks;
#   4. the pg_regress suite (test/regress/sql -> test/regress/expected) runs against an
#      updated database;
#   5. the schema of the updated databases (pg_dump --schema-only, the member list, the
#      tables marked for dumping, initial privileges: test/upgrade/schema-dump.sh) is
#      identical to a fresh install of the version being built; a diff is shown if not.
# Run by scripts/test.sh (which builds and installs into build/pgroot); run alone, it does that
# itself.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$TOP"

if [ -z "${PGROOT:-}" ]; then
	. scripts/pg-root.sh
	pg_root_create "$TOP/build/pgroot"
	make -s >/dev/null
	make -s install DESTDIR="$PGROOT" >/dev/null
fi
extdir="$("$PGBIN/pg_config" --sharedir)/extension"
current=$(sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" extension/taskmill.control)
[ -f "$extdir/taskmill--$current.sql" ] || { echo "taskmill--$current.sql is not installed in $extdir"; exit 1; }

work=$(mktemp -d /tmp/taskmill-upgrade.XXXXXX)
start_cluster
at_exit 'rm -rf "$work"'
chmod a+rwx "$work"
psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

# The fill script of a release: fill-VERSION.sql, or the newest one of an earlier version
# (the API a fill uses only grows).
fill_for() {
	local v=$1 f best=""
	for f in test/upgrade/fill-*.sql; do
		local fv=${f#test/upgrade/fill-}
		fv=${fv%.sql}
		if [ "$(printf '%s\n%s\n' "$fv" "$v" | sort -V | tail -n 1)" = "$v" ]; then best=$f; fi
	done
	[ -n "$best" ] || { echo "no test/upgrade/fill-*.sql for version $v" >&2; return 1; }
	echo "$best"
}

# Compare the schema dumps of two databases; show the differences.
same_schema() {
	local a=$1 b=$2 what=$3 same=1
	diff -u "$a.facts" "$b.facts" >"$work/facts.diff" || same=0
	diff -u "$a.sql" "$b.sql" >"$work/sql.diff" || same=0
	if [ "$same" = 1 ]; then
		echo "ok: $what"
		return 0
	fi
	echo "FAIL: $what: the schemas differ (- fresh install, + updated)"
	cat "$work/facts.diff" "$work/sql.diff" | head -n 300
	return 1
}

# A fresh install of the version being built: what every updated database must look like.
new_db fresh
test/upgrade/schema-dump.sh fresh "$work/fresh"

failures=0
releases=$(grep -vE '^[[:space:]]*(#|$)' RELEASES | awk '{print $1 " " $2}')
[ -n "$releases" ] || { echo "RELEASES lists no version"; exit 1; }
while read -r version commit; do
	echo "== from $version ($commit) to $current"
	if [ "$version" = "$current" ]; then
		echo "FAIL: RELEASES lists $version, the version being built (extension/taskmill.control):" \
			"move default_version and EXTVERSION on after a release"
		failures=$((failures + 1))
		continue
	fi
	test/upgrade/release-script.sh "$version" "$commit" "$work/taskmill--$version.sql"
	install -m 644 "$work/taskmill--$version.sql" "$extdir/taskmill--$version.sql"
	tag=up_${version//./_}
	fill=$(fill_for "$version")

	# 2-3: a filled database, updated.
	psql_q -d postgres -c "CREATE DATABASE $tag"
	psql_q -d "$tag" -c "CREATE EXTENSION taskmill VERSION '$version'"
	psql_q -o /dev/null -d "$tag" -f "$fill"
	psql_q -d "$tag" -f test/upgrade/snapshot.sql
	pg_dump -Fc -d "$tag" -f "$work/$tag.dump"
	psql_q -d "$tag" -c "ALTER EXTENSION taskmill UPDATE"
	echo "updated a filled database from $version to $(psql -X -At -d "$tag" -c "SELECT extversion FROM pg_extension WHERE extname = 'taskmill'")"
	if psql_q -d "$tag" -f test/upgrade/verify.sql; then
		echo "ok: every row kept, the queue works on the old tasks ($fill, verify.sql)"
	else
		echo "FAIL: rows lost or the queue broken after the update from $version"
		failures=$((failures + 1))
	fi
	test/upgrade/schema-dump.sh "$tag" "$work/$tag" --exclude-schema=upgrade_check
	same_schema "$work/fresh" "$work/$tag" "the filled database updated from $version has the schema of a fresh $current" \
		|| failures=$((failures + 1))

	# A dump taken at the old version, restored into this version the way docs/releases.md
	# says (the extension created at the dump's version first, the dump's own CREATE SCHEMA
	# and CREATE EXTENSION left out, then the update), passes the same checks.
	psql_q -d postgres -c "CREATE DATABASE ${tag}_restored"
	psql_q -d "${tag}_restored" -c "CREATE EXTENSION taskmill VERSION '$version'"
	pg_restore -l "$work/$tag.dump" |
		grep -vE ' (SCHEMA - taskmill|EXTENSION - taskmill|COMMENT - EXTENSION taskmill) ' >"$work/$tag.list"
	pg_restore --exit-on-error -L "$work/$tag.list" -d "${tag}_restored" "$work/$tag.dump"
	psql_q -d "${tag}_restored" -c "ALTER EXTENSION taskmill UPDATE"
	if psql_q -d "${tag}_restored" -f test/upgrade/verify.sql; then
		echo "ok: a $version dump restored at $version and updated: every row kept, the queue works"
	else
		echo "FAIL: a $version dump restored at $version and updated"
		failures=$((failures + 1))
	fi

	# An empty database updated: its schema, then the regression suite on it (pg_regress
	# --use-existing keeps the database; the tests' CREATE EXTENSION IF NOT EXISTS finds the
	# updated extension). The isolation specs are left out: each drops and re-creates the
	# extension. CONTRIB_TESTDB: PGXS appends --dbname=$(CONTRIB_TESTDB) after the Makefile's
	# REGRESS_OPTS, and pg_regress takes the last --dbname. REGRESS_OUTPUTDIR keeps its
	# results apart from those of the regress suite, which may run at the same time.
	psql_q -d postgres -c "CREATE DATABASE taskmill_regress"
	psql_q -d taskmill_regress -c "CREATE EXTENSION taskmill VERSION '$version'" -c "ALTER EXTENSION taskmill UPDATE"
	test/upgrade/schema-dump.sh taskmill_regress "$work/${tag}_empty"
	same_schema "$work/fresh" "$work/${tag}_empty" "an empty database updated from $version has the schema of a fresh $current" \
		|| failures=$((failures + 1))
	mkdir -p "$work/regress_$tag"
	if make -s installcheck ISOLATION= CONTRIB_TESTDB=taskmill_regress EXTRA_REGRESS_OPTS=--use-existing \
		REGRESS_OUTPUTDIR="$work/regress_$tag" \
		>"$work/regress_$tag.log" 2>&1; then
		grep -oE 'All [0-9]+ tests passed' "$work/regress_$tag.log" || tail -n 3 "$work/regress_$tag.log"
		echo "ok: the regression suite passes on the extension updated from $version"
	else
		cat "$work/regress_$tag.log"
		head -n 200 "$work/regress_$tag/regression.diffs" 2>/dev/null || true
		echo "FAIL: the regression suite on the extension updated from $version"
		failures=$((failures + 1))
	fi
	psql_q -d postgres -c "DROP DATABASE taskmill_regress"
done <<<"$releases"

if [ "$failures" -ne 0 ]; then
	echo "upgrade: $failures checks failed"
	exit 1
fi
echo "# All upgrade checks passed"
