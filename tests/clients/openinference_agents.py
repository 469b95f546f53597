"""Live test: agent frameworks traced by their OpenInference instrumentors (Arize), each with the
OpenTelemetry SDK's OTLP/HTTP exporter, against the fake model endpoint's OpenAI chat
completions (tool call, then answer), read back field by field.

FRAMEWORK is one of
  llamaindex  LlamaIndex FunctionAgent + llama-index-llms-openai (openinference-instrumentation-llama-index)
  smolagents  smolagents ToolCallingAgent + OpenAIServerModel (openinference-instrumentation-smolagents);
              it ends through a `final_answer` tool call, which the fake model makes
  agno        Agno Agent + OpenAIChat (openinference-instrumentation-agno)
User, session, tags and metadata are set with OpenInference's `using_attributes`.

Usage (run.sh sets the environment, see readback.py): python openinference_agents.py FRAMEWORK
"""

import asyncio
import sys
from importlib.metadata import version

from openinference.instrumentation import using_attributes
from opentelemetry import trace as otel_trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from readback import (AUTH, FAKE_LLM, FINAL_TEXT, URL, traces_of_session, by_type, capture, check, check_tree,
                      check_usage_cost, equal, read_trace, text_of)

framework = sys.argv[1]
provider = TracerProvider(resource=Resource.create({"service.name": f"{framework}-weather"}))
provider.add_span_processor(SimpleSpanProcessor(
    OTLPSpanExporter(endpoint=f"{URL}/v1/traces", headers={"Authorization": AUTH})))
otel_trace.set_tracer_provider(provider)
SYSTEM = "You are a weather bot."
QUESTION = "Weather in Paris?"


def get_weather(city: str) -> dict:
    """Weather in a city.

    Args:
        city: The city.
    """
    return {"city": city, "forecast": "sunny", "celsius": 21}


def run_llamaindex():
    from llama_index.core.agent.workflow import FunctionAgent
    from llama_index.llms.openai import OpenAI
    from openinference.instrumentation.llama_index import LlamaIndexInstrumentor

    LlamaIndexInstrumentor().instrument(tracer_provider=provider)
    llm = OpenAI(model="gpt-4o-mini", api_base=f"{FAKE_LLM}/v1", api_key="fake")
    agent = FunctionAgent(tools=[get_weather], llm=llm, system_prompt=SYSTEM, streaming=False)

    async def go():
        return await agent.run(QUESTION)

    return str(asyncio.run(go())), "llama-index-core"


def run_smolagents():
    from openinference.instrumentation.smolagents import SmolagentsInstrumentor
    from smolagents import OpenAIServerModel, ToolCallingAgent, tool

    SmolagentsInstrumentor().instrument(tracer_provider=provider)
    model = OpenAIServerModel(model_id="gpt-4o-mini", api_base=f"{FAKE_LLM}/v1", api_key="fake")
    agent = ToolCallingAgent(tools=[tool(get_weather)], model=model, max_steps=4,
                             instructions=SYSTEM)
    return str(agent.run(QUESTION)), "smolagents"


def run_agno():
    from agno.agent import Agent
    from agno.models.openai import OpenAIChat
    from openinference.instrumentation.agno import AgnoInstrumentor

    AgnoInstrumentor().instrument(tracer_provider=provider)
    agent = Agent(name="weather-agent", model=OpenAIChat(id="gpt-4o-mini", base_url=f"{FAKE_LLM}/v1", api_key="fake"),
                  tools=[get_weather], instructions=SYSTEM)
    return str(agent.run(QUESTION).content), "agno"


RUN = {"llamaindex": run_llamaindex, "smolagents": run_smolagents, "agno": run_agno}
session = f"session-{framework}"
with using_attributes(session_id=session, user_id=f"user-{framework}", tags=["live", framework],
                      metadata={"team": "search"}):
    with otel_trace.get_tracer("live-test").start_as_current_span(f"{framework}-weather-run"):
        answer, package = RUN[framework]()
provider.force_flush()
check(FINAL_TEXT in answer, f"{framework} answer {answer!r}")

label = framework
traces = traces_of_session(f"{session}")
check(len(traces) == 1, f"{label}: traces of the session {traces}")
trace_id = traces[0]
got = read_trace(trace_id, observations=4, capture_as=f"openinference-{framework}")
obs = got["observations"]
check_tree(obs, label)
equal(f"{label} trace name", got["name"], f"{framework}-weather-run")
equal(f"{label} user", got["userId"], f"user-{framework}")
equal(f"{label} session", got["sessionId"], session)
equal(f"{label} tags", sorted(got["tags"]), sorted(["live", framework]))
# The model calls: GENERATIONs with usage (LlamaIndex also marks its request-preparation step
# `_prepare_chat_with_tools` as an LLM span; it has a model but no call, so no usage).
generations = sorted((g for g in by_type(obs, "GENERATION") if g.get("usageDetails")),
                     key=lambda o: o["startTime"])
equal(f"{label} generations", len(generations), 2)
for i, g in enumerate(generations):
    gl = f"{label} generation {i}"
    equal(f"{gl} model", g["model"], "gpt-4o-mini")
    check_usage_cost(g, gl)
    inp = text_of(g["input"])
    check(SYSTEM in inp, f"{gl}: system prompt missing from input {str(g['input'])[:800]}")
    check(QUESTION in inp, f"{gl}: user message missing from input {str(g['input'])[:800]}")
    equal(f"{gl} metadata team", g["metadata"].get("team"), "search")
check("get_weather" in text_of(generations[0]["output"]) and "Paris" in text_of(generations[0]["output"]),
      f"{label}: tool call missing from output {generations[0]['output']}")
final_out = text_of(generations[1]["output"])
check(FINAL_TEXT in final_out, f"{label}: final answer missing from output {generations[1]['output']}")
# OpenInference's `tool.name` names the observation (smolagents names the span `SimpleTool`).
tools = [o for o in by_type(obs, "TOOL") if o["name"] == "get_weather"]
check(len(tools) == 1, f"{label}: get_weather tool observations {[(o['name'], o['type']) for o in obs]}")
check("Paris" in text_of(tools[0]["input"]), f"{label} tool input {tools[0]['input']}")
check("sunny" in text_of(tools[0]["output"]), f"{label} tool output {tools[0]['output']}")
check(abs(got["totalCost"] - sum(g["costDetails"]["total"] for g in generations)) < 1e-12,
      f"{label} totalCost {got['totalCost']}")
print(f"ok: {package} {version(package)} (OpenInference): trace {trace_id} read back field by field")
