//! Cost series for metrics: exact cumulative cost (also by charge kind), calls and tokens by
//! model, provider, service and workflow, fed by every finished trace (a [`TraceObserver`]),
//! with every label that comes from span data bounded in count and length
//! ([`CardinalityLimit`]); the charge kinds are a fixed set ([`CostByKind::KINDS`]). Read by
//! the processor's OTel metrics (`crate::metrics`) and the gateway's `/metrics`.
//!
//! ```text
//! Engine (root finished) -> TraceSummary -> CostAggregator::on_trace -> labels bounded ->
//! series (by model, unpriced by reason, traces by outcome) -> metrics callbacks, /metrics
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use crate::engine::{CostByKind, TokenCounts};
use crate::money::Usd;
// The verdict side of what was `analytics` lives in `engine::verdicts` now; its names stay
// reachable here for code written against the old paths until the public API is trimmed.
#[allow(unused_imports)]
pub(crate) use crate::engine::{
    AnomalyOptions, BudgetRule, TraceObserver, TraceSummary, Verdicts, DEFAULT_ANOMALY_MIN_SAMPLES,
    DEFAULT_ANOMALY_THRESHOLD, DEFAULT_ANOMALY_WINDOW, DEFAULT_MAX_LABEL_BYTES,
    DEFAULT_MAX_WORKFLOWS,
};

/// Bounds the label values of metrics: an optional allow-list, then at most `max` distinct
/// values of at most `max_len` bytes each; everything else becomes `other`.
#[derive(Debug)]
pub struct CardinalityLimit {
    allow: Option<HashSet<String>>,
    max: usize,
    max_len: usize,
    seen: Mutex<HashSet<String>>,
}

/// The value that stands for everything beyond a cardinality limit.
pub const OVERFLOW_LABEL: &str = "other";

impl CardinalityLimit {
    /// At most `max` distinct values, first come first served, each of at most
    /// [`DEFAULT_MAX_LABEL_BYTES`].
    pub fn new(max: usize) -> CardinalityLimit {
        CardinalityLimit {
            allow: None,
            max,
            max_len: DEFAULT_MAX_LABEL_BYTES,
            seen: Mutex::new(HashSet::new()),
        }
    }

    /// Only these values (others are `other`), whatever their length.
    pub fn allow_only(values: impl IntoIterator<Item = impl Into<String>>) -> CardinalityLimit {
        let allow: HashSet<String> = values.into_iter().map(Into::into).collect();
        CardinalityLimit {
            max: allow.len(),
            max_len: usize::MAX,
            allow: Some(allow),
            seen: Mutex::new(HashSet::new()),
        }
    }

    /// Values longer than `bytes` are `other` (first-come limits; an allow-list is taken as
    /// given).
    pub fn with_max_len(mut self, bytes: usize) -> CardinalityLimit {
        if self.allow.is_none() {
            self.max_len = bytes;
        }
        self
    }

    /// The label to use for `value`.
    pub fn label<'a>(&self, value: &'a str) -> &'a str {
        if let Some(a) = &self.allow {
            return if a.contains(value) {
                value
            } else {
                OVERFLOW_LABEL
            };
        }
        if value.len() > self.max_len {
            return OVERFLOW_LABEL;
        }
        // A poisoned set is taken as it is: a lookup or one insert cannot leave it half-updated.
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.contains(value) {
            return value;
        }
        if seen.len() < self.max {
            seen.insert(value.to_owned());
            return value;
        }
        OVERFLOW_LABEL
    }
}

/// Labels of a cost series: model, provider, service, workflow.
pub type ModelLabels = (String, String, String, String);

/// Exact cumulative cost and tokens of one series.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeriesTotals {
    /// Cost in femto-dollars (exact).
    pub cost: Usd,
    /// Calls with a cost.
    pub calls: u64,
    /// Tokens by type.
    pub tokens: TokenCounts,
    /// Cost by charge kind (sums to `cost`).
    pub kinds: CostByKind,
}

