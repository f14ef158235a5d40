//! The engine, written once for both drivers. Its files follow the data flow, each one job,
//! and none imports one after it:
//!
//! ```text
//! SpanView -> usage (extraction, normalisation) -> price (the span's own call: catalog lookup
//!          by model, provider, start time) -> rollup (subtree Totals, by model) -> duplicate
//!          (what a span repeating the call below adds) -> verdicts (budgets, anomaly, on a
//!          root) -> write (attributes) -> observers
//! ```
//!
//! - `usage`: reads token counts, model and provider keys, a provided cost from a span.
//! - `price`: the span's own contribution ([`PricingStatus`], a priced call and its provenance).
//! - `rollup`: [`Totals`] of a subtree, spend by model ([`ModelShare`], [`TokenCounts`]).
//! - `duplicate`: what a call span repeating the call below it adds to it (DESIGN §3).
//! - `response_body`: tool calls counted from OpenInference's `output.value` (`price`'s hook).
//! - `verdicts`: budgets and anomaly baselines judging a finished trace; its observers.
//! - `write`: every attribute written, under keys built once; the `cost.by_model` JSON.
//! - `walk`: a set of spans as a forest, children first ([`Engine::price_trace`]).
//! - `stats`: what the engine did ([`Stats`]).
//! - this file: [`Engine`] and its options, which run the stages in order.
//!
//! The processor calls `Engine::own` and `Engine::finish` span by span as they end, with a
//! ledger holding children's totals; the gateway calls [`Engine::price_trace`] on a whole trace.
//! The catalog is swappable at run time ([`Engine::replace_catalog`], live prices): a
//! `CatalogPin` holds the snapshot a span (processor) or a whole trace (gateway) is priced with.

mod duplicate;
mod price;
mod response_body;
mod rollup;
mod stats;
pub(crate) mod usage;
mod verdicts;
mod walk;
mod write;

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use crate::pricing::Catalog;
use crate::semconv as k;
use crate::span_view::SpanView;
use duplicate::Extra;
use price::{CallPricer, OwnKind, Snapshot};
use verdicts::Judge;
use walk::Forest;
use write::{Keys, Writer};

pub use price::PricingStatus;
pub(crate) use price::{CatalogPin, Own};
pub(crate) use rollup::Subtree;
pub use rollup::{CostByKind, ModelShare, TokenCounts, Totals};
pub use stats::{Stats, StatsSnapshot};
pub use usage::{ExtractOptions, InputCounting};
pub use verdicts::{
    AnomalyOptions, BudgetRule, TraceObserver, TraceSummary, Verdicts, DEFAULT_ANOMALY_MIN_SAMPLES,
    DEFAULT_ANOMALY_THRESHOLD, DEFAULT_ANOMALY_WINDOW, DEFAULT_MAX_LABEL_BYTES,
    DEFAULT_MAX_WORKFLOWS,
};

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

/// Prices spans and writes cost attributes. Shared by the processor and the gateway.
#[derive(Debug)]
pub struct Engine {
    /// Reads and prices a span's own call (holds the catalog in use, swappable).
    pricer: CallPricer,
    keys: Keys,
    stats: Stats,
    judge: Judge,
    /// Observers of finished traces.
    observers: Vec<Arc<dyn TraceObserver>>,
    /// Anything to do for a finished trace: a budget or anomaly rule, or an observer.
    after_trace: bool,
    /// `service.name` for spans whose representation does not carry it (set_resource).
    default_service: RwLock<Option<Arc<str>>>,
}

impl Engine {
    /// An engine over a catalog.
    pub fn new(catalog: Arc<Catalog>, opts: EngineOptions) -> Engine {
        let EngineOptions {
            prefix,
            reprice_provided,
            extract,
            budgets,
            anomaly,
            observers,
        } = opts;
        let keys = Keys::new(&prefix);
        let judge = Judge::new(budgets, anomaly);
        let after_trace = judge.active() || !observers.is_empty();
        Engine {
            pricer: CallPricer::new(catalog, extract, prefix, reprice_provided),
            keys,
            stats: Stats::default(),
            judge,
            observers,
            after_trace,
            default_service: RwLock::new(None),
        }
    }

