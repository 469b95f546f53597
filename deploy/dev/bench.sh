#!/usr/bin/env bash
# Benchmark of the embedded gateway on this machine: starts a release `spanbridge serve` with a
# fresh SQLite file, runs `spanbridge bench` against it with its pid (CPU and RSS from /proc),
# and stops it. Extra arguments go to `spanbridge bench`, e.g.
#   bash deploy/dev/bench.sh --protocol grpc --connections 16 --duration 30 --json
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet --bin spanbridge
dir=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
http=$(free_port); grpc=$(free_port); admin=$(free_port)
SPANBRIDGE_EMBEDDED__PATH="$dir/bench.db" SPANBRIDGE_INIT_PUBLIC_KEY=pk-lf-bench SPANBRIDGE_INIT_SECRET_KEY=sk-lf-bench \
  SPANBRIDGE_GATEWAY__HTTP_ADDR="127.0.0.1:$http" SPANBRIDGE_GATEWAY__GRPC_ADDR="127.0.0.1:$grpc" \
  SPANBRIDGE_ADMIN__ADDR="127.0.0.1:$admin" SPANBRIDGE_LOG__LEVEL=warn ./target/release/spanbridge serve &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$admin/health" >/dev/null 2>&1 && break; sleep 0.1; done
endpoint="http://127.0.0.1:$http"
for arg in "$@"; do [ "$arg" = grpc ] && endpoint="http://127.0.0.1:$grpc"; done
./target/release/spanbridge bench --endpoint "$endpoint" --public-key pk-lf-bench --secret-key sk-lf-bench \
  --gateway-pid "$pid" "$@"
