#!/usr/bin/env bash
# End-to-end check against a real trace UI: Arize Phoenix.
#
#   demo agent (Python OTel SDK, OpenInference attributes)
#     --OTLP/gRPC--> otel-llm-cost serve --OTLP (gRPC or HTTP)--> Phoenix
#   then reads the trace back through Phoenix's REST and GraphQL APIs and checks our per-call
#   llm.cost.* and roll-up cost.* attributes, the root's run total and cost.by_model, and that
#   Phoenix's own cost of every LLM span (its price table, its arithmetic) equals ours.
#
# Not part of the default test run. Re-runnable; everything listens on 127.0.0.1 (free ports)
# and is stopped on exit; Phoenix's database lives in a temporary directory.
#
#   bash scripts/demo/e2e-phoenix.sh [--exporter grpc|http] [--screenshots [DIR]] [--keep]
#
#   --exporter      protocol from the gateway to Phoenix (default grpc)
#   --screenshots   also screenshot Phoenix's trace view (root span and one LLM span, Attributes
#                   tab) into DIR (default docs/): phoenix-trace.png, phoenix-llm-span.png.
#                   Needs chromium (apt-get install chromium) and npm (installs playwright-core
#                   under .venv-phoenix/node; no browser download).
#   --keep          keep the temporary directory (logs, Phoenix's database)
#
# Environment:
#   OTEL_LLM_COST_BIN   use this gateway binary instead of `cargo build --release --features cli`
#   CARGO_TARGET_DIR    honoured by the build (binary: $CARGO_TARGET_DIR/release/otel-llm-cost)
#   PHOENIX_VERSION     arize-phoenix version to install into .venv-phoenix (default 20.26.1,
#                       the version this check was written against; its API is read below)
#   PHOENIX_START_TIMEOUT  seconds to wait for Phoenix to come up (default 240)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

EXPORTER=grpc
SHOTS=""
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --exporter) EXPORTER=${2:?}; shift 2 ;;
        --screenshots)
            SHOTS=docs
            if [ $# -gt 1 ] && [ "${2#--}" = "$2" ]; then SHOTS=$2; shift; fi
            shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
case "$EXPORTER" in grpc|http) ;; *) echo "--exporter grpc|http" >&2; exit 2 ;; esac

PHOENIX_VERSION=${PHOENIX_VERSION:-20.26.1}
PHOENIX_START_TIMEOUT=${PHOENIX_START_TIMEOUT:-240}
VENV=$ROOT/.venv-phoenix
PY=$VENV/bin/python
PROJECT=otel-llm-cost-e2e
EXPECT_SPANS=15   # scripts/demo/demo_agent_trace.py sends 15 spans

WORK=$(mktemp -d "${TMPDIR:-/tmp}/e2e-phoenix.XXXXXX")
PHOENIX_PID=""
GATEWAY_PID=""

log() { printf '\n== %s\n' "$*"; }

stop() { # pid name: SIGTERM, wait up to 20 s, then SIGKILL
    local pid=$1 name=$2 i
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
    echo "$name ($pid) did not stop on SIGTERM; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop "$GATEWAY_PID" gateway
    stop "$PHOENIX_PID" phoenix
    if [ "$KEEP" = 1 ] || [ "$rc" != 0 ]; then
        echo "logs kept in $WORK (phoenix.log, gateway.log)"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }

# Waits up to $1 seconds for command "$2..." to succeed.
wait_for() {
    local secs=$1; shift
    local end=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $end ] || return 1
        sleep 1
    done
}

# --- 1. Phoenix in its own venv -------------------------------------------------------------
log "Phoenix $PHOENIX_VERSION in .venv-phoenix"
if [ ! -x "$PY" ]; then
    python3 -m venv "$VENV"
fi
if ! "$PY" -m pip show arize-phoenix 2>/dev/null | grep -qx "Version: $PHOENIX_VERSION"; then
    echo "installing arize-phoenix==$PHOENIX_VERSION (about 850 MB, once)"
    "$PY" -m pip install --quiet --disable-pip-version-check "arize-phoenix==$PHOENIX_VERSION"
