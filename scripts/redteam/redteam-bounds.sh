#!/usr/bin/env bash
# Issue 13's pricing and metrics attacks (B4, B5, B6 and the scrape gap) against release
# binaries, one gateway per attack, each binary in turn: peak resident memory, CPU seconds, one
# scrape's size and time, spans acknowledged / delivered / lost (tests/gateway_bounds.rs,
# `red_team_bounds_real_binary`). Loopback only; every run ends by itself. Figures go to
# RELIABILITY.md, "Red-team round 2" / "Pricing and metrics bounds".
#
#   scripts/redteam/redteam-bounds.sh                                   # this build only
#   scripts/redteam/redteam-bounds.sh /work/bin/otel-llm-cost-base      # the starting code, then this build
#   ATTACKS="b5 b6-names" scripts/redteam/redteam-bounds.sh ...
set -euo pipefail
cd "$(dirname "$0")/../.."
ATTACKS=${ATTACKS:-"b4 b4-limiter b5 b5-1k b6-providers b6-names invariant"}
cargo build --release --quiet --features cli --bin otel-llm-cost
NEW=${CARGO_TARGET_DIR:-target}/release/otel-llm-cost
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for attack in $ATTACKS; do
    for bin in "$@" "$NEW"; do
        REDTEAM_BIN=$bin REDTEAM_ATTACK=$attack cargo test --release --quiet --all-features \
            --test gateway_bounds red_team_bounds_real_binary -- --ignored --nocapture 2>&1 |
            grep -E "^REDTEAM|panicked" || true
    done
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
