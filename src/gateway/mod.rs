//! The OTLP gateway (`otel-llm-cost serve`): receivers, trace assembly, pricing with the shared
//! [`crate::engine::Engine`], and an OTLP exporter (DESIGN §7).
//!
//! ```text
//! connections (conn.rs: limits, timeouts)                                            /-- /metrics, /healthz
//!   OTLP/gRPC :4317 (grpc.rs) --\  body, gunzip, scan, decode  /
//!                                >-- (receive.rs, budget.rs) --> Pipeline (pipeline.rs): admission -> Assembler (assembly.rs)
//!   OTLP/HTTP :4318 (http.rs) --/      -> Engine::price_trace -> ExportQueue -> consumers (export.rs) -> downstream
//!                                                          \-> JSONL cost records (cost_records.rs, own thread)
//! ```
//!
//! The words: the receivers *receive* (grpc.rs, http.rs, their shared body handling in
//! receive.rs), the pipeline *ingests* (`Pipeline::ingest`, pipeline.rs), and only the
//! exporter (export.rs) *exports*. The OTLP names both sides use (paths, content types) are in
//! otlp.rs; the write-ahead log of a persistent queue in persist.rs; the configuration, one file
//! per section, in [`config`]; the startup steps in start.rs.
//!
//! Start it in process with [`Gateway::builder`]; stop it with [`RunningGateway::shutdown`], which
//! stops accepting (stalled connections dropped at once), releases every buffered trace, drains
//! the export queue within the configured deadline and reports what could not be delivered.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use otel_llm_cost::gateway::{config::GatewayConfig, Gateway};
//! let cfg = GatewayConfig::from_yaml("inline", "exporter: {endpoint: 'http://jaeger:4317'}", None)?;
//! let settings = cfg.resolve(&|k| std::env::var(k).ok())?;
//! let gw = Gateway::builder(settings).start().await?;
//! println!("gRPC on {:?}", gw.grpc_addr());
//! let report = gw.shutdown().await;
//! assert!(report.metrics.balanced());
//! # Ok(()) }
//! ```

mod assembly;
mod auth;
#[cfg(feature = "internals")]
pub(crate) mod bench_support;
mod budget;
mod catalog_refresh;
pub mod config;
mod conn;
mod cost_records;
mod export;
mod grpc;
mod http;
#[cfg(all(test, feature = "report"))]
mod json_cases;
mod metrics;
mod otlp;
mod otlp_scan;
mod persist;
mod pipeline;
mod proto_span;
mod receive;
mod rpc_status;
mod start;
mod telemetry;
mod tls;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use assembly::{Clock, ManualClock, SystemClock};
pub use metrics::MetricsSnapshot;
pub use start::GatewayBuilder;
pub use tls::install_default_crypto_provider;

use crate::pricing::CatalogError;
use export::ExportQueue;
use metrics::{Metrics, NotDelivered};
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
    /// The receivers and the metrics endpoint.
    listening: start::Listening,
    pipeline: Arc<Pipeline>,
    metrics: Arc<Metrics>,
    queue: Arc<ExportQueue>,
    ticker: JoinHandle<()>,
    memory_check: Option<JoinHandle<()>>,
    consumers: Vec<JoinHandle<()>>,
    deadline: watch::Sender<Option<tokio::time::Instant>>,
    shutdown_timeout: Duration,
    /// The price catalog's refresh task (catalog_refresh.rs).
    catalog_refresh: catalog_refresh::Running,
}

/// The process's resident memory (Linux: VmRSS of `/proc/<pid>/status`); `None` elsewhere.
pub(crate) fn resident_bytes() -> Option<usize> {
    let kib = process_status_kib(std::process::id(), "VmRSS:")?;
    usize::try_from(kib).ok()?.checked_mul(1024)
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS:`, `VmHWM:`): the one reader, for the memory
/// limiter here and, through `internals::gateway`, for the load tools and tests.
pub(crate) fn process_status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

impl RunningGateway {
    /// The gRPC receiver's bound address.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.listening.grpc_addr
    }

    /// The HTTP receiver's bound address.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.listening.http_addr
    }

    /// The metrics endpoint's bound address.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.listening.metrics_addr
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
    ) -> Result<crate::refresh::Refreshed, crate::pricing::live::RefreshError> {
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
        for r in &self.listening.receivers {
            r.stop();
        }
        for r in self.listening.receivers.drain(..) {
            let abort = r.task.abort_handle();
            if tokio::time::timeout_at(deadline, r.task).await.is_err() {
                abort.abort();
            }
        }
        // No request may add spans after the drain below: wait for the handlers still running
        // (h2 runs each on a task of its own).
        if tokio::time::timeout_at(deadline, self.listening.requests.idle())
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
        // The cost records of every released trace written (their own thread), within the
        // deadline.
        if tokio::time::timeout_at(deadline, self.pipeline.close_records())
            .await
            .is_err()
        {
            tracing::warn!("shutdown: cost records still being written at the deadline");
        }
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
        if let Some(m) = self.listening.metrics_server.take() {
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
            .listening
            .receivers
            .iter()
            .chain(self.listening.metrics_server.iter())
            .map(|r| &r.task)
            .chain(self.consumers.iter())
        {
            h.abort();
        }
    }
}

/// Entry points for the fuzz targets under `fuzz/` (not a stable API; reached through
/// `crate::internals::gateway`, feature `internals`).
#[cfg(feature = "internals")]
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
        super::receive::gunzip(
            b,
            limit,
            super::config::DEFAULT_MAX_DECOMPRESSION_RATIO,
            &mut res,
        )
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
