#!/usr/bin/env bash
# The project's test command (the README's, and what .ci/run runs): installs the Python
# packages the end-to-end tests send with into .venv, then runs the whole Rust test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f tests/python/requirements.txt ]; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
  export OTEL_LLM_COST_PYTHON="$PWD/.venv/bin/python"
fi
cargo test --all-features
