#!/usr/bin/env bash
# Side-by-side end-to-end runs of several gateway binaries, alternated in one session so they
# share the machine's load: flat out (spans per gateway CPU-second, peak RSS) and a flood of open
# traces (resident memory per buffered span). The gateway is pinned to core 1, the load
# generator and its fast sink to core 0; everything binds 127.0.0.1 and stops by itself.
#
#   scripts/bench/bench-gateway-ab.sh name=path/to/otel-llm-cost [name=path ...]
#
# A name ending in `+wal` runs its binary with the persistent queue (exporter.queue.directory, a
# fresh directory each run; WAL_FSYNC=never|interval|group|true|false sets its fsync policy); one
# ending in `+records` writes the JSONL cost records (analytics.records, a fresh file each run).
#
# Knobs: ROUNDS (default 3), DURATION (s, default 8), FLOOD_SPANS (default 300000; 0 skips),
# CONNECTIONS (4), LOADGEN (default: build examples/loadgen in release).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 1 ] || { echo "usage: $0 name=binary [name=binary ...]"; exit 2; }
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
FLOOD_SPANS=${FLOOD_SPANS:-300000}
CONNECTIONS=${CONNECTIONS:-4}
if [ -z "${LOADGEN:-}" ]; then
    cargo build --release --quiet --features cli --example loadgen
    LOADGEN=${CARGO_TARGET_DIR:-target}/release/examples/loadgen
fi
. scripts/bench/gateway-bench-lib.sh
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
    for nb in "$@"; do
        name=${nb%%=*}; bin=${nb#*=}
        echo "== round $round, $name: flat out, $DURATION s"
        cfg="$work/gw.yaml"
        case $name in
            *+wal) cfg="$work/gw-wal.yaml"; rm -rf "$work/queue" ;;
            *+records) cfg="$work/gw-records.yaml"; rm -f "$work/costs.jsonl" ;;
        esac
        start_gateway "$bin" "$cfg"
        taskset -c 0 "$LOADGEN" --target "$GRPC" --sink "$SINK" --connections "$CONNECTIONS" \
            --duration "$DURATION" --root-grace-ms 200 --gateway-pid "$gw_pid" 2>&1 | sed "s/^/[$name] /"
        stop_gateway
        if [ -f "$work/costs.jsonl" ]; then
            echo "[$name] cost records written: $(wc -l <"$work/costs.jsonl") lines"
            rm -f "$work/costs.jsonl"
        fi
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
