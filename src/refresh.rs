//! Applying live prices to an [`Engine`]: the one refresh step both the gateway
//! (`gateway/catalog_refresh.rs`, on its interval and on SIGHUP) and the in-process refresher
//! thread (feature `live`) run, and what they report.
//!
//! ```text
//! CatalogRefresher::start   -> LiveOptions::start   (sources -> cache -> base) -> the first catalog
//! CatalogRefresher::refresh -> LiveOptions::refresh (fetch, build, validate, layers, cache)
//!                           -> Engine::replace_catalog (one atomic pointer change) -> diff summary
//! every outcome counted (ok, or the failure kind); the catalog in use described (version, origin)
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwapOption;

use crate::engine::Engine;
use crate::pricing::build::CatalogDiff;
use crate::pricing::live::{FailureKind, LiveOptions, Loaded, Origin, RefreshError};
use crate::pricing::{Catalog, CatalogError};

/// The catalog in use, as reported (`otel_llm_cost_catalog_info`, `_age_seconds`, `_models`).
#[derive(Debug, Clone)]
pub struct CatalogStatus {
    /// Its version (`cost.pricing.catalog`).
    pub version: Arc<str>,
    /// Where it came from.
    pub origin: Origin,
    /// When its base was built (see [`Loaded::built_at`]).
    pub built_at: SystemTime,
    /// Models in it.
    pub models: usize,
}

/// A refresh that swapped the catalog.
#[derive(Debug, Clone)]
pub struct Refreshed {
    /// What changed against the catalog replaced.
    pub diff: CatalogDiff,
    /// The cache could not be written (the new catalog is in use all the same).
    pub cache_error: Option<RefreshError>,
}

/// Runs the refresh routine of [`LiveOptions`] against an engine and counts its outcomes.
#[derive(Debug)]
pub struct CatalogRefresher {
    options: LiveOptions,
    status: ArcSwapOption<CatalogStatus>,
    /// `[0]`: swapped; `[1 + i]`: refused with `FailureKind::ALL[i]`.
    outcomes: [AtomicU64; FailureKind::ALL.len() + 1],
    /// Held by a refresh: one at a time (the in-process thread and `CatalogHandle::refresh`
    /// may ask at once). Otherwise a refresh that started first but finished last would swap
    /// in its older catalog over the newer one, each measured for lost models against a
    /// catalog the other was replacing.
    one_at_a_time: std::sync::Mutex<()>,
}

impl CatalogRefresher {
    /// A refresher of these options (checked: every problem at once).
    pub fn new(options: LiveOptions) -> Result<CatalogRefresher, CatalogError> {
        let problems = options.problems();
        if !problems.is_empty() {
            return Err(CatalogError::Many(
                problems
                    .into_iter()
                    .map(|message| CatalogError::Syntax {
                        file: "live catalog options".into(),
                        message,
                    })
                    .collect(),
            ));
        }
        Ok(CatalogRefresher {
            options,
            status: ArcSwapOption::empty(),
            outcomes: Default::default(),
            one_at_a_time: std::sync::Mutex::new(()),
        })
    }

    /// The options.
    pub fn options(&self) -> &LiveOptions {
        &self.options
    }

    /// The catalog to start with (sources -> cache -> base) and every failure on the way,
    /// each counted. Blocking.
    pub fn start(&self) -> Result<(Arc<Catalog>, Vec<RefreshError>), CatalogError> {
        let (loaded, failures) = self.options.start()?;
        for f in &failures {
            self.count(Some(f.kind));
        }
        self.describe(&loaded);
        Ok((loaded.catalog, failures))
    }

    /// Builds a new catalog and swaps it into `engine`; on failure the catalog in use stays.
    /// Counted either way. Blocking (network, files): run it off async workers.
    pub fn refresh(&self, engine: &Engine) -> Result<Refreshed, RefreshError> {
        // Guards nothing but the order: a panic in an earlier refresh left no state behind; it
        // is counted as a poisoned lock all the same.
        let _one = self.one_at_a_time.lock().unwrap_or_else(|p| {
            engine.stats().poisoned_lock();
            self.one_at_a_time.clear_poison();
            p.into_inner()
        });
        let current = engine.catalog();
        match self.options.refresh(&current) {
            Ok(loaded) => {
                engine.replace_catalog(Arc::clone(&loaded.catalog));
                self.describe(&loaded);
                self.count(None);
                Ok(Refreshed {
                    diff: loaded
                        .diff
                        .unwrap_or_else(|| CatalogDiff::between(&current, &loaded.catalog)),
                    cache_error: loaded.cache_error,
                })
            }
            Err(e) => {
                self.count(Some(e.kind));
                Err(e)
            }
        }
    }

    /// The catalog in use as last loaded by this refresher (`None` before [`start`](Self::start)).
    pub fn status(&self) -> Option<Arc<CatalogStatus>> {
        self.status.load_full()
    }

