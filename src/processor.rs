//! `CostSpanProcessor`: prices finished spans in process and rolls costs up to their ancestors.
//! `CostSpanExporter`: the same pricing placed in front of an exporter, so that it runs on the
//! export thread (a `BatchSpanProcessor`'s worker) instead of the thread that ends the span.
//!
//! ```text
//! span ends -> on_end(SpanData) -> Engine::own -> ledger.take(children) -> Engine::finish
//!           -> ledger.add(parent, subtree) -> inner.on_end(span)   (always forwarded)
//! batch     -> export(Vec<SpanData>) -> the same, span by span in end order -> inner.export(batch)
//! ```

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use opentelemetry_sdk::Resource;

use crate::analytics::MetricLimits;
use crate::engine::{
    AnomalyOptions, BudgetRule, CatalogPin, Engine, EngineOptions, InputCounting, Stats,
    StatsSnapshot, Subtree, Totals, TraceObserver,
};
use crate::metrics::CostMetrics;
use crate::pricing::{Catalog, CatalogError, PriceLayers};
use crate::refresh::CatalogRefresher;
use crate::span_view::SpanView;

/// Default bound on open ledger entries (parents waiting for their own end).
pub const DEFAULT_LEDGER_CAPACITY: usize = 100_000;
/// Default age after which a ledger entry whose parent never ended is dropped (and counted).
pub const DEFAULT_LEDGER_TTL: Duration = Duration::from_secs(300);

/// Slots of the lock-free filters (power of two).
const FILTER_BITS: u32 = 12;
const FILTER_SLOTS: usize = 1 << FILTER_BITS;

/// Ledger key: (trace id, span id of the parent waiting for its children's totals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key([u8; 16], [u8; 8]);

/// Hashes a [`Key`] as one `u64`: the span id (generated in this process by the SDK's random
/// id generator, so not chosen by a remote peer) folded with the trace id, then mixed once.
/// SipHash, the `HashMap` default, costs ~100 instructions per 24-byte key and buys
/// flooding resistance these keys do not need; the map keyed by trace ids alone (which a
/// remote parent does choose) keeps SipHash.
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let t = u128::from_le_bytes(self.0);
        let folded = (t as u64) ^ ((t >> 64) as u64).rotate_left(32);
        state.write_u64(u64::from_le_bytes(self.1) ^ folded);
    }
}

