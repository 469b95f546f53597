#!/usr/bin/env bash
# Real-client checks: the OpenTelemetry Python SDK (HTTP/protobuf, gRPC), the OpenTelemetry JS
# SDK (HTTP/JSON) and the Langfuse Python SDK export to a freshly started `spanbridge serve`,
# and every trace is read back through the read API. Client libraries are installed from PyPI
# and npm once into ~/.cache/spanbridge-clients and reused.
set -euo pipefail
cd "$(dirname "$0")/../.."
cache="${SB_CLIENTS_CACHE:-$HOME/.cache/spanbridge-clients}"
mkdir -p "$cache"
if [ ! -x "$cache/venv/bin/python" ] || ! "$cache/venv/bin/python" -c "import langfuse, opentelemetry.exporter.otlp.proto.grpc" 2>/dev/null; then
  python3 -m venv "$cache/venv"
  "$cache/venv/bin/pip" install -q opentelemetry-sdk opentelemetry-exporter-otlp-proto-http \
    opentelemetry-exporter-otlp-proto-grpc langfuse
fi
if [ ! -d "$cache/node/node_modules/@opentelemetry/exporter-trace-otlp-http" ]; then
  mkdir -p "$cache/node"
  (cd "$cache/node" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund \
    @opentelemetry/api @opentelemetry/sdk-trace-base @opentelemetry/exporter-trace-otlp-http)
fi

cargo build --quiet --bin spanbridge
dir=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
http_port=$(free_port); grpc_port=$(free_port)
pk="pk-lf-clients-$(date +%s)"; sk="sk-lf-clients-$RANDOM$RANDOM"
SPANBRIDGE_EMBEDDED__PATH="$dir/spanbridge.db" SPANBRIDGE_INIT_PUBLIC_KEY="$pk" SPANBRIDGE_INIT_SECRET_KEY="$sk" \
  SPANBRIDGE_GATEWAY__HTTP_ADDR="127.0.0.1:$http_port" SPANBRIDGE_GATEWAY__GRPC_ADDR="127.0.0.1:$grpc_port" \
  SPANBRIDGE_LOG__LEVEL=warn ./target/debug/spanbridge serve &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$http_port/health" >/dev/null 2>&1 && break
  sleep 0.1
done

"$cache/venv/bin/python" tests/clients/otel_python.py "http://127.0.0.1:$http_port" "127.0.0.1:$grpc_port" "$pk" "$sk"
NODE_PATH="$cache/node/node_modules" node tests/clients/otel_node_json.mjs "http://127.0.0.1:$http_port" "$pk" "$sk"
echo "real clients: 4 passed, 0 failed"
