"""Real-client check: the Langfuse Python SDK 2.60.10 (no OTLP: `GET /api/public/projects`, then
batches to `POST /api/public/ingestion`) sends to a running Spanbridge through its low-level
client, the `@observe` decorators and the LangChain `CallbackHandler` over a fake chat model;
every trace is read back through the read API with every field the SDK sent: trace fields,
observations with their updates, usage, cost and scores.

Usage: python langfuse_v2.py HTTP_URL PUBLIC_KEY SECRET_KEY
Exits non-zero with a message on the first mismatch.
"""

import base64
import json
import os
import sys
import time
import urllib.request

from langfuse import Langfuse
from langfuse.callback import CallbackHandler
from langfuse.decorators import langfuse_context, observe
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.prompts import ChatPromptTemplate

http_url, public_key, secret_key = sys.argv[1:4]
# The decorators read their client settings from the environment.
os.environ.update(LANGFUSE_PUBLIC_KEY=public_key, LANGFUSE_SECRET_KEY=secret_key, LANGFUSE_HOST=http_url)
auth = "Basic " + base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()


def check(condition: bool, message: str) -> None:
    if not condition:
        print(f"FAIL: {message}", file=sys.stderr)
        sys.exit(1)


def read_trace(trace_id: str, ready) -> dict:
    deadline = time.time() + 30
    last = None
    while time.time() < deadline:
        request = urllib.request.Request(f"{http_url}/api/public/traces/{trace_id}", headers={"Authorization": auth})
        try:
            with urllib.request.urlopen(request) as response:
                last = json.load(response)
                if ready(last):
                    return last
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
        time.sleep(0.2)
    check(False, f"trace {trace_id} not complete within 30 s: {json.dumps(last)}")


def by_name(trace: dict, name: str) -> dict:
    for observation in trace["observations"]:
        if observation["name"] == name:
            return observation
    check(False, f"observation {name} missing: {json.dumps(trace)}")


def close(value, expected: float) -> bool:
    return isinstance(value, (int, float)) and abs(value - expected) < 1e-9


# The SDK's own auth check: the right key passes, a wrong one is refused (401).
langfuse = Langfuse(public_key=public_key, secret_key=secret_key, host=http_url)
check(langfuse.auth_check(), "auth_check with the right key")
wrong = Langfuse(public_key=public_key, secret_key="sk-lf-wrong", host=http_url)
try:
    wrong.auth_check()
    check(False, "auth_check with a wrong key passed")
except Exception as error:  # the SDK raises its UnauthorizedError
    check("401" in str(error) or "Unauthorized" in type(error).__name__, f"wrong key: {error!r}")

# 1. Low-level client: creates, `.end()` updates, `trace.update`, a score.
trace = langfuse.trace(
    name="v2-trace", user_id="u1", session_id="s1", input={"q": "hi"}, metadata={"k": "v"},
    tags=["a"], release="r1", version="v1",
)
span = trace.span(name="retrieve", input={"query": "hi"})
span.event(name="cache-miss", level="WARNING")
span.end(output={"docs": 2})
generation = trace.generation(
    name="chat", model="gpt-4o", model_parameters={"temperature": 0.2},
    input=[{"role": "user", "content": "hi"}], usage={"input": 10, "output": 5, "unit": "TOKENS"},
)
langfuse.flush()  # the update lands in a later request than its create
generation.end(output="hello", usage_details={"input": 1000, "output": 500})
trace.update(output={"a": "hello"})
trace.score(name="quality", value=0.9, comment="ok")
langfuse.flush()

got = read_trace(trace.id, lambda t: len(t["observations"]) == 3 and t["output"] == {"a": "hello"}
                 and len(t["scores"]) == 1 and by_name(t, "chat")["output"] == "hello")
for key, expected in [("name", "v2-trace"), ("userId", "u1"), ("sessionId", "s1"), ("release", "r1"),
                      ("version", "v1"), ("tags", ["a"]), ("metadata", {"k": "v"}), ("input", {"q": "hi"})]:
    check(got[key] == expected, f"low-level trace {key}: {got[key]!r}")