/// The hasher of [`Key`]: one multiply and a fold of the `u64` it is given (both the high
/// bits hashbrown's control bytes use and the low bits its index uses depend on every input
/// bit).
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Not used by `Key`; a plain fold keeps the hasher total.
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u64(&mut self, x: u64) {
        let h = (self.0 ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 32);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type IdMap<V> = HashMap<Key, V, BuildHasherDefault<IdHasher>>;

fn slot(span_id: &[u8; 8]) -> usize {
    let x = u64::from_le_bytes(*span_id);
    let x = (x ^ (x >> 31)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> (64 - FILTER_BITS)) as usize
}

struct Entry {
    totals: Totals,
    created: Instant,
}

#[derive(Default)]
struct LedgerInner {
    map: IdMap<Entry>,
    /// Insertion order, for age and size eviction; may hold stale keys (already taken).
    order: VecDeque<(Key, Instant)>,
    /// Traces that lost an entry to eviction: their roots are marked incomplete.
    incomplete: HashMap<[u8; 16], Instant>,
}

/// Children's totals waiting for their parent to end. Bounded in size and age.
struct Ledger {
    inner: Mutex<LedgerInner>,
    /// Per-slot count of entries whose span id hashes there: zero means "surely absent", so
    /// spans without children never take the lock.
    pending: Box<[AtomicU32]>,
    /// Span ids recently forwarded (one per slot, lossy): a child whose parent is here is late.
    ended: Box<[AtomicU64]>,
    capacity: usize,
    ttl: Duration,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("capacity", &self.capacity)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Ledger {
    fn new(capacity: usize, ttl: Duration) -> Ledger {
        Ledger {
            inner: Mutex::new(LedgerInner::default()),
            pending: (0..FILTER_SLOTS).map(|_| AtomicU32::new(0)).collect(),
            ended: (0..FILTER_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            capacity: capacity.max(1),
            ttl,
        }
    }

    /// The entries, locked. A lock poisoned by a panic while it was held is an error, counted in
    /// `stats` (`poisoned_locks`), and the ledger recovers from it: the panic may have left an
    /// entry half-added, or the map, the order and the filters out of step, so every pending
    /// entry is dropped and its trace marked incomplete (a root that still gets totals says so
    /// instead of carrying a wrong sum; as after an eviction, one left with none carries no
    /// cost) and the ledger goes on empty. The `pending` filters keep their counts, so the
    /// dropped entries' parents still look here and learn their trace is incomplete; a count
    /// left too high only costs those slots a lock.
    // Inline: the taken lock is the common case (every span with a parent waiting, or with
    // children); the recovery is out of line.
    #[inline]
    fn lock(&self, stats: &Stats) -> MutexGuard<'_, LedgerInner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => self.recover(p, stats),
        }
    }

    /// [`Ledger::lock`]'s recovery from a poisoned lock.
    #[cold]
    #[inline(never)]
    fn recover<'a>(
        &'a self,
        p: PoisonError<MutexGuard<'a, LedgerInner>>,
        stats: &Stats,
    ) -> MutexGuard<'a, LedgerInner> {
        stats.poisoned_lock();
        self.inner.clear_poison();
        let mut g = p.into_inner();
        let now = Instant::now();
        let LedgerInner {
            map,
            order,
            incomplete,
        } = &mut *g;
        for (k, _) in map.drain() {
            incomplete.insert(k.0, now);
        }
        order.clear();
        g
    }

    /// Removes and returns the totals of `key`'s children, and whether its trace lost entries.
    fn take(&self, key: &Key, stats: &Stats) -> (Option<Totals>, bool) {
        if self.pending[slot(&key.1)].load(Ordering::Acquire) == 0 {
            return (None, false);
        }
        let mut g = self.lock(stats);
        let t = g.map.remove(key).map(|e| e.totals);
        if t.is_some() {
            self.pending[slot(&key.1)].fetch_sub(1, Ordering::AcqRel);
        }
        let lost = g.incomplete.contains_key(&key.0);
        (t, lost)
    }

    fn mark_ended(&self, span_id: &[u8; 8]) {
        self.ended[slot(span_id)].store(u64::from_le_bytes(*span_id), Ordering::Release);
    }

    fn has_ended(&self, span_id: &[u8; 8]) -> bool {
        self.ended[slot(span_id)].load(Ordering::Acquire) == u64::from_le_bytes(*span_id)
    }

    /// Adds a child's subtree to its parent's entry (taken from `t`, read in place: a subtree
    /// is not copied to be handed over). Returns the number of entries evicted. `now` is read
    /// only when a new entry is made.
    fn add(
        &self,
        key: Key,
        t: &mut Subtree<'_>,
        now: impl FnOnce() -> Instant,
        stats: &Stats,
    ) -> u64 {
        let mut g = self.lock(stats);
        let mut evicted = 0;
        if let Some(e) = g.map.get_mut(&key) {
            t.add_into(&mut e.totals);
            return 0;
        }
        let now = now();
        // Age, then size.
        while let Some(&(k, created)) = g.order.front() {
            let live = g.map.get(&k).is_some_and(|e| e.created == created);
            if !live {
                g.order.pop_front();
                continue;
            }
            let expired = now.saturating_duration_since(created) > self.ttl;
            if !expired && g.map.len() < self.capacity {
                break;
            }
            g.order.pop_front();
            g.map.remove(&k);
            self.pending[slot(&k.1)].fetch_sub(1, Ordering::AcqRel);
            g.incomplete.insert(k.0, now);
            evicted += 1;
        }
        if g.incomplete.len() > self.capacity {
            let ttl = self.ttl;
            g.incomplete
                .retain(|_, t| now.saturating_duration_since(*t) <= ttl);
        }
        g.map.insert(
            key,
            Entry {
                totals: std::mem::take(t).into_totals(),
                created: now,
            },
        );
        self.pending[slot(&key.1)].fetch_add(1, Ordering::AcqRel);
        g.order.push_back((key, now));
        if g.order.len() > 2 * self.capacity + 1024 {
            let LedgerInner { map, order, .. } = &mut *g;
            order.retain(|(k, c)| map.get(k).is_some_and(|e| e.created == *c));
        }
        evicted
    }

    /// Entries waiting. Only reads: a poisoned lock is left for the next write to count and
    /// recover from, and read as it is.
    fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .len()
    }
}

