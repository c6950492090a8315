#!/usr/bin/env bash
# Build the full install script of a released version from its commit, with that commit's
# own Makefile recipe (git archive of the commit into a temp directory, then make), so the
# script is exactly what the release shipped and no copy of it is kept by hand.
#
#   test/upgrade/release-script.sh VERSION COMMIT OUTFILE
#
# Fails, saying why, when the checkout is not a git clone or the commit is not in it (a
# shallow clone: `git fetch --unshallow`), or when the commit's control file does not name
# VERSION as its default_version (RELEASES then records the wrong commit).
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 VERSION COMMIT OUTFILE" >&2; exit 2; }
version=$1 commit=$2 out=$3
TOP=$(cd "$(dirname "$0")/../.." && pwd)

if ! git -C "$TOP" rev-parse --git-dir >/dev/null 2>&1; then
	echo "release $version: $TOP is not a git clone; the upgrade suite builds each released" \
		"version from its commit (RELEASES) and needs the repository's history" >&2
	exit 1
fi
if ! git -C "$TOP" cat-file -e "$commit^{commit}" 2>/dev/null; then
	echo "release $version: commit $commit (RELEASES) is not in this clone;" \
		"a shallow clone needs 'git fetch --unshallow' (or 'git fetch origin tag v$version')" >&2
	exit 1
fi
control_version=$(git -C "$TOP" show "$commit:extension/taskmill.control" 2>/dev/null |
	sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p")
if [ "$control_version" != "$version" ]; then
	echo "release $version: commit $commit has default_version '${control_version:-?}' in" \
		"extension/taskmill.control, not '$version'; RELEASES names the wrong commit" >&2
	exit 1
fi

tree=$(mktemp -d /tmp/taskmill-release.XXXXXX)
trap 'rm -rf "$tree"' EXIT
git -C "$TOP" archive "$commit" | tar -x -C "$tree"
if ! make -s -C "$tree" EXTVERSION="$version" "extension/taskmill--$version.sql" >"$tree/make.log" 2>&1; then
	echo "release $version: building extension/taskmill--$version.sql at $commit failed:" >&2
	cat "$tree/make.log" >&2
	exit 1
fi
cp "$tree/extension/taskmill--$version.sql" "$out"
