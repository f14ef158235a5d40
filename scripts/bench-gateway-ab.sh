#!/usr/bin/env bash
# Side-by-side end-to-end runs of several gateway binaries, alternated in one session so they
# share the machine's load: flat out (spans per gateway CPU-second, peak RSS) and a flood of open
# traces (resident memory per buffered span). The gateway is pinned to core 1, the load
# generator and its fast sink to core 0; everything binds 127.0.0.1 and stops by itself.
#
#   scripts/bench-gateway-ab.sh name=path/to/otel-llm-cost [name=path ...]
#
# Knobs: ROUNDS (default 3), DURATION (s, default 8), FLOOD_SPANS (default 300000; 0 skips),
# CONNECTIONS (4), LOADGEN (default: build examples/loadgen in release).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 name=binary [name=binary ...]"; exit 2; }
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
FLOOD_SPANS=${FLOOD_SPANS:-300000}
CONNECTIONS=${CONNECTIONS:-4}
GRPC=127.0.0.1:24317
METRICS=127.0.0.1:24888
SINK=127.0.0.1:24319
if [ -z "${LOADGEN:-}" ]; then
    cargo build --release --quiet --features cli --example loadgen
    LOADGEN=${CARGO_TARGET_DIR:-target}/release/examples/loadgen
fi
work=$(mktemp -d)
gw_pid=""
cleanup() {
    if [ -n "$gw_pid" ] && kill -0 "$gw_pid" 2>/dev/null; then
        kill -TERM "$gw_pid" 2>/dev/null || true
        wait "$gw_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
cat >"$work/gw.yaml" <<YAML
receivers: { otlp: { protocols: { grpc: { endpoint: "$GRPC" } } } }
assembly: { root_grace: 200ms, trace_timeout: 30s }
exporter: { endpoint: "http://$SINK", protocol: grpc, compression: none, retry: { enabled: false } }
telemetry: { metrics: { endpoint: "$METRICS" }, logs: { level: warn } }
YAML
cat >"$work/flood.yaml" <<YAML
receivers: { otlp: { protocols: { grpc: { endpoint: "$GRPC" } } } }
assembly: { root_grace: 300s, trace_timeout: 600s, max_traces: 10000000, max_bytes: 4294967296 }
exporter: { endpoint: "http://$SINK", protocol: grpc, compression: none }
telemetry: { metrics: { endpoint: "$METRICS" }, logs: { level: warn } }
YAML
start_gateway() {
    taskset -c 1 "$1" serve --config "$2" >"$work/gw.log" 2>&1 &
    gw_pid=$!
    for _ in $(seq 100); do
        if (exec 3<>/dev/tcp/127.0.0.1/${METRICS##*:}) 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "gateway did not start:"; cat "$work/gw.log"; exit 1
}
stop_gateway() {
    kill -TERM "$gw_pid" 2>/dev/null || true
    wait "$gw_pid" 2>/dev/null || true
    gw_pid=""
}
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
    for nb in "$@"; do
        name=${nb%%=*}; bin=${nb#*=}
        echo "== round $round, $name: flat out, $DURATION s"
        start_gateway "$bin" "$work/gw.yaml"
        taskset -c 0 "$LOADGEN" --target "$GRPC" --sink "$SINK" --connections "$CONNECTIONS" \
            --duration "$DURATION" --root-grace-ms 200 --gateway-pid "$gw_pid" 2>&1 | sed "s/^/[$name] /"
        stop_gateway
    done
done
if [ "$FLOOD_SPANS" != 0 ]; then
    for nb in "$@"; do
        name=${nb%%=*}; bin=${nb#*=}
        echo "== $name: flood of open traces, $FLOOD_SPANS spans held"
        start_gateway "$bin" "$work/flood.yaml"
        taskset -c 0 "$LOADGEN" --target "$GRPC" --connections "$CONNECTIONS" --spans "$FLOOD_SPANS" \
            --duration 60 --flood --gateway-pid "$gw_pid" --metrics "$METRICS" 2>&1 | sed "s/^/[$name] /"
        stop_gateway
    done
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
