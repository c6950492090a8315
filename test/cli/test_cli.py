#!/usr/bin/env python3
"""Tests of the `taskmill` command line against a real server: exit codes (0 ok, 1 the
server's or the connection's error, 2 usage), the --json shapes, errors on bad input, batch
enqueue from JSON lines, the worker's structured events, and where passwords may come from.

Run by test/suites/cli.sh with PG* set to a database with taskmill installed, $TASKMILL the
binary and $PWUSER a role that must authenticate with a password ($PWUSER_PASSWORD). Each case
prints "ok N - name" (TAP-like); the first failure stops the run."""
import json
import os
import subprocess
import sys
import tempfile

TM = os.environ["TASKMILL"]
n = 0


def run(*args, stdin=None, env=None, json_out=False):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([TM, *args], input=stdin, capture_output=True, text=True, env=e, timeout=120)
    return p


def case(name):
    def deco(f):
        global n
        try:
            f()
        except AssertionError as ex:
            print(f"not ok {n + 1} - {name}: {ex}", flush=True)
            sys.exit(1)
        n += 1
        print(f"ok {n} - {name}", flush=True)
        return f
    return deco


def expect(p, rc, what=""):
    assert p.returncode == rc, f"{what} exit {p.returncode}, want {rc}; stdout={p.stdout[:400]!r} stderr={p.stderr[:400]!r}"
    return p


def stats(queue):
    return json.loads(expect(run("--json", "stats", queue), 0).stdout)


@case("help exits 0 and lists the commands")
def _():
    p = expect(run("--help"), 0)
    for c in ["queues", "stats", "enqueue", "dlq", "schedules", "results", "worker", "dashboard", "migrate"]:
        assert c in p.stdout, c
    assert "PGPASSWORD" not in p.stdout, "help points at PGPASSWORD"


@case("usage errors exit 2: no command, unknown command, unknown option, missing argument")
def _():
    expect(run(), 2)
    expect(run("frobnicate"), 2)
    expect(run("queues", "--frobnicate"), 2)
    expect(run("stats"), 2)
    expect(run("dlq"), 2)
    expect(run("dlq", "requeue"), 2)


@case("migrate --json")
def _():
    assert json.loads(expect(run("--json", "migrate"), 0).stdout) == {"migrated": True}


@case("enqueue prints the id; --json gives {id, queue_name}; options before or after")
def _():
    p = expect(run("enqueue", "cli_q", "echo", '{"a": 1}', "--priority", "5"), 0)
    assert p.stdout.strip().isdigit(), p.stdout
    j = json.loads(expect(run("enqueue", "cli_q", "echo", "--json", "--key", "k-1", "--group", "g-1"), 0).stdout)
    assert set(j) == {"id", "queue_name"} and j["queue_name"] == "cli_q" and isinstance(j["id"], int), j
    j2 = json.loads(expect(run("--json", "enqueue", "--max-attempts", "1", "cli_q", "fail"), 0).stdout)
    assert j2["id"] > j["id"]


@case("bad input exits 2 with a JSON error under --json: bad payload, bad number, bad duration")
def _():
    p = expect(run("--json", "enqueue", "cli_q", "echo", "{bad"), 2)
    err = json.loads(p.stderr.strip().splitlines()[0])
    assert err["code"] == "Usage" and "not valid JSON" in err["error"], err
    expect(run("enqueue", "cli_q", "echo", "--priority", "high"), 2)
    expect(run("enqueue", "cli_q", "echo", "--delay", "5 fortnights"), 2)
    expect(run("dlq", "requeue", "abc"), 2)
    expect(run("results", "list", "--after", "yesterday"), 2)
    expect(run("results", "cleanup", "--before", "2026-01-01T00:00:00Z", "--older-than", "1d"), 2)
    expect(run("dlq", "list", "cli_q", "--limit", "0"), 2)
    expect(run("worker", "cli_q", "--concurrency", "0"), 2)
    expect(run("worker", "cli_q", "--metrics-listen", "nowhere"), 2)
    expect(run("dashboard", "--listen", "127.0.0.1:99999"), 2)
    expect(run("dashboard", "--token-file", "/nonexistent/token"), 2)


