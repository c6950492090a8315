#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer run of the whole client suite (library and
# tests built with -fsanitize=address,undefined into build/test-asan), leaks detected.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../testutil/suite.sh"
cd "$TOP"
export ASAN_OPTIONS="detect_leaks=1 abort_on_error=0 halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1"
client_sanitized address build/test-asan
