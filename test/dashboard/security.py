#!/usr/bin/env python3
"""The dashboard's access rules over plain HTTP (no browser): security.py URL TOKEN_FILE RO_URL

URL is a dashboard started with an access token, RO_URL one started without. Each check
prints "ok N - ..." (TAP-like); the first failure raises."""
import http.client
import json
import sys
import urllib.parse

URL, TOKEN_FILE, RO_URL = sys.argv[1], sys.argv[2], sys.argv[3]
TOKEN = open(TOKEN_FILE).read().strip()
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
expect(200, r, "GET / answers")
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
expect(400, req(URL, path="/api/results?after=not-a-time"), "a bad filter is a 400, not a 500")
r = req(URL, path="/metrics")
expect(200, r, "GET /metrics answers")
assert "# TYPE taskmill_queue_tasks gauge" in r[2], r[2][:500]
ok("/metrics has the per-queue task gauges")

r = req(RO_URL, path="/api/session")
assert json.loads(r[2])["read_only"] is True
ok("a dashboard started without a token says it is read-only")
ro_origin = RO_URL.rstrip("/")
expect(403, req(RO_URL, "POST", "/api/login", json.dumps({"token": TOKEN}),
                {"Content-Type": "application/json", "Origin": ro_origin}), "a read-only dashboard has no login")
expect(403, req(RO_URL, "POST", "/api/dlq/purge", json.dumps({"queue": "x", "confirm": "x"}),
                {"Content-Type": "application/json", "Origin": ro_origin, "Authorization": "Bearer " + TOKEN}),
       "a read-only dashboard refuses every action")
print(f"1..{n}")
