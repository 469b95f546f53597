"""A local fake model endpoint for the live client tests: no network, deterministic answers.

Speaks OpenAI chat completions (`POST …/chat/completions`, plain and streamed with
`stream_options.include_usage`) and Gemini `generateContent` / `streamGenerateContent`
(`POST …/models/{model}:generateContent`). Every conversation gets the same two turns: while
no tool result is in the request, the model asks for the tool `get_weather` with
`{"city": "Paris"}`; once a tool result is there, it answers with FINAL_TEXT. Usage numbers
are fixed (PROMPT_TOKENS / COMPLETION_TOKENS) so the tests can assert usage and cost.

Run: python3 fake_llm.py PORT   (prints "ready" when listening)
"""

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FINAL_TEXT = "It is sunny in Paris, 21 degrees."
TOOL_NAME = "get_weather"
TOOL_ARGS = {"city": "Paris"}
PROMPT_TOKENS = 40
COMPLETION_TOKENS = 12


def _has_tool_result(conversation):
    """Whether the tool's answer is in the request, however the framework spells it (a `tool`
    message, a Gemini `functionResponse`, smolagents' "Observation:" user message): the tool
    of every test returns a forecast of "sunny", which nothing else in a request contains."""
    return "sunny" in json.dumps(conversation)


def _tool_names(tools):
    names = []
    for t in tools or []:
        names.append((t.get("function") or {}).get("name") or t.get("name"))
        for d in t.get("functionDeclarations") or t.get("function_declarations") or []:
            names.append(d.get("name"))
    return names


def _wants_tool(body_has_tools, has_result):
    return body_has_tools and not has_result


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, events):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for e in events:
            self.wfile.write(b"data: " + (e if isinstance(e, bytes) else json.dumps(e).encode()) + b"\n\n")
            self.wfile.flush()
        self.close_connection = True

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self._json(400, {"error": {"message": "not JSON"}})
        path = self.path.split("?")[0]
        if path.endswith("/chat/completions"):
            return self._openai(body)
        if ":generateContent" in path or ":streamGenerateContent" in path:
            return self._gemini(body, model=path.rsplit("/", 1)[-1].split(":")[0],
                                stream=":streamGenerateContent" in path)
        self._json(404, {"error": {"message": f"fake model: no route {path}"}})

    def _openai(self, body):
        model = body.get("model", "gpt-4o-mini")
        has_result = _has_tool_result(body.get("messages"))
        tool = _wants_tool(bool(body.get("tools") or body.get("functions")), has_result)
        # Agents that end only through a `final_answer` tool (smolagents) get their answer so.
        final_tool = has_result and "final_answer" in _tool_names(body.get("tools"))
        usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
                 "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS}
        created = int(time.time())
        if tool or final_tool:
            name, args = (("final_answer", {"answer": FINAL_TEXT}) if final_tool
                          else (TOOL_NAME, TOOL_ARGS))
            message = {"role": "assistant", "content": None, "tool_calls": [{
                "id": "call_weather_1" if tool else "call_final_1", "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)}}]}
            finish = "tool_calls"
        else:
            message = {"role": "assistant", "content": FINAL_TEXT}
            finish = "stop"
        if not body.get("stream"):
            return self._json(200, {
                "id": "chatcmpl-fake", "object": "chat.completion", "created": created,
                "model": model, "choices": [{"index": 0, "message": message,
                                             "finish_reason": finish, "logprobs": None}],
                "usage": usage})
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created,
                "model": model}
        if tool or final_tool:
            call = message["tool_calls"][0]
            deltas = [{"role": "assistant", "content": None, "tool_calls": [
                {"index": 0, "id": call["id"], "type": "function",
                 "function": {"name": call["function"]["name"], "arguments": ""}}]},
                {"tool_calls": [{"index": 0, "function": {"arguments": call["function"]["arguments"]}}]}]
        else:
            deltas = [{"role": "assistant", "content": FINAL_TEXT[:10]}, {"content": FINAL_TEXT[10:]}]
        events = [dict(base, choices=[{"index": 0, "delta": d, "finish_reason": None}]) for d in deltas]
        events.append(dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": finish}]))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append(dict(base, choices=[], usage=usage))
        events.append(b"[DONE]")
        self._sse(events)

    def _gemini(self, body, model, stream):
        tool = _wants_tool(bool(body.get("tools")), _has_tool_result(body.get("contents")))
        if tool:
            parts = [{"functionCall": {"name": TOOL_NAME, "args": TOOL_ARGS}}]
        else:
            parts = [{"text": FINAL_TEXT}]
        answer = {
            "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP",
                            "index": 0}],
            "usageMetadata": {"promptTokenCount": PROMPT_TOKENS,
                              "candidatesTokenCount": COMPLETION_TOKENS,
                              "totalTokenCount": PROMPT_TOKENS + COMPLETION_TOKENS},
            "modelVersion": model,
        }
        if stream:
            return self._sse([answer])
        self._json(200, answer)


def main():
    port = int(sys.argv[1])
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
