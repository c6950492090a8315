#!/usr/bin/env python3
"""Offline checker of a chaos run's history (python3 standard library only).

Reads every *.jsonl history file of a directory (one JSON line per operation step, written by
chaos_client: invoke, then ok / fail / unknown with the same (p, seq)), the final database
state (final.jsonl: {"kind": "task"|"result", id, key, group, attempts, max_attempts, dlq}),
and optionally ticks.jsonl (cron ticks the run forced) and outages.jsonl (wall times at which
the server accepted connections again). Prints every invariant with its figure and exits 1
when one is violated.

    check.py DIR [--fifo] [--cron] [--json OUT]

Invariants (each a count that must be 0):
  lost             an enqueue reported ok whose task is neither acked (task_results) nor in the
                   DLQ at the end; an accepted ack whose task is not in task_results
  phantom          a task (claimed, or in the final state) whose key no enqueue invoked, or
                   whose enqueue failed; a claimed id whose key differs from its enqueue's
  double_ack       more than one accepted ack of a task
  stale_accepted   an ack / nack / extend / release of a lease accepted after another lease
                   of the same task was handed out
  lease_overlap    a task's lease handed out while its previous lease was still valid
  fifo_overlap     two tasks of one FIFO group in flight at once (--fifo)
  fifo_order       a group's tasks first claimed out of enqueue (id) order (--fifo)
  dlq_mismatch     in the DLQ without reaching max_attempts; a delivery past max_attempts;
                   nack's 'dlq' / 'retry' answer against the delivery's attempt number
  duplicate_ticks  more than one task for one (schedule, tick) (--cron)
  missing_ticks    a forced tick with no task (--cron)
"""
import argparse
import collections
import glob
import json
import os
import sys

EPS = 1e-4  # server times are microseconds; float rounding only
TICK_PREFIX = "taskmill-schedule:"  # a schedule tick's idempotency key: TICK_PREFIX<op>@<tick>


class Op:
    __slots__ = ("p", "seq", "op", "inv", "done", "type")

    def __init__(self, p, seq, op):
        self.p, self.seq, self.op = p, seq, op
        self.inv = None
        self.done = None
        self.type = "unknown"  # no completion line: the process died in between

    def field(self, k, default=None):
        if self.done is not None and k in self.done:
            return self.done[k]
        if self.inv is not None and k in self.inv:
            return self.inv[k]
        return default


def load_history(d):
    ops = {}
    infos = []
    for path in sorted(glob.glob(os.path.join(d, "*.jsonl"))):
        name = os.path.basename(path)
        if name in ("final.jsonl", "ticks.jsonl", "outages.jsonl"):
            continue
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    r = json.loads(line)
                except ValueError:
                    continue  # a torn last line (cannot happen with one write(2), but be safe)
                if r.get("type") == "info":
                    infos.append(r)
                    continue
                k = (r["p"], r["seq"])
                o = ops.get(k)
                if o is None:
                    o = ops[k] = Op(r["p"], r["seq"], r["op"])
                if r["type"] == "invoke":
                    o.inv = r
                else:
                    o.done = r
                    o.type = r["type"]
    return list(ops.values()), infos


def load_lines(path):
    out = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    out.append(json.loads(line))
    return out


def tick_of(key):
    """("s01", epoch) of a schedule task's key taskmill-schedule:<op>@<ISO 8601 UTC>."""
    import datetime
    op, _, iso = key[len(TICK_PREFIX):].rpartition("@")
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            dt = datetime.datetime.strptime(iso, fmt).replace(tzinfo=datetime.timezone.utc)
            return op, round(dt.timestamp(), 4)
        except ValueError:
            pass
    return None


class Report:
    def __init__(self):
        self.figures = collections.OrderedDict()
        self.violations = collections.OrderedDict()
        self.examples = collections.defaultdict(list)

    def fig(self, k, v):
        self.figures[k] = v

    def count(self, k):
        self.violations.setdefault(k, 0)

    def bad(self, k, example):
        self.violations[k] = self.violations.get(k, 0) + 1
        if len(self.examples[k]) < 5:
            self.examples[k].append(example)


ACCEPTED = {"ack": lambda r: r is True, "nack": lambda r: r in ("retry", "dlq"),
            "extend": lambda r: r is True, "release": lambda r: r is True}


