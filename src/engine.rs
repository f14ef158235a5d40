//! The engine, written once for both drivers:
//!
//! ```text
//! SpanView -> extract usage -> catalog lookup (model, provider, start time) -> Own
//!          -> finish(own, children's totals) -> attributes written, subtree Totals returned
//! ```
//!
//! The processor calls [`Engine::own`] and [`Engine::finish`] span by span as they end, with a
//! ledger holding children's totals; the gateway calls [`Engine::price_trace`] on a whole trace.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::analytics::{Analytics, AnomalyOptions, BudgetRule, TraceObserver, TraceSummary};
use crate::money::Usd;
use crate::pricing::Usage;
use crate::pricing::{
    Catalog, CostBreakdown, Interned, Model, Price, ServiceTier, MAX_MODEL_ID_BYTES,
};
use crate::provider::MAX_PROVIDER_BYTES;
use crate::semconv::{self as k, ours};
use crate::span_view::{intern, is_blank, AttrKey, AttrValue, KeyFilter, OwnedValue, SpanView};
use crate::usage::{extract_with, key_filter, ExtractOptions, UsageState};

/// Options of the engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Prefix of the attributes we write (`cost.` by default).
    pub prefix: String,
    /// Re-price spans that already carry a cost (`llm.cost.total`, `gen_ai.usage.cost`)
    /// instead of keeping it.
    pub reprice_provided: bool,
    /// Input-counting switches.
    pub extract: ExtractOptions,
    /// Budget rules (the first matching rule applies to a trace).
    pub budgets: Vec<BudgetRule>,
    /// Cost-anomaly detection, when enabled.
    pub anomaly: Option<AnomalyOptions>,
    /// Observers of finished traces (cost metrics, records).
    pub observers: Vec<Arc<dyn TraceObserver>>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            prefix: k::DEFAULT_PREFIX.to_owned(),
            reprice_provided: false,
            extract: ExtractOptions::default(),
            budgets: Vec::new(),
            anomaly: None,
            observers: Vec::new(),
        }
    }
}

/// Attribute keys, built once: ours under the configured prefix, and the per-call
/// `llm.cost.*` keys.
#[derive(Debug)]
struct Keys {
    status: AttrKey,
    reason: AttrKey,
    model: AttrKey,
    effective_from: AttrKey,
    source: AttrKey,
    tier: AttrKey,
    catalog: AttrKey,
    total_usd: AttrKey,
    input_usd: AttrKey,
    output_usd: AttrKey,
    llm_calls: AttrKey,
    input_tokens: AttrKey,
    output_tokens: AttrKey,
    unpriced_calls: AttrKey,
    by_model: AttrKey,
    complete: AttrKey,
    budget_name: AttrKey,
    budget_limit: AttrKey,
    budget_exceeded: AttrKey,
    anomaly_ratio: AttrKey,
    anomaly_baseline: AttrKey,
    anomaly: AttrKey,
    cost_prompt: AttrKey,
    cost_completion: AttrKey,
    cost_total: AttrKey,
    /// `llm.cost.prompt_details.*` / `completion_details.*`, in `CostBreakdown` field order.
    details: [AttrKey; 7],
}

impl Keys {
    fn new(prefix: &str) -> Keys {
        let p = |s: &str| AttrKey::new(&format!("{prefix}{s}"));
        Keys {
            status: p(ours::PRICING_STATUS),
            reason: p(ours::PRICING_REASON),
            model: p(ours::PRICING_MODEL),
            effective_from: p(ours::PRICING_EFFECTIVE_FROM),
            source: p(ours::PRICING_SOURCE),
            tier: p(ours::PRICING_TIER),
            catalog: p(ours::PRICING_CATALOG),
            total_usd: p(ours::TOTAL_USD),
            input_usd: p(ours::INPUT_USD),
            output_usd: p(ours::OUTPUT_USD),
            llm_calls: p(ours::LLM_CALLS),
            input_tokens: p(ours::INPUT_TOKENS),
            output_tokens: p(ours::OUTPUT_TOKENS),
            unpriced_calls: p(ours::UNPRICED_CALLS),
            by_model: p(ours::BY_MODEL),
            complete: p(ours::COMPLETE),
            budget_name: p(ours::BUDGET_NAME),
            budget_limit: p(ours::BUDGET_LIMIT_USD),
            budget_exceeded: p(ours::BUDGET_EXCEEDED),
            anomaly_ratio: p(ours::ANOMALY_RATIO),
            anomaly_baseline: p(ours::ANOMALY_BASELINE_USD),
            anomaly: p(ours::ANOMALY),
            cost_prompt: AttrKey::new(k::LLM_COST_PROMPT),
            cost_completion: AttrKey::new(k::LLM_COST_COMPLETION),
            cost_total: AttrKey::new(k::LLM_COST_TOTAL),
            details: [
                AttrKey::new(k::LLM_COST_PROMPT_INPUT),
                AttrKey::new(k::LLM_COST_PROMPT_CACHE_READ),
                AttrKey::new(k::LLM_COST_PROMPT_CACHE_WRITE),
                AttrKey::new(k::LLM_COST_PROMPT_AUDIO),
                AttrKey::new(k::LLM_COST_COMPLETION_OUTPUT),
                AttrKey::new(k::LLM_COST_COMPLETION_REASONING),
                AttrKey::new(k::LLM_COST_COMPLETION_AUDIO),
            ],
        }
    }
}

/// `cost.pricing.status` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PricingStatus {
    /// Priced from the catalog.
    Priced,
    /// The span already carried a cost; kept.
    Provided,
    /// The model matched nothing in the catalog (never shown as $0).
    UnknownModel,
    /// A token count was unusable (negative, fractional, NaN, not a number), or the model or
    /// provider attribute is longer than [`MAX_MODEL_ID_BYTES`] / [`MAX_PROVIDER_BYTES`].
    InvalidUsage,
    /// A call span with a counted call below it (the innermost call wins).
    Duplicate,
    /// An agent / workflow / chain span repeating its children's usage.
    Aggregate,
}

impl PricingStatus {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            PricingStatus::Priced => "priced",
            PricingStatus::Provided => "provided",
            PricingStatus::UnknownModel => "unknown_model",
            PricingStatus::InvalidUsage => "invalid_usage",
            PricingStatus::Duplicate => "duplicate",
            PricingStatus::Aggregate => "aggregate",
        }
    }
}

