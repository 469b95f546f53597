#!/usr/bin/env bash
# Every workload of `spanbridge bench`, embedded and in the Kafka deployment, RUNS times each,
# then each at half its median maximum to read the latency there; prints one markdown table of
# medians (and every run's figure in brackets). Usage:
#   bash deploy/dev/bench-workloads.sh [RUNS] [SECONDS]     (defaults 3 and 10)
# Workloads: 10 spans per trace (an agent loop), 1 span per trace (a Collector's batch of many
# traces), each with 10 % re-sent requests, and roots split from their children.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
seconds=${2:-10}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
workloads=(
  "--spans-per-trace 10"
  "--spans-per-trace 1"
  "--spans-per-trace 10 --resend 0.1"
  "--spans-per-trace 1 --resend 0.1"
  "--spans-per-trace 10 --split-traces"
)
for mode in embedded kafka; do
  flag=""
  [ $mode = kafka ] && flag=--kafka
  for w in "${!workloads[@]}"; do
    for run in $(seq "$runs"); do
      # shellcheck disable=SC2086
      bash deploy/dev/bench.sh $flag --connections 8 --duration "$seconds" --json ${workloads[$w]} \
        | tail -1 >"$out/$mode-$w-$run.json"
    done
    rate=$(python3 - "$out" "$mode-$w" <<'EOF'
import json, statistics, sys, glob
runs = [json.load(open(f)) for f in glob.glob(f"{sys.argv[1]}/{sys.argv[2]}-*.json")]
print(max(1, round(statistics.median(r["requests_per_sec"] for r in runs) / 2)))
EOF
)
    # shellcheck disable=SC2086
    bash deploy/dev/bench.sh $flag --connections 8 --duration "$seconds" --rate "$rate" --json \
      ${workloads[$w]} | tail -1 >"$out/half-$mode-$w.json"
  done
done
python3 - "$out" "${workloads[@]}" <<'EOF'
import json, statistics, sys, glob
out, workloads = sys.argv[1], sys.argv[2:]
print("| mode | workload | spans/s | spans per gateway CPU-s | p99 ms at max | p99 ms at half | peak RSS MB |")
print("|---|---|---|---|---|---|---|")
for mode in ["embedded", "kafka"]:
    for w, name in enumerate(workloads):
        runs = [json.load(open(f)) for f in sorted(glob.glob(f"{out}/{mode}-{w}-*.json"))]
        half = json.load(open(f"{out}/half-{mode}-{w}.json"))
        def cell(key, scale=1.0, digits=0):
            values = [r[key] * scale for r in runs if r.get(key) is not None]
            if not values:
                return "—"
            each = " / ".join(f"{v:,.{digits}f}" for v in values)
            return f"{statistics.median(values):,.{digits}f} ({each})"
        rss = max(r["gateway_peak_rss_bytes"] or 0 for r in runs + [half]) / 1048576
        print(f"| {mode} | `{name}` | {cell('spans_per_sec')} | {cell('gateway_spans_per_cpu_second')} "
              f"| {cell('p99_ms', digits=1)} | {half['p99_ms']:.1f} | {rss:.0f} |")
EOF
