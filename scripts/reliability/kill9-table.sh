#!/usr/bin/env bash
# The "kill -9" table of RELIABILITY.md: each gateway binary is killed with SIGKILL under steady
# load, with and without `exporter.queue.directory`, then restarted; the spans the senders got an
# OK for are compared with what reached the downstream (tests/gateway_persist.rs, `kill_9_table`:
# 4 gRPC senders flat out, a sink answering after 20 ms, everything on 127.0.0.1, every wait
# bounded). Prints one markdown row per run.
#
#   scripts/reliability/kill9-table.sh [name=path/to/otel-llm-cost ...]    (default: this tree's release build)
#
# Knobs: RUNS (3 per binary and mode), LOAD_MS (5000: load before the kill), ROOT_GRACE_MS (2000).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet --features cli
bins="${*:-new=target/release/otel-llm-cost}"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
KILL9_BINS="$bins" KILL9_RUNS="${RUNS:-3}" KILL9_LOAD_MS="${LOAD_MS:-5000}" \
    KILL9_ROOT_GRACE_MS="${ROOT_GRACE_MS:-2000}" \
    cargo test --release --quiet --all-features --test gateway_persist kill_9_table -- \
    --ignored --nocapture 2>&1 | grep '^|'
