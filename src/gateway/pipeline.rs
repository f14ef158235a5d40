//! The handler both receivers share, and what happens to spans after it.
//!
//! ```text
//! receiver -> Pipeline::admit (room in the queue for it? shutting down?), before decoding
//!          -> Pipeline::ingest(request) -> admission again -> split
//!          [-> write-ahead log, persist.rs] -> Assembler::add -> releases -> Engine::price_trace
//!          -> cost metrics -> ExportQueue
//! ticker   -> Pipeline::tick -> Assembler::poll -> (same)
//! start    -> Pipeline::replay (what the log held) -> Assembler::add -> (same)
//! shutdown -> Pipeline::drain -> Assembler::drain -> (same)
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest,
};

use super::assembly::{Assembler, Release, ReleaseReason};
use super::budget::MemoryBudget;
use super::cost_records::CostRecords;
use super::export::{ExportQueue, Room};
use super::metrics::{Gauges, Metrics, MetricsSnapshot, NotDelivered, Protocol, Refused, TooLarge};
use super::persist::{self, AppendError, Wal};
use super::proto_span::{count_spans, GatewaySpan, RefusedSpans};
use crate::engine::Engine;

/// Wait suggested to senders refused because the queue is full or the gateway is stopping.
pub(crate) const REFUSED_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Why ingest refused a request; the receiver answers it (receive.rs turns it into its
/// `Refusal`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum IngestRefusal {
    /// Retryable refusal: 503 + `Retry-After` / `UNAVAILABLE` + `RetryInfo`.
    Unavailable {
        message: String,
        retry_after: Duration,
    },
    /// Refused for good (it could never fit): 413 / `RESOURCE_EXHAUSTED` without `RetryInfo`.
    TooLarge(TooLarge, String),
}

/// The shared handler.
#[derive(Debug)]
pub(crate) struct Pipeline {
    engine: Engine,
    assembler: Mutex<Assembler>,
    queue: Arc<ExportQueue>,
    metrics: Arc<Metrics>,
    accepting: AtomicBool,
    /// Set by the memory limiter while resident memory is over its refusal threshold.
    memory_high: AtomicBool,
    /// JSONL cost records (opt-in), written by their own thread (cost_records.rs).
    records: Option<CostRecords>,
    /// What requests being received may hold (budget.rs).
    budget: Arc<MemoryBudget>,
    /// The catalog's refresher, for `/metrics` (catalog_refresh.rs).
    catalog: Option<Arc<crate::refresh::CatalogRefresher>>,
}

impl Pipeline {
    pub(crate) fn new(
        engine: Engine,
        assembler: Assembler,
        queue: Arc<ExportQueue>,
        metrics: Arc<Metrics>,
    ) -> Pipeline {
        Pipeline {
            engine,
            assembler: Mutex::new(assembler),
            queue,
            metrics,
            accepting: AtomicBool::new(true),
            memory_high: AtomicBool::new(false),
            records: None,
            budget: MemoryBudget::new(usize::MAX),
            catalog: None,
        }
    }

    /// Reports the catalog in use and its refreshes on `/metrics`.
    pub(crate) fn with_catalog_refresher(
        mut self,
        r: Arc<crate::refresh::CatalogRefresher>,
    ) -> Pipeline {
        self.catalog = Some(r);
        self
    }

    /// The engine (the catalog refresh swaps its catalog).
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Bounds what requests being received may hold (`receivers.otlp.max_memory_bytes`).
    pub(crate) fn with_receive_budget(mut self, bytes: usize) -> Pipeline {
        self.budget = MemoryBudget::new(bytes);
        self
    }

    /// The receivers' memory budget.
    pub(crate) fn budget(&self) -> &Arc<MemoryBudget> {
        &self.budget
    }

    /// Whether accepted requests go to a write-ahead log (`exporter.queue.directory`).
    pub(crate) fn logs_requests(&self) -> bool {
        self.queue.wal().is_some()
    }

    /// Appends a call record per LLM call and a trace record per released trace (off the
    /// async workers: `records` writes them on its own thread).
    pub(crate) fn with_records(mut self, records: CostRecords) -> Pipeline {
        self.records = Some(records);
        self
    }

    /// Waits until every cost record handed to the writer is written (shutdown, after
    /// [`Pipeline::drain`]).
    pub(crate) async fn close_records(&self) {
        if let Some(r) = &self.records {
            r.close().await;
        }
    }

    fn assembler(&self) -> MutexGuard<'_, Assembler> {
        // A panic while holding the lock cannot leave the buffer half-updated in a way that
        // loses spans (every mutation is a push or a whole-trace move), so keep going.
        match self.assembler.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Counts a request refused for its credentials.
    pub(crate) fn unauthenticated(&self, p: Protocol) {
        self.metrics.unauthenticated(p);
    }