retrieve = by_name(got, "retrieve")
check(retrieve["id"] == span.id and retrieve["type"] == "SPAN", f"span: {retrieve}")
check(retrieve["input"] == {"query": "hi"} and retrieve["output"] == {"docs": 2}, f"span io: {retrieve}")
check(retrieve["endTime"] is not None, "span end time from its update")
event = by_name(got, "cache-miss")
check(event["type"] == "EVENT" and event["level"] == "WARNING", f"event: {event}")
check(event["parentObservationId"] == span.id, f"event parent: {event}")
chat = by_name(got, "chat")
check(chat["id"] == generation.id and chat["type"] == "GENERATION", f"generation: {chat}")
check(chat["model"] == "gpt-4o", f"model: {chat}")
# The SDK sends parameter values as strings.
check(chat["modelParameters"] == {"temperature": "0.2"}, f"model parameters: {chat['modelParameters']}")
check(chat["input"] == [{"role": "user", "content": "hi"}], f"generation input: {chat['input']}")
check(chat["usageDetails"] == {"input": 1000, "output": 500, "total": 1500}, f"usage: {chat['usageDetails']}")
# Langfuse v2's own models table prices gpt-4o at 5/15 USD per 1M tokens (SB_STORE=langfuse_v2);
# Spanbridge's price list at 2.5/10.
want_cost = 0.0125 if os.environ.get("SB_STORE") == "langfuse_v2" else 0.0075
check(close(chat["totalCost"], want_cost), f"gpt-4o cost of 1000 in / 500 out: {chat['costDetails']}")
check(chat["endTime"] is not None, "generation end time from its update")
score = got["scores"][0]
check((score["name"], score["value"], score["comment"], score["dataType"]) == ("quality", 0.9, "ok", "NUMERIC"),
      f"score: {score}")


# 2. Decorators: the outermost function is the trace, the inner one a span.
decorated = []


@observe()
def inner(x):
    langfuse_context.update_current_observation(metadata={"inner": True})
    return x * 2


@observe()
def outer_fn(x):
    decorated.append(langfuse_context.get_current_trace_id())
    langfuse_context.update_current_trace(user_id="u2", session_id="s2", tags=["deco"], metadata={"run": 1})
    return inner(x) + 1


check(outer_fn(3) == 7, "decorated function result")
langfuse_context.flush()
got = read_trace(decorated[0], lambda t: len(t["observations"]) == 1 and t["output"] == 7)
for key, expected in [("name", "outer_fn"), ("userId", "u2"), ("sessionId", "s2"), ("tags", ["deco"]),
                      ("input", {"args": [3], "kwargs": {}})]:
    check(got[key] == expected, f"decorated trace {key}: {got[key]!r}")
check(got["metadata"].get("run") in (1, "1"), f"decorated trace metadata: {got['metadata']}")
span = by_name(got, "inner")
check(span["type"] == "SPAN" and span["parentObservationId"] is None, f"decorated span: {span}")
check(span["input"] == {"args": [3], "kwargs": {}} and span["output"] == 6, f"decorated span io: {span}")
check(span["metadata"].get("inner") in (True, "true"), f"decorated span metadata: {span['metadata']}")
check(span["endTime"] is not None, "decorated span end time")

# 3. LangChain callback over a fake chat model.
handler = CallbackHandler(public_key=public_key, secret_key=secret_key, host=http_url,
                          user_id="lc-user", session_id="lc-sess", trace_name="lc-chain")
chain = ChatPromptTemplate.from_messages([("system", "be brief"), ("human", "{q}")]) | FakeListChatModel(
    responses=["fake answer"])
answer = chain.invoke({"q": "what is otel?"}, config={"callbacks": [handler]})
handler.flush()
check(answer.content == "fake answer", "chain result")
got = read_trace(handler.get_trace_id(), lambda t: len(t["observations"]) == 3
                 and all(o["endTime"] is not None for o in t["observations"]))
check(got["name"] == "lc-chain" and got["userId"] == "lc-user" and got["sessionId"] == "lc-sess",
      f"langchain trace: {got}")
check(got["input"] == {"q": "what is otel?"}, f"langchain trace input: {got['input']}")
model = by_name(got, "FakeListChatModel")
check(model["type"] == "GENERATION", f"chat model type: {model}")
check(model["input"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "what is otel?"}],
      f"chat model input: {model['input']}")
check(model["output"] == {"role": "assistant", "content": "fake answer"}, f"chat model output: {model['output']}")
sequence = by_name(got, "RunnableSequence")
check(model["parentObservationId"] == sequence["id"], "chat model under the sequence")
check(sequence["output"]["content"] == "fake answer", f"sequence output: {sequence['output']}")

print("langfuse python sdk 2.60.10: low-level, decorators, langchain callback ok")
