"""Live test: Google ADK (LlmAgent + InMemoryRunner, Gemini API through google-genai) with the
OpenTelemetry SDK's OTLP/HTTP exporter, against the fake model endpoint's Gemini
`generateContent` (tool call, then answer; `GOOGLE_GEMINI_BASE_URL` points google-genai at
it). Read back field by field; gemini-2.0-flash is priced in sink/data/model-prices.json.

ADK 2.x is semconv-aligned: content is off unless OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT
asks for it; SPAN_ONLY (set here) puts `gen_ai.input.messages` / `gen_ai.output.messages` /
`gen_ai.system_instructions` and the tool's `gen_ai.tool.call.arguments` / `.result` on the
spans. ADK sends no user id on its spans (the runner's user_id is not exported), so none is
asserted; the session is `gen_ai.conversation.id`.

Usage (run.sh sets the environment, see readback.py): python google_adk_agent.py
"""

import asyncio
import os
from importlib.metadata import version

from readback import (AUTH, FAKE_LLM, FINAL_TEXT, URL, traces_of_session, by_type, capture, check,
                      check_tree, check_usage_cost, equal, one, read_trace, text_of)

os.environ["GOOGLE_GEMINI_BASE_URL"] = FAKE_LLM
os.environ["GOOGLE_API_KEY"] = "fake"
os.environ["GOOGLE_GENAI_USE_VERTEXAI"] = "false"
os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "SPAN_ONLY"

from opentelemetry import trace as otel_trace  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402

provider = TracerProvider(resource=Resource.create({"service.name": "adk-weather"}))
provider.add_span_processor(SimpleSpanProcessor(
    OTLPSpanExporter(endpoint=f"{URL}/v1/traces", headers={"Authorization": AUTH})))
otel_trace.set_tracer_provider(provider)

from google.adk.agents import LlmAgent  # noqa: E402
from google.adk.runners import InMemoryRunner  # noqa: E402
from google.genai import types  # noqa: E402

GEMINI_2_0_FLASH_COST = 40 * 1e-7 + 12 * 4e-7


def get_weather(city: str) -> dict:
    """Weather in a city."""
    return {"city": city, "forecast": "sunny", "celsius": 21}


agent = LlmAgent(name="weather_agent", model="gemini-2.0-flash",
                 instruction="You are a weather bot.", tools=[get_weather])


async def main():
    runner = InMemoryRunner(agent=agent, app_name="weather-app")
    session = await runner.session_service.create_session(app_name="weather-app", user_id="user-adk")
    final = ""
    async for event in runner.run_async(
            user_id="user-adk", session_id=session.id,
            new_message=types.Content(role="user", parts=[types.Part(text="Weather in Paris?")])):
        if event.is_final_response() and event.content and event.content.parts:
            final = "".join(p.text or "" for p in event.content.parts)
    return session.id, final


session_id, answer = asyncio.run(main())
equal("adk answer", answer, FINAL_TEXT)
provider.force_flush()
traces = traces_of_session(f"{session_id}")
check(len(traces) == 1, f"adk: traces of session {session_id}: {traces}")
trace_id = traces[0]
got = read_trace(trace_id, observations=4, capture_as="google-adk-agent")
obs = got["observations"]
check_tree(obs, "adk")
equal("adk session", got["sessionId"], session_id)
generations = sorted(by_type(obs, "GENERATION"), key=lambda o: o["startTime"])
equal("adk generations", len(generations), 2)
for i, g in enumerate(generations):
    gl = f"adk generation {i}"
    equal(f"{gl} model", g["model"], "gemini-2.0-flash")
    check_usage_cost(g, gl, cost=GEMINI_2_0_FLASH_COST)
    inp = text_of(g["input"])
    check("You are a weather bot." in inp, f"{gl}: system instruction missing from input {g['input']}")
    check("Weather in Paris?" in inp, f"{gl}: user message missing from input {g['input']}")
check("get_weather" in text_of(generations[0]["output"]), f"adk first output {generations[0]['output']}")
check(FINAL_TEXT in text_of(generations[1]["output"]), f"adk final output {generations[1]['output']}")
tool = one(by_type(obs, "TOOL"), "adk tool")
check("get_weather" in tool["name"], f"adk tool name {tool['name']}")
check("Paris" in text_of(tool["input"]), f"adk tool input {tool['input']}")
check("sunny" in text_of(tool["output"]), f"adk tool output {tool['output']}")
agents = by_type(obs, "AGENT")
check(len(agents) >= 1, f"adk: no AGENT observation in {[o['type'] for o in obs]}")
check(got["name"], f"adk trace name {got['name']!r}")
print(f"ok: Google ADK {version('google-adk')}: trace {trace_id} read back field by field")