/// A string borrowed from the catalog (for the engine's life), or one read from a span.
/// Borrowing saves a reference-count increment and decrement per use on the hot path.
#[derive(Debug, Clone)]
enum Text<'e> {
    Catalog(&'e Arc<str>),
    Span(Arc<str>),
}

impl Text<'_> {
    fn as_arc(&self) -> &Arc<str> {
        match self {
            Text::Catalog(a) => a,
            Text::Span(a) => a,
        }
    }

    fn into_arc(self) -> Arc<str> {
        match self {
            Text::Catalog(a) => Arc::clone(a),
            Text::Span(a) => a,
        }
    }

    /// Same string as `a` (pointer first).
    fn same(&self, a: &Arc<str>) -> bool {
        let s = self.as_arc();
        Arc::ptr_eq(s, a) || **s == **a
    }
}

/// Provenance of a priced call (borrowed from the catalog entry that priced it).
#[derive(Debug, Clone)]
pub(crate) struct Provenance<'e> {
    model: &'e Model,
    price: &'e Price,
    tier: Option<String>,
}

/// One LLM call as read and priced from its own span.
#[derive(Debug, Clone)]
pub(crate) struct Call<'e> {
    status: PricingStatus,
    /// Catalog id when priced, else the model as the span says (for `by_model`).
    label: Text<'e>,
    /// Catalog entry's provider when priced, else the span's canonical provider.
    provider: Text<'e>,
    /// The span's `service.name`, when its representation carries it.
    service: Option<Arc<str>>,
    cost: Option<CostBreakdown>,
    provided: Option<crate::usage::ProvidedCost>,
    usage: Option<Usage>,
    provenance: Option<Provenance<'e>>,
    reason: Option<String>,
}

impl Call<'_> {
    fn total(&self) -> Option<Usd> {
        match (&self.cost, &self.provided) {
            (Some(c), _) => Some(c.total()),
            (None, Some(p)) => Some(p.total),
            _ => None,
        }
    }
    fn input_output(&self) -> (Usd, Usd) {
        match (&self.cost, &self.provided) {
            (Some(c), _) => (c.prompt(), c.completion()),
            (None, Some(p)) => (
                p.prompt.unwrap_or_default(),
                p.completion.unwrap_or_default(),
            ),
            _ => (Usd::ZERO, Usd::ZERO),
        }
    }
}

/// What a span contributes by itself, before roll-up.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // on purpose: see `Call`
pub(crate) enum OwnKind<'e> {
    /// Not an LLM call.
    Nothing,
    /// Agent / workflow / chain with usage of its own: not counted.
    Aggregate,
    /// An LLM call. Not boxed: an allocation and a free per priced span cost more than
    /// moving the (stack) value, and most spans (`Nothing`) only write the tag.
    Call(Call<'e>),
}

/// A span's own contribution, and whether it already carries attributes we write.
#[derive(Debug, Clone)]
pub(crate) struct Own<'e> {
    kind: OwnKind<'e>,
    /// Replace existing attributes instead of appending (the span passed through us before).
    rewrite: bool,
}

impl Own<'_> {
    /// `true` when nothing is written for the span unless its children bring totals.
    #[cfg_attr(not(feature = "processor"), allow(dead_code))]
    pub(crate) fn is_nothing(&self) -> bool {
        matches!(self.kind, OwnKind::Nothing)
    }
}

/// Spend of one model within a subtree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelShare {
    /// Catalog id (or the span's model for provided costs).
    pub model: Arc<str>,
    /// Canonical provider (catalog entry's, else the span's; `unknown` when neither).
    pub provider: Arc<str>,
    /// `service.name` of the calls' spans, when the span representation carries it (gateway).
    pub service: Option<Arc<str>>,
    /// Calls.
    pub calls: u32,
    /// Cost.
    pub cost: Usd,
    /// Tokens of these calls, by type.
    pub tokens: TokenCounts,
}

/// Token counts by type (input includes cache, output includes reasoning).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCounts {
    /// All input tokens.
    pub input: u64,
    /// All output tokens.
    pub output: u64,
    /// Cache reads.
    pub cache_read: u64,
    /// Cache writes (5m + 1h).
    pub cache_write: u64,
    /// Reasoning tokens.
    pub reasoning: u64,
}

impl TokenCounts {
    fn of(u: &Usage) -> TokenCounts {
        TokenCounts {
            input: u.input_total,
            output: u.output_total,
            cache_read: u.cache_read,
            cache_write: u.cache_write_5m.saturating_add(u.cache_write_1h),
            reasoning: u.reasoning,
        }
    }

    /// Adds another count.
    pub fn add(&mut self, o: &TokenCounts) {
        self.input = self.input.saturating_add(o.input);
        self.output = self.output.saturating_add(o.output);
        self.cache_read = self.cache_read.saturating_add(o.cache_read);
        self.cache_write = self.cache_write.saturating_add(o.cache_write);
        self.reasoning = self.reasoning.saturating_add(o.reasoning);
    }
}

/// Cost totals of a subtree (a span plus all its descendants). Exact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// Total cost.
    pub cost: Usd,
    /// Input-side cost.
    pub input_cost: Usd,
    /// Output-side cost.
    pub output_cost: Usd,
    /// LLM calls counted (priced, provided and unpriced).
    pub calls: u32,
    /// Calls that could not be priced (unknown model, invalid usage).
    pub unpriced: u32,
    /// Of those, unknown models.
    pub unknown_model: u32,
    /// Of those, unusable token counts.
    pub invalid_usage: u32,
    /// Input tokens of counted calls.
    pub input_tokens: u64,
    /// Output tokens of counted calls.
    pub output_tokens: u64,
    /// Spend by model, unsorted.
    pub by_model: Vec<ModelShare>,
    /// Some part of the subtree may be missing (late children, eviction, orphans).
    pub incomplete: bool,
}

