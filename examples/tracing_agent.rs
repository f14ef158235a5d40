//! The same cost tree through `tracing` + `tracing-opentelemetry`.
//!
//! Declare the token fields as `Empty` when the span opens and record them when the response
//! arrives. Field names are the OpenInference (or OTel GenAI) attribute names, dots included.
//! Unsigned integers may reach OpenTelemetry as strings through `tracing-opentelemetry`; the
//! processor accepts digit strings, so they price all the same.
//!
//! ```sh
//! cargo run --example tracing_agent
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Context, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, Span, SpanData, SpanProcessor};
use opentelemetry_sdk::Resource;
use otel_llm_cost::CostSpanProcessor;
use tracing::field::Empty;
use tracing_subscriber::layer::SubscriberExt;

/// Prints every finished span with its cost attributes (stands in for your OTLP exporter).
#[derive(Debug, Default, Clone)]
struct PrintCosts(Arc<Mutex<()>>);

impl SpanProcessor for PrintCosts {
    fn on_start(&self, _: &mut Span, _: &Context) {}
    fn on_end(&self, span: SpanData) {
        let get = |k: &str| {
            span.attributes
                .iter()
                .rev()
                .find(|kv| kv.key.as_str() == k)
                .map(|kv| kv.value.clone())
        };
        let usd = |k: &str| match get(k) {
            Some(Value::F64(f)) => format!("${f:.6}"),
            _ => "-".to_owned(),
        };
        let prompt = match get("llm.token_count.prompt") {
            Some(Value::String(s)) => format!("a string \"{s}\""),
            Some(Value::I64(i)) => format!("an int {i}"),
            Some(v) => format!("{v}"),
            None => String::new(),
        };
        let _g = self.0.lock();
        println!(
            "{:<14} own {:>10}  subtree {:>10}  status {:<8} {}",
            span.name,
            usd("llm.cost.total"),
            usd("cost.total_usd"),
            get("cost.pricing.status")
                .map(|v| v.to_string())
                .unwrap_or_default(),
            if prompt.is_empty() {
                String::new()
            } else {
                format!("(llm.token_count.prompt arrived as {prompt})")
            }
        );
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// One LLM call as an instrumented client would record it.
fn chat(model: &str, prompt: u64, cached: u64, completion: u64) {
    let span = tracing::info_span!(
        "chat",
        "openinference.span.kind" = "LLM",
        "llm.model_name" = model,
        "llm.token_count.prompt" = Empty,
        "llm.token_count.prompt_details.cache_read" = Empty,
        "llm.token_count.completion" = Empty,
    );
    let _enter = span.enter();
    // ... the request happens here; then the usage from the response is recorded:
    span.record("llm.token_count.prompt", prompt);
    span.record("llm.token_count.prompt_details.cache_read", cached);
    span.record("llm.token_count.completion", completion);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let provider = SdkTracerProvider::builder()
        .with_span_processor(CostSpanProcessor::new(PrintCosts::default())?)
        .with_resource(
            Resource::builder()
                .with_service_name("tracing-agent")
                .build(),
        )
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("tracing_agent")));

    tracing::subscriber::with_default(subscriber, || {
        let run = tracing::info_span!("agent run", "gen_ai.operation.name" = "invoke_agent");
        let _run = run.enter();
        {
            let step = tracing::info_span!("research");
            let _s = step.enter();
            chat("gpt-4o-2024-08-06", 3_000, 2_048, 400);
            chat("gpt-4o-mini-2024-07-18", 12_000, 0, 800);
        }
        {
            let step = tracing::info_span!("answer");
            let _s = step.enter();
            chat("gpt-4o-2024-08-06", 1_500, 1_024, 300);
        }
    });
    provider.shutdown()?;
    Ok(())
}
