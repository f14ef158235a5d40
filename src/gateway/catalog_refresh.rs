//! Live prices in the gateway: `pricing.catalog.{sources, refresh_interval, cache_dir,
//! timeout}` checked and turned into [`LiveOptions`], the catalog to start with, and the task
//! that refreshes it every interval, on SIGHUP and on [`RunningGateway::refresh_catalog`]
//! (crate::gateway::RunningGateway::refresh_catalog).
//!
//! ```text
//! start:   spawn_blocking(CatalogRefresher::start)  sources -> cache -> base (failures logged, counted)
//! refresh: interval | SIGHUP | refresh_catalog() -> a thread: CatalogRefresher::refresh
//!          -> Engine::replace_catalog (the hot path never waits) -> diff summary logged
//! /metrics: otel_llm_cost_catalog_{info, age_seconds, refresh_total, models}
//! ```
//!
//! The fetch and build are blocking (reqwest's blocking client, a few hundred ms of JSON): they
//! run on a thread of their own (not tokio's blocking pool, which shutdown waits for), never on
//! the workers that receive and price.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::config::{CatalogConfig, PricingConfig};
use super::pipeline::Pipeline;
use super::GatewayError;
use crate::pricing::live::{CatalogSource, LiveOptions, RefreshError, SourceFormat};
use crate::pricing::{Catalog, PriceLayers};
use crate::refresh::{CatalogRefresher, Refreshed};

/// One upstream price feed in `pricing.catalog.sources`: its format and where it is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// `genai-prices` (the v2 feed, `prices/new_data/v2/data.json`) or `litellm`
    /// (`model_prices_and_context_window.json`). Required.
    pub format: SourceFormat,
    /// An `http://` or `https://` URL of the feed (or of a mirror). One of `url` and `path`.
    pub url: Option<String>,
    /// A file with the feed (a mirrored copy); relative paths are resolved against the config
    /// file's directory. One of `url` and `path`.
    pub path: Option<PathBuf>,
}

/// Adds every problem of `pricing.catalog`'s live fields to `problems`.
pub(crate) fn check(c: &CatalogConfig, problems: &mut Vec<String>) {
    for (i, s) in c.sources.iter().enumerate() {
        if s.url.is_some() == s.path.is_some() {
            problems.push(format!(
                "pricing.catalog.sources[{i}] ({}): give exactly one of url and path",
                s.format.as_str()
            ));
        }
        if let Some(u) = &s.url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                problems.push(format!(
                    "pricing.catalog.sources[{i}].url: '{u}' is not an http:// or https:// URL"
                ));
            }
        }
    }
    let opts = LiveOptions {
        sources: sources(c),
        timeout: c.timeout,
        ..LiveOptions::default()
    };
    for p in opts.problems() {
        problems.push(format!("pricing.catalog.{p}"));
    }
    if c.cache_dir.is_some() && c.sources.is_empty() {
        problems.push("pricing.catalog.cache_dir: set without sources (nothing to cache)".into());
    }
}

fn sources(c: &CatalogConfig) -> Vec<CatalogSource> {
    c.sources
        .iter()
        .map(|s| CatalogSource {
            format: s.format,
            location: match (&s.url, &s.path) {
                (Some(u), _) => u.clone(),
                (None, Some(p)) => p.display().to_string(),
                (None, None) => String::new(),
            },
        })
        .collect()
}

/// The refresh options of a resolved `pricing:` section.
pub(super) fn live_options(p: &PricingConfig) -> LiveOptions {
    LiveOptions {
        sources: sources(&p.catalog),
        refresh_interval: p.catalog.refresh_interval,
        cache_dir: p.catalog.cache_dir.clone(),
        timeout: p.catalog.timeout,
        layers: PriceLayers {
            catalog_file: p.catalog.file.clone(),
            litellm: p.litellm.clone(),
            overrides: p.overrides.clone(),
            aliases: p.aliases.clone().into_iter().collect(),
        },
    }
}

/// The catalog to start with (sources -> cache -> base), off the async workers; each failure on
/// the way is logged and counted. A broken base or broken layers fail the start.
pub(super) async fn start(
    p: &PricingConfig,
) -> Result<(Arc<CatalogRefresher>, Arc<Catalog>), GatewayError> {
    let refresher = Arc::new(CatalogRefresher::new(live_options(p))?);
    let r = refresher.clone();
    let (catalog, failures) = tokio::task::spawn_blocking(move || r.start())
        .await
        .map_err(|e| {
            GatewayError::Catalog(crate::pricing::CatalogError::Syntax {
                file: "pricing.catalog".into(),
                message: format!("the start catalog's build panicked: {e}"),
            })
        })??;
    for f in &failures {
        tracing::warn!(kind = f.kind.as_str(), error = %f.message, "price catalog: a source of the start catalog failed; falling back");
    }
    if let Some(s) = refresher.status() {
        tracing::info!(
            version = %s.version, source = s.origin.as_str(), models = s.models,
            "price catalog in use"
        );
    }
    let left_out = catalog.info().layers_left_out;
    if left_out > 0 {
        // A LiteLLM import leaves out what the catalog builder leaves out; said once here, and
        // by reason in `otel-llm-cost catalog info` / `catalog validate FILE`.
        tracing::warn!(
            entries = left_out,
            "price layers: some entries were left out (not priced); `otel-llm-cost catalog info` lists them with the reasons"
        );
    }
    Ok((refresher, catalog))
}