impl Totals {
    /// Adds a subtree's totals.
    pub fn add(&mut self, o: &Totals) {
        self.cost += o.cost;
        self.input_cost += o.input_cost;
        self.output_cost += o.output_cost;
        self.calls = self.calls.saturating_add(o.calls);
        self.unpriced = self.unpriced.saturating_add(o.unpriced);
        self.unknown_model = self.unknown_model.saturating_add(o.unknown_model);
        self.invalid_usage = self.invalid_usage.saturating_add(o.invalid_usage);
        self.input_tokens = self.input_tokens.saturating_add(o.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(o.output_tokens);
        self.incomplete |= o.incomplete;
        for m in &o.by_model {
            self.add_model(m);
        }
    }

    fn add_model(&mut self, m: &ModelShare) {
        match self
            .by_model
            .iter_mut()
            .find(|x| x.model == m.model && x.provider == m.provider && x.service == m.service)
        {
            Some(x) => {
                x.calls = x.calls.saturating_add(m.calls);
                x.cost += m.cost;
                x.tokens.add(&m.tokens);
            }
            None => self.by_model.push(m.clone()),
        }
    }

    /// Adds one model's share, merging with an entry of the same model, provider and service.
    fn add_share(&mut self, m: Share<'_>) {
        match self.by_model.iter_mut().find(|x| {
            m.model.same(&x.model) && m.provider.same(&x.provider) && x.service == m.service
        }) {
            Some(x) => {
                x.calls = x.calls.saturating_add(1);
                x.cost += m.cost;
                x.tokens.add(&m.tokens);
            }
            None => self.by_model.push(m.into_model_share()),
        }
    }

    /// `by_model` sorted by spend (then name), with percentages of the priced total, one decimal,
    /// summing to exactly 100 (largest remainder).
    pub fn by_model_sorted(&self) -> Vec<(ModelShare, f64)> {
        // One row per model: the same model from several services or providers is merged.
        let mut v: Vec<ModelShare> = Vec::with_capacity(self.by_model.len());
        for m in &self.by_model {
            match v.iter_mut().find(|x| x.model == m.model) {
                Some(x) => {
                    x.calls = x.calls.saturating_add(m.calls);
                    x.cost += m.cost;
                    x.tokens.add(&m.tokens);
                }
                None => v.push(m.clone()),
            }
        }
        v.sort_by(|a, b| b.cost.cmp(&a.cost).then_with(|| a.model.cmp(&b.model)));
        let total: u128 = v.iter().map(|m| m.cost.femto()).sum();
        let weights: Vec<u128> = if total == 0 {
            v.iter().map(|m| u128::from(m.calls)).collect()
        } else {
            v.iter().map(|m| m.cost.femto()).collect()
        };
        let wsum: u128 = weights.iter().sum::<u128>().max(1);
        let mut per_mille: Vec<(u128, u128, usize)> = weights
            .iter()
            .enumerate()
            .map(|(i, w)| (w * 1000 / wsum, w * 1000 % wsum, i))
            .collect();
        let assigned: u128 = per_mille.iter().map(|p| p.0).sum();
        let mut left = 1000u128.saturating_sub(assigned);
        let mut order: Vec<usize> = (0..per_mille.len()).collect();
        order.sort_by(|&a, &b| per_mille[b].1.cmp(&per_mille[a].1).then(a.cmp(&b)));
        for i in order {
            if left == 0 {
                break;
            }
            if per_mille[i].1 > 0 {
                per_mille[i].0 += 1;
                left -= 1;
            }
        }
        v.into_iter()
            .zip(per_mille)
            .map(|(m, p)| (m, p.0 as f64 / 10.0))
            .collect()
    }

    /// The `cost.by_model` JSON.
    pub fn by_model_json(&self) -> String {
        // Written directly (no `serde_json::Value` tree per row): the same bytes as
        // `serde_json::json!` gives, keys in its (sorted) order, numbers and strings formatted
        // by serde_json itself. This runs on every root span with LLM calls.
        fn row(out: &mut Vec<u8>, m: &ModelShare, pct: f64) -> bool {
            let mut ok = true;
            out.extend_from_slice(b"{\"calls\":");
            ok &= serde_json::to_writer(&mut *out, &m.calls).is_ok();
            out.extend_from_slice(b",\"cost_usd\":");
            ok &= serde_json::to_writer(&mut *out, &m.cost.as_f64()).is_ok();
            out.extend_from_slice(b",\"model\":");
            ok &= serde_json::to_writer(&mut *out, &*m.model).is_ok();
            out.extend_from_slice(b",\"pct\":");
            // A single row (most traces) is 100 or 0: serde_json's own spelling of those,
            // without running the float formatter (the test below checks the bytes).
            if pct == 100.0 {
                out.extend_from_slice(b"100.0");
            } else if pct == 0.0 && pct.is_sign_positive() {
                out.extend_from_slice(b"0.0");
            } else {
                ok &= serde_json::to_writer(&mut *out, &pct).is_ok();
            }
            out.push(b'}');
            ok
        }
        let mut out: Vec<u8> = Vec::with_capacity(2 + self.by_model.len() * 96);
        let mut ok = true;
        out.push(b'[');
        match self.by_model.as_slice() {
            // One row (most traces use one model): nothing to merge or sort; it has all of
            // the weight (`by_model_sorted` gives 100, or 0 for a weightless row).
            [m] => {
                let weight = if m.cost.is_zero() {
                    u128::from(m.calls)
                } else {
                    m.cost.femto()
                };
                ok &= row(&mut out, m, if weight > 0 { 100.0 } else { 0.0 });
            }
            _ => {
                for (i, (m, pct)) in self.by_model_sorted().iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    ok &= row(&mut out, m, *pct);
                }
            }
        }
        out.push(b']');
        match String::from_utf8(out) {
            Ok(s) if ok => s,
            _ => self.by_model_json_via_value(),
        }
    }

    /// `by_model_json` through `serde_json::Value` (the reference the direct writer matches).
    fn by_model_json_via_value(&self) -> String {
        let arr: Vec<serde_json::Value> = self
            .by_model_sorted()
            .into_iter()
            .map(|(m, pct)| {
                serde_json::json!({
                    "model": &*m.model,
                    "calls": m.calls,
                    "cost_usd": m.cost.as_f64(),
                    "pct": pct,
                })
            })
            .collect();
        serde_json::Value::Array(arr).to_string()
    }
}