    /// Counts a `/metrics` request refused for its credentials.
    pub(crate) fn unauthenticated_scrape(&self) {
        self.metrics.unauthenticated_scrape();
    }

    /// Counts a request that could not be decoded.
    pub(crate) fn malformed(&self, p: Protocol, message: &str) {
        self.metrics.malformed(p);
        tracing::debug!(protocol = ?p, %message, "malformed OTLP request refused");
    }

    /// Counts a request refused for good by `limit` (the receiver answers it).
    pub(crate) fn too_large(&self, p: Protocol, limit: TooLarge) {
        self.metrics.too_large(p, limit);
    }

    /// Counts a request refused because the receivers' memory budget was in use.
    pub(crate) fn over_budget(&self, p: Protocol) {
        self.metrics.over_budget(p);
    }

    /// Counts a request whose body did not arrive in time.
    pub(crate) fn timed_out(&self, p: Protocol) {
        self.metrics.timed_out(p);
    }

    /// Whether a request of `n` spans and `bytes` bytes (its encoded size; for OTLP/JSON its
    /// text, larger) may come in now: the retryable refusal (counted) while the gateway is
    /// stopping, over its memory limit, or the export queue has no room for it now; `TooLarge`
    /// when the queue could never hold it (`exporter.queue.size`, `max_memory_bytes`).
    /// Receivers ask before decoding (the scan counted the spans), and [`Pipeline::ingest`]
    /// again.
    pub(crate) fn admit(&self, n: usize, bytes: usize) -> Result<(), IngestRefusal> {
        let refusal = if !self.accepting.load(Ordering::Acquire) {
            Some((
                Refused::ShuttingDown,
                "the gateway is shutting down; retry (another instance)",
            ))
        } else if n > 0 && self.memory_high.load(Ordering::Acquire) {
            Some((Refused::MemoryLimit, "memory limit reached; retry later"))
        } else if n == 0 {
            None
        } else {
            match self.queue.room_for(n, bytes) {
                Room::Fits => None,
                Room::Later => Some((Refused::QueueFull, "export queue full; retry later")),
                Room::Never(limit, m) => return Err(IngestRefusal::TooLarge(limit, m)),
            }
        };
        if let Some((reason, message)) = refusal {
            self.metrics.refused(reason, n);
            return Err(IngestRefusal::Unavailable {
                message: message.into(),
                retry_after: REFUSED_RETRY_AFTER,
            });
        }
        Ok(())
    }

