"""Real-client check: the OTel openai-v2 instrumentation sends message content
as OTLP log records. An OpenAI-compatible stand-in answers one plain and one streaming chat
completion; spans go to /v1/traces and content to /v1/logs (logs are exported first, as in the
captures of ../shared/fixtures/otlp-logs/); each generation is then read back with its input,
output and usage.

The content mode comes from the environment, read when the instrumentation starts, so run.sh
runs this once per mode:
  legacy events:      OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true (semconv's
                      deprecated content events)
  operation details:  OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental
                      OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=EVENT_ONLY

Needs the sink's assembly (partial rows merged into the span's row) for the content checks.

Usage: python otel_openai_v2.py HTTP_URL PUBLIC_KEY SECRET_KEY MODE_LABEL
"""

import base64
import json
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

http_url, public_key, secret_key, label = sys.argv[1:5]
auth = "Basic " + base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()
ANSWER = "Spans are exported in batches by the BatchSpanProcessor."


class StandIn(BaseHTTPRequestHandler):
    """`POST /v1/chat/completions`, plain or streamed (SSE, usage in the last chunk)."""

    def log_message(self, *args):  # quiet
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        usage = {"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30}
        base = {"id": "chatcmpl-standin", "created": int(time.time()), "model": "gpt-4o-mini-2024-07-18"}
        if not body.get("stream"):
            payload = dict(base, object="chat.completion", usage=usage, choices=[
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": ANSWER}}])
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        words = ANSWER.split(" ")
        chunks = [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
        chunks += [{"index": 0, "delta": {"content": w + " "}, "finish_reason": None} for w in words]
        chunks += [{"index": 0, "delta": {}, "finish_reason": "stop"}]
        for choice in chunks:
            event = dict(base, object="chat.completion.chunk", choices=[choice])
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
        final = dict(base, object="chat.completion.chunk", choices=[], usage=usage)
        self.wfile.write(f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n".encode())


def check(condition: bool, message: str) -> None:
    if not condition:
        print(f"FAIL: {label}: {message}", file=sys.stderr)
        sys.exit(1)


def read_trace(trace_id: str) -> dict:
    deadline = time.time() + 20
    while True:
        request = urllib.request.Request(f"{http_url}/api/public/traces/{trace_id}", headers={"Authorization": auth})
        try:
            with urllib.request.urlopen(request) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            if error.code != 404 or time.time() > deadline:
                raise
            time.sleep(0.2)


server = HTTPServer(("127.0.0.1", 0), StandIn)
threading.Thread(target=server.serve_forever, daemon=True).start()

from opentelemetry import trace  # noqa: E402
from opentelemetry._logs import set_logger_provider  # noqa: E402
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk._logs import LoggerProvider  # noqa: E402
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: E402

resource = Resource.create({"service.name": f"openai-v2-{label}"})
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{http_url}/v1/traces", headers={"Authorization": auth})))
trace.set_tracer_provider(tracer_provider)
logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{http_url}/v1/logs", headers={"Authorization": auth})))
set_logger_provider(logger_provider)
try:  # SDKs before the Logs API took events
    from opentelemetry._events import set_event_logger_provider
    from opentelemetry.sdk._events import EventLoggerProvider

    set_event_logger_provider(EventLoggerProvider(logger_provider))
except ImportError:
    pass

from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor  # noqa: E402
from openai import OpenAI  # noqa: E402

OpenAIInstrumentor().instrument()
client = OpenAI(base_url=f"http://127.0.0.1:{server.server_port}/v1", api_key="sk-standin")
messages = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "How are spans exported?"}]

tracer = trace.get_tracer("openai-v2-check")
trace_ids = []
for streaming in (False, True):
    with tracer.start_as_current_span(f"call-{'stream' if streaming else 'plain'}") as root:
        if streaming:
            stream = client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True,
                                                    stream_options={"include_usage": True})
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        else:
            text = client.chat.completions.create(model="gpt-4o-mini", messages=messages).choices[0].message.content
        check(text.strip() == ANSWER, f"stand-in answer {text!r}")
        trace_ids.append(format(root.get_span_context().trace_id, "032x"))
# Logs first, then spans: the order of the captures (and the harder one for the sink).
logger_provider.force_flush()
tracer_provider.force_flush()

for trace_id in trace_ids:
    deadline = time.time() + 20
    while True:
        got = read_trace(trace_id)
        generations = [o for o in got["observations"] if o["type"] == "GENERATION"]
        generation = generations[0] if generations else {}
        done = "How are spans exported?" in json.dumps(generation.get("input")) and "BatchSpanProcessor" in json.dumps(generation.get("output"))
        if done or time.time() > deadline:
            break
        time.sleep(0.3)
    check(len(generations) == 1, f"trace {trace_id}: generations {got['observations']}")
    check("Answer briefly." in json.dumps(generation["input"]), f"trace {trace_id}: input {generation['input']}")
    check("How are spans exported?" in json.dumps(generation["input"]), f"trace {trace_id}: input {generation['input']}")
    check("BatchSpanProcessor" in json.dumps(generation["output"]), f"trace {trace_id}: output {generation['output']}")
    usage = generation["usageDetails"]
    check(usage.get("input") == 21 and usage.get("output") == 9, f"trace {trace_id}: usage {usage}")
    print(f"ok: OTel openai-v2 ({label}): trace {trace_id} read back with input, output and usage")
logger_provider.shutdown()
tracer_provider.shutdown()
server.shutdown()
