"""Real-client check: the OpenTelemetry Python SDK (HTTP/protobuf and gRPC exporters) and the
Langfuse Python SDK export to a running Spanbridge; the spans are then read back through the
read API and their ids, parents, names, types, times, user, session, model and usage checked.
The Langfuse SDK also scores its generation (BOOLEAN) and trace (NUMERIC, CATEGORICAL) through
POST /api/public/scores; the scores are read back with their types, values and ids.

Usage: python otel_python.py HTTP_URL GRPC_ENDPOINT PUBLIC_KEY SECRET_KEY
Exits non-zero with a message on the first mismatch.
"""

import base64
import json
import os
import sys
import time
import urllib.request

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

http_url, grpc_endpoint, public_key, secret_key = sys.argv[1:5]
auth = "Basic " + base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()


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


def check(condition: bool, message: str) -> None:
    if not condition:
        print(f"FAIL: {message}", file=sys.stderr)
        sys.exit(1)


def export_with(exporter, label: str) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": f"python-{label}"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("spanbridge-client-check")
    with tracer.start_as_current_span("agent-run") as root:
        root.set_attribute("langfuse.trace.name", f"trace-{label}")
        root.set_attribute("user.id", "user-py")
        root.set_attribute("session.id", "session-py")
        with tracer.start_as_current_span("chat gpt-4o-mini") as child:
            child.set_attribute("gen_ai.operation.name", "chat")
            child.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            child.set_attribute("gen_ai.usage.input_tokens", 11)
            child.set_attribute("gen_ai.usage.output_tokens", 7)
    provider.shutdown()
    trace_id = format(root.get_span_context().trace_id, "032x")
    root_id = format(root.get_span_context().span_id, "016x")
    child_id = format(child.get_span_context().span_id, "016x")
    got = read_trace(trace_id)
    check(got["id"] == trace_id, f"{label}: trace id {got['id']}")
    check(got["name"] == f"trace-{label}", f"{label}: trace name {got['name']}")
    check(got["userId"] == "user-py" and got["sessionId"] == "session-py", f"{label}: user/session {got}")
    observations = {o["id"]: o for o in got["observations"]}
    check(set(observations) == {root_id, child_id}, f"{label}: observation ids {list(observations)}")
    generation = observations[child_id]
    check(generation["parentObservationId"] == root_id, f"{label}: parent {generation['parentObservationId']}")
    check(generation["type"] == "GENERATION", f"{label}: type {generation['type']}")
    check(generation["name"] == "chat gpt-4o-mini", f"{label}: name {generation['name']}")
    check(generation["model"] == "gpt-4o-mini", f"{label}: model {generation['model']}")
    usage = generation["usageDetails"]
    check(usage.get("input") == 11 and usage.get("output") == 7 and usage.get("total") == 18, f"{label}: usage {usage}")
    start_ms = child.start_time // 1_000_000
    check(generation["startTime"].startswith(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start_ms / 1000))), f"{label}: start {generation['startTime']}")
    print(f"ok: OpenTelemetry Python SDK over {label}: trace {trace_id} read back")


from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter  # noqa: E402
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter  # noqa: E402

export_with(HttpExporter(endpoint=f"{http_url}/v1/traces", headers={"Authorization": auth}), "http-protobuf")
export_with(GrpcExporter(endpoint=grpc_endpoint, insecure=True, headers={"authorization": auth}), "grpc")

# The Langfuse Python SDK exports OTLP/HTTP to {host}/api/public/otel/v1/traces.
trace.set_tracer_provider(TracerProvider())  # keep the SDK's own provider separate
from langfuse import Langfuse, propagate_attributes  # noqa: E402

langfuse = Langfuse(public_key=public_key, secret_key=secret_key, host=http_url)
with langfuse.start_as_current_observation(name="langfuse-root") as span:
    with propagate_attributes(trace_name="langfuse-trace", user_id="user-lf", session_id="session-lf"):
        with langfuse.start_as_current_observation(name="llm-call", as_type="generation", model="gpt-4o") as generation:
            generation.update(output="hello", usage_details={"input": 5, "output": 3})
            # SDK 5.x batches scores to POST /api/public/scores (a JSON array), apart from the spans.
            generation.score(name="correct", value=1, data_type="BOOLEAN", comment="matches the reference")
            generation_id = generation.id
    span.score_trace(name="quality", value=0.87, data_type="NUMERIC", metadata={"judge": "human"})
    span.score_trace(name="tone", value="friendly", data_type="CATEGORICAL")
    trace_id = span.trace_id
langfuse.flush()
got = read_trace(trace_id)
deadline = time.time() + 20
while len(got.get("scores", [])) < 3 and time.time() < deadline:
    time.sleep(0.2)
    got = read_trace(trace_id)
check(got["name"] == "langfuse-trace", f"langfuse: trace name {got['name']}")
check(got["userId"] == "user-lf" and got["sessionId"] == "session-lf", f"langfuse: user/session {got}")
generations = [o for o in got["observations"] if o["name"] == "llm-call"]
check(len(generations) == 1, f"langfuse: observations {got['observations']}")
generation = generations[0]
check(generation["type"] == "GENERATION" and generation["model"] == "gpt-4o", f"langfuse: generation {generation}")
check(generation["usageDetails"].get("input") == 5 and generation["usageDetails"].get("output") == 3, f"langfuse: usage {generation['usageDetails']}")
scores = {score["name"]: score for score in got.get("scores", [])}
check(set(scores) == {"correct", "quality", "tone"}, f"langfuse: scores {got.get('scores')}")
correct, quality, tone = scores["correct"], scores["quality"], scores["tone"]
check(correct["dataType"] == "BOOLEAN" and correct["value"] == 1 and correct["stringValue"] == "True", f"langfuse: BOOLEAN score {correct}")
check(correct["observationId"] == generation_id and correct["traceId"] == trace_id, f"langfuse: BOOLEAN score ids {correct}")
check(correct["comment"] == "matches the reference" and correct["source"] == "API", f"langfuse: BOOLEAN score {correct}")
check(quality["dataType"] == "NUMERIC" and quality["value"] == 0.87 and quality["stringValue"] is None, f"langfuse: NUMERIC score {quality}")
# Langfuse v2's scores have no metadata column (SB_STORE=langfuse_v2: docs/conversion.md).
want_metadata = {} if os.environ.get("SB_STORE") == "langfuse_v2" else {"judge": "human"}
check(quality["observationId"] is None and quality["metadata"] == want_metadata, f"langfuse: NUMERIC score {quality}")
check(tone["dataType"] == "CATEGORICAL" and tone["stringValue"] == "friendly" and tone["observationId"] is None, f"langfuse: CATEGORICAL score {tone}")
print(f"ok: Langfuse Python SDK: trace {trace_id} and its 3 scores read back")