@case("server errors exit 1 with code and sqlstate: duplicate key, priority out of range, unknown task")
def _():
    p = expect(run("--json", "enqueue", "cli_q", "echo", "--key", "k-1"), 1)
    err = json.loads(p.stderr)
    assert err["code"] == "DuplicateTask" and err["sqlstate"] == "23505", err
    p = expect(run("--json", "enqueue", "cli_q", "echo", "--priority", "500"), 1)
    assert json.loads(p.stderr)["sqlstate"] == "22023", p.stderr
    p = expect(run("dlq", "requeue", "987654321"), 1)
    assert p.stderr.startswith("taskmill: "), p.stderr


@case("queues and stats --json shapes")
def _():
    q = json.loads(expect(run("--json", "queues"), 0).stdout)
    assert isinstance(q, list) and "cli_q" in q, q
    s = stats("cli_q")
    assert set(s) >= {"available", "in_flight", "scheduled", "retrying", "in_dlq", "total", "queue_name"}, s
    assert s["available"] == 3 and s["total"] == 3, s


@case("enqueue --file - takes a batch of JSON lines (options as defaults, blank lines skipped)")
def _():
    lines = "\n".join([
        json.dumps({"operation": "echo", "payload": {"i": 1}}),
        "",
        json.dumps({"payload": {"i": 2}, "priority": 7, "key": "batch-2", "group": "bg"}),
        json.dumps({"operation": "sleep", "payload": {"ms": 1}, "delay": 3600}),
    ]) + "\n"
    p = expect(run("--json", "enqueue", "cli_batch", "echo", "--file", "-", "--max-attempts", "2", stdin=lines), 0)
    j = json.loads(p.stdout)
    assert len(j["ids"]) == 3 and j["queue_name"] == "cli_batch", j
    s = stats("cli_batch")
    assert s["available"] == 2 and s["scheduled"] == 1, s


@case("enqueue --file FILE; a bad line exits 2 naming the line and enqueues nothing")
def _():
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.write('{"operation": "echo"}\n{"operation": "echo"}\n')
    p = expect(run("enqueue", "cli_file", "--file", f.name), 0)
    assert len(p.stdout.split()) == 2
    before = stats("cli_file")["total"]
    p = expect(run("enqueue", "cli_file", "--file", "-", stdin='{"operation": "echo"}\n{oops\n'), 2)
    assert "line 2" in p.stderr, p.stderr
    p = expect(run("enqueue", "cli_file", "--file", "-", stdin='{"operation": "echo", "colour": "red"}\n'), 2)
    assert "unknown field" in p.stderr, p.stderr
    expect(run("enqueue", "cli_file", "--file", "-", stdin='{"payload": 1}\n'), 2)
    assert stats("cli_file")["total"] == before
    os.unlink(f.name)


@case("a batch is all or nothing: a duplicate key in line 2 exits 1, line 1 is not kept")
def _():
    before = stats("cli_file")["total"]
    lines = '{"operation": "echo", "key": "dup"}\n{"operation": "echo", "key": "dup"}\n'
    expect(run("enqueue", "cli_file", "--file", "-", stdin=lines), 1)
    assert stats("cli_file")["total"] == before


@case("worker --json prints one structured event per task (task id, queue, operation, attempt, outcome, duration, time)")
def _():
    p = expect(run("--json", "worker", "cli_q", "--until-empty", "--poll-interval", "100"), 0)
    events = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    assert len(events) == 3, p.stdout
    for e in events:
        assert set(e) == {"event", "task_id", "queue", "operation", "attempt", "outcome", "duration_ms", "time", "error"}, e
        assert e["event"] == "task" and e["queue"] == "cli_q" and isinstance(e["task_id"], int)
        assert isinstance(e["duration_ms"], (int, float)) and e["time"].endswith("Z"), e
    outcomes = sorted(e["outcome"] for e in events)
    assert outcomes == ["dead_lettered", "succeeded", "succeeded"], outcomes
    dead = [e for e in events if e["outcome"] == "dead_lettered"][0]
    assert dead["operation"] == "fail" and dead["attempt"] == 1 and dead["error"] == "failed on purpose", dead


