#!/usr/bin/env python3
"""The dashboard's access rules over plain HTTP (no browser):

  security.py URL TOKEN_FILE RO_URL RO_LOG REDACT_URL

URL is a dashboard started with an access token, RO_URL one started without (its log in
RO_LOG), REDACT_URL one with the same token and --redact-payloads --metrics-public. The
database holds dead letters with error texts, results and schedules (dashboard.sh). $TASKMILL
is the CLI, used to check that a dashboard without a token refuses a non-loopback address.
Each check prints "ok N - ..." (TAP-like); the first failure raises."""
import http.client
import json
import os
import subprocess
import sys
import urllib.parse

URL, TOKEN_FILE, RO_URL, RO_LOG, REDACT_URL = sys.argv[1:6]
TOKEN = open(TOKEN_FILE).read().strip()
BEARER = {"Authorization": "Bearer " + TOKEN}
# Everything the page reads, and /metrics: none of it without the token or a session.
READS = ["/api/overview", "/api/dlq", "/api/dlq?queue=emails&limit=5", "/api/results",
         "/api/schedules", "/api/health", "/metrics"]
n = 0


def ok(what):
    global n
    n += 1
    print(f"ok {n} - {what}", flush=True)


def req(url, method="GET", path="/", body=None, headers=None, host=None):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    h = {"Host": host or u.netloc}
    h.update(headers or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read().decode()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data


def expect(status, got, what):
    assert got[0] == status, f"{what}: status {got[0]} (want {status}): {got[2][:300]}"
    ok(what)


origin = URL.rstrip("/")
js = {"Content-Type": "application/json", "Origin": origin}
ids = json.dumps({"ids": [999999999]})

r = req(URL)
expect(200, r, "GET / answers without the token (the page's shell: no data in it)")
for path in ["/app.js", "/app.css", "/favicon.svg"]:
    expect(200, req(URL, path=path), f"GET {path} answers without the token")
r = req(URL, path="/api/session")
expect(200, r, "GET /api/session answers without the token")
assert json.loads(r[2]) == {"read_only": False, "signed_in": False, "csrf": None, "redact_payloads": False}, r[2]
ok("/api/session says: a token is needed, not signed in")
for path in READS + ["/api/no-such-thing"]:
    r = req(URL, path=path)
    expect(401, r, f"GET {path} without the token is refused")
    assert r[1].get("www-authenticate", "").startswith("Bearer"), r[1]
    assert "mailbox" not in r[2] and "emails" not in r[2], r[2][:300]
    expect(401, req(URL, path=path, headers={"Authorization": "Bearer " + "x" * 32}),
           f"GET {path} with a wrong bearer token is refused")
    expect(401, req(URL, path=path, headers={"Cookie": "taskmill_session=" + "0" * 64}),
           f"GET {path} with a made-up session cookie is refused")
    if path in READS:
        expect(200, req(URL, path=path, headers=BEARER), f"GET {path} with the bearer token answers")
expect(404, req(URL, path="/api/no-such-thing", headers=BEARER), "an unknown path is a 404 only with the token")
r = req(URL, path="/api/dlq?queue=emails", headers=BEARER)
assert "mailbox user" in r[2], r[2][:500]
ok("with the token, the DLQ shows the payloads and errors")
assert "script-src 'self'" in r[1].get("content-security-policy", ""), "no CSP"
assert r[1].get("x-frame-options") == "DENY"
ok("the page has a Content-Security-Policy and refuses framing")
expect(421, req(URL, host="attacker.example:80"), "a foreign Host header is refused (DNS rebinding)")
expect(403, req(URL, "POST", "/api/dlq/requeue", ids, js), "an action without session or token is refused")
expect(403, req(URL, "POST", "/api/dlq/requeue", ids, {**js, "Authorization": "Bearer nope"}),
       "a wrong bearer token is refused")
expect(403, req(URL, "POST", "/api/dlq/requeue", ids,
                {**js, "Origin": "http://attacker.example", "Authorization": "Bearer " + TOKEN}),
       "an action from another Origin is refused even with the token")
expect(403, req(URL, "POST", "/api/dlq/requeue", ids,
                {"Content-Type": "text/plain", "Authorization": "Bearer " + TOKEN}),
       "an action with a non-JSON body (a plain form post) is refused")
expect(409, req(URL, "POST", "/api/dlq/requeue", ids, {"Content-Type": "application/json",
                                                        "Authorization": "Bearer " + TOKEN}),
       "a script with the bearer token reaches the action (task not found: 409)")
expect(403, req(URL, "POST", "/api/login", json.dumps({"token": TOKEN}),
                {**js, "Origin": "http://attacker.example"}), "a login from another Origin is refused")
expect(403, req(URL, "POST", "/api/login", json.dumps({"token": "x" * 20}), js), "a wrong token does not log in")
r = req(URL, "POST", "/api/login", json.dumps({"token": TOKEN}), js)
expect(200, r, "the right token logs in")
cookie = r[1]["set-cookie"]
assert "HttpOnly" in cookie and "SameSite=Strict" in cookie, cookie
ok("the session cookie is HttpOnly and SameSite=Strict")
session = cookie.split(";")[0]
csrf = json.loads(r[2])["csrf"]
for path in READS:
    expect(200, req(URL, path=path, headers={"Cookie": session}), f"GET {path} with the session answers")
expect(403, req(URL, "POST", "/api/dlq/requeue", ids, {**js, "Cookie": session}),
       "a session without its CSRF token is refused")
expect(403, req(URL, "POST", "/api/dlq/requeue", ids, {**js, "Cookie": session, "X-CSRF-Token": "0" * 64}),
       "a wrong CSRF token is refused")
expect(403, req(URL, "POST", "/api/dlq/requeue", ids, {"Content-Type": "application/json", "Cookie": session,
                                                        "X-CSRF-Token": csrf}),
       "a session action without Origin is refused")
expect(409, req(URL, "POST", "/api/dlq/requeue", ids, {**js, "Cookie": session, "X-CSRF-Token": csrf}),
       "session + CSRF token + same Origin reach the action")
expect(400, req(URL, "POST", "/api/dlq/purge", json.dumps({"queue": "x", "confirm": "y"}),
                {**js, "Cookie": session, "X-CSRF-Token": csrf}), "a purge whose confirmation differs is refused")
expect(400, req(URL, path="/api/results?after=not-a-time", headers=BEARER), "a bad filter is a 400, not a 500")
r = req(URL, path="/metrics", headers=BEARER)
expect(200, r, "GET /metrics answers with the token")
assert "# TYPE taskmill_queue_tasks gauge" in r[2], r[2][:500]
ok("/metrics has the per-queue task gauges")
r = req(URL, "POST", "/api/logout", "{}", {**js, "Cookie": session})
expect(200, r, "logout")
expect(401, req(URL, path="/api/overview", headers={"Cookie": session}), "a session ended by logout reads nothing")

r = req(RO_URL, path="/api/session")
assert json.loads(r[2])["read_only"] is True
ok("a dashboard started without a token says it is read-only")
for path in READS:
    expect(200, req(RO_URL, path=path), f"GET {path} of a dashboard without a token answers (loopback only)")
log = open(RO_LOG).read()
assert "anyone on this host can read every queue" in log, log
ok("a dashboard without a token says in its log that anyone on this host can read every queue")
TASKMILL = os.environ["TASKMILL"]
env = {k: v for k, v in os.environ.items() if k != "TASKMILL_DASHBOARD_TOKEN"}
for listen in ["0.0.0.0:0", "[::]:0", "192.0.2.1:8080", "example.com:8080"]:
    try:
        p = subprocess.run([TASKMILL, "dashboard", "--listen", listen], env=env, capture_output=True,
                           text=True, timeout=20)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"a dashboard without a token started on {listen}")
    assert p.returncode == 2, (listen, p.returncode, p.stderr)
    assert "loopback only" in p.stderr and "--token-file" in p.stderr, p.stderr
    ok(f"without a token, --listen {listen} is refused (exit 2, says why)")
