//! The OTLP gateway (`otel-llm-cost serve`): receivers, trace assembly, pricing with the shared
//! [`crate::Engine`], and an OTLP exporter (DESIGN §7).
//!
//! ```text
//! connections (conn.rs: limits, timeouts)                                            /-- /metrics, /healthz
//!   OTLP/gRPC :4317 (grpc.rs) --\  body, gunzip, scan, decode  /
//!                                >-- (receive.rs, budget.rs) --> Pipeline (pipeline.rs): admission -> Assembler (assembly.rs)
//!   OTLP/HTTP :4318 (http.rs) --/      -> Engine::price_trace -> ExportQueue -> consumers (export.rs) -> downstream
//! ```
//!
//! Start it in process with [`Gateway::start`]; stop it with [`RunningGateway::shutdown`], which
//! stops accepting (stalled connections dropped at once), releases every buffered trace, drains
//! the export queue within the configured deadline and reports what could not be delivered.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use otel_llm_cost::gateway::{Gateway, GatewayConfig};
//! let cfg = GatewayConfig::from_yaml("inline", "exporter: {endpoint: 'http://jaeger:4317'}", None)?;
//! let settings = cfg.resolve(&|k| std::env::var(k).ok())?;
//! let gw = Gateway::start(settings).await?;
//! println!("gRPC on {:?}", gw.grpc_addr());
//! let report = gw.shutdown().await;
//! assert!(report.metrics.balanced());
//! # Ok(()) }
//! ```

mod assembly;
mod auth;
#[cfg_attr(not(feature = "internals"), allow(dead_code, unused_imports))]
pub(crate) mod bench_support;
mod budget;
mod catalog_refresh;
mod config;
mod conn;
mod export;
mod grpc;
mod http;
#[cfg(all(test, feature = "report"))]
mod json_cases;
mod metrics;
mod otlp_scan;
mod persist;
mod pipeline;
mod proto_span;
mod receive;
mod rpc_status;
mod telemetry;
mod tls;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use assembly::{Clock, ManualClock, SystemClock};
pub use config::*;
pub use metrics::MetricsSnapshot;
pub use tls::install_default_crypto_provider;

use crate::analytics::CostAggregator;
use crate::engine::{Engine, EngineOptions};
use crate::pricing::CatalogError;
use export::{Client, ConsumerSettings, ExportQueue};
use metrics::{Listener, Metrics, NotDelivered};
use pipeline::Pipeline;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The price catalog (overrides, LiteLLM imports, aliases) failed to load.
    #[error("pricing: {0}")]
    Catalog(#[from] CatalogError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The exporter could not be set up.
    #[error("exporter: {0}")]
    Exporter(String),
    /// A receiver's TLS certificate or key could not be loaded.
    #[error("receiver TLS: {0}")]
    Tls(String),
    /// The persistent export queue's directory could not be opened or read.
    #[error("persistent queue: {0}")]
    Persist(String),
    /// The JSONL cost records file could not be opened.
    #[error("cost records file {0}: {1}")]
    Records(String, std::io::Error),
}

/// The gateway.
#[derive(Debug)]
pub struct Gateway;

/// What shutdown achieved.
#[derive(Debug, Clone)]
pub struct ShutdownReport {
    /// Final counters.
    pub metrics: MetricsSnapshot,
    /// `true` when everything was exported or counted before the deadline.
    pub drained_in_time: bool,
    /// Of the spans not delivered by the shutdown deadline, those the persistent queue
    /// (`exporter.queue.directory`) keeps for the next start, which replays them: not lost.
    pub kept: u64,
}

impl ShutdownReport {
    /// Spans accepted and lost: [`MetricsSnapshot::lost`] minus those [`kept`](Self::kept)
    /// for the next start.
    pub fn lost(&self) -> u64 {
        self.metrics.lost().saturating_sub(self.kept)
    }
}

