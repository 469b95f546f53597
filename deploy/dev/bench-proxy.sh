#!/usr/bin/env bash
# Benchmark of the front door on this machine: a release `spanbridge serve` whose upstream.url
# is `spanbridge bench-proxy`'s own small upstream; the bench loads that upstream directly, then
# through the gateway, and reports the latency the hop adds (p50/p99) and the gateway's CPU per
# proxied request (from /proc through its pid). Arguments go to `spanbridge bench-proxy`, e.g.
#   bash deploy/dev/bench-proxy.sh --connections 8 --rate 1000 --duration 10 --json
# SB_BENCH_BIN=path runs that binary without building.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${SB_BENCH_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --release --quiet --bin spanbridge
  bin="${CARGO_TARGET_DIR:-target}/release/spanbridge"
fi
dir=$(mktemp -d)
read -r http grpc admin upstream < <(python3 deploy/dev/free_ports.py 4)
SPANBRIDGE_EMBEDDED__PATH="$dir/bench.db" SPANBRIDGE_GATEWAY__HTTP_ADDR="127.0.0.1:$http" \
  SPANBRIDGE_GATEWAY__GRPC_ADDR="127.0.0.1:$grpc" SPANBRIDGE_ADMIN__ADDR="127.0.0.1:$admin" \
  SPANBRIDGE_UPSTREAM__URL="http://127.0.0.1:$upstream" SPANBRIDGE_LOG__LEVEL=warn "$bin" serve &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$admin/ready" >/dev/null 2>&1 && break; sleep 0.1; done
"$bin" bench-proxy --upstream-addr "127.0.0.1:$upstream" --gateway "http://127.0.0.1:$http" \
  --gateway-pid "$pid" "$@"
