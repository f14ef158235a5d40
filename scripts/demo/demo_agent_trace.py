"""Sends one demo agent trace, instrumented the way OpenInference instrumentations do it, over
OTLP with the real OpenTelemetry Python SDK (normally to the otel-llm-cost gateway).

    support-agent run                AGENT   (root)
      plan                           CHAIN
        ChatCompletion               LLM     gpt-4o-2024-08-06        3200 in (2048 cache read), 450 out
      research                       CHAIN
        retrieve docs                RETRIEVER
        Messages                     LLM     claude-sonnet-4-5-20250929  12000 in (8000 cache read, 2000 cache write), 900 out
        Messages                     LLM     claude-sonnet-4-5-20250929  52000 in (40000 cache read, 4000 cache write), 1100 out
        Messages (whole manual)      LLM     claude-sonnet-4-5-20250929  230000 in, 2000 out: above 200k input,
                                             the long-context price applies to every token
        chat gpt-4.1-mini            (OTel GenAI attributes only, no openinference.span.kind)
      reason                         CHAIN
        Response                     LLM     o3-2025-04-16            5000 in, 4000 out (3200 reasoning)
        generate_content             LLM     gemini-2.5-flash         20000 in, 1200 out
      answer                         CHAIN
        ChatCompletion               LLM     gpt-4o-mini-2024-07-18   1500 in, 300 out
        ChatCompletion               LLM     acme-finetune-v3         (a model no price table knows)

The resource carries `openinference.project.name`, so Phoenix files the trace under that project.
Span times are "now" (Phoenix's UI shows recent traces). Prints the trace id (32 hex digits).

    python scripts/demo/demo_agent_trace.py --grpc 127.0.0.1:4317 [--project otel-llm-cost-demo]
    python scripts/demo/demo_agent_trace.py --http http://127.0.0.1:4318
"""

import argparse
import time

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

MS = 1_000_000


def llm(model, provider, prompt, completion, cache_read=0, cache_write=0, reasoning=0, question=""):
    """OpenInference LLM span attributes (prompt includes cache tokens, completion includes reasoning)."""
    a = {
        "openinference.span.kind": "LLM",
        "llm.model_name": model,
        "llm.provider": provider,
        "llm.system": provider if provider != "google" else "vertexai",
        "llm.token_count.prompt": prompt,
        "llm.token_count.completion": completion,
        "llm.token_count.total": prompt + completion,
        "input.value": question or f"(demo prompt, {prompt} tokens)",
        "output.value": f"(demo completion, {completion} tokens)",
    }
    if cache_read:
        a["llm.token_count.prompt_details.cache_read"] = cache_read
    if cache_write:
        a["llm.token_count.prompt_details.cache_write"] = cache_write
    if reasoning:
        a["llm.token_count.completion_details.reasoning"] = reasoning
    return a


def chain(name):
    return {"openinference.span.kind": "CHAIN", "input.value": name}


def send(tracer, t0):
    def span(name, parent, start_ms, end_ms, attributes):
        ctx = trace.set_span_in_context(parent) if parent is not None else None
        s = tracer.start_span(name, context=ctx, start_time=t0 + start_ms * MS, attributes=attributes)
        return s, end_ms

    def done(pair):
        s, end_ms = pair
        s.end(end_time=t0 + end_ms * MS)
        return s

    root, root_end = span(
        "support-agent run",
        None,
        0,
        24_000,
        {
            "openinference.span.kind": "AGENT",
            "input.value": "Why was invoice #4411 charged twice, and what should the customer do?",
            "output.value": "The second charge is a pre-authorisation hold; it drops off in 3-5 days.",
        },
    )

    plan = span("plan", root, 10, 910, chain("plan"))
    done(span("ChatCompletion", plan[0], 20, 900, llm("gpt-4o-2024-08-06", "openai", 3_200, 450, cache_read=2_048)))
    done(plan)

    research = span("research", root, 920, 12_000, chain("research"))
    done(span("retrieve docs", research[0], 930, 1_200, {"openinference.span.kind": "RETRIEVER", "input.value": "invoice 4411"}))
    done(span("Messages", research[0], 1_210, 3_000,
              llm("claude-sonnet-4-5-20250929", "anthropic", 12_000, 900, cache_read=8_000, cache_write=2_000)))
    done(span("Messages", research[0], 3_010, 5_500,
              llm("claude-sonnet-4-5-20250929", "anthropic", 52_000, 1_100, cache_read=40_000, cache_write=4_000)))
    done(span("Messages (whole manual)", research[0], 5_510, 10_000,
              llm("claude-sonnet-4-5-20250929", "anthropic", 230_000, 2_000)))
    # A call recorded by an OTel GenAI instrumentation (another library in the same process):
    # no openinference.span.kind, no llm.* attributes.
    done(span("chat gpt-4.1-mini", research[0], 10_010, 11_900, {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4.1-mini",
        "gen_ai.response.model": "gpt-4.1-mini-2025-04-14",
        "gen_ai.usage.input_tokens": 8_000,
        "gen_ai.usage.output_tokens": 600,
    }))
    done(research)

    reason = span("reason", root, 12_010, 21_000, chain("reason"))
    done(span("Response", reason[0], 12_020, 19_000, llm("o3-2025-04-16", "openai", 5_000, 4_000, reasoning=3_200)))
    done(span("generate_content", reason[0], 19_010, 20_990, llm("gemini-2.5-flash", "google", 20_000, 1_200)))
    done(reason)

    answer = span("answer", root, 21_010, 23_900, chain("answer"))
    done(span("ChatCompletion", answer[0], 21_020, 22_000, llm("gpt-4o-mini-2024-07-18", "openai", 1_500, 300)))
    done(span("ChatCompletion", answer[0], 22_010, 23_800, llm("acme-finetune-v3", "openai", 800, 120)))
    done(answer)

    done((root, root_end))
    return format(root.get_span_context().trace_id, "032x")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    dest = ap.add_mutually_exclusive_group(required=True)
    dest.add_argument("--grpc", help="host:port of an OTLP/gRPC receiver (the gateway's)")
    dest.add_argument("--http", help="http://host:port of an OTLP/HTTP receiver (/v1/traces is appended)")
    ap.add_argument("--project", default="otel-llm-cost-demo", help="Phoenix project (openinference.project.name)")
    ap.add_argument("--service", default="support-agent", help="service.name")
    a = ap.parse_args()

    if a.grpc:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=a.grpc, insecure=True)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=f"{a.http.rstrip('/')}/v1/traces")
    provider = TracerProvider(
        resource=Resource.create({"service.name": a.service, "openinference.project.name": a.project})
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("demo.support_agent")
    # Start 30 s in the past so the whole run has ended "now".
    trace_id = send(tracer, time.time_ns() - 30_000 * MS)
    provider.shutdown()
    print(trace_id)


if __name__ == "__main__":
    main()
