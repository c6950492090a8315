#!/usr/bin/env python3
"""End-to-end test of `taskmill dashboard` in a real headless Chromium (Debian's chromium +
chromium-driver, driven by python3-selenium).

  e2e.py URL TOKEN_FILE SHOT_DIR

The caller (test/suites/dashboard.sh) started the dashboard with an access token, and one
without ($E2E_RO_URL), put tasks on a few queues and one known task in the dead-letter queue
(its id in $E2E_DLQ_ID, its queue in $E2E_DLQ_QUEUE), and exports the PG* variables and
$TASKMILL (the CLI binary) so this script can enqueue. Checks, each printed as "ok - ..."
(TAP-like):
  the dashboard without a token shows its data under a banner saying anyone on this host
  can read every queue, with actions locked; the dashboard with a token shows nothing but
  a sign-in card until the token is given (a wrong one is refused); then the page loads with
  live data; a task enqueued now appears in the queues table; a DLQ task is requeued through
  the confirmation dialog and leaves the list; a purge needs the queue's name typed;
  each page is captured to SHOT_DIR/dashboard-PAGE.png.
"""
import os
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

URL, TOKEN_FILE, SHOT_DIR = sys.argv[1], sys.argv[2], sys.argv[3]
TASKMILL = os.environ["TASKMILL"]
DLQ_ID = os.environ["E2E_DLQ_ID"]
DLQ_QUEUE = os.environ["E2E_DLQ_QUEUE"]
PURGE_QUEUE = os.environ["E2E_PURGE_QUEUE"]
RO_URL = os.environ["E2E_RO_URL"]
REDACT_URL = os.environ["E2E_REDACT_URL"]
FRESH = "signups"  # a queue that has no task before the test enqueues one
passed = 0


def ok(what):
    global passed
    passed += 1
    print(f"ok {passed} - {what}", flush=True)


# The page re-renders its tables at every poll: an element found a moment ago may be gone.
TRANSIENT = (StaleElementReferenceException, NoSuchElementException, IndexError)


def wait(driver, cond, what, timeout=20):
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2,
                             ignored_exceptions=TRANSIENT).until(cond)
    except Exception:
        print(f"not ok - {what}", flush=True)
        print("# page text:\n" + driver.find_element(By.TAG_NAME, "body").text[:3000], flush=True)
        for entry in driver.get_log("browser"):
            print("# console:", entry, flush=True)
        raise


def retry(fn, what, tries=25):
    """Runs fn (find an element and act on it) again when a re-render replaced the element."""
    for i in range(tries):
        try:
            return fn()
        except TRANSIENT:
            if i == tries - 1:
                print(f"not ok - {what}", flush=True)
                raise
            time.sleep(0.2)


def taskmill(*args):
    return subprocess.run([TASKMILL, *args], check=True, capture_output=True, text=True).stdout


def page(driver, name, url=URL):
    driver.get(url + "#/" + name)
    wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == name,
         f"page {name} loads")


def shot(driver, name):
    # A stable frame: no toasts left over from earlier steps; the next poll rendered.
    driver.execute_script("document.getElementById('toasts').replaceChildren()")
    time.sleep(0.3)
    path = os.path.join(SHOT_DIR, f"dashboard-{name}.png")
    driver.save_screenshot(path)
    ok(f"screenshot {path}")


def row(driver, table_id, data_id):
    return driver.find_elements(By.CSS_SELECTOR, f'#{table_id} tr[data-id="{data_id}"]')


