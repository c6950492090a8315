#!/usr/bin/env python3
"""The checker's own test: a clean hand-written history passes, and each doctored copy is
caught as exactly the violation it was doctored into (python3 test/chaos/test_check.py)."""
import copy
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402

L1, L2, L3, L4, L5, L6 = ("00000000-0000-0000-0000-00000000000%d" % i for i in range(1, 7))


def op(p, seq, name, typ, wall, **f):
    return dict(p=p, seq=seq, op=name, type=typ, wall=wall, **f)


def claim(p, seq, t, tasks):
    return [op(p, seq, "claim", "invoke", t), op(p, seq, "claim", "ok", t, t=t, tasks=tasks)]


def task(i, lease, t_vis, attempts=1, max_attempts=3, group=None):
    d = dict(id=i, key="k-%d" % i, lease=lease, attempts=attempts, max_attempts=max_attempts,
             visible=t_vis)
    if group:
        d["group"] = group
    return d


def lease_op(p, seq, name, t, i, lease, res, **f):
    return [op(p, seq, name, "invoke", t, id=i, key="k-%d" % i, lease=lease),
            op(p, seq, name, "ok", t, id=i, key="k-%d" % i, lease=lease, res=res, t=t, **f)]


def clean():
    """Tasks 1 and 2 in FIFO group g (1 acked after an extend; 2 nacked once, then acked),
    3 dead-lettered on its only attempt, 4 redelivered after its first worker died, whose
    late ack was refused. Plus two cron ticks of schedule s00, one forced, one real."""
    prod = []
    for i, (g, m) in enumerate([("g", 3), ("g", 3), (None, 1), (None, 3)], start=1):
        rec = dict(key="k-%d" % i, max_attempts=m)
        if g:
            rec["group"] = g
        prod += [op("p0", i, "enqueue", "invoke", 1.0 + i, **rec),
                 op("p0", i, "enqueue", "ok", 1.1 + i, id=i, t=1.1 + i, **rec)]
    w0 = []
    w0 += claim("w0", 1, 10.0, [task(1, L1, 12.0, group="g"), task(4, L5, 12.0)])
    w0 += lease_op("w0", 2, "extend", 11.0, 1, L1, True, visible=13.0)
    w0 += lease_op("w0", 3, "ack", 11.5, 1, L1, True)
    # w0 dies here with L5 (task 4) claimed; w1 takes over
    w1 = []
    w1 += claim("w1", 1, 12.0, [task(2, L2, 14.0, group="g")])
    w1 += lease_op("w1", 2, "nack", 12.5, 2, L2, "retry")
    w1 += claim("w1", 3, 12.6, [task(4, L6, 14.6, attempts=2)])
    w1 += lease_op("w1", 4, "ack", 12.9, 4, L6, True)
    w1 += claim("w1", 5, 13.0, [task(2, L3, 15.0, attempts=2, group="g"),
                                task(3, L4, 15.0, attempts=1, max_attempts=1)])
    w1 += lease_op("w1", 6, "ack", 13.5, 2, L3, True)
    w1 += lease_op("w1", 7, "nack", 14.0, 3, L4, "dlq")
    # w0 resumed (it was only stopped): its late ack of task 4 is refused
    w0 += lease_op("w0", 4, "ack", 14.2, 4, L5, False)
    final = [dict(kind="result", id=1, key="k-1", group="g", attempts=1, max_attempts=3),
             dict(kind="result", id=2, key="k-2", group="g", attempts=2, max_attempts=3),
             dict(kind="result", id=4, key="k-4", group=None, attempts=2, max_attempts=3),
             dict(kind="task", id=3, key="k-3", group=None, attempts=1, max_attempts=1, dlq=True,
                  dlq_reason="boom"),
             dict(kind="result", id=5, key="taskmill-schedule:s00@2026-11-25T06:30:00.250000Z", group=None,
                  attempts=1, max_attempts=3),
             dict(kind="result", id=6, key="taskmill-schedule:s00@2026-11-25T06:31:00Z", group=None,
                  attempts=1, max_attempts=3)]
    ticks = [dict(op="s00", epoch=1795588200.25), dict(op="s00", epoch=1795588260.0, real=True)]
    return dict(hist={"p0.jsonl": prod, "w0.jsonl": w0, "w1.jsonl": w1}, final=final, ticks=ticks)


