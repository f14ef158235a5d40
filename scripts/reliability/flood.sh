#!/usr/bin/env bash
# Floods the release `otel-llm-cost serve` binary with FLOOD_TRACES distinct open traces
# (default 1,000,000 one-span traces whose parent never comes) and reports its resident memory
# (VmRSS sampled during the flood, VmHWM at the end, from /proc/<pid>/status), the assembly
# buffer's bytes against `assembly.max_bytes` (FLOOD_MAX_BYTES, default 64 MiB), evictions, and
# whether every span was delivered. Loopback only; ends by itself. Figures go to RELIABILITY.md.
#
#   scripts/reliability/flood.sh                      # 1M traces, 64 MiB budget
#   FLOOD_TRACES=200000 FLOOD_MAX_BYTES=16777216 scripts/reliability/flood.sh
#   FLOOD_MAX_BYTES=1073741824 FLOOD_MEMORY_LIMIT_MIB=256 scripts/reliability/flood.sh   # one bound for all
set -euo pipefail
cd "$(dirname "$0")/../.."
export FLOOD_TRACES="${FLOOD_TRACES:-1000000}"
export FLOOD_MAX_BYTES="${FLOOD_MAX_BYTES:-67108864}"
# memory_limiter.limit_mib (0: off); when set the test fails if peak RSS (VmHWM) exceeds it.
export FLOOD_MEMORY_LIMIT_MIB="${FLOOD_MEMORY_LIMIT_MIB:-0}"
echo "machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print $2}') KiB RAM, $(uname -sr)"
cargo test --release --all-features --test gateway_flood flood_real_binary \
    -- --ignored --nocapture --test-threads=1 2>&1 | grep -E "^(FLOOD|sent|test |test result)|panicked"
