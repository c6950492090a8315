#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL 15 cluster owned by the `postgres` OS user (the server
# refuses to run as root), listening on 127.0.0.1 and a free port, with trust auth.
#
#   eval "$(scripts/pg-cluster.sh start [DIR] [-c name=value ...])"   # exports PGHOST PGPORT PGUSER TASKMILL_PGDATA
#   scripts/pg-cluster.sh stop DIR
#
# DIR defaults to a new temp directory. Extra -c settings go to postgresql.conf (e.g.
# -c shared_preload_libraries=taskmill). The data directory is removed on stop.
set -euo pipefail

PGBIN=${PGBIN:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}

as_postgres() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
	local p
	for p in $(shuf -i 20000-60000 -n 200); do
		if ! (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	echo "no free port found" >&2
	return 1
}

cmd=${1:-}
shift || true
case "$cmd" in
start)
	dir=""
	if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then dir=$1; shift; fi
	[ -n "$dir" ] || dir=$(mktemp -d /tmp/taskmill-pg.XXXXXX)
	mkdir -p "$dir"
	chown postgres: "$dir" 2>/dev/null || true
	chmod 700 "$dir"
	as_postgres "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
		|| { cat "$dir/initdb.log" >&2; exit 1; }
	conf="$dir/data/postgresql.conf"
	{
		echo "listen_addresses = '127.0.0.1'"
		echo "unix_socket_directories = '$dir'"
		echo "max_connections = 300"
		echo "shared_buffers = 256MB"
		echo "fsync = on"
		echo "log_min_messages = warning"
		echo "log_line_prefix = '%m [%p] %d '"
	} >>"$conf"
	while [ $# -gt 0 ]; do
		case "$1" in
		-c) echo "${2%%=*} = '${2#*=}'" >>"$conf"; shift 2 ;;
		*) echo "unknown option $1" >&2; exit 2 ;;
		esac
	done
	for attempt in 1 2 3 4 5; do
		port=$(free_port)
		sed -i '/^port = /d' "$conf"
		echo "port = $port" >>"$conf"
		if as_postgres "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null 2>&1; then
			break
		fi
		[ "$attempt" = 5 ] && { cat "$dir/server.log" >&2; exit 1; }
	done
	echo "export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres TASKMILL_PGDATA=$dir"
	;;
stop)
	dir=${1:?usage: pg-cluster.sh stop DIR}
	if [ -d "$dir/data" ]; then
		as_postgres "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
	;;
*)
	echo "usage: $0 start [DIR] [-c name=value ...] | stop DIR" >&2
	exit 2
	;;
esac