    /// Handles one decoded request of `bytes` bytes (see [`Pipeline::admit`]). `Ok` carries
    /// the partial success to answer, if any; with a persistent queue it comes only once the
    /// request is in the write-ahead log. `raw`: the protobuf bytes `req` was decoded from,
    /// when the receiver has them (the log writes them as they are instead of encoding `req`
    /// again).
    pub(crate) async fn ingest(
        &self,
        req: ExportTraceServiceRequest,
        refused: RefusedSpans,
        bytes: usize,
        raw: Option<bytes::Bytes>,
    ) -> Result<Option<ExportTracePartialSuccess>, IngestRefusal> {
        let n = count_spans(&req) + refused.spans;
        self.admit(n, bytes)?;
        // Accepted means durable: with a persistent queue the request is logged before it is
        // acknowledged (persist.rs); a failed append refuses it.
        let mut s = match persist::log_request(self.queue.wal(), req, raw).await {
            Ok(s) => s,
            Err(e) => return Err(self.refuse_unlogged(e, n)),
        };
        s.invalid += refused.spans;
        s.first_error = refused.first_error.or(s.first_error);
        let mut releases = Vec::new();
        {
            let _moving = self.metrics.moving();
            self.metrics.received(n);
            self.metrics
                .not_delivered(NotDelivered::InvalidSpan, s.invalid);
            self.assembler().add_all(s.spans, &mut releases);
            self.metrics.pricing(spans_of(&releases));
        }
        self.release(releases);
        Ok((s.invalid > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: i64::try_from(s.invalid).unwrap_or(i64::MAX),
            error_message: s.first_error.unwrap_or_default(),
        }))
    }

    /// Counts and answers a request the write-ahead log could not take (retryable).
    fn refuse_unlogged(&self, e: AppendError, n: usize) -> IngestRefusal {
        let (reason, message) = match e {
            AppendError::Full => (Refused::QueueFull, "persistent queue full; retry later"),
            AppendError::Failed(_) => (
                Refused::PersistFailed,
                "persistent queue: write failed; retry later",
            ),
        };
        self.metrics.refused(reason, n);
        IngestRefusal::Unavailable {
            message: message.into(),
            retry_after: REFUSED_RETRY_AFTER,
        }
    }

    /// Takes back spans an earlier run logged and did not deliver (start, before receivers
    /// open): counted as received by this run, then buffered as if just received.
    pub(crate) fn replay(&self, spans: Vec<GatewaySpan>) {
        let mut releases = Vec::new();
        {
            let _moving = self.metrics.moving();
            self.metrics.received(spans.len());
            self.assembler().add_all(spans, &mut releases);
            self.metrics.pricing(spans_of(&releases));
        }
        self.release(releases);
    }

    /// Releases what is due.
    pub(crate) fn tick(&self) {
        let mut releases = Vec::new();
        {
            let _moving = self.metrics.moving();
            self.assembler().poll(&mut releases);
            self.metrics.pricing(spans_of(&releases));
        }
        self.release(releases);
    }

    /// The memory limiter's reading: refuse above the threshold, resume below the lower one.
    pub(crate) fn check_memory(&self, rss: usize, limit: &super::config::MemoryLimit) {
        let own = self.assembler().buffered_bytes()
            + self.queue.memory_bytes()
            + self.budget.used()
            + self.engine.catalog().resolve_cache_bytes();
        let high = self.memory_high.load(Ordering::Acquire);
        if !high && rss > limit.refuse_above_bytes && own >= limit.own_floor_bytes {
            self.memory_high.store(true, Ordering::Release);
            tracing::warn!(
                rss_bytes = rss,
                threshold_bytes = limit.refuse_above_bytes,
                "memory limit: refusing new data (retryable) until resident memory goes down"
            );
        } else if high && (rss < limit.resume_below_bytes || own < limit.own_floor_bytes / 2) {
            self.memory_high.store(false, Ordering::Release);
            tracing::info!(rss_bytes = rss, "memory limit: accepting again");
        }
    }

    /// Stops accepting: later requests are answered with the retryable status.
    pub(crate) fn stop_accepting(&self) {
        self.accepting.store(false, Ordering::Release);
    }

    /// Releases every buffered trace (shutdown).
    pub(crate) fn drain(&self) {
        let mut releases = Vec::new();
        {
            let _moving = self.metrics.moving();
            self.assembler().drain(&mut releases);
            self.metrics.pricing(spans_of(&releases));
        }
        self.release(releases);
    }

    /// Prices released traces and queues them. Their spans were counted as `pricing` when
    /// they left the assembly buffer (under [`Metrics::moving`], as here when they are queued).
    fn release(&self, releases: Vec<Release>) {
        for mut r in releases {
            self.metrics.released(r.reason);
            if r.reason == ReleaseReason::Late {
                tracing::debug!("late span: its trace was already released; priced alone");
            }
            price_release(&self.engine, &mut r);
            if let Some(records) = &self.records {
                records.write_trace(&r.spans, r.complete);
            }
            let n = r.spans.len();
            let _moving = self.metrics.moving();
            self.queue.push(r.spans);
            self.metrics.priced(n);
        }
    }

    /// The gauges; the span counts are consistent only under [`Metrics::read_still`].
    fn gauges(&self) -> Gauges {
        let a = self.assembler();
        let (queued, in_flight) = self.queue.occupancy();
        Gauges {
            spans_buffered: a.buffered_spans() as u64,
            traces_buffered: a.buffered_traces() as u64,
            bytes_buffered: a.buffered_bytes() as u64,
            spans_pricing: 0, // read by `read_still`
            spans_queued: queued as u64,
            spans_exporting: in_flight as u64,
            queue_bytes: self.queue.memory_bytes() as u64,
            queue_append_failures: self.queue.wal().map_or(0, Wal::append_failures) as u64,
            receiver_bytes: self.budget.used() as u64,
            model_cache_bytes: self.engine.catalog().resolve_cache_bytes() as u64,
        }
    }

    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        let (g, f) = self.metrics.read_still(|| self.gauges());
        self.metrics.snapshot(g, f, self.engine.stats().snapshot())
    }

    pub(crate) fn render(&self) -> String {
        let (g, f) = self.metrics.read_still(|| self.gauges());
        let mut text = self.metrics.render(g, f, self.engine.stats().snapshot());
        if let Some(r) = &self.catalog {
            super::metrics::render_catalog(r, &mut text);
        }
        text
    }
}

/// Spans in `releases`.
fn spans_of(releases: &[Release]) -> usize {
    releases.iter().map(|r| r.spans.len()).sum()
}