fi

# --- 2. the gateway binary ------------------------------------------------------------------
if [ -n "${OTEL_LLM_COST_BIN:-}" ]; then
    BIN=$OTEL_LLM_COST_BIN
    log "gateway: $BIN (OTEL_LLM_COST_BIN)"
else
    log "building the gateway (cargo build --release --features cli)"
    cargo build --release --features cli
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/otel-llm-cost
fi
[ -x "$BIN" ] || fail "no gateway binary at $BIN"

# --- 3. start Phoenix on free loopback ports ------------------------------------------------
read -r PHX_HTTP PHX_GRPC < <("$PY" - <<'EOF'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
EOF
)
PHOENIX=http://127.0.0.1:$PHX_HTTP
log "starting Phoenix: UI/REST/GraphQL/OTLP-HTTP $PHOENIX, OTLP/gRPC 127.0.0.1:$PHX_GRPC (working dir $WORK/phoenix)"
mkdir -p "$WORK/phoenix"
PHOENIX_HOST=127.0.0.1 \
PHOENIX_PORT=$PHX_HTTP \
PHOENIX_GRPC_PORT=$PHX_GRPC \
PHOENIX_WORKING_DIR=$WORK/phoenix \
PHOENIX_TELEMETRY_ENABLED=false \
PHOENIX_ALLOW_EXTERNAL_RESOURCES=false \
PHOENIX_AGENTS_DISABLE_BASH=true \
PHOENIX_DB_LOGGING_LEVEL=warning \
PHOENIX_LOG_MIGRATIONS=false \
    "$PY" scripts/demo/phoenix_serve.py >"$WORK/phoenix.log" 2>&1 &
PHOENIX_PID=$!
phoenix_up() { kill -0 "$PHOENIX_PID" && curl -fsS "$PHOENIX/healthz"; }
if ! wait_for "$PHOENIX_START_TIMEOUT" phoenix_up; then
    tail -30 "$WORK/phoenix.log" >&2
    fail "Phoenix did not answer $PHOENIX/healthz within ${PHOENIX_START_TIMEOUT}s"
fi
echo "Phoenix is up (pid $PHOENIX_PID)"

# --- 4. start the gateway, exporting to Phoenix ---------------------------------------------
if [ "$EXPORTER" = grpc ]; then
    EXPORT_ARGS=(--exporter-endpoint "http://127.0.0.1:$PHX_GRPC" --exporter-protocol grpc)
else
    EXPORT_ARGS=(--exporter-endpoint "$PHOENIX" --exporter-protocol http/protobuf)
fi
log "starting the gateway: exporting OTLP/$EXPORTER to Phoenix"
"$BIN" serve --grpc 127.0.0.1:0 --http 127.0.0.1:0 --metrics 127.0.0.1:0 \
    "${EXPORT_ARGS[@]}" --root-grace 500ms --trace-timeout 20s \
    >"$WORK/gateway.log" 2>&1 &
GATEWAY_PID=$!
gateway_up() { kill -0 "$GATEWAY_PID" && grep -q '^otel-llm-cost: listening' "$WORK/gateway.log"; }
wait_for 30 gateway_up || { cat "$WORK/gateway.log" >&2; fail "gateway did not start"; }
LISTEN=$(grep -m1 '^otel-llm-cost: listening' "$WORK/gateway.log")
echo "$LISTEN"
GW_GRPC=$(sed -E 's/.*grpc=([^ ]+).*/\1/' <<<"$LISTEN")
GW_METRICS=$(sed -E 's/.*metrics=([^ ]+).*/\1/' <<<"$LISTEN")

# --- 5. send the demo agent trace through the gateway ---------------------------------------
log "sending the demo agent trace to the gateway ($GW_GRPC)"
TRACE_ID=$("$PY" scripts/demo/demo_agent_trace.py --grpc "$GW_GRPC" --project "$PROJECT")
[[ "$TRACE_ID" =~ ^[0-9a-f]{32}$ ]] || fail "demo sender printed no trace id: $TRACE_ID"
echo "trace id $TRACE_ID"

