"""ClickHouse's HTTP interface in front of the ClickHouse engine of the `chdb-core` wheel, for
tests on machines without a ClickHouse server (no Docker engine, no current server package).

Adopted from the team's shared tool `shared/tools/chdb_http.py` (verified there with the
`clickhouse` crate 0.15): same semantics; it also creates DATA_DIR when missing.

  python chdb_http.py PORT DATA_DIR

Semantics followed: GET/POST '/', `query` param (+ body as data) or body as query, `database`
param, FORMAT clause decides the output, `param_<name>` params are query parameters
(`{name: Type}` in the SQL, as Langfuse sends its queries), other params are settings, errors
as HTTP 500 with X-ClickHouse-Exception-Code, '/ping' -> 'Ok.', chunked request bodies. An INSERT body is
written to a temp file and loaded with `INSERT … FROM INFILE … FORMAT <fmt>` unchanged.

Limits (see README "Test services"): one engine, queries run one at a time (a lock); compressed
bodies (`decompress=1`, Content-Encoding) are refused, so clients run with compression `none`;
no users or passwords (credentials are ignored); no sessions, no query cancellation;
`wait_end_of_query` and progress headers are ignored. Data persists in DATA_DIR, so a restart
on the same directory keeps the tables (a "ClickHouse down" fault is a killed adapter).
"""
import os, re, sys, tempfile, threading, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from chdb import state

PORT, DATA = int(sys.argv[1]), sys.argv[2]
os.makedirs(DATA, exist_ok=True)
conn = state.connect(DATA)
lock = threading.Lock()
INSERT_FMT = re.compile(r"^(\s*INSERT\s+INTO\s+.*?)\s+FORMAT\s+(\w+)\s*$", re.I | re.S)


NOT_SETTINGS = {"query", "database", "default_format", "user", "password", "query_id", "session_id",
                "session_timeout", "compress", "decompress", "wait_end_of_query", "buffer_size"}


def run(sql, database, data=None, fmt="TabSeparated", settings=(), params=None):
    with lock:
        if database:
            conn.query(f"USE `{database}`")
        for k, v in settings:
            val = v if re.fullmatch(r"-?\d+(\.\d+)?", v) else "'" + v.replace("'", "\\'") + "'"
            conn.query(f"SET {k} = {val}")
        if data is not None:
            m = INSERT_FMT.match(sql)
            if not m:
                raise ValueError("Code: 62. DB::Exception: body data given but query is not INSERT ... FORMAT")
            with tempfile.NamedTemporaryFile(delete=False, dir=DATA) as f:
                f.write(data)
            try:
                return conn.query(f"{m.group(1)} FROM INFILE '{f.name}' FORMAT {m.group(2)}").bytes()
            finally:
                os.unlink(f.name)
        # Query parameters go with this query only (a `SET param_…` would outlive it).
        return conn.query(sql, fmt, params=params or None).bytes()


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, body, headers=None):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self, body):
        u = urllib.parse.urlparse(self.path)
        if u.path == "/ping":
            return self.reply(200, b"Ok.\n")
        q = urllib.parse.parse_qs(u.query)
        if q.get("decompress", ["0"])[0] == "1" or self.headers.get("Content-Encoding"):
            return self.reply(500, b"Code: 1. DB::Exception: compressed bodies are not supported by this adapter",
                              {"X-ClickHouse-Exception-Code": "1"})
        sql = q.get("query", [None])[0]
        data = None
        if sql is None:
            sql = body.decode()
        elif body:
            data = body
        try:
            params = {k[len("param_"):]: v[0] for k, v in q.items() if k.startswith("param_")}
            settings = [(k, v[0]) for k, v in q.items()
                        if k not in NOT_SETTINGS and not k.startswith("param_") and re.fullmatch(r"\w+", k)]
            out = run(sql, q.get("database", [None])[0], data, q.get("default_format", ["TabSeparated"])[0],
                      settings, params)
            self.reply(200, out or b"", {"X-ClickHouse-Summary": "{}"})
        except Exception as e:
            msg = str(e)
            m = re.search(r"Code: (\d+)", msg)
            self.reply(500, msg.encode(), {"X-ClickHouse-Exception-Code": m.group(1) if m else "1"})

    def do_GET(self):
        self.handle_any(b"")

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline(); break
                chunks.append(self.rfile.read(size)); self.rfile.readline()
            body = b"".join(chunks)
        else:
            body = self.rfile.read(n) if n else b""
        self.handle_any(body)


ThreadingHTTPServer(("127.0.0.1", PORT), H).serve_forever()
