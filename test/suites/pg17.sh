#!/usr/bin/env bash
# PostgreSQL 17: the extension built against PostgreSQL 17 and the server-side suites run on
# a PostgreSQL 17 server, in a Debian 13 (trixie) root (test/suites/lib_chroot.sh).
# PostgreSQL 16 is in no Debian release and is not run here.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_chroot.sh"
chroot_pg_suites 17 trixie
