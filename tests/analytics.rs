//! Budgets, cost anomalies and cost metrics from the in-process processor.

#[path = "common/collect.rs"]
mod collect;
use collect::Collect;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData};
use opentelemetry_sdk::Resource;
use otel_llm_cost::{
    engine::AnomalyOptions, engine::BudgetRule, CostSpanProcessor, CostSpanProcessorBuilder, Usd,
};

fn provider(
    collect: &Collect,
    f: impl FnOnce(CostSpanProcessorBuilder<Collect>) -> CostSpanProcessorBuilder<Collect>,
) -> SdkTracerProvider {
    let p = f(CostSpanProcessor::builder(collect.clone()))
        .build()
        .unwrap();
    SdkTracerProvider::builder()
        .with_span_processor(p)
        .with_resource(Resource::builder().with_service_name("billing-svc").build())
        .build()
}

/// One trace: root `workflow` with `n` gpt-4o-mini calls of 10,000 in / 1,000 out each.
/// gpt-4o-mini-2024-07-18 ($0.15 / $0.60 per 1M): 0.0015 + 0.0006 = $0.0021 per call.
fn run(p: &SdkTracerProvider, workflow: &str, n: usize, attrs: Vec<KeyValue>) {
    let tracer = p.tracer("t");
    let root = Context::new().with_span(
        tracer
            .span_builder(workflow.to_owned())
            .with_attributes(attrs)
            .start(&tracer),
    );
    for _ in 0..n {
        tracer
            .span_builder("chat")
            .with_attributes(vec![
                KeyValue::new("gen_ai.provider.name", "openai"),
                KeyValue::new("gen_ai.response.model", "gpt-4o-mini-2024-07-18"),
                KeyValue::new("gen_ai.usage.input_tokens", 10_000),
                KeyValue::new("gen_ai.usage.output_tokens", 1_000),
            ])
            .start_with_context(&tracer, &root);
    }
    root.span().end();
}

fn roots(c: &Collect, name: &str) -> Vec<SpanData> {
    c.0.lock()
        .unwrap()
        .iter()
        .filter(|s| s.name == name)
        .cloned()
        .collect()
}

fn get(s: &SpanData, k: &str) -> Option<Value> {
    s.attributes
        .iter()
        .rev()
        .find(|kv| kv.key.as_str() == k)
        .map(|kv| kv.value.clone())
}

#[test]
fn budget_flags_exactly_the_traces_over_it() {
    let c = Collect::default();
    // Limit $0.005: 2 calls ($0.0042) stay under, 3 calls ($0.0063) go over.
    let p = provider(&c, |b| {
        b.with_budget(
            BudgetRule::new("support", Usd::parse("0.005").unwrap()).for_workflow("support*"),
        )
    });
    run(&p, "support run", 2, vec![]);
    run(&p, "support run", 3, vec![]);
    run(&p, "batch job", 5, vec![]); // no rule matches
    let r = roots(&c, "support run");
    assert_eq!(get(&r[0], "cost.budget.exceeded"), Some(Value::Bool(false)));
    assert_eq!(get(&r[1], "cost.budget.exceeded"), Some(Value::Bool(true)));
    assert_eq!(get(&r[1], "cost.budget.name"), Some(Value::from("support")));
    match get(&r[1], "cost.budget.limit_usd") {
        Some(Value::F64(f)) => assert!((f - 0.005).abs() < 1e-15),
        other => panic!("{other:?}"),
    }
    assert!(
        r[1].events.iter().any(|e| e.name == "cost.budget.exceeded"),
        "event on the root"
    );
    assert!(r[0].events.is_empty());
    assert_eq!(
        get(&roots(&c, "batch job")[0], "cost.budget.exceeded"),
        None
    );
}

#[test]
fn budget_can_match_a_root_attribute() {
    let c = Collect::default();
    let p = provider(&c, |b| {
        b.with_budget(
            BudgetRule::new("prod", Usd::parse("0.001").unwrap()).when_attribute("env", "prod"),
        )
    });
    run(&p, "a", 1, vec![KeyValue::new("env", "prod")]);
    run(&p, "b", 1, vec![KeyValue::new("env", "dev")]);
    assert_eq!(
        get(&roots(&c, "a")[0], "cost.budget.exceeded"),
        Some(Value::Bool(true))
    );
    assert_eq!(get(&roots(&c, "b")[0], "cost.budget.exceeded"), None);
}

