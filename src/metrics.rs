//! Cost as OpenTelemetry metrics: exact cumulative sums kept by us, reported through observable
//! counters (converted to `f64` only at collection).
//!
//! | instrument | unit | attributes |
//! |---|---|---|
//! | `llm.cost` | `USD` | `model`, `provider`, `service.name`, `workflow` |
//! | `llm.token.usage` | `{token}` | the same + `token.type` (`input`, `output`, `cache_read`, `cache_write`, `reasoning`) |
//! | `llm.calls` | `{call}` | the same (priced and provided calls) |
//! | `llm.calls.unpriced` | `{call}` | `service.name`, `workflow`, `reason` (`unknown_model`, `invalid_usage`) |
//! | `llm.traces` | `{trace}` | `service.name`, `workflow`, `outcome` (`ok`, `over_budget`, `anomaly`) |
//!
//! `llm.token.usage` and `llm.calls` count calls that have a cost (priced or provided); calls
//! that could not be priced are counted in `llm.calls.unpriced` by reason.
//!
//! Cardinality is bounded: models, workflows and services each go through a
//! [`CardinalityLimit`] (an allow-list or a first-come cap); the rest are `other`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use opentelemetry::metrics::{Meter, ObservableCounter};
use opentelemetry::KeyValue;

use crate::analytics::{CardinalityLimit, TraceObserver, TraceSummary};
use crate::engine::TokenCounts;

/// Default cap on distinct model labels.
pub const DEFAULT_MAX_MODELS: usize = 200;
/// Default cap on distinct workflow labels.
pub const DEFAULT_MAX_WORKFLOW_LABELS: usize = 100;
/// Default cap on distinct service labels.
pub const DEFAULT_MAX_SERVICES: usize = 100;

