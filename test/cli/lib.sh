# Shared by test/suites/cli.sh, dashboard.sh and prometheus.sh (sourced after lib.sh):
#
#   cli_build                 build the client and the `taskmill` CLI once into build/cli-suites
#                             (under a lock: suites running at once share one build); sets $TASKMILL
#   free_port                 print a free TCP port on 127.0.0.1
#   wait_for CMD... [-t SEC]  run CMD until it succeeds (default 30 s), else fail
#   apt_need PKG...           apt-get install the packages that are missing

cli_build() {
	local dir="$TOP/build/cli-suites" t0=$SECONDS
	mkdir -p "$dir"
	(
		flock 9
		if [ ! -f "$dir/CMakeCache.txt" ]; then
			cmake -S "$TOP/client" -B "$dir" -DTASKMILL_BUILD_EXAMPLES=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
				>"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; exit 1; }
		fi
		cmake --build "$dir" -j "${CLIENT_BUILD_JOBS:-2}" --target taskmill_cli >"$dir.build.log" 2>&1 \
			|| { grep -E 'error|Error' -A5 "$dir.build.log" | head -80; exit 1; }
	) 9>"$dir.lock" || return 1
	TASKMILL="$dir/taskmill"
	export TASKMILL
	echo "built the CLI in $((SECONDS - t0))s"
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() {
	local timeout=30 args=()
	while [ $# -gt 0 ]; do
		if [ "$1" = -t ]; then timeout=$2; shift 2; else args+=("$1"); shift; fi
	done
	local end=$((SECONDS + timeout))
	until "${args[@]}" >/dev/null 2>&1; do
		if [ $SECONDS -ge $end ]; then
			echo "timed out after ${timeout}s waiting for: ${args[*]}"
			return 1
		fi
		sleep 0.2
	done
}

apt_need() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