/// The pricing state both placements share: engine, ledger of children's totals, and the count
/// of internal errors caught.
#[derive(Debug)]
struct Pricer {
    engine: Arc<Engine>,
    ledger: Ledger,
    panics: AtomicU64,
    /// The live catalog's refresher, when configured.
    refresher: Option<Arc<CatalogRefresher>>,
    /// Its thread; stops when this is dropped.
    #[cfg(feature = "live")]
    _refresh_thread: Option<crate::refresh::RefreshThread>,
}

/// Replaces the catalog of a [`CostSpanProcessor`] or [`CostSpanExporter`] at run time (get it
/// with `catalog_handle()` before handing the processor to the SDK). The swap is one atomic
/// pointer change: spans being priced finish with the catalog they started with, later spans
/// get the new one, and `cost.pricing.catalog` names the catalog that priced each span.
///
/// ```
/// use std::sync::Arc;
/// use otel_llm_cost::{Catalog, CostSpanProcessor};
/// # use opentelemetry_sdk::trace::SimpleSpanProcessor;
/// # use opentelemetry_sdk::testing::trace::NoopSpanExporter;
/// let processor = CostSpanProcessor::builder(SimpleSpanProcessor::new(NoopSpanExporter::new()))
///     .build()
///     .unwrap();
/// let handle = processor.catalog_handle();
/// let mine = Catalog::builder()
///     .with_overrides_toml("prices", "[[models]]\nid = \"acme-7b\"\nprovider = \"acme\"\n[[models.prices]]\ninput = 1\noutput = 2\n")
///     .build()
///     .unwrap();
/// handle.replace(Arc::new(mine));
/// assert!(handle.current().get("acme-7b").is_some());
/// ```
#[derive(Debug, Clone)]
pub struct CatalogHandle {
    engine: Arc<Engine>,
    refresher: Option<Arc<CatalogRefresher>>,
}

impl CatalogHandle {
    /// The catalog in use now.
    pub fn current(&self) -> Arc<Catalog> {
        self.engine.catalog()
    }

    /// Puts `catalog` in use; returns the one it replaces.
    pub fn replace(&self, catalog: Arc<Catalog>) -> Arc<Catalog> {
        self.engine.replace_catalog(catalog)
    }

    /// Refreshes from the live sources now (with [`CostBuilder::with_live_catalog`]; without,
    /// re-reads nothing and returns `None`). Blocking: fetches and builds.
    pub fn refresh(
        &self,
    ) -> Option<Result<crate::refresh::Refreshed, crate::pricing::live::RefreshError>> {
        self.refresher.as_ref().map(|r| r.refresh(&self.engine))
    }

    /// The live catalog's refresher (status, outcomes), when configured.
    pub fn refresher(&self) -> Option<&Arc<CatalogRefresher>> {
        self.refresher.as_ref()
    }
}

impl Pricer {
    fn enrich(&self, span: &mut SpanData) {
        let pin = CatalogPin::default();
        let own = self.engine.own(&pin, span);
        let trace = span.trace_id();
        let id = span.span_id();
        let (children, lost) = self.ledger.take(&Key(trace, id), self.engine.stats());
        let parent = span.parent_span_id();
        // Matched, not tested then unwrapped: the path of a span with nothing to price drops no
        // `Totals` (an out-of-line drop of `None`, benches/processor.rs `on_end/plain`).
        let children = match children {
            Some(t) => t,
            None if own.is_nothing() => {
                self.ledger.mark_ended(&id);
                return;
            }
            None => Totals::default(),
        };
        let root = parent.is_none() || span.parent_is_remote();
        let mut subtree = self.engine.finish(&pin, span, &own, children, root, !lost);
        if let (Some(p), false) = (parent, root) {
            if subtree.calls() > 0 {
                if self.ledger.has_ended(&p) {
                    // The parent was already forwarded: this cost cannot reach it any more.
                    self.engine.stats().late.fetch_add(1, Ordering::Relaxed);
                } else {
                    let evicted = self.ledger.add(
                        Key(trace, p),
                        &mut subtree,
                        Instant::now,
                        self.engine.stats(),
                    );
                    self.engine
                        .stats()
                        .evicted
                        .fetch_add(evicted, Ordering::Relaxed);
                }
            }
        }
        self.ledger.mark_ended(&id);
    }

