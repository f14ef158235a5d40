//! `tracing` + `tracing-opentelemetry` users: u64 token fields price, the tree rolls up.

#[path = "common/collect.rs"]
mod collect;
use collect::Collect;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::Value;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData};
use otel_llm_cost::CostSpanProcessor;
use tracing::field::Empty;
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn u64_fields_recorded_through_tracing_price_and_roll_up() {
    let collect = Collect::default();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(CostSpanProcessor::new(collect.clone()).unwrap())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("t")));
    tracing::subscriber::with_default(subscriber, || {
        let root = tracing::info_span!("run");
        let _r = root.enter();
        for _ in 0..2 {
            let span = tracing::info_span!(
                "chat",
                "llm.model_name" = "gpt-4o-2024-08-06",
                "llm.token_count.prompt" = Empty,
                "llm.token_count.completion" = Empty,
            );
            let _e = span.enter();
            span.record("llm.token_count.prompt", 1000u64);
            // A u64 above i64::MAX can only travel as a string; small ones may too.
            span.record("llm.token_count.completion", 500u64);
        }
    });
    let spans = collect.0.lock().unwrap().clone();
    let get = |s: &SpanData, k: &str| {
        s.attributes
            .iter()
            .rev()
            .find(|kv| kv.key.as_str() == k)
            .map(|kv| kv.value.clone())
    };
    let calls: Vec<&SpanData> = spans.iter().filter(|s| s.name == "chat").collect();
    assert_eq!(calls.len(), 2);
    for c in &calls {
        // 1000 x $2.50/M + 500 x $10/M = $0.0075
        assert_eq!(get(c, "cost.pricing.status"), Some(Value::from("priced")));
        match get(c, "llm.cost.total") {
            Some(Value::F64(f)) => assert!((f - 0.0075).abs() < 1e-12, "{f}"),
            other => panic!("llm.cost.total: {other:?}"),
        }
    }
    let root = spans.iter().find(|s| s.name == "run").unwrap();
    match get(root, "cost.total_usd") {
        Some(Value::F64(f)) => assert!((f - 0.015).abs() < 1e-12, "{f}"),
        other => panic!("cost.total_usd: {other:?}"),
    }
}