/// One call's share of its model's spend, kept aside (borrowed from the catalog) until it has
/// to join a `by_model` list.
#[derive(Debug, Clone)]
struct Share<'e> {
    model: Text<'e>,
    provider: Text<'e>,
    service: Option<Arc<str>>,
    cost: Usd,
    tokens: TokenCounts,
}

impl Share<'_> {
    fn into_model_share(self) -> ModelShare {
        ModelShare {
            model: self.model.into_arc(),
            provider: self.provider.into_arc(),
            service: self.service,
            calls: 1,
            cost: self.cost,
            tokens: self.tokens,
        }
    }
}

/// A subtree's totals as [`Engine::finish`] returns them: the span's own call is counted in
/// `totals` but its `by_model` share is held aside, so that a leaf call merged into its
/// parent's ledger entry allocates no `by_model` list of its own.
#[derive(Debug, Default)]
pub(crate) struct Subtree<'e> {
    totals: Totals,
    share: Option<Share<'e>>,
}

impl<'e> Subtree<'e> {
    pub(crate) fn of(totals: Totals) -> Subtree<'e> {
        Subtree {
            totals,
            share: None,
        }
    }

    /// LLM calls counted in the subtree.
    pub(crate) fn calls(&self) -> u32 {
        self.totals.calls
    }

    /// Adds this subtree to `t` (same result as `t.add(&self.into_totals())`).
    pub(crate) fn add_to(self, t: &mut Totals) {
        t.add(&self.totals);
        if let Some(m) = self.share {
            t.add_share(m);
        }
    }

    /// The complete totals.
    pub(crate) fn into_totals(self) -> Totals {
        let mut t = self.totals;
        if let Some(m) = self.share {
            t.add_share(m);
        }
        t
    }

    fn add_call(&mut self, c: &Call<'e>) {
        if let Some(m) = self.share.take() {
            self.totals.add_share(m);
        }
        let t = &mut self.totals;
        t.calls = t.calls.saturating_add(1);
        if let Some(u) = &c.usage {
            t.input_tokens = t.input_tokens.saturating_add(u.input_total);
            t.output_tokens = t.output_tokens.saturating_add(u.output_total);
        }
        match c.total() {
            Some(total) => {
                let (i, o) = c.input_output();
                t.cost += total;
                t.input_cost += i;
                t.output_cost += o;
                self.share = Some(Share {
                    model: c.label.clone(),
                    provider: c.provider.clone(),
                    service: c.service.clone(),
                    cost: total,
                    tokens: c.usage.as_ref().map(TokenCounts::of).unwrap_or_default(),
                });
            }
            None => {
                t.unpriced = t.unpriced.saturating_add(1);
                match c.status {
                    PricingStatus::UnknownModel => {
                        t.unknown_model = t.unknown_model.saturating_add(1)
                    }
                    _ => t.invalid_usage = t.invalid_usage.saturating_add(1),
                }
            }
        }
    }
}

/// Slots of a [`SpanCounter`]: one per thread, the last shared by threads beyond.
const COUNTER_SLOTS: usize = 64;

#[derive(Debug, Default)]
#[repr(align(64))]
struct PaddedCounter(AtomicU64);

/// Slot ids of live threads that used a [`SpanCounter`]; freed ids are reused.
static FREE_SLOTS: Mutex<Vec<usize>> = Mutex::new(Vec::new());
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

/// A thread's slot id, returned to [`FREE_SLOTS`] when the thread exits.
struct ThreadSlot(usize);

impl ThreadSlot {
    fn acquire() -> ThreadSlot {
        if let Some(i) = FREE_SLOTS.lock().ok().and_then(|mut f| f.pop()) {
            return ThreadSlot(i);
        }
        let i = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
        ThreadSlot(i.min(COUNTER_SLOTS - 1))
    }
}

impl Drop for ThreadSlot {
    fn drop(&mut self) {
        if self.0 < COUNTER_SLOTS - 1 {
            if let Ok(mut f) = FREE_SLOTS.lock() {
                f.push(self.0);
            }
        }
    }
}

thread_local! {
    static THREAD_SLOT: ThreadSlot = ThreadSlot::acquire();
}

/// The spans-seen counter, bumped on every span by every thread that ends spans: one cache line
/// per thread (no line bouncing between cores) and, since a slot below the last has one
/// writing thread at a time, a plain load and store instead of a locked add.
pub(crate) struct SpanCounter {
    slots: Box<[PaddedCounter]>,
}

impl Default for SpanCounter {
    fn default() -> Self {
        SpanCounter {
            slots: (0..COUNTER_SLOTS)
                .map(|_| PaddedCounter::default())
                .collect(),
        }
    }
}

impl std::fmt::Debug for SpanCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SpanCounter").field(&self.get()).finish()
    }
}