    /// Prices `span`. Pricing never stops a span: a panic inside is caught and counted, and the
    /// caller forwards the span whatever happened.
    #[inline]
    fn price(&self, span: &mut SpanData) {
        if catch_unwind(AssertUnwindSafe(|| self.enrich(span))).is_err() {
            self.panics.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Takes the default `service.name` (for cost labels) from the provider's resource.
    fn set_resource(&self, resource: &Resource) {
        let service = resource.get(&opentelemetry::Key::from_static_str("service.name"));
        self.engine
            .set_default_service(service.map(|v| v.as_str().into_owned()).as_deref());
    }
}

/// What both placements report about themselves.
macro_rules! pricing_accessors {
    () => {
        /// What the pricing has done so far (spans, priced, unpriced by reason, late, evicted,
        /// poisoned locks).
        pub fn stats(&self) -> StatsSnapshot {
            self.pricer.engine.stats().snapshot()
        }

        /// The engine (catalog and options) in use.
        pub fn engine(&self) -> &Arc<Engine> {
            &self.pricer.engine
        }

        /// A handle to replace the catalog at run time (and, with a live catalog, to refresh
        /// it now and read its refresh outcomes).
        pub fn catalog_handle(&self) -> CatalogHandle {
            CatalogHandle {
                engine: Arc::clone(&self.pricer.engine),
                refresher: self.pricer.refresher.clone(),
            }
        }

        /// Ledger entries currently waiting for their parent span to end.
        pub fn pending_parents(&self) -> usize {
            self.pricer.ledger.len()
        }

        /// Internal errors caught while pricing (the span was still forwarded). Always 0
        /// unless a bug.
        pub fn internal_errors(&self) -> u64 {
            self.pricer.panics.load(Ordering::Relaxed)
        }
    };
}

/// A `SpanProcessor` that prices LLM spans, rolls costs up to every ancestor and the root, and
/// hands every span on to the processor it wraps (usually a `BatchSpanProcessor` over OTLP).
///
/// ```no_run
/// use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanExporter};
/// use otel_llm_cost::{CatalogError, CostSpanProcessor};
///
/// fn provider(exporter: impl SpanExporter + 'static) -> Result<SdkTracerProvider, CatalogError> {
///     Ok(SdkTracerProvider::builder()
///         .with_span_processor(CostSpanProcessor::new(BatchSpanProcessor::builder(exporter).build())?)
///         .build())
/// }
/// ```
///
/// Pricing runs in `on_end`, on the thread that ends the span. To keep it off that thread, wrap
/// the exporter instead: [`CostSpanExporter`].
#[derive(Debug)]
pub struct CostSpanProcessor<P: SpanProcessor> {
    inner: P,
    pricer: Pricer,
}

impl<P: SpanProcessor> CostSpanProcessor<P> {
    /// Wraps `inner` with the embedded catalog and default options.
    pub fn new(inner: P) -> Result<Self, CatalogError> {
        Self::builder(inner).build()
    }

    /// A builder wrapping `inner`.
    pub fn builder(inner: P) -> CostSpanProcessorBuilder<P> {
        CostBuilder::wrapping(inner)
    }

    pricing_accessors!();
}

impl<P: SpanProcessor> SpanProcessor for CostSpanProcessor<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    // Never inlined: the SDK calls it through `dyn SpanProcessor` anyway, and the benches count
    // its instructions by name (an inlined copy in a bench closure has none).
    #[inline(never)]
    fn on_end(&self, mut span: SpanData) {
        self.pricer.price(&mut span);
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn shutdown(&self) -> OTelSdkResult {
        self.inner.shutdown()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.pricer.set_resource(resource);
        self.inner.set_resource(resource);
    }
}

/// A `SpanExporter` that prices each batch, span by span in the order the spans ended, then
/// hands it to the exporter it wraps. The same pricing, roll-up and attributes as
/// [`CostSpanProcessor`], placed behind a `BatchSpanProcessor`: the work runs on the batch
/// processor's export thread, and the thread that ends a span pays nothing for it.
///
/// ```no_run
/// use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanExporter};
/// use otel_llm_cost::{CatalogError, CostSpanExporter};
///
/// fn provider(exporter: impl SpanExporter + 'static) -> Result<SdkTracerProvider, CatalogError> {
///     Ok(SdkTracerProvider::builder()
///         .with_span_processor(BatchSpanProcessor::builder(CostSpanExporter::new(exporter)?).build())
///         .build())
/// }
/// ```
///
/// Roll-up needs the spans of a trace to pass through the same instance, in the order they
/// ended. The SDK's `BatchSpanProcessor` (one worker thread, one queue) and a
/// `SimpleSpanProcessor` do that; the experimental async-runtime batch processor does only with
/// at most one concurrent export (`OTEL_BSP_MAX_CONCURRENT_EXPORTS` unset or 1): otherwise a
/// newer batch can be exported before an older one, and children arriving after their parent
/// are priced alone and counted late.
///
/// What differs from [`CostSpanProcessor`]:
/// - a span the batch processor drops (its queue full) is never priced: its cost is missing
///   from its ancestors, the root's total and the cost metrics, and the root still says
///   `cost.complete=true` (the processor placement prices before the queue, so its totals
///   survive an overloaded queue; size `max_queue_size` for your peak);
/// - observers (`with_observer`, `with_meter`) run on the export thread, where the SDK
///   suppresses telemetry: spans or logs an observer emits are dropped, and a slow observer
///   delays exports.
#[derive(Debug)]
pub struct CostSpanExporter<E: SpanExporter> {
    inner: E,
    pricer: Pricer,
}

impl<E: SpanExporter> CostSpanExporter<E> {
    /// Wraps `inner` with the embedded catalog and default options.
    pub fn new(inner: E) -> Result<Self, CatalogError> {
        Self::builder(inner).build()
    }

    /// A builder wrapping `inner` (the same options as [`CostSpanProcessor::builder`]).
    pub fn builder(inner: E) -> CostSpanExporterBuilder<E> {
        CostBuilder::wrapping(ExporterInner(inner))
    }

    pricing_accessors!();
}

impl<E: SpanExporter> SpanExporter for CostSpanExporter<E> {
    fn export(
        &self,
        mut batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        for span in &mut batch {
            self.pricer.price(span);
        }
        self.inner.export(batch)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn shutdown(&self) -> OTelSdkResult {
        self.inner.shutdown()
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.pricer.set_resource(resource);
        self.inner.set_resource(resource);
    }
}

/// The exporter a [`CostSpanExporter`] will wrap, held by its builder (named by
/// [`CostSpanExporterBuilder`]; nothing to do with it directly).
#[doc(hidden)]
#[derive(Debug)]
pub struct ExporterInner<E>(E);

/// Builds a [`CostSpanProcessor`].
pub type CostSpanProcessorBuilder<P> = CostBuilder<P>;

/// Builds a [`CostSpanExporter`].
pub type CostSpanExporterBuilder<E> = CostBuilder<ExporterInner<E>>;

/// Builds a [`CostSpanProcessor`] or a [`CostSpanExporter`]: catalog, options, ledger bounds.
#[derive(Debug)]
pub struct CostBuilder<T> {
    inner: T,
    catalog: Option<Arc<Catalog>>,
    layers: PriceLayers,
    #[cfg(feature = "live")]
    live: Option<crate::pricing::live::LiveOptions>,
    opts: EngineOptions,
    ledger_capacity: usize,
    ledger_ttl: Duration,
}

impl<T> CostBuilder<T> {
    fn wrapping(inner: T) -> Self {
        CostBuilder {
            inner,
            catalog: None,
            layers: PriceLayers::default(),
            #[cfg(feature = "live")]
            live: None,
            opts: EngineOptions::default(),
            ledger_capacity: DEFAULT_LEDGER_CAPACITY,
            ledger_ttl: DEFAULT_LEDGER_TTL,
        }
    }

    /// Uses this catalog (e.g. one built with [`Catalog::builder`]) instead of the embedded one.
    pub fn with_catalog(mut self, catalog: Arc<Catalog>) -> Self {
        self.catalog = Some(catalog);
        self
    }

    /// Uses a catalog file (written by `otel-llm-cost catalog build`) instead of the embedded
    /// catalog; read and checked when the processor is built. Overrides, imports and aliases
    /// apply on top of it.
    pub fn with_catalog_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.layers.catalog_file = Some(path.into());
        self
    }

    /// Adds an overrides file (TOML) on top of the embedded catalog.
    pub fn with_overrides_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.layers.overrides.push(path.into());
        self
    }

    /// Imports a LiteLLM-format JSON price map on top of the embedded catalog.
    pub fn with_litellm_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.layers.litellm.push(path.into());
        self
    }

