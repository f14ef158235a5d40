# Shared by scripts/bench/bench-gateway.sh and scripts/bench/bench-gateway-ab.sh (sourced, not run): the
# addresses, a scratch directory removed on exit, the gateway configurations (end to end, end to
# end with the persistent queue, end to end with cost records, flood) and starting/stopping a gateway pinned to core 1.
GRPC=127.0.0.1:24317
METRICS=127.0.0.1:24888
SINK=127.0.0.1:24319
GRACE_MS=${GRACE_MS:-200}

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
assembly: { root_grace: ${GRACE_MS}ms, trace_timeout: 30s }
exporter: { endpoint: "http://$SINK", protocol: grpc, compression: none, retry: { enabled: false } }
telemetry: { metrics: { endpoint: "$METRICS" }, logs: { level: warn } }
YAML
# The same with the persistent queue (write-ahead log) in $work/queue; WAL_FSYNC sets its fsync
# policy (default: the binary's default, no fsync).
cat >"$work/gw-wal.yaml" <<YAML
receivers: { otlp: { protocols: { grpc: { endpoint: "$GRPC" } } } }
assembly: { root_grace: ${GRACE_MS}ms, trace_timeout: 30s }
exporter: { endpoint: "http://$SINK", protocol: grpc, compression: none, retry: { enabled: false }, queue: { directory: "$work/queue"${WAL_FSYNC:+, fsync: $WAL_FSYNC} } }
telemetry: { metrics: { endpoint: "$METRICS" }, logs: { level: warn } }
YAML
# The same writing the JSONL cost records (analytics.records) to $work/costs.jsonl.
cat >"$work/gw-records.yaml" <<YAML
receivers: { otlp: { protocols: { grpc: { endpoint: "$GRPC" } } } }
assembly: { root_grace: ${GRACE_MS}ms, trace_timeout: 30s }
exporter: { endpoint: "http://$SINK", protocol: grpc, compression: none, retry: { enabled: false } }
telemetry: { metrics: { endpoint: "$METRICS" }, logs: { level: warn } }
analytics: { records: { path: "$work/costs.jsonl" } }
YAML
cat >"$work/flood.yaml" <<YAML
receivers: { otlp: { protocols: { grpc: { endpoint: "$GRPC" } } } }
assembly: { root_grace: 300s, trace_timeout: 600s, max_traces: 10000000, max_bytes: 4294967296 }
exporter: { endpoint: "http://$SINK", protocol: grpc, compression: none }
telemetry: { metrics: { endpoint: "$METRICS" }, logs: { level: warn } }
YAML

# start_gateway BINARY CONFIG: serve pinned to core 1; returns once /metrics listens.
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
