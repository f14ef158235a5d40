#!/usr/bin/env bash
# Reruns every figure of BENCHMARKS.md "## Gateway (issue 6)" in one go and prints them:
#   1. machine notes;
#   2. release build of `otel-llm-cost` and of the load generator (examples/loadgen.rs);
#   3. criterion benches (benches/gateway.rs): pieces, and one 512-span batch through the
#      gateway's CPU path against plain prost decode + encode (the ceiling), decode + the
#      exporter's own encoder, and pass-through;
#   4. end to end, the gateway pinned to core 1 (`taskset -c 1`), the load generator and its
#      fast sink on core 0: flat out (throughput, CPU, peak RSS), at a fixed rate (latency added
#      beyond root_grace), and a flood of open traces (resident memory per buffered span).
# Everything binds 127.0.0.1; every run is bounded in time and stops by itself.
#
# Knobs (environment): DURATION (s, default 10), RATE (spans/s of the latency run, default
# 50000), FLOOD_SPANS (default 300000), CONNECTIONS (default 4), BENCH_TIME (criterion
# measurement seconds, default 3), SKIP_BENCH=1, CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."

TARGET_DIR=${CARGO_TARGET_DIR:-target}
# The bench profile without debug info matches the release profile: dependencies built once.
export CARGO_PROFILE_BENCH_DEBUG=${CARGO_PROFILE_BENCH_DEBUG:-false}
DURATION=${DURATION:-10}
RATE=${RATE:-50000}
FLOOD_SPANS=${FLOOD_SPANS:-300000}
CONNECTIONS=${CONNECTIONS:-4}
BENCH_TIME=${BENCH_TIME:-3}
. scripts/bench/gateway-bench-lib.sh

echo "== machine"
echo "nproc: $(nproc)"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p')"
echo "rustc: $(rustc -V)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (shared machine: other jobs run on the same 2 cores)"

echo "== build (release)"
# One feature set for the binary, the example and the bench: the library is built once.
cargo build --release --quiet --features cli --bin otel-llm-cost --example loadgen
BIN="$TARGET_DIR/release/otel-llm-cost"
LOADGEN="$TARGET_DIR/release/examples/loadgen"

if [ "${SKIP_BENCH:-0}" != 1 ]; then
    echo "== criterion: cargo bench --features cli --bench gateway"
    cargo bench --quiet --features cli --bench gateway -- \
        --warm-up-time 1 --measurement-time "$BENCH_TIME" 2>&1 |
        grep -E '^[a-z_0-9/]+ *$|^[a-z_0-9/]+ +time:|time:|thrpt:' || true
    python3 - "$TARGET_DIR/criterion" <<'EOF'
import json, sys, os
root = sys.argv[1]
def ns(group, fn):
    p = os.path.join(root, group, fn, "new", "estimates.json")
    with open(p) as f:
        return json.load(f)["mean"]["point_estimate"]
spans = None
try:
    with open(os.path.join(root, "batch_512", "gateway", "new", "benchmark.json")) as f:
        spans = json.load(f)["throughput"]["Elements"]
except Exception:
    pass
c, w, p, g = (ns("batch_512", n) for n in ("ceiling_decode_encode", "decode_wire_encode", "passthrough", "gateway"))
print("-- batch of %s spans, mean per batch:" % spans)
for name, v in (("ceiling (prost decode+encode)", c), ("decode + the exporter's encoder", w), ("pass-through (no pricing)", p), ("gateway (decode->enrich->encode)", g)):
    print("   %-34s %9.1f us  %10.0f spans/s  %5.1f %% of ceiling" % (name, v / 1e3, spans / (v / 1e9), 100 * c / v))
EOF
fi

echo "== e2e flat out: taskset -c 1 otel-llm-cost serve (root_grace ${GRACE_MS}ms, compression none) | taskset -c 0 loadgen --connections $CONNECTIONS --duration $DURATION"
start_gateway "$BIN" "$work/gw.yaml"
taskset -c 0 "$LOADGEN" --target "$GRPC" --sink "$SINK" --connections "$CONNECTIONS" \
    --duration "$DURATION" --root-grace-ms "$GRACE_MS" --gateway-pid "$gw_pid"
stop_gateway

echo "== e2e at $RATE spans/s (latency added beyond root_grace)"
start_gateway "$BIN" "$work/gw.yaml"
taskset -c 0 "$LOADGEN" --target "$GRPC" --sink "$SINK" --connections "$CONNECTIONS" \
    --rate "$RATE" --duration "$DURATION" --root-grace-ms "$GRACE_MS" --gateway-pid "$gw_pid"
stop_gateway

echo "== flood of open traces: $FLOOD_SPANS spans held (root_grace 300s)"
start_gateway "$BIN" "$work/flood.yaml"
taskset -c 0 "$LOADGEN" --target "$GRPC" --connections "$CONNECTIONS" --spans "$FLOOD_SPANS" \
    --duration 60 --flood --gateway-pid "$gw_pid" --metrics "$METRICS"
stop_gateway
echo "== done"
