"""Real-client check of the front door: the Langfuse Python SDK 5.x, pointed at Spanbridge (one
host, as users configure it) with the test upstream (tests/support/langfuse_upstream.py) as
`[upstream] url`. Prompt management (get_prompt text and chat, compile, create_prompt),
datasets and their items go through to the upstream; a LangfuseMedia attachment goes through
the SDK's upload flow (POST /api/public/media through Spanbridge, the PUT to the upload URL the
upstream returns, the PATCH through Spanbridge) while its span lands in Spanbridge and is read
back from Spanbridge's own read API. The upstream's record shows what it received.

Usage: python langfuse_front_door.py HTTP_URL UPSTREAM_URL PUBLIC_KEY SECRET_KEY
Exits non-zero with a message on the first mismatch.
"""

import base64
import json
import sys
import time
import urllib.request

from langfuse import Langfuse
from langfuse.media import LangfuseMedia

http_url, upstream_url, public_key, secret_key = sys.argv[1:5]
auth = "Basic " + base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()


def check(condition: bool, message: str) -> None:
    if not condition:
        print(f"FAIL: {message}", file=sys.stderr)
        sys.exit(1)


def recorded(prefix: str, method: str = None) -> list:
    with urllib.request.urlopen(f"{upstream_url}/__recorded") as response:
        entries = json.load(response)
    return [e for e in entries if e["target"].startswith(prefix) and (method is None or e["method"] == method)]


def header(entry: dict, name: str):
    return next((value for key, value in entry["headers"] if key == name), None)


langfuse = Langfuse(public_key=public_key, secret_key=secret_key, host=http_url)
check(langfuse.auth_check(), "auth_check against Spanbridge's /api/public/projects")
check(not recorded("/api/public/projects"), "the auth check is answered locally")

# Prompts: text and chat, compiled.
text = langfuse.get_prompt("movie-critic", cache_ttl_seconds=0)
check(text.version == 1 and text.config == {"temperature": 0.7}, f"text prompt {text.version} {text.config}")
compiled = text.compile(criticLevel="expert", movie="Dune 2")
check(compiled == "As a expert movie critic, do you like Dune 2?", f"compiled text prompt: {compiled!r}")
chat = langfuse.get_prompt("movie-critic-chat", type="chat", cache_ttl_seconds=0)
messages = chat.compile(criticLevel="expert", movie="Dune 2")
check(
    [m["content"] for m in messages] == ["You are an expert movie critic", "Do you like Dune 2?"]
    and [m["role"] for m in messages] == ["system", "user"],
    f"compiled chat prompt: {messages}",
)
seen = recorded("/api/public/v2/prompts/movie-critic", "GET")
check(len(seen) >= 2, f"prompt fetches reached the upstream: {seen}")
check(header(seen[0], "authorization") == auth, "Authorization passed unchanged")
check(header(seen[0], "x-forwarded-for") == "127.0.0.1", f"X-Forwarded-For: {header(seen[0], 'x-forwarded-for')}")

created = langfuse.create_prompt(
    name="front-door-greeting", prompt="Hello {{name}}!", labels=["production"], type="text", commit_message="first"
)
check(created.version == 1 and created.prompt == "Hello {{name}}!", f"create_prompt: {created.version} {created.prompt}")
created_chat = langfuse.create_prompt(
    name="front-door-chat",
    type="chat",
    prompt=[{"role": "system", "content": "You greet {{name}}"}],
    labels=["production"],
)
check(created_chat.compile(name="Ada") == [{"role": "system", "content": "You greet Ada"}], "chat prompt created")
fetched = langfuse.get_prompt("front-door-greeting", cache_ttl_seconds=0)
check(fetched.compile(name="Ada") == "Hello Ada!", f"created prompt read back: {fetched.prompt}")
posted = recorded("/api/public/v2/prompts", "POST")
check(
    len(posted) == 2 and posted[0]["body_json"]["name"] == "front-door-greeting" and posted[0]["body_json"]["commitMessage"] == "first",
    f"create_prompt bodies: {posted}",
)

# Datasets and items.
dataset = langfuse.create_dataset(name="front-door-golden", description="through the front door", metadata={"k": "v"})
check(dataset.name == "front-door-golden", f"create_dataset: {dataset}")
for n in range(2):
    langfuse.create_dataset_item(
        dataset_name="front-door-golden", input={"question": f"q{n}"}, expected_output={"answer": f"a{n}"}
    )
golden = langfuse.get_dataset("front-door-golden")
check(
    sorted(item.input["question"] for item in golden.items) == ["q0", "q1"]
    and golden.items[0].expected_output["answer"] in ("a0", "a1"),
    f"dataset items: {[item.input for item in golden.items]}",
)

# Media: the attachment's upload flow goes to the upstream, its span to Spanbridge.
pdf = b"%PDF-1.4\n% spanbridge front door\n" + bytes(range(256)) * 64
with langfuse.start_as_current_observation(
    name="with-attachment", input={"report": LangfuseMedia(content_bytes=pdf, content_type="application/pdf")}
) as span:
    trace_id, span_id = span.trace_id, span.id
langfuse.flush()
deadline = time.time() + 20
while time.time() < deadline and not recorded("/api/public/media/", "PATCH"):
    time.sleep(0.2)
media_posts = recorded("/api/public/media", "POST")
check(len(media_posts) == 1, f"POST /api/public/media: {media_posts}")
request = media_posts[0]["body_json"]
check(
    request["traceId"] == trace_id and request["observationId"] == span_id and request["contentType"] == "application/pdf"
    and request["contentLength"] == len(pdf) and request["field"] == "input",
    f"media upload request: {request}",
)
media_id = request["sha256Hash"].replace("+", "-").replace("/", "_")[:22]
uploads = recorded(f"/__upload/{media_id}", "PUT")
check(len(uploads) == 1 and uploads[0]["body_length"] == len(pdf), f"PUT to the upload URL: {uploads}")
patches = recorded(f"/api/public/media/{media_id}", "PATCH")
check(len(patches) == 1 and patches[0]["body_json"]["uploadHttpStatus"] == 200, f"PATCH: {patches}")
check(header(patches[0], "authorization") == auth, "the PATCH carries the SDK's Authorization")

trace = None
deadline = time.time() + 30
while time.time() < deadline:
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{http_url}/api/public/traces/{trace_id}", headers={"Authorization": auth})) as response:
            trace = json.load(response)
            break
    except urllib.error.HTTPError as error:
        check(error.code == 404, f"read API: {error.code}")
        time.sleep(0.2)
check(trace is not None, f"trace {trace_id} landed in Spanbridge")
observation = next((o for o in trace["observations"] if o["name"] == "with-attachment"), None)
reference = f"@@@langfuseMedia:type=application/pdf|id={media_id}|source=bytes@@@"
check(observation is not None and reference in json.dumps(observation["input"]), f"span input keeps the media reference: {observation}")
check(not recorded("/api/public/otel"), "spans are ingested by Spanbridge, not the upstream")
check(not recorded(f"/api/public/traces/{trace_id}"), "the trace is read from Spanbridge")
langfuse.shutdown()
print(
    f"ok: Langfuse Python SDK 5 through the front door: prompts (text, chat, compile, create), dataset with "
    f"{len(golden.items)} items, media {media_id} uploaded while trace {trace_id} landed in Spanbridge"
)