type ModelKey = (String, String, String, String); // model, provider, service, workflow
type TraceKey = (String, String, &'static str); // service, workflow, outcome
type UnpricedKey = (String, String, &'static str); // service, workflow, reason

#[derive(Debug, Default, Clone, Copy)]
struct Acc {
    femto: u128,
    calls: u64,
    tokens: TokenCounts,
}

#[derive(Debug, Default)]
struct State {
    by_model: HashMap<ModelKey, Acc>,
    traces: HashMap<TraceKey, u64>,
    unpriced: HashMap<UnpricedKey, u64>,
}

/// Label limits for [`CostMetrics`].
#[derive(Debug)]
pub struct MetricLimits {
    /// Model labels.
    pub models: CardinalityLimit,
    /// Workflow (root span name) labels.
    pub workflows: CardinalityLimit,
    /// `service.name` labels.
    pub services: CardinalityLimit,
}

impl Default for MetricLimits {
    fn default() -> Self {
        MetricLimits {
            models: CardinalityLimit::new(DEFAULT_MAX_MODELS),
            workflows: CardinalityLimit::new(DEFAULT_MAX_WORKFLOW_LABELS),
            services: CardinalityLimit::new(DEFAULT_MAX_SERVICES),
        }
    }
}

/// A [`TraceObserver`] that turns every finished trace into cost metrics on a `Meter`.
#[derive(Debug)]
pub struct CostMetrics {
    state: Arc<Mutex<State>>,
    limits: MetricLimits,
    _instruments: Instruments,
}

/// Kept alive for as long as the callbacks should run.
#[derive(Debug)]
struct Instruments {
    _cost: ObservableCounter<f64>,
    _counts: [ObservableCounter<u64>; 4],
}

fn model_attrs(k: &ModelKey) -> Vec<KeyValue> {
    vec![
        KeyValue::new("model", k.0.clone()),
        KeyValue::new("provider", k.1.clone()),
        KeyValue::new("service.name", k.2.clone()),
        KeyValue::new("workflow", k.3.clone()),
    ]
}

impl CostMetrics {
    /// Registers the instruments on `meter`.
    pub fn new(meter: &Meter, limits: MetricLimits) -> CostMetrics {
        let state: Arc<Mutex<State>> = Arc::default();
        let s = state.clone();
        let cost = meter
            .f64_observable_counter("llm.cost")
            .with_unit("USD")
            .with_description("Cost of LLM calls (exact sums, converted at collection)")
            .with_callback(move |o| {
                if let Ok(st) = s.lock() {
                    for (k, a) in &st.by_model {
                        o.observe(a.femto as f64 / 1e15, &model_attrs(k));
                    }
                }
            })
            .build();
        let s = state.clone();
        let tokens = meter
            .u64_observable_counter("llm.token.usage")
            .with_unit("{token}")
            .with_description("Tokens of LLM calls by type")
            .with_callback(move |o| {
                if let Ok(st) = s.lock() {
                    for (k, a) in &st.by_model {
                        let t = a.tokens;
                        for (ty, v) in [
                            ("input", t.input),
                            ("output", t.output),
                            ("cache_read", t.cache_read),
                            ("cache_write", t.cache_write),
                            ("reasoning", t.reasoning),
                        ] {
                            let mut attrs = model_attrs(k);
                            attrs.push(KeyValue::new("token.type", ty));
                            o.observe(v, &attrs);
                        }
                    }
                }
            })
            .build();
        let s = state.clone();
        let calls = meter
            .u64_observable_counter("llm.calls")
            .with_unit("{call}")
            .with_description("LLM calls with a cost (priced or provided)")
            .with_callback(move |o| {
                if let Ok(st) = s.lock() {
                    for (k, a) in &st.by_model {
                        o.observe(a.calls, &model_attrs(k));
                    }
                }
            })
            .build();
        let s = state.clone();
        let unpriced = meter
            .u64_observable_counter("llm.calls.unpriced")
            .with_unit("{call}")
            .with_description("LLM calls that could not be priced, by reason")
            .with_callback(move |o| {
                if let Ok(st) = s.lock() {
                    for ((service, workflow, reason), n) in &st.unpriced {
                        o.observe(
                            *n,
                            &[
                                KeyValue::new("service.name", service.clone()),
                                KeyValue::new("workflow", workflow.clone()),
                                KeyValue::new("reason", *reason),
                            ],
                        );
                    }
                }
            })
            .build();
        let s = state.clone();
        let traces = meter
            .u64_observable_counter("llm.traces")
            .with_unit("{trace}")
            .with_description("Finished traces with LLM calls, by outcome")
            .with_callback(move |o| {
                if let Ok(st) = s.lock() {
                    for ((service, workflow, outcome), n) in &st.traces {
                        o.observe(
                            *n,
                            &[
                                KeyValue::new("service.name", service.clone()),
                                KeyValue::new("workflow", workflow.clone()),
                                KeyValue::new("outcome", *outcome),
                            ],
                        );
                    }
                }
            })
            .build();
        CostMetrics {
            state,
            limits,
            _instruments: Instruments {
                _cost: cost,
                _counts: [tokens, calls, unpriced, traces],
            },
        }
    }
}

impl TraceObserver for CostMetrics {
    fn on_trace(&self, t: &TraceSummary<'_>) {
        let service = self
            .limits
            .services
            .label(t.service.unwrap_or("unknown"))
            .to_owned();
        let workflow = self.limits.workflows.label(t.workflow).to_owned();
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        for m in &t.totals.by_model {
            let key = (
                self.limits.models.label(&m.model).to_owned(),
                m.provider.to_string(),
                service.clone(),
                workflow.clone(),
            );
            let a = st.by_model.entry(key).or_default();
            a.femto = a.femto.saturating_add(m.cost.femto());
            a.calls = a.calls.saturating_add(u64::from(m.calls));
            a.tokens.input = a.tokens.input.saturating_add(m.tokens.input);
            a.tokens.output = a.tokens.output.saturating_add(m.tokens.output);
            a.tokens.cache_read = a.tokens.cache_read.saturating_add(m.tokens.cache_read);
            a.tokens.cache_write = a.tokens.cache_write.saturating_add(m.tokens.cache_write);
            a.tokens.reasoning = a.tokens.reasoning.saturating_add(m.tokens.reasoning);
        }
        for (reason, n) in [
            ("unknown_model", t.totals.unknown_model),
            ("invalid_usage", t.totals.invalid_usage),
        ] {
            if n > 0 {
                *st.unpriced
                    .entry((service.clone(), workflow.clone(), reason))
                    .or_default() += u64::from(n);
            }
        }
        let outcome = if t.verdicts.budget.as_ref().is_some_and(|b| b.2) {
            "over_budget"
        } else if t.verdicts.anomalous {
            "anomaly"
        } else {
            "ok"
        };
        *st.traces.entry((service, workflow, outcome)).or_default() += 1;
    }
}
