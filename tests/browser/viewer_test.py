"""The viewer in a real browser: headless Chromium (Debian's chromium + chromium-driver) driven
by Selenium, against a running `spanbridge serve` fed by feed.py (OpenTelemetry Python SDK).
Assertions are on the DOM; screenshots go to SCREENSHOT_DIR as artifacts.

Usage: python viewer_test.py HTTP_URL PUBLIC_KEY SECRET_KEY FEED_JSON SCREENSHOT_DIR
Exits non-zero with a message on the first failed check.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

http_url, public_key, secret_key, feed_file, shots = sys.argv[1:6]
sent = json.load(open(feed_file))
os.makedirs(shots, exist_ok=True)
# The 1,000-observation trace must be fully rendered within this (the page stays usable
# meanwhile: rows are added in chunks).
BIG_TRACE_BOUND_S = 5.0
passed = []


def check(condition, message):
    if not condition:
        shot("FAILED")
        print(f"FAIL: {message}", file=sys.stderr)
        sys.exit(1)


def ok(message):
    passed.append(message)
    print(f"ok: {message}")


def shot(name):
    try:
        driver.save_screenshot(os.path.join(shots, f"{name}.png"))
    except Exception:  # noqa: BLE001 - a screenshot must never hide the real failure
        pass


def wait(condition, what, timeout=15):
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition())
    except TimeoutException:
        check(False, f"timed out waiting for {what}")


def js(script, *args):
    return driver.execute_script(script, *args)


def no_alert():
    try:
        text = driver.switch_to.alert.text
        check(False, f"an alert fired: {text!r}")
    except NoAlertPresentException:
        pass
    check(js("return window.__alerts.length") == 0, f"alert() was called: {js('return window.__alerts')}")


def no_secret_in_url():
    check(secret_key not in driver.current_url, "the secret key is in the URL")


def text_of(css):
    elements = driver.find_elements(By.CSS_SELECTOR, css)
    return elements[0].text if elements else ""


# --- HTTP surface: headers and redirect, without a browser.
with urllib.request.urlopen(f"{http_url}/ui/") as response:
    csp = response.headers["Content-Security-Policy"] or ""
    check("script-src 'self'" in csp and "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
          and "unsafe-inline" not in csp, f"CSP of /ui/: {csp!r}")
    check(response.headers["X-Content-Type-Options"] == "nosniff", "nosniff on /ui/")
with urllib.request.urlopen(f"{http_url}/ui/app.js") as response:
    check(response.headers["Content-Type"].startswith("text/javascript"), "app.js content type")
ok("viewer responses carry a strict CSP and nosniff")

profile = tempfile.mkdtemp(prefix="sb-chromium-")
options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1440,900"]:
    options.add_argument(flag)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
driver.set_page_load_timeout(30)

try:
    # --- `/` redirects to the viewer; sign-in page.
    driver.get(f"{http_url}/")
    wait(lambda: driver.current_url.startswith(f"{http_url}/ui/"), "the redirect from / to /ui/")
    wait(lambda: driver.find_elements(By.ID, "sign-in-form"), "the sign-in form")
    js("window.__alerts = []; window.alert = (m) => window.__alerts.push(String(m)); window.__sameDocument = true;")
    ok("/ redirects to /ui/ and shows the sign-in form")
    shot("01-sign-in")

    # --- A wrong key: a clear message, nothing kept.
    driver.find_element(By.ID, "public-key").send_keys(public_key)
    driver.find_element(By.ID, "secret-key").send_keys("sk-lf-wrong")
    driver.find_element(By.ID, "sign-in").click()
    wait(lambda: driver.find_element(By.ID, "sign-in-error").is_displayed(), "the wrong-key message")
    message = driver.find_element(By.ID, "sign-in-error").text
    check("Wrong key" in message and "401" in message, f"wrong-key message: {message!r}")
    check(js("return sessionStorage.length") == 0, "a refused key is not kept")
    ok(f"a wrong key is refused with: {message!r}")
    shot("02-wrong-key")

    # --- Sign in with the project's keys.
    secret_field = driver.find_element(By.ID, "secret-key")
    secret_field.clear()
    secret_field.send_keys(secret_key)
    driver.find_element(By.ID, "sign-in").click()
    wait(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#traces-body tr.row")) >= sent["count"], "the traces list")
    check(js("return localStorage.length") == 0, "nothing in localStorage")
    check(js("return document.cookie") == "", "no cookie")
    no_secret_in_url()
    ok("sign-in with the key pair lists the traces")

    # --- The list: columns and values.
    chat = sent["traces"]["chat"]["id"]
    row = driver.find_element(By.CSS_SELECTOR, f'#traces-body tr[data-trace-id="{chat}"]')
    cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
    check(cells[1].startswith("weather-question") and cells[2] == "alice" and cells[3] == "sess-weather", f"chat row: {cells}")
    check(cells[5] == "150" and cells[6] == "$0.0006", f"tokens and cost of the chat row: {cells}")
    check(cells[4].endswith("ms") or cells[4].endswith("s"), f"latency: {cells[4]}")
    check("viewer-test" in cells[7], f"tags: {cells[7]}")
    info = text_of("#page-info")
    check(f"{sent['count']} traces" in info, f"page info: {info!r}")
    ok(f"the list shows name, user, session, latency, tokens, cost, tags ({info})")

    # --- Hostile content in the list is text.
    hostile = sent["traces"]["hostile"]["id"]
    row = driver.find_element(By.CSS_SELECTOR, f'#traces-body tr[data-trace-id="{hostile}"]')
    cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
    check(cells[1].startswith(sent["hostile"]["name"]), f"hostile name shown as text: {cells[1]!r}")
    check(cells[2] == sent["hostile"]["user"], f"hostile user shown as text: {cells[2]!r}")
    check(js("return document.querySelectorAll('img').length") == 0, "an <img> element was created")
    check(js("return document.querySelectorAll('script').length") == 1, "a <script> element was created")
    no_alert()
    ok("hostile names in the list render as text (no <img>, no <script>, no alert)")
    shot("03-traces")

    # --- New traces appear without a reload.
    live = json.loads(subprocess.check_output([sys.executable, os.path.join(os.path.dirname(__file__), "feed.py"),
                                               http_url, public_key, secret_key, str(int(time.time()))]))
    started = time.time()
    wait(lambda: driver.find_elements(By.CSS_SELECTOR, f'#traces-body tr[data-trace-id="{live["trace"]}"]'),
         "the new trace to appear without a reload", timeout=20)
    check(js("return window.__sameDocument === true"), "the page was reloaded")
    ok(f"a trace sent while the list is open appears in {time.time() - started:.1f}s without a reload")

    # --- Filter by user.
    field = driver.find_element(By.ID, "filter-userId")
    field.send_keys("bob")
    driver.find_element(By.ID, "apply-filters").click()
    wait(lambda: "userId=bob" in driver.current_url and len(driver.find_elements(By.CSS_SELECTOR, "#traces-body tr.row")) == 1
         and driver.find_elements(By.CSS_SELECTOR, f'#traces-body tr[data-trace-id="{sent["traces"]["bob"]["id"]}"]'),
         "the list filtered to bob's trace")
    ok("filtering by user leaves bob's one trace")
    shot("04-filter-user")

    # --- The search box filters the page.
    driver.get(f"{http_url}/ui/#/traces")
    js("window.__alerts = []; window.alert = (m) => window.__alerts.push(String(m));")
    wait(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#traces-body tr.row")) >= sent["count"], "the full list again")
    driver.find_element(By.ID, "search").send_keys("followup")
    visible = wait(lambda: [r for r in driver.find_elements(By.CSS_SELECTOR, "#traces-body tr.row") if r.is_displayed()] or None, "search results")
    check(len(visible) == 1 and visible[0].get_attribute("data-trace-id") == sent["traces"]["followup"]["id"], "search for 'followup'")
    ok("the search box narrows the page to the matching trace")

    # --- Open the chat trace, then its generation.
    driver.find_element(By.CSS_SELECTOR, f'tr[data-trace-id="{sent["traces"]["followup"]["id"]}"] a.trace-link').click()
    wait(lambda: driver.find_elements(By.ID, "trace-detail"), "the follow-up trace")
    driver.get(f"{http_url}/ui/#/trace/{chat}")
    js("window.__alerts = []; window.alert = (m) => window.__alerts.push(String(m));")
    wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#tree .node[data-type]"), "the observation tree")
    types = [n.get_attribute("data-type") for n in driver.find_elements(By.CSS_SELECTOR, "#tree .node[data-type]")]
    check(sorted(types) == sorted(["SPAN", "TOOL", "GENERATION"]) or len(types) == 3, f"tree types: {types}")
    check(text_of("#trace-tokens") == "150" and text_of("#trace-cost") == "$0.0006", f"trace facts: {text_of('#trace-facts')!r}")
    generation = sent["traces"]["chat"]["generation"]
    driver.find_element(By.CSS_SELECTOR, f'#tree .node[data-observation-id="{generation}"]').click()
    wait(lambda: driver.find_elements(By.CSS_SELECTOR, f'#observation-detail[data-observation-id="{generation}"]'), "the generation's view")
    roles = [r.text.split(" ")[0].lower() for r in driver.find_elements(By.CSS_SELECTOR, "#observation-input .message .role")]
    check(roles == ["system", "user", "assistant", "tool"], f"input roles: {roles}")
    input_text = text_of("#observation-input")
    check("What is the weather in Paris?" in input_text, f"user message: {input_text!r}")
    check("get_weather" in text_of("#observation-input .tool-call") and "Paris" in text_of("#observation-input .tool-call"), "the tool call")
    check("18°C and sunny" in text_of("#observation-input .tool-result"), "the tool result")
    check("It is 18°C and sunny in Paris." in text_of("#observation-output .role-assistant"), "the assistant's answer")
    check(text_of("#observation-model") == "gpt-4o-mini", "the model")
    usage = text_of("#usage-table")
    check("input 120" in usage and "output 30" in usage and "total 150" in usage, f"usage: {usage!r}")
    cost = text_of("#cost-table")
    check("total $0.0006" in cost, f"cost: {cost!r}")
    detail = text_of("#observation-detail")
    check("temperature: 0.2" in detail, f"model parameters in {detail[:400]!r}")
    check("helpfulness" in text_of("#observation-detail .scores"), "the generation's score")
    check(f"observation={generation}" in driver.current_url, "the observation is in the URL")
    no_secret_in_url()
    ok("the trace opens: tree, tokens and cost; the generation shows its conversation, tool call and result, model, parameters, usage, cost and score")
    shot("05-trace-generation")

    # --- Session.
    driver.find_element(By.ID, "trace-session").click()
    wait(lambda: text_of("#session-trace-count") == "2", "the session with its 2 traces")
    articles = driver.find_elements(By.CSS_SELECTOR, "#session-traces .session-trace")
    check([a.get_attribute("data-trace-id") for a in articles] == [chat, sent["traces"]["followup"]["id"]], "session traces in order")
    wait(lambda: "And tomorrow?" in articles[1].text and "Tomorrow looks rainy." in articles[1].text
         and "What is the weather in Paris?" in articles[0].text, "each trace's conversation in the session")
    ok("the session view lists its two traces in order, each with its input and output")
    shot("06-session")
    driver.find_element(By.ID, "nav-sessions").click()
    wait(lambda: driver.find_elements(By.CSS_SELECTOR, '#sessions-body tr[data-session-id="sess-weather"]'), "the sessions list")
    row = driver.find_element(By.CSS_SELECTOR, '#sessions-body tr[data-session-id="sess-weather"]')
    check(row.find_elements(By.TAG_NAME, "td")[2].text == "2", f"sessions list row: {row.text!r}")
    ok("the sessions list shows sess-weather with 2 traces")

    # --- Dashboard totals.
    driver.find_element(By.ID, "nav-dashboard").click()
    wait(lambda: text_of("#total-traces") not in ("", "0"), "the dashboard totals")
    expected_traces = sent["count"] + 1  # the live trace
    check(text_of("#total-traces") == f"{expected_traces:,}", f"traces total {text_of('#total-traces')} != {expected_traces}")
    check(text_of("#total-tokens") == f"{sent['tokens']:,}", f"tokens total {text_of('#total-tokens')} != {sent['tokens']}")
    check(text_of("#total-cost") == "$0.0018", f"cost total {text_of('#total-cost')}")
    model = driver.find_element(By.CSS_SELECTOR, '#models-table tr[data-model="gpt-4o-mini"]').text
    check("490" in model and "$0.0018" in model, f"per-model row: {model!r}")
    check(len(driver.find_elements(By.CSS_SELECTOR, "#chart-traces rect")) >= 1, "the traces chart")
    ok(f"the dashboard shows {expected_traces} traces, {sent['tokens']} tokens, $0.0018, per model")
    shot("07-dashboard")

    # --- Hostile trace view, and a very large value cut with "Show all".
    driver.get(f"{http_url}/ui/#/trace/{hostile}?observation={sent['traces']['hostile']['child']}")
    js("window.__alerts = []; window.alert = (m) => window.__alerts.push(String(m));")
    wait(lambda: driver.find_elements(By.ID, "observation-detail"), "the hostile observation")
    check(text_of("#trace-name") == sent["hostile"]["name"], f"hostile trace name: {text_of('#trace-name')!r}")
    check(sent["hostile"]["text"] in text_of("#observation-input"), f"hostile input as text: {text_of('#observation-input')!r}")
    check(js("return document.querySelectorAll('img').length") == 0, "an <img> element was created")
    check(js("return document.querySelectorAll('script').length") == 1, "a <script> element was created")
    time.sleep(0.5)
    no_alert()
    output = driver.find_element(By.CSS_SELECTOR, "#observation-output pre")
    shown = len(js("return arguments[0].textContent", output))
    check(shown < 3000, f"the large output is cut ({shown} characters shown)")
    button = driver.find_element(By.CSS_SELECTOR, "#observation-output .show-all")
    check("60,000" in button.text, f"show-all label: {button.text!r}")
    button.click()
    check(len(js("return arguments[0].textContent", output)) == sent["hostile"]["big_len"], "Show all shows the whole value")
    driver.find_element(By.CSS_SELECTOR, "#tree .trace-node").click()
    wait(lambda: driver.find_elements(By.ID, "trace-detail"), "the hostile trace's view")
    metadata = js("return document.getElementById('trace-detail').textContent")
    check("<img src=x onerror=alert(3)><script>alert(4)</script>" in metadata, "hostile metadata shown as text")
    check(js("return document.querySelectorAll('img').length") == 0, "an <img> element was created")
    no_alert()
    ok("hostile content renders as text in the trace view (no element, no alert); a 60,000-character value is cut and 'Show all' shows it whole")
    shot("08-hostile")

    # --- 1,000 observations.
    big = sent["traces"]["big"]
    driver.get(f"{http_url}/ui/#/traces")
    wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#traces-body tr.row"), "the list")
    started = time.time()
    driver.find_element(By.CSS_SELECTOR, f'tr[data-trace-id="{big["id"]}"] a.trace-link').click()
    wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#tree[data-rendered]"), "the 1,000-observation tree", timeout=30)
    elapsed = time.time() - started
    rendered = int(driver.find_element(By.ID, "tree").get_attribute("data-rendered"))
    render_ms = int(driver.find_element(By.ID, "tree").get_attribute("data-render-ms"))
    nodes = js("return document.querySelectorAll('#tree .node[data-type]').length")
    check(rendered == big["observations"] and nodes == big["observations"], f"{nodes} nodes for {big['observations']} observations")
    check(elapsed < BIG_TRACE_BOUND_S, f"the 1,000-observation trace took {elapsed:.2f}s (bound {BIG_TRACE_BOUND_S}s)")
    # Collapsing a step hides its 110 leaves at once.
    step = driver.find_element(By.XPATH, "//div[contains(@class,'node')][.//span[text()='step-0']]")
    step.find_element(By.CSS_SELECTOR, "button.caret").click()
    visible = js("return [...document.querySelectorAll('#tree .node[data-type]')].filter(n => !n.hidden).length")
    check(visible == big["observations"] - 110, f"{visible} rows visible after collapsing step-0")
    ok(f"the {big['observations']}-observation trace opens in {elapsed:.2f}s (tree built in {render_ms} ms in the page); collapsing a step hides its leaves")
    shot("09-big-trace")

    # --- No CSP violation or script error happened on the way.
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"
              and "favicon" not in entry["message"] and "401" not in entry["message"]]
    check(not errors, f"browser errors: {errors}")
    ok("no script error or CSP violation in the browser console")

    # --- Sign out forgets the key.
    driver.find_element(By.ID, "sign-out").click()
    wait(lambda: driver.find_elements(By.ID, "sign-in-form"), "the sign-in form after sign-out")
    check(js("return sessionStorage.length") == 0, "the key is forgotten on sign-out")
    ok("sign-out forgets the key pair")
finally:
    driver.quit()

print(f"viewer in Chromium: {len(passed)} checks passed")
