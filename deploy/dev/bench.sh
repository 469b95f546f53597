#!/usr/bin/env bash
# Benchmark of the gateway on this machine with `spanbridge bench`, which reads the gateway's
# CPU and RSS from /proc through its pid. Two deployments:
#   bash deploy/dev/bench.sh [bench args]          embedded: a release `spanbridge serve` with a
#                                                  fresh SQLite file (queue + SQLite in-process)
#   bash deploy/dev/bench.sh --kafka [bench args]  Kafka deployment: a release `spanbridge gateway`
#                                                  publishing to a tansu broker (in memory; see
#                                                  deploy/dev/services.sh); the broker's CPU is
#                                                  not the gateway's and is not counted
#   bash deploy/dev/bench.sh [--kafka] --settings FILE [bench args]
#                                                  the gateway reads the settings file FILE
#                                                  (e.g. `[privacy]` rules; the ports, keys
#                                                  and storage are still the script's)
# SB_BENCH_BIN=path runs that binary (e.g. a saved build of the previous commit, for
# before/after in the same hour) without building.
# Other arguments go to `spanbridge bench`, e.g.
#   bash deploy/dev/bench.sh --protocol grpc --connections 16 --duration 30 --json
set -euo pipefail
mode=embedded
settings=
while true; do
  case "${1:-}" in
    --kafka) mode=kafka; shift ;;
    --settings) settings=$(realpath "$2"); shift 2 ;;
    *) break ;;
  esac
done
cd "$(dirname "$0")/../.."
if [ -n "$settings" ]; then export SPANBRIDGE_CONFIG="$settings"; fi
bin="${SB_BENCH_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --release --quiet --bin spanbridge
  bin="${CARGO_TARGET_DIR:-target}/release/spanbridge"
fi
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$dir"; }
trap cleanup EXIT
# Four distinct free ports (the same port twice and the bench would load whatever answers there).
read -r http grpc admin broker < <(python3 deploy/dev/free_ports.py 4)
export SPANBRIDGE_EMBEDDED__PATH="$dir/bench.db" SPANBRIDGE_INIT_PUBLIC_KEY=pk-lf-bench \
  SPANBRIDGE_INIT_SECRET_KEY=sk-lf-bench SPANBRIDGE_GATEWAY__HTTP_ADDR="127.0.0.1:$http" \
  SPANBRIDGE_GATEWAY__GRPC_ADDR="127.0.0.1:$grpc" SPANBRIDGE_ADMIN__ADDR="127.0.0.1:$admin" \
  SPANBRIDGE_LOG__LEVEL=${SPANBRIDGE_LOG__LEVEL:-warn}
command=serve
if [ $mode = kafka ]; then
  source deploy/dev/services.sh
  ensure_tansu
  RUST_LOG=warn "$SB_TEST_TANSU" broker --listener-url "tcp://127.0.0.1:$broker" \
    --advertised-listener-url "tcp://127.0.0.1:$broker" --storage-engine memory://tansu/ >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$broker") 2>/dev/null && break; sleep 0.1; done
  export SPANBRIDGE_KAFKA__BROKERS="127.0.0.1:$broker"
  "$bin" migrate >/dev/null
  command=gateway
fi
"$bin" $command &
pid=$!
pids=("$pid" "${pids[@]}")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$admin/ready" >/dev/null 2>&1 && break; sleep 0.1; done
endpoint="http://127.0.0.1:$http"
for arg in "$@"; do [ "$arg" = grpc ] && endpoint="http://127.0.0.1:$grpc"; done
"$bin" bench --endpoint "$endpoint" --public-key pk-lf-bench --secret-key sk-lf-bench \
  --gateway-pid "$pid" "$@"
