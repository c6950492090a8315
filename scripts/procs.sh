# Find and end the processes a test run started (sourced by test/suites/lib.sh and
# scripts/test.sh; not run). Reads /proc only: the Debian roots of pg17.sh and pg18.sh have no
# procps. Zombies count as gone (whoever reaps orphans here may be slow to). The finders put
# their answer into the array named by their last argument: run in a subshell ($(...), a
# pipe), a finder would see that subshell, which carries the same environment.
#
#   pid_marked PID VAR=VALUE          whether PID is alive and its environment holds VAR=VALUE
#   marked_pids VAR=VALUE ARRAY       processes whose environment holds VAR=VALUE (not this shell)
#   exe_under_pids DIR ARRAY          processes whose executable lies under DIR
#   tree_pids ARRAY PID...            the PIDs and their descendants (children, their children ...)
#   end_pids PID...                   SIGTERM, up to 5 s to exit, then SIGKILL for what is left
#   proc_line PID                     "PID USER COMMAND LINE", for a listing

proc_alive() {
	local stat
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

pid_marked() {
	local env IFS=$'\n'
	{ mapfile -d '' -t env <"/proc/$1/environ"; } 2>/dev/null || return 1
	[[ $'\n'"${env[*]}"$'\n' == *$'\n'"$2"$'\n'* ]] && proc_alive "$1"
}

marked_pids() {
	local -n _out=$2
	local d p
	_out=()
	for d in /proc/[0-9]*; do
		p=${d#/proc/}
		[ "$p" = "$$" ] || [ "$p" = "$BASHPID" ] && continue
		pid_marked "$p" "$1" && _out+=("$p")
	done
	return 0
}

exe_under_pids() {
	local -n _out=$2
	local dir=${1%/}/ d exe
	_out=()
	for d in /proc/[0-9]*; do
		exe=$(readlink "$d/exe" 2>/dev/null) || continue
		[ "${exe#"$dir"}" != "$exe" ] && proc_alive "${d#/proc/}" && _out+=("${d#/proc/}")
	done
	return 0
}

tree_pids() {
	local -n _out=$1
	shift
	local -A kids=()
	local d stat p ppid todo=("$@")
	for d in /proc/[0-9]*; do
		{ read -r stat <"$d/stat"; } 2>/dev/null || continue
		stat=${stat##*) }
		read -r _ ppid _ <<<"$stat"
		kids[$ppid]+=" ${d#/proc/}"
	done
	_out=()
	while [ ${#todo[@]} -gt 0 ]; do
		p=${todo[0]}
		todo=("${todo[@]:1}")
		_out+=("$p")
		# shellcheck disable=SC2206
		[ -n "${kids[$p]:-}" ] && todo+=(${kids[$p]})
	done
	return 0
}

# The parent pid of PID ("" when it is gone).
ppid_of() {
	local stat
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 0
	stat=${stat##*) }
	read -r _ stat _ <<<"$stat"
	echo "$stat"
}

end_pids() {
	[ $# -gt 0 ] || return 0
	local p i left
	kill -TERM "$@" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		left=()
		for p in "$@"; do proc_alive "$p" && left+=("$p"); done
		[ ${#left[@]} -eq 0 ] && return 0
		sleep 0.1
	done
	kill -KILL "${left[@]}" 2>/dev/null || true
}

proc_line() {
	local cmd uid user
	{ mapfile -d '' -t cmd <"/proc/$1/cmdline"; } 2>/dev/null || return 0
	uid=$(awk '/^Uid:/ {print $2}' "/proc/$1/status" 2>/dev/null) || uid="?"
	user=$(getent passwd "$uid" | cut -d: -f1) || true
	echo "$1 ${user:-$uid} ${cmd[*]}"
}