    /// Maps an opaque model name (Azure deployment, Bedrock profile ARN) to a catalog id.
    pub fn with_alias(mut self, name: impl Into<String>, model_id: impl Into<String>) -> Self {
        self.layers.aliases.push((name.into(), model_id.into()));
        self
    }

    /// Live prices: the catalog is built from `live.sources` when the processor is built
    /// (sources -> `cache_dir` -> the base catalog, as the gateway starts), then refreshed by a
    /// background thread every `live.refresh_interval` (none for 0), with the gateway's
    /// validation: a refresh that fails keeps the catalog in use and is counted
    /// ([`CatalogHandle::refresher`]). The builder's catalog file, overrides, imports and
    /// aliases are the layers, re-read on each refresh (`live.layers` must then be empty).
    /// Building blocks for at most the fetch `timeout` per source.
    #[cfg(feature = "live")]
    pub fn with_live_catalog(mut self, live: crate::pricing::live::LiveOptions) -> Self {
        self.live = Some(live);
        self
    }

    /// Prefix of the attributes written (default `cost.`).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.opts.prefix = prefix.into();
        self
    }

    /// Re-price spans that already carry a cost instead of keeping it.
    pub fn with_reprice_provided(mut self, yes: bool) -> Self {
        self.opts.reprice_provided = yes;
        self
    }

    /// Forces how an instrumentation scope counts input tokens.
    pub fn with_input_counting_for_scope(
        mut self,
        scope: impl Into<String>,
        c: InputCounting,
    ) -> Self {
        self.opts.extract.by_scope.insert(scope.into(), c);
        self
    }

    /// Forces how a provider's spans count input tokens.
    pub fn with_input_counting_for_provider(mut self, provider: &str, c: InputCounting) -> Self {
        self.opts
            .extract
            .by_provider
            .insert(crate::provider::canonical(provider), c);
        self
    }

    /// Adds a budget rule: traces over it get `cost.budget.exceeded=true` (and an event) on
    /// their root, and are counted.
    pub fn with_budget(mut self, rule: BudgetRule) -> Self {
        self.opts.budgets.push(rule);
        self
    }

    /// Flags traces whose cost is `threshold` times the median of their workflow's recent traces
    /// (`cost.anomaly.ratio`, `cost.anomaly`).
    pub fn with_anomaly_detection(mut self, opts: AnomalyOptions) -> Self {
        self.opts.anomaly = Some(opts);
        self
    }

    /// Cost metrics (`llm.cost`, `llm.cost.by_kind`, `llm.token.usage`, `llm.calls`,
    /// `llm.calls.unpriced`, `llm.traces`) on this meter, with default label limits.
    pub fn with_meter(self, meter: &opentelemetry::metrics::Meter) -> Self {
        self.with_cost_metrics(CostMetrics::new(meter, MetricLimits::default()))
    }

    /// Cost metrics with your own label limits.
    pub fn with_cost_metrics(self, metrics: CostMetrics) -> Self {
        self.with_observer(Arc::new(metrics))
    }

    /// Any observer of finished traces.
    pub fn with_observer(mut self, observer: Arc<dyn TraceObserver>) -> Self {
        self.opts.observers.push(observer);
        self
    }

    /// Bound on ledger entries (default [`DEFAULT_LEDGER_CAPACITY`]).
    pub fn with_ledger_capacity(mut self, n: usize) -> Self {
        self.ledger_capacity = n;
        self
    }

    /// Age bound of ledger entries (default [`DEFAULT_LEDGER_TTL`]).
    pub fn with_ledger_ttl(mut self, ttl: Duration) -> Self {
        self.ledger_ttl = ttl;
        self
    }

    /// Loads the catalog layers and builds the pricing state; returns it with the wrapped part.
    fn build_pricer(self) -> Result<(T, Pricer), CatalogError> {
        #[cfg(feature = "live")]
        if let Some(mut live) = self.live {
            let mixed = |message: &str| CatalogError::Syntax {
                file: "<builder>".into(),
                message: message.into(),
            };
            if self.catalog.is_some() {
                return Err(mixed(
                    "with_catalog cannot be combined with with_live_catalog",
                ));
            }
            if !live.layers.is_empty() && !self.layers.is_empty() {
                return Err(mixed(
                    "give the layers either to the builder or in LiveOptions::layers, not both",
                ));
            }
            if live.layers.is_empty() {
                live.layers = self.layers;
            }
            let refresher = Arc::new(CatalogRefresher::new(live)?);
            // Failures on the way are counted (refresher outcomes); the fallback is used.
            let (catalog, _failures) = refresher.start()?;
            let engine = Arc::new(Engine::new(catalog, self.opts));
            let thread =
                crate::refresh::RefreshThread::spawn(refresher.clone(), Arc::downgrade(&engine))
                    .map_err(|e| mixed(&format!("the catalog refresh thread: {e}")))?;
            let pricer = Pricer {
                engine,
                ledger: Ledger::new(self.ledger_capacity, self.ledger_ttl),
                panics: AtomicU64::new(0),
                refresher: Some(refresher),
                _refresh_thread: thread,
            };
            return Ok((self.inner, pricer));
        }
        let catalog = match (self.catalog, !self.layers.is_empty()) {
            (Some(c), false) => c,
            (None, false) => Catalog::shared()?,
            (base, true) => {
                if base.is_some() {
                    return Err(CatalogError::Syntax {
                        file: "<builder>".into(),
                        message: "with_catalog cannot be combined with a catalog file, overrides, imports or aliases: add them to the catalog's own builder".into(),
                    });
                }
                Arc::new(self.layers.build()?)
            }
        };
        let pricer = Pricer {
            engine: Arc::new(Engine::new(catalog, self.opts)),
            ledger: Ledger::new(self.ledger_capacity, self.ledger_ttl),
            panics: AtomicU64::new(0),
            refresher: None,
            #[cfg(feature = "live")]
            _refresh_thread: None,
        };
        Ok((self.inner, pricer))
    }
}

