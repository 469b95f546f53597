#!/usr/bin/env bash
# The viewer in a real browser: headless Chromium (Debian's chromium + chromium-driver, installed
# when missing) driven by Selenium (PyPI, in ~/.cache/spanbridge-clients/venv-browser) against a
# freshly started `spanbridge serve` fed by the OpenTelemetry Python SDK (tests/browser/feed.py).
# Screenshots: ${CARGO_TARGET_DIR:-target}/viewer-screenshots/*.png.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null
fi
cache="${SB_CLIENTS_CACHE:-$HOME/.cache/spanbridge-clients}"
venv="$cache/venv-browser"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import selenium, opentelemetry.exporter.otlp.proto.http" 2>/dev/null; then
  mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q selenium opentelemetry-sdk opentelemetry-exporter-otlp-proto-http
fi

target="${CARGO_TARGET_DIR:-target}"
cargo build --quiet --bin spanbridge
shots="$target/viewer-screenshots"
rm -rf "$shots"; mkdir -p "$shots"
dir=$(mktemp -d)
read -r http_port grpc_port admin_port < <(python3 deploy/dev/free_ports.py 3)
pk="pk-lf-viewer-$(date +%s)"; sk="sk-lf-viewer-$RANDOM$RANDOM$RANDOM"
SPANBRIDGE_EMBEDDED__PATH="$dir/spanbridge.db" SPANBRIDGE_INIT_PUBLIC_KEY="$pk" SPANBRIDGE_INIT_SECRET_KEY="$sk" \
  SPANBRIDGE_GATEWAY__HTTP_ADDR="127.0.0.1:$http_port" SPANBRIDGE_GATEWAY__GRPC_ADDR="127.0.0.1:$grpc_port" \
  SPANBRIDGE_ADMIN__ADDR="127.0.0.1:$admin_port" SPANBRIDGE_LOG__LEVEL=debug \
  "$target/debug/spanbridge" serve 2>"$dir/server.log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$http_port/health" >/dev/null 2>&1 && break
  sleep 0.1
done

url="http://127.0.0.1:$http_port"
"$venv/bin/python" tests/browser/feed.py "$url" "$pk" "$sk" > "$dir/feed.json"
"$venv/bin/python" tests/browser/viewer_test.py "$url" "$pk" "$sk" "$dir/feed.json" "$shots"

# The secret never reaches the server's log (debug level), not even from the viewer's requests.
if grep -qF -- "$sk" "$dir/server.log"; then
  echo "FAIL: the secret key appears in the server log" >&2
  exit 1
fi
echo "ok: the secret key is not in the server log ($(wc -l <"$dir/server.log") lines at debug level)"

# Switched off: /ui/ answers 404 JSON and / is not redirected; the API stays.
kill $server; wait $server 2>/dev/null || true
SPANBRIDGE_VIEWER__ENABLED=false SPANBRIDGE_EMBEDDED__PATH="$dir/spanbridge.db" \
  SPANBRIDGE_GATEWAY__HTTP_ADDR="127.0.0.1:$http_port" SPANBRIDGE_GATEWAY__GRPC_ADDR="127.0.0.1:$grpc_port" \
  SPANBRIDGE_ADMIN__ADDR="127.0.0.1:$admin_port" SPANBRIDGE_LOG__LEVEL=warn \
  "$target/debug/spanbridge" serve 2>>"$dir/server.log" &
server=$!
for _ in $(seq 100); do
  curl -sf "$url/health" >/dev/null 2>&1 && break
  sleep 0.1
done
status=$(curl -s -o "$dir/off.json" -w '%{http_code}' "$url/ui/")
grep -q '"message"' "$dir/off.json" && [ "$status" = 404 ] || { echo "FAIL: viewer.enabled=false: /ui/ answered $status $(cat "$dir/off.json")" >&2; exit 1; }
status=$(curl -s -o /dev/null -w '%{http_code}' "$url/")
[ "$status" = 404 ] || { echo "FAIL: viewer.enabled=false: / answered $status" >&2; exit 1; }
status=$(curl -s -o /dev/null -w '%{http_code}' -u "$pk:$sk" "$url/api/public/traces?limit=1")
[ "$status" = 200 ] || { echo "FAIL: viewer.enabled=false: the API answered $status" >&2; exit 1; }
echo "ok: viewer.enabled=false answers /ui/ with 404 JSON, does not redirect /, keeps the API"
echo "viewer: browser checks passed; screenshots in $shots"
