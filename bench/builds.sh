# Sourced by bench/compare.sh and bench/instructions.sh: an earlier commit (REF, from git
# archive) and this checkout, each built and installed into its own copy of PostgreSQL
# (scripts/pg-root.sh), so that both can run side by side on this machine.
#
#   build_ref_and_head REV    sets REF_SHA, REF_SRC, REF_PGBIN, HEAD_SHA, HEAD_PGBIN, DIRTY

# The latest release named in RELEASES (a clone may carry no tags).
latest_release() {
	awk '!/^#/ && NF >= 2 { c = $2 } END { print c }' "$TOP/RELEASES"
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
