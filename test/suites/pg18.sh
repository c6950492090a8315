#!/usr/bin/env bash
# PostgreSQL 18: the extension built against PostgreSQL 18 and the server-side suites run on
# a PostgreSQL 18 server, in a root of Debian's unstable suite (sid), the one that carries
# PostgreSQL 18 (test/suites/lib_chroot.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_chroot.sh"
chroot_pg_suites 18 sid
