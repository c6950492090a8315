# Sourced by bench/compare.sh, bench/instructions.sh and bench/ab.sh: an earlier commit (REF,
# from git archive) and this checkout, each built and installed into its own copy of
# PostgreSQL (scripts/pg-root.sh), so that both can run side by side on this machine.
# Sourcing it sets TOP (the checkout, also the working directory), REF (default: the latest
# release) and OUT (bench/results), which the scripts' options may change.
#
#   parse_options NAME... -- "$@"
#                             each --NAME VALUE sets the variable NAME upper-cased (--ref v0.1:
#                             REF=v0.1); -h/--help prints the script's opening comment
#   build_ref_and_head REV    sets REF_SHA, REF_SRC, REF_PGBIN, HEAD_SHA, HEAD_PGBIN, DIRTY
#   alternate ROUND FN ARGS...
#                             FN ref ROUND ARGS... and FN head ROUND ARGS..., ref first in odd
#                             rounds and head first in even ones (neither side always goes first)

# The latest release named in RELEASES (a clone may carry no tags).
latest_release() {
	awk '!/^#/ && NF >= 2 { c = $2 } END { print c }' "$TOP/RELEASES"
}

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$TOP"
REF=$(latest_release)
OUT="$TOP/bench/results"

# Both scripts' options all take a value, so one table of names is their whole parser.
parse_options() {
	local names=" "
	while [ "$1" != -- ]; do names+="$1 "; shift; done
	shift
	while [ $# -gt 0 ]; do
		case "$1" in
		-h|--help) sed -n '2,/^[^#]/s/^#//p' "$0"; exit 0 ;;
		--*) if [[ "$names" == *" ${1#--} "* ]] && [ $# -ge 2 ]; then
				printf -v "$(tr a-z A-Z <<<"${1#--}")" '%s' "$2"
				shift 2
				continue
			fi ;;
		esac
		echo "unknown option $1" >&2
		exit 2
	done
}

build_ref_and_head() {
	REF_SHA=$(git -C "$TOP" rev-parse --verify "$1^{commit}")
	HEAD_SHA=$(git -C "$TOP" rev-parse HEAD)
	DIRTY=$(git -C "$TOP" status --porcelain --untracked-files=no | head -c 1)
	"$TOP/scripts/provision.sh"
	. "$TOP/scripts/pg-root.sh"
	REF_SRC=$TOP/build/compare-ref
	echo "[builds] REF $1 ($REF_SHA): sources from git archive into $REF_SRC" >&2
	rm -rf "$REF_SRC"
	mkdir -p "$REF_SRC"
	git -C "$TOP" archive "$REF_SHA" | tar -x -C "$REF_SRC"
	pg_root_create "$TOP/build/pgroot-compare-ref"
	REF_PGBIN=$PGBIN
	make -s -C "$REF_SRC" -j2 >/dev/null && make -s -C "$REF_SRC" install DESTDIR="$PGROOT" >/dev/null
	pg_root_create "$TOP/build/pgroot-bench"
	HEAD_PGBIN=$PGBIN
	echo "[builds] this checkout ($HEAD_SHA${DIRTY:+, with uncommitted changes})" >&2
	make -s -C "$TOP" -j2 >/dev/null && make -s -C "$TOP" install DESTDIR="$PGROOT" >/dev/null
}

alternate() {
	local round=$1 fn=$2
	shift 2
	if [ $((round % 2)) = 1 ]; then "$fn" ref "$round" "$@"; "$fn" head "$round" "$@"
	else "$fn" head "$round" "$@"; "$fn" ref "$round" "$@"; fi
}
