//! How a gateway starts: [`Gateway::builder`]`(settings)` [`.with_clock(..)`](GatewayBuilder::with_clock)
//! [`.start()`](GatewayBuilder::start), one named step each:
//!
//! ```text
//! catalog (sources -> cache -> PriceLayers, catalog_refresh.rs) -> engine -> exporter client -> receivers' TLS
//!   -> export queue (persistent: open the write-ahead log, off the async workers)
//!   -> pipeline (assembly, JSONL records) -> recovery (replay what the log held)
//!   -> bind every listener (a bad address fails before any task starts)
//!   -> background tasks (export consumers, assembly ticker, memory check, catalog refresh)
//!   -> serve the listeners -> RunningGateway
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::assembly::{self, Clock, SystemClock};
use super::config::{redact_url, ConnectionLimits, GatewaySettings};
use super::cost_records::CostRecords;
use super::export::{self, Client, ConsumerSettings, ExportQueue};
use super::metrics::{Listener, Metrics};
use super::pipeline::Pipeline;
use super::{
    auth, catalog_refresh, conn, grpc, http, persist, resident_bytes, telemetry, tls, Gateway,
    GatewayError, RunningGateway,
};
use crate::analytics::CostAggregator;
use crate::engine::{Engine, EngineOptions};
use crate::pricing::Catalog;

impl Gateway {
    /// A gateway to start with `settings` (from [`GatewayConfig::resolve`](super::config::GatewayConfig::resolve)).
    pub fn builder(settings: GatewaySettings) -> GatewayBuilder {
        GatewayBuilder {
            settings,
            clock: Arc::new(SystemClock),
        }
    }
}

/// Starts a gateway; made by [`Gateway::builder`].
#[derive(Debug)]
pub struct GatewayBuilder {
    settings: GatewaySettings,
    clock: Arc<dyn Clock>,
}

impl GatewayBuilder {
    /// The assembly's clock (tests: a [`ManualClock`](super::ManualClock)). Default: the system
    /// clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> GatewayBuilder {
        self.clock = clock;
        self
    }

    /// Builds the catalog and engine, opens the persistent queue and replays it, binds the
    /// listeners and starts every task (the steps in the module docs).
    pub async fn start(self) -> Result<RunningGateway, GatewayError> {
        tls::install_default_crypto_provider();
        let GatewayBuilder { settings, clock } = self;
        let s = &settings;
        // The price layers, from the sources, the cache or the base (catalog_refresh.rs).
        // SIGHUP is handled from here on: one sent while the start catalog is fetched is a
        // refresh right after the start, never the end of the process (its default action).
        let hangup = catalog_refresh::hangup();
        let (refresher, catalog) = catalog_refresh::start(&s.pricing).await?;
        let (engine, cost_series) = engine(s, catalog);
        let client = Client::new(&s.exporter).map_err(GatewayError::Exporter)?;
        let metrics = Arc::new(Metrics::with_cost(cost_series));
        let tls = ReceiverTls::load(s)?;
        let (queue, backlog) = export_queue(s).await?;
        let pipeline = pipeline(s, engine, clock, &queue, &metrics, &refresher)?;
        if let Some(b) = backlog {
            recover(pipeline.clone(), b).await?;
        }
        let listeners = Listeners::bind(s).await?;
        let (deadline, deadline_rx) = watch::channel(None);
        let consumers = spawn_consumers(s, &queue, &client, &metrics, &deadline_rx);
        let ticker = spawn_ticker(s, &pipeline);
        let memory_check = spawn_memory_check(s, &pipeline);
        let catalog_refresh = catalog_refresh::spawn(refresher, pipeline.clone(), hangup);
        let listening = listeners.serve(s, tls, &pipeline, &metrics)?;
        tracing::info!(
            grpc = ?listening.grpc_addr, http = ?listening.http_addr, metrics = ?listening.metrics_addr,
            grpc_tls = s.grpc_tls.is_some(), http_tls = s.http_tls.is_some(),
            auth = s.auth_token.is_some(), metrics_auth = s.metrics_auth_token.is_some(),
            exporter = %redact_url(&s.exporter.url), protocol = ?s.exporter.protocol,
            persistent_queue = s.exporter.queue.directory.is_some(),
            "otel-llm-cost gateway started"
        );
        Ok(RunningGateway {
            listening,
            pipeline,
            metrics,
            queue,
            ticker,
            memory_check,
            consumers,
            deadline,
            shutdown_timeout: s.shutdown_timeout,
            catalog_refresh,
        })
    }
}

