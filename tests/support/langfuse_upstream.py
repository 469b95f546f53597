"""A stand-in for the team's Langfuse behind Spanbridge's front door (Langfuse's web app cannot
run on these machines). It records every request it receives, exactly as received (request
target, headers, body length and SHA-256), and answers the documented response shapes of
Langfuse's public API for what clients call through the front door: prompts (v2), datasets (v2)
and dataset items, media (POST, the PUT to the upload URL it hands out, PATCH), health, a few web
UI routes, plus test routes (echo, large and gzip bodies, SSE, a hang, a redirect, hop-by-hop
answer headers).

Usage: python3 langfuse_upstream.py PORT [CERT_PEM KEY_PEM]   (prints "listening PORT" once it
accepts; with a certificate and key it speaks HTTPS)
GET /__recorded returns the recorded requests as JSON (not itself recorded).
"""

import base64
import datetime
import gzip
import hashlib
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

lock = threading.Lock()
recorded = []
prompts = {
    "movie-critic": [
        {
            "type": "text",
            "prompt": "As a {{criticLevel}} movie critic, do you like {{movie}}?",
            "config": {"temperature": 0.7},
        }
    ],
    "movie-critic-chat": [
        {
            "type": "chat",
            "prompt": [
                {"role": "system", "content": "You are an {{criticLevel}} movie critic"},
                {"role": "user", "content": "Do you like {{movie}}?"},
            ],
            "config": {},
        }
    ],
}
datasets = {}
dataset_items = []
media = {}


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def prompt_object(name: str, index: int) -> dict:
    stored = prompts[name][index]
    return {
        "name": name,
        "version": index + 1,
        "type": stored["type"],
        "prompt": stored["prompt"],
        "config": stored.get("config", {}),
        "labels": stored.get("labels", ["production", "latest"] if index == len(prompts[name]) - 1 else []),
        "tags": stored.get("tags", []),
        "commitMessage": stored.get("commitMessage"),
    }


