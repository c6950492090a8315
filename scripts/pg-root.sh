# Sourced: a private, relocatable copy of the machine's PostgreSQL 15 installation (binaries,
# libraries, share/ with the extensions installed by Debian packages such as pgTAP), into
# which a checkout installs its own build with `make install DESTDIR="$PGROOT"`. PostgreSQL
# finds share/ and lib/ relative to its binaries, so servers started from $PGBIN load this
# checkout's extension and nothing else's.
#
#   pg_root_create DIR    (re)create the copy; exports PGROOT and PGBIN (read by scripts/pg-cluster.sh)

pg_root_create() {
	local root=$1 bindir libdir sharedir
	bindir=$(pg_config --bindir) || return 1
	libdir=$(pg_config --pkglibdir) || return 1
	sharedir=$(pg_config --sharedir) || return 1
	rm -rf "$root"
	mkdir -p "$root$(dirname "$bindir")" "$root$(dirname "$sharedir")" "$root$(dirname "$libdir")"
	cp -a "$bindir" "$root$bindir"
	[ -d "$root$libdir" ] || cp -a "$libdir" "$root$libdir"
	cp -a "$sharedir" "$root$sharedir"
	chmod -R a+rX "$root"
	# The postgres OS user runs the servers: every directory above the copy must be searchable.
	local d=$root
	while [ "$d" != / ]; do chmod a+x "$d" 2>/dev/null || true; d=$(dirname "$d"); done
	export PGROOT=$root PGBIN=$root$bindir
}