/// A running gateway; dropping it without [`RunningGateway::shutdown`] aborts its tasks.
#[derive(Debug)]
pub struct RunningGateway {
    grpc_addr: Option<SocketAddr>,
    http_addr: Option<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    pipeline: Arc<Pipeline>,
    metrics: Arc<Metrics>,
    queue: Arc<ExportQueue>,
    receivers: Vec<conn::Served>,
    /// Requests whose handler runs on the receivers (shutdown waits for none before draining).
    requests: Arc<conn::Requests>,
    metrics_server: Option<conn::Served>,
    ticker: JoinHandle<()>,
    memory_check: Option<JoinHandle<()>>,
    consumers: Vec<JoinHandle<()>>,
    deadline: watch::Sender<Option<tokio::time::Instant>>,
    shutdown_timeout: Duration,
    /// The price catalog's refresh task (catalog_refresh.rs).
    catalog_refresh: catalog_refresh::Running,
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, GatewayError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| GatewayError::Bind { what, addr, source })
}

fn local(
    l: &TcpListener,
    what: &'static str,
    addr: SocketAddr,
) -> Result<SocketAddr, GatewayError> {
    l.local_addr()
        .map_err(|source| GatewayError::Bind { what, addr, source })
}

impl Gateway {
    /// Builds the catalog and engine, binds the listeners and starts every task.
    pub async fn start(s: GatewaySettings) -> Result<RunningGateway, GatewayError> {
        Gateway::start_with_clock(s, Arc::new(SystemClock)).await
    }

    /// As [`Gateway::start`], with the assembly's clock injected.
    pub async fn start_with_clock(
        s: GatewaySettings,
        clock: Arc<dyn Clock>,
    ) -> Result<RunningGateway, GatewayError> {
        install_default_crypto_provider();
        // The price layers, from the sources, the cache or the base (catalog_refresh.rs).
        // SIGHUP is handled from here on: one sent while the start catalog is fetched is a
        // refresh right after the start, never the end of the process (its default action).
        let hangup = catalog_refresh::hangup();
        let (refresher, catalog) = catalog_refresh::start(&s.pricing).await?;
        let cost_series = Arc::new(CostAggregator::new(s.analytics.metrics.limits()));
        let engine = Engine::new(
            catalog,
            EngineOptions {
                prefix: s.pricing.prefix.clone(),
                reprice_provided: s.pricing.reprice_provided,
                extract: s.pricing.extract_options(),
                budgets: s.analytics.budgets.clone(),
                anomaly: s.analytics.anomaly.clone(),
                observers: vec![cost_series.clone()],
            },
        );
        let client = Client::new(&s.exporter).map_err(GatewayError::Exporter)?;

        let metrics = Arc::new(Metrics::with_cost(cost_series));
        let auth = s
            .auth_token
            .as_ref()
            .map(|t| auth::BearerAuth::new(t.expose()));
        let grpc_tls = match &s.grpc_tls {
            Some(f) => Some(tls::grpc_server_config(f).map_err(GatewayError::Tls)?),
            None => None,
        };
        let conn_limits = |c: &ConnectionLimits| conn::Limits {
            header_read_timeout: c.header_read_timeout,
            body_read_timeout: c.body_read_timeout,
            idle_timeout: c.idle_timeout,
            max_connections: c.max_connections,
        };
        let http_tls = match &s.http_tls {
            Some(f) => Some(tls::server_config(f).map_err(GatewayError::Tls)?),
            None => None,
        };
        let (wal, backlog) = match &s.exporter.queue.directory {
            Some(dir) => {
                let (dir, q) = (dir.clone(), s.exporter.queue.clone());
                let (w, b) = tokio::task::spawn_blocking(move || persist::Wal::open(&dir, &q))
                    .await
                    .map_err(|e| GatewayError::Persist(e.to_string()))?
                    .map_err(GatewayError::Persist)?;
                (Some(w), Some(b))
            }
            None => (None, None),
        };
        let limits = export::BatchLimits {
            max_spans: s.exporter.max_batch_spans,
            max_bytes: s.exporter.max_message_bytes,
        };
        let queue = Arc::new(
            ExportQueue::with_wal(s.exporter.queue.size, limits, wal)
                .with_max_memory(s.exporter.queue.max_memory_bytes),
        );
        let assembler = assembly::Assembler::new(s.assembly.clone(), clock);
        let mut pipeline = Pipeline::new(engine, assembler, queue.clone(), metrics.clone())
            .with_receive_budget(s.receiver_memory_bytes)
            .with_catalog_refresher(refresher.clone());
        if let Some(path) = &s.analytics.records {
            let w = crate::records::RecordWriter::open(path)
                .map_err(|e| GatewayError::Records(path.display().to_string(), e))?;
            pipeline = pipeline.with_records(w, &s.pricing.prefix);
        }
        let pipeline = Arc::new(pipeline);
        let catalog_refresh = catalog_refresh::spawn(refresher, pipeline.clone(), hangup);
        if let Some(b) = backlog {
            recover(pipeline.clone(), b).await?;
        }

        // Bind everything first so a bad address fails before any task starts.
        let grpc_listener = match s.grpc {
            Some(a) => Some((bind("gRPC receiver", a).await?, a)),
            None => None,
        };
        let http_listener = match s.http {
            Some(a) => Some((bind("HTTP receiver", a).await?, a)),
            None => None,
        };
        let metrics_listener = match s.metrics {
            Some(a) => Some((bind("metrics", a).await?, a)),
            None => None,
        };

        let (deadline, deadline_rx) = watch::channel(None);
        let consumer_settings = ConsumerSettings {
            retry: s.exporter.retry.clone(),
        };
        let consumers = (0..s.exporter.queue.consumers)
            .map(|i| {
                tokio::spawn(export::consumer(
                    i as u64,
                    queue.clone(),
                    client.clone(),
                    consumer_settings.clone(),
                    metrics.clone(),
                    deadline_rx.clone(),
                ))
            })
            .collect();

        let tick =
            (s.assembly.root_grace / 4).clamp(Duration::from_millis(5), Duration::from_millis(250));
        let ticker = {
            let p = pipeline.clone();
            tokio::spawn(async move {
                let mut iv = tokio::time::interval(tick);
                iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    iv.tick().await;
                    p.tick();
                }
            })
        };

