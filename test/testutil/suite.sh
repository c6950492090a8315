# Shared by test/suites/client.sh, client_tsan.sh and client_asan.sh (sourced, not run): configure and
# build test/client (the library is built inside it with the same flags), then run the
# cases with ctest, one process per case, and print a gtest-style summary.
#
#   client_cluster                      the suite's cluster and the test template database
#   client_build BUILD_DIR [cmake -D options ...]
#   client_ctest BUILD_DIR [ctest options ...]
#   client_sanitized SANITIZER BUILD_DIR [ctest options ...]
#                                       cluster, build with -fsanitize=SANITIZER, run
# Env: CLIENT_TEST_JOBS (ctest -j, default 2), CLIENT_BUILD_JOBS (default 2).

client_cluster() {
	start_cluster
	export TASKMILL_TEST_TEMPLATE=taskmill_test_template
	new_db taskmill_client_check # fail fast when CREATE EXTENSION taskmill does not work
}

client_build() {
	local dir=$1
	shift
	local t0=$SECONDS
	mkdir -p "$(dirname "$TOP/$dir")"
	cmake -S "$TOP/test/client" -B "$TOP/$dir" -DCMAKE_BUILD_TYPE= "$@" >"$TOP/$dir.configure.log" 2>&1 \
		|| { cat "$TOP/$dir.configure.log"; return 1; }
	cmake --build "$TOP/$dir" -j "${CLIENT_BUILD_JOBS:-2}" >"$TOP/$dir.build.log" 2>&1 \
		|| { grep -E 'error|Error' -A5 "$TOP/$dir.build.log" | head -100; return 1; }
	echo "built $dir in $((SECONDS - t0))s"
}

client_ctest() {
	local dir=$1
	shift
	local t0=$SECONDS log
	log=$(mktemp)
	local rc=0
	ctest --test-dir "$TOP/$dir" -j "${CLIENT_TEST_JOBS:-2}" --output-on-failure --timeout 240 "$@" >"$log" 2>&1 || rc=$?
	# Per-case lines of failures and the closing block; passes are summarised.
	grep -vE '^ *(Start +[0-9]+:|[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed)' "$log" | sed '/^$/N;/^\n$/D'
	local summary total failed
	summary=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
	total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$summary")
	failed=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$summary")
	rm -f "$log"
	echo "ran ${total:-0} cases in $((SECONDS - t0))s"
	if [ -z "$summary" ] || [ "${total:-0}" -eq 0 ]; then
		echo "[  FAILED  ] no test ran"
		return 1
	fi
	if [ "$rc" -ne 0 ] || [ "$failed" -ne 0 ]; then
		echo "[  FAILED  ] $failed of $total tests"
		return 1
	fi
	echo "[  PASSED  ] $total tests."
}

# The sanitizer suites leave the CLI and examples out: they add build time, not cases.
client_sanitized() {
	local sanitizer=$1 dir=$2
	shift 2
	client_cluster
	client_build "$dir" -DTASKMILL_SANITIZE="$sanitizer" -DTASKMILL_TEST_EXTRAS=OFF
	client_ctest "$dir" "$@"
}

# Every case of the seed catalogue's sections 1-9 must have a GoogleTest of its name
# (TestWorker_ProcessTask_Success -> TEST(Worker, ProcessTask_Success)). The cases are read
# from docs/seed-coverage.md, the project's copy of the catalogue's case list.
client_check_seed_names() {
	local cases="$TOP/docs/seed-coverage.md" c suite name missing=0 n=0
	for c in $(sed '/^## 10\./q' "$cases" | grep -oE '^\| `Test[A-Za-z0-9_]+`' | tr -d '|` '); do
		n=$((n + 1))
		suite=${c#Test}
		suite=${suite%%_*}
		name=${c#Test"$suite"_}
		if ! grep -q "^TEST($suite, $name)" "$TOP"/test/client/*_test.cpp; then
			echo "seed case $c has no TEST($suite, $name)"
			missing=$((missing + 1))
		fi
	done
	[ "$n" -gt 0 ] || { echo "no seed cases found in $cases"; return 1; }
	[ "$missing" -eq 0 ] && echo "every one of the $n seed cases of sections 1-9 has a GoogleTest of its name"
	[ "$missing" -eq 0 ]
}