@case("dlq list shows idempotency key and group (table and --json)")
def _():
    expect(run("enqueue", "cli_dlq", "fail", "--max-attempts", "1", "--key", "dk-1", "--group", "dg-1"), 0)
    expect(run("worker", "cli_dlq", "--until-empty", "--poll-interval", "100"), 0)
    rows = json.loads(expect(run("--json", "dlq", "list", "cli_dlq"), 0).stdout)
    assert len(rows) == 1 and rows[0]["idempotency_key"] == "dk-1" and rows[0]["task_group_id"] == "dg-1", rows
    assert rows[0]["dlq_reason"] == "failed on purpose", rows
    t = expect(run("dlq", "list", "cli_dlq"), 0).stdout
    head = t.splitlines()[0].split()
    assert "key" in head and "group" in head and "dk-1" in t and "dg-1" in t, t


@case("results list shows idempotency key and group (table and --json); paging")
def _():
    rows = json.loads(expect(run("--json", "results", "list", "cli_q"), 0).stdout)
    assert len(rows) == 2, rows
    keys = {"id", "queue_name", "operation_id", "payload", "result", "attempts", "task_group_id",
            "idempotency_key", "created_at", "completed_at"}
    assert all(set(r) == keys for r in rows), rows
    assert {"k-1"} <= {r["idempotency_key"] for r in rows} and {"g-1"} <= {r["task_group_id"] for r in rows}, rows
    one = json.loads(expect(run("--json", "results", "list", "cli_q", "--limit", "1", "--offset", "1"), 0).stdout)
    assert len(one) == 1 and one[0]["id"] == rows[1]["id"]
    t = expect(run("results", "list", "cli_q"), 0).stdout
    assert "k-1" in t and "g-1" in t and "key" in t.splitlines()[0], t


@case("dlq requeue and purge --json shapes")
def _():
    rows = json.loads(run("--json", "dlq", "list", "cli_dlq").stdout)
    j = json.loads(expect(run("--json", "dlq", "requeue", str(rows[0]["id"])), 0).stdout)
    assert j == {"requeued": [rows[0]["id"]]}, j
    expect(run("worker", "cli_dlq", "--until-empty", "--poll-interval", "100"), 0)
    j = json.loads(expect(run("--json", "dlq", "purge", "cli_dlq"), 0).stdout)
    assert j == {"deleted": 1}, j


@case("a password in --dsn warns on stderr (argv is visible in ps), and still connects")
def _():
    dsn = f"host={os.environ['PGHOST']} port={os.environ['PGPORT']} dbname={os.environ['PGDATABASE']} password=hunter2"
    p = expect(run("--dsn", dsn, "queues"), 0)
    assert "warning" in p.stderr and "ps" in p.stderr and ".pgpass" in p.stderr, p.stderr
    uri = f"postgresql://postgres:hunter2@{os.environ['PGHOST']}:{os.environ['PGPORT']}/{os.environ['PGDATABASE']}"
    p = expect(run("--dsn", uri, "queues"), 0)
    assert "warning" in p.stderr, p.stderr
    p = expect(run("--dsn", f"host={os.environ['PGHOST']}", "queues"), 0)
    assert "warning" not in p.stderr, p.stderr
    expect(run("--dsn", "host", "queues"), 2)


PWUSER, PW = os.environ["PWUSER"], os.environ["PWUSER_PASSWORD"]
no_pw_env = {"PGUSER": PWUSER, "PGPASSFILE": "/nonexistent", "PGPASSWORD": ""}


@case("a role that needs a password: refused without one (exit 1)")
def _():
    e = dict(no_pw_env)
    p = expect(run("queues", env=e), 1)
    assert "password" in p.stderr, p.stderr


@case("the password comes from PGPASSFILE")
def _():
    with tempfile.NamedTemporaryFile("w", delete=False) as f:
        f.write(f"*:*:*:{PWUSER}:{PW}\n")
    os.chmod(f.name, 0o600)
    expect(run("queues", env={**no_pw_env, "PGPASSFILE": f.name}), 0)
    os.unlink(f.name)


@case("the password comes from the -W prompt (stdin when there is no terminal); a wrong one exits 1")
def _():
    expect(run("-W", "queues", stdin=PW + "\n", env=no_pw_env), 0)
    expect(run("--password", "--json", "queues", stdin="wrong\n", env=no_pw_env), 1)


print(f"1..{n}")
print("# All CLI tests passed")
