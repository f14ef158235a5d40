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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::money::Usd;
use crate::pricing::{Catalog, CostBreakdown, ServiceTier};
use crate::semconv::{self as k, ours};
use crate::span_view::{AttrValue, OwnedValue, SpanView};
use crate::usage::{extract, ExtractOptions, Usage, UsageState};

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
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            prefix: k::DEFAULT_PREFIX.to_owned(),
            reprice_provided: false,
            extract: ExtractOptions::default(),
        }
    }
}

/// Attribute keys under the configured prefix, built once.
#[derive(Debug)]
struct Keys {
    status: String,
    reason: String,
    model: String,
    effective_from: String,
    source: String,
    tier: String,
    catalog: String,
    total_usd: String,
    input_usd: String,
    output_usd: String,
    llm_calls: String,
    input_tokens: String,
    output_tokens: String,
    unpriced_calls: String,
    by_model: String,
    complete: String,
}

impl Keys {
    fn new(prefix: &str) -> Keys {
        let p = |s: &str| format!("{prefix}{s}");
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
    /// A token count was unusable (negative, fractional, NaN, not a number).
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

/// Provenance of a priced call.
#[derive(Debug, Clone)]
pub(crate) struct Provenance {
    model: Arc<str>,
    effective_from: String,
    source: Arc<str>,
    tier: Option<String>,
}

/// One LLM call as read and priced from its own span.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    status: PricingStatus,
    /// Catalog id when priced, else the model as the span says (for `by_model`).
    label: Arc<str>,
    cost: Option<CostBreakdown>,
    provided: Option<crate::usage::ProvidedCost>,
    usage: Option<Usage>,
    provenance: Option<Provenance>,
    reason: Option<String>,
}

impl Call {
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
pub(crate) enum Own {
    /// Not an LLM call.
    Nothing,
    /// Agent / workflow / chain with usage of its own: not counted.
    Aggregate,
    /// An LLM call.
    Call(Box<Call>),
}

impl Own {
    /// `true` when nothing is written for the span unless its children bring totals.
    pub(crate) fn is_nothing(&self) -> bool {
        matches!(self, Own::Nothing)
    }
}

/// Spend of one model within a subtree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelShare {
    /// Catalog id (or the span's model for provided costs).
    pub model: Arc<str>,
    /// Calls.
    pub calls: u32,
    /// Cost.
    pub cost: Usd,
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
        self.input_tokens = self.input_tokens.saturating_add(o.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(o.output_tokens);
        self.incomplete |= o.incomplete;
        for m in &o.by_model {
            self.add_model(&m.model, m.calls, m.cost);
        }
    }

    fn add_model(&mut self, model: &Arc<str>, calls: u32, cost: Usd) {
        match self.by_model.iter_mut().find(|x| x.model == *model) {
            Some(x) => {
                x.calls = x.calls.saturating_add(calls);
                x.cost += cost;
            }
            None => self.by_model.push(ModelShare {
                model: model.clone(),
                calls,
                cost,
            }),
        }
    }

    fn add_call(&mut self, c: &Call) {
        self.calls = self.calls.saturating_add(1);
        if let Some(u) = &c.usage {
            self.input_tokens = self.input_tokens.saturating_add(u.input_total);
            self.output_tokens = self.output_tokens.saturating_add(u.output_total);
        }
        match c.total() {
            Some(total) => {
                let (i, o) = c.input_output();
                self.cost += total;
                self.input_cost += i;
                self.output_cost += o;
                self.add_model(&c.label, 1, total);
            }
            None => self.unpriced = self.unpriced.saturating_add(1),
        }
    }

    /// `by_model` sorted by spend (then name), with percentages of the priced total, one decimal,
    /// summing to exactly 100 (largest remainder).
    pub fn by_model_sorted(&self) -> Vec<(ModelShare, f64)> {
        let mut v = self.by_model.clone();
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

/// Counters of what the engine did. A snapshot is a [`StatsSnapshot`].
#[derive(Debug, Default)]
pub struct Stats {
    pub(crate) spans: AtomicU64,
    pub(crate) priced: AtomicU64,
    pub(crate) provided: AtomicU64,
    pub(crate) unknown_model: AtomicU64,
    pub(crate) invalid_usage: AtomicU64,
    pub(crate) duplicate: AtomicU64,
    pub(crate) aggregate: AtomicU64,
    pub(crate) late: AtomicU64,
    pub(crate) evicted: AtomicU64,
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
            spans: g(&self.spans),
            priced: g(&self.priced),
            provided: g(&self.provided),
            unknown_model: g(&self.unknown_model),
            invalid_usage: g(&self.invalid_usage),
            duplicate: g(&self.duplicate),
            aggregate: g(&self.aggregate),
            late: g(&self.late),
            evicted: g(&self.evicted),
        }
    }
}

/// Prices spans and writes cost attributes. Shared by the processor and the gateway.
#[derive(Debug)]
pub struct Engine {
    catalog: Arc<Catalog>,
    opts: EngineOptions,
    keys: Keys,
    stats: Stats,
}

fn first_str<'a, V: SpanView + ?Sized>(span: &'a V, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|key| match span.attr(key) {
        Some(AttrValue::Str(s)) if !s.trim().is_empty() => Some(s),
        _ => None,
    })
}