/// Every series at one instant.
#[derive(Debug, Default, Clone)]
pub struct CostSeries {
    /// Cost and tokens by (model, provider, service, workflow).
    pub by_model: Vec<(ModelLabels, SeriesTotals)>,
    /// Unpriced calls by (service, workflow, reason).
    pub unpriced: Vec<((String, String, &'static str), u64)>,
    /// Finished traces by (service, workflow, outcome: `ok`, `over_budget`, `anomaly`).
    pub traces: Vec<((String, String, &'static str), u64)>,
}

#[derive(Debug, Default)]
struct AggState {
    by_model: HashMap<ModelLabels, SeriesTotals>,
    unpriced: HashMap<(String, String, &'static str), u64>,
    traces: HashMap<(String, String, &'static str), u64>,
}

/// Label limits for cost series: every label that comes from span data is bounded in count
/// and length.
#[derive(Debug)]
pub struct MetricLimits {
    /// Model labels.
    pub models: CardinalityLimit,
    /// Provider labels (a span's own provider when its cost was provided).
    pub providers: CardinalityLimit,
    /// Workflow (root span name) labels.
    pub workflows: CardinalityLimit,
    /// `service.name` labels.
    pub services: CardinalityLimit,
}

/// Default cap on distinct model labels.
pub const DEFAULT_MAX_MODELS: usize = 200;
/// Default cap on distinct provider labels.
pub const DEFAULT_MAX_PROVIDERS: usize = 50;
/// Default cap on distinct workflow labels.
pub const DEFAULT_MAX_WORKFLOW_LABELS: usize = 100;
/// Default cap on distinct service labels.
pub const DEFAULT_MAX_SERVICES: usize = 100;

impl Default for MetricLimits {
    fn default() -> Self {
        MetricLimits {
            models: CardinalityLimit::new(DEFAULT_MAX_MODELS),
            providers: CardinalityLimit::new(DEFAULT_MAX_PROVIDERS),
            workflows: CardinalityLimit::new(DEFAULT_MAX_WORKFLOW_LABELS),
            services: CardinalityLimit::new(DEFAULT_MAX_SERVICES),
        }
    }
}

/// Exact cumulative cost series (by model, provider, service, workflow), fed by finished traces;
/// read by the OTel metrics callbacks and by the gateway's `/metrics`. Label cardinality is
/// bounded by [`MetricLimits`].
#[derive(Debug, Default)]
pub struct CostAggregator {
    limits: MetricLimits,
    state: Mutex<AggState>,
}

impl CostAggregator {
    /// The series, locked. A poisoned lock (a panic elsewhere while it was held) is taken as it
    /// is: nothing done under it can panic (labels are chosen before it is taken; then only
    /// map inserts and saturating additions), so no trace can have been half-counted.
    fn state(&self) -> std::sync::MutexGuard<'_, AggState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// With these label limits.
    pub fn new(limits: MetricLimits) -> CostAggregator {
        CostAggregator {
            limits,
            state: Mutex::default(),
        }
    }

    /// A copy of every series.
    pub fn series(&self) -> CostSeries {
        let st = self.state();
        let mut out = CostSeries {
            by_model: st
                .by_model
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            unpriced: st.unpriced.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            traces: st.traces.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        };
        out.by_model.sort_by(|a, b| a.0.cmp(&b.0));
        out.unpriced.sort();
        out.traces.sort();
        out
    }
}

impl TraceObserver for CostAggregator {
    fn on_trace(&self, t: &TraceSummary<'_>) {
        // Every label first, outside the lock: under it, only additions that cannot panic.
        let root_service = t.service.unwrap_or("unknown");
        let workflow = self.limits.workflows.label(t.workflow).to_owned();
        let by_model: Vec<(ModelLabels, &crate::engine::ModelShare)> = t
            .totals
            .by_model
            .iter()
            .map(|m| {
                let service = m.service.as_deref().unwrap_or(root_service);
                let key = (
                    self.limits.models.label(&m.model).to_owned(),
                    self.limits.providers.label(&m.provider).to_owned(),
                    self.limits.services.label(service).to_owned(),
                    workflow.clone(),
                );
                (key, m)
            })
            .collect();
        let service = self.limits.services.label(root_service).to_owned();
        let outcome = if t.verdicts.budget.as_ref().is_some_and(|b| b.2) {
            "over_budget"
        } else if t.verdicts.anomalous {
            "anomaly"
        } else {
            "ok"
        };
        let mut st = self.state();
        for (key, m) in by_model {
            let a = st.by_model.entry(key).or_default();
            a.cost += m.cost;
            a.calls = a.calls.saturating_add(u64::from(m.calls));
            a.tokens.add(&m.tokens);
            a.kinds.add(&m.kinds);
        }
        for (reason, n) in [
            ("unknown_model", t.totals.unknown_model),
            ("invalid_usage", t.totals.invalid_usage),
        ] {
            if n > 0 {
                let c = st
                    .unpriced
                    .entry((service.clone(), workflow.clone(), reason))
                    .or_default();
                *c = c.saturating_add(u64::from(n));
            }
        }
        let c = st.traces.entry((service, workflow, outcome)).or_default();
        *c = c.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cardinality_limit_overflows_to_other() {
        let l = CardinalityLimit::new(2);
        assert_eq!(l.label("a"), "a");
        assert_eq!(l.label("b"), "b");
        assert_eq!(l.label("c"), OVERFLOW_LABEL);
        assert_eq!(l.label("a"), "a");
        let l = CardinalityLimit::allow_only(["gpt-4o"]);
        assert_eq!(l.label("gpt-4o"), "gpt-4o");
        assert_eq!(l.label("x"), OVERFLOW_LABEL);
    }

    #[test]
    fn over_long_values_are_other_and_take_no_slot() {
        let l = CardinalityLimit::new(2).with_max_len(4);
        assert_eq!(l.label("abcde"), OVERFLOW_LABEL);
        assert_eq!(l.label("abcd"), "abcd");
        assert_eq!(l.label("x"), "x");
        assert_eq!(l.label("y"), OVERFLOW_LABEL);
        let l = CardinalityLimit::new(10);
        let long = "w".repeat(DEFAULT_MAX_LABEL_BYTES + 1);
        assert_eq!(l.label(&long), OVERFLOW_LABEL);
        assert_eq!(l.label(&long[1..]), &long[1..]);
        // An allow-list is taken as given.
        let l = CardinalityLimit::allow_only([long.clone()]).with_max_len(4);
        assert_eq!(l.label(&long), long);
    }
}
