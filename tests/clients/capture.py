"""A recording proxy in front of `spanbridge serve` for the live client tests.

Every request is forwarded unchanged to the upstream Spanbridge and its answer returned
unchanged, so the clients see the real server. OTLP trace exports (`…/v1/traces`, protobuf or
JSON, gzip or not) are also kept in memory as OTLP/JSON. `POST /__capture/NAME` writes the
requests kept since the last call, merged into one ExportTraceServiceRequest, to
`$SB_CAPTURE_DIR/NAME.json` (when that variable is set; the golden fixtures under
tests/fixtures/otlp/ are made this way) and forgets them.

Run: python capture.py PORT UPSTREAM_URL   (needs opentelemetry-proto; prints "ready")
"""

import base64
import gzip
import json
import os
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

UPSTREAM = ""
KEPT = []
LOCK = threading.Lock()
HOP = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}


def _hex_ids(node):
    """OTLP/JSON spells ids as hex; protobuf's JSON mapping spells bytes as base64."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str):
                node[k] = base64.b64decode(v).hex()
            else:
                _hex_ids(v)
    elif isinstance(node, list):
        for v in node:
            _hex_ids(v)


def _as_json(body, content_type):
    if "json" in content_type:
        return json.loads(body)
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    out = MessageToDict(request, use_integers_for_enums=True)
    _hex_ids(out)
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _reply(self, status, headers, data):
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else None

    def _forward(self, method):
        body = self._body()
        path = self.path.split("?")[0]
        if method == "POST" and path.startswith("/__capture/"):
            return self._dump(path[len("/__capture/"):])
        if method == "POST" and path.endswith("/v1/traces") and body:
            raw = gzip.decompress(body) if self.headers.get("Content-Encoding") == "gzip" else body
            try:
                kept = _as_json(raw, self.headers.get("Content-Type", ""))
                with LOCK:
                    KEPT.append(kept)
            except Exception as e:  # a capture problem must not change what the client sees
                print(f"capture: could not decode a trace export: {e}", file=sys.stderr)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        request = urllib.request.Request(UPSTREAM + self.path, data=body, headers=headers,
                                         method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                self._reply(answer.status, answer.getheaders(), answer.read())
        except urllib.error.HTTPError as e:
            self._reply(e.code, e.headers.items(), e.read())

    def _dump(self, name):
        with LOCK:
            kept = list(KEPT)
            KEPT.clear()
        merged = {"resourceSpans": [rs for k in kept for rs in k.get("resourceSpans", [])]}
        out_dir = os.environ.get("SB_CAPTURE_DIR")
        if out_dir:
            with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
                json.dump(merged, f, indent=1, sort_keys=True)
                f.write("\n")
        self._reply(200, [("Content-Type", "application/json")],
                    json.dumps({"requests": len(kept)}).encode())

    def do_POST(self):
        self._forward("POST")

    def do_GET(self):
        self._forward("GET")

    def do_PUT(self):
        self._forward("PUT")

    def do_PATCH(self):
        self._forward("PATCH")

    def do_DELETE(self):
        self._forward("DELETE")


def main():
    global UPSTREAM
    port = int(sys.argv[1])
    UPSTREAM = sys.argv[2].rstrip("/")
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
