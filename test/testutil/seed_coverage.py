#!/usr/bin/env python3
"""Regenerates docs/seed-coverage.md: each case of the seed catalogue (sections 1-10) mapped to
its GoogleTest case (test/client), its pgTAP coverage (test/pgtap, by the case name in a test
description) and, for section 10, the benchmark workload (bench/).

The list of cases and sections is read from docs/seed-coverage.md itself (the project's copy of
the catalogue's case list), or from a catalogue file in the seed format with --from.

    python3 test/testutil/seed_coverage.py                 # rewrite docs/seed-coverage.md
    python3 test/testutil/seed_coverage.py --check         # exit 1 when it is out of date
    python3 test/testutil/seed_coverage.py --from FILE     # take the cases from a catalogue file
"""
import argparse
import glob
import os
import re
import sys

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOC = os.path.join(TOP, "docs", "seed-coverage.md")

BENCH = {
    "TestPerf_EnqueueThroughput": "`enqueue_single` (client and libpq)",
    "TestPerf_EnqueueBatch_vs_Single": "`enqueue_batch` against `enqueue_single`",
    "TestPerf_DequeueThroughput": "`dequeue`",
    "TestPerf_ProcessThroughput": "`process` (no-op handlers through the Worker)",
    "TestPerf_ConcurrentWorkers": "`process`: scaling curve over handler threads (concurrency 1, 2, 4, 8) and 1 vs 2 Workers",
    "TestPerf_LargeQueue": "`depth` (dequeue time as the queue grows)",
    "TestPerf_IndexUsage": "`explain`; also pg_regress `test/regress/sql/queue_explain.sql` (plans pinned, no seq scan)",
    "TestPerf_FIFO_LockContention": "`fifo` (lock-wait fraction sampled)",
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="source", default=DOC, help="case list: a catalogue file or this doc")
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 when the doc differs")
    args = ap.parse_args()
    # Both the catalogue and the doc list the cases as table rows "| `TestX` | ..." under
    # "## N. Title" headings, so one parser reads either.
    sections = []  # (title, [(case, description)])
    for line in open(args.source, encoding="utf-8"):
        m = re.match(r"^## (\d+)\. (.*)", line)
        if m:
            sections.append((f"{m.group(1)}. {m.group(2).strip()}", []))
            continue
        m = re.match(r"^\| `(Test[A-Za-z0-9_]+)` \| ([^|]*)\|", line)
        if m and sections:
            sections[-1][1].append((m.group(1), m.group(2).strip()))

    gtests = {}
    for path in sorted(glob.glob(os.path.join(TOP, "test", "client", "*_test.cpp"))):
        for m in re.finditer(r"^TEST\((\w+), (\w+)\)", open(path, encoding="utf-8").read(), re.M):
            gtests[(m.group(1), m.group(2))] = os.path.basename(path)
    pgtap = {}
    for path in sorted(glob.glob(os.path.join(TOP, "test", "pgtap", "*.sql"))):
        text = open(path, encoding="utf-8").read()
        for name in set(re.findall(r"Test[A-Za-z0-9]+_[A-Za-z0-9_]+", text)):
            pgtap.setdefault(name, []).append(os.path.basename(path))

    out = []
    w = out.append
    w("# Seed catalogue coverage")
    w("")
    w("Every case of the seed catalogue (the project's integration test plan; this file is the")
    w("project's copy of its case list) and where it is tested. Sections 1-9: a GoogleTest case")
    w("of the same name in `test/client/` (catalogue `TestWorker_ProcessTask_Success` is")
    w("`Worker.ProcessTask_Success`: suite = the part between `Test` and the first underscore),")
    w("run against a real PostgreSQL by `test/suites/client.sh`; `Race.*`, `Concurrency.*`,")
    w("`FIFO.*` and `Worker.*` also under ThreadSanitizer (`client_tsan.sh`), and everything")
    w("under AddressSanitizer + UBSan (`client_asan.sh`); `test/suites/client.sh` checks that")
    w("every case of sections 1-9 listed here has its GoogleTest. The pgTAP column lists the")
    w("`test/pgtap/` files whose test descriptions name the case (SQL-level coverage of the same")
    w("behaviour). Section 10 is measured, not asserted: `bench/run.sh`")
    w("workloads (timed assertions do not belong in tests).")
    w("")
    w("Regenerate with `python3 test/testutil/seed_coverage.py` (reads the case list from this")
    w("file, rewrites it; `--check` only compares).")
    w("")
    missing = []
    for title, cases in sections:
        w(f"## {title}")
        w("")
        if title.startswith("10."):
            w("| Catalogue case | Benchmark workload (`bench/run.sh`) | pgTAP |")
            w("|---|---|---|")
            for case, _ in cases:
                w(f"| `{case}` | {BENCH.get(case, '**not covered**')} | {', '.join(pgtap.get(case, [])) or '-'} |")
            w("")
            continue
        w("| Catalogue case | GoogleTest (test/client) | pgTAP (test/pgtap) |")
        w("|---|---|---|")
        for case, _ in cases:
            suite, _, name = case[len("Test"):].partition("_")
            f = gtests.get((suite, name))
            disabled = gtests.get((suite, "DISABLED_" + name))
            if f:
                g = f"`{suite}.{name}` ({f})"
            elif disabled:
                g = f"`{suite}.DISABLED_{name}` ({disabled}) **disabled**"
                missing.append(case)
            else:
                g = "**not covered**"
                missing.append(case)
            w(f"| `{case}` | {g} | {', '.join(pgtap.get(case, [])) or '-'} |")
        w("")
    w("## Not covered")
    w("")
    if missing:
        for case in missing:
            w(f"- `{case}`")
    else:
        w("Every case of sections 1-9 has an enabled GoogleTest of its own name; every case of")
        w("section 10 has a benchmark workload.")
    w("")
    w("## How the cases are scaled")
    w("")
    w("Durations are shortened through options where the case allows; assertions never are:")
    w("")
    w("- Waits are wait-for-condition polls of the database (`test/testutil/wait.hpp`, 30 s")
    w("  timeouts), never fixed sleeps; a bounded sleep remains only where the case is about time")
    w("  passing with nothing to wait for (`Scheduler.SkipNotDueSchedule`, `Edge.NoSchedules_Start`,")
    w("  `Race.MultipleSchedulers`' extra checks, `Worker.PollInterval`'s 3 s sampling window).")
    w("- Retries: backoff is asserted from the database clock (`Worker.Retry_ExponentialBackoff`:")
    w("  failure time + 1 s/2 s/4 s <= visible_at <= observation time + 1 s/2 s/4 s), then time")
    w("  travelled by setting `visible_at = now()` instead of waiting it out; likewise for")
    w("  `next_run_at` (scheduler) and `completed_at` (results filters).")
    w("- `Worker.ProcessTask_Timeout` keeps the catalogue's 5 s handler and 1 s timeout;")
    w("  `Worker.ProcessTimeout` uses 100 ms; `Worker.Stop_Timeout` asserts the 10 s default of")
    w("  `WorkerOptions::stop_timeout` and then stops with 500 ms; `Worker.VisibilityTimeout`")
    w("  uses 2 s, the lost delivery 1 s; `Lifecycle.ScheduledTask_FutureExecution` 2 s instead")
    w("  of 5 s; `Race.VisibilityTimeout_Reprocess` a 5 s handler with a 2 s visibility timeout.")
    w("- Parallelism is asserted as the maximum number of handlers observed running at once")
    w("  (`Worker.Concurrency` = 5, `Concurrency.WorkerInternalConcurrency` = 10, one per FIFO")
    w("  group), not as wall time; `Worker.BatchSize` groups in-flight tasks by the visible_at")
    w("  each dequeue call stamps; `Worker.PollInterval` counts the worker's dequeue calls seen in")
    w("  `pg_stat_activity` with LISTEN off (2..15 in 3 s at 500 ms).")
    w("- Expired cases: `Edge.ExpiresAt_Past` and `DLQ.Expired` enqueue with only expires_at in")
    w("  the past, as the catalogue does; `Lifecycle.ExpiredTask` also sets an explicit past")
    w("  scheduled_at (an explicit scheduled_at after expires_at is a validation error).")
    w("- Each test runs in a database of its own (copied from a template with taskmill")
    w("  installed), so \"clean DB\" cases (`Console.ListQueues_Empty`, schedules listing all")
    w("  queues) hold while cases run in parallel.")
    if not any(cases for _, cases in sections):
        print(f"no cases found in {args.source}", file=sys.stderr)
        return 1
    text = "\n".join(out) + "\n"
    old = open(DOC, encoding="utf-8").read() if os.path.exists(DOC) else ""
    if args.check:
        if old != text:
            print("docs/seed-coverage.md is out of date: python3 test/testutil/seed_coverage.py", file=sys.stderr)
            return 1
        return 0
    if old != text:
        with open(DOC, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