def big_body(size: int) -> bytes:
    block = hashlib.sha256(b"spanbridge").digest() * 128  # 4 KiB, not compressible to nothing
    return (block * (size // len(block) + 1))[:size]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, status: int, body: bytes = b"", content_type: str = "application/json", headers=()):
        self.send_response(status)
        if body or status not in (204, 304):
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def json(self, status: int, value, headers=()):
        self.send(status, json.dumps(value).encode(), headers=headers)

    def handle_any(self):
        target = self.path
        url = urlsplit(target)
        path, query = url.path, parse_qs(url.query)
        if path == "/__recorded":
            with lock:
                return self.json(200, recorded)
        body = self.read_body()
        entry = {
            "method": self.command,
            "target": target,
            "headers": [[name.lower(), value] for name, value in self.headers.items()],
            "body_length": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }
        if len(body) < 65536 and "json" in (self.headers.get("Content-Type") or ""):
            try:
                entry["body_json"] = json.loads(body)
            except ValueError:
                pass
        with lock:
            recorded.append(entry)
        self.route(path, query, body)

    def route(self, path: str, query: dict, body: bytes):
        method = self.command
        one = lambda key: (query.get(key) or [None])[0]  # noqa: E731
        if path == "/api/public/health":
            return self.json(200, {"status": "OK", "version": "3.130.0-test-upstream"})
        if path.startswith("/api/public/v2/prompts/") and method == "GET":
            name = unquote(path[len("/api/public/v2/prompts/"):])
            versions = prompts.get(name)
            if not versions:
                return self.json(404, {"message": f"Prompt not found: {name}", "error": "LangfuseNotFoundError"})
            index = len(versions) - 1
            if one("version"):
                index = int(one("version")) - 1
            if not 0 <= index < len(versions):
                return self.json(404, {"message": "Prompt version not found", "error": "LangfuseNotFoundError"})
            return self.json(200, prompt_object(name, index))
        if path == "/api/public/v2/prompts" and method == "POST":
            request = json.loads(body)
            name = request["name"]
            stored = {key: request.get(key) for key in ("type", "prompt", "config", "labels", "tags", "commitMessage")}
            stored["type"] = stored["type"] or "text"
            stored["config"] = stored["config"] or {}
            stored["labels"] = (stored["labels"] or []) + ["latest"]
            stored["tags"] = stored["tags"] or []
            prompts.setdefault(name, []).append(stored)
            return self.json(200, prompt_object(name, len(prompts[name]) - 1))
        if path in ("/api/public/v2/datasets", "/api/public/datasets") and method == "POST":
            request = json.loads(body)
            dataset = {
                "id": "ds-" + uuid.uuid4().hex[:12],
                "name": request["name"],
                "description": request.get("description"),
                "metadata": request.get("metadata"),
                "inputSchema": request.get("inputSchema"),
                "expectedOutputSchema": request.get("expectedOutputSchema"),
                "projectId": "test-project",
                "createdAt": now(),
                "updatedAt": now(),
            }
            datasets[dataset["name"]] = dataset
            return self.json(200, dataset)
        for prefix in ("/api/public/v2/datasets/", "/api/public/datasets/"):
            if path.startswith(prefix) and method == "GET":
                name = unquote(path[len(prefix):])
                if name not in datasets:
                    return self.json(404, {"message": "Dataset not found", "error": "LangfuseNotFoundError"})
                dataset = dict(datasets[name])
                if prefix == "/api/public/datasets/":  # SDK 2.x reads items from the dataset
                    dataset["items"] = [i for i in dataset_items if i["datasetName"] == name]
                    dataset["runs"] = []
                return self.json(200, dataset)
        if path == "/api/public/dataset-items" and method == "POST":
            request = json.loads(body)
            name = request.get("datasetName")
            if name not in datasets:
                return self.json(404, {"message": "Dataset not found", "error": "LangfuseNotFoundError"})
            item = {
                "id": request.get("id") or "item-" + uuid.uuid4().hex[:12],
                "status": request.get("status") or "ACTIVE",
                "input": request.get("input"),
                "expectedOutput": request.get("expectedOutput"),
                "metadata": request.get("metadata"),
                "sourceTraceId": request.get("sourceTraceId"),
                "sourceObservationId": request.get("sourceObservationId"),
                "datasetId": datasets[name]["id"],
                "datasetName": name,
                "createdAt": now(),
                "updatedAt": now(),
                "mediaReferences": [],
            }
            dataset_items.append(item)
            return self.json(200, item)
        if path == "/api/public/dataset-items" and method == "GET":
            items = [i for i in dataset_items if i["datasetName"] == one("datasetName")]
            page, limit = int(one("page") or 1), int(one("limit") or 50)
            chunk = items[(page - 1) * limit: page * limit]
            pages = max(1, -(-len(items) // limit))
            return self.json(200, {"data": chunk, "meta": {"page": page, "limit": limit, "totalItems": len(items), "totalPages": pages}})
        if path == "/api/public/media" and method == "POST":
            request = json.loads(body)
            media_id = request["sha256Hash"].replace("+", "-").replace("/", "_")[:22]
            media[media_id] = {"request": request, "uploaded": None, "patched": None}
            host = self.server.server_address
            return self.json(200, {"uploadUrl": f"http://{host[0]}:{host[1]}/__upload/{media_id}", "mediaId": media_id})
        if path.startswith("/__upload/") and method == "PUT":
            media_id = path[len("/__upload/"):]
            if media_id not in media:
                return self.json(404, {"message": "unknown upload"})
            digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
            if digest != media[media_id]["request"]["sha256Hash"]:
                return self.json(400, {"message": "checksum mismatch"})
            media[media_id]["uploaded"] = len(body)
            return self.send(200)
        if path.startswith("/api/public/media/") and method == "PATCH":
            media_id = path[len("/api/public/media/"):]
            if media_id not in media:
                return self.json(404, {"message": "Media not found", "error": "LangfuseNotFoundError"})
            media[media_id]["patched"] = json.loads(body)
            return self.send(204)
        if path.startswith("/api/public/media/") and method == "GET":
            media_id = path[len("/api/public/media/"):]
            entry = media.get(media_id)
            if not entry:
                return self.json(404, {"message": "Media not found", "error": "LangfuseNotFoundError"})
            request = entry["request"]
            return self.json(200, {"mediaId": media_id, "contentType": request["contentType"], "contentLength": request["contentLength"], "uploadedAt": (entry["patched"] or {}).get("uploadedAt"), "url": f"http://upstream/__download/{media_id}", "urlExpiry": now()})
        if path == "/api/public/scores" and method == "GET":
            return self.json(200, {"data": [], "meta": {"page": 1, "limit": 50, "totalItems": 0, "totalPages": 0}})
        if path == "/api/auth/session":
            return self.json(200, {}, headers=[("Set-Cookie", "next-auth.csrf-token=abc; Path=/; HttpOnly")])
        if path.startswith("/api/trpc/"):
            return self.json(200, [{"result": {"data": {"json": {"procedure": path[len("/api/trpc/"):]}}}}])
        if path == "/" or path.startswith("/project/") or path.startswith("/auth/"):
            return self.send(200, f"<!doctype html><title>Langfuse</title><p>page {path}</p>".encode(), "text/html; charset=utf-8")
        if path == "/__echo":
            return self.send(200, body, self.headers.get("Content-Type") or "application/octet-stream", headers=[("X-Body-Sha256", hashlib.sha256(body).hexdigest())])
        if path == "/__big":
            return self.send(200, big_body(int(one("bytes") or 0)), "application/octet-stream")
        if path == "/__gzip":
            return self.send(200, gzip.compress(json.dumps({"compressed": True, "pad": "x" * 4096}).encode(), mtime=0), headers=[("Content-Encoding", "gzip")])
        if path == "/__sse":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(int(one("events") or 3)):
                event = f"id: {i}\nevent: tick\ndata: {{\"n\": {i}}}\n\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
                time.sleep(int(one("gap_ms") or 500) / 1000)
            self.wfile.write(b"0\r\n\r\n")
            return self.wfile.flush()
        if path == "/__hang":
            time.sleep(float(one("secs") or 30))
            return self.json(200, {"slept": True})
        if path == "/__redirect":
            return self.send(302, headers=[("Location", "/auth/sign-in")])
        if path == "/__hop":
            return self.send(200, b"{}", headers=[("Connection", "x-upstream-hop"), ("X-Upstream-Hop", "1"), ("Keep-Alive", "timeout=5"), ("X-Kept", "yes")])
        return self.json(404, {"message": f"test upstream has no route {method} {path}", "error": "NotFound"})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512


if __name__ == "__main__":
    server = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    if len(sys.argv) > 3:
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[2], sys.argv[3])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()
