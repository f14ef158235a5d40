#!/usr/bin/env bash
# Reruns every figure of BENCHMARKS.md, section by section, each arm against its baseline in the
# same run (the machines are shared: compare ratios, not absolute times). Loopback only; every
# step is bounded and stops by itself. Took 7 min on 2 cores with warm builds (session 3); add
# the release and bench builds on a cold target directory.
#
#   scripts/bench/bench-all.sh            # everything
#   SKIP_CALLGRIND=1 scripts/bench/bench-all.sh
#
# Sections: Pricing (criterion), Processor (criterion, all arms; callgrind instructions per span
# when valgrind is installed; BatchSpanProcessor drops at 50,000 spans/s), Report (peak RSS on
# 100k and 1M generated spans), Gateway (scripts/bench/bench-gateway.sh: criterion vs the prost ceiling,
# end to end pinned runs, memory per buffered span). The floods of RELIABILITY.md are
# scripts/reliability/flood.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
TARGET_DIR=${CARGO_TARGET_DIR:-target}
export CARGO_PROFILE_BENCH_DEBUG=${CARGO_PROFILE_BENCH_DEBUG:-false}
echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(rustc -V), load $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== Pricing: cargo bench --bench pricing"
cargo bench --quiet --bench pricing -- --warm-up-time 1 --measurement-time 3 2>&1 | grep -E "^[a-z_0-9/]+|time:"

echo "== Processor: cargo bench --bench processor (all arms)"
cargo bench --quiet --bench processor -- --warm-up-time 1 --measurement-time 3 2>&1 | grep -E "^[a-z_0-9/]+|time:"

if [ "${SKIP_CALLGRIND:-0}" != 1 ] && command -v valgrind >/dev/null; then
    echo "== Processor: instructions per span (callgrind)"
    bench=$(ls -t "$TARGET_DIR"/release/deps/processor-* | grep -v '\.d$' | head -1)
    cg=$(mktemp -d)
    for arm in baseline with_cost; do
        for w in plain llm mix_1llm_9plain; do
            valgrind --tool=callgrind --callgrind-out-file="$cg/$w.$arm" "$bench" --bench \
                --profile-time 1 "on_end/$w/$arm" >/dev/null 2>&1
            echo "-- on_end/$w/$arm"
            python3 scripts/bench/callgrind_per_call.py "$cg/$w.$arm" "SpanProcessor>::on_end"
        done
        valgrind --tool=callgrind --callgrind-out-file="$cg/pipe.$arm" "$bench" --bench \
            --profile-time 2 "pipeline_1llm_9plain/$arm" >/dev/null 2>&1
        echo "-- pipeline_1llm_9plain/$arm (per trace of 10 spans)"
        python3 scripts/bench/callgrind_per_call.py "$cg/pipe.$arm" "agent_spans::trace_of_ten"
    done
    # Pricing in front of the exporter: the emitting thread's cost, and the export thread's.
    valgrind --tool=callgrind --callgrind-out-file="$cg/pipe.exporter" "$bench" --bench \
        --profile-time 2 "pipeline_1llm_9plain/exporter" >/dev/null 2>&1
    echo "-- pipeline_1llm_9plain/exporter (per trace of 10 spans; export per batch)"
    python3 scripts/bench/callgrind_per_call.py "$cg/pipe.exporter" "agent_spans::trace_of_ten" \
        "CostSpanExporter<E> as opentelemetry_sdk::trace::export::SpanExporter>::export"
    rm -rf "$cg"
fi

echo "== Processor: drops at 50,000 spans/s (examples/processor_rate.rs)"
cargo run --release --quiet --example processor_rate -- --rate 50000 --seconds 5 --rounds 3

echo "== Report: peak RSS"
cargo build --release --quiet --features cli --bin otel-llm-cost
B="$TARGET_DIR/release/otel-llm-cost"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$B" report --generate 100000 >"$tmp/100k.jsonl"
"$B" report --generate 1000000 >"$tmp/1m.jsonl"
for f in 100k 1m; do
    /usr/bin/time -f "report $f spans: %M KiB peak RSS, %e s" "$B" report "$tmp/$f.jsonl" >/dev/null
done

echo "== Gateway: scripts/bench/bench-gateway.sh"
scripts/bench/bench-gateway.sh
