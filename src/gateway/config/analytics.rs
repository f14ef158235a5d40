//! `analytics:` — budgets, cost anomalies, cost-metric label limits, JSONL cost records.

use std::path::PathBuf;

use serde::Deserialize;

use super::values::BaseDir;

/// `analytics:` — what is judged and counted when a trace is released.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyticsConfig {
    /// Budget rules; the first rule matching a trace applies. Default: none.
    pub budgets: Vec<BudgetConfig>,
    /// Cost-anomaly detection. Default: disabled.
    pub anomaly: AnomalyConfig,
    /// Label limits of the cost metrics on `/metrics`.
    pub metrics: CostMetricsConfig,
    /// JSONL cost records (one line per priced call and per released trace). Default: off.
    pub records: RecordsConfig,
}

/// One budget rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetConfig {
    /// Name written to `cost.budget.name`. Required.
    pub name: String,
    /// Root span name to match; `prefix*` matches a prefix. Default: any.
    pub workflow: Option<String>,
    /// Root attribute that must equal a value. Default: none.
    pub attribute: Option<BudgetAttribute>,
    /// Limit in USD, as a decimal string (`"0.50"`). Required.
    pub limit_usd: String,
}

/// `attribute: {key, value}` of a budget rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetAttribute {
    /// Attribute key on the root span.
    pub key: String,
    /// Value it must have.
    pub value: String,
}

/// `anomaly:` — a trace costing `threshold` times the median of its workflow's last `window`
/// traces is flagged (`cost.anomaly.detected=true`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnomalyConfig {
    /// Default: `false`.
    pub enabled: bool,
    /// Default: 50.
    pub window: usize,
    /// Default: 10.
    pub min_samples: usize,
    /// Default: 3.0.
    pub threshold: f64,
    /// Default: 1000.
    pub max_workflows: usize,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        let d = crate::analytics::AnomalyOptions::default();
        AnomalyConfig {
            enabled: false,
            window: d.window,
            min_samples: d.min_samples,
            threshold: d.threshold,
            max_workflows: d.max_workflows,
        }
    }
}

/// Label limits of the cost series.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CostMetricsConfig {
    /// Only these models get their own label (others: `other`). Default: none (first come).
    pub models: Vec<String>,
    /// Distinct model labels when `models` is empty. Default: 200.
    pub max_models: usize,
    /// Distinct provider labels. Default: 50.
    pub max_providers: usize,
    /// Distinct workflow labels. Default: 100.
    pub max_workflows: usize,
    /// Distinct service labels. Default: 100.
    pub max_services: usize,
    /// Longest label value in bytes; longer model, provider, service and workflow values are
    /// `other` (an allow-listed model is kept whatever its length). Default: 256.
    pub max_label_bytes: usize,
}

impl Default for CostMetricsConfig {
    fn default() -> Self {
        CostMetricsConfig {
            models: Vec::new(),
            max_models: crate::analytics::DEFAULT_MAX_MODELS,
            max_providers: crate::analytics::DEFAULT_MAX_PROVIDERS,
            max_workflows: crate::analytics::DEFAULT_MAX_WORKFLOW_LABELS,
            max_services: crate::analytics::DEFAULT_MAX_SERVICES,
            max_label_bytes: crate::analytics::DEFAULT_MAX_LABEL_BYTES,
        }
    }
}

/// `records:` — JSONL cost records.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordsConfig {
    /// File to append to (safe to rotate by renaming), by a thread of its own: when 1024
    /// traces wait for the disk, a trace's records are dropped and counted
    /// (`otel_llm_cost_cost_records_dropped_total`); its spans are exported all the same.
    /// Default: none (off).
    pub path: Option<PathBuf>,
}

/// Analytics, resolved.
#[derive(Debug, Clone, Default)]
pub struct AnalyticsSettings {
    /// Budget rules.
    pub budgets: Vec<crate::analytics::BudgetRule>,
    /// Anomaly detection.
    pub anomaly: Option<crate::analytics::AnomalyOptions>,
    /// Cost-metric label limits.
    pub metrics: CostMetricsConfig,
    /// JSONL records path.
    pub records: Option<PathBuf>,
}

impl AnalyticsConfig {
    /// Validates `analytics:`, resolving the records path against `base`.
    pub(super) fn resolve(
        &self,
        base: BaseDir<'_>,
        problems: &mut Vec<String>,
    ) -> AnalyticsSettings {
        let mut budgets = Vec::new();
        for (i, b) in self.budgets.iter().enumerate() {
            let at = format!("analytics.budgets[{i}]");
            if b.name.trim().is_empty() {
                problems.push(format!("{at}.name: required"));
            }
            match crate::money::Usd::parse(&b.limit_usd) {
                Ok(limit) => {
                    let mut r = crate::analytics::BudgetRule::new(b.name.clone(), limit);
                    if let Some(w) = &b.workflow {
                        r = r.for_workflow(w.clone());
                    }
                    if let Some(a) = &b.attribute {
                        r = r.when_attribute(a.key.clone(), a.value.clone());
                    }
                    budgets.push(r);
                }
                Err(e) => problems.push(format!("{at}.limit_usd: '{}': {e}", b.limit_usd)),
            }
        }
        let a = &self.anomaly;
        if a.enabled {
            if a.window == 0 {
                problems.push("analytics.anomaly.window: must be at least 1".into());
            }
            if !(a.threshold.is_finite() && a.threshold > 0.0) {
                problems.push("analytics.anomaly.threshold: must be a positive number".into());
            }
        }
        let m = &self.metrics;
        for (name, v) in [
            ("max_models", m.max_models),
            ("max_providers", m.max_providers),
            ("max_workflows", m.max_workflows),
            ("max_services", m.max_services),
            ("max_label_bytes", m.max_label_bytes),
        ] {
            if v == 0 {
                problems.push(format!("analytics.metrics.{name}: must be at least 1"));
            }
        }
        AnalyticsSettings {
            budgets,
            anomaly: a.enabled.then_some(crate::analytics::AnomalyOptions {
                window: a.window,
                min_samples: a.min_samples,
                threshold: a.threshold,
                max_workflows: a.max_workflows,
            }),
            metrics: m.clone(),
            records: self.records.path.as_deref().map(|p| base.resolve(p)),
        }
    }
}

impl CostMetricsConfig {
    /// The label limits.
    pub fn limits(&self) -> crate::analytics::MetricLimits {
        use crate::analytics::CardinalityLimit;
        let first_come = |max| CardinalityLimit::new(max).with_max_len(self.max_label_bytes);
        crate::analytics::MetricLimits {
            models: if self.models.is_empty() {
                first_come(self.max_models)
            } else {
                CardinalityLimit::allow_only(self.models.iter().cloned())
            },
            providers: first_come(self.max_providers),
            workflows: first_come(self.max_workflows),
            services: first_come(self.max_services),
        }
    }
}
