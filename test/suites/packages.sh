#!/usr/bin/env bash
# The Debian packages (debian/): build postgresql-15-taskmill, libtaskmill0, libtaskmill-dev
# and taskmill with dpkg-buildpackage from a copy of this checkout, install them with apt-get,
# then use only the installed files on a cluster started from the SYSTEM PostgreSQL binaries
# (not the private copy scripts/test.sh makes): CREATE EXTENSION through the installed CLI
# (`taskmill migrate`), the example producer built against the installed CMake package, a
# program built with the installed pkg-config file, and the installed CLI's enqueue + worker
# processing real tasks (success, retry, dead-letter).
#
# PACKAGES_FROM=DIR installs the .debs found in DIR instead of building them (for working on
# this suite; a full run always builds).
#
# The packages are removed again at the end (TASKMILL_KEEP_PACKAGES=1 keeps them): other
# suites run from the private copy made before any suite started, so they never see them.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$TOP"

SYSBIN=/usr/lib/postgresql/15/bin
PKGS=(postgresql-15-taskmill libtaskmill0 libtaskmill-dev taskmill)
W=$(mktemp -d /tmp/taskmill-packages.XXXXXX)
chmod 755 "$W"
T0=$SECONDS
step() { echo "==> [$((SECONDS - T0))s] $*"; }
# Other suites may run apt-get at the same time: wait for the dpkg lock instead of failing.
apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -qq "$@"; }
CLUSTER=""
cleanup() {
	[ -z "$CLUSTER" ] || PGBIN=$SYSBIN "$TOP/scripts/pg-cluster.sh" stop "$CLUSTER"
	if [ "${TASKMILL_KEEP_PACKAGES:-0}" != 1 ]; then
		apt_get purge "${PKGS[@]}" >/dev/null 2>&1 || true
	fi
	rm -rf "$W"
}
at_exit cleanup

step "META.json (PGXN Meta Spec 1.0.0; one version in META.json, debian/changelog, Makefile)"
python3 test/packages/check_meta.py

# ---------------------------------------------------------------- build
if [ -n "${PACKAGES_FROM:-}" ]; then
	step "taking the packages from $PACKAGES_FROM (PACKAGES_FROM)"
	cp "$PACKAGES_FROM"/*.deb "$W/"
else
	step "copying the checkout to $W/src (dpkg-buildpackage writes its .debs next to the source)"
	mkdir -p "$W/src"
	if git -C "$TOP" rev-parse --git-dir >/dev/null 2>&1; then
		git -C "$TOP" ls-files -z -co --exclude-standard | tar -C "$TOP" --null -T - -cf - | tar -C "$W/src" -xf -
	else
		tar -C "$TOP" --exclude=./build --exclude='./build-*' --exclude=./bench/peers/node_modules -cf - . | tar -C "$W/src" -xf -
	fi

	step "installing the build dependencies of debian/control (apt-get build-dep)"
	(cd "$W/src" && apt_get build-dep ./ >/dev/null)

	step "dpkg-buildpackage -b -us -uc (Release client, tests skipped: nocheck)"
	# CPU seconds next to wall seconds: on a shared machine the wall time says little.
	TIMEFORMAT="dpkg-buildpackage: %0R s wall, %0U s user + %0S s sys CPU"
	time (cd "$W/src" && DEB_BUILD_OPTIONS="nocheck noddebs parallel=2" dpkg-buildpackage -b -us -uc >"$W/build.log" 2>&1) \
		|| { tail -n 80 "$W/build.log"; exit 1; }
fi
debs=()
for p in "${PKGS[@]}"; do
	f=$(ls "$W/${p}_"*.deb 2>/dev/null) || { echo "package $p was not built"; exit 1; }
	debs+=("$f")
done
printf '%s\n' "${debs[@]}"

# ---------------------------------------------------------------- install
# The packages are installed machine-wide: two runs of this suite at once (two checkouts on
# one machine) take turns from here to their purge at exit, which releases the lock.
step "waiting for other runs of this suite to finish with the system packages (flock)"
exec 9>/tmp/taskmill-packages-suite.lock
flock -w 3600 9 || { echo "another packages suite held the lock for an hour"; exit 1; }
step "apt-get install ./*.deb"
apt_get install --reinstall --allow-downgrades "${debs[@]}" >/dev/null
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Package} ${Version} ${Status}\n' "$p" | grep "install ok installed"
done

# What the packages hold: the extension's library, control file, the install script of the
# version being built and every update script of the tree, byte for byte.
EXT=/usr/share/postgresql/15/extension
files=$(dpkg -L postgresql-15-taskmill)
version=$(sed -n 's/^EXTVERSION = //p' Makefile)
for f in /usr/lib/postgresql/15/lib/taskmill.so $EXT/taskmill.control $EXT/taskmill--"$version".sql; do
	grep -qx "$f" <<<"$files" || { echo "postgresql-15-taskmill lacks $f"; exit 1; }
done
cat extension/sql/*.sql | cmp - "$EXT/taskmill--$version.sql"
cmp extension/taskmill.control "$EXT/taskmill.control"
for u in extension/taskmill--*--*.sql; do
	grep -qx "$EXT/$(basename "$u")" <<<"$files" || { echo "postgresql-15-taskmill lacks $(basename "$u")"; exit 1; }
	cmp "$u" "$EXT/$(basename "$u")"
done
grep -qx /usr/bin/taskmill <<<"$(dpkg -L taskmill)"
grep -q '/cmake/taskmill/taskmillConfig.cmake$' <<<"$(dpkg -L libtaskmill-dev)"
grep -q '/pkgconfig/taskmill.pc$' <<<"$(dpkg -L libtaskmill-dev)"
grep -qx /usr/include/taskmill/taskmill.hpp <<<"$(dpkg -L libtaskmill-dev)"
grep -q '/libtaskmill.so.0$' <<<"$(dpkg -L libtaskmill0)"
echo "package contents ok"

# ---------------------------------------------------------------- the installed files at work
step "building a program against the installed CMake package (examples/, find_package(taskmill))"
cmake -S examples -B "$W/examples" -DCMAKE_BUILD_TYPE=Release >"$W/examples.log" 2>&1 &&
	cmake --build "$W/examples" -j2 --target taskmill_example_producer >>"$W/examples.log" 2>&1 ||
	{ cat "$W/examples.log"; exit 1; }
grep -q "^taskmill_DIR:PATH=/usr/lib/.*/cmake/taskmill$" "$W/examples/CMakeCache.txt" ||
	{ echo "examples/ did not find the installed taskmill CMake package"; grep -i taskmill_DIR "$W/examples/CMakeCache.txt"; exit 1; }