/// The pricing engine, and the cost series it feeds (`/metrics`).
fn engine(s: &GatewaySettings, catalog: Arc<Catalog>) -> (Engine, Arc<CostAggregator>) {
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
    (engine, cost_series)
}

/// The receivers' TLS configurations, loaded before anything is opened or bound.
struct ReceiverTls {
    grpc: Option<Arc<rustls::ServerConfig>>,
    http: Option<Arc<rustls::ServerConfig>>,
}

impl ReceiverTls {
    fn load(s: &GatewaySettings) -> Result<ReceiverTls, GatewayError> {
        let grpc = match &s.grpc_tls {
            Some(f) => Some(tls::grpc_server_config(f).map_err(GatewayError::Tls)?),
            None => None,
        };
        let http = match &s.http_tls {
            Some(f) => Some(tls::server_config(f).map_err(GatewayError::Tls)?),
            None => None,
        };
        Ok(ReceiverTls { grpc, http })
    }
}

/// The export queue; with `exporter.queue.directory`, its write-ahead log opened (off the async
/// workers: it reads files) and what an earlier run left in it.
async fn export_queue(
    s: &GatewaySettings,
) -> Result<(Arc<ExportQueue>, Option<persist::Backlog>), GatewayError> {
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
    let queue = ExportQueue::with_wal(s.exporter.queue.size, limits, wal)
        .with_max_memory(s.exporter.queue.max_memory_bytes);
    Ok((Arc::new(queue), backlog))
}

/// The handler both receivers share: assembly, pricing, the JSONL cost records if configured.
fn pipeline(
    s: &GatewaySettings,
    engine: Engine,
    clock: Arc<dyn Clock>,
    queue: &Arc<ExportQueue>,
    metrics: &Arc<Metrics>,
    refresher: &Arc<crate::refresh::CatalogRefresher>,
) -> Result<Arc<Pipeline>, GatewayError> {
    let assembler = assembly::Assembler::new(s.assembly.clone(), clock);
    let mut pipeline = Pipeline::new(engine, assembler, queue.clone(), metrics.clone())
        .with_receive_budget(s.receiver_memory_bytes)
        .with_catalog_refresher(refresher.clone());
    if let Some(path) = &s.analytics.records {
        let records = crate::records::RecordWriter::open(path)
            .and_then(|w| CostRecords::start(w, &s.pricing.prefix, metrics.clone()))
            .map_err(|e| GatewayError::Records(path.display().to_string(), e))?;
        pipeline = pipeline.with_records(records);
    }
    Ok(Arc::new(pipeline))
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

/// `queue.consumers` tasks sending the export queue's batches downstream.
fn spawn_consumers(
    s: &GatewaySettings,
    queue: &Arc<ExportQueue>,
    client: &Client,
    metrics: &Arc<Metrics>,
    deadline: &watch::Receiver<Option<tokio::time::Instant>>,
) -> Vec<JoinHandle<()>> {
    let settings = ConsumerSettings {
        retry: s.exporter.retry.clone(),
    };
    (0..s.exporter.queue.consumers)
        .map(|i| {
            tokio::spawn(export::consumer(
                i as u64,
                queue.clone(),
                client.clone(),
                settings.clone(),
                metrics.clone(),
                deadline.clone(),
            ))
        })
        .collect()
}

/// The task releasing traces whose wait is over (a quarter of `root_grace`, 5 ms to 250 ms).
fn spawn_ticker(s: &GatewaySettings, pipeline: &Arc<Pipeline>) -> JoinHandle<()> {
    let tick =
        (s.assembly.root_grace / 4).clamp(Duration::from_millis(5), Duration::from_millis(250));
    let p = pipeline.clone();
    tokio::spawn(async move {
        let mut iv = tokio::time::interval(tick);
        iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            iv.tick().await;
            p.tick();
        }
    })
}