def run(h, fifo=True, cron=True):
    with tempfile.TemporaryDirectory() as d:
        for name, lines in h["hist"].items():
            with open(os.path.join(d, name), "w") as f:
                for r in lines:
                    f.write(json.dumps(r) + "\n")
        for name in ("final", "ticks"):
            with open(os.path.join(d, name + ".jsonl"), "w") as f:
                for r in h[name]:
                    f.write(json.dumps(r) + "\n")
        if "outages" in h:
            with open(os.path.join(d, "outages.jsonl"), "w") as f:
                for r in h["outages"]:
                    f.write(json.dumps(r) + "\n")
        return check.check(d, fifo=fifo, cron=cron)


def find(lines, **match):
    for r in lines:
        if all(r.get(k) == v for k, v in match.items()):
            return r
    raise KeyError(match)


class CheckerTest(unittest.TestCase):
    def assertOnly(self, rep, kind, also=()):
        bad = {k: v for k, v in rep.violations.items() if v}
        self.assertIn(kind, bad, "expected a %s violation, got %s" % (kind, bad))
        self.assertEqual(sorted(set(bad) - set(also)), [kind],
                         "only %s expected: %s" % (kind, dict(rep.examples)))

    def test_clean_history_passes(self):
        rep = run(clean())
        self.assertEqual({k: v for k, v in rep.violations.items() if v}, {})
        self.assertEqual(rep.figures["enqueue_ok"], 4)
        self.assertEqual(rep.figures["ack_refused"], 1)
        self.assertEqual(rep.figures["final_dlq"], 1)

    def test_lost_enqueued_task(self):
        h = clean()
        h["final"] = [r for r in h["final"] if r["id"] != 2]
        self.assertOnly(run(h), "lost")

    def test_lost_task_left_in_queue(self):
        h = clean()
        r = find(h["final"], id=3)
        r["dlq"] = False
        r["attempts"] = 1
        rep = run(h)
        self.assertGreater(rep.violations["lost"], 0)

    def test_phantom_task_never_enqueued(self):
        h = clean()
        h["final"].append(dict(kind="result", id=9, key="x-9", group=None, attempts=1, max_attempts=3))
        self.assertOnly(run(h), "phantom")

    def test_phantom_task_whose_enqueue_failed(self):
        h = clean()
        e = find(h["hist"]["p0.jsonl"], seq=4, type="ok")
        e["type"] = "fail"
        self.assertOnly(run(h), "phantom")

    def test_phantom_tick(self):
        h = clean()
        h["final"].append(dict(kind="result", id=7, key="taskmill-schedule:s00@2026-11-25T06:30:10.5Z",
                               group=None, attempts=1, max_attempts=3))
        self.assertOnly(run(h), "phantom")

    def test_double_ack(self):
        h = clean()
        h["hist"]["w1.jsonl"] += lease_op("w1", 8, "ack", 13.6, 2, L3, True)
        self.assertOnly(run(h), "double_ack")

    def test_stale_ack_accepted(self):
        h = clean()
        r = find(h["hist"]["w0.jsonl"], seq=4, type="ok")
        r["res"] = True
        rep = run(h)
        self.assertGreater(rep.violations["stale_accepted"], 0)

    def test_stale_nack_accepted(self):
        h = clean()
        h["hist"]["w0.jsonl"] += lease_op("w0", 5, "nack", 14.3, 4, L5, "retry")
        # (an accepted operation on the old lease also makes the two leases overlap)
        self.assertOnly(run(h), "stale_accepted", also=("lease_overlap",))

    def test_stale_extend_accepted(self):
        h = clean()
        h["hist"]["w0.jsonl"] += lease_op("w0", 5, "extend", 14.3, 4, L5, True, visible=16.3)
        self.assertOnly(run(h), "stale_accepted", also=("lease_overlap",))

    def test_overlapping_leases(self):
        h = clean()
        c = find(h["hist"]["w1.jsonl"], seq=3, type="ok")
        c["t"] = 11.0  # task 4 handed out again while L5 was valid until 12.0
        self.assertOnly(run(h), "lease_overlap")

    def test_unknown_end_is_not_an_overlap(self):
        h = clean()
        # an ack of L1 with no answer: L1 may have ended then, so a claim after its last
        # certainly-valid moment is no proof of overlap
        h["hist"]["w0.jsonl"] = [r for r in h["hist"]["w0.jsonl"] if not (r["seq"] == 3 and r["type"] == "ok")]
        h["hist"]["w0.jsonl"] += lease_op("w0", 6, "extend", 11.2, 1, L1, True, visible=13.2)
        rep = run(h)
        self.assertEqual(rep.violations["lease_overlap"], 0)
        self.assertEqual(rep.violations["fifo_overlap"], 0)

    def test_fifo_two_in_flight(self):
        h = clean()
        c = find(h["hist"]["w1.jsonl"], seq=1, type="ok")
        c["t"] = 11.2  # task 2 of group g handed out while task 1 was in flight (until 11.5)
        self.assertOnly(run(h), "fifo_overlap")

    def test_fifo_order(self):
        h = clean()
        c = find(h["hist"]["w1.jsonl"], seq=1, type="ok")
        c["t"] = 8.0
        n = find(h["hist"]["w1.jsonl"], seq=2, type="ok")
        n["t"] = 8.5  # task 2 claimed and failed before task 1 was ever claimed
        self.assertOnly(run(h), "fifo_order")

    def test_dlq_before_max_attempts(self):
        h = clean()
        r = find(h["final"], id=3)
        r["max_attempts"] = 3
        self.assertOnly(run(h), "dlq_mismatch")

    def test_nack_answer_against_attempts(self):
        h = clean()
        n = find(h["hist"]["w1.jsonl"], seq=2, type="ok")
        n["res"] = "dlq"  # on attempt 1 of 3
        self.assertOnly(run(h), "dlq_mismatch")

    def test_delivery_past_max_attempts(self):
        h = clean()
        c = find(h["hist"]["w1.jsonl"], seq=5, type="ok")
        c["tasks"][1]["attempts"] = 2
        self.assertOnly(run(h), "dlq_mismatch")

    def test_duplicate_tick(self):
        h = clean()
        h["final"].append(dict(kind="task", id=8, key="taskmill-schedule:s00@2026-11-25T06:31:00Z",
                               group=None, attempts=0, max_attempts=3, dlq=False))
        self.assertIn("duplicate_ticks", {k for k, v in run(h).violations.items() if v})

    def test_missing_tick(self):
        h = clean()
        h["ticks"].append(dict(op="s00", epoch=1795588320.0, real=True))
        self.assertOnly(run(h), "missing_ticks")

    def test_reconnect_figure(self):
        h = clean()
        # the server accepted again at 12.3: w1 answered again at 12.5, w0 (ok at 11.5, stopped
        # meanwhile) only at 14.2: the slowest process counts
        h["outages"] = [dict(accepting=12.3)]
        rep = run(h)
        self.assertAlmostEqual(rep.figures["reconnect_max_s"], 1.9, places=3)
        self.assertEqual(rep.figures["reconnect_slowest"], ["w0 any"])

    def test_torn_and_incomplete_lines(self):
        h = clean()
        # a claim invoked by a process killed before the answer: not an error
        h["hist"]["w0.jsonl"].append(op("w0", 9, "claim", "invoke", 20.0))
        rep = run(h)
        self.assertEqual({k: v for k, v in rep.violations.items() if v}, {})


if __name__ == "__main__":
    unittest.main(verbosity=1)
