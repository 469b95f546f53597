#!/usr/bin/env bash
# Real clients into a Langfuse v2 database: a fresh Postgres database on 127.0.0.1:5432 loaded
# with v2.95's schema and seed (tests/fixtures/langfuse-v2, or LANGFUSE_V2_KIT), `spanbridge serve` with
# langfuse_v2.url and meta.source = "langfuse" on it (v2's seeded key, SALT "mysalt"), then the
# OpenTelemetry Python SDK + the Langfuse Python SDK 5.x (otel_python.py) and the Langfuse Python
# SDK 2.60.10 (low-level, decorators, LangChain callback; langfuse_v2.py) send their traces and
# read them back through the read API (which reads v2's tables), and v2's own read SQL checks
# what landed: every observation's trace row exists (the generations table inner-joins it),
# every session has its trace_sessions row, gpt-4o generations carry internal_model, unit and
# calculated costs from v2's models table, tags are never NULL. Venvs come from run.sh's cache.
set -euo pipefail
cd "$(dirname "$0")/../.."
cache="${SB_CLIENTS_CACHE:-$HOME/.cache/spanbridge-clients}"
kit="${LANGFUSE_V2_KIT:-tests/fixtures/langfuse-v2}"
cargo build --quiet --bin spanbridge
db="spanbridge_v2_clients_$$_$(date +%s)"
psql_q() { psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }
psql_q -d postgres -c "CREATE DATABASE $db"
dir=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; }
  psql_q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
psql_q -d "$db" -f "$kit/schema.sql" >/dev/null
psql_q -d "$db" -f "$kit/seed.sql" >/dev/null
url="postgres://postgres@127.0.0.1:5432/$db"
pk="pk-lf-spanbridge-0000-0000-0000-000000000001"; sk="sk-lf-spanbridge-0000-0000-0000-000000000001"
read -r http_port grpc_port admin_port < <(python3 deploy/dev/free_ports.py 3)
SPANBRIDGE_LANGFUSE_V2__URL="$url" SPANBRIDGE_META__URL="$url" SPANBRIDGE_META__SOURCE=langfuse \
  SPANBRIDGE_AUTH__SALT=mysalt SPANBRIDGE_EMBEDDED__PATH="$dir/unused.db" \
  SPANBRIDGE_GATEWAY__HTTP_ADDR="127.0.0.1:$http_port" SPANBRIDGE_GATEWAY__GRPC_ADDR="127.0.0.1:$grpc_port" \
  SPANBRIDGE_ADMIN__ADDR="127.0.0.1:$admin_port" \
  SPANBRIDGE_LOG__LEVEL=warn "${CARGO_TARGET_DIR:-target}/debug/spanbridge" serve &
server=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$http_port/health" >/dev/null 2>&1 && break
  sleep 0.1
done

SB_STORE=langfuse_v2 "$cache/venv/bin/python" tests/clients/otel_python.py "http://127.0.0.1:$http_port" "127.0.0.1:$grpc_port" "$pk" "$sk"
SB_STORE=langfuse_v2 "$cache/venv-langfuse-v2/bin/python" tests/clients/langfuse_v2.py "http://127.0.0.1:$http_port" "$pk" "$sk"

fail() { echo "langfuse_v2_store: $*" >&2; exit 1; }
q() { psql_q -d "$db" -c "$1"; }
traces=$(q "SELECT count(*) FROM traces")
observations=$(q "SELECT count(*) FROM observations")
[ "$traces" -ge 5 ] || fail "traces rows: $traces"
[ "$observations" -ge 8 ] || fail "observations rows: $observations"
orphans=$(q "SELECT count(*) FROM observations o LEFT JOIN traces t ON t.id = o.trace_id WHERE t.id IS NULL")
[ "$orphans" = 0 ] || fail "$orphans observations without their traces row"
sessions=$(q "SELECT count(*) FROM traces t LEFT JOIN trace_sessions s ON s.id = t.session_id AND s.project_id = t.project_id WHERE t.session_id IS NOT NULL AND s.id IS NULL")
[ "$sessions" = 0 ] || fail "$sessions sessions without a trace_sessions row"
null_tags=$(q "SELECT count(*) FROM traces WHERE tags IS NULL")
[ "$null_tags" = 0 ] || fail "$null_tags traces with NULL tags"
unpriced=$(q "SELECT count(*) FROM observations WHERE type = 'GENERATION' AND model = 'gpt-4o' AND (internal_model IS DISTINCT FROM 'gpt-4o' OR internal_model_id IS DISTINCT FROM 'b9854a5c92dc496b997d99d20' OR unit IS DISTINCT FROM 'TOKENS' OR calculated_total_cost IS NULL)")
priced=$(q "SELECT count(*) FROM observations WHERE type = 'GENERATION' AND model = 'gpt-4o'")
[ "$priced" -ge 1 ] && [ "$unpriced" = 0 ] || fail "gpt-4o generations: $priced, unpriced: $unpriced"
wrong=$(q "SELECT count(*) FROM observations WHERE type = 'GENERATION' AND model = 'gpt-4o' AND input_cost IS NULL AND output_cost IS NULL AND total_cost IS NULL AND calculated_total_cost <> 0.000005 * prompt_tokens + 0.000015 * completion_tokens")
[ "$wrong" = 0 ] || fail "$wrong gpt-4o generations with a cost other than v2's price × tokens"
# v2's generations table (INNER JOIN traces) and its public traces list show them.
gen_table=$(q "SELECT count(*) FROM observations o JOIN traces t ON t.id = o.trace_id AND t.project_id = o.project_id WHERE o.type = 'GENERATION'")
gens=$(q "SELECT count(*) FROM observations WHERE type = 'GENERATION'")
[ "$gen_table" = "$gens" ] || fail "generations table shows $gen_table of $gens"
echo "langfuse v2 store, real clients: OTel Python SDK, Langfuse SDK 5.x, Langfuse SDK 2.60.10 passed ($traces traces, $observations observations, $priced gpt-4o generations priced from v2's models)"
