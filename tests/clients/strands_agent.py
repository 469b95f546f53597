"""Live test: Strands Agents (OpenAI provider) with its own OTLP/HTTP exporter, in either
semconv mode, against the fake model endpoint (tool call, then answer).

MODE is `legacy` (Strands' default: `gen_ai.{user,assistant,tool}.message` / `gen_ai.choice`
events) or `latest` (`OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`: several
`gen_ai.client.inference.operation.details` events on one span, which must merge in order:
system instructions, input messages, output messages; and the tool span's
`gen_ai.tool.call.result`). run.sh sets the variable before Python starts, as a user would.

Usage (run.sh sets the environment, see readback.py): python strands_agent.py MODE
"""

import json
import os
import sys

from readback import (traces_of_session, AUTH, FAKE_LLM, FINAL_TEXT, URL, as_json, by_type, capture, check,
                      check_tree, check_usage_cost, equal, one, read_trace, text_of)

mode = sys.argv[1]
latest = "gen_ai_latest_experimental" in os.environ.get("OTEL_SEMCONV_STABILITY_OPT_IN", "")
check(latest == (mode == "latest"), f"strands {mode}: OTEL_SEMCONV_STABILITY_OPT_IN is {os.environ.get('OTEL_SEMCONV_STABILITY_OPT_IN')!r}")

from importlib.metadata import version  # noqa: E402

from opentelemetry import trace as otel_trace  # noqa: E402
from strands import Agent, tool  # noqa: E402
from strands.models.openai import OpenAIModel  # noqa: E402
from strands.telemetry import StrandsTelemetry  # noqa: E402

telemetry = StrandsTelemetry()
telemetry.setup_otlp_exporter(endpoint=f"{URL}/v1/traces", headers={"Authorization": AUTH})


@tool
def get_weather(city: str) -> dict:
    """Weather in a city."""
    return {"city": city, "forecast": "sunny", "celsius": 21}


model = OpenAIModel(client_args={"api_key": "fake", "base_url": f"{FAKE_LLM}/v1"},
                    model_id="gpt-4o-mini", params={"temperature": 0.2})
agent = Agent(model=model, tools=[get_weather], system_prompt="You are a weather bot.",
              name="weather-agent", callback_handler=None,
              trace_attributes={"session.id": f"session-strands-{mode}", "user.id": "user-strands",
                                "langfuse.tags": ["live", "strands"]})
result = agent("Weather in Paris?")
check(FINAL_TEXT in str(result), f"strands answer {result}")
otel_trace.get_tracer_provider().force_flush()

# The trace: the one whose session is this mode's.

traces = traces_of_session(f"session-strands-{mode}")
check(len(traces) == 1, f"strands {mode}: traces of the session {traces}")
trace_id = traces[0]
got = read_trace(trace_id, observations=5, capture_as=f"strands-{mode}-semconv",
                 ready=lambda t: any(o["type"] == "AGENT" for o in t["observations"]))
obs = got["observations"]
label = f"strands {mode}"
check_tree(obs, label)
equal(f"{label} user", got["userId"], "user-strands")
equal(f"{label} session", got["sessionId"], f"session-strands-{mode}")
equal(f"{label} tags", sorted(got["tags"]), ["live", "strands"])
root = one([o for o in obs if not o.get("parentObservationId")], f"{label} root")
equal(f"{label} root type", root["type"], "AGENT")
equal(f"{label} trace name", got["name"], root["name"])
check("weather-agent" in root["name"], f"{label} root name {root['name']}")
check(FINAL_TEXT in text_of(root["output"]), f"{label} root output {root['output']}")
generations = sorted(by_type(obs, "GENERATION"), key=lambda o: o["startTime"])
equal(f"{label} generations", len(generations), 2)
for i, g in enumerate(generations):
    gl = f"{label} generation {i}"
    equal(f"{gl} model", g["model"], "gpt-4o-mini")
    check_usage_cost(g, gl)
    inp = text_of(g["input"])
    check("You are a weather bot." in inp, f"{gl}: system prompt missing from input {g['input']}")
    check("Weather in Paris?" in inp, f"{gl}: user message missing from input {g['input']}")
out0, out1 = text_of(generations[0]["output"]), text_of(generations[1]["output"])
check("get_weather" in out0 and "Paris" in out0, f"{label}: tool call missing from output {generations[0]['output']}")
check(FINAL_TEXT in out1, f"{label}: final text missing from output {generations[1]['output']}")
tool_obs = one(by_type(obs, "TOOL"), f"{label} tool")
equal(f"{label} tool name", tool_obs["name"], "get_weather")
check("Paris" in text_of(tool_obs["input"]), f"{label} tool input {tool_obs['input']}")
check("sunny" in text_of(tool_obs["output"]), f"{label} tool output {tool_obs['output']}")
# The agent's roll-up usage is not counted again: the trace's cost is the two calls'.
check(abs(got["totalCost"] - sum(g["costDetails"]["total"] for g in generations)) < 1e-12,
      f"{label} totalCost {got['totalCost']}")
print(f"ok: Strands Agents {version('strands-agents')} ({mode} semconv): trace {trace_id} read back field by field")
