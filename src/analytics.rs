//! What happens when a trace (a local root in process, a whole trace in the gateway) is
//! finished: budgets, cost anomalies against a rolling per-workflow baseline, and observers
//! (cost metrics, cost records) that see every finished trace's exact totals.
//!
//! ```text
//! Engine::finish(root) -> budgets (limit per workflow / attribute) -> anomaly (cost / median of
//! the workflow's last N traces) -> root attributes + event -> observers (metrics, records)
//! ```

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use crate::engine::{TokenCounts, Totals};
use crate::money::Usd;
use crate::span_view::{AttrValue, SpanView};

/// Default number of recent traces per workflow in the anomaly baseline.
pub const DEFAULT_ANOMALY_WINDOW: usize = 50;
/// Default number of traces a workflow needs before it is judged.
pub const DEFAULT_ANOMALY_MIN_SAMPLES: usize = 10;
/// Default ratio to the baseline that flags a trace.
pub const DEFAULT_ANOMALY_THRESHOLD: f64 = 3.0;
/// Default bound on workflows tracked (further workflows share one `other` baseline).
pub const DEFAULT_MAX_WORKFLOWS: usize = 1_000;

/// A budget: traces of a workflow (root span name) and/or with an attribute value on the root,
/// whose total exceeds `limit`, are marked on their root and counted.
///
/// ```
/// use otel_llm_cost::{BudgetRule, Usd};
/// let rule = BudgetRule::new("support-bot", Usd::parse("0.50").unwrap())
///     .for_workflow("support-agent run")
///     .when_attribute("deployment.environment", "production");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetRule {
    /// Name, written to `cost.budget.name`.
    pub name: String,
    /// Root span name to match (`None`: any); a trailing `*` matches a prefix.
    pub workflow: Option<String>,
    /// Root attribute that must equal a value (`None`: any).
    pub attribute: Option<(String, String)>,
    /// Limit in USD.
    pub limit: Usd,
}

impl BudgetRule {
    /// A rule matching every trace.
    pub fn new(name: impl Into<String>, limit: Usd) -> BudgetRule {
        BudgetRule {
            name: name.into(),
            workflow: None,
            attribute: None,
            limit,
        }
    }

    /// Only traces whose root span has this name (`prefix*` for a prefix).
    pub fn for_workflow(mut self, root_span_name: impl Into<String>) -> BudgetRule {
        self.workflow = Some(root_span_name.into());
        self
    }

    /// Only traces whose root carries `key = value`.
    pub fn when_attribute(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> BudgetRule {
        self.attribute = Some((key.into(), value.into()));
        self
    }

    fn matches<V: SpanView + ?Sized>(&self, workflow: &str, root: &V) -> bool {
        let wf = match &self.workflow {
            None => true,
            Some(w) => match w.strip_suffix('*') {
                Some(prefix) => workflow.starts_with(prefix),
                None => workflow == w,
            },
        };
        wf && self
            .attribute
            .as_ref()
            .is_none_or(|(k, v)| match root.attr(k) {
                Some(AttrValue::Str(s)) => s == v,
                Some(AttrValue::I64(i)) => i.to_string() == *v,
                Some(AttrValue::Bool(b)) => b.to_string() == *v,
                _ => false,
            })
    }
}

/// Cost-anomaly detection: a trace is compared with the median cost of the last `window`
/// traces of its workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct AnomalyOptions {
    /// Traces kept per workflow.
    pub window: usize,
    /// Traces needed before a workflow is judged.
    pub min_samples: usize,
    /// Ratio to the median at or above which a trace is flagged.
    pub threshold: f64,
    /// Workflows tracked; the rest, and root span names longer than
    /// [`DEFAULT_MAX_LABEL_BYTES`], share one `other` baseline.
    pub max_workflows: usize,
}

impl Default for AnomalyOptions {
    fn default() -> Self {
        AnomalyOptions {
            window: DEFAULT_ANOMALY_WINDOW,
            min_samples: DEFAULT_ANOMALY_MIN_SAMPLES,
            threshold: DEFAULT_ANOMALY_THRESHOLD,
            max_workflows: DEFAULT_MAX_WORKFLOWS,
        }
    }
}

/// The verdicts on one finished trace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdicts {
    /// The first budget rule the trace matched, and whether it went over.
    pub budget: Option<(String, Usd, bool)>,
    /// Cost / baseline median, and the median, once the workflow has a baseline.
    pub anomaly: Option<(f64, Usd)>,
    /// `anomaly` at or above the threshold.
    pub anomalous: bool,
}

/// One finished trace, as observers see it.
#[derive(Debug)]
pub struct TraceSummary<'a> {
    /// Root span name.
    pub workflow: &'a str,
    /// `service.name` of the root, when known.
    pub service: Option<&'a str>,
    /// Exact totals of the whole trace (or local subtree in process).
    pub totals: &'a Totals,
    /// Whether the total may miss spans.
    pub complete: bool,
    /// Root span start, Unix nanoseconds.
    pub start_unix_nanos: u64,
    /// Budget and anomaly verdicts.
    pub verdicts: &'a Verdicts,
}

