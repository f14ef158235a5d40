#!/usr/bin/env bash
# Issue 15's token-only check: the processor's and the gateway's instructions per span, this
# checkout against an older commit, both built here and run one after the other under callgrind.
#
#   scripts/bench/token-only-ab.sh BASE_COMMIT [OUT_DIR]
#
# Builds `cargo bench --all-features --bench processor --bench gateway --no-run` in this checkout
# and in a git worktree of BASE_COMMIT (OUT_DIR/base-src), then runs `on_end/llm/with_cost` at
# --profile-time 1, 2 and 3, `on_end/plain/with_cost`, `enrich_one_llm_span` at 1 and 2 and
# `extract_usage/512`, and prints instructions per call (scripts/bench/callgrind_per_call.py).
# glibc's malloc of the span's grown attribute list costs ~380 or ~250 instructions depending on
# the heap's state in a run: each processor line gives that allocation (callgrind_tree.py), so
# runs are compared in like states. Counts only: timing noise of the shared machine is out.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 1 ] || { echo "usage: $0 BASE_COMMIT [OUT_DIR]"; exit 2; }
base=$1; out=${2:-target/token-only-ab}
mkdir -p "$out"; out=$(cd "$out" && pwd)
build() { # DIR TAG
    local log
    log=$(cd "$1" && cargo bench --all-features --bench processor --bench gateway --no-run 2>&1)
    # paths printed relative to the checkout built
    (cd "$1" && cp "$(echo "$log" | sed -n 's/.*Executable benches\/processor.rs (\(.*\))/\1/p')" "$out/pr-$2")
    (cd "$1" && cp "$(echo "$log" | sed -n 's/.*Executable benches\/gateway.rs (\(.*\))/\1/p')" "$out/gw-$2")
}
[ -d "$out/base-src" ] || git worktree add --detach "$out/base-src" "$base" >/dev/null
build "$out/base-src" base
build . new
run() { valgrind --tool=callgrind --callgrind-out-file="$out/$1" "$out/$2" --bench --profile-time "$3" "$4" >/dev/null 2>&1; }
per_call() { python3 scripts/bench/callgrind_per_call.py "$1" "$2" | grep -v Noop | sed -n 's/.*per_call=//p' | head -1; }
alloc() { python3 scripts/bench/callgrind_tree.py "$1" 'Pricer::enrich' 3 20 2>/dev/null | grep -A2 'reserve_attrs' | sed -n 's/^ *\([0-9.]*\) .*__rust_alloc$/\1/p' | head -1; }
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); base $(git rev-parse --short "$base"), new $(git rev-parse --short HEAD)$(git diff --quiet || echo ' + changes')"
for tag in base new; do
    for pt in 1 2 3; do
        f=pr-$tag.llm.$pt.cg; run "$f" "pr-$tag" "$pt" '^on_end/llm/with_cost$'
        echo "$tag on_end/llm/with_cost pt=$pt $(per_call "$out/$f" 'SpanProcessor>::on_end') (malloc in reserve_attrs: $(alloc "$out/$f"))"
    done
    f=pr-$tag.plain.cg; run "$f" "pr-$tag" 1 '^on_end/plain/with_cost$'
    echo "$tag on_end/plain/with_cost pt=1 $(per_call "$out/$f" 'SpanProcessor>::on_end')"
    for pt in 1 2; do
        f=gw-$tag.enrich.$pt.cg; run "$f" "gw-$tag" "$pt" '^enrich_one_llm_span$'
        echo "$tag enrich_one_llm_span pt=$pt $(per_call "$out/$f" GatewayPath::enrich)"
    done
    f=gw-$tag.ex.cg; run "$f" "gw-$tag" 1 '^extract_usage/512$'
    echo "$tag extract_usage/512 pt=1 $(per_call "$out/$f" GatewayPath::extract_usage)"
done
