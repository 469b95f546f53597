#!/usr/bin/env bash
# Real-client checks: the OpenTelemetry Python SDK (HTTP/protobuf, gRPC), the OpenTelemetry JS
# SDK (HTTP/JSON), the Langfuse Python SDK and the OTel openai-v2 instrumentation (OTLP logs)
# export to a freshly started `spanbridge serve`, and every trace is read back through the read
# API. Client libraries are installed from PyPI and npm once into ~/.cache/spanbridge-clients
# and reused. The batch API (/api/public/ingestion) is checked with the Langfuse Python SDK
# 2.60.10 (low-level client, decorators, LangChain callback; its own venv) and the Langfuse JS
# SDK 3.x.
#
# Current frameworks (newest versions, each venv of its own where versions conflict) run an
# agent against fake_llm.py (a local fake model endpoint: tool call, then answer) and export
# through capture.py (a recording proxy in front of Spanbridge): Langfuse Python SDK 5.x
# (decorators, context managers, LangGraph CallbackHandler), Langfuse JS SDK (@langfuse/tracing
# + @langfuse/otel), MLflow tracing, Strands Agents (both semconv modes), Google ADK, and
# LlamaIndex, smolagents and Agno through OpenInference.
#
# SB_CLIENTS=name,name runs only those checks (names: the `run NAME` lines below).
# SB_CAPTURE_DIR=tests/fixtures/otlp re-records the golden captures of the framework checks.
# The front door (`[upstream] url` = tests/support/langfuse_upstream.py, a recording stand-in for
# the team's Langfuse) is checked with the Langfuse Python SDK 5.x, SDK 2.60.10 and
# `@langfuse/client`: prompts, datasets and media go upstream while spans land in Spanbridge.
set -euo pipefail
cd "$(dirname "$0")/../.."
cache="${SB_CLIENTS_CACHE:-$HOME/.cache/spanbridge-clients}"
mkdir -p "$cache"
only=",${SB_CLIENTS:-},"
passed=0
wanted() { [ "$only" = ",," ] || [[ "$only" == *",$1,"* ]]; }
# venv NAME IMPORT_CHECK PACKAGE...: a venv of its own, installed once (again when the check fails).
venv() {
  local name=$1 check=$2; shift 2
  if [ ! -x "$cache/$name/bin/python" ] || ! "$cache/$name/bin/python" -c "$check" 2>/dev/null; then
    python3 -m venv "$cache/$name"
    "$cache/$name/bin/pip" install -q "$@"
  fi
}
# node_dir NAME PACKAGE...: an npm folder of its own, installed once.
node_dir() {
  local name=$1; shift
  if [ ! -f "$cache/$name/.installed" ]; then
    mkdir -p "$cache/$name"
    (cd "$cache/$name" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund "$@")
    touch "$cache/$name/.installed"
  fi
}
run() { local name=$1; shift; if wanted "$name"; then echo "--- $name" >&2; "$@"; passed=$((passed + 1)); fi; }

cargo build --quiet --bin spanbridge
dir=$(mktemp -d)
# Six distinct free ports (the admin port too: its default, 9464, may be taken): Spanbridge's
# three, the fake model's, the recording proxy's and the test upstream's.
read -r http_port grpc_port admin_port fake_port proxy_port upstream_port < <(python3 deploy/dev/free_ports.py 6)
upstream_url="http://127.0.0.1:$upstream_port"
python3 tests/support/langfuse_upstream.py "$upstream_port" >/dev/null &
upstream=$!
pk="pk-lf-clients-$(date +%s)"; sk="sk-lf-clients-$RANDOM$RANDOM"
SPANBRIDGE_EMBEDDED__PATH="$dir/spanbridge.db" SPANBRIDGE_INIT_PUBLIC_KEY="$pk" SPANBRIDGE_INIT_SECRET_KEY="$sk" \
  SPANBRIDGE_GATEWAY__HTTP_ADDR="127.0.0.1:$http_port" SPANBRIDGE_GATEWAY__GRPC_ADDR="127.0.0.1:$grpc_port" \
  SPANBRIDGE_ADMIN__ADDR="127.0.0.1:$admin_port" SPANBRIDGE_UPSTREAM__URL="$upstream_url" \
  SPANBRIDGE_LOG__LEVEL=warn "${CARGO_TARGET_DIR:-target}/debug/spanbridge" serve &