    /// Refreshes by outcome: `ok`, then each [`FailureKind`] label; every one listed.
    pub fn outcomes(&self) -> Vec<(&'static str, u64)> {
        std::iter::once("ok")
            .chain(FailureKind::ALL.iter().map(|k| k.as_str()))
            .zip(self.outcomes.iter().map(|c| c.load(Ordering::Relaxed)))
            .collect()
    }

    fn count(&self, failure: Option<FailureKind>) {
        let i = failure.map_or(0, |k| {
            1 + FailureKind::ALL
                .iter()
                .position(|x| *x == k)
                .unwrap_or_default()
        });
        if let Some(c) = self.outcomes.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn describe(&self, l: &Loaded) {
        self.status.store(Some(Arc::new(CatalogStatus {
            version: Arc::clone(&l.catalog.info().version),
            origin: l.origin,
            built_at: l.built_at,
            models: l.catalog.models().len(),
        })));
    }
}

/// The in-process refresher: a thread refreshing an engine's catalog every interval, until the
/// engine is dropped or this is.
#[cfg(feature = "live")]
#[derive(Debug)]
pub(crate) struct RefreshThread {
    /// Dropped to stop the thread (it wakes at once).
    _stop: std::sync::mpsc::Sender<()>,
}

#[cfg(feature = "live")]
impl RefreshThread {
    /// Starts the thread (none when the interval is 0: only at start).
    pub(crate) fn spawn(
        refresher: Arc<CatalogRefresher>,
        engine: std::sync::Weak<Engine>,
    ) -> std::io::Result<Option<RefreshThread>> {
        let every = refresher.options().refresh_interval;
        if every.is_zero() {
            return Ok(None);
        }
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("otel-llm-cost-catalog-refresh".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(every)
                {
                    let Some(engine) = engine.upgrade() else {
                        return;
                    };
                    // Counted by the refresher; the catalog in use stays on failure.
                    let _ = refresher.refresh(&engine);
                }
            })?;
        Ok(Some(RefreshThread { _stop: stop }))
    }
}

#[cfg(all(test, feature = "processor"))]
mod tests {
    use super::*;
    use crate::engine::{CatalogPin, EngineOptions, Totals};
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    use opentelemetry::{InstrumentationScope, KeyValue};
    use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

    fn call(id: u64) -> SpanData {
        let now = SystemTime::now();
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(7u128),
                SpanId::from(id),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: opentelemetry::trace::SpanKind::Client,
            name: "chat".into(),
            start_time: now,
            end_time: now,
            attributes: vec![
                KeyValue::new("gen_ai.operation.name", "chat"),
                KeyValue::new("gen_ai.request.model", "gpt-4o-2024-08-06"),
                KeyValue::new("gen_ai.usage.input_tokens", 1000),
                KeyValue::new("gen_ai.usage.output_tokens", 0),
            ],
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: opentelemetry::trace::Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("test").build(),
        }
    }

    fn version(s: &SpanData) -> Option<String> {
        s.attributes
            .iter()
            .find(|kv| kv.key.as_str() == "cost.pricing.catalog")
            .map(|kv| kv.value.to_string())
    }

    /// Guards "a trace is priced whole by one catalog": spans priced through one pin keep the
    /// snapshot it loaded, even when the catalog is swapped between them; a new pin (the next
    /// trace) gets the new catalog, and each span names the catalog that priced it.
    #[test]
    fn a_pin_keeps_its_snapshot_across_a_swap() {
        let engine = Engine::new(Catalog::shared().unwrap(), EngineOptions::default());
        let old = engine.catalog().info().version.to_string();
        let json = crate::pricing::EMBEDDED_CATALOG.replacen(
            &format!("\"catalog_version\":\"{old}\""),
            "\"catalog_version\":\"2099.01.01\"",
            1,
        );
        let newer = Catalog::from_catalog_json("newer", &json).unwrap();
        let pin = CatalogPin::default();
        let (mut a, mut b, mut c) = (call(1), call(2), call(3));
        let own_a = engine.own(&pin, &a);
        let replaced = engine.replace_catalog(Arc::new(newer));
        assert_eq!(&*replaced.info().version, old);
        let own_b = engine.own(&pin, &b);
        engine.finish(&pin, &mut a, &own_a, Totals::default(), true, true);
        engine.finish(&pin, &mut b, &own_b, Totals::default(), true, true);
        assert_eq!(version(&a).as_deref(), Some(old.as_str()));
        assert_eq!(
            version(&b).as_deref(),
            Some(old.as_str()),
            "same pin, same catalog"
        );
        let next = CatalogPin::default();
        let own_c = engine.own(&next, &c);
        engine.finish(&next, &mut c, &own_c, Totals::default(), true, true);
        assert_eq!(version(&c).as_deref(), Some("2099.01.01"));
        assert_eq!(&*engine.catalog().info().version, "2099.01.01");
    }
}
