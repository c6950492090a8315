#!/usr/bin/env bash
# Install every Debian package taskmill's build, tests, demo and benchmarks need.
# Idempotent: apt-get runs only when something is missing. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
	build-essential pkg-config cmake clang
	postgresql-15 postgresql-contrib postgresql-server-dev-15 libpq-dev
	postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
	libgtest-dev nlohmann-json3-dev
	libclang-rt-14-dev gnuplot-nox
	# bench/peers: PgQ must be installed before scripts/pg-root.sh copies the installation
	postgresql-15-pgq3
	# bench/instructions.sh, bench/ab.sh
	valgrind time
	# test/suites/pg17.sh, pg18.sh: Debian roots with PostgreSQL 17 and 18
	debootstrap
	# the CLI (client/cli, client/dashboard)
	libcli11-dev libcpp-httplib-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
echo "provision: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
# Debian's postgresql package creates and starts a default cluster; taskmill never uses it.
if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q '^15 *main'; then
	$SUDO pg_ctlcluster 15 main stop 2>/dev/null || true
fi
