#!/usr/bin/env bash
# PostgreSQL 17: the extension built with PGXS against PostgreSQL 17 (its version guards,
# extension/*.c `PG_VERSION_NUM`) and the server-side suites run on a PostgreSQL 17 server:
# regress (pg_regress and the isolation specs), pgtap, cron, cron_bgworker, vacuum_bgworker.
# This machine's Debian 12 carries PostgreSQL 15 only, so a Debian 13 root, whose
# PostgreSQL is 17, is made once with debootstrap under build/pg17root and reused; the
# checkout's files (tracked and untracked, not ignored) are copied into it for each run.
# PostgreSQL 16 is in no Debian release and is not run here.
#
# The chroot's /dev and /proc are mounted in a private mount namespace (unshare), so they
# go away with it: nothing stays mounted under build/ when the suite ends, however it ends.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$TOP"
[ "$(id -u)" = 0 ] || { echo "pg17: needs root (debootstrap, chroot, unshare)"; exit 1; }

root=$TOP/build/pg17root
if [ ! -e "$root/.taskmill-ready" ]; then
	rm -rf --one-file-system "$root"
	mkdir -p "$TOP/build"
	echo "== debootstrap: a Debian 13 root with PostgreSQL 17 (once; reused from build/pg17root)"
	if ! debootstrap --variant=minbase \
		--include=postgresql-17,postgresql-server-dev-17,postgresql-17-pgtap,libtap-parser-sourcehandler-pgtap-perl,make,gcc,g++,libc6-dev \
		trixie "$root" >"$TOP/build/pg17root.log" 2>&1; then
		tail -30 "$TOP/build/pg17root.log"
		exit 1
	fi
	touch "$root/.taskmill-ready"
fi

rm -rf "$root/src"
mkdir "$root/src"
git ls-files -z --cached --others --exclude-standard |
	tar --null --ignore-failed-read -T - -cf - | tar -C "$root/src" -xf -

# Inside the root: build and install against 17, then each suite as it runs here (they find
# PostgreSQL 17 through PGBIN and PATH); a failing suite's log is printed.
inside='
cd /src
make -s -j2 PG_CONFIG=$PGBIN/pg_config >/dev/null
make -s install PG_CONFIG=$PGBIN/pg_config >/dev/null
echo "ok build: $($PGBIN/postgres --version), taskmill.so against its headers, no warnings (-Werror)"
failed=0
for s in regress pgtap cron cron_bgworker vacuum_bgworker; do
	if test/suites/$s.sh >/tmp/pg17-$s.log 2>&1; then
		echo "ok $s on PostgreSQL 17"
	else
		echo "FAIL $s on PostgreSQL 17:"
		tail -60 /tmp/pg17-$s.log
		failed=1
	fi
done
exit $failed
'
unshare --mount --propagation private -- bash -c '
	mount --rbind /dev "$1/dev" && mount -t proc proc "$1/proc" &&
	exec chroot "$1" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
		PATH=/usr/lib/postgresql/17/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		PGBIN=/usr/lib/postgresql/17/bin bash -euo pipefail -c "$2"' _ "$root" "$inside"
