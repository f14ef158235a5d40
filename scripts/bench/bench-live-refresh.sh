#!/usr/bin/env bash
# Refresh under load (issue 16): a steady OTLP load through the release gateway whose catalog is
# built from the committed feeds (catalog/sources/, as `path:` sources: a mirrored feed), with
# and without 10 refreshes (SIGHUP, evenly spread) during the run. Arms alternate, ROUNDS each,
# a fresh gateway per run. Per run: the loadgen's export-call and added latency, the spans sent
# and received by the sink (lost = accepted - received), and the refreshes counted on /metrics.
#
#   scripts/bench/bench-live-refresh.sh            # RATE=20000 SECS=20 ROUNDS=2 REFRESHES=10
#   BIN=... LOADGEN=... scripts/bench/bench-live-refresh.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/release/otel-llm-cost}
LOADGEN=${LOADGEN:-target/release/examples/loadgen}
RATE=${RATE:-20000}
SECS=${SECS:-20}
ROUNDS=${ROUNDS:-2}
REFRESHES=${REFRESHES:-10}
# The scratch directory, its cleanup and start_gateway/stop_gateway (pinned to core 1) of the
# gateway benches; on ports of their own (that file's 243xx may be in use by another bench).
# shellcheck source=scripts/bench/gateway-bench-lib.sh
source scripts/bench/gateway-bench-lib.sh
GRPC=127.0.0.1:25317
METRICS=127.0.0.1:25888
SINK=127.0.0.1:25319

cat >"$work/gw.yaml" <<YAML
receivers: { otlp: { protocols: { grpc: { endpoint: "$GRPC" } } } }
assembly: { root_grace: 200ms, trace_timeout: 30s }
exporter: { endpoint: "http://$SINK", protocol: grpc, compression: none, retry: { enabled: false } }
telemetry: { metrics: { endpoint: "$METRICS" }, logs: { level: info } }
pricing:
  catalog:
    sources:
      - { format: genai-prices, path: "$PWD/catalog/sources/genai_prices_v2.json" }
      - { format: litellm, path: "$PWD/catalog/sources/litellm_model_prices.json" }
    refresh_interval: 0s
YAML

metric() { # metric NAME_WITH_LABELS
    curl -s "http://$METRICS/metrics" | awk -v k="$1" '$1 == k { print $2 }'
}

run() { # run ARM
    start_gateway "$BIN" "$work/gw.yaml"
    if [ "$1" = refresh ]; then
        (
            for _ in $(seq "$REFRESHES"); do
                sleep "$(echo "$SECS / ($REFRESHES + 1)" | bc -l)"
                kill -HUP "$gw_pid"
            done
        ) &
    fi
    taskset -c 0 "$LOADGEN" --target "$GRPC" --sink "$SINK" --rate "$RATE" --duration "$SECS" \
        --root-grace-ms 200 --gateway-pid "$gw_pid" >"$work/lg.txt"
    wait_hups=$(jobs -p | grep -v "^$gw_pid$" || true)
    [ -n "$wait_hups" ] && wait $wait_hups 2>/dev/null || true
    ok=$(metric 'otel_llm_cost_catalog_refresh_total{outcome="ok"}')
    failed=$(curl -s "http://$METRICS/metrics" | awk '/^otel_llm_cost_catalog_refresh_total/ && !/outcome="ok"/ { s += $2 } END { print s + 0 }')
    accepted=$(sed -n 's/.*accepted_spans=\([0-9]*\).*/\1/p' "$work/lg.txt")
    received=$(sed -n 's/.*received_spans=\([0-9]*\).*/\1/p' "$work/lg.txt")
    call=$(sed -n 's/.*export_call_p50_ms=\([0-9.]*\) export_call_p99_ms=\([0-9.]*\).*/p50 \1 p99 \2/p' "$work/lg.txt")
    added=$(sed -n 's/.*added_latency_beyond_grace_ms p50=\([0-9.-]*\) p99=\([0-9.-]*\) max=\([0-9.-]*\).*/p50 \1 p99 \2 max \3/p' "$work/lg.txt")
    cpu=$(sed -n 's/^cpu_s=\([0-9.]*\).*/\1/p' "$work/lg.txt")
    took=$(sed 's/\x1b\[[0-9;]*m//g' "$work/gw.log" | sed -n 's/.*took_ms=\([0-9]*\).*/\1/p' | sort -n | tr '\n' ' ')
    printf '%-8s refreshes ok=%s failed=%s | accepted=%s received=%s lost=%s | export call ms %s | added latency ms %s | gateway cpu_s=%s\n' \
        "$1" "${ok:-?}" "$failed" "$accepted" "$received" "$((accepted - received))" "$call" "$added" "$cpu"
    if [ -n "$took" ]; then echo "         refresh took ms (sorted): $took"; fi
    sed 's/\x1b\[[0-9;]*m//g' "$work/gw.log" | grep -m1 "price catalog swapped" | sed 's/^/         first swap log: /' || true
    stop_gateway
}

echo "rate=$RATE spans/s, ${SECS}s per run, $REFRESHES refreshes in the refresh arm, $ROUNDS rounds; $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
for _ in $(seq "$ROUNDS"); do
    run steady
    run refresh
done