grep -q '/libtaskmill.so.0' <<<"$(ldd "$W/examples/example-producer")" || { echo "example-producer does not load the installed libtaskmill.so.0"; exit 1; }

step "building a program with the installed pkg-config file"
cat >"$W/version.cpp" <<'EOF'
// The installed extension's version, through the installed client library.
#include <taskmill/taskmill.hpp>
#include <iostream>
int main() {
  taskmill::Connection conn;  // libpq environment variables
  std::cout << conn.exec("SELECT extversion FROM pg_extension WHERE extname = 'taskmill'").get(0, 0) << "\n";
}
EOF
g++ -o "$W/version" "$W/version.cpp" $(pkg-config --cflags --libs taskmill)

step "starting a cluster from the system PostgreSQL binaries ($SYSBIN)"
eval "$(PGBIN=$SYSBIN "$TOP/scripts/pg-cluster.sh" start)"
CLUSTER=$TASKMILL_PGDATA
export PGHOST PGPORT PGUSER PGDATABASE=pkgdemo
"$SYSBIN/psql" -X -q -d postgres -c "CREATE DATABASE pkgdemo"
q() { "$SYSBIN/psql" -X -At -v ON_ERROR_STOP=1 -c "$1"; }
[ "$(q "SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'")" = /usr/lib/postgresql/15/lib ]

step "taskmill migrate (CREATE EXTENSION from the installed files)"
/usr/bin/taskmill migrate
want=$(sed -n "s/^default_version = '\(.*\)'/\1/p" extension/taskmill.control)
got=$(q "SELECT extversion FROM pg_extension WHERE extname = 'taskmill'")
[ "$got" = "$want" ] || { echo "extension version $got, want $want"; exit 1; }
[ "$(q "SELECT DISTINCT probin FROM pg_proc WHERE pronamespace = 'taskmill'::regnamespace AND probin IS NOT NULL")" = '$libdir/taskmill' ]
echo "CREATE EXTENSION taskmill: version $got, \$libdir/taskmill of a server from $SYSBIN"
[ "$("$W/version")" = "$want" ] || { echo "the pkg-config program read $("$W/version")"; exit 1; }

step "example producer (built against the installed library) and the installed CLI's enqueue"
"$W/examples/example-producer" pkgdemo
/usr/bin/taskmill enqueue pkgdemo echo '{"from": "the installed CLI"}'
/usr/bin/taskmill enqueue pkgdemo fail '{"message": "dead on arrival"}' --max-attempts 1
/usr/bin/taskmill enqueue pkgdemo flaky '{"succeed_on": 2}'
total=$(q "SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'pkgdemo'")
echo "$total tasks waiting"
[ "$total" -ge 8 ]

step "taskmill worker pkgdemo --until-empty (the installed CLI's worker)"
timeout 120 /usr/bin/taskmill worker pkgdemo --concurrency 4 --poll-interval 200 --until-empty
/usr/bin/taskmill stats pkgdemo
stats=$(/usr/bin/taskmill --json stats pkgdemo)
field() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" <<<"$stats"; }
[ "$(field available)" = 0 ] && [ "$(field in_flight)" = 0 ] && [ "$(field scheduled)" = 0 ] ||
	{ echo "tasks left: $stats"; exit 1; }
# The producer's and the CLI's "fail" tasks are dead-lettered; everything else completed,
# the CLI's echo with its payload as result and its flaky task on the second attempt.
[ "$(field in_dlq)" = 2 ] || { echo "expected 2 tasks in the DLQ: $stats"; exit 1; }
[ "$(q "SELECT count(*) FROM taskmill.task_results WHERE queue_name = 'pkgdemo' AND operation_id = 'echo' AND payload->>'from' = 'the installed CLI'")" = 1 ]
[ "$(q "SELECT attempts FROM taskmill.task_results WHERE queue_name = 'pkgdemo' AND operation_id = 'flaky' ORDER BY id DESC LIMIT 1")" = 2 ]
completed=$(q "SELECT count(*) FROM taskmill.task_results WHERE queue_name = 'pkgdemo'")
echo "$total tasks: $completed completed, 2 dead-lettered"
[ "$completed" -ge 1 ]
step "packages suite passed"
