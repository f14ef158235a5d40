"""Sends one LLM-agent trace across two services to the otel-llm-cost gateway with the real
OpenTelemetry Python SDK. Used by tests/gateway_python.rs; run through scripts/ci/test.sh.

Service "planner" (its own TracerProvider, OTLP/gRPC exporter, gzip):
    agent-run (OpenInference AGENT, root)
      ChatCompletion (OpenInference LLM: gpt-4o-2024-08-06, 1200 prompt incl. 200 cache read, 300 completion)
      call-retriever (CLIENT) --context propagated (W3C traceparent)--> service "retriever"

Service "retriever" (its own TracerProvider, OTLP/HTTP protobuf exporter, gzip):
    handle (SERVER, remote parent = call-retriever)
      chat gpt-4o-mini (OTel GenAI: 5000 in, 1000 out)
      messages.create (OTel GenAI, anthropic: claude-3-5-haiku-20241022, 2000 in, 500 out)

--mode json sends the same two services' spans as OTLP/JSON over HTTP instead: encoded by the
SDK's own OTLP encoder, turned into JSON by protobuf's json_format, ids rewritten as hex and enums
as integers per the OTLP/JSON spec.

Prints the trace id (hex) on stdout.
"""

import argparse
import base64
import json
import sys
import time
import urllib.request

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

# 2025-06-01T00:00:00Z: fixed span times, so the price in force is fixed.
T0 = 1_748_736_000_000_000_000
MS = 1_000_000


def providers(mode, grpc, http):
    planner = TracerProvider(resource=Resource.create({"service.name": "planner"}))
    retriever = TracerProvider(resource=Resource.create({"service.name": "retriever"}))
    memory = None
    if mode == "sdk":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
        from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
        from grpc import Compression as GrpcCompression

        planner.add_span_processor(
            SimpleSpanProcessor(GrpcExporter(endpoint=grpc, insecure=True, compression=GrpcCompression.Gzip))
        )
        retriever.add_span_processor(
            SimpleSpanProcessor(HttpExporter(endpoint=f"{http}/v1/traces", compression=HttpCompression.Gzip))
        )
    else:
        memory = (InMemorySpanExporter(), InMemorySpanExporter())
        planner.add_span_processor(SimpleSpanProcessor(memory[0]))
        retriever.add_span_processor(SimpleSpanProcessor(memory[1]))
    return planner, retriever, memory


def retriever_service(tracer, carrier):
    """The second service: continues the trace from the propagated headers."""
    ctx = propagate.extract(carrier)
    with tracer.start_as_current_span("handle", context=ctx, kind=SpanKind.SERVER, start_time=T0 + 20 * MS, end_on_exit=False) as handle:
        mini = tracer.start_span(
            "chat gpt-4o-mini",
            kind=SpanKind.CLIENT,
            start_time=T0 + 21 * MS,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.response.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 5000,
                "gen_ai.usage.output_tokens": 1000,
            },
        )
        mini.end(end_time=T0 + 30 * MS)
        claude = tracer.start_span(
            "messages.create",
            kind=SpanKind.CLIENT,
            start_time=T0 + 31 * MS,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.system": "anthropic",
                "gen_ai.request.model": "claude-3-5-haiku-20241022",
                "gen_ai.usage.input_tokens": 2000,
                "gen_ai.usage.output_tokens": 500,
            },
        )
        claude.end(end_time=T0 + 40 * MS)
    handle.end(end_time=T0 + 41 * MS)


def run(planner, retriever):
    tp = planner.get_tracer("demo.agent")
    tr = retriever.get_tracer("demo.retriever")
    with tp.start_as_current_span(
        "agent-run", start_time=T0, end_on_exit=False, attributes={"openinference.span.kind": "AGENT"}
    ) as root:
        llm = tp.start_span(
            "ChatCompletion",
            start_time=T0 + 1 * MS,
            attributes={
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o-2024-08-06",
                "llm.provider": "openai",
                "llm.token_count.prompt": 1200,
                "llm.token_count.completion": 300,
                "llm.token_count.prompt_details.cache_read": 200,
                "llm.token_count.total": 1500,
            },
        )
        llm.end(end_time=T0 + 10 * MS)
        with tp.start_as_current_span("call-retriever", kind=SpanKind.CLIENT, start_time=T0 + 15 * MS, end_on_exit=False) as call:
            carrier = {}
            propagate.inject(carrier)
            retriever_service(tr, carrier)
        call.end(end_time=T0 + 45 * MS)
    root.end(end_time=T0 + 50 * MS)
    return format(root.get_span_context().trace_id, "032x")


def hexify(obj):
    """protobuf JSON gives bytes as base64; OTLP/JSON wants ids as hex."""
    if isinstance(obj, dict):
        for k, v in list(obj.items()):
            if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str):
                obj[k] = base64.b64decode(v).hex()
            else:
                hexify(v)
    elif isinstance(obj, list):
        for v in obj:
            hexify(v)
    return obj


def post_json(http, spans):
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    body = hexify(MessageToDict(encode_spans(spans), use_integers_for_enums=True))
    req = urllib.request.Request(
        f"{http}/v1/traces",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        if resp.status != 200:
            sys.exit(f"gateway answered {resp.status}")
        answer = json.loads(resp.read() or b"{}")
        if answer.get("partialSuccess"):
            sys.exit(f"partial success: {answer}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["sdk", "json"], default="sdk")
    ap.add_argument("--grpc", required=True, help="host:port of the gateway's gRPC receiver")
    ap.add_argument("--http", required=True, help="http://host:port of the gateway's HTTP receiver")
    ap.add_argument("--now", action="store_true", help="use the current time instead of 2025-06-01 (demo)")
    a = ap.parse_args()
    if a.now:
        global T0
        T0 = time.time_ns()
    planner, retriever, memory = providers(a.mode, a.grpc, a.http)
    trace_id = run(planner, retriever)
    if memory:
        # Retriever first, as it would arrive in a real deployment (its spans end first).
        post_json(a.http, memory[1].get_finished_spans())
        post_json(a.http, memory[0].get_finished_spans())
    retriever.shutdown()
    planner.shutdown()
    print(trace_id)


if __name__ == "__main__":
    main()