    /// The catalog in use now.
    pub fn catalog(&self) -> Arc<Catalog> {
        Arc::clone(&self.pricer.catalog.load().catalog)
    }

    /// Replaces the catalog in use with one atomic pointer change, and returns the one it
    /// replaces. Pricing never waits for it: a span or trace being priced keeps the catalog it
    /// started with (its catalog pin), later ones get `catalog`, and `cost.pricing.catalog`
    /// names the one that priced each span.
    pub fn replace_catalog(&self, catalog: Arc<Catalog>) -> Arc<Catalog> {
        let old = self.pricer.catalog.swap(Arc::new(Snapshot::of(catalog)));
        Arc::clone(&old.catalog)
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// `service.name` reported to observers for spans that do not carry their resource.
    pub fn set_default_service(&self, name: Option<&str>) {
        // A poisoned lock is taken as it is: the value is replaced whole, never half-written.
        *self
            .default_service
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = name.map(Into::into);
    }

    /// Reads and prices what the span contributes by itself. Writes nothing. `pin`: the
    /// catalog snapshot (one per span, or one per trace priced whole).
    // Inline: the processor's `enrich` and `price_trace` build the (large) `Own` in place.
    #[inline]
    pub(crate) fn own<'a, V: SpanView + ?Sized>(
        &'a self,
        pin: &'a CatalogPin,
        span: &V,
    ) -> Own<'a> {
        self.stats.spans.bump();
        self.pricer.own(pin, span, &self.stats)
    }

    /// Decides the span's status given its children's totals, writes its attributes, and returns
    /// its subtree's totals. `pin`: the catalog snapshot `own` was priced with; `root`: write
    /// the root-only attributes; `complete`: whether the driver believes nothing of the subtree
    /// is missing. `own` is borrowed (not moved: a `Call` is a few hundred bytes) by the
    /// subtree, which makes of it what a duplicate above needs only if a parent can use it.
    #[inline]
    pub(crate) fn finish<'e, V: SpanView + ?Sized>(
        &'e self,
        pin: &CatalogPin,
        span: &mut V,
        own: &'e Own<'e>,
        children: Totals,
        root: bool,
        complete: bool,
    ) -> Subtree<'e> {
        let mut subtree = Subtree::of(children);
        let w = Writer::new(&self.keys, own.rewrite);
        w.reserve(span, &own.kind, subtree.calls() > 0, root);
        match &own.kind {
            OwnKind::Nothing => {}
            OwnKind::Aggregate => {
                self.status(&w, span, PricingStatus::Aggregate, None);
            }
            OwnKind::Call(call) => {
                if subtree.calls() > 0 {
                    // The innermost call wins (the SDK's own span under the instrumentation's);
                    // what only this span records is added to it (engine/duplicate.rs).
                    self.duplicate(pin, &w, span, call, &mut subtree);
                } else {
                    self.status(&w, span, call.status, call.reason.as_deref());
                    // Counted first: the writer takes the cost as the roll-up summed it.
                    let sides = subtree.add_call(call);
                    w.call_summed(span, call, sides);
                }
            }
        }
        if subtree.calls() > 0 {
            w.rollup(span, subtree.totals());
            if root {
                // The share held aside joins the totals in place: the subtree is not moved out
                // and back, and one value is returned on every path (built where the caller
                // receives it: a few hundred bytes not copied; benches/processor.rs `on_end/llm`).
                subtree.flush_share();
                let t = subtree.totals();
                let complete = complete && !t.incomplete;
                w.root(span, t, complete);
                self.stats.traces.fetch_add(1, Ordering::Relaxed);
                if self.after_trace {
                    self.finish_trace(&w, span, t, complete);
                }
            }
        }
        subtree
    }

    /// A call span with a counted call below it: status `duplicate`, and what it adds to the
    /// call below, written and rolled up once (engine/duplicate.rs).
    fn duplicate<'e, V: SpanView + ?Sized>(
        &'e self,
        pin: &CatalogPin,
        w: &Writer<'_>,
        span: &mut V,
        call: &price::Call<'_>,
        subtree: &mut Subtree<'e>,
    ) {
        let extra = duplicate::extra(
            || self.pricer.snapshot(pin),
            call,
            subtree.one_call(),
            subtree.calls(),
        );
        match extra {
            Extra::Nothing => self.status(w, span, PricingStatus::Duplicate, None),
            Extra::Note(why) => self.status(w, span, PricingStatus::Duplicate, Some(&why)),
            Extra::Same(below) => {
                self.status(w, span, PricingStatus::Duplicate, None);
                subtree.set_below(below);
            }
            Extra::Charge { call, below } => {
                self.status(w, span, PricingStatus::Duplicate, call.reason.as_deref());
                w.call(span, &call);
                if let (Some(cost), Some(p)) = (&call.cost, &call.provenance) {
                    subtree.add_charge(cost, &p.model.id, &p.model.provider, below);
                }
            }
        }
    }

    /// Budgets, anomaly and observers for a finished trace's root.
    fn finish_trace<V: SpanView + ?Sized>(
        &self,
        w: &Writer<'_>,
        span: &mut V,
        t: &Totals,
        complete: bool,
    ) {
        let workflow = span.name().to_owned();
        let v = self.judge.judge(&workflow, span, t);
        w.verdicts(span, &v, t.cost);
        if v.budget.as_ref().is_some_and(|b| b.2) {
            self.stats.budget_exceeded.fetch_add(1, Ordering::Relaxed);
        }
        if v.anomaly.is_some() && v.anomalous {
            self.stats.anomalies.fetch_add(1, Ordering::Relaxed);
        }
        if !self.observers.is_empty() {
            let default_service = self
                .default_service
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
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
            for o in &self.observers {
                o.on_trace(&summary);
            }
        }
    }

    /// Counts the span's status and writes it.
    fn status<V: SpanView + ?Sized>(
        &self,
        w: &Writer<'_>,
        span: &mut V,
        s: PricingStatus,
        reason: Option<&str>,
    ) {
        self.stats.bump(s);
        w.status(span, s, reason);
    }

    /// Prices a whole trace (or any set of spans): builds the tree from parent links, walks it
    /// children first, writes every span's attributes. Spans whose parent is not in the set are
    /// roots of their own, marked incomplete; parent cycles and self-parents are cut.
    /// `complete`: whether the caller believes the set is the whole trace. The whole set is
    /// priced by one catalog, even if it is replaced meanwhile.
    pub fn price_trace<V: SpanView>(
        &self,
        spans: &mut [V],
        complete: bool,
    ) -> Vec<(usize, Totals)> {
        let Forest {
            parent,
            orphan,
            order,
        } = Forest::of(spans);
        // Each made, not cloned (`vec![t; n]` clones `Totals` n - 1 times).
        let mut acc: Vec<Totals> = std::iter::repeat_with(Totals::default)
            .take(spans.len())
            .collect();
        // Most sets are one trace: room for its root, made once (not `push`'s first growth).
        let mut roots = Vec::with_capacity(1);
        let pin = CatalogPin::default();
        for i in order {
            let own = self.own(&pin, &spans[i]);
            let mut kids = std::mem::take(&mut acc[i]);
            if orphan[i] {
                kids.incomplete = true;
            }
            let is_root = parent[i].is_none();
            let subtree = self.finish(&pin, &mut spans[i], &own, kids, is_root, complete);
            match parent[i] {
                Some(p) => subtree.add_to(&mut acc[p]),
                // `finish` joined a root's own call to its totals already: its `below` (if
                // any) is in them, and nothing is to be made of the call (`into_totals` would
                // take it out and put it back).
                None => roots.push((i, subtree.into_root_totals())),
            }
        }
        roots
    }
}