/// Sees every finished trace (cost metrics, cost records ...). Called synchronously from
/// `on_end` / the gateway's release path: keep it short and never block.
pub trait TraceObserver: Send + Sync + std::fmt::Debug {
    /// A trace finished.
    fn on_trace(&self, summary: &TraceSummary<'_>);
}

/// Budget rules, anomaly baselines and observers, held by the engine.
#[derive(Debug, Default)]
pub(crate) struct Analytics {
    pub budgets: Vec<BudgetRule>,
    pub anomaly: Option<AnomalyOptions>,
    baselines: Mutex<HashMap<String, VecDeque<u128>>>,
    pub observers: Vec<std::sync::Arc<dyn TraceObserver>>,
}

impl Analytics {
    pub(crate) fn new(
        budgets: Vec<BudgetRule>,
        anomaly: Option<AnomalyOptions>,
        observers: Vec<std::sync::Arc<dyn TraceObserver>>,
    ) -> Analytics {
        Analytics {
            budgets,
            anomaly,
            baselines: Mutex::new(HashMap::new()),
            observers,
        }
    }

    /// `true` when there is anything to do for a finished trace.
    pub(crate) fn active(&self) -> bool {
        !self.budgets.is_empty() || self.anomaly.is_some() || !self.observers.is_empty()
    }

    /// Judges a finished trace (its root, its totals).
    pub(crate) fn judge<V: SpanView + ?Sized>(
        &self,
        workflow: &str,
        root: &V,
        totals: &Totals,
    ) -> Verdicts {
        let mut v = Verdicts::default();
        if totals.calls == totals.unpriced {
            return v; // nothing priced: no cost to judge
        }
        if let Some(rule) = self.budgets.iter().find(|r| r.matches(workflow, root)) {
            v.budget = Some((rule.name.clone(), rule.limit, totals.cost > rule.limit));
        }
        if let Some(opts) = &self.anomaly {
            if let Ok(mut b) = self.baselines.lock() {
                let key = if b.contains_key(workflow)
                    || (b.len() < opts.max_workflows && workflow.len() <= DEFAULT_MAX_LABEL_BYTES)
                {
                    workflow
                } else {
                    "other"
                };
                let window = b.entry(key.to_owned()).or_default();
                if window.len() >= opts.min_samples.max(1) {
                    let mut sorted: Vec<u128> = window.iter().copied().collect();
                    sorted.sort_unstable();
                    let median = sorted[(sorted.len() - 1) / 2];
                    if median > 0 {
                        let ratio = totals.cost.femto() as f64 / median as f64;
                        v.anomaly = Some((ratio, Usd::from_femto(median)));
                        v.anomalous = ratio >= opts.threshold;
                    }
                }
                window.push_back(totals.cost.femto());
                while window.len() > opts.window.max(1) {
                    window.pop_front();
                }
            }
        }
        v
    }
}

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

/// Default longest label value, in bytes (longer values are `other`): 256. Real model ids,
/// provider names, `service.name`s and root span names are far shorter; a 1 MiB root span name
/// repeated over every series made one scrape 839 MB (issue 13, B6).
pub const DEFAULT_MAX_LABEL_BYTES: usize = 256;

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
        let Ok(mut seen) = self.seen.lock() else {
            return OVERFLOW_LABEL;
        };
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
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SeriesTotals {
    /// Cost in femto-dollars (exact).
    pub cost: Usd,
    /// Calls with a cost.
    pub calls: u64,
    /// Tokens by type.
    pub tokens: TokenCounts,
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
    /// With these label limits.
    pub fn new(limits: MetricLimits) -> CostAggregator {
        CostAggregator {
            limits,
            state: Mutex::default(),
        }
    }

    /// A copy of every series.
    pub fn series(&self) -> CostSeries {
        let Ok(st) = self.state.lock() else {
            return CostSeries::default();
        };
        let mut out = CostSeries {
            by_model: st.by_model.iter().map(|(k, v)| (k.clone(), *v)).collect(),
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
        let root_service = t.service.unwrap_or("unknown");
        let workflow = self.limits.workflows.label(t.workflow).to_owned();
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        for m in &t.totals.by_model {
            let service = m.service.as_deref().unwrap_or(root_service);
            let key = (
                self.limits.models.label(&m.model).to_owned(),
                self.limits.providers.label(&m.provider).to_owned(),
                self.limits.services.label(service).to_owned(),
                workflow.clone(),
            );
            let a = st.by_model.entry(key).or_default();
            a.cost += m.cost;
            a.calls = a.calls.saturating_add(u64::from(m.calls));
            a.tokens.add(&m.tokens);
        }
        let service = self.limits.services.label(root_service).to_owned();
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