        if s.memory_limit.is_some() && resident_bytes().is_none() {
            tracing::warn!("memory_limiter: resident memory cannot be read on this system (Linux /proc only); only the assembly and queue budgets apply");
        }
        let memory_check = s.memory_limit.map(|limit| {
            let p = pipeline.clone();
            tokio::spawn(async move {
                let mut iv = tokio::time::interval(limit.check_interval);
                iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    iv.tick().await;
                    if let Some(rss) = resident_bytes() {
                        p.check_memory(rss, &limit);
                    }
                }
            })
        });

        let mut receivers = Vec::new();
        let requests = Arc::new(conn::Requests::default());
        let mut grpc_addr = None;
        if let Some((l, a)) = grpc_listener {
            grpc_addr = Some(local(&l, "gRPC receiver", a)?);
            let svc = grpc::OtlpGrpcService::new(
                pipeline.clone(),
                s.grpc_max_request_bytes,
                s.max_decompression_ratio,
                auth.clone(),
            );
            receivers.push(conn::serve(
                l,
                svc,
                conn::Options {
                    listener: Listener::Grpc,
                    limits: conn_limits(&s.receiver_connections),
                    http2_only: true,
                    tls: grpc_tls,
                },
                metrics.clone(),
                requests.clone(),
            ));
        }
        let mut http_addr = None;
        if let Some((l, a)) = http_listener {
            http_addr = Some(local(&l, "HTTP receiver", a)?);
            let app = http::router(
                pipeline.clone(),
                s.http_max_request_bytes,
                s.max_decompression_ratio,
                auth.clone(),
            );
            receivers.push(conn::serve(
                l,
                app,
                conn::Options {
                    listener: Listener::Http,
                    limits: conn_limits(&s.receiver_connections),
                    http2_only: false,
                    tls: http_tls,
                },
                metrics.clone(),
                requests.clone(),
            ));
        }
        let mut metrics_addr = None;
        let mut metrics_server = None;
        if let Some((l, a)) = metrics_listener {
            metrics_addr = Some(local(&l, "metrics", a)?);
            let metrics_auth = s
                .metrics_auth_token
                .as_ref()
                .map(|t| auth::BearerAuth::new(t.expose()));
            let app = telemetry::router(pipeline.clone(), metrics_auth);
            metrics_server = Some(conn::serve(
                l,
                app,
                conn::Options {
                    listener: Listener::Metrics,
                    limits: conn_limits(&s.metrics_connections),
                    http2_only: false,
                    tls: None,
                },
                metrics.clone(),
                Arc::new(conn::Requests::default()),
            ));
        }
        tracing::info!(
            grpc = ?grpc_addr, http = ?http_addr, metrics = ?metrics_addr,
            grpc_tls = s.grpc_tls.is_some(), http_tls = s.http_tls.is_some(),
            auth = s.auth_token.is_some(), metrics_auth = s.metrics_auth_token.is_some(),
            exporter = %redact_url(&s.exporter.url), protocol = ?s.exporter.protocol,
            persistent_queue = s.exporter.queue.directory.is_some(),
            "otel-llm-cost gateway started"
        );
        Ok(RunningGateway {
            grpc_addr,
            http_addr,
            metrics_addr,
            pipeline,
            metrics,
            queue,
            receivers,
            requests,
            metrics_server,
            ticker,
            memory_check,
            consumers,
            deadline,
            shutdown_timeout: s.shutdown_timeout,
            catalog_refresh,
        })
    }
}