server=$!
pids="$server $upstream"
trap 'for p in $pids; do kill $p 2>/dev/null || true; wait $p 2>/dev/null || true; done; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$http_port/health" >/dev/null 2>&1 && break
  sleep 0.1
done
url="http://127.0.0.1:$http_port"

if wanted otel-python || wanted otel-node; then
  venv venv "import langfuse, opentelemetry.exporter.otlp.proto.grpc" opentelemetry-sdk \
    opentelemetry-exporter-otlp-proto-http opentelemetry-exporter-otlp-proto-grpc langfuse
  node_dir node @opentelemetry/api @opentelemetry/sdk-trace-base @opentelemetry/exporter-trace-otlp-http
fi
run otel-python "$cache/venv/bin/python" tests/clients/otel_python.py "$url" "127.0.0.1:$grpc_port" "$pk" "$sk"
run otel-node env NODE_PATH="$cache/node/node_modules" node tests/clients/otel_node_json.mjs "$url" "$pk" "$sk"
# OTel openai-v2 instrumentation (content as OTLP log records, exported before the spans), both
# content modes, in a venv of its own: it pins the versions of the captures in
# ../shared/fixtures/otlp-logs (util-genai 1.x breaks openai-v2 2.4b0).
if wanted openai-v2; then
  venv venv-openai-v2 "import openai, opentelemetry.instrumentation.openai_v2, opentelemetry.exporter.otlp.proto.http" \
    opentelemetry-sdk opentelemetry-exporter-otlp-proto-http openai httpx \
    opentelemetry-instrumentation-openai-v2==2.4b0 opentelemetry-util-genai==0.4b0
  OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true \
    "$cache/venv-openai-v2/bin/python" tests/clients/otel_openai_v2.py "$url" "$pk" "$sk" legacy-events
  OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=EVENT_ONLY \
    "$cache/venv-openai-v2/bin/python" tests/clients/otel_openai_v2.py "$url" "$pk" "$sk" operation-details
  passed=$((passed + 2))
fi
# Langfuse Python SDK 2.x (batch API), pinned to the version users downgrading to v2 pin,
# with LangChain for its CallbackHandler, in a venv of its own.
if wanted langfuse-v2; then
  venv venv-langfuse-v2 "import langfuse.callback, langchain_core" "langfuse==2.60.10" "langchain-core<0.4" "langchain<0.4"
fi
run langfuse-v2 "$cache/venv-langfuse-v2/bin/python" tests/clients/langfuse_v2.py "$url" "$pk" "$sk"
# Langfuse JS SDK 3.x (batch API).
if wanted langfuse-js-v3; then node_dir node-langfuse langfuse@3; fi
run langfuse-js-v3 env NODE_PATH="$cache/node-langfuse/node_modules" node tests/clients/langfuse_js.mjs "$url" "$pk" "$sk"

# Current frameworks: fake model endpoint and recording proxy (capture.py needs
# opentelemetry-proto, which the Langfuse 5 venv has).
venv venv-langfuse5 "import langfuse, langchain_openai, langgraph, openai, opentelemetry.proto" \
  langfuse openai langchain langchain-openai langgraph opentelemetry-sdk opentelemetry-exporter-otlp-proto-http
python3 tests/clients/fake_llm.py "$fake_port" > "$dir/fake.log" 2>&1 &
pids="$pids $!"
"$cache/venv-langfuse5/bin/python" tests/clients/capture.py "$proxy_port" "$url" > "$dir/capture.log" 2>&1 &
pids="$pids $!"
for _ in $(seq 100); do
  grep -q ready "$dir/fake.log" 2>/dev/null && grep -q ready "$dir/capture.log" 2>/dev/null && break
  sleep 0.1
