#!/usr/bin/env bash
# GoogleTest client tests (test/client: every case of the seed catalogue's sections 1-9)
# against a throwaway cluster. Builds test/client (library, CLI and examples included, so
# documented examples keep compiling) into build/test-client and runs every case with ctest.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../testutil/suite.sh"
cd "$TOP"
client_cluster
client_check_seed_names
client_build build/test-client
client_ctest build/test-client