/// A request to refresh now, answered with the outcome.
type Trigger = oneshot::Sender<Result<Refreshed, RefreshError>>;

/// The refresh task and the way to ask it for a refresh.
#[derive(Debug)]
pub(super) struct Running {
    pub(super) task: JoinHandle<()>,
    trigger: mpsc::Sender<Trigger>,
}

impl Running {
    /// Refreshes now (the same step as the interval and SIGHUP) and returns the outcome.
    pub(super) async fn refresh(&self) -> Result<Refreshed, RefreshError> {
        let (tx, rx) = oneshot::channel();
        let gone = || RefreshError {
            kind: crate::pricing::live::FailureKind::Layers,
            message: "the refresh task has stopped".into(),
        };
        self.trigger.send(tx).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}

/// Starts the task: every `refresh_interval` when there are sources (not at all for `0s`), on
/// each SIGHUP, and on request. One refresh at a time.
/// `hangup`: the SIGHUP handler, installed before the start catalog was built ([`hangup`]).
pub(super) fn spawn(
    refresher: Arc<CatalogRefresher>,
    pipeline: Arc<Pipeline>,
    mut hangup: Hangup,
) -> Running {
    let (trigger, mut requests) = mpsc::channel::<Trigger>(4);
    let every = refresher.options().refresh_interval;
    let timed = !refresher.options().sources.is_empty() && !every.is_zero();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + every.max(Duration::from_millis(1)),
            every.max(Duration::from_millis(1)),
        );
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let reply = tokio::select! {
                _ = tick.tick(), if timed => None,
                Some(()) = next_hangup(&mut hangup) => {
                    tracing::info!("SIGHUP: refreshing the price catalog");
                    None
                }
                r = requests.recv() => match r {
                    Some(r) => Some(r),
                    None => return,
                },
            };
            let (r, p) = (refresher.clone(), pipeline.clone());
            let started = std::time::Instant::now();
            let outcome = match off_runtime(move || r.refresh(p.engine())).await {
                Ok(o) => o,
                Err(message) => Err(RefreshError {
                    kind: crate::pricing::live::FailureKind::Layers,
                    message,
                }),
            };
            log(&outcome, started.elapsed());
            if let Some(reply) = reply {
                let _ = reply.send(outcome);
            }
        }
    });
    Running { task, trigger }
}

/// Runs a refresh on a thread of its own, not on tokio's blocking pool: a runtime shutting down
/// waits for every blocking task, so a refresh stuck on a slow source (up to `timeout` per read)
/// held the process's exit after SIGTERM had drained everything. A refresh left running at exit
/// is cut off with the process; the cache is written by rename, never half.
async fn off_runtime<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("otel-llm-cost-catalog-refresh".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| format!("the refresh thread could not start: {e}"))?;
    rx.await.map_err(|_| "the refresh panicked".to_owned())
}

fn log(outcome: &Result<Refreshed, RefreshError>, took: Duration) {
    let took_ms = took.as_millis() as u64;
    match outcome {
        Ok(r) => {
            tracing::info!(summary = %r.diff.summary(), took_ms, "price catalog swapped");
            if let Some(e) = &r.cache_error {
                tracing::warn!(error = %e.message, "price catalog: the cache could not be written");
            }
        }
        Err(e) => tracing::warn!(
            kind = e.kind.as_str(), error = %e.message, took_ms,
            "price catalog refresh failed; the catalog in use is kept"
        ),
    }
}

/// The SIGHUP handler (none when it cannot be installed, or off Unix).
#[cfg(unix)]
pub(super) type Hangup = Option<tokio::signal::unix::Signal>;
/// The SIGHUP handler (none when it cannot be installed, or off Unix).
#[cfg(not(unix))]
pub(super) type Hangup = Option<()>;

/// Installs the SIGHUP handler: from then on a SIGHUP is kept for the refresh task, never the
/// end of the process. Install it before the start catalog is fetched (up to the fetch timeout
/// per source).
#[cfg(unix)]
pub(super) fn hangup() -> Hangup {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "SIGHUP cannot be handled; the catalog refreshes on its interval only");
            None
        }
    }
}

/// Installs the SIGHUP handler (none off Unix).
#[cfg(not(unix))]
pub(super) fn hangup() -> Hangup {
    None
}

/// The next SIGHUP; never, without a handler.
async fn next_hangup(h: &mut Hangup) -> Option<()> {
    #[cfg(unix)]
    if let Some(s) = h {
        return s.recv().await;
    }
    let _ = h;
    std::future::pending().await
}
