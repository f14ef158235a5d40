#!/usr/bin/env bash
# Issue 13's attacks ("red-team round 2") against two gateway binaries, one fresh gateway per
# attack: peak RSS, CPU time, spans acknowledged / delivered / lost / duplicated, exit code and
# time. Loopback only; each attack ends by itself. Figures go to RELIABILITY.md.
#
#   BEFORE=/work/bin/otel-llm-cost-base scripts/redteam/redteam2.sh            # every attack
#   BEFORE=/path/to/old-binary scripts/redteam/redteam2.sh b1_gzip_frames_200    # one (a test name filter)
#
# BEFORE: the release binary to compare with (required); AFTER: default this checkout's release
# binary (built here). The attacks are the ignored tests of tests/gateway_redteam.rs.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${BEFORE:?set BEFORE to the release binary to compare with}"
cargo build --release --all-features --bin otel-llm-cost
AFTER="${AFTER:-$PWD/target/release/otel-llm-cost}"
filter="${1:-}"
echo "machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print $2}') KiB RAM, $(uname -sr), ulimit -n $(ulimit -n)"
for run in "before=$BEFORE" "after=$AFTER"; do
    REDTEAM_LABEL="${run%%=*}" REDTEAM_BIN="${run#*=}" \
        cargo test --all-features --test gateway_redteam $filter -- --ignored --nocapture --test-threads=1 2>&1 \
        | grep -oE "REDTEAM \|.*|panicked.*|test result.*"
done