#[test]
fn anomaly_flags_the_trace_whose_cost_jumps() {
    let c = Collect::default();
    let p = provider(&c, |b| {
        b.with_anomaly_detection(AnomalyOptions {
            min_samples: 5,
            ..AnomalyOptions::default()
        })
    });
    for _ in 0..5 {
        run(&p, "agent", 1, vec![]); // $0.0021 each: the baseline
    }
    run(&p, "agent", 2, vec![]); // 2x: measured, not flagged (threshold 3)
    run(&p, "agent", 10, vec![]); // 10x: flagged
    let r = roots(&c, "agent");
    assert_eq!(get(&r[0], "cost.anomaly.ratio"), None, "no baseline yet");
    assert_eq!(
        get(&r[5], "cost.anomaly.detected"),
        Some(Value::Bool(false))
    );
    match get(&r[5], "cost.anomaly.ratio") {
        Some(Value::F64(f)) => assert!((f - 2.0).abs() < 1e-9, "{f}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(get(&r[6], "cost.anomaly.detected"), Some(Value::Bool(true)));
    match get(&r[6], "cost.anomaly.ratio") {
        Some(Value::F64(f)) => assert!((f - 10.0).abs() < 1e-9, "{f}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn cost_metrics_equal_the_sum_of_priced_calls() {
    let exporter = InMemoryMetricExporter::default();
    let meters = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let c = Collect::default();
    let p = provider(&c, |b| {
        b.with_meter(&meters.meter("otel-llm-cost"))
            .with_budget(BudgetRule::new("cap", Usd::parse("0.005").unwrap()))
    });
    run(&p, "wf-a", 2, vec![]); // 2 x $0.0021
    run(&p, "wf-a", 3, vec![]); // 3 x $0.0021, over the cap
    run(&p, "wf-b", 1, vec![]);
    // An unknown model, counted by reason.
    let tracer = p.tracer("t");
    let root = Context::new().with_span(tracer.start("wf-b"));
    tracer
        .span_builder("chat")
        .with_attributes(vec![
            KeyValue::new("gen_ai.response.model", "acme-x"),
            KeyValue::new("gen_ai.usage.input_tokens", 5),
            KeyValue::new("gen_ai.usage.output_tokens", 5),
        ])
        .start_with_context(&tracer, &root);
    run(&p, "wf-b", 1, vec![]); // keeps the unknown-model root from being the last trace
    drop(root);
    meters.force_flush().unwrap();
    let metrics = exporter.get_finished_metrics().unwrap();
    let mut cost_by_wf = std::collections::HashMap::new();
    let mut input_tokens = 0u64;
    let mut unpriced = 0u64;
    let mut over_budget = 0u64;
    for rm in &metrics {
        for sm in rm.scope_metrics() {
            for m in sm.metrics() {
                match (m.name(), m.data()) {
                    ("llm.cost", AggregatedMetrics::F64(MetricData::Sum(s))) => {
                        for dp in s.data_points() {
                            let wf = dp
                                .attributes()
                                .find(|kv| kv.key.as_str() == "workflow")
                                .unwrap()
                                .value
                                .to_string();
                            let svc = dp
                                .attributes()
                                .find(|kv| kv.key.as_str() == "service.name")
                                .unwrap()
                                .value
                                .to_string();
                            assert_eq!(svc, "billing-svc");
                            *cost_by_wf.entry(wf).or_insert(0.0) += dp.value();
                        }
                    }
                    ("llm.token.usage", AggregatedMetrics::U64(MetricData::Sum(s))) => {
                        for dp in s.data_points() {
                            if dp.attributes().any(|kv| {
                                kv.key.as_str() == "token.type" && kv.value.as_str() == "input"
                            }) {
                                input_tokens += dp.value();
                            }
                        }
                    }
                    ("llm.calls.unpriced", AggregatedMetrics::U64(MetricData::Sum(s))) => {
                        unpriced += s.data_points().map(|d| d.value()).sum::<u64>();
                    }
                    ("llm.traces", AggregatedMetrics::U64(MetricData::Sum(s))) => {
                        for dp in s.data_points() {
                            if dp.attributes().any(|kv| {
                                kv.key.as_str() == "outcome" && kv.value.as_str() == "over_budget"
                            }) {
                                over_budget += dp.value();
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    // wf-a: 5 calls x $0.0021 = $0.0105; wf-b: 2 calls = $0.0042.
    assert!(
        (cost_by_wf["wf-a"] - 0.0105).abs() < 1e-12,
        "{cost_by_wf:?}"
    );
    assert!(
        (cost_by_wf["wf-b"] - 0.0042).abs() < 1e-12,
        "{cost_by_wf:?}"
    );
    // Tokens by model cover calls with a cost; the unpriced call is counted by reason instead.
    assert_eq!(input_tokens, 7 * 10_000);
    assert_eq!(unpriced, 1);
    // Only the 3-call wf-a trace ($0.0063) is over the $0.005 cap.
    assert_eq!(over_budget, 1);
}
