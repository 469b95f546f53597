#!/usr/bin/env bash
# Test services of the Kafka deployment (DESIGN.md "Test services on these machines"), installed
# when missing. No Docker engine here, so:
#   - Kafka: `tansu`, a Kafka-protocol broker process (cargo install, ~15 min once, cached in
#     ~/.cargo/bin). The end-to-end tests start their own brokers on free ports.
#   - ClickHouse: the ClickHouse engine of the `chdb-core` wheel in a venv (~1 min once, cached in
#     ~/.cache/spanbridge-chdb), behind deploy/dev/chdb_http.py (ClickHouse's HTTP interface).
# Source it (`source deploy/dev/services.sh && ensure_test_services`) to get the variables the
# tests read, or run it (`bash deploy/dev/services.sh`) to only install. Sourcing it leaves the
# caller's shell options alone; each function returns non-zero when an install fails.

TANSU_VERSION="0.6.0"
CHDB_VERSION="26.9.0"
: "${SB_TEST_TANSU:=$HOME/.cargo/bin/tansu}"
: "${SB_TEST_CHDB_VENV:=$HOME/.cache/spanbridge-chdb}"

ensure_tansu() {
  if [ -x "$SB_TEST_TANSU" ]; then
    return
  fi
  echo "services: installing tansu $TANSU_VERSION (cargo install, about 15 minutes once)" >&2
  local started=$SECONDS
  cargo install tansu --version "$TANSU_VERSION" --features dynostore --quiet || return
  SB_TEST_TANSU="$HOME/.cargo/bin/tansu"
  echo "services: tansu installed in $((SECONDS - started)) s" >&2
}

ensure_chdb() {
  if [ -x "$SB_TEST_CHDB_VENV/bin/python" ] \
    && "$SB_TEST_CHDB_VENV/bin/python" -c 'from chdb import state' 2>/dev/null; then
    return
  fi
  echo "services: installing chdb-core $CHDB_VERSION into $SB_TEST_CHDB_VENV" >&2
  local started=$SECONDS
  python3 -m venv "$SB_TEST_CHDB_VENV" || return
  "$SB_TEST_CHDB_VENV/bin/pip" install --quiet --disable-pip-version-check \
    "chdb-core==$CHDB_VERSION" || return
  "$SB_TEST_CHDB_VENV/bin/python" -c 'from chdb import state' || return
  echo "services: chdb-core installed in $((SECONDS - started)) s" >&2
}

# Installs what is missing and exports what tests/support/services.rs reads.
ensure_test_services() {
  ensure_tansu || return
  ensure_chdb || return
  export SB_TEST_TANSU
  export SB_TEST_CHDB_PYTHON="$SB_TEST_CHDB_VENV/bin/python"
  export SB_TEST_CHDB_ADAPTER
  SB_TEST_CHDB_ADAPTER="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/chdb_http.py"
  # The Kafka-deployment tests fail (instead of skipping) when a service is missing.
  export SB_TEST_REQUIRE_SERVICES=1
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  ensure_test_services
fi
