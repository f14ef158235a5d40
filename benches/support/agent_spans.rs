//! Span shapes shared by `benches/processor.rs` and `examples/processor_rate.rs` (included with
//! `#[path]`), so the bench and the drop test measure the same spans.

use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracerProvider;

/// A plain span's attributes: 8, no usage (an HTTP / tool call).
pub fn plain_attrs() -> Vec<KeyValue> {
    vec![
        KeyValue::new("http.request.method", "POST"),
        KeyValue::new("http.route", "/v1/search"),
        KeyValue::new("server.address", "search.internal"),
        KeyValue::new("server.port", 443),
        KeyValue::new("url.scheme", "https"),
        KeyValue::new("http.response.status_code", 200),
        KeyValue::new("tool.name", "web_search"),
        KeyValue::new("retries", 0),
    ]
}

/// An OpenInference LLM call's attributes: model, provider and 5 token counts.
pub fn llm_attrs() -> Vec<KeyValue> {
    vec![
        KeyValue::new("openinference.span.kind", "LLM"),
        KeyValue::new("llm.system", "openai"),
        KeyValue::new("llm.model_name", "gpt-4o-2024-08-06"),
        KeyValue::new("llm.token_count.prompt", 1200),
        KeyValue::new("llm.token_count.prompt_details.cache_read", 1000),
        KeyValue::new("llm.token_count.completion", 300),
        KeyValue::new("llm.token_count.completion_details.reasoning", 200),
        KeyValue::new("llm.token_count.total", 1500),
    ]
}

/// One trace of 10 spans: a step with 1 LLM call and 8 plain children. Never inlined, so that
/// callgrind finds it in both arms.
#[inline(never)]
pub fn trace_of_ten(provider: &SdkTracerProvider) {
    let tracer = provider.tracer("bench");
    let step = Context::new().with_span(
        tracer
            .span_builder("step")
            .with_attributes(plain_attrs())
            .start(&tracer),
    );
    tracer
        .span_builder("chat")
        .with_attributes(llm_attrs())
        .start_with_context(&tracer, &step);
    for _ in 0..8 {
        tracer
            .span_builder("tool")
            .with_attributes(plain_attrs())
            .start_with_context(&tracer, &step);
    }
    step.span().end();
}