/// With `memory_limiter`, the task reading resident memory every `check_interval`.
fn spawn_memory_check(s: &GatewaySettings, pipeline: &Arc<Pipeline>) -> Option<JoinHandle<()>> {
    if s.memory_limit.is_some() && resident_bytes().is_none() {
        tracing::warn!("memory_limiter: resident memory cannot be read on this system (Linux /proc only); only the assembly and queue budgets apply");
    }
    s.memory_limit.map(|limit| {
        let p = pipeline.clone();
        tokio::spawn(async move {
            let mut iv = tokio::time::interval(limit.check_interval);
            iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                iv.tick().await;
                // A file read (procfs): off the async workers like every other.
                if let Ok(Some(rss)) = tokio::task::spawn_blocking(resident_bytes).await {
                    p.check_memory(rss, &limit);
                }
            }
        })
    })
}

/// Every listener, bound (with the address asked for, for errors).
struct Listeners {
    grpc: Option<(TcpListener, SocketAddr)>,
    http: Option<(TcpListener, SocketAddr)>,
    metrics: Option<(TcpListener, SocketAddr)>,
}

/// The listeners, served (held by the running gateway).
#[derive(Debug)]
pub(super) struct Listening {
    pub(super) grpc_addr: Option<SocketAddr>,
    pub(super) http_addr: Option<SocketAddr>,
    pub(super) metrics_addr: Option<SocketAddr>,
    pub(super) receivers: Vec<conn::Served>,
    /// Requests whose handler runs on the receivers (shutdown waits for none before draining).
    pub(super) requests: Arc<conn::Requests>,
    pub(super) metrics_server: Option<conn::Served>,
}

impl Listeners {
    /// Binds everything first, so a bad address fails before any task starts.
    async fn bind(s: &GatewaySettings) -> Result<Listeners, GatewayError> {
        Ok(Listeners {
            grpc: bind("gRPC receiver", s.grpc).await?,
            http: bind("HTTP receiver", s.http).await?,
            metrics: bind("metrics", s.metrics).await?,
        })
    }

    /// Serves the receivers and the metrics endpoint.
    fn serve(
        self,
        s: &GatewaySettings,
        tls: ReceiverTls,
        pipeline: &Arc<Pipeline>,
        metrics: &Arc<Metrics>,
    ) -> Result<Listening, GatewayError> {
        let auth = s
            .auth_token
            .as_ref()
            .map(|t| auth::BearerAuth::new(t.expose()));
        let mut receivers = Vec::new();
        let requests = Arc::new(conn::Requests::default());
        let mut grpc_addr = None;
        if let Some((l, a)) = self.grpc {
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
                    tls: tls.grpc,
                },
                metrics.clone(),
                requests.clone(),
            ));
        }
        let mut http_addr = None;
        if let Some((l, a)) = self.http {
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
                    tls: tls.http,
                },
                metrics.clone(),
                requests.clone(),
            ));
        }
        let mut metrics_addr = None;
        let mut metrics_server = None;
        if let Some((l, a)) = self.metrics {
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
        Ok(Listening {
            grpc_addr,
            http_addr,
            metrics_addr,
            receivers,
            requests,
            metrics_server,
        })
    }
}

async fn bind(
    what: &'static str,
    addr: Option<SocketAddr>,
) -> Result<Option<(TcpListener, SocketAddr)>, GatewayError> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let l = TcpListener::bind(addr)
        .await
        .map_err(|source| GatewayError::Bind { what, addr, source })?;
    Ok(Some((l, addr)))
}

fn local(
    l: &TcpListener,
    what: &'static str,
    addr: SocketAddr,
) -> Result<SocketAddr, GatewayError> {
    l.local_addr()
        .map_err(|source| GatewayError::Bind { what, addr, source })
}

fn conn_limits(c: &ConnectionLimits) -> conn::Limits {
    conn::Limits {
        header_read_timeout: c.header_read_timeout,
        body_read_timeout: c.body_read_timeout,
        idle_timeout: c.idle_timeout,
        max_connections: c.max_connections,
    }
}