done
if [ -n "${SB_CAPTURE_DIR:-}" ]; then mkdir -p "$SB_CAPTURE_DIR"; SB_CAPTURE_DIR=$(cd "$SB_CAPTURE_DIR" && pwd); fi
export SB_URL="http://127.0.0.1:$proxy_port" SB_PK="$pk" SB_SK="$sk" SB_FAKE_LLM="http://127.0.0.1:$fake_port"
export SB_CAPTURE_DIR="${SB_CAPTURE_DIR:-}" PYTHONPATH="$PWD/tests/clients"
py() { local venv=$1; shift; "$cache/$venv/bin/python" "$@"; }
run langfuse-v5 py venv-langfuse5 tests/clients/langfuse_v5.py
run langfuse-langgraph py venv-langfuse5 tests/clients/langfuse_langgraph.py
if wanted langfuse-js-v5; then
  node_dir node-langfuse5 @langfuse/tracing @langfuse/otel @opentelemetry/api @opentelemetry/sdk-trace-node
fi
run langfuse-js-v5 env NODE_PATH="$cache/node-langfuse5/node_modules" node tests/clients/langfuse_js_v5.mjs
if wanted mlflow; then
  venv venv-mlflow "import mlflow, openai, opentelemetry.exporter.otlp.proto.http" mlflow-tracing openai \
    opentelemetry-exporter-otlp-proto-http
fi
run mlflow py venv-mlflow tests/clients/mlflow_tracing.py
if wanted strands-legacy || wanted strands-latest; then
  venv venv-strands "import strands.models.openai, opentelemetry.exporter.otlp.proto.http" "strands-agents[openai]" \
    opentelemetry-exporter-otlp-proto-http
fi
run strands-legacy env -u OTEL_SEMCONV_STABILITY_OPT_IN "$cache/venv-strands/bin/python" tests/clients/strands_agent.py legacy
run strands-latest env OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental \
  "$cache/venv-strands/bin/python" tests/clients/strands_agent.py latest
if wanted google-adk; then
  venv venv-adk "import google.adk, opentelemetry.exporter.otlp.proto.http" google-adk opentelemetry-exporter-otlp-proto-http
fi
run google-adk py venv-adk tests/clients/google_adk_agent.py
if wanted llamaindex || wanted smolagents || wanted agno; then
  venv venv-openinference "import llama_index.llms.openai, smolagents, agno, openinference.instrumentation.agno" \
    llama-index-core llama-index-llms-openai openinference-instrumentation-llama-index smolagents \
    openinference-instrumentation-smolagents agno openinference-instrumentation-agno openai \
    opentelemetry-sdk opentelemetry-exporter-otlp-proto-http
fi
run llamaindex py venv-openinference tests/clients/openinference_agents.py llamaindex
run smolagents py venv-openinference tests/clients/openinference_agents.py smolagents
run agno py venv-openinference tests/clients/openinference_agents.py agno
# The front door: Langfuse Python SDK 5.x (the newest langfuse, in the venv above), SDK 2.60.10
# and the JS SDK's prompt client, through Spanbridge to the test upstream.
run front-door-python py venv-langfuse5 tests/clients/langfuse_front_door.py "$url" "$upstream_url" "$pk" "$sk"
if wanted front-door-v2; then
  venv venv-langfuse-v2 "import langfuse.callback, langchain_core" "langfuse==2.60.10" "langchain-core<0.4" "langchain<0.4"
fi
run front-door-v2 py venv-langfuse-v2 tests/clients/langfuse_v2_front_door.py "$url" "$upstream_url" "$pk" "$sk"
if wanted front-door-js; then node_dir node-langfuse-client @langfuse/client; fi
run front-door-js env NODE_PATH="$cache/node-langfuse-client/node_modules" node tests/clients/langfuse_front_door.mjs \
  "$url" "$upstream_url" "$pk" "$sk"
# The same real clients into a Langfuse v2 database (langfuse_v2.url), checked with v2's read SQL.
run langfuse-v2-store bash tests/clients/langfuse_v2_store.sh
echo "real clients: $passed passed, 0 failed"