impl SpanCounter {
    /// Adds one.
    #[inline]
    pub(crate) fn bump(&self) {
        let shared = COUNTER_SLOTS - 1;
        let i = THREAD_SLOT.try_with(|s| s.0).unwrap_or(shared);
        match self.slots.get(i) {
            Some(c) if i < shared => {
                // This thread is the slot's only writer.
                c.0.store(
                    c.0.load(Ordering::Relaxed).wrapping_add(1),
                    Ordering::Relaxed,
                );
            }
            _ => {
                if let Some(c) = self.slots.last() {
                    c.0.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// The count.
    pub(crate) fn get(&self) -> u64 {
        self.slots
            .iter()
            .fold(0u64, |a, c| a.wrapping_add(c.0.load(Ordering::Relaxed)))
    }
}

/// Counters of what the engine did. A snapshot is a [`StatsSnapshot`].
#[derive(Debug, Default)]
pub struct Stats {
    pub(crate) spans: SpanCounter,
    pub(crate) priced: AtomicU64,
    pub(crate) provided: AtomicU64,
    pub(crate) unknown_model: AtomicU64,
    pub(crate) invalid_usage: AtomicU64,
    pub(crate) duplicate: AtomicU64,
    pub(crate) aggregate: AtomicU64,
    pub(crate) late: AtomicU64,
    pub(crate) evicted: AtomicU64,
    pub(crate) traces: AtomicU64,
    pub(crate) budget_exceeded: AtomicU64,
    pub(crate) anomalies: AtomicU64,
}

/// Counter values at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Spans seen.
    pub spans: u64,
    /// Calls priced from the catalog.
    pub priced: u64,
    /// Calls whose cost the span already carried.
    pub provided: u64,
    /// Calls with an unknown model.
    pub unknown_model: u64,
    /// Calls with unusable token counts.
    pub invalid_usage: u64,
    /// Call spans not counted because a call below them was.
    pub duplicate: u64,
    /// Aggregate spans with usage, not counted.
    pub aggregate: u64,
    /// Children that ended after their parent was forwarded (processor).
    pub late: u64,
    /// Ledger entries dropped by size or age before their parent ended (processor).
    pub evicted: u64,
    /// Traces (local roots in process) finished with at least one LLM call.
    pub traces: u64,
    /// Of those, over a budget.
    pub budget_exceeded: u64,
    /// Of those, flagged as cost anomalies.
    pub anomalies: u64,
}

impl Stats {
    fn bump(&self, s: PricingStatus) {
        let c = match s {
            PricingStatus::Priced => &self.priced,
            PricingStatus::Provided => &self.provided,
            PricingStatus::UnknownModel => &self.unknown_model,
            PricingStatus::InvalidUsage => &self.invalid_usage,
            PricingStatus::Duplicate => &self.duplicate,
            PricingStatus::Aggregate => &self.aggregate,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Current values.
    pub fn snapshot(&self) -> StatsSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            spans: self.spans.get(),
            priced: g(&self.priced),
            provided: g(&self.provided),
            unknown_model: g(&self.unknown_model),
            invalid_usage: g(&self.invalid_usage),
            duplicate: g(&self.duplicate),
            aggregate: g(&self.aggregate),
            late: g(&self.late),
            evicted: g(&self.evicted),
            traces: g(&self.traces),
            budget_exceeded: g(&self.budget_exceeded),
            anomalies: g(&self.anomalies),
        }
    }
}

/// Prices spans and writes cost attributes. Shared by the processor and the gateway.
#[derive(Debug)]
pub struct Engine {
    catalog: Arc<Catalog>,
    opts: EngineOptions,
    keys: Keys,
    /// First bytes of the keys extraction reads (and of our prefix).
    filter: KeyFilter,
    /// The catalog version, interned (written on every priced span).
    catalog_version: Option<&'static str>,
    stats: Stats,
    analytics: Analytics,
    /// `service.name` for spans whose representation does not carry it (set_resource).
    default_service: std::sync::RwLock<Option<Arc<str>>>,
}

/// The string value of `keys[i]`, when extraction found one there; `at`: where extraction saw
/// that key last.
fn str_at<'a, V: SpanView + ?Sized>(
    span: &'a V,
    keys: &[&str],
    i: Option<usize>,
    at: Option<usize>,
) -> Option<&'a str> {
    let key = keys.get(i?)?;
    let v = match at {
        Some(at) => span.attr_at(at, key),
        None => span.attr(key),
    };
    match v {
        Some(AttrValue::Str(s)) if !is_blank(s) => Some(s),
        _ => None,
    }
}

/// `invalid_usage` reason when the value read from `keys[i]` is longer than `max` bytes.
fn over_limit(keys: &[&str], i: Option<usize>, value: Option<&str>, max: usize) -> Option<String> {
    let v = value?;
    (v.len() > max).then(|| {
        let key = i.and_then(|i| keys.get(i)).copied().unwrap_or("?");
        format!("'{key}' is {} bytes, over the limit of {max}", v.len())
    })
}

/// Most attributes [`Engine::write_call`] writes (status, reason, 3 costs, 7 details, 5 of
/// provenance).
const CALL_ATTRS: usize = 17;
/// Most attributes [`write_rollup`] writes.
const ROLLUP_ATTRS: usize = 7;
/// Most root-only attributes (`by_model`, `complete`, 3 of budget, 3 of anomaly).
const ROOT_ATTRS: usize = 8;

#[inline(always)]
fn usd_attr(v: Usd) -> OwnedValue {
    OwnedValue::F64(v.as_f64())
}

#[inline(always)]
fn count_attr(v: u64) -> OwnedValue {
    OwnedValue::I64(i64::try_from(v).unwrap_or(i64::MAX))
}

/// Writes attributes: appends when the span is known to hold none of ours, else replaces.
struct Writer<'a> {
    keys: &'a Keys,
    replace: bool,
}

impl Writer<'_> {
    #[inline(always)]
    fn put<V: SpanView + ?Sized>(&self, span: &mut V, key: &AttrKey, v: OwnedValue) {
        span.write_attr(key, v, self.replace);
    }

    #[inline(always)]
    fn put_static<V: SpanView + ?Sized>(&self, span: &mut V, key: &AttrKey, v: &'static str) {
        span.write_static(key, v, self.replace);
    }

    /// A catalog string: its interned copy when there is one (no reference count to bump here
    /// and drop downstream), else the shared string.
    #[inline(always)]
    fn put_catalog<V: SpanView + ?Sized>(
        &self,
        span: &mut V,
        key: &AttrKey,
        v: &Arc<str>,
        interned: &Interned,
    ) {
        match interned.get(v) {
            Some(s) => span.write_static(key, s, self.replace),
            None => span.write_attr(key, OwnedValue::Shared(Arc::clone(v)), self.replace),
        }
    }
}

fn write_rollup<V: SpanView + ?Sized>(w: &Writer<'_>, span: &mut V, t: &Totals) {
    let k = w.keys;
    if t.calls > t.unpriced {
        w.put(span, &k.total_usd, usd_attr(t.cost));
        w.put(span, &k.input_usd, usd_attr(t.input_cost));
        w.put(span, &k.output_usd, usd_attr(t.output_cost));
    }
    w.put(span, &k.llm_calls, count_attr(u64::from(t.calls)));
    w.put(span, &k.input_tokens, count_attr(t.input_tokens));
    w.put(span, &k.output_tokens, count_attr(t.output_tokens));
    if t.unpriced > 0 {
        w.put(span, &k.unpriced_calls, count_attr(u64::from(t.unpriced)));
    }
}

