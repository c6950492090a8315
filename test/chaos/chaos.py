#!/usr/bin/env python3
"""Fault scenarios of the chaos suite (run by test/chaos/run.sh; python3 standard library).

Each scenario starts its processes (build/chaos/chaos_client), injects its faults into
processes it started (and only those: workers, schedulers, the throwaway cluster's server
and backends), drains the queue, dumps the final database state and runs check.py on the
history. Loopback only: every cluster listens on 127.0.0.1.

    chaos.py --client BIN --out DIR [--long] [scenario ...]

Scenarios: kill sigstop crash enospc cron fifo snapshot (default: all).
Env: PGBIN (the server binaries), TOP (the checkout).
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TOP = os.environ.get("TOP") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
PGBIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import check  # noqa: E402

# Sizes: (short, long). The long sizes are the issue's.
SIZES = {
    "kill": dict(tasks=(2000, 50000), workers=(4, 8), vt_ms=(2000, 5000), every=(1.0, 2.0)),
    "sigstop": dict(cycles=(8, 200), workers=(4, 4), vt_ms=(1500, 2000), parallel=(2, 4)),
    "crash": dict(crashes=(2, 6), rate=(150, 300), workers=(3, 4), between=(4.0, 6.0)),
    "enospc": dict(size_mb=(80, 160), limit_s=(60, 240)),
    "cron": dict(schedules=(20, 20), seconds=(20, 200), kill_every=(4.0, 10.0)),
    "fifo": dict(groups=(100, 1000), per_group=(10, 50), workers=(6, 16), vt_ms=(2000, 5000),
                 every=(1.5, 2.0)),
    "snapshot": dict(rate=(100, 200), hold_s=(15, 180), base_s=(6, 20)),
}


def log(*a):
    print(*a, flush=True)


def as_postgres(cmd):
    return (["runuser", "-u", "postgres", "--"] + cmd) if os.getuid() == 0 else cmd


class Cluster:
    """A throwaway cluster from scripts/pg-cluster.sh, with crash controls."""

    def __init__(self, settings, dir=None):
        args = [os.path.join(TOP, "scripts/pg-cluster.sh"), "start"]
        if dir:
            args.append(dir)
        for s in settings:
            args += ["-c", s]
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        m = re.search(r"PGPORT=(\d+) .*TASKMILL_PGDATA=(\S+)", out)
        self.port, self.dir = m.group(1), m.group(2)
        self.data = os.path.join(self.dir, "data")
        self.env = dict(os.environ, PGHOST="127.0.0.1", PGPORT=self.port, PGUSER="postgres")

    def conninfo(self, db):
        return "host=127.0.0.1 port=%s user=postgres dbname=%s" % (self.port, db)

    def psql(self, db, sql, check_rc=True, timeout=120):
        r = subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
                           env=self.env, capture_output=True, text=True, timeout=timeout)
        if check_rc and r.returncode != 0:
            raise RuntimeError("psql failed: %s\n%s" % (sql[:200], r.stderr))
        return r.stdout.strip() if r.returncode == 0 else None

    def try_psql(self, db, sql, timeout=5):
        try:
            return self.psql(db, sql, check_rc=False, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def new_db(self, db):
        self.psql("postgres", 'CREATE DATABASE "%s"' % db)
        self.psql(db, "CREATE EXTENSION taskmill")

    def pg_ctl(self, *args, check_rc=True):
        r = subprocess.run(as_postgres([os.path.join(PGBIN, "pg_ctl"), "-D", self.data] + list(args)),
                           capture_output=True, text=True)
        if check_rc and r.returncode != 0:
            raise RuntimeError("pg_ctl %s: %s %s" % (args, r.stdout, r.stderr))
        return r.returncode

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def wait_accepting(self, limit=120, db="postgres"):
        """Polls every 20 ms; returns the wall time of the first successful query."""
        t0 = time.time()
        while time.time() - t0 < limit:
            if self.try_psql(db, "SELECT 1", timeout=3) == "1":
                return time.time()
            time.sleep(0.02)
        raise RuntimeError("server not accepting connections after %ss" % limit)

    def ready_lines(self):
        with open(os.path.join(self.dir, "server.log"), errors="replace") as f:
            return [l for l in f if "database system is ready to accept connections" in l]

    def accepted_since(self, before, limit=120):
        """Wall time (from the server log's own timestamp, UTC) at which the server said it was
        ready to accept connections again, after `before` such lines."""
        t0 = time.time()
        while time.time() - t0 < limit:
            lines = self.ready_lines()
            if len(lines) > before:
                m = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) UTC", lines[before])
                import datetime
                dt = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f")
                self.wait_accepting()
                return dt.replace(tzinfo=datetime.timezone.utc).timestamp()
            time.sleep(0.05)
        raise RuntimeError("server did not come back within %ss" % limit)

    def crash_immediate(self):
        before = len(self.ready_lines())
        self.pg_ctl("-m", "immediate", "-w", "stop")
        time.sleep(0.5)
        self.pg_ctl("-l", os.path.join(self.dir, "server.log"), "-w", "-t", "120", "start")
        return self.accepted_since(before)

    def kill_backend(self, db):
        """SIGKILL of one client backend: the postmaster resets every backend (crash recovery)."""
        pid = self.try_psql("postgres", "SELECT pid FROM pg_stat_activity WHERE datname = '%s' "
                            "AND backend_type = 'client backend' AND pid <> pg_backend_pid() "
                            "ORDER BY random() LIMIT 1" % db)
        if not pid:
            return None
        before = len(self.ready_lines())
        os.kill(int(pid), signal.SIGKILL)
        return self.accepted_since(before)

    def dump_final(self, db, path):
        q = ("SELECT json_build_object('kind','task','id',id,'key',idempotency_key,'group',task_group_id,"
             "'attempts',attempts,'max_attempts',max_attempts,'dlq',dlq_at IS NOT NULL,"
             "'dlq_reason',dlq_reason,'queue',queue_name) FROM taskmill.tasks "
             "UNION ALL SELECT json_build_object('kind','result','id',id,'key',idempotency_key,"
             "'group',task_group_id,'attempts',attempts,'max_attempts',max_attempts,'queue',queue_name) "
             "FROM taskmill.task_results")
        out = self.psql(db, q, timeout=600)
        with open(path, "w") as f:
            f.write(out + ("\n" if out else ""))

    def stop(self):
        # immediate: a throwaway cluster; a fast stop can outlast pg_ctl's wait on a loaded
        # machine, and its directory must not be removed under a running server
        self.pg_ctl("-m", "immediate", "-w", "-t", "120", "stop", check_rc=False)
        subprocess.run([os.path.join(TOP, "scripts/pg-cluster.sh"), "stop", self.dir],
                       capture_output=True)


class Procs:
    """Every chaos_client process a scenario started (and only those are ever signalled)."""

    def __init__(self, client, hist_dir):
        self.client, self.hist = client, hist_dir
        self.live = {}  # name -> Popen
        self.incarnation = {}

    def start(self, role, mode, **kw):
        n = self.incarnation.get(role, 0)
        self.incarnation[role] = n + 1
        name = "%s.%d" % (role, n)
        args = [self.client, mode, "--history", os.path.join(self.hist, name + ".jsonl"),
                "--proc", name, "--seed", str(random.randrange(1 << 30))]
        for k, v in kw.items():
            args += ["--" + k.replace("_", "-"), str(v)]
        self.live[role] = (subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                            stderr=open(os.path.join(self.hist, name + ".err"), "w")), kw, mode)
        return name

    def pid(self, role):
        return self.live[role][0].pid

    def kill(self, role):
        """SIGKILL and restart with the same arguments (a new incarnation)."""
        p, kw, mode = self.live[role]
        p.kill()
        p.wait()
        self.start(role, mode, **kw)

    def signal(self, role, sig):
        self.live[role][0].send_signal(sig)

    def roles(self, prefix):
        return [r for r in self.live if r.startswith(prefix)]

    def wait_exit(self, role, limit):
        try:
            self.live[role][0].wait(timeout=limit)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop_all(self):
        for p, _, _ in self.live.values():
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.terminate()
        for p, _, _ in self.live.values():
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def wait_drained(cl, db, limit, tick=None):
    """Until no task outside the DLQ is left (tick() runs each round, e.g. fault injection)."""
    t0 = time.time()
    while time.time() - t0 < limit:
        n = cl.try_psql(db, "SELECT count(*) FROM taskmill.tasks WHERE dlq_at IS NULL")
        if n == "0":
            return time.time() - t0
        if tick:
            tick()
        time.sleep(0.25)
    return None


class WorkerKiller:
    """The kill and fifo scenarios' fault: called often (as wait_drained's tick, say), it
    SIGKILLs (and restarts) a random worker ("w..." role) once `every` seconds have passed."""

    def __init__(self, procs, every):
        self.procs, self.every = procs, every
        self.kills, self.last = 0, time.time()

    def __call__(self):
        if time.time() - self.last >= self.every:
            self.procs.kill(random.choice(self.procs.roles("w")))
            self.kills += 1
            self.last = time.time()

    def while_running(self, role):
        """Kills workers until `role` (the producer) exits by itself."""
        while self.procs.live[role][0].poll() is None:
            self()
            time.sleep(0.05)


def finish(cl, db, procs, hist, name, faults, fifo=False, cron=False, extra=None):
    procs.stop_all()
    cl.dump_final(db, os.path.join(hist, "final.jsonl"))
    rep = check.check(hist, fifo=fifo, cron=cron)
    res = dict(scenario=name, faults=faults, figures=rep.figures, violations=rep.violations,
               examples=rep.examples)
    if extra:
        res.update(extra)
    return res


# ---- scenarios ------------------------------------------------------------------------

def sc_kill(ctx, sz):
    """Workers SIGKILLed at random and restarted, while a producer enqueues."""
    cl, db = ctx.cluster, "chaos_kill"
    cl.new_db(db)
    procs = Procs(ctx.client, ctx.hist("kill"))
    procs.start("producer", "producer", conninfo=cl.conninfo(db), queue="chaos", prefix="k",
                count=sz["tasks"], max_attempts="1,2,3,5")
    for i in range(sz["workers"]):
        procs.start("w%d" % i, "worker", conninfo=cl.conninfo(db), queue="chaos", batch=5,
                    vt_ms=sz["vt_ms"], fail_rate=0.05, extend_rate=0.1, release_rate=0.02,
                    slow_rate=0.005, work_ms=2)
    killer = WorkerKiller(procs, sz["every"])
    procs.wait_exit("producer", 0.01)
    killer.while_running("producer")
    drained = wait_drained(cl, db, 300 if ctx.long else 120, killer)
    return finish(cl, db, procs, ctx.hist("kill"), "kill", {"worker_sigkill": killer.kills},
                  extra={"drained_s": drained})


def sc_sigstop(ctx, sz):
    """Workers SIGSTOPped past their visibility timeout, then resumed: their late acks,
    nacks and extends must be refused."""
    cl, db = ctx.cluster, "chaos_stop"
    cl.new_db(db)
    hist = ctx.hist("sigstop")
    procs = Procs(ctx.client, hist)
    rate = 150
    procs.start("producer", "producer", conninfo=cl.conninfo(db), queue="chaos", prefix="s",
                count=10 ** 7, rate=rate, max_attempts="3,5,8")
    for i in range(sz["workers"]):
        procs.start("w%d" % i, "worker", conninfo=cl.conninfo(db), queue="chaos", batch=4,
                    vt_ms=sz["vt_ms"], fail_rate=0.02, extend_rate=0.3, work_ms=20)
    stop_for = sz["vt_ms"] / 1000.0 * 1.5
    done = 0
    stopped = {}  # role -> resume time
    while done < sz["cycles"]:
        now = time.time()
        for r, t in list(stopped.items()):
            if now >= t:
                procs.signal(r, signal.SIGCONT)
                del stopped[r]
                done += 1
        free = [r for r in procs.roles("w") if r not in stopped]
        if len(stopped) < sz["parallel"] and free and done + len(stopped) < sz["cycles"]:
            r = random.choice(free)
            procs.signal(r, signal.SIGSTOP)
            stopped[r] = now + stop_for * random.uniform(1.0, 1.3)
        time.sleep(0.05)
    procs.signal("producer", signal.SIGTERM)
    procs.wait_exit("producer", 20)
    drained = wait_drained(cl, db, 300 if ctx.long else 120)
    return finish(cl, db, procs, hist, "sigstop", {"worker_sigstop": done},
                  extra={"drained_s": drained, "stopped_for_s": round(stop_for, 2)})


def sc_crash(ctx, sz):
    """The server stopped with pg_ctl -m immediate, and backends SIGKILLed, during load.
    Producers and workers (our raw-SQL ones and the library's own Worker and Enqueuer)
    must reconnect by themselves within 5 s of the server accepting connections again."""
    cl, db = ctx.cluster, "chaos_crash"
    cl.new_db(db)
    hist = ctx.hist("crash")
    procs = Procs(ctx.client, hist)
    for i in range(2):
        procs.start("producer%d" % i, "producer", conninfo=cl.conninfo(db), queue="chaos",
                    prefix="c%d" % i, count=10 ** 7, rate=sz["rate"] / 2, max_attempts="3,5")
    for i in range(sz["workers"]):
        procs.start("w%d" % i, "worker", conninfo=cl.conninfo(db), queue="chaos", batch=5,
                    vt_ms=2000, fail_rate=0.02, extend_rate=0.1, work_ms=2)
    procs.start("lib", "libworker", conninfo=cl.conninfo(db), queue="lib", prefix="lib",
                rate=50, vt_ms=2000, concurrency=2)
    outages = []
    kinds = {"pg_ctl_immediate": 0, "backend_sigkill": 0}
    time.sleep(sz["between"])
    for n in range(sz["crashes"]):
        if n % 2 == 0:
            acc = cl.crash_immediate()
            kinds["pg_ctl_immediate"] += 1
        else:
            acc = cl.kill_backend(db)
            if acc is None:
                continue
            kinds["backend_sigkill"] += 1
        outages.append({"accepting": acc})
        time.sleep(sz["between"])
    with open(os.path.join(hist, "outages.jsonl"), "w") as f:
        for o in outages:
            f.write(json.dumps(o) + "\n")
    procs.signal("lib", signal.SIGUSR1)  # its Enqueuer stops, its Worker goes on
    for r in procs.roles("producer"):
        procs.signal(r, signal.SIGTERM)
        procs.wait_exit(r, 20)
    time.sleep(0.5)
    drained = wait_drained(cl, db, 300 if ctx.long else 120)
    res = finish(cl, db, procs, hist, "crash", kinds, extra={"drained_s": drained})
    worst = res["figures"].get("reconnect_max_s", 0)
    res["violations"]["reconnect_over_5s"] = 1 if worst > 5.0 else 0
    return res


def sc_enospc(ctx, sz):
    """WAL and data directory on a small tmpfs until ENOSPC, twice (the database filling it,
    then another file taking the last byte); each time space is freed and the server
    restarted: every enqueue reported ok must be there (and end acked)."""
    hist = ctx.hist("enospc")
    base = tempfile.mkdtemp(prefix="taskmill-chaos-enospc.")
    mnt = os.path.join(base, "mnt")
    os.makedirs(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % sz["size_mb"], "tmpfs", mnt],
                       capture_output=True, text=True)
    if r.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        return dict(scenario="enospc", skipped="mount not permitted: " + r.stderr.strip(),
                    faults={}, figures={}, violations={})
    cl = None
    try:
        os.chmod(base, 0o755)
        cl = Cluster(["max_connections=50", "shared_buffers=16MB", "max_wal_size=64MB",
                      "min_wal_size=32MB"], dir=mnt)
        db = "chaos_enospc"
        cl.new_db(db)
        procs = Procs(ctx.client, hist)
        procs.start("w0", "worker", conninfo=cl.conninfo(db), queue="chaos", batch=10,
                    vt_ms=5000, work_ms=0)
        log_path = os.path.join(mnt, "server.log")

        def server_log():
            with open(log_path, errors="replace") as f:
                return f.read()

        # ENOSPC as the server words it: errno's text, or a short write of a block
        enospc = re.compile(r"No space left on device|could not extend file .*: wrote only")

        def enospc_count():
            return len(enospc.findall(server_log()))

        def load_until_full(rnd, limit):
            """Producers at full speed until the server log says ENOSPC (or the limit)."""
            seen = enospc_count()
            for i in range(2):
                procs.start("producer%d" % i, "producer", conninfo=cl.conninfo(db), queue="chaos",
                            prefix="e%d-%d" % (rnd, i), count=10 ** 7, payload_bytes=4000,
                            max_attempts="3")
            t0 = time.time()
            full = None
            while time.time() - t0 < limit:
                if enospc_count() > seen:
                    full = time.time() - t0
                    break
                time.sleep(0.5)
            time.sleep(3)  # load against the full disk for a moment
            for r in procs.roles("producer"):
                procs.signal(r, signal.SIGTERM)
                procs.wait_exit(r, 20)
            return full

        def restart():
            cl.pg_ctl("-m", "immediate", "-w", "stop", check_rc=False)
            cl.pg_ctl("-l", log_path, "-w", "-t", "120", "start")
            cl.wait_accepting()

        # Round 1: the database itself fills the file system. Space is freed by growing the
        # tmpfs; the server is restarted.
        full1 = load_until_full(1, sz["limit_s"])
        subprocess.run(["mount", "-o", "remount,size=%dm" % (sz["size_mb"] * 3), mnt], check=True)
        restart()
        # Round 2: another file takes every free byte (as a runaway log would); the server
        # meets ENOSPC wherever it next needs space (a data file, or a new WAL segment, which
        # stops it with a PANIC). Space is freed by deleting the file; the server restarted.
        filler = os.path.join(mnt, "filler")
        subprocess.run(["dd", "if=/dev/zero", "of=" + filler, "bs=1M"], capture_output=True)
        full2 = load_until_full(2, sz["limit_s"])
        os.unlink(filler)
        restart()
        srv_log = server_log()
        drained = wait_drained(cl, db, 300 if ctx.long else 180)
        res = finish(cl, db, procs, hist, "enospc",
                     {"disk_full": int(full1 is not None) + int(full2 is not None),
                      "enospc_log_lines": len(enospc.findall(srv_log)),
                      "panics": srv_log.count("PANIC"), "server_restarts": 2},
                     extra={"drained_s": drained, "tmpfs_mb": sz["size_mb"],
                            "disk_full_after_s": [full1 and round(full1, 1), full2 and round(full2, 1)]})
        # Round 1 must meet ENOSPC (the file system is small); round 2 may not within its
        # limit on a slow machine: the rows freed by the drain are reused before the files
        # grow, and WAL reuses recycled segments. Its figure says whether it did.
        if full1 is None:
            res["violations"]["disk_never_full"] = 1
        return res
    finally:
        if cl:
            cl.pg_ctl("-m", "immediate", "-w", "-t", "120", "stop", check_rc=False)
        # the server's last children may still hold files for a moment: retry, and never
        # delete inside a file system that is still mounted
        for _ in range(60):
            if subprocess.run(["umount", mnt], capture_output=True).returncode == 0:
                shutil.rmtree(base, ignore_errors=True)
                break
            time.sleep(1)
        else:
            log("   could not unmount " + mnt + "; left in place")


def sc_cron(ctx, sz):
    """20 schedules, three competing schedulers (the background worker and two client
    Schedulers), the busiest killed repeatedly: exactly one task per (schedule, tick).
    taskmill has no fake clock, so besides the real minute ticks the run forces a tick of
    every schedule about twice a second (next_run_at = now(), only once the previous tick
    was taken), and checks every forced and every real tick."""
    cl, db = ctx.cluster, "chaos_cron"
    hist = ctx.hist("cron")
    cl.new_db(db)  # the background worker of this database (taskmill.scheduler_databases) starts serving it
    scheds = [{"operation_id": "s%02d" % i, "cron": "* * * * *"} for i in range(sz["schedules"])]
    cl.psql(db, "SELECT taskmill.register_schedules('cron', '%s')" % json.dumps(scheds))
    procs = Procs(ctx.client, hist)
    for i in range(2):
        procs.start("sched%d" % i, "scheduler", conninfo=cl.conninfo(db), queue="cron", interval_ms=1000)
    procs.start("w0", "worker", conninfo=cl.conninfo(db), queue="cron", batch=20, vt_ms=5000, work_ms=0)
    t_start = float(cl.psql(db, "SELECT extract(epoch from now())"))
    ticks = []
    kills = {"client_scheduler_sigkill": 0, "bgworker_sigkill": 0}
    last_kill = time.time()
    last_counts = {}
    t_end = time.time() + sz["seconds"]

    def client_counts():
        c = {}
        for r in procs.roles("sched"):
            n = 0
            for inc in range(procs.incarnation[r]):
                p = os.path.join(hist, "%s.%d.jsonl" % (r, inc))
                if os.path.exists(p):
                    for line in open(p):
                        if '"tick_run"' in line and '"ok"' in line:
                            n += json.loads(line).get("n", 0)
            c[r] = n
        c["bgworker"] = int(cl.try_psql(db, "SELECT count(*) FROM (SELECT id FROM taskmill.tasks "
                                        "UNION ALL SELECT id FROM taskmill.task_results) x") or 0) - sum(c.values())
        return c
    while time.time() < t_end:
        out = cl.try_psql(db, "UPDATE taskmill.task_schedules SET next_run_at = clock_timestamp() "
                          "WHERE queue_name = 'cron' AND next_run_at > now() "
                          "RETURNING operation_id, extract(epoch from next_run_at)")
        if out:
            for line in out.splitlines():
                op, ep = line.split("|")
                ticks.append({"op": op, "epoch": float(ep)})
        if time.time() - last_kill >= sz["kill_every"]:
            c = client_counts()
            delta = {k: v - last_counts.get(k, 0) for k, v in c.items()}
            last_counts = c
            busiest = max(delta, key=delta.get)
            if busiest == "bgworker":
                pid = cl.try_psql("postgres", "SELECT pid FROM pg_stat_activity WHERE "
                                  "backend_type = 'taskmill scheduler' AND datname = '%s'" % db)
                if pid:
                    os.kill(int(pid), signal.SIGKILL)  # the postmaster resets the server
                    kills["bgworker_sigkill"] += 1
                    time.sleep(0.3)
                    cl.wait_accepting()
            else:
                procs.kill(busiest)
                kills["client_scheduler_sigkill"] += 1
            last_kill = time.time()
        time.sleep(0.5)
    # let every forced tick be taken, then drain the queue
    t_stop = float(cl.psql(db, "SELECT extract(epoch from now())"))
    deadline = time.time() + 60
    while time.time() < deadline:
        if cl.try_psql(db, "SELECT count(*) FROM taskmill.task_schedules WHERE queue_name = 'cron' "
                       "AND next_run_at <= now()") == "0":
            break
        time.sleep(0.2)
    # every real minute tick strictly inside the run, once a minute has passed since registration
    m = int(t_start // 60 + 2) * 60
    real = 0
    while m < t_stop - 1:
        for s in scheds:
            ticks.append({"op": s["operation_id"], "epoch": float(m), "real": True})
            real += 1
        m += 60
    with open(os.path.join(hist, "ticks.jsonl"), "w") as f:
        for t in ticks:
            f.write(json.dumps(t) + "\n")
    procs.stop_all()
    drained = wait_drained(cl, db, 5)
    res = finish(cl, db, procs, hist, "cron", kills, cron=True,
                 extra={"real_minute_ticks_checked": real, "seconds": sz["seconds"]})
    return res


def sc_fifo(ctx, sz):
    """groups x tasks in FIFO groups, many workers, 5 % handler failures, worker kills."""
    cl, db = ctx.cluster, "chaos_fifo"
    cl.new_db(db)
    hist = ctx.hist("fifo")
    procs = Procs(ctx.client, hist)
    n = sz["groups"] * sz["per_group"]
    procs.start("producer", "producer", conninfo=cl.conninfo(db), queue="chaos", prefix="f",
                count=n, groups=sz["groups"], max_attempts="1,2,3,3,5")
    # Half the workers ack and nack each delivery in a statement of its own, half send them
    # with their next claim (ack_dequeue, as the library's Worker does).
    for i in range(sz["workers"]):
        procs.start("w%d" % i, "worker", conninfo=cl.conninfo(db), queue="chaos", batch=5,
                    vt_ms=sz["vt_ms"], fail_rate=0.05, extend_rate=0.1, work_ms=2, combine=i % 2)
    killer = WorkerKiller(procs, sz["every"])
    killer.while_running("producer")
    drained = wait_drained(cl, db, 900 if ctx.long else 150, killer)
    return finish(cl, db, procs, hist, "fifo", {"worker_sigkill": killer.kills}, fifo=True,
                  extra={"drained_s": drained, "groups": sz["groups"], "per_group": sz["per_group"]})


def sc_snapshot(ctx, sz):
    """A snapshot held open during steady load: taskmill.xmin_holders (and taskmill.health)
    name the holder while it lasts; the workers keep up with the producer again (backlog back
    to its level before the hold) within 60 s after it ends."""
    cl, db = ctx.cluster, "chaos_snapshot"
    cl.new_db(db)
    hist = ctx.hist("snapshot")
    procs = Procs(ctx.client, hist)
    procs.start("producer", "producer", conninfo=cl.conninfo(db), queue="chaos", prefix="n",
                count=10 ** 7, rate=sz["rate"], max_attempts="3")
    for i in range(3):
        procs.start("w%d" % i, "worker", conninfo=cl.conninfo(db), queue="chaos", batch=10,
                    vt_ms=5000, work_ms=1)

    def depth():
        v = cl.try_psql(db, "SELECT count(*) FROM taskmill.tasks WHERE dlq_at IS NULL")
        return int(v) if v else None

    def acked():
        v = cl.try_psql(db, "SELECT count(*) FROM taskmill.task_results")
        return int(v) if v else 0
    time.sleep(2)
    a0, t0 = acked(), time.time()
    depths = []
    while time.time() - t0 < sz["base_s"]:
        depths.append(depth() or 0)
        time.sleep(0.5)
    base_rate = (acked() - a0) / (time.time() - t0)
    base_depth = max(depths)
    holder = subprocess.Popen(["psql", "-XAtq", "-d", db, "-c", "BEGIN ISOLATION LEVEL REPEATABLE READ",
                               "-c", "SELECT count(*) FROM taskmill.tasks",
                               "-c", "SELECT pg_sleep(%d)" % sz["hold_s"], "-c", "COMMIT"],
                              env=dict(cl.env, PGAPPNAME="chaos-snapshot-holder"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    named, polls, max_age = 0, 0, 0
    a1, t1 = acked(), time.time()
    time.sleep(1)
    while holder.poll() is None:
        r = cl.try_psql(db, "SELECT (SELECT count(*) FROM taskmill.xmin_holders WHERE holder LIKE "
                        "'%chaos-snapshot-holder%'), (SELECT oldest_xmin_age FROM taskmill.health)")
        if r and holder.poll() is None:
            polls += 1
            c, age = r.split("|")
            named += 1 if int(c) > 0 else 0
            max_age = max(max_age, int(age or 0))
        time.sleep(1)
    hold_rate = (acked() - a1) / (time.time() - t1)
    t_end = time.time()
    peak = depth() or 0
    recovered = None
    while time.time() - t_end < 90:
        d = depth()
        if d is not None and d <= max(2 * base_depth, 50):
            recovered = time.time() - t_end
            break
        time.sleep(0.5)
    a2, t2 = acked(), time.time()
    time.sleep(5)
    after_rate = (acked() - a2) / (time.time() - t2)
    procs.signal("producer", signal.SIGTERM)
    procs.wait_exit("producer", 20)
    drained = wait_drained(cl, db, 120)
    res = finish(cl, db, procs, hist, "snapshot", {"snapshot_held_s": sz["hold_s"]},
                 extra={"drained_s": drained, "holder_named_polls": "%d/%d" % (named, polls),
                        "oldest_xmin_age_max": max_age,
                        "acks_per_s_before_during_after": [round(base_rate), round(hold_rate), round(after_rate)],
                        "backlog_before_peak": [base_depth, peak],
                        "recovered_s": None if recovered is None else round(recovered, 1)})
    res["violations"]["holder_not_named"] = 0 if polls > 0 and named == polls else 1
    res["violations"]["not_recovered_60s"] = 0 if recovered is not None and recovered <= 60 else 1
    return res


SCENARIOS = [("kill", sc_kill), ("sigstop", sc_sigstop), ("crash", sc_crash), ("enospc", sc_enospc),
             ("cron", sc_cron), ("fifo", sc_fifo), ("snapshot", sc_snapshot)]


class Ctx:
    def __init__(self, client, out, long):
        self.client, self.out, self.long = client, out, long
        self.cluster = None

    def hist(self, name):
        d = os.path.join(self.out, name)
        os.makedirs(d, exist_ok=True)
        return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--client", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--long", action="store_true")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("scenarios", nargs="*")
    a = ap.parse_args()
    random.seed(a.seed)
    names = a.scenarios or [n for n, _ in SCENARIOS]
    ctx = Ctx(a.client, a.out, a.long)
    os.makedirs(a.out, exist_ok=True)
    log("chaos: %s run, seed %d, scenarios %s, histories in %s" %
        ("long" if a.long else "short", a.seed, " ".join(names), a.out))
    ctx.cluster = Cluster(["shared_preload_libraries=taskmill", "taskmill.scheduler_databases=chaos_cron",
                           "taskmill.scheduler_interval=1", "autovacuum_naptime=5",
                           "log_timezone=UTC"])
    results = []
    failed = False
    try:
        for n, fn in SCENARIOS:
            if n not in names:
                continue
            sz = {k: v[1 if a.long else 0] for k, v in SIZES[n].items()}
            t0 = time.time()
            log("== %s %s" % (n, json.dumps(sz)))
            try:
                res = fn(ctx, sz)
            except Exception as e:  # a scenario that could not run is a failure, not a pass
                res = dict(scenario=n, faults={}, figures={}, violations={"scenario_error": 1},
                           error=repr(e))
            res["seconds"] = round(time.time() - t0, 1)
            results.append(res)
            bad = {k: v for k, v in res.get("violations", {}).items() if v}
            failed |= bool(bad)
            log("   %s in %ss" % ("FAIL" if bad else ("SKIP" if res.get("skipped") else "ok"), res["seconds"]))
            if res.get("skipped"):
                log("   skipped: " + res["skipped"])
            if res.get("error"):
                log("   error: " + res["error"])
            log("   faults: " + ", ".join("%s %s" % kv for kv in res["faults"].items()))
            log("   figures: " + ", ".join("%s %s" % kv for kv in res["figures"].items()))
            extra = {k: v for k, v in res.items() if k not in
                     ("scenario", "faults", "figures", "violations", "examples", "seconds", "error", "skipped")}
            if extra:
                log("   measured: " + ", ".join("%s %s" % kv for kv in extra.items()))
            log("   invariants: " + ", ".join("%s %s" % kv for kv in res.get("violations", {}).items()))
            for k, ex in res.get("examples", {}).items():
                for e in ex:
                    log("   VIOLATION %s: %s" % (k, json.dumps(e)[:400]))
    finally:
        ctx.cluster.stop()
    with open(os.path.join(a.out, "report.json"), "w") as f:
        json.dump(results, f, indent=1)
    # the summary every invariant reads from
    tot = {}
    for r in results:
        for k, v in r.get("violations", {}).items():
            tot[k] = tot.get(k, 0) + v
    faults = {}
    for r in results:
        for k, v in r.get("faults", {}).items():
            faults[k] = faults.get(k, 0) + v
    tasks = sum(r.get("figures", {}).get("enqueue_ok", 0) for r in results)
    rc = [r.get("figures", {}).get("reconnect_max_s") for r in results if "reconnect_max_s" in r.get("figures", {})]
    log("== summary: tasks enqueued ok %d; faults %s" % (tasks, ", ".join("%s %s" % kv for kv in faults.items())))
    log("   lost %d, phantom %d, double-accepted acks %d, stale leases accepted %d, overlapping leases %d, "
        "FIFO violations %d, DLQ mismatches %d, duplicate ticks %d, missing ticks %d, reconnect max %ss" % (
            tot.get("lost", 0), tot.get("phantom", 0), tot.get("double_ack", 0), tot.get("stale_accepted", 0),
            tot.get("lease_overlap", 0), tot.get("fifo_overlap", 0) + tot.get("fifo_order", 0),
            tot.get("dlq_mismatch", 0), tot.get("duplicate_ticks", 0), tot.get("missing_ticks", 0),
            max(rc) if rc else "n/a"))
    log("chaos: %s" % ("FAILED" if failed else "all invariants hold"))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
