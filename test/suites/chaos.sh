#!/usr/bin/env bash
# The chaos suite, short versions (test/chaos/run.sh): the checker's own test on doctored
# histories, then every fault scenario (worker SIGKILL, SIGSTOP past the visibility timeout,
# server crashes, ENOSPC on a tmpfs, competing schedulers, FIFO groups under kills, a held
# snapshot) on throwaway clusters of its own, each history checked offline. Prints every
# invariant with its figures. Then test/chaos/reconnect_test (GoogleTest) on a cluster of
# its own. The long versions: test/chaos/run.sh --long.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$TOP"
if ! command -v python3 >/dev/null; then
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO=sudo
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-minimal >/dev/null
fi
test/chaos/run.sh
# The deterministic test beside the crash scenario (built by run.sh): the library's Worker is
# back within about a second of the server becoming reachable again after an 8 s outage.
start_cluster
new_db chaos_reconnect
CHAOS_TEST_DB=chaos_reconnect build/chaos/reconnect_test
# Stop the throwaway server at once: on a loaded machine a fast stop can outlast pg_ctl's
# wait, and the cluster's directory would then be removed under a running server.
as_pg=(runuser -u postgres --)
[ "$(id -u)" = 0 ] || as_pg=()
"${as_pg[@]}" "${PGBIN:-$(pg_config --bindir)}/pg_ctl" -D "$TASKMILL_PGDATA/data" -m immediate -w -t 120 stop >/dev/null || true
echo "# All chaos tests passed"