/// The process's resident memory (Linux: VmRSS of `/proc/<pid>/status`); `None` elsewhere.
fn resident_bytes() -> Option<usize> {
    let kib = bench_support::process_status_kib(std::process::id(), "VmRSS:")?;
    usize::try_from(kib).ok()?.checked_mul(1024)
}

/// Replays what the write-ahead log held at start (before the receivers open): every span an
/// earlier run accepted and did not deliver goes through the assembly again, counted as received
/// by this run so the counters still balance. Off the async workers (it reads files).
async fn recover(pipeline: Arc<Pipeline>, backlog: persist::Backlog) -> Result<(), GatewayError> {
    let replayed =
        tokio::task::spawn_blocking(move || backlog.replay(|spans| pipeline.replay(spans)))
            .await
            .map_err(|e| GatewayError::Persist(e.to_string()))?;
    if replayed.spans > 0 {
        tracing::info!(
            records = replayed.records,
            spans = replayed.spans,
            "persistent queue: replaying what an earlier run accepted and had not delivered"
        );
    }
    Ok(())
}

impl RunningGateway {
    /// The gRPC receiver's bound address.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_addr
    }

    /// The HTTP receiver's bound address.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The metrics endpoint's bound address.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Current counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.pipeline.snapshot()
    }

    /// The Prometheus text `/metrics` serves.
    pub fn render_metrics(&self) -> String {
        self.pipeline.render()
    }

    /// Refreshes the price catalog now, as `refresh_interval` and SIGHUP do: fetch and build
    /// from the sources (or re-read the layers), validate, swap; on failure the catalog in use
    /// is kept. Returns the outcome (also logged and counted).
    pub async fn refresh_catalog(
        &self,
    ) -> Result<crate::refresh::Refreshed, crate::catalog_live::RefreshError> {
        self.catalog_refresh.refresh().await
    }

    /// Waits for SIGTERM or SIGINT, then shuts down.
    pub async fn run_until_signal(self) -> ShutdownReport {
        wait_for_signal().await;
        tracing::info!("signal received; shutting down");
        self.shutdown().await
    }

    /// Stops accepting, releases every buffered trace, drains the export queue within the
    /// shutdown timeout, and counts (and logs) whatever could not be delivered.
    pub async fn shutdown(mut self) -> ShutdownReport {
        let deadline = tokio::time::Instant::now() + self.shutdown_timeout;
        // 1. Stop accepting: requests still arriving are answered with the retryable status.
        //    Connections are closed at once, except for requests past their body, which are
        //    answered first: a stalled client (partial header, a body that never ends, an h2
        //    stream without END_STREAM) holds nothing (issue 13, B2: one stalled connection
        //    made shutdown wait for the whole deadline before draining, and lose the drain).
        self.pipeline.stop_accepting();
        self.catalog_refresh.task.abort();
        for r in &self.receivers {
            r.stop();
        }
        for r in self.receivers.drain(..) {
            let abort = r.task.abort_handle();
            if tokio::time::timeout_at(deadline, r.task).await.is_err() {
                abort.abort();
            }
        }
        // No request may add spans after the drain below: wait for the handlers still running
        // (h2 runs each on a task of its own).
        if tokio::time::timeout_at(deadline, self.requests.idle())
            .await
            .is_err()
        {
            tracing::warn!("shutdown: requests still being handled at the deadline");
        }
        // 2. Release every buffered trace. Wait for the ticker to be gone first: a tick under
        //    way when it is aborted still finishes (it is synchronous) and would push its
        //    releases after the queue was drained and counted, uncounted (found by
        //    tests/gateway_persist.rs: 2 spans received, neither exported nor counted).
        self.ticker.abort();
        let _ = (&mut self.ticker).await;
        if let Some(h) = self.memory_check.take() {
            h.abort();
            let _ = h.await;
        }
        self.pipeline.drain();
        // 3. Drain the queue until empty or the deadline.
        self.queue.close();
        let _ = self.deadline.send(Some(deadline));
        let mut drained_in_time = true;
        for mut h in self.consumers.drain(..) {
            // A request sent before the deadline may be answered until IN_FLIGHT_GRACE after it.
            let limit = deadline + export::IN_FLIGHT_GRACE + Duration::from_millis(500);
            if tokio::time::timeout_at(limit, &mut h).await.is_err() {
                // Wait for the abort to take effect: a poll still running on another worker
                // could otherwise count its spans after `in_flight` is read below (twice).
                h.abort();
                let _ = h.await;
                drained_in_time = false;
            }
        }
        // 4. Count what is left.
        let moving = self.metrics.moving();
        let left = self.queue.take_all();
        let stuck = self.queue.in_flight();
        if left + stuck > 0 {
            drained_in_time = false;
            self.metrics
                .not_delivered(NotDelivered::Shutdown, left + stuck);
        }
        drop(moving);
        // The persistent queue: checkpoints written, the directory released (what is left is
        // replayed at the next start).
        if let Some(wal) = self.queue.wal() {
            wal.close().await;
        }
        let metrics = self.pipeline.snapshot();
        let at_deadline = metrics
            .spans_not_delivered
            .get("shutdown")
            .copied()
            .unwrap_or(0);
        if at_deadline > 0 {
            drained_in_time = false;
        }
        // Spans abandoned at the deadline are not checkpointed: the log keeps them.
        let kept = if self.queue.wal().is_some() {
            at_deadline
        } else {
            0
        };
        let not_delivered = metrics.not_delivered_total();
        if not_delivered > 0 {
            tracing::warn!(
                received = metrics.spans_received,
                exported = metrics.spans_exported,
                not_delivered,
                by_reason = ?metrics.spans_not_delivered,
                "shutdown complete; some spans were not delivered"
            );
        } else {
            tracing::info!(
                received = metrics.spans_received,
                exported = metrics.spans_exported,
                "shutdown complete; every span delivered"
            );
        }
        if let Some(m) = self.metrics_server.take() {
            m.stop();
            let abort = m.task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(1), m.task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        ShutdownReport {
            metrics,
            drained_in_time,
            kept,
        }
    }
}

