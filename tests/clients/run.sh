#!/usr/bin/env bash
# Real-client checks: the OpenTelemetry Python SDK (HTTP/protobuf, gRPC), the OpenTelemetry JS
# SDK (HTTP/JSON), the Langfuse Python SDK and the OTel openai-v2 instrumentation (OTLP logs)
# export to a freshly started `spanbridge serve`, and every trace is read back through the read
# API. Client libraries are installed from PyPI
# and npm once into ~/.cache/spanbridge-clients and reused. The legacy ingestion API
# (/api/public/ingestion) is checked with the Langfuse Python SDK 2.60.10 (low-level client,
# decorators, LangChain callback; its own venv) and the Langfuse JS SDK 3.x.
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
# Three distinct free ports (the admin port too: its default, 9464, may be taken).
read -r http_port grpc_port admin_port < <(python3 deploy/dev/free_ports.py 3)
pk="pk-lf-clients-$(date +%s)"; sk="sk-lf-clients-$RANDOM$RANDOM"
SPANBRIDGE_EMBEDDED__PATH="$dir/spanbridge.db" SPANBRIDGE_INIT_PUBLIC_KEY="$pk" SPANBRIDGE_INIT_SECRET_KEY="$sk" \
  SPANBRIDGE_GATEWAY__HTTP_ADDR="127.0.0.1:$http_port" SPANBRIDGE_GATEWAY__GRPC_ADDR="127.0.0.1:$grpc_port" \
  SPANBRIDGE_ADMIN__ADDR="127.0.0.1:$admin_port" \
  SPANBRIDGE_LOG__LEVEL=warn "${CARGO_TARGET_DIR:-target}/debug/spanbridge" serve &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$http_port/health" >/dev/null 2>&1 && break
  sleep 0.1
done

"$cache/venv/bin/python" tests/clients/otel_python.py "http://127.0.0.1:$http_port" "127.0.0.1:$grpc_port" "$pk" "$sk"
NODE_PATH="$cache/node/node_modules" node tests/clients/otel_node_json.mjs "http://127.0.0.1:$http_port" "$pk" "$sk"
# OTel openai-v2 instrumentation (content as OTLP log records, exported before the spans), both
# content modes, in a venv of its own: it pins the versions of the captures in
# ../shared/fixtures/otlp-logs (util-genai 1.x breaks openai-v2 2.4b0).
openai_venv="$cache/venv-openai-v2"
if [ ! -x "$openai_venv/bin/python" ] || ! "$openai_venv/bin/python" -c "import openai, opentelemetry.instrumentation.openai_v2, opentelemetry.exporter.otlp.proto.http" 2>/dev/null; then
  python3 -m venv "$openai_venv"
  "$openai_venv/bin/pip" install -q opentelemetry-sdk opentelemetry-exporter-otlp-proto-http openai httpx \
    opentelemetry-instrumentation-openai-v2==2.4b0 opentelemetry-util-genai==0.4b0
fi
OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true \
  "$openai_venv/bin/python" tests/clients/otel_openai_v2.py "http://127.0.0.1:$http_port" "$pk" "$sk" legacy-events
OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=EVENT_ONLY \
  "$openai_venv/bin/python" tests/clients/otel_openai_v2.py "http://127.0.0.1:$http_port" "$pk" "$sk" operation-details
# Langfuse Python SDK 2.x (legacy batch API), pinned to the version users downgrading to v2 pin,
# with LangChain for its CallbackHandler, in a venv of its own.
langfuse_v2_venv="$cache/venv-langfuse-v2"
if [ ! -x "$langfuse_v2_venv/bin/python" ] || ! "$langfuse_v2_venv/bin/python" -c "import langfuse.callback, langchain_core" 2>/dev/null; then
  python3 -m venv "$langfuse_v2_venv"
  "$langfuse_v2_venv/bin/pip" install -q "langfuse==2.60.10" "langchain-core<0.4" "langchain<0.4"
fi
"$langfuse_v2_venv/bin/python" tests/clients/langfuse_v2.py "http://127.0.0.1:$http_port" "$pk" "$sk"
# Langfuse JS SDK 3.x (legacy batch API).
if [ ! -d "$cache/node-langfuse/node_modules/langfuse" ]; then
  mkdir -p "$cache/node-langfuse"
  (cd "$cache/node-langfuse" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund langfuse@3)
fi
NODE_PATH="$cache/node-langfuse/node_modules" node tests/clients/langfuse_js.mjs "http://127.0.0.1:$http_port" "$pk" "$sk"
# The same real clients into a Langfuse v2 database (langfuse_v2.url), checked with v2's read SQL.
bash tests/clients/langfuse_v2_store.sh
echo "real clients: 9 passed, 0 failed"
