#!/usr/bin/env bash
# The chaos suite, short versions (test/chaos/run.sh): the checker's own test on doctored
# histories, then every fault scenario (worker SIGKILL, SIGSTOP past the visibility timeout,
# server crashes, ENOSPC on a tmpfs, competing schedulers, FIFO groups under kills, a held
# snapshot) on throwaway clusters of its own, each history checked offline. Prints every
# invariant with its figures. The long versions: test/chaos/run.sh --long.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$TOP"
if ! command -v python3 >/dev/null; then
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO=sudo
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-minimal >/dev/null
fi
test/chaos/run.sh
echo "# All chaos tests passed"