impl Drop for RunningGateway {
    fn drop(&mut self) {
        self.ticker.abort();
        self.catalog_refresh.task.abort();
        if let Some(h) = &self.memory_check {
            h.abort();
        }
        for h in self
            .receivers
            .iter()
            .chain(self.metrics_server.iter())
            .map(|r| &r.task)
            .chain(self.consumers.iter())
        {
            h.abort();
        }
    }
}

/// Entry points for the fuzz targets under `fuzz/` (not a stable API; reached through
/// `crate::internals::gateway`, feature `internals`).
#[cfg_attr(not(feature = "internals"), allow(dead_code))]
pub(crate) mod fuzzing {
    use std::collections::HashMap;

    pub use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;

    use crate::engine::Engine;

    /// The receivers' decoder for OTLP/protobuf: the scan (spans, decode bound), then prost.
    pub fn decode_protobuf(b: &[u8]) -> Result<ExportTraceServiceRequest, String> {
        super::receive::decode(super::receive::Format::Protobuf, b).map_err(|e| format!("{e:?}"))
    }

    /// The HTTP receiver's decoder for `application/json`: the scan, then the crate's
    /// OTLP/JSON decoder (spans it refused for their ids are not in the request).
    pub fn decode_json(b: &[u8]) -> Result<ExportTraceServiceRequest, String> {
        super::receive::decode(super::receive::Format::Json, b).map_err(|e| format!("{e:?}"))
    }

