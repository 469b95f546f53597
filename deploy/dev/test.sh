#!/usr/bin/env bash
# The whole test suite, as README.md states it and CI runs it: formatting and clippy (any
# finding fails the run, before a test starts), unit, golden, end-to-end and conformance tests
# (cargo), then real OTLP clients (Python, JS, Langfuse SDK) against the binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Postgres (127.0.0.1:5432, trust, user postgres) for the metadata tests: start the local
# cluster when it is not answering.
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
# Kafka (tansu) and ClickHouse (chdb) for the Kafka deployment's tests, installed when missing.
source deploy/dev/services.sh
ensure_test_services
# promtool (Debian package `prometheus`) checks the /metrics output in tests/operate/operability.rs.
if ! command -v promtool >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
export SB_TEST_REQUIRE_PROMTOOL=1
cargo test --workspace --locked
bash tests/clients/run.sh
# The viewer in headless Chromium (Debian's chromium + chromium-driver, installed when missing).
bash tests/browser/run.sh