fn usd_attr(v: Usd) -> OwnedValue {
    OwnedValue::F64(v.as_f64())
}

fn count_attr(v: u64) -> OwnedValue {
    OwnedValue::I64(i64::try_from(v).unwrap_or(i64::MAX))
}

impl Engine {
    /// An engine over a catalog.
    pub fn new(catalog: Arc<Catalog>, opts: EngineOptions) -> Engine {
        let keys = Keys::new(&opts.prefix);
        Engine {
            catalog,
            opts,
            keys,
            stats: Stats::default(),
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

    /// Reads and prices what the span contributes by itself. Writes nothing.
    pub(crate) fn own<V: SpanView + ?Sized>(&self, span: &V) -> Own {
        self.stats.spans.fetch_add(1, Ordering::Relaxed);
        let provider_of = || first_str(span, &k::PROVIDER_KEYS).map(crate::provider::canonical);
        let ex = extract(span, &self.opts.extract, provider_of);
        if ex.aggregate && ex.usage != UsageState::None {
            return Own::Aggregate;
        }
        let label = || -> Arc<str> { first_str(span, &k::MODEL_KEYS).unwrap_or("unknown").into() };
        let keep_provided = ex
            .provided
            .filter(|_| !self.opts.reprice_provided && !ex.aggregate);
        let usage = match ex.usage {
            UsageState::None => {
                return match keep_provided {
                    Some(p) => Own::Call(Box::new(Call {
                        status: PricingStatus::Provided,
                        label: label(),
                        cost: None,
                        provided: Some(p),
                        usage: None,
                        provenance: None,
                        reason: None,
                    })),
                    None => Own::Nothing,
                }
            }
            UsageState::Invalid(reason) => {
                let (status, provided) = match keep_provided {
                    Some(p) => (PricingStatus::Provided, Some(p)),
                    None => (PricingStatus::InvalidUsage, None),
                };
                return Own::Call(Box::new(Call {
                    status,
                    label: label(),
                    cost: None,
                    provided,
                    usage: None,
                    provenance: None,
                    reason: (status == PricingStatus::InvalidUsage).then_some(reason),
                }));
            }
            UsageState::Valid(u) => u,
        };
        if let Some(p) = keep_provided {
            return Own::Call(Box::new(Call {
                status: PricingStatus::Provided,
                label: label(),
                cost: None,
                provided: Some(p),
                usage: Some(usage),
                provenance: None,
                reason: None,
            }));
        }
        let Some(model) = first_str(span, &k::MODEL_KEYS) else {
            return Own::Call(Box::new(Call {
                status: PricingStatus::UnknownModel,
                label: "unknown".into(),
                cost: None,
                provided: None,
                usage: Some(usage),
                provenance: None,
                reason: Some("no model attribute".into()),
            }));
        };
        let provider = first_str(span, &k::PROVIDER_KEYS);
        let tier = first_str(span, &k::SERVICE_TIER_KEYS).and_then(ServiceTier::parse);
        let at = i64::try_from(span.start_unix_nanos() / 1_000_000_000).unwrap_or(i64::MAX);
        match self.catalog.price(model, provider, &usage, at, tier) {
            Ok(p) => Own::Call(Box::new(Call {
                status: PricingStatus::Priced,
                label: p.model.id.clone(),
                cost: Some(p.cost),
                provided: None,
                usage: Some(usage),
                provenance: Some(Provenance {
                    model: p.model.id.clone(),
                    effective_from: p
                        .price
                        .effective_from
                        .map_or_else(|| "initial".to_owned(), |d| d.to_string()),
                    source: p.price.source.clone(),
                    tier: p.applied.label(),
                }),
                reason: None,
            })),
            Err(e) => Own::Call(Box::new(Call {
                status: PricingStatus::UnknownModel,
                label: model.into(),
                cost: None,
                provided: None,
                usage: Some(usage),
                provenance: None,
                reason: Some(e.to_string()),
            })),
        }
    }

    /// Decides the span's status given its children's totals, writes its attributes, and returns
    /// its subtree's totals. `root`: write the root-only attributes; `complete`: whether the
    /// driver believes nothing of the subtree is missing.
    pub(crate) fn finish<V: SpanView + ?Sized>(
        &self,
        span: &mut V,
        own: Own,
        children: Totals,
        root: bool,
        complete: bool,
    ) -> Totals {
        let mut subtree = children;
        match own {
            Own::Nothing => {}
            Own::Aggregate => self.write_status(span, PricingStatus::Aggregate, None),
            Own::Call(call) => {
                if subtree.calls > 0 {
                    // The innermost call wins (the SDK's own span under the instrumentation's).
                    self.write_status(span, PricingStatus::Duplicate, None);
                } else {
                    self.write_call(span, &call);
                    subtree.add_call(&call);
                }
            }
        }
        if subtree.calls > 0 {
            self.write_rollup(span, &subtree);
            if root {
                let k = &self.keys;
                if !subtree.by_model.is_empty() {
                    span.set_attr(&k.by_model, OwnedValue::Str(subtree.by_model_json()));
                }
                span.set_attr(
                    &k.complete,
                    OwnedValue::Bool(complete && !subtree.incomplete),
                );
            }
        }
        subtree
    }

    fn write_status<V: SpanView + ?Sized>(
        &self,
        span: &mut V,
        s: PricingStatus,
        reason: Option<&str>,
    ) {
        self.stats.bump(s);
        span.set_attr(&self.keys.status, OwnedValue::Str(s.as_str().to_owned()));
        if let Some(r) = reason {
            span.set_attr(&self.keys.reason, OwnedValue::Str(r.to_owned()));
        }
    }

    fn write_call<V: SpanView + ?Sized>(&self, span: &mut V, call: &Call) {
        self.write_status(span, call.status, call.reason.as_deref());
        let k = &self.keys;
        if let Some(c) = &call.cost {
            span.set_attr(k::LLM_COST_PROMPT, usd_attr(c.prompt()));
            span.set_attr(k::LLM_COST_COMPLETION, usd_attr(c.completion()));
            span.set_attr(k::LLM_COST_TOTAL, usd_attr(c.total()));
            for (key, v) in [
                (k::LLM_COST_PROMPT_INPUT, c.input),
                (k::LLM_COST_PROMPT_CACHE_READ, c.cache_read),
                (k::LLM_COST_PROMPT_CACHE_WRITE, c.cache_write),
                (k::LLM_COST_PROMPT_AUDIO, c.audio_input),
                (k::LLM_COST_COMPLETION_OUTPUT, c.output),
                (k::LLM_COST_COMPLETION_REASONING, c.reasoning),
                (k::LLM_COST_COMPLETION_AUDIO, c.audio_output),
            ] {
                if !v.is_zero() {
                    span.set_attr(key, usd_attr(v));
                }
            }
        }
        if let Some(p) = &call.provenance {
            span.set_attr(&k.model, OwnedValue::Str(p.model.to_string()));
            span.set_attr(&k.effective_from, OwnedValue::Str(p.effective_from.clone()));
            span.set_attr(&k.source, OwnedValue::Str(p.source.to_string()));
            if let Some(t) = &p.tier {
                span.set_attr(&k.tier, OwnedValue::Str(t.clone()));
            }
            span.set_attr(
                &k.catalog,
                OwnedValue::Str(self.catalog.info().version.to_string()),
            );
        }
    }

    fn write_rollup<V: SpanView + ?Sized>(&self, span: &mut V, t: &Totals) {
        let k = &self.keys;
        if t.calls > t.unpriced {
            span.set_attr(&k.total_usd, usd_attr(t.cost));
            span.set_attr(&k.input_usd, usd_attr(t.input_cost));
            span.set_attr(&k.output_usd, usd_attr(t.output_cost));
        }
        span.set_attr(&k.llm_calls, count_attr(u64::from(t.calls)));
        span.set_attr(&k.input_tokens, count_attr(t.input_tokens));
        span.set_attr(&k.output_tokens, count_attr(t.output_tokens));
        if t.unpriced > 0 {
            span.set_attr(&k.unpriced_calls, count_attr(u64::from(t.unpriced)));
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
        let mut index: HashMap<[u8; 8], usize> = HashMap::with_capacity(n);
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
            let subtree = self.finish(&mut spans[i], own, kids, is_root, complete);
            match parent[i] {
                Some(p) => acc[p].add(&subtree),
                None => roots.push((i, subtree)),
            }
        }
        roots
    }
}