def main():
    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="taskmill-chromium-")
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1440,960",
              "--force-device-scale-factor=1", "--lang=en-US", "--force-prefers-reduced-motion"]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        # 0. Without a token: the data, under a banner that says who can read it; no actions.
        page(driver, "dlq", RO_URL)
        banner = driver.find_element(By.ID, "open-banner")
        assert banner.is_displayed(), "no banner on a dashboard without a token"
        assert "anyone on this host can read every queue" in banner.text, banner.text
        ok("a dashboard without a token says on the page that anyone on this host can read every queue")
        wait(driver, lambda d: row(d, "dlq-table", DLQ_ID), "dead-lettered task listed (no token)")
        assert not retry(lambda: row(driver, "dlq-table", DLQ_ID)[0].find_element(
            By.CSS_SELECTOR, "button[data-requeue]").is_enabled(), "requeue button"), \
            "requeue is enabled without a token"
        assert driver.find_element(By.ID, "mode").text == "Read-only"
        ok("without a token the DLQ is listed read-only: requeue locked")
        shot(driver, "open-banner")

        # 1. With a token: nothing but the sign-in card until the token is given.
        driver.get(URL + "#/queues")
        wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == "signin",
             "sign-in card")
        assert driver.find_element(By.ID, "page-signin").is_displayed()
        assert not driver.find_element(By.ID, "page-queues").is_displayed()
        assert not driver.find_element(By.ID, "open-banner").is_displayed()
        assert driver.find_element(By.ID, "mode").text == "Signed out"
        assert not driver.find_elements(By.CSS_SELECTOR, "#queues-table tr"), "queue rows before sign-in"
        assert DLQ_QUEUE not in driver.find_element(By.TAG_NAME, "body").text
        ok("with a token, the page shows no queue before sign-in")
        shot(driver, "signin")
        token = open(TOKEN_FILE).read().strip()
        driver.find_element(By.ID, "signin").click()
        wait(driver, EC.visibility_of_element_located((By.ID, "token-input")), "token dialog")
        driver.find_element(By.ID, "token-input").send_keys("wrong-token-wrong-token")
        driver.find_element(By.ID, "dialog-ok").click()
        wait(driver, lambda d: "wrong access token" in d.find_element(By.ID, "toasts").text,
             "a wrong token is refused")
        assert driver.find_element(By.ID, "page-signin").is_displayed()
        ok("a wrong token is refused, and the page stays signed out")
        driver.find_element(By.ID, "unlock").click()
        wait(driver, EC.visibility_of_element_located((By.ID, "token-input")), "token dialog")
        driver.find_element(By.ID, "token-input").send_keys(token)
        driver.find_element(By.ID, "dialog-ok").click()
        wait(driver, lambda d: d.find_element(By.ID, "mode").text == "Signed in", "signed in")
        wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == "queues",
             "queues page after sign-in")
        ok("the token signs in")

        # The page loads and shows the sampled queues.
        wait(driver, lambda d: "Live" in d.find_element(By.ID, "live").text, "live indicator")
        ok("queues page loads with live data")
        assert not row(driver, "queues-table", FRESH), "the fresh queue exists before it was enqueued"

        # 2. A task enqueued now appears (the sampler runs every interval, the page polls).
        taskmill("enqueue", FRESH, "echo", '{"hello": "dashboard"}')
        wait(driver, lambda d: row(d, "queues-table", FRESH), "enqueued task's queue appears")
        wait(driver, lambda d: row(d, "queues-table", FRESH)[0].find_elements(By.TAG_NAME, "td")[1].text == "1",
             f"available of {FRESH} is 1")
        ok("a task enqueued from the CLI appears in the queues table with available = 1")
        shot(driver, "queues")

        # 3. The DLQ lists the dead-lettered task, actions enabled (signed in: session
        # cookie + CSRF token).
        page(driver, "dlq")
        wait(driver, lambda d: row(d, "dlq-table", DLQ_ID), "dead-lettered task listed")
        ok("the DLQ lists the dead-lettered task")

        # Select the task for the screenshot, then requeue it through its row's button.
        wait(driver, lambda d: row(d, "dlq-table", DLQ_ID)[0].find_element(
            By.CSS_SELECTOR, "button[data-requeue]").is_enabled(), "requeue enabled")
        retry(lambda: row(driver, "dlq-table", DLQ_ID)[0].find_element(
            By.CSS_SELECTOR, "input[type=checkbox]").click(), "select the task")
        wait(driver, lambda d: "Requeue 1 selected" in d.find_element(By.ID, "dlq-requeue").text,
             "selection kept across re-renders")
        shot(driver, "dlq")
        retry(lambda: row(driver, "dlq-table", DLQ_ID)[0].find_element(
            By.CSS_SELECTOR, "button[data-requeue]").click(), "click requeue")
        wait(driver, EC.visibility_of_element_located((By.ID, "dialog-ok")), "confirmation dialog")
        assert "Requeue task #" + DLQ_ID in driver.find_element(By.ID, "dialog-title").text
        shot(driver, "dlq-confirm")
        driver.find_element(By.ID, "dialog-ok").click()
        wait(driver, lambda d: not row(d, "dlq-table", DLQ_ID), "requeued task leaves the DLQ list")
        ok(f"task {DLQ_ID} requeued through the confirmation dialog and left the DLQ list")
        stats = taskmill("--json", "dlq", "list", DLQ_QUEUE)
        assert f'"id":{DLQ_ID},' not in stats, "the task is still in the DLQ in the database"
        ok("the database agrees: the task is out of the DLQ")

        # 5. Purge: the queue must be chosen, and its name typed to confirm.
        sel = driver.find_element(By.ID, "dlq-queue")
        wait(driver, lambda d: PURGE_QUEUE in sel.text, "purge queue in the filter")
        Select(sel).select_by_value(PURGE_QUEUE)
        wait(driver, lambda d: d.find_element(By.ID, "dlq-purge").is_enabled(), "purge enabled")
        driver.find_element(By.ID, "dlq-purge").click()
        wait(driver, EC.visibility_of_element_located((By.ID, "purge-confirm")), "purge dialog")
        assert not driver.find_element(By.ID, "dialog-ok").is_enabled(), "purge allowed untyped"
        driver.find_element(By.ID, "purge-confirm").send_keys(PURGE_QUEUE)
        wait(driver, lambda d: d.find_element(By.ID, "dialog-ok").is_enabled(), "typed name enables")
        driver.find_element(By.ID, "dialog-ok").click()
        wait(driver, lambda d: "The dead-letter queue is empty" in d.find_element(By.ID, "dlq-table").text,
             "purged queue's DLQ is empty")
        ok("purge needs the queue's name typed, then empties its DLQ")

        # 6. The other pages render their data.
        page(driver, "schedules")
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#schedules-table tbody tr"), "schedules")
        ok("schedules page lists schedules")
        shot(driver, "schedules")
        page(driver, "results")
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#results-table tbody tr"), "results")
        ok("results page lists results")
        shot(driver, "results")
        page(driver, "health")
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#health-tables tbody tr"), "health")
        ok("health page shows table health")
        shot(driver, "health")
        # 7. --redact-payloads: the DLQ without payloads or error texts.
        driver.get(REDACT_URL + "#/dlq")
        wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == "signin",
             "sign-in card (redacting dashboard)")
        driver.find_element(By.ID, "signin").click()
        wait(driver, EC.visibility_of_element_located((By.ID, "token-input")), "token dialog")
        driver.find_element(By.ID, "token-input").send_keys(token)
        driver.find_element(By.ID, "dialog-ok").click()
        wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == "dlq",
             "DLQ page of the redacting dashboard")
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#dlq-table tbody tr"), "redacted DLQ rows")
        text = driver.find_element(By.ID, "dlq-table").text
        assert "redacted" in text and "mailbox" not in text and "SMTP" not in text, text[:1000]
        ok("--redact-payloads: the DLQ page shows rows, but no payload or error text")
        shot(driver, "dlq-redacted")

        # The wrong token's 403 is logged by the browser as a failed load: expected.
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"
                  and not ("/api/login" in e["message"] and "403" in e["message"])]
        assert not errors, f"browser console errors: {errors}"
        ok("no errors in the browser console")
    finally:
        driver.quit()
    print(f"1..{passed}")


if __name__ == "__main__":
    main()