def check(d, fifo=False, cron=False):
    ops, infos = load_history(d)
    final = load_lines(os.path.join(d, "final.jsonl"))
    ticks = load_lines(os.path.join(d, "ticks.jsonl"))
    outages = load_lines(os.path.join(d, "outages.jsonl"))
    rep = Report()
    for k in ("lost", "phantom", "double_ack", "stale_accepted", "lease_overlap", "dlq_mismatch"):
        rep.count(k)
    if fifo:
        rep.count("fifo_overlap")
        rep.count("fifo_order")
    if cron:
        rep.count("duplicate_ticks")
        rep.count("missing_ticks")

    by_type = collections.Counter((o.op, o.type) for o in ops)
    # ---- enqueues
    key_state = {}  # key -> "ok" | "unknown" | "fail"
    ok_ids = {}     # id -> key
    id_key = {}
    max_att = {}
    for o in ops:
        if o.op != "enqueue":
            continue
        key = o.field("key")
        prev = key_state.get(key)
        st = o.type
        # ok beats unknown beats fail when a key was tried more than once
        rank = {"ok": 2, "unknown": 1, "fail": 0}
        if prev is None or rank[st] > rank[prev]:
            key_state[key] = st
        if st == "ok":
            ok_ids[o.field("id")] = key
            id_key[o.field("id")] = key
        max_att[key] = o.field("max_attempts")
    rep.fig("enqueue_ok", sum(1 for s in key_state.values() if s == "ok"))
    rep.fig("enqueue_unknown", sum(1 for s in key_state.values() if s == "unknown"))
    rep.fig("enqueue_fail", sum(1 for s in key_state.values() if s == "fail"))

    final_tasks = {r["id"]: r for r in final if r["kind"] == "task"}
    final_results = {r["id"]: r for r in final if r["kind"] == "result"}

    # ---- claims, leases and the operations on them
    leases = {}  # lease -> dict(id, key, group, start, visible, attempts, max, ops=[])
    claims_of = collections.defaultdict(list)
    for o in ops:
        if o.op == "claim" and o.type == "ok":
            for t in o.done.get("tasks", []):
                L = dict(id=t["id"], key=t["key"], group=t.get("group"), start=o.done["t"],
                         visible=t["visible"], attempts=t["attempts"], max=t["max_attempts"],
                         ops=[], p=o.p)
                leases[t["lease"]] = L
                claims_of[t["id"]].append(L)
    for o in ops:
        if o.op in ACCEPTED:
            L = leases.get(o.field("lease"))
            if L is not None:
                L["ops"].append(o)
    rep.fig("claims", len(leases))
    for op in ("ack", "nack", "extend", "release"):
        rep.fig(op + "_accepted", sum(1 for o in ops if o.op == op and o.type == "ok"
                                      and ACCEPTED[op](o.done.get("res"))))
        rep.fig(op + "_refused", sum(1 for o in ops if o.op == op and o.type == "ok"
                                     and not ACCEPTED[op](o.done.get("res"))))
        rep.fig(op + "_unknown", by_type[(op, "unknown")])

    # ---- lost
    for i, key in ok_ids.items():
        t = final_tasks.get(i)
        if i in final_results:
            continue
        if t is not None and t.get("dlq"):
            continue
        rep.bad("lost", {"id": i, "key": key, "final": t})
    for o in ops:
        if o.op == "ack" and o.type == "ok" and o.done.get("res") is True:
            if o.field("id") not in final_results:
                rep.bad("lost", {"id": o.field("id"), "why": "accepted ack not in task_results"})

    # ---- phantom
    forced = {(t["op"], round(t["epoch"], 4)) for t in ticks}

    def phantom_check(i, key, where):
        if cron and str(key).startswith(TICK_PREFIX):
            # a schedule's task: it must be for a tick that happened (one the run forced, or
            # a real whole-minute tick of the "* * * * *" schedules)
            tick = tick_of(key)
            if tick is None or (tick not in forced and tick[1] % 60 != 0):
                rep.bad("phantom", {"id": i, "key": key, "where": where, "why": "no such tick"})
            return
        st = key_state.get(key)
        if st is None or st == "fail":
            rep.bad("phantom", {"id": i, "key": key, "where": where, "enqueue": st})
        elif i in id_key and id_key[i] != key:
            rep.bad("phantom", {"id": i, "key": key, "where": where, "enqueued_key": id_key[i]})
    seen = set()
    for L in leases.values():
        if L["id"] not in seen:
            seen.add(L["id"])
            phantom_check(L["id"], L["key"], "claim")
    for r in list(final_tasks.values()) + list(final_results.values()):
        phantom_check(r["id"], r["key"], r["kind"])

    # ---- double ack
    accepted_acks = collections.Counter(
        o.field("id") for o in ops if o.op == "ack" and o.type == "ok" and o.done.get("res") is True)
    for i, n in accepted_acks.items():
        if n > 1:
            rep.bad("double_ack", {"id": i, "accepted": n})

    # ---- stale leases and overlapping leases
    def end_of(L):
        """(end, certain): when the lease stopped being valid. Not certain when an ack / nack /
        release on it has no known answer (it may have ended it earlier)."""
        valid_until = L["visible"]
        certain = True
        for o in L["ops"]:
            res = o.done.get("res") if o.done else None
            if o.type == "ok" and ACCEPTED[o.op](res):
                if o.op == "extend":
                    valid_until = max(valid_until, o.done["visible"])
                else:
                    return o.done["t"], True
            elif o.type != "ok" and o.op != "extend":
                certain = False
        return valid_until, certain

    def last_certain_valid(L):
        t = L["start"]
        for o in L["ops"]:
            if o.type == "ok" and ACCEPTED[o.op](o.done.get("res")):
                t = max(t, o.done["t"])
        return t

    for i, ls in claims_of.items():
        ls.sort(key=lambda L: L["start"])
        for a, b in zip(ls, ls[1:]):
            end, certain = end_of(a)
            if b["start"] + EPS < (end if certain else last_certain_valid(a)):
                rep.bad("lease_overlap", {"id": i, "first": [a["start"], end], "second": b["start"]})
        for a in ls:
            for o in a["ops"]:
                if o.type != "ok" or not ACCEPTED[o.op](o.done.get("res")):
                    continue
                t = o.done["t"]
                for b in ls:
                    if b is not a and a["start"] < b["start"] < t - EPS:
                        rep.bad("stale_accepted", {"id": i, "op": o.op, "at": t,
                                                   "newer_claim": b["start"]})

    # ---- DLQ membership
    for i, ls in claims_of.items():
        for L in ls:
            if L["attempts"] > L["max"]:
                rep.bad("dlq_mismatch", {"id": i, "why": "delivery past max_attempts",
                                         "attempts": L["attempts"], "max": L["max"]})
            for o in L["ops"]:
                if o.op == "nack" and o.type == "ok":
                    res = o.done.get("res")
                    want = "dlq" if L["attempts"] >= L["max"] else "retry"
                    if res in ("dlq", "retry") and res != want:
                        rep.bad("dlq_mismatch", {"id": i, "why": "nack answered " + res,
                                                 "attempts": L["attempts"], "max": L["max"]})
                    if res == "dlq" and not (final_tasks.get(i) or {}).get("dlq"):
                        rep.bad("dlq_mismatch", {"id": i, "why": "nack said dlq, not in the DLQ"})
    in_dlq = 0
    for i, t in final_tasks.items():
        if t.get("dlq"):
            in_dlq += 1
            if t["attempts"] < t["max_attempts"]:
                rep.bad("dlq_mismatch", {"id": i, "why": "in the DLQ before max_attempts",
                                         "attempts": t["attempts"], "max": t["max_attempts"],
                                         "reason": t.get("dlq_reason")})
            recorded = len(claims_of.get(i, [])) - sum(
                1 for L in claims_of.get(i, []) for o in L["ops"]
                if o.op == "release" and o.type == "ok" and o.done.get("res") is True)
            if recorded > t["attempts"]:
                rep.bad("dlq_mismatch", {"id": i, "why": "more deliveries than attempts",
                                         "recorded": recorded, "attempts": t["attempts"]})
    for i, r in final_results.items():
        if r["attempts"] > r["max_attempts"]:
            rep.bad("dlq_mismatch", {"id": i, "why": "acked after max_attempts deliveries"})
    rep.fig("final_acked", len(final_results))
    rep.fig("final_dlq", in_dlq)
    rep.fig("final_left_in_queue", sum(1 for t in final_tasks.values() if not t.get("dlq")))

    # ---- FIFO groups
    if fifo:
        groups = collections.defaultdict(list)
        for L in leases.values():
            if L["group"] is not None:
                groups[L["group"]].append(L)
        for g, ls in groups.items():
            ls.sort(key=lambda L: L["start"])
            # in flight: each lease must end before the next lease of another task starts
            for idx, a in enumerate(ls):
                end, certain = end_of(a)
                limit = end if certain else last_certain_valid(a)
                for b in ls[idx + 1:]:
                    if b["start"] + EPS >= limit:
                        break
                    if b["id"] != a["id"]:
                        rep.bad("fifo_overlap", {"group": g, "a": a["id"], "b": b["id"],
                                                 "a_until": limit, "b_start": b["start"]})
            first = {}
            for L in ls:
                first.setdefault(L["id"], L["start"])
            order = sorted(first.items(), key=lambda kv: kv[1])
            for (ia, ta), (ib, tb) in zip(order, order[1:]):
                if ib < ia:
                    rep.bad("fifo_order", {"group": g, "claimed_first": ia, "then": ib})
        rep.fig("fifo_groups", len(groups))

    # ---- cron ticks
    if cron:
        per_key = collections.Counter()
        per_tick = collections.Counter()
        for r in list(final_tasks.values()) + list(final_results.values()):
            k = str(r["key"])
            if k.startswith(TICK_PREFIX):
                per_key[k] += 1
                tick = tick_of(k)
                if tick:
                    per_tick[tick] += 1
        for k, n in per_key.items():
            if n > 1:
                rep.bad("duplicate_ticks", {"key": k, "tasks": n})
        for t in ticks:
            if per_tick.get((t["op"], round(t["epoch"], 4)), 0) == 0:
                rep.bad("missing_ticks", t)
        rep.fig("ticks_checked", len(ticks))
        rep.fig("tick_tasks", sum(per_key.values()))
        rep.fig("schedules_seen", len({k.split("@")[0] for k in per_key}))

    # ---- reconnect: for each time the server accepted connections again, the slowest
    # process's first successful operation after it.
    if outages:
        worst = 0.0
        # (process, part) -> sorted wall times of its ok answers. A process is one part,
        # except the library's Worker (its handler runs) and Enqueuer, which reconnect each
        # on their own inside one libworker process.
        firsts = collections.defaultdict(list)
        for o in ops:
            if o.type == "ok" and o.done is not None:
                firsts[(o.p, "worker" if o.op == "handle" else "any")].append(o.done["wall"])
        for v in firsts.values():
            v.sort()
        per_outage = []
        slowest = []
        import bisect
        for out in outages:
            acc = out["accepting"]
            lag, who = 0.0, None
            for p, v in firsts.items():
                j = bisect.bisect_right(v, acc)
                # only processes working before and after the outage
                if j < len(v) and j > 0 and v[-1] > acc and v[j] - acc > lag:
                    lag, who = v[j] - acc, "%s %s" % p
            per_outage.append(round(lag, 3))
            slowest.append(who)
            worst = max(worst, lag)
        rep.fig("outages", len(outages))
        rep.fig("reconnect_max_s", round(worst, 3))
        rep.fig("reconnect_per_outage_s", per_outage)
        rep.fig("reconnect_slowest", slowest)
    return rep


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--fifo", action="store_true")
    ap.add_argument("--cron", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    rep = check(a.dir, fifo=a.fifo, cron=a.cron)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"figures": rep.figures, "violations": rep.violations,
                       "examples": rep.examples}, f, indent=1)
    if not a.quiet:
        print("  figures: " + ", ".join("%s %s" % kv for kv in rep.figures.items()))
        print("  invariants: " + ", ".join("%s %d" % kv for kv in rep.violations.items()))
        for k, ex in rep.examples.items():
            for e in ex:
                print("  VIOLATION %s: %s" % (k, json.dumps(e)))
    sys.exit(1 if any(rep.violations.values()) else 0)


if __name__ == "__main__":
    main()
