//! Cost as OpenTelemetry metrics: exact cumulative sums kept by us, reported through observable
//! counters (converted to `f64` only at collection).
//!
//! | instrument | unit | attributes |
//! |---|---|---|
//! | `llm.cost` | `USD` | `model`, `provider`, `service.name`, `workflow` |
//! | `llm.cost.by_kind` | `USD` | the same + `kind` (the charge kinds of [`CostByKind::KINDS`](crate::engine::CostByKind::KINDS): `input`, `cache_read`, `cache_write`, `audio_input`, `output`, `reasoning`, `audio_output`, `media_input`, `media_output`, `tool_calls`, `per_unit`, `provided`; only those charged) |
//! | `llm.token.usage` | `{token}` | the same + `token.type` (`input`, `output`, `cache_read`, `cache_write`, `reasoning`) |
//! | `llm.calls` | `{call}` | the same (priced and provided calls) |
//! | `llm.calls.unpriced` | `{call}` | `service.name`, `workflow`, `reason` (`unknown_model`, `invalid_usage`) |
//! | `llm.traces` | `{trace}` | `service.name`, `workflow`, `outcome` (`ok`, `over_budget`, `anomaly`) |
//!
//! `llm.token.usage` and `llm.calls` count calls that have a cost (priced or provided); calls
//! that could not be priced are counted in `llm.calls.unpriced` by reason.
//!
//! `llm.cost.by_kind` splits `llm.cost` by charge kind (the kinds of a series sum to its
//! `llm.cost`): token parts, charges beyond tokens, and costs the spans carried (`provided`).
//!
//! Cardinality is bounded: models, workflows and services each go through a
//! [`CardinalityLimit`](crate::analytics::CardinalityLimit) (an allow-list or a first-come cap); the rest are `other`.
//! The charge kinds are a fixed set of 12.

use std::sync::Arc;

use opentelemetry::metrics::{Meter, ObservableCounter};
use opentelemetry::KeyValue;

use crate::analytics::{CostAggregator, MetricLimits, ModelLabels};
use crate::engine::{TraceObserver, TraceSummary};

/// A [`TraceObserver`] that turns every finished trace into cost metrics on a `Meter`.
#[derive(Debug)]
pub struct CostMetrics {
    agg: Arc<CostAggregator>,
    _instruments: Instruments,
}

/// Kept alive for as long as the callbacks should run.
#[derive(Debug)]
struct Instruments {
    _cost: [ObservableCounter<f64>; 2],
    _counts: [ObservableCounter<u64>; 4],
}

fn model_attrs(k: &ModelLabels) -> Vec<KeyValue> {
    vec![
        KeyValue::new("model", k.0.clone()),
        KeyValue::new("provider", k.1.clone()),
        KeyValue::new("service.name", k.2.clone()),
        KeyValue::new("workflow", k.3.clone()),
    ]
}

fn keyed(service: &str, workflow: &str, name: &'static str, value: &'static str) -> [KeyValue; 3] {
    [
        KeyValue::new("service.name", service.to_owned()),
        KeyValue::new("workflow", workflow.to_owned()),
        KeyValue::new(name, value),
    ]
}

impl CostMetrics {
    /// Registers the instruments on `meter`.
    pub fn new(meter: &Meter, limits: MetricLimits) -> CostMetrics {
        let agg = Arc::new(CostAggregator::new(limits));
        let a = agg.clone();
        let cost = meter
            .f64_observable_counter("llm.cost")
            .with_unit("USD")
            .with_description("Cost of LLM calls (exact sums, converted at collection)")
            .with_callback(move |o| {
                for (k, t) in a.series().by_model {
                    o.observe(t.cost.as_f64(), &model_attrs(&k));
                }
            })
            .build();
        let a = agg.clone();
        let by_kind = meter
            .f64_observable_counter("llm.cost.by_kind")
            .with_unit("USD")
            .with_description(
                "Cost of LLM calls by charge kind (exact sums, converted at collection)",
            )
            .with_callback(move |o| {
                for (k, t) in a.series().by_model {
                    for (kind, usd) in t.kinds.iter().filter(|(_, u)| !u.is_zero()) {
                        let mut attrs = model_attrs(&k);
                        attrs.push(KeyValue::new("kind", kind));
                        o.observe(usd.as_f64(), &attrs);
                    }
                }
            })
            .build();
        let a = agg.clone();
        let tokens = meter
            .u64_observable_counter("llm.token.usage")
            .with_unit("{token}")
            .with_description("Tokens of LLM calls with a cost, by type")
            .with_callback(move |o| {
                for (k, t) in a.series().by_model {
                    let t = t.tokens;
                    for (ty, v) in [
                        ("input", t.input),
                        ("output", t.output),
                        ("cache_read", t.cache_read),
                        ("cache_write", t.cache_write),
                        ("reasoning", t.reasoning),
                    ] {
                        let mut attrs = model_attrs(&k);
                        attrs.push(KeyValue::new("token.type", ty));
                        o.observe(v, &attrs);
                    }
                }
            })
            .build();
        let a = agg.clone();
        let calls = meter
            .u64_observable_counter("llm.calls")
            .with_unit("{call}")
            .with_description("LLM calls with a cost (priced or provided)")
            .with_callback(move |o| {
                for (k, t) in a.series().by_model {
                    o.observe(t.calls, &model_attrs(&k));
                }
            })
            .build();
        let a = agg.clone();
        let unpriced = meter
            .u64_observable_counter("llm.calls.unpriced")
            .with_unit("{call}")
            .with_description("LLM calls that could not be priced, by reason")
            .with_callback(move |o| {
                for ((service, workflow, reason), n) in a.series().unpriced {
                    o.observe(n, &keyed(&service, &workflow, "reason", reason));
                }
            })
            .build();
        let a = agg.clone();
        let traces = meter
            .u64_observable_counter("llm.traces")
            .with_unit("{trace}")
            .with_description("Finished traces with LLM calls, by outcome")
            .with_callback(move |o| {
                for ((service, workflow, outcome), n) in a.series().traces {
                    o.observe(n, &keyed(&service, &workflow, "outcome", outcome));
                }
            })
            .build();
        CostMetrics {
            agg,
            _instruments: Instruments {
                _cost: [cost, by_kind],
                _counts: [tokens, calls, unpriced, traces],
            },
        }
    }
}

impl TraceObserver for CostMetrics {
    fn on_trace(&self, t: &TraceSummary<'_>) {
        self.agg.on_trace(t);
    }
}
