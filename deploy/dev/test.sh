#!/usr/bin/env bash
# The whole test suite, as README.md states it and CI runs it: unit, golden, end-to-end and
# conformance tests (cargo), then real OTLP clients (Python, JS, Langfuse SDK) against the binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo test --workspace --locked
bash tests/clients/run.sh
