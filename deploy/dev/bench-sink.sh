#!/usr/bin/env bash
# Benchmark of the sink on this machine with `spanbridge bench-sink`: builds the release binary,
# starts the ClickHouse test engine (deploy/dev/chdb_http.py over chdb, installed by
# deploy/dev/services.sh when missing) on a free port, creates Langfuse's tables and the
# metadata file with the default model prices (`spanbridge migrate`), then runs
#   spanbridge bench-sink [args]
# which fills librdkafka's mock cluster (in its own process) with the `spanbridge bench`
# workload and measures a child `spanbridge sink` writing it to ClickHouse. The engine's and the
# broker's CPU are not the sink's and are not counted; they share the two cores with it.
#   bash deploy/dev/bench-sink.sh --spans 100000 --spans-per-trace 10 --json
# SB_BENCH_CLICKHOUSE_URL=http://… uses a running ClickHouse instead (compression off unless
# SPANBRIDGE_CLICKHOUSE__COMPRESSION is set). SB_BENCH_BIN=path runs that binary (e.g. a saved
# build of the previous commit, for before/after in the same hour) without building.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${SB_BENCH_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --release --quiet --bin spanbridge
  bin="${CARGO_TARGET_DIR:-target}/release/spanbridge"
fi
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$dir"; }
trap cleanup EXIT
url="${SB_BENCH_CLICKHOUSE_URL:-}"
if [ -z "$url" ]; then
  source deploy/dev/services.sh
  ensure_chdb
  port=$(python3 deploy/dev/free_ports.py)
  "$SB_TEST_CHDB_VENV/bin/python" deploy/dev/chdb_http.py "$port" "$dir/clickhouse" >/dev/null 2>&1 &
  pids+=($!)
  url="http://127.0.0.1:$port"
  for _ in $(seq 600); do curl -sf "$url/ping" >/dev/null 2>&1 && break; sleep 0.1; done
fi
# The adapter refuses compressed bodies (README "Test services").
export SPANBRIDGE_CLICKHOUSE__URL="$url" \
  SPANBRIDGE_CLICKHOUSE__COMPRESSION="${SPANBRIDGE_CLICKHOUSE__COMPRESSION:-none}" \
  SPANBRIDGE_EMBEDDED__PATH="$dir/meta.db" SPANBRIDGE_LOG__LEVEL="${SPANBRIDGE_LOG__LEVEL:-warn}"
"$bin" migrate >/dev/null
"$bin" bench-sink "$@"
