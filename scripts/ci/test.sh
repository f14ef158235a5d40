#!/usr/bin/env bash
# The test command: sets up the Python OpenTelemetry SDK the gateway's end-to-end tests drive
# (tests/python/requirements.txt, pinned) in .venv, then runs the whole Rust test suite.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
export OTEL_LLM_COST_PYTHON="$PWD/.venv/bin/python"

cargo test --all-features