    /// The OTLP/JSON decoder alone, without the scan before it: the spans it decoded plus the
    /// spans it refused, or why the text is no request.
    pub fn decode_json_unscanned(b: &[u8]) -> Result<usize, String> {
        let mut refused = 0;
        let mut count = |_: String| refused += 1;
        let mut cx = crate::otlp_json::Cx::new(crate::otlp_json::Keep::ALL, &mut count);
        let req = crate::otlp_json::request(b, &mut cx).map_err(|e| e.to_string())?;
        Ok(super::proto_span::count_spans(&req) + refused)
    }

    /// The receivers' gzip path, with its size and ratio limits (the defaults' ratio).
    pub fn gunzip(b: &[u8], limit: usize) -> Result<Vec<u8>, String> {
        let mut res = super::budget::MemoryBudget::new(usize::MAX)
            .reserve(0)
            .map_err(|e| e.message())?;
        super::receive::gunzip(b, limit, super::DEFAULT_MAX_DECOMPRESSION_RATIO, &mut res)
            .map(|(v, _)| v)
            .map_err(|e| format!("{e:?}"))
    }

    /// The scan's verdict on an OTLP/protobuf request: `(spans, decode bound)`, or why it
    /// cannot be one.
    pub fn scan_protobuf(b: &[u8]) -> Result<(usize, usize), String> {
        super::otlp_scan::protobuf(b)
            .map(|s| (s.spans, s.decode_bytes))
            .map_err(|(_, m)| m)
    }

    /// The scan's verdict on an OTLP/JSON request: `(spans, decode bound)`, or why it cannot
    /// be one.
    pub fn scan_json(b: &[u8]) -> Result<(usize, usize), String> {
        super::otlp_scan::json(b)
            .map(|s| (s.spans, s.decode_bytes))
            .map_err(|(_, m)| m)
    }

    /// The gRPC receiver's whole path for one call's body (the length-prefixed message, then
    /// `grpc-encoding: gzip` if the flag says so, the scan, the decode) with a request limit
    /// of `max` bytes, the default ratio and an unbounded memory budget. `Ok`: the decoded
    /// request's span count.
    pub fn grpc_body(body: &[u8], max: usize) -> Result<usize, String> {
        super::grpc::fuzz_body(body, max)
    }

    /// What the gateway does to a decoded request after admission, minus the assembly timers:
    /// split it into spans (invalid ids refused), group them by trace, price each trace with
    /// [`Engine::price_trace`], encode the export request. Returns the spans kept.
    pub fn price_request(engine: &Engine, req: ExportTraceServiceRequest, complete: bool) -> usize {
        let split = super::proto_span::split(req);
        let mut traces: HashMap<[u8; 16], Vec<super::proto_span::GatewaySpan>> = HashMap::new();
        for s in split.spans {
            traces.entry(s.trace_key()).or_default().push(s);
        }
        let mut kept = 0;
        for (_, mut spans) in traces {
            engine.price_trace(&mut spans, complete);
            kept += spans.len();
            let lens: Vec<usize> = spans.iter().map(super::wire::span_len).collect();
            let bytes = super::wire::encode(&spans, &lens);
            // The exporter's output must decode again, and hold every span.
            match ExportTraceServiceRequest::decode(bytes.as_slice()) {
                Ok(out) if super::proto_span::count_spans(&out) == spans.len() => {}
                _ => return usize::MAX,
            }
        }
        kept
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the gateway");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
