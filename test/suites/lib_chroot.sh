# The server suites on another PostgreSQL major version (sourced by pg17.sh, pg18.sh; not a
# suite itself). This machine's Debian 12 carries PostgreSQL 15 only, so each version runs
# in a Debian root that has it, made once with debootstrap under build/pgNNroot and reused;
# the checkout's files (tracked and untracked, not ignored) are copied into it for each run.
#
#   chroot_pg_suites MAJOR DEBIAN_SUITE [PACKAGE ...]
#
# Inside the root the extension is built with PGXS against MAJOR (its differences are
# extension/pg_compat.h; -Werror) and installed, then the server-side suites run as they run
# here: regress (pg_regress and the isolation specs), pgtap, cron, cron_bgworker,
# vacuum_bgworker, each on its own cluster on a free port; a failing suite's log is printed.
# The root gets PostgreSQL MAJOR's server, headers and pgTAP, the build and test tools, and
# any PACKAGE given; it is made again when that list changes.
#
# The chroot's /dev and /proc are mounted in a private mount namespace (unshare), so they
# go away with it: nothing stays mounted under build/ when the suite ends, however it ends.
# Two versions may run at once (scripts/test.sh pg17 pg18): each has its own root.

chroot_pg_suites() {
	local major=$1 dist=$2
	shift 2
	local root=$TOP/build/pg${major}root log=$TOP/build/pg${major}root.log t0
	local packages
	packages=$(printf '%s,' postgresql-"$major" postgresql-server-dev-"$major" \
		postgresql-"$major"-pgtap libtap-parser-sourcehandler-pgtap-perl make gcc g++ libc6-dev "$@")
	packages=${packages%,}
	[ "$(id -u)" = 0 ] || { echo "pg$major: needs root (debootstrap, chroot, unshare)"; return 1; }

	if [ "$(cat "$root/.taskmill-ready" 2>/dev/null)" != "$dist $packages" ]; then
		rm -rf --one-file-system "$root"
		mkdir -p "$TOP/build"
		echo "== debootstrap: a Debian $dist root with PostgreSQL $major (once; reused from build/pg${major}root)"
		t0=$(date +%s)
		if ! debootstrap --variant=minbase --include="$packages" "$dist" "$root" >"$log" 2>&1; then
			tail -30 "$log"
			return 1
		fi
		echo "$dist $packages" >"$root/.taskmill-ready"
		echo "   made in $(($(date +%s) - t0))s"
	fi

	rm -rf "$root/src"
	mkdir "$root/src"
	(cd "$TOP" && git ls-files -z --cached --others --exclude-standard |
		tar --null --ignore-failed-read -T - -cf -) | tar -C "$root/src" -xf -

	# Inside the root: build and install against MAJOR, then each suite as it runs here (they
	# find that PostgreSQL through PGBIN and PATH).
	local inside='
cd /src
make -s -j2 PG_CONFIG=$PGBIN/pg_config >/dev/null
make -s install PG_CONFIG=$PGBIN/pg_config >/dev/null
echo "ok build: $($PGBIN/postgres --version), taskmill.so against its headers, no warnings (-Werror)"
passed=0 failed=0
for s in regress pgtap cron cron_bgworker vacuum_bgworker; do
	t0=$(date +%s)
	if test/suites/$s.sh >/tmp/pg$MAJOR-$s.log 2>&1; then
		echo "ok $s on PostgreSQL $MAJOR ($(($(date +%s) - t0))s)"
		passed=$((passed + 1))
	else
		echo "FAIL $s on PostgreSQL $MAJOR:"
		tail -60 /tmp/pg$MAJOR-$s.log
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed on PostgreSQL $MAJOR"
[ "$failed" = 0 ]
'
	unshare --mount --propagation private -- bash -c '
		mount --rbind /dev "$1/dev" && mount -t proc proc "$1/proc" &&
		exec chroot "$1" /usr/bin/env -i HOME=/root LANG=C.UTF-8 MAJOR="$2" \
			PATH=/usr/lib/postgresql/$2/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			PGBIN=/usr/lib/postgresql/$2/bin bash -euo pipefail -c "$3"' _ "$root" "$major" "$inside"
}
