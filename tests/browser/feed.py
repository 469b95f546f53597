"""Feeds a running Spanbridge with the traces the viewer test looks at, through the real
OpenTelemetry Python SDK (OTLP/HTTP protobuf) with gen_ai attributes, and one score through
POST /api/public/scores. Prints one JSON object: what was sent (ids, names, expected totals).

Usage: python feed.py HTTP_URL PUBLIC_KEY SECRET_KEY [LABEL]
With LABEL, sends only one small trace named "live-<LABEL>" (the polling check).
"""

import base64
import json
import sys
import time
import urllib.request

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

http_url, public_key, secret_key = sys.argv[1:4]
label = sys.argv[4] if len(sys.argv) > 4 else None
auth = "Basic " + base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()

HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_USER = "<script>alert(2)</script>"
HOSTILE_TEXT = "<img src=x onerror=alert(3)><script>alert(4)</script> & \"quotes\""
BIG_TEXT = "lorem ipsum " * 5000  # 60,000 characters: shown cut, with "Show all"
BIG_CHILDREN = 999

provider = TracerProvider(resource=Resource.create({"service.name": "viewer-test"}))
provider.add_span_processor(
    BatchSpanProcessor(
        OTLPSpanExporter(endpoint=f"{http_url}/v1/traces", headers={"Authorization": auth}),
        max_export_batch_size=500,
        schedule_delay_millis=200,
    )
)
tracer = provider.get_tracer("spanbridge-viewer-test")


def hexid(number: int, width: int) -> str:
    return format(number, f"0{width}x")


def generation(name, model, input_messages, output_messages, tokens_in, tokens_out, cost):
    with tracer.start_as_current_span(name) as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.request.model", model)
        span.set_attribute("gen_ai.request.temperature", 0.2)
        span.set_attribute("gen_ai.request.max_tokens", 256)
        span.set_attribute("gen_ai.usage.input_tokens", tokens_in)
        span.set_attribute("gen_ai.usage.output_tokens", tokens_out)
        span.set_attribute("gen_ai.input.messages", json.dumps(input_messages))
        span.set_attribute("gen_ai.output.messages", json.dumps(output_messages))
        span.set_attribute(
            "langfuse.observation.cost_details",
            json.dumps({"input": cost / 2, "output": cost / 2, "total": cost}),
        )
        return span


def chat_trace(trace_name, user, session, question, answer, tokens_in, tokens_out, cost, tool=True):
    with tracer.start_as_current_span("agent-run") as root:
        root.set_attribute("langfuse.trace.name", trace_name)
        root.set_attribute("user.id", user)
        root.set_attribute("session.id", session)
        root.set_attribute("langfuse.trace.tags", json.dumps(["viewer-test", "support"]))
        messages = [
            {"role": "system", "parts": [{"type": "text", "content": "You are a weather assistant."}]},
            {"role": "user", "parts": [{"type": "text", "content": question}]},
        ]
        if tool:
            messages += [
                {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}]},
                {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "18°C and sunny"}]},
            ]
            with tracer.start_as_current_span("execute_tool get_weather") as tool_span:
                tool_span.set_attribute("gen_ai.operation.name", "execute_tool")
                tool_span.set_attribute("gen_ai.tool.name", "get_weather")
                tool_span.set_attribute("gen_ai.tool.call.arguments", json.dumps({"city": "Paris"}))
                tool_span.set_attribute("gen_ai.tool.call.result", "18°C and sunny")
        output = [{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}]
        gen = generation("chat gpt-4o-mini", "gpt-4o-mini", messages, output, tokens_in, tokens_out, cost)
    return root, gen


def post_score(trace_id, observation_id):
    body = json.dumps({"traceId": trace_id, "observationId": observation_id, "name": "helpfulness", "value": 0.9, "comment": "good answer"}).encode()
    request = urllib.request.Request(f"{http_url}/api/public/scores", data=body, method="POST",
                                     headers={"Authorization": auth, "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        response.read()


if label:
    with tracer.start_as_current_span("live") as live:
        live.set_attribute("langfuse.trace.name", f"live-{label}")
        live.set_attribute("user.id", "carol")
    provider.shutdown()
    print(json.dumps({"trace": hexid(live.get_span_context().trace_id, 32), "name": f"live-{label}"}))
    sys.exit(0)

sent = {"traces": {}, "tokens": 0, "cost": 0.0}

root, gen = chat_trace("weather-question", "alice", "sess-weather", "What is the weather in Paris?",
                       "It is 18°C and sunny in Paris.", 120, 30, 0.0006)
sent["traces"]["chat"] = {"id": hexid(root.get_span_context().trace_id, 32),
                          "generation": hexid(gen.get_span_context().span_id, 16)}
sent["tokens"] += 150
sent["cost"] += 0.0006
time.sleep(0.05)  # the session's second turn starts later (times are kept to the millisecond)

root, gen = chat_trace("weather-followup", "alice", "sess-weather", "And tomorrow?",
                       "Tomorrow looks rainy.", 200, 20, 0.0008, tool=False)
sent["traces"]["followup"] = {"id": hexid(root.get_span_context().trace_id, 32)}
sent["tokens"] += 220
sent["cost"] += 0.0008

root, gen = chat_trace("billing-question", "bob", "sess-billing", "Why was I charged twice?",
                       "Let me check your invoices.", 80, 40, 0.0004, tool=False)
sent["traces"]["bob"] = {"id": hexid(root.get_span_context().trace_id, 32)}
sent["tokens"] += 120
sent["cost"] += 0.0004

# Hostile content everywhere a span can put text, and one very large value.
with tracer.start_as_current_span(HOSTILE_NAME) as hostile:
    hostile.set_attribute("langfuse.trace.name", HOSTILE_NAME)
    hostile.set_attribute("user.id", HOSTILE_USER)
    hostile.set_attribute("langfuse.trace.tags", json.dumps([HOSTILE_TEXT]))
    hostile.set_attribute("langfuse.observation.metadata.note", HOSTILE_TEXT)
    with tracer.start_as_current_span(HOSTILE_NAME) as child:
        child.set_attribute("langfuse.observation.input", json.dumps([{"role": "user", "content": HOSTILE_TEXT}]))
        child.set_attribute("langfuse.observation.output", BIG_TEXT)
sent["traces"]["hostile"] = {"id": hexid(hostile.get_span_context().trace_id, 32),
                             "child": hexid(child.get_span_context().span_id, 16)}

# 1,000 observations: a root, 9 steps, each with 110 leaves.
with tracer.start_as_current_span("big-pipeline") as big:
    big.set_attribute("langfuse.trace.name", "big-pipeline")
    big.set_attribute("user.id", "dave")
    made = 0
    for step in range(9):
        with tracer.start_as_current_span(f"step-{step}"):
            made += 1
            for leaf in range(110 if step < 8 else BIG_CHILDREN - 9 - 8 * 110):
                with tracer.start_as_current_span(f"leaf-{step}-{leaf}"):
                    made += 1
sent["traces"]["big"] = {"id": hexid(big.get_span_context().trace_id, 32), "observations": made + 1}
provider.shutdown()

post_score(sent["traces"]["chat"]["id"], sent["traces"]["chat"]["generation"])
sent["hostile"] = {"name": HOSTILE_NAME, "user": HOSTILE_USER, "text": HOSTILE_TEXT, "big_len": len(BIG_TEXT)}
sent["count"] = len(sent["traces"])
print(json.dumps(sent))
