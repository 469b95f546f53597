"""Live test: the current Langfuse LangChain/LangGraph CallbackHandler (`langfuse.langchain`,
Langfuse Python SDK 5.x, OTLP) on a LangGraph ReAct agent with ChatOpenAI, against the fake
model endpoint (tool call, then answer). Trace attributes come the documented way: the
`langfuse_user_id` / `langfuse_session_id` / `langfuse_tags` keys of the run's metadata.

Usage (run.sh sets the environment, see readback.py): python langfuse_langgraph.py
"""

from importlib.metadata import version

from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langfuse import Langfuse
from langfuse.langchain import CallbackHandler

from readback import (FAKE_LLM, FINAL_TEXT, PK, SK, URL, traces_of_session, by_type, capture, check,
                      check_tree, check_usage_cost, equal, one, read_trace, text_of)

try:
    from langchain.agents import create_agent as make_agent

    def build(model, tools):
        return make_agent(model, tools, system_prompt="You are a weather bot.")
except ImportError:  # older LangChain: LangGraph's prebuilt agent
    from langgraph.prebuilt import create_react_agent

    def build(model, tools):
        return create_react_agent(model, tools, prompt="You are a weather bot.")

langfuse = Langfuse(public_key=PK, secret_key=SK, base_url=URL)
handler = CallbackHandler()


@tool
def get_weather(city: str) -> dict:
    """Weather in a city."""
    return {"city": city, "forecast": "sunny", "celsius": 21}


model = ChatOpenAI(model="gpt-4o-mini", base_url=f"{FAKE_LLM}/v1", api_key="fake", temperature=0.2)
graph = build(model, [get_weather])
result = graph.invoke(
    {"messages": [{"role": "user", "content": "Weather in Paris?"}]},
    config={"callbacks": [handler], "run_name": "weather-graph",
            "metadata": {"langfuse_user_id": "user-lc", "langfuse_session_id": "session-lc",
                         "langfuse_tags": ["live", "langgraph"], "team": "search"}})
equal("langgraph answer", result["messages"][-1].content, FINAL_TEXT)
langfuse.flush()

traces = traces_of_session("session-lc")
check(len(traces) == 1, f"langgraph: traces of the session {traces}")
trace_id = traces[0]
got = read_trace(trace_id, observations=4, capture_as="langfuse-langgraph-callback")
obs = got["observations"]
check_tree(obs, "langgraph")
equal("langgraph trace name", got["name"], "weather-graph")
equal("langgraph user", got["userId"], "user-lc")
equal("langgraph session", got["sessionId"], "session-lc")
equal("langgraph tags", sorted(got["tags"]), ["langgraph", "live"])
root = one([o for o in obs if not o.get("parentObservationId")], "langgraph root")
equal("langgraph root name", root["name"], "weather-graph")
check(FINAL_TEXT in text_of(root["output"]), f"langgraph root output {root['output']}")
generations = sorted(by_type(obs, "GENERATION"), key=lambda o: o["startTime"])
equal("langgraph generations", len(generations), 2)
for i, g in enumerate(generations):
    gl = f"langgraph generation {i}"
    equal(f"{gl} model", g["model"], "gpt-4o-mini")
    check_usage_cost(g, gl)
    inp = text_of(g["input"])
    check("You are a weather bot." in inp and "Weather in Paris?" in inp, f"{gl} input {g['input']}")
    equal(f"{gl} temperature", (g["modelParameters"] or {}).get("temperature"), 0.2)
check("get_weather" in text_of(generations[0]["output"]), f"langgraph tool call output {generations[0]['output']}")
check(FINAL_TEXT in text_of(generations[1]["output"]), f"langgraph final output {generations[1]['output']}")
tool_obs = one(by_type(obs, "TOOL"), "langgraph tool")
equal("langgraph tool name", tool_obs["name"], "get_weather")
check("Paris" in text_of(tool_obs["input"]), f"langgraph tool input {tool_obs['input']}")
check("sunny" in text_of(tool_obs["output"]), f"langgraph tool output {tool_obs['output']}")
equal("langgraph trace metadata team", got["metadata"].get("team"), "search")
print(f"ok: Langfuse {version('langfuse')} CallbackHandler on LangGraph {version('langgraph')} / "
      f"LangChain {version('langchain')}: trace {trace_id} read back field by field")
