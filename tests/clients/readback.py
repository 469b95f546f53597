"""Shared read-back helpers for the live client tests (standard library only, so every venv
can import it): read a trace and its observations through Spanbridge's read API and assert
field by field, failing with the field's name and value.

Environment (set by run.sh): SB_URL (the recording proxy in front of Spanbridge), SB_PK,
SB_SK, SB_FAKE_LLM (the fake model endpoint's base URL).
"""

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request

URL = os.environ.get("SB_URL", "http://127.0.0.1:4318")
PK = os.environ.get("SB_PK", "")
SK = os.environ.get("SB_SK", "")
FAKE_LLM = os.environ.get("SB_FAKE_LLM", "http://127.0.0.1:9999")
AUTH = "Basic " + base64.b64encode(f"{PK}:{SK}".encode()).decode()
FINAL_TEXT = "It is sunny in Paris, 21 degrees."
TOOL_ARGS = {"city": "Paris"}
# gpt-4o-mini in sink/data/model-prices.json: $0.15 / 1M input, $0.60 / 1M output tokens.
PROMPT_TOKENS, COMPLETION_TOKENS = 40, 12
GPT_4O_MINI_COST = PROMPT_TOKENS * 0.15e-6 + COMPLETION_TOKENS * 0.6e-6


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def equal(label, got, want):
    if got != want:
        fail(f"{label}: expected {want!r}, got {got!r}")


def close(label, got, want, tolerance=1e-9):
    if got is None or abs(got - want) > tolerance:
        fail(f"{label}: expected {want!r}, got {got!r}")


def _get(path):
    request = urllib.request.Request(URL + path, headers={"Authorization": AUTH})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def read_trace(trace_id, observations=1, timeout=30, ready=None, capture_as=None):
    """The trace once it has at least `observations` observations (and `ready(trace)` holds).
    `capture_as`: the recording proxy writes what the client sent under that fixture name
    (before any assertion, so a failing check still leaves its capture)."""
    deadline = time.time() + timeout
    last = None
    while True:
        try:
            last = _get(f"/api/public/traces/{trace_id}")
            if len(last.get("observations", [])) >= observations and (ready is None or ready(last)):
                if capture_as:
                    capture(capture_as)
                return last
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
        if time.time() > deadline:
            fail(f"trace {trace_id}: not complete after {timeout}s: {json.dumps(last)[:2000]}")
        time.sleep(0.3)


def list_observations(trace_id):
    return _get(f"/api/public/observations?traceId={trace_id}&limit=100")["data"]


def traces_of_session(session_id, timeout=30):
    """The ids of the traces with observations in a session (v2 observations API), once any."""
    deadline = time.time() + timeout
    while True:
        data = _get(f"/api/public/v2/observations?sessionId={urllib.request.quote(session_id)}&limit=1000")["data"]
        ids = sorted({o["traceId"] for o in data})
        if ids or time.time() > deadline:
            return ids
        time.sleep(0.3)


def capture(name):
    """Ask the recording proxy to write what it kept to the fixture `name` (if capturing)."""
    request = urllib.request.Request(f"{URL}/__capture/{name}", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def as_json(value):
    """Input/output as the read API returns it: JSON, or JSON text to parse."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def by_type(observations, kind):
    return [o for o in observations if o["type"] == kind]


def one(items, label):
    check(len(items) == 1, f"{label}: expected exactly one, got {len(items)}: {json.dumps(items)[:1500]}")
    return items[0]


def text_of(node):
    """Every string inside a JSON value, joined: to find text wherever a convention puts it."""
    node = as_json(node)
    if isinstance(node, str):
        return node
    if isinstance(node, dict):
        return " ".join(text_of(v) for v in node.values())
    if isinstance(node, list):
        return " ".join(text_of(v) for v in node)
    return ""


def check_tree(observations, label):
    """Every parent id names an observation of the trace (or is absent: the root)."""
    ids = {o["id"] for o in observations}
    roots = [o for o in observations if not o.get("parentObservationId")]
    check(len(roots) >= 1, f"{label}: no root observation")
    for o in observations:
        parent = o.get("parentObservationId")
        check(parent is None or parent in ids, f"{label}: {o['name']} has unknown parent {parent}")


def parent_of(observations, child):
    found = [o for o in observations if o["id"] == child.get("parentObservationId")]
    return found[0] if found else None


def check_usage_cost(generation, label, cost=GPT_4O_MINI_COST):
    usage = generation.get("usageDetails") or {}
    equal(f"{label} usage.input", usage.get("input"), PROMPT_TOKENS)
    equal(f"{label} usage.output", usage.get("output"), COMPLETION_TOKENS)
    equal(f"{label} usage.total", usage.get("total"), PROMPT_TOKENS + COMPLETION_TOKENS)
    if cost is not None:
        close(f"{label} cost.total", (generation.get("costDetails") or {}).get("total"), cost)


def tool_call_names(generation):
    return generation.get("toolCallNames") or []