/// Prices a released trace: writes attributes and feeds the cost series (engine observers).
pub(crate) fn price_release(engine: &Engine, r: &mut Release) {
    engine.price_trace(&mut r.spans, r.complete);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineOptions;
    use crate::gateway::assembly::SystemClock;
    use crate::gateway::config::{AssemblyConfig, MemoryLimit};
    use crate::gateway::export::BatchLimits;
    use crate::gateway::proto_span::tests::span;
    use crate::gateway::proto_span::{regroup, GatewaySpan};
    use crate::pricing::Catalog;

    fn pipeline() -> Pipeline {
        pipeline_with(ExportQueue::new(1000, BatchLimits::default()))
    }

    fn pipeline_with(queue: ExportQueue) -> Pipeline {
        let catalog = Arc::new(Catalog::embedded().expect("embedded catalog"));
        Pipeline::new(
            Engine::new(catalog, EngineOptions::default()),
            Assembler::new(AssemblyConfig::default(), Arc::new(SystemClock)),
            Arc::new(queue),
            Arc::new(Metrics::default()),
        )
    }

    #[tokio::test]
    async fn a_request_the_log_cannot_take_is_refused_retryably_and_counted_never_acknowledged() {
        let dir =
            std::env::temp_dir().join(format!("otel-llm-cost-pipeline-wal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let q = crate::gateway::config::QueueConfig::default();
        let (wal, _) = Wal::open(&dir, &q).expect("open");
        let p = pipeline_with(ExportQueue::with_wal(
            1000,
            BatchLimits::default(),
            Some(wal),
        ));
        // The disk goes away: the append fails, the request is refused with the retryable status.
        std::fs::remove_dir_all(&dir).expect("remove");
        let refused = p
            .ingest(request(2), RefusedSpans::default(), 0, None)
            .await
            .expect_err("not durable: refused");
        let IngestRefusal::Unavailable { message, .. } = refused else {
            panic!("{refused:?}")
        };
        assert!(message.contains("persistent queue"), "{message}");
        let m = p.snapshot();
        assert_eq!(
            (m.spans_received, m.spans_refused, m.queue_append_failures),
            (0, 1, 1)
        );
        assert!(m.balanced(), "{m:?}");
        assert!(p
            .render()
            .contains("otel_llm_cost_spans_refused_total{reason=\"persist_failed\"} 1"));
    }

    fn request(t: u8) -> ExportTraceServiceRequest {
        let s: GatewaySpan = span(t, 1, 0, &[]);
        regroup(vec![s])
    }

    #[tokio::test]
    async fn memory_limiter_refuses_above_the_threshold_and_resumes_below_the_lower_one() {
        let p = pipeline();
        let limit = MemoryLimit {
            refuse_above_bytes: 850,
            resume_below_bytes: 750,
            own_floor_bytes: 100,
            check_interval: Duration::from_millis(100),
        };
        // Resident memory high but the gateway holds nothing: refusing would not help.
        p.check_memory(900, &limit);
        assert!(
            p.ingest(request(1), RefusedSpans::default(), 0, None)
                .await
                .is_ok(),
            "buffers empty: still accepting"
        );
        // Now one span is buffered (root_grace 2 s), over the floor.
        p.check_memory(900, &limit);
        let refused = p
            .ingest(request(2), RefusedSpans::default(), 0, None)
            .await
            .expect_err("over the limit");
        let IngestRefusal::Unavailable { message, .. } = refused else {
            panic!("{refused:?}")
        };
        assert!(message.contains("memory limit"), "{message}");
        // Between the two thresholds: still refusing (no flapping).
        p.check_memory(800, &limit);
        assert!(p
            .ingest(request(3), RefusedSpans::default(), 0, None)
            .await
            .is_err());
        p.check_memory(700, &limit);
        assert!(p
            .ingest(request(4), RefusedSpans::default(), 0, None)
            .await
            .is_ok());
        let m = p.snapshot();
        assert_eq!((m.spans_received, m.spans_refused), (2, 2));
        // Refusing again, then the buffers empty (released and exported): accepting again even
        // though resident memory stays high.
        p.check_memory(900, &limit);
        assert!(p
            .ingest(request(5), RefusedSpans::default(), 0, None)
            .await
            .is_err());
        p.drain();
        p.queue.take_all(); // exported, say
        p.check_memory(900, &limit);
        assert!(p
            .ingest(request(6), RefusedSpans::default(), 0, None)
            .await
            .is_ok());
        assert!(p
            .render()
            .contains("otel_llm_cost_spans_refused_total{reason=\"memory_limit\"} 3"));
    }
}
