"""Live test: the Langfuse Python SDK 5.x (OTLP) with decorators and context managers, against
the fake model endpoint (tool call, then answer), read back through Spanbridge's read API.

SDK 5.x JSON-encodes every metadata value, strings included; Spanbridge decodes them for this
SDK (scope `langfuse-sdk`, version ≥ 5, Python), so each JSON type must read back as the
client set it, on observations and on the trace (propagate_attributes(metadata=…)).

Usage (run.sh sets the environment, see readback.py): python langfuse_v5.py
"""

import json

import langfuse as langfuse_package
from langfuse import Langfuse, observe, propagate_attributes
from openai import OpenAI

from readback import (FAKE_LLM, FINAL_TEXT, PK, SK, URL, as_json, by_type, capture, check,
                      check_tree, check_usage_cost, equal, one, read_trace, text_of)

check(langfuse_package.__version__.startswith("5."), f"langfuse {langfuse_package.__version__} is not 5.x")
langfuse = Langfuse(public_key=PK, secret_key=SK, base_url=URL)
llm = OpenAI(base_url=f"{FAKE_LLM}/v1", api_key="fake")
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
# Every JSON type, and a string that looks like a number (must stay a string).
METADATA = {"s": "abc", "n": 1, "f": 1.5, "b": True, "num_str": "123", "list": [1, "a"],
            "obj": {"k": "v"}}
TRACE_METADATA = {"team": "search", "attempt": 2, "beta": False}


def chat(messages, name):
    """One model call as a context-managed generation, usage and output set by hand."""
    with langfuse.start_as_current_observation(
            name=name, as_type="generation", model="gpt-4o-mini", input=messages,
            model_parameters={"temperature": 0.2}, metadata=METADATA) as generation:
        answer = llm.chat.completions.create(model="gpt-4o-mini", messages=messages,
                                             tools=TOOLS, temperature=0.2)
        message = answer.choices[0].message.model_dump(exclude_none=True)
        generation.update(output=message, usage_details={
            "input": answer.usage.prompt_tokens, "output": answer.usage.completion_tokens})
        return answer.choices[0].message


@observe(name="get_weather", as_type="tool")
def get_weather(city):
    return {"city": city, "forecast": "sunny", "celsius": 21}


@observe(name="weather-agent", as_type="agent")
def agent(question):
    global TRACE_ID
    TRACE_ID = langfuse.get_current_trace_id()
    with propagate_attributes(trace_name="lf5-weather", user_id="user-lf5", session_id="session-lf5",
                              tags=["live", "lf5"], metadata=TRACE_METADATA,
                              version="1.2.3"):
        messages = [{"role": "system", "content": "You are a weather bot."},
                    {"role": "user", "content": question}]
        first = chat(messages, "plan")
        call = first.tool_calls[0]
        result = get_weather(**json.loads(call.function.arguments))
        messages += [first.model_dump(exclude_none=True),
                     {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}]
        final = chat(messages, "answer")
        return final.content


answer = agent("Weather in Paris?")
langfuse.flush()
equal("agent answer", answer, FINAL_TEXT)

trace_id = TRACE_ID
got = read_trace(trace_id, observations=4, capture_as="langfuse-python-5-decorators")
obs = got["observations"]
check_tree(obs, "lf5")
equal("lf5 trace name", got["name"], "lf5-weather")
equal("lf5 trace user", got["userId"], "user-lf5")
equal("lf5 trace session", got["sessionId"], "session-lf5")
equal("lf5 trace tags", sorted(got["tags"]), ["lf5", "live"])
root = one([o for o in obs if not o.get("parentObservationId")], "lf5 root")
equal("lf5 root type", root["type"], "AGENT")
equal("lf5 root name", root["name"], "weather-agent")
equal("lf5 root output", as_json(root["output"]), FINAL_TEXT)
# propagate_attributes(metadata=…): encoded like observation metadata; no extra quotes back.
for k, v in {"team": "search", "attempt": "2", "beta": "false"}.items():
    equal(f"lf5 trace metadata {k}", got["metadata"].get(k), v)
generations = sorted(by_type(obs, "GENERATION"), key=lambda o: o["startTime"])
equal("lf5 generations", [g["name"] for g in generations], ["plan", "answer"])
for g in generations:
    equal(f"lf5 {g['name']} parent", g["parentObservationId"], root["id"])
    equal(f"lf5 {g['name']} model", g["model"], "gpt-4o-mini")
    check_usage_cost(g, f"lf5 {g['name']}")
    equal(f"lf5 {g['name']} modelParameters", g["modelParameters"], {"temperature": 0.2})
    md = g["metadata"]
    equal(f"lf5 {g['name']} metadata.s", md.get("s"), "abc")
    equal(f"lf5 {g['name']} metadata.n", md.get("n"), "1")
    equal(f"lf5 {g['name']} metadata.f", md.get("f"), "1.5")
    equal(f"lf5 {g['name']} metadata.b", md.get("b"), "true")
    equal(f"lf5 {g['name']} metadata.num_str", md.get("num_str"), "123")
    equal(f"lf5 {g['name']} metadata.list", md.get("list"), [1, "a"])
    equal(f"lf5 {g['name']} metadata.obj", md.get("obj"), {"k": "v"})
    inp = as_json(g["input"])
    equal(f"lf5 {g['name']} input[0]", inp[0], {"role": "system", "content": "You are a weather bot."})
    equal(f"lf5 {g['name']} input[1]", inp[1], {"role": "user", "content": "Weather in Paris?"})
plan_out = as_json(generations[0]["output"])
equal("lf5 plan tool call", plan_out["tool_calls"][0]["function"]["name"], "get_weather")
equal("lf5 plan tool args", json.loads(plan_out["tool_calls"][0]["function"]["arguments"]), {"city": "Paris"})
equal("lf5 answer output", as_json(generations[1]["output"])["content"], FINAL_TEXT)
tool = one(by_type(obs, "TOOL"), "lf5 tool")
equal("lf5 tool name", tool["name"], "get_weather")
equal("lf5 tool parent", tool["parentObservationId"], root["id"])
check("sunny" in text_of(tool["output"]), f"lf5 tool output {tool['output']}")
check("Paris" in text_of(tool["input"]), f"lf5 tool input {tool['input']}")
print(f"ok: Langfuse Python SDK {langfuse_package.__version__}: trace {trace_id} read back field by field")