impl<P: SpanProcessor> CostBuilder<P> {
    /// Loads the catalog layers and builds the processor.
    pub fn build(self) -> Result<CostSpanProcessor<P>, CatalogError> {
        let (inner, pricer) = self.build_pricer()?;
        Ok(CostSpanProcessor { inner, pricer })
    }
}

impl<E: SpanExporter> CostBuilder<ExporterInner<E>> {
    /// Loads the catalog layers and builds the exporter.
    pub fn build(self) -> Result<CostSpanExporter<E>, CatalogError> {
        let (ExporterInner(inner), pricer) = self.build_pricer()?;
        Ok(CostSpanExporter { inner, pricer })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(calls: u32) -> Subtree<'static> {
        Subtree::of(Totals {
            calls,
            ..Totals::default()
        })
    }

    #[test]
    fn ledger_is_bounded_in_size_and_counts_evictions() {
        let l = Ledger::new(2, Duration::from_secs(60));
        let st = Stats::default();
        let now = Instant::now();
        let k = |i: u8| Key([1; 16], [i; 8]);
        let at = || now;
        assert_eq!(l.add(k(1), &mut totals(1), at, &st), 0);
        assert_eq!(l.add(k(2), &mut totals(1), at, &st), 0);
        assert_eq!(
            l.add(k(2), &mut totals(1), at, &st),
            0,
            "existing entry accumulates"
        );
        assert_eq!(
            l.add(k(3), &mut totals(1), at, &st),
            1,
            "oldest evicted at capacity"
        );
        assert_eq!(l.len(), 2);
        let (t, lost) = l.take(&k(2), &st);
        assert_eq!(t.map(|t| t.calls), Some(2));
        assert!(lost, "trace that lost an entry is incomplete");
        assert_eq!(l.take(&k(1), &st).0, None);
    }

