"""Real-client check of the front door with the Langfuse Python SDK 2.60.10 (the batch API's SDK,
whose users need their prompts too): get_prompt (text and chat, compile) and create_prompt
through Spanbridge reach the test upstream (`[upstream] url`) with the SDK's Authorization, while
the SDK's trace still lands in Spanbridge.

Usage: python langfuse_v2_front_door.py HTTP_URL UPSTREAM_URL PUBLIC_KEY SECRET_KEY
"""

import base64
import json
import sys
import time
import urllib.request

from langfuse import Langfuse

http_url, upstream_url, public_key, secret_key = sys.argv[1:5]
auth = "Basic " + base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()


def check(condition: bool, message: str) -> None:
    if not condition:
        print(f"FAIL: {message}", file=sys.stderr)
        sys.exit(1)


def recorded(prefix: str) -> list:
    with urllib.request.urlopen(f"{upstream_url}/__recorded") as response:
        return [e for e in json.load(response) if e["target"].startswith(prefix)]


langfuse = Langfuse(public_key=public_key, secret_key=secret_key, host=http_url)
text = langfuse.get_prompt("movie-critic", cache_ttl_seconds=0)
check(text.version == 1, f"text prompt version {text.version}")
compiled = text.compile(criticLevel="expert", movie="Dune 2")
check(compiled == "As a expert movie critic, do you like Dune 2?", f"compiled: {compiled!r}")
chat = langfuse.get_prompt("movie-critic-chat", type="chat", cache_ttl_seconds=0)
messages = chat.compile(criticLevel="expert", movie="Dune 2")
check([m["content"] for m in messages] == ["You are an expert movie critic", "Do you like Dune 2?"], f"chat: {messages}")
created = langfuse.create_prompt(name="front-door-v2", prompt="Hey {{name}}", labels=["production"])
check(created.compile(name="Ada") == "Hey Ada", f"create_prompt: {created.prompt}")
fetches = recorded("/api/public/v2/prompts/movie-critic")
check(len(fetches) >= 2, f"prompt fetches reached the upstream: {fetches}")
check(dict(fetches[0]["headers"]).get("authorization") == auth, "Authorization passed unchanged")

trace = langfuse.trace(name="v2-front-door", metadata={"prompt": text.name})
trace.generation(name="critic", model="gpt-4o", prompt=text, input=compiled, output="yes")
langfuse.flush()
deadline = time.time() + 30
got = None
while time.time() < deadline and got is None:
    try:
        request = urllib.request.Request(f"{http_url}/api/public/traces/{trace.id}", headers={"Authorization": auth})
        with urllib.request.urlopen(request) as response:
            got = json.load(response)
    except urllib.error.HTTPError as error:
        check(error.code == 404, f"read API: {error.code}")
        time.sleep(0.2)
check(got is not None and got["name"] == "v2-front-door", f"trace landed in Spanbridge: {got}")
check(not recorded("/api/public/ingestion"), "the batch API stays local")
print(f"ok: Langfuse Python SDK 2.60.10 through the front door: prompts (text, chat, compile, create); trace {trace.id} in Spanbridge")
