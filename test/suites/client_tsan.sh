#!/usr/bin/env bash
# ThreadSanitizer run of the client tests that exercise threads: Race.*, Concurrency.*,
# FIFO.* and Worker.* (library and tests built with -fsanitize=thread into build/test-tsan).
# Any report fails the case (halt_on_error).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../testutil/suite.sh"
cd "$TOP"
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 history_size=4"
client_sanitized thread build/test-tsan -R '^(Race|Concurrency|FIFO|Worker)\.'