    #[test]
    fn ledger_drops_entries_older_than_ttl() {
        let l = Ledger::new(100, Duration::from_millis(10));
        let st = Stats::default();
        let t0 = Instant::now();
        l.add(Key([1; 16], [1; 8]), &mut totals(1), || t0, &st);
        let later = t0 + Duration::from_secs(1);
        assert_eq!(
            l.add(Key([2; 16], [2; 8]), &mut totals(1), || later, &st),
            1
        );
        assert_eq!(l.len(), 1);
    }

    /// A panic while the ledger's lock was held (poisoning it) used to make every later `add`
    /// return 0 and drop the child's totals uncounted. Now the poisoned lock is counted once,
    /// the entries it may have left half-updated are dropped with their traces marked
    /// incomplete, and the ledger keeps working.
    #[test]
    fn poisoned_ledger_is_counted_and_recovers() {
        let l = Arc::new(Ledger::new(100, Duration::from_secs(60)));
        let st = Stats::default();
        let now = Instant::now();
        let before = Key([1; 16], [1; 8]);
        let after = Key([2; 16], [2; 8]);
        assert_eq!(l.add(before, &mut totals(2), || now, &st), 0);
        let held = l.clone();
        let panicked = std::thread::spawn(move || {
            let _g = held.inner.lock();
            panic!("a bug while the ledger's lock is held");
        })
        .join();
        assert!(panicked.is_err() && l.inner.is_poisoned());
        assert_eq!(st.snapshot().poisoned_locks, 0);

        assert_eq!(l.add(after, &mut totals(3), || now, &st), 0);
        assert_eq!(
            st.snapshot().poisoned_locks,
            1,
            "the poisoned lock is counted"
        );
        assert!(!l.inner.is_poisoned(), "and recovered from");
        let (t, lost) = l.take(&after, &st);
        assert_eq!(
            t.map(|t| t.calls),
            Some(3),
            "a child added after the panic is kept"
        );
        assert!(!lost);
        let (t, lost) = l.take(&before, &st);
        assert_eq!(t, None, "an entry held during the panic is dropped");
        assert!(lost, "and its trace is marked incomplete");
        assert_eq!(st.snapshot().poisoned_locks, 1, "counted once per panic");
    }

