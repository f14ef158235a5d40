//! Verdicts on a finished trace (a local root in process, a whole trace in the gateway):
//! budgets, and cost anomalies against a rolling per-workflow baseline; and the observers
//! (cost metrics, cost records) that then see the trace's exact totals.
//!
//! ```text
//! root Totals -> budgets (limit per workflow / attribute) -> anomaly (cost / median of the
//! workflow's last N traces) -> Verdicts (written on the root) -> TraceSummary -> observers
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use super::rollup::Totals;
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
/// Default longest label value, in bytes (longer values are `other`): 256. Real model ids,
/// provider names, `service.name`s and root span names are far shorter; a 1 MiB root span name
/// repeated over every series made one scrape 839 MB (issue 13, B6).
pub const DEFAULT_MAX_LABEL_BYTES: usize = 256;

/// A budget: traces of a workflow (root span name) and/or with an attribute value on the root,
/// whose total exceeds `limit`, are marked on their root and counted.
///
/// ```
/// use otel_llm_cost::{engine::BudgetRule, Usd};
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

/// Budget rules and anomaly baselines, held by the engine: judges finished traces.
#[derive(Debug, Default)]
pub(crate) struct Judge {
    budgets: Vec<BudgetRule>,
    anomaly: Option<AnomalyOptions>,
    baselines: Mutex<HashMap<String, VecDeque<u128>>>,
}

impl Judge {
    pub(crate) fn new(budgets: Vec<BudgetRule>, anomaly: Option<AnomalyOptions>) -> Judge {
        Judge {
            budgets,
            anomaly,
            baselines: Mutex::new(HashMap::new()),
        }
    }

    /// `true` when there is a rule or a baseline to judge a finished trace by.
    pub(crate) fn active(&self) -> bool {
        !self.budgets.is_empty() || self.anomaly.is_some()
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
            // A poisoned lock is taken as it is: nothing under it can panic (one sorted copy,
            // a median at an index below the length, a push and pops), so no window is left
            // half-updated.
            {
                let mut b = self
                    .baselines
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
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