impl Engine {
    /// An engine over a catalog.
    pub fn new(catalog: Arc<Catalog>, opts: EngineOptions) -> Engine {
        let keys = Keys::new(&opts.prefix);
        let analytics = Analytics::new(
            opts.budgets.clone(),
            opts.anomaly.clone(),
            opts.observers.clone(),
        );
        let filter = key_filter(&opts.prefix);
        let catalog_version = intern(&catalog.info().version);
        Engine {
            catalog,
            opts,
            keys,
            filter,
            catalog_version,
            stats: Stats::default(),
            analytics,
            default_service: std::sync::RwLock::new(None),
        }
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// `service.name` reported to observers for spans that do not carry their resource.
    pub fn set_default_service(&self, name: Option<&str>) {
        if let Ok(mut s) = self.default_service.write() {
            *s = name.map(Into::into);
        }
    }

    /// Reads and prices what the span contributes by itself. Writes nothing.
    pub(crate) fn own<V: SpanView + ?Sized>(&self, span: &V) -> Own<'_> {
        self.stats.spans.bump();
        let provider_of = |i: Option<usize>| {
            str_at(span, &k::PROVIDER_KEYS, i, None)
                .filter(|p| p.len() <= MAX_PROVIDER_BYTES)
                .map(crate::provider::canonical)
        };
        let Some(ex) = extract_with(
            span,
            &self.opts.extract,
            &self.opts.prefix,
            &self.filter,
            provider_of,
        ) else {
            // No key worth reading (most spans).
            return Own {
                kind: OwnKind::Nothing,
                rewrite: false,
            };
        };
        if ex.usage == UsageState::None && ex.provided.is_none() {
            // Not a call and not an aggregate with usage (most spans).
            return Own {
                kind: OwnKind::Nothing,
                rewrite: ex.has_written_keys,
            };
        }
        self.own_kind(span, &ex)
    }

