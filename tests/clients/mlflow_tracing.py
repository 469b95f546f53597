"""Live test: MLflow tracing (`mlflow-tracing`, `mlflow.openai.autolog()`, `@mlflow.trace`)
exporting OTLP/HTTP to Spanbridge, against the fake model endpoint (tool call, then answer).

MLflow JSON-encodes every span attribute value (strings arrive double-quoted) and reports
token usage in `mlflow.chat.tokenUsage`; both must read back as plain fields (model without
quotes, so gpt-4o-mini is priced; usage in the usage columns).

MLflow's OTLP export carries no trace-level info: `mlflow.update_current_trace(metadata=…)`
(user, session) is not on any span, so trace user/session/tags are not asserted; and in
mlflow-tracing 3.18 `update_current_trace(tags=…)` makes the root span fail to end ("Cannot
mutate immutable BoundedAttributes"), so the root never reaches any OTLP receiver; tags are
not used here for that reason.

Usage (run.sh sets the environment, see readback.py): python mlflow_tracing.py
"""

import json
import os
import urllib.parse

from readback import (AUTH, FAKE_LLM, FINAL_TEXT, URL, as_json, by_type, capture, check,
                      check_tree, check_usage_cost, equal, one, read_trace, text_of)

os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = f"{URL}/v1/traces"
os.environ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] = "http/protobuf"
os.environ["OTEL_EXPORTER_OTLP_HEADERS"] = "Authorization=" + urllib.parse.quote(AUTH)
os.environ["OTEL_SERVICE_NAME"] = "mlflow-weather"

import mlflow  # noqa: E402
import mlflow.tracing.provider as mlflow_provider  # noqa: E402
from openai import OpenAI  # noqa: E402

mlflow.openai.autolog()
llm = OpenAI(base_url=f"{FAKE_LLM}/v1", api_key="fake")
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


@mlflow.trace(name="get_weather", span_type="TOOL")
def get_weather(city):
    return {"city": city, "forecast": "sunny", "celsius": 21}


@mlflow.trace(name="weather-agent", span_type="AGENT")
def agent(question):
    global TRACE_ID
    # MLflow keeps its spans on a tracer provider of its own; its span wraps the OTel span.
    TRACE_ID = format(mlflow.get_current_active_span()._span.get_span_context().trace_id, "032x")
    mlflow.update_current_trace(metadata={"mlflow.trace.user": "user-mlflow",
                                          "mlflow.trace.session": "session-mlflow"})
    messages = [{"role": "system", "content": "You are a weather bot."},
                {"role": "user", "content": question}]
    first = llm.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)
    call = first.choices[0].message.tool_calls[0]
    result = get_weather(**json.loads(call.function.arguments))
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}]
    final = llm.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)
    return final.choices[0].message.content


answer = agent("Weather in Paris?")
equal("mlflow answer", answer, FINAL_TEXT)
mlflow_provider.provider.get().force_flush()
trace_id = TRACE_ID
got = read_trace(trace_id, observations=4, capture_as="mlflow-tracing-3-openai-autolog")
obs = got["observations"]
check_tree(obs, "mlflow")
root = one([o for o in obs if not o.get("parentObservationId")], "mlflow root")
equal("mlflow root name", root["name"], "weather-agent")
equal("mlflow root type", root["type"], "AGENT")
equal("mlflow trace name", got["name"], "weather-agent")
check(FINAL_TEXT in text_of(root["output"]), f"mlflow root output {root['output']}")
generations = sorted(by_type(obs, "GENERATION"), key=lambda o: o["startTime"])
equal("mlflow generations", len(generations), 2)
for i, g in enumerate(generations):
    label = f"mlflow generation {i}"
    equal(f"{label} model", g["model"], "gpt-4o-mini")
    equal(f"{label} parent", g["parentObservationId"], root["id"])
    check_usage_cost(g, label)
    inp = as_json(g["input"])
    check("You are a weather bot." in text_of(inp) and "Weather in Paris?" in text_of(inp),
          f"{label} input {inp}")
check("get_weather" in text_of(generations[0]["output"]) and "Paris" in text_of(generations[0]["output"]),
      f"mlflow first output (tool call) {generations[0]['output']}")
check(FINAL_TEXT in text_of(generations[1]["output"]), f"mlflow final output {generations[1]['output']}")
tool = one(by_type(obs, "TOOL"), "mlflow tool")
equal("mlflow tool name", tool["name"], "get_weather")
equal("mlflow tool parent", tool["parentObservationId"], root["id"])
check("sunny" in text_of(tool["output"]), f"mlflow tool output {tool['output']}")
check("Paris" in text_of(tool["input"]), f"mlflow tool input {tool['input']}")
check(abs(got["totalCost"] - 2 * generations[0]["costDetails"]["total"]) < 1e-12, f"mlflow totalCost {got['totalCost']}")
print(f"ok: MLflow tracing {mlflow.__version__}: trace {trace_id} read back field by field")