# --- 6. read it back from Phoenix and check -------------------------------------------------
log "reading the trace back from Phoenix (REST /v1/projects/$PROJECT/spans, GraphQL /graphql)"
CHECK_RC=0
"$PY" scripts/demo/check_phoenix_costs.py --phoenix "$PHOENIX" --project "$PROJECT" --trace "$TRACE_ID" \
    --expect-spans "$EXPECT_SPANS" --wait 60 --urls-out "$WORK/urls.sh" || CHECK_RC=$?

METRICS=$(curl -fsS "http://$GW_METRICS/metrics" || true)
metric() { awk -v m="$1" '$1 == m { print $2 }' <<<"$METRICS"; }
RECEIVED=$(metric otel_llm_cost_spans_received_total)
EXPORTED=$(metric otel_llm_cost_spans_exported_total)

# --- 7. screenshots (optional) --------------------------------------------------------------
SHOT_RC=0
if [ -n "$SHOTS" ] && [ -f "$WORK/urls.sh" ]; then
    log "screenshots of Phoenix's trace view into $SHOTS/"
    command -v chromium >/dev/null || fail "chromium not found (apt-get install -y chromium)"
    NODE_DIR=$VENV/node
    if [ ! -d "$NODE_DIR/node_modules/playwright-core" ]; then
        mkdir -p "$NODE_DIR"
        (cd "$NODE_DIR" && { [ -f package.json ] || npm init -y >/dev/null; } &&
            npm install --no-audit --no-fund --loglevel=error playwright-core >/dev/null)
    fi
    # shellcheck source=/dev/null
    . "$WORK/urls.sh"
    mkdir -p "$SHOTS"
    export NODE_PATH=$NODE_DIR/node_modules
    timeout 180 node scripts/demo/phoenix_screenshot.mjs "$ROOT_URL" "$SHOTS/phoenix-trace.png" --height 1000 || SHOT_RC=$?
    timeout 180 node scripts/demo/phoenix_screenshot.mjs "$LLM_URL" "$SHOTS/phoenix-llm-span.png" --height 1400 || SHOT_RC=$?
fi

# --- 8. stop the gateway: it must have delivered every span ---------------------------------
log "stopping the gateway (SIGTERM) and Phoenix"
kill -TERM "$GATEWAY_PID"
GW_RC=0
wait "$GATEWAY_PID" || GW_RC=$?
GATEWAY_PID=""
SUMMARY_LINE=$(grep -m1 'otel-llm-cost: received' "$WORK/gateway.log" || echo "(no summary line)")
echo "$SUMMARY_LINE"
stop "$PHOENIX_PID" phoenix
PHOENIX_PID=""

log "summary"
echo "Phoenix $PHOENIX_VERSION, project $PROJECT, trace $TRACE_ID, gateway -> Phoenix over OTLP/$EXPORTER"
echo "gateway metrics: spans received ${RECEIVED:-?}, exported ${EXPORTED:-?}; exit code $GW_RC"
status=0
if [ "$CHECK_RC" = 0 ]; then echo "PASS attributes, roll-up and Phoenix's costs (table above)"
else echo "FAIL attributes / roll-up / Phoenix comparison (see above)"; status=1; fi
if [ "$GW_RC" = 0 ] && [ "${RECEIVED:-x}" = "$EXPECT_SPANS" ] && [ "${EXPORTED:-y}" = "$EXPECT_SPANS" ]; then
    echo "PASS gateway delivered all $EXPECT_SPANS spans and exited 0"
else
    echo "FAIL gateway: received ${RECEIVED:-?}, exported ${EXPORTED:-?}, exit code $GW_RC"; status=1
fi
if [ -n "$SHOTS" ]; then
    if [ "$SHOT_RC" = 0 ] && [ -f "$WORK/urls.sh" ]; then
        echo "PASS screenshots: $SHOTS/phoenix-trace.png, $SHOTS/phoenix-llm-span.png"
    else echo "FAIL screenshots"; status=1; fi
fi
exit "$status"