    /// The span's own contribution, built in place (a `Call` is a few hundred bytes).
    fn own_kind<V: SpanView + ?Sized>(&self, span: &V, ex: &crate::usage::Extracted) -> Own<'_> {
        let rewrite = ex.has_written_keys;
        if ex.aggregate && ex.usage != UsageState::None {
            return Own {
                kind: OwnKind::Aggregate,
                rewrite,
            };
        }
        let model = str_at(span, &k::MODEL_KEYS, ex.model_key, ex.model_at);
        let provider = str_at(span, &k::PROVIDER_KEYS, ex.provider_key, ex.provider_at);
        // Over-long model or provider: not a real one (see the limits' docs). Neither is read
        // further, nor becomes a label; the span is `invalid_usage` (still forwarded).
        let too_long =
            over_limit(&k::MODEL_KEYS, ex.model_key, model, MAX_MODEL_ID_BYTES).or_else(|| {
                over_limit(
                    &k::PROVIDER_KEYS,
                    ex.provider_key,
                    provider,
                    MAX_PROVIDER_BYTES,
                )
            });
        let (model, provider) = match too_long {
            Some(_) => (None, None),
            None => (model, provider),
        };
        let service: Option<Arc<str>> = span.service_name().map(Into::into);
        let call = |status, usage, provided, reason| Own {
            kind: OwnKind::Call(Call {
                status,
                service: service.clone(),
                label: Text::Span(model.unwrap_or("unknown").into()),
                provider: Text::Span(provider.map_or_else(
                    || "unknown".into(),
                    |p| crate::provider::canonical(p).into(),
                )),
                cost: None,
                provided,
                usage,
                provenance: None,
                reason,
            }),
            rewrite,
        };
        if let Some(reason) = too_long {
            let usage = match &ex.usage {
                UsageState::Valid(u) => Some(*u),
                _ => None,
            };
            return call(PricingStatus::InvalidUsage, usage, None, Some(reason));
        }
        let keep_provided = ex
            .provided
            .filter(|_| !self.opts.reprice_provided && !ex.aggregate);
        let usage = match &ex.usage {
            UsageState::None => {
                return match keep_provided {
                    Some(p) => call(PricingStatus::Provided, None, Some(p), None),
                    None => Own {
                        kind: OwnKind::Nothing,
                        rewrite,
                    },
                };
            }
            UsageState::Invalid(reason) => {
                return match keep_provided {
                    Some(p) => call(PricingStatus::Provided, None, Some(p), None),
                    None => call(
                        PricingStatus::InvalidUsage,
                        None,
                        None,
                        Some(reason.clone()),
                    ),
                };
            }
            UsageState::Valid(u) => *u,
        };
        if let Some(p) = keep_provided {
            return call(PricingStatus::Provided, Some(usage), Some(p), None);
        }
        let Some(model) = model else {
            return call(
                PricingStatus::UnknownModel,
                Some(usage),
                None,
                Some("no model attribute".into()),
            );
        };
        let tier = str_at(span, &k::SERVICE_TIER_KEYS, ex.tier_key, ex.tier_at)
            .and_then(ServiceTier::parse);
        let at = i64::try_from(span.start_unix_nanos() / 1_000_000_000).unwrap_or(i64::MAX);
        match self.catalog.price(model, provider, &usage, at, tier) {
            Ok(p) => Own {
                kind: OwnKind::Call(Call {
                    status: PricingStatus::Priced,
                    service,
                    label: Text::Catalog(&p.model.id),
                    provider: Text::Catalog(&p.model.provider),
                    cost: Some(p.cost),
                    provided: None,
                    usage: Some(usage),
                    provenance: Some(Provenance {
                        model: p.model,
                        price: p.price,
                        tier: p.applied.label(),
                    }),
                    reason: None,
                }),
                rewrite,
            },
            Err(e) => call(
                PricingStatus::UnknownModel,
                Some(usage),
                None,
                Some(e.to_string()),
            ),
        }
    }

    /// Decides the span's status given its children's totals, writes its attributes, and returns
    /// its subtree's totals. `root`: write the root-only attributes; `complete`: whether the
    /// driver believes nothing of the subtree is missing.
    pub(crate) fn finish<'e, V: SpanView + ?Sized>(
        &'e self,
        span: &mut V,
        own: &Own<'e>,
        children: Totals,
        root: bool,
        complete: bool,
    ) -> Subtree<'e> {
        let mut subtree = Subtree::of(children);
        let w = Writer {
            keys: &self.keys,
            replace: own.rewrite,
        };
        // One reservation for all this span gets: a list that grows is copied once, not twice.
        let (own_attrs, rolls_up) = match &own.kind {
            OwnKind::Nothing => (0, subtree.calls() > 0),
            OwnKind::Aggregate => (1, subtree.calls() > 0),
            OwnKind::Call(_) => (CALL_ATTRS, true),
        };
        let rollup_attrs = match (rolls_up, root) {
            (false, _) => 0,
            (true, false) => ROLLUP_ATTRS,
            (true, true) => ROLLUP_ATTRS + ROOT_ATTRS,
        };
        if own_attrs + rollup_attrs > 0 {
            span.reserve_attrs(own_attrs + rollup_attrs);
        }
        match &own.kind {
            OwnKind::Nothing => {}
            OwnKind::Aggregate => {
                self.status(&w, span, PricingStatus::Aggregate, None);
            }
            OwnKind::Call(call) => {
                if subtree.calls() > 0 {
                    // The innermost call wins (the SDK's own span under the instrumentation's).
                    self.status(&w, span, PricingStatus::Duplicate, None);
                } else {
                    self.write_call(&w, span, call);
                    subtree.add_call(call);
                }
            }
        }
        if subtree.calls() > 0 {
            write_rollup(&w, span, &subtree.totals);
            if root {
                let subtree = subtree.into_totals();
                let k = &self.keys;
                if !subtree.by_model.is_empty() {
                    w.put(span, &k.by_model, OwnedValue::Str(subtree.by_model_json()));
                }
                let complete = complete && !subtree.incomplete;
                w.put(span, &k.complete, OwnedValue::Bool(complete));
                self.stats.traces.fetch_add(1, Ordering::Relaxed);
                if self.analytics.active() {
                    self.finish_trace(&w, span, &subtree, complete);
                }
                return Subtree::of(subtree);
            }
        }
        subtree
    }

    /// Budgets, anomaly and observers for a finished trace's root.
    fn finish_trace<V: SpanView + ?Sized>(
        &self,
        w: &Writer<'_>,
        span: &mut V,
        t: &Totals,
        complete: bool,
    ) {
        let k = &self.keys;
        let workflow = span.name().to_owned();
        let v = self.analytics.judge(&workflow, span, t);
        if let Some((name, limit, exceeded)) = &v.budget {
            w.put(span, &k.budget_name, OwnedValue::Str(name.clone()));
            w.put(span, &k.budget_limit, usd_attr(*limit));
            w.put(span, &k.budget_exceeded, OwnedValue::Bool(*exceeded));
            if *exceeded {
                self.stats.budget_exceeded.fetch_add(1, Ordering::Relaxed);
                span.add_event(
                    k.budget_exceeded.as_str(),
                    vec![
                        (k.budget_name.clone(), OwnedValue::Str(name.clone())),
                        (k.budget_limit.clone(), usd_attr(*limit)),
                        (k.total_usd.clone(), usd_attr(t.cost)),
                    ],
                );
            }
        }
        if let Some((ratio, baseline)) = v.anomaly {
            w.put(span, &k.anomaly_ratio, OwnedValue::F64(ratio));
            w.put(span, &k.anomaly_baseline, usd_attr(baseline));
            w.put(span, &k.anomaly, OwnedValue::Bool(v.anomalous));
            if v.anomalous {
                self.stats.anomalies.fetch_add(1, Ordering::Relaxed);
            }
        }
        if !self.analytics.observers.is_empty() {
            let default_service = self.default_service.read().ok().and_then(|s| s.clone());
            let service = span
                .service_name()
                .map(str::to_owned)
                .or(default_service.map(|s| s.to_string()));
            let summary = TraceSummary {
                workflow: &workflow,
                service: service.as_deref(),
                totals: t,
                complete,
                start_unix_nanos: span.start_unix_nanos(),
                verdicts: &v,
            };
            for o in &self.analytics.observers {
                o.on_trace(&summary);
            }
        }
    }

    fn status<V: SpanView + ?Sized>(
        &self,
        w: &Writer<'_>,
        span: &mut V,
        s: PricingStatus,
        reason: Option<&str>,
    ) {
        self.stats.bump(s);
        w.put_static(span, &self.keys.status, s.as_str());
        if let Some(r) = reason {
            w.put(span, &self.keys.reason, OwnedValue::Str(r.to_owned()));
        }
    }

    fn write_call<V: SpanView + ?Sized>(&self, w: &Writer<'_>, span: &mut V, call: &Call<'_>) {
        self.status(w, span, call.status, call.reason.as_deref());
        let k = &self.keys;
        if let Some(c) = &call.cost {
            w.put(span, &k.cost_prompt, usd_attr(c.prompt()));
            w.put(span, &k.cost_completion, usd_attr(c.completion()));
            w.put(span, &k.cost_total, usd_attr(c.total()));
            let parts = [
                c.input,
                c.cache_read,
                c.cache_write,
                c.audio_input,
                c.output,
                c.reasoning,
                c.audio_output,
            ];
            for (key, v) in k.details.iter().zip(parts) {
                if !v.is_zero() {
                    w.put(span, key, usd_attr(v));
                }
            }
        }
        if let Some(p) = &call.provenance {
            w.put_catalog(span, &k.model, &p.model.id, &p.model.id_static);
            w.put_catalog(
                span,
                &k.effective_from,
                &p.price.effective_from_label,
                &p.price.effective_from_static,
            );
            w.put_catalog(span, &k.source, &p.price.source, &p.price.source_static);
            if let Some(t) = &p.tier {
                w.put(span, &k.tier, OwnedValue::Str(t.clone()));
            }
            match self.catalog_version {
                Some(v) => w.put_static(span, &k.catalog, v),
                None => w.put(
                    span,
                    &k.catalog,
                    OwnedValue::Shared(self.catalog.info().version.clone()),
                ),
            }
        }
    }

    /// Prices a whole trace (or any set of spans): builds the tree from parent links, walks it
    /// children first, writes every span's attributes. Spans whose parent is not in the set are
    /// roots of their own, marked incomplete; parent cycles and self-parents are cut.
    /// `complete`: whether the caller believes the set is the whole trace.
    pub fn price_trace<V: SpanView>(
        &self,
        spans: &mut [V],
        complete: bool,
    ) -> Vec<(usize, Totals)> {
        let n = spans.len();
        // foldhash, seeded per map (span ids come from senders; the map lives for one trace's
        // pricing): SipHash cost more than the rest of this walk.
        let mut index: HashMap<[u8; 8], usize, foldhash::fast::RandomState> =
            HashMap::with_capacity_and_hasher(n, Default::default());
        for (i, s) in spans.iter().enumerate() {
            index.entry(s.span_id()).or_insert(i);
        }
        // parent[i]: index of the parent within the set; orphan[i]: names a parent not present.
        let mut parent: Vec<Option<usize>> = vec![None; n];
        let mut orphan = vec![false; n];
        for (i, s) in spans.iter().enumerate() {
            if let Some(p) = s.parent_span_id() {
                match index.get(&p) {
                    Some(&j) if j != i => parent[i] = Some(j),
                    Some(_) => {}
                    None => orphan[i] = true,
                }
            }
        }
        // Cut cycles: follow parents; a walk that returns to a node on its own path is a cycle.
        let mut state = vec![0u8; n]; // 0 new, 1 on path, 2 done
        for start in 0..n {
            let mut path = Vec::new();
            let mut cur = start;
            loop {
                if state[cur] == 2 {
                    break;
                }
                if state[cur] == 1 {
                    // `cur` closes a cycle: make it a root.
                    parent[cur] = None;
                    break;
                }
                state[cur] = 1;
                path.push(cur);
                match parent[cur] {
                    Some(p) => cur = p,
                    None => break,
                }
            }
            for p in path {
                state[p] = 2;
            }
        }
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, p) in parent.iter().enumerate() {
            if let Some(p) = p {
                children[*p].push(i);
            }
        }
        // Post-order, iteratively (traces can be deep).
        let mut order = Vec::with_capacity(n);
        let mut stack: Vec<(usize, bool)> = (0..n)
            .filter(|&i| parent[i].is_none())
            .map(|i| (i, false))
            .collect();
        while let Some((i, expanded)) = stack.pop() {
            if expanded {
                order.push(i);
            } else {
                stack.push((i, true));
                stack.extend(children[i].iter().map(|&c| (c, false)));
            }
        }
        let mut acc: Vec<Totals> = vec![Totals::default(); n];
        let mut roots = Vec::new();
        for i in order {
            let own = self.own(&spans[i]);
            let mut kids = std::mem::take(&mut acc[i]);
            if orphan[i] {
                kids.incomplete = true;
            }
            let is_root = parent[i].is_none();
            let subtree = self.finish(&mut spans[i], &own, kids, is_root, complete);
            match parent[i] {
                Some(p) => subtree.add_to(&mut acc[p]),
                None => roots.push((i, subtree.into_totals())),
            }
        }
        roots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(model: &str, calls: u32, femto: u128) -> ModelShare {
        ModelShare {
            model: model.into(),
            provider: "openai".into(),
            service: None,
            calls,
            cost: Usd::from_femto(femto),
            tokens: TokenCounts::default(),
        }
    }

    #[test]
    fn by_model_json_is_byte_identical_to_serde_json_values() {
        let cases = vec![
            vec![],
            vec![share("gpt-4o", 9, 4_188_000_000_000_000)],
            vec![
                share("gpt-4o", 9, 4_188_000_000_000_000),
                share("claude \"q\" \\ é \u{1}", 1, 17),
                share("zero", 3, 0),
                share("tiny", 1, 1),
                share("huge", 7, u128::from(u64::MAX) * 1000),
            ],
            vec![share("a", 1, 0), share("b", 2, 0)],
            vec![share("only", 3, 0)],
            vec![share("only", 0, 0)],
            vec![share("only", 0, 5)],
        ];
        for by_model in cases {
            let t = Totals {
                by_model,
                ..Totals::default()
            };
            assert_eq!(t.by_model_json(), t.by_model_json_via_value());
        }
    }

    #[test]
    fn by_model_json_spells_100_and_0_as_serde_json_does() {
        assert_eq!(serde_json::to_string(&100.0f64).unwrap(), "100.0");
        assert_eq!(serde_json::to_string(&0.0f64).unwrap(), "0.0");
        let one = Totals {
            by_model: vec![share("gpt-4o", 1, 5)],
            ..Totals::default()
        };
        assert!(one.by_model_json().ends_with("\"pct\":100.0}]"));
        let two = Totals {
            by_model: vec![share("a", 1, 5), share("b", 1, 0)],
            ..Totals::default()
        };
        assert_eq!(two.by_model_json(), two.by_model_json_via_value());
        assert!(two.by_model_json().contains("\"pct\":0.0}"));
    }

    #[test]
    fn a_subtree_adds_up_like_the_totals_it_stands_for() {
        let id: Arc<str> = "gpt-4o".into();
        let prov: Arc<str> = "openai".into();
        let sub = |cost: u128| Subtree {
            totals: Totals {
                calls: 1,
                cost: Usd::from_femto(cost),
                ..Totals::default()
            },
            share: Some(Share {
                model: Text::Catalog(&id),
                provider: Text::Catalog(&prov),
                service: None,
                cost: Usd::from_femto(cost),
                tokens: TokenCounts {
                    input: 10,
                    ..TokenCounts::default()
                },
            }),
        };
        let mut via_add = Totals::default();
        sub(5).add_to(&mut via_add);
        sub(7).add_to(&mut via_add);
        let mut via_totals = Totals::default();
        via_totals.add(&sub(5).into_totals());
        via_totals.add(&sub(7).into_totals());
        assert_eq!(via_add, via_totals);
        assert_eq!(via_add.by_model.len(), 1, "same model merged");
        assert_eq!(via_add.by_model[0].calls, 2);
        assert_eq!(via_add.by_model[0].cost, Usd::from_femto(12));
        assert_eq!(via_add.by_model[0].tokens.input, 20);
    }

    #[test]
    fn span_counter_counts_every_thread() {
        let c = Arc::new(SpanCounter::default());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        c.bump();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        c.bump();
        assert_eq!(c.get(), 8001);
    }
}