ro_origin = RO_URL.rstrip("/")
expect(403, req(RO_URL, "POST", "/api/login", json.dumps({"token": TOKEN}),
                {"Content-Type": "application/json", "Origin": ro_origin}), "a read-only dashboard has no login")
expect(403, req(RO_URL, "POST", "/api/dlq/purge", json.dumps({"queue": "x", "confirm": "x"}),
                {"Content-Type": "application/json", "Origin": ro_origin, "Authorization": "Bearer " + TOKEN}),
       "a read-only dashboard refuses every action")

# --redact-payloads --metrics-public, with the same token.
r = req(REDACT_URL, path="/metrics")
expect(200, r, "--metrics-public: /metrics answers without the token")
assert "# TYPE taskmill_queue_tasks gauge" in r[2], r[2][:500]
expect(401, req(REDACT_URL, path="/api/overview"), "--metrics-public: the API still needs the token")
r = req(REDACT_URL, path="/api/session")
assert json.loads(r[2])["redact_payloads"] is True, r[2]
ok("/api/session says the payloads are redacted")
dlq = json.loads(req(REDACT_URL, path="/api/dlq?limit=500", headers=BEARER)[2])["rows"]
results = json.loads(req(REDACT_URL, path="/api/results?limit=500", headers=BEARER)[2])["rows"]
schedules = json.loads(req(REDACT_URL, path="/api/schedules", headers=BEARER)[2])
assert dlq and results and schedules, (len(dlq), len(results), len(schedules))
fixed = {"expired", "visibility timeout expired on the last attempt", "max attempts reached"}
for t in dlq:
    assert t["payload"] is None and t["last_error"] is None, t
    assert t["reason"] is None or t["reason"] in fixed, t
    assert t["queue"] and t["id"] and t["operation"], t
for t in results:
    assert t["payload"] is None and t["result"] is None, t
for t in schedules:
    assert t["payload"] is None and t["last_error"] is None, t
ok(f"--redact-payloads: no payload, result or error text in {len(dlq)} DLQ rows, "
   f"{len(results)} results, {len(schedules)} schedules")
unredacted = json.loads(req(URL, path="/api/dlq?limit=500", headers=BEARER)[2])["rows"]
assert any(t["payload"] is not None and t["last_error"] for t in unredacted), unredacted[:2]
ok("the same rows without --redact-payloads carry payloads and errors")
print(f"1..{n}")