    /// The same through the exporter placement: a child's totals wait in the ledger, the lock
    /// is poisoned, a second child comes, then the root: the processor's `stats()` counts the
    /// poisoned lock and the root carries the second child's cost marked incomplete, instead
    /// of a sum silently missing the first.
    #[test]
    fn a_poisoned_ledger_shows_in_stats_and_marks_the_root_incomplete() {
        use opentelemetry::trace::{Tracer, TracerProvider as _};
        use opentelemetry::KeyValue;
        use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

        let raw = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(raw.clone())
            .build();
        let tracer = provider.tracer("t");
        tracer.in_span("run", |_| {
            for _ in 0..2 {
                let _chat = tracer
                    .span_builder("chat")
                    .with_attributes(vec![
                        KeyValue::new("gen_ai.request.model", "gpt-4o-2024-08-06"),
                        KeyValue::new("gen_ai.usage.input_tokens", 1000),
                        KeyValue::new("gen_ai.usage.output_tokens", 100),
                    ])
                    .start(&tracer);
            }
        });
        let (mut chat, run): (Vec<_>, Vec<_>) = raw
            .get_finished_spans()
            .expect("spans")
            .into_iter()
            .partition(|s| s.name == "chat");
        assert_eq!((chat.len(), run.len()), (2, 1));
        let second = chat.split_off(1);

        let priced = InMemorySpanExporter::default();
        let x = CostSpanExporter::builder(priced.clone())
            .build()
            .expect("embedded catalog");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(x.export(chat)).expect("export");
        assert_eq!(
            x.pending_parents(),
            1,
            "the child's totals wait for the root"
        );
        let panicked = std::thread::scope(|sc| {
            sc.spawn(|| {
                let _g = x.pricer.ledger.inner.lock();
                panic!("a bug while the ledger's lock is held");
            })
            .join()
        });
        assert!(panicked.is_err());
        rt.block_on(x.export(second)).expect("export");
        rt.block_on(x.export(run)).expect("export");

        assert_eq!(x.stats().poisoned_locks, 1);
        let out = priced.get_finished_spans().expect("spans");
        let root = out.iter().find(|s| s.name == "run").expect("root exported");
        let attr = |k: &str| {
            root.attributes
                .iter()
                .find(|kv| kv.key.as_str() == k)
                .map(|kv| kv.value.clone())
        };
        assert_eq!(
            attr("cost.complete"),
            Some(opentelemetry::Value::Bool(false))
        );
        assert_eq!(attr("cost.llm_calls"), Some(opentelemetry::Value::I64(1)));
    }

    #[test]
    fn ended_filter_remembers_recent_span_ids() {
        let l = Ledger::new(10, Duration::from_secs(1));
        assert!(!l.has_ended(&[7; 8]));
        l.mark_ended(&[7; 8]);
        assert!(l.has_ended(&[7; 8]));
    }
}
