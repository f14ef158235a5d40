//! The gateway's own counters (DESIGN §8) and their Prometheus text exposition.
//!
//! A healthy gateway satisfies, at every scrape, under load too:
//!
//! ```text
//! spans_received = spans_exported + sum(spans_not_delivered{reason})
//!                + spans_buffered + spans_pricing + spans_queued + spans_exporting
//! ```
//!
//! Every move of spans from one of these terms to another happens under the shared side of one
//! lock ([`Metrics::moving`]) and a scrape reads them all under its exclusive side
//! ([`Metrics::still`]), so no scrape sees a span between two terms. (Moves from the queue to
//! an export under way happen under the queue's own lock, and both are read under it.)
//!
//! Spans refused with a retryable status (queue full, shutting down) and malformed requests are
//! never received: the sender keeps them and retries.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::assembly::ReleaseReason;
use crate::analytics::{CostAggregator, ModelLabels};
use crate::engine::StatsSnapshot;

/// Why spans were not delivered downstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotDelivered {
    /// Refused on receipt: bad trace or span id (answered with partial success).
    InvalidSpan,
    /// The downstream answered with a non-retryable error.
    Rejected,
    /// The downstream accepted the request but rejected these spans (partial success).
    PartialSuccess,
    /// Retryable failures until `retry.max_elapsed_time`.
    RetryExhausted,
    /// Still queued or being retried when the shutdown deadline passed.
    Shutdown,
}

/// Why a trace's JSONL cost records were not written (cost_records.rs); its spans were
/// exported all the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordsDropped {
    /// The writer thread's channel was full (the disk slower than the traces).
    QueueFull,
    /// The write failed.
    WriteFailed,
    /// The writer was closed (a release after shutdown began).
    Closed,
}

impl RecordsDropped {
    const ALL: [RecordsDropped; 3] = [
        RecordsDropped::QueueFull,
        RecordsDropped::WriteFailed,
        RecordsDropped::Closed,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RecordsDropped::QueueFull => "queue_full",
            RecordsDropped::WriteFailed => "write_failed",
            RecordsDropped::Closed => "closed",
        }
    }
}

impl NotDelivered {
    const ALL: [NotDelivered; 5] = [
        NotDelivered::InvalidSpan,
        NotDelivered::Rejected,
        NotDelivered::PartialSuccess,
        NotDelivered::RetryExhausted,
        NotDelivered::Shutdown,
    ];

    fn as_str(self) -> &'static str {
        match self {
            NotDelivered::InvalidSpan => "invalid_span",
            NotDelivered::Rejected => "rejected",
            NotDelivered::PartialSuccess => "partial_success",
            NotDelivered::RetryExhausted => "retry_exhausted",
            NotDelivered::Shutdown => "shutdown",
        }
    }
}

/// Why a request was refused with a retryable status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    QueueFull,
    ShuttingDown,
    MemoryLimit,
    /// The persistent queue's write-ahead log could not take the request (a write failed).
    PersistFailed,
}

/// Receiver protocol label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Grpc,
    Http,
}

/// Which limit refused a request for good (HTTP 413 / gRPC `RESOURCE_EXHAUSTED`, not retried).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TooLarge {
    /// The request size limit (compressed, as sent).
    Size,
    /// The request size limit, after decompression.
    Decompressed,
    /// `max_decompression_ratio`.
    Ratio,
    /// The receivers' memory budget could never hold it (`receivers.otlp.max_memory_bytes`).
    Memory,
    /// More spans than `exporter.queue.size`.
    QueueSize,
    /// More bytes than `exporter.queue.max_memory_bytes`.
    QueueMemory,
}

impl TooLarge {
    const ALL: [TooLarge; 6] = [
        TooLarge::Size,
        TooLarge::Decompressed,
        TooLarge::Ratio,
        TooLarge::Memory,
        TooLarge::QueueSize,
        TooLarge::QueueMemory,
    ];

    /// Metric label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TooLarge::Size => "size",
            TooLarge::Decompressed => "decompressed_size",
            TooLarge::Ratio => "decompression_ratio",
            TooLarge::Memory => "memory_budget",
            TooLarge::QueueSize => "queue_size",
            TooLarge::QueueMemory => "queue_memory",
        }
    }
}

/// A listener (connection counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listener {
    Grpc,
    Http,
    Metrics,
}

impl Listener {
    const ALL: [Listener; 3] = [Listener::Grpc, Listener::Http, Listener::Metrics];

    /// Metric label, and the name used in logs.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Listener::Grpc => "grpc",
            Listener::Http => "http",
            Listener::Metrics => "metrics",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Counters of one listener's connections.
#[derive(Debug, Default)]
struct ConnCounters {
    accepted: AtomicU64,
    open: AtomicU64,
    timed_out: AtomicU64,
    accept_errors: AtomicU64,
}

/// The counters.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    spans_received: AtomicU64,
    refused_queue_full: AtomicU64,
    refused_shutting_down: AtomicU64,
    refused_memory_limit: AtomicU64,
    refused_persist_failed: AtomicU64,
    malformed_grpc: AtomicU64,
    malformed_http: AtomicU64,
    unauthenticated_grpc: AtomicU64,
    unauthenticated_http: AtomicU64,
    unauthenticated_metrics: AtomicU64,
    traces_released: [AtomicU64; 6],
    export_requests: AtomicU64,
    export_retries: AtomicU64,
    export_failures: AtomicU64,
    export_partial_success: AtomicU64,
    spans_exported: AtomicU64,
    not_delivered: [AtomicU64; 5],
    /// Requests refused for good by a limit, by protocol then [`TooLarge`].
    too_large: [[AtomicU64; 6]; 2],
    /// Requests refused (retryable) because the receivers' memory budget was in use.
    over_budget: [AtomicU64; 2],
    /// Requests whose body did not arrive within `body_read_timeout`.
    timed_out: [AtomicU64; 2],
    /// Connections, by listener.
    conns: [ConnCounters; 3],
    /// Spans taken out of the assembly buffer and not yet in the export queue (being priced).
    spans_pricing: AtomicU64,
    /// Traces whose cost records were not written, by [`RecordsDropped`].
    records_dropped: [AtomicU64; 3],
    /// Shared by every move between the terms of the invariant, exclusive for a scrape (see the
    /// module docs). Guards no data: a poisoned lock (a panic while a scrape held it) is taken
    /// as it is.
    moves: RwLock<()>,
    /// Exact cost series, fed by the engine for every released trace.
    cost: Arc<CostAggregator>,
}

/// Gauges read at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Gauges {
    pub spans_buffered: u64,
    pub traces_buffered: u64,
    pub bytes_buffered: u64,
    /// Spans taken out of the assembly buffer, not yet queued (being priced).
    pub spans_pricing: u64,
    pub spans_queued: u64,
    pub spans_exporting: u64,
    /// Encoded bytes of the export queue (queued and being exported), held in memory.
    pub queue_bytes: u64,
    /// Appends to the persistent queue's write-ahead log that failed (each refused its request).
    pub queue_append_failures: u64,
    /// Bytes reserved against the receivers' memory budget (requests being received).
    pub receiver_bytes: u64,
    /// Bytes of the model-resolution cache.
    pub model_cache_bytes: u64,
}

/// The counters the invariant sums, read together (under [`Metrics::still`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Flow {
    received: u64,
    exported: u64,
    not_delivered: [u64; 5],
}

/// Counter values at one instant (what `/metrics` shows), for tests and the shutdown report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Spans accepted from senders.
    pub spans_received: u64,
    /// Spans refused with a retryable status (queue full, shutting down, memory limit, persistent
    /// queue write failed); senders retry them.
    pub spans_refused: u64,
    /// Malformed requests answered 400 / `INVALID_ARGUMENT`.
    pub requests_malformed: u64,
    /// Requests refused for a missing or wrong bearer token (401 / `UNAUTHENTICATED`), on the
    /// receivers and `/metrics`.
    pub requests_unauthenticated: u64,
    /// Appends to the persistent queue's write-ahead log that failed (each refused its request
    /// with the retryable status, counted in `spans_refused`).
    pub queue_append_failures: u64,
    /// Requests refused for good by a size, memory or queue limit (413 /
    /// `RESOURCE_EXHAUSTED`), all limits together.
    pub requests_too_large: u64,
    /// Requests refused with the retryable status because the receivers' memory budget was in
    /// use (their spans are not known: they were not decoded).
    pub requests_over_budget: u64,
    /// Requests whose body did not arrive within `body_read_timeout`.
    pub requests_timed_out: u64,
    /// Connections closed because they sent no request in time (header or idle timeout), all
    /// listeners.
    pub connections_timed_out: u64,
    /// Failed `accept()` calls (e.g. out of file descriptors), all listeners.
    pub accept_errors: u64,
    /// Spans whose trace had already been released, priced and forwarded alone.
    pub spans_late: u64,
    /// Traces released, by reason (`root`, `timeout`, `span_limit`, `evicted`, `shutdown`).
    pub traces_released: BTreeMap<String, u64>,
    /// Export requests sent (first attempts).
    pub export_requests: u64,
    /// Export retries.
    pub export_retries: u64,
    /// Export requests that ended undelivered.
    pub export_failures: u64,
    /// Spans delivered downstream.
    pub spans_exported: u64,
    /// Spans not delivered, by reason.
    pub spans_not_delivered: BTreeMap<String, u64>,
    /// Spans in the assembly buffer.
    pub spans_buffered: u64,
    /// Spans taken out of the assembly buffer and not yet queued (being priced).
    pub spans_pricing: u64,
    /// Spans in the export queue.
    pub spans_queued: u64,
    /// Spans in export requests under way.
    pub spans_exporting: u64,
    /// Engine counters.
    pub engine: StatsSnapshot,
    /// Traces whose JSONL cost records (`analytics.records`) were not written: the writer
    /// fell behind, a write failed, or shutdown had closed it. Their spans were exported.
    pub cost_records_dropped: u64,
}

impl MetricsSnapshot {
    /// Sum of spans not delivered.
    pub fn not_delivered_total(&self) -> u64 {
        self.spans_not_delivered.values().sum()
    }

    /// Spans accepted and then lost: not delivered for any reason but `invalid_span` (those
    /// were refused on receipt, with partial success, and never accepted).
    pub fn lost(&self) -> u64 {
        self.not_delivered_total()
            - self
                .spans_not_delivered
                .get(NotDelivered::InvalidSpan.as_str())
                .copied()
                .unwrap_or(0)
    }

    /// `spans_received == spans_exported + not delivered + buffered + pricing + queued +
    /// exporting`.
    pub fn balanced(&self) -> bool {
        self.spans_received
            == self.spans_exported
                + self.not_delivered_total()
                + self.spans_buffered
                + self.spans_pricing
                + self.spans_queued
                + self.spans_exporting
    }
}

/// At most one log line per `every` for a kind of event that an attacker can repeat at will
/// (refusals, accept errors), so the log stays readable; the events are counted regardless.
#[derive(Debug)]
pub(crate) struct LogLimiter {
    every: std::time::Duration,
    /// Milliseconds since `start` of the last line (`u64::MAX`: never).
    last: AtomicU64,
    suppressed: AtomicU64,
    start: std::time::Instant,
}

impl LogLimiter {
    pub(crate) fn new(every: std::time::Duration) -> LogLimiter {
        LogLimiter {
            every,
            last: AtomicU64::new(u64::MAX),
            suppressed: AtomicU64::new(0),
            start: std::time::Instant::now(),
        }
    }

    /// `Some(events not logged since the last line)` when this one may be logged.
    pub(crate) fn allow(&self) -> Option<u64> {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        let every = u64::try_from(self.every.as_millis()).unwrap_or(u64::MAX);
        let last = self.last.load(Ordering::Relaxed);
        let due = last == u64::MAX || now.saturating_sub(last) >= every;
        if due
            && self
                .last
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::AcqRel));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl Metrics {
    /// Holds off scrapes while spans move between the terms of the invariant (module docs).
    /// Take it before any other lock, never twice on one thread (the lock prefers a waiting
    /// scrape, which would then wait for this thread forever), and hold it across no `.await`.
    pub(crate) fn moving(&self) -> RwLockReadGuard<'_, ()> {
        self.moves.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until no spans are moving, and holds moves off while the counters are read.
    fn still(&self) -> RwLockWriteGuard<'_, ()> {
        self.moves.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the gauges (`gauges`) and the invariant's counters at one instant.
    pub(crate) fn read_still(&self, gauges: impl FnOnce() -> Gauges) -> (Gauges, Flow) {
        let _still = self.still();
        let g = Gauges {
            spans_pricing: get(&self.spans_pricing),
            ..gauges()
        };
        let flow = Flow {
            received: get(&self.spans_received),
            exported: get(&self.spans_exported),
            not_delivered: self.not_delivered.each_ref().map(get),
        };
        (g, flow)
    }

    pub(crate) fn received(&self, n: usize) {
        add(&self.spans_received, n as u64);
    }
    /// Spans taken out of the assembly buffer for pricing.
    pub(crate) fn pricing(&self, n: usize) {
        add(&self.spans_pricing, n as u64);
    }
    /// Priced spans handed to the export queue.
    pub(crate) fn priced(&self, n: usize) {
        self.spans_pricing.fetch_sub(n as u64, Ordering::Relaxed);
    }
    pub(crate) fn refused(&self, why: Refused, n: usize) {
        match why {
            Refused::QueueFull => add(&self.refused_queue_full, n as u64),
            Refused::ShuttingDown => add(&self.refused_shutting_down, n as u64),
            Refused::MemoryLimit => add(&self.refused_memory_limit, n as u64),
            Refused::PersistFailed => add(&self.refused_persist_failed, n as u64),
        }
    }
    pub(crate) fn malformed(&self, p: Protocol) {
        match p {
            Protocol::Grpc => add(&self.malformed_grpc, 1),
            Protocol::Http => add(&self.malformed_http, 1),
        }
    }
    pub(crate) fn unauthenticated(&self, p: Protocol) {
        match p {
            Protocol::Grpc => add(&self.unauthenticated_grpc, 1),
            Protocol::Http => add(&self.unauthenticated_http, 1),
        }
    }
    /// A `/metrics` request without the configured bearer token.
    pub(crate) fn unauthenticated_scrape(&self) {
        add(&self.unauthenticated_metrics, 1);
    }
    pub(crate) fn released(&self, r: ReleaseReason) {
        if let Some(i) = ReleaseReason::ALL.iter().position(|x| *x == r) {
            add(&self.traces_released[i], 1);
        }
    }
    pub(crate) fn export_request(&self) {
        add(&self.export_requests, 1);
    }
    pub(crate) fn export_retry(&self) {
        add(&self.export_retries, 1);
    }
    pub(crate) fn export_failure(&self) {
        add(&self.export_failures, 1);
    }
    pub(crate) fn partial_success(&self) {
        add(&self.export_partial_success, 1);
    }
    pub(crate) fn exported(&self, n: usize) {
        add(&self.spans_exported, n as u64);
    }
    pub(crate) fn too_large(&self, p: Protocol, limit: TooLarge) {
        if let Some(i) = TooLarge::ALL.iter().position(|x| *x == limit) {
            add(&self.too_large[p as usize][i], 1);
        }
    }
    pub(crate) fn over_budget(&self, p: Protocol) {
        add(&self.over_budget[p as usize], 1);
    }
    pub(crate) fn timed_out(&self, p: Protocol) {
        add(&self.timed_out[p as usize], 1);
    }
    pub(crate) fn connection_opened(&self, l: Listener) {
        let c = &self.conns[l.index()];
        add(&c.accepted, 1);
        add(&c.open, 1);
    }
    pub(crate) fn connection_closed(&self, l: Listener) {
        self.conns[l.index()].open.fetch_sub(1, Ordering::Relaxed);
    }
    pub(crate) fn connection_timed_out(&self, l: Listener) {
        add(&self.conns[l.index()].timed_out, 1);
    }
    pub(crate) fn accept_error(&self, l: Listener) {
        add(&self.conns[l.index()].accept_errors, 1);
    }
    pub(crate) fn records_dropped(&self, why: RecordsDropped) {
        if let Some(i) = RecordsDropped::ALL.iter().position(|x| *x == why) {
            add(&self.records_dropped[i], 1);
        }
    }
    pub(crate) fn records_dropped_total(&self) -> u64 {
        self.records_dropped.iter().map(get).sum()
    }
    pub(crate) fn not_delivered(&self, why: NotDelivered, n: usize) {
        if let Some(i) = NotDelivered::ALL.iter().position(|x| *x == why) {
            add(&self.not_delivered[i], n as u64);
        }
    }

    /// Counters whose cost series come from `cost` (also registered as an engine observer).
    pub(crate) fn with_cost(cost: Arc<CostAggregator>) -> Metrics {
        Metrics {
            cost,
            ..Metrics::default()
        }
    }

    pub(crate) fn snapshot(&self, g: Gauges, f: Flow, engine: StatsSnapshot) -> MetricsSnapshot {
        MetricsSnapshot {
            spans_received: f.received,
            spans_refused: get(&self.refused_queue_full)
                + get(&self.refused_shutting_down)
                + get(&self.refused_memory_limit)
                + get(&self.refused_persist_failed),
            requests_malformed: get(&self.malformed_grpc) + get(&self.malformed_http),
            requests_unauthenticated: get(&self.unauthenticated_grpc)
                + get(&self.unauthenticated_http)
                + get(&self.unauthenticated_metrics),
            queue_append_failures: g.queue_append_failures,
            requests_too_large: self.too_large.iter().flatten().map(get).sum(),
            requests_over_budget: self.over_budget.iter().map(get).sum(),
            requests_timed_out: self.timed_out.iter().map(get).sum(),
            connections_timed_out: self.conns.iter().map(|c| get(&c.timed_out)).sum(),
            accept_errors: self.conns.iter().map(|c| get(&c.accept_errors)).sum(),
            spans_late: get(&self.traces_released[5]),
            traces_released: ReleaseReason::ALL[..5]
                .iter()
                .zip(&self.traces_released)
                .map(|(r, c)| (r.as_str().to_owned(), get(c)))
                .collect(),
            export_requests: get(&self.export_requests),
            export_retries: get(&self.export_retries),
            export_failures: get(&self.export_failures),
            spans_exported: f.exported,
            spans_not_delivered: NotDelivered::ALL
                .iter()
                .zip(f.not_delivered)
                .map(|(r, c)| (r.as_str().to_owned(), c))
                .collect(),
            spans_buffered: g.spans_buffered,
            spans_pricing: g.spans_pricing,
            spans_queued: g.spans_queued,
            spans_exporting: g.spans_exporting,
            engine,
            cost_records_dropped: self.records_dropped_total(),
        }
    }

    /// Prometheus text exposition format 0.0.4, one family of metrics after another.
    pub(crate) fn render(&self, g: Gauges, f: Flow, e: StatsSnapshot) -> String {
        let mut o = String::with_capacity(8192);
        self.render_intake(&mut o, f);
        self.render_connections(&mut o);
        counter(
            &mut o,
            "otel_llm_cost_queue_append_failures_total",
            "Write-ahead log appends that failed; each request was refused with the retryable status.",
            &[("", g.queue_append_failures)],
        );
        render_engine(&mut o, &e);
        self.render_assembly(&mut o);
        self.render_export(&mut o, f);
        let dropped: Vec<(String, u64)> = RecordsDropped::ALL
            .iter()
            .zip(&self.records_dropped)
            .map(|(r, c)| (format!("reason=\"{}\"", r.as_str()), get(c)))
            .collect();
        counter_owned(
            &mut o,
            "otel_llm_cost_cost_records_dropped_total",
            "Traces whose JSONL cost records were not written (their spans were exported), by reason.",
            &dropped,
        );
        render_gauges(&mut o, g);
        self.render_cost(&mut o);
        o
    }

    /// What the receivers took in and refused: spans received and refused, requests malformed,
    /// unauthenticated, too large, over the memory budget, timed out.
    fn render_intake(&self, o: &mut String, f: Flow) {
        counter(
            o,
            "otel_llm_cost_spans_received_total",
            "Spans accepted from senders.",
            &[("", f.received)],
        );
        counter(
            o,
            "otel_llm_cost_spans_refused_total",
            "Spans refused with a retryable status (the sender keeps and retries them).",
            &[
                ("reason=\"queue_full\"", get(&self.refused_queue_full)),
                ("reason=\"shutting_down\"", get(&self.refused_shutting_down)),
                ("reason=\"memory_limit\"", get(&self.refused_memory_limit)),
                (
                    "reason=\"persist_failed\"",
                    get(&self.refused_persist_failed),
                ),
            ],
        );
        counter(
            o,
            "otel_llm_cost_requests_malformed_total",
            "Requests answered 400 / INVALID_ARGUMENT.",
            &[
                ("protocol=\"grpc\"", get(&self.malformed_grpc)),
                ("protocol=\"http\"", get(&self.malformed_http)),
            ],
        );
        counter(
            o,
            "otel_llm_cost_requests_unauthenticated_total",
            "Requests refused for a missing or wrong bearer token (401 / UNAUTHENTICATED), by receiver protocol or the metrics endpoint.",
            &[
                ("protocol=\"grpc\"", get(&self.unauthenticated_grpc)),
                ("protocol=\"http\"", get(&self.unauthenticated_http)),
                ("protocol=\"metrics\"", get(&self.unauthenticated_metrics)),
            ],
        );
        let protocols = [(Protocol::Grpc, "grpc"), (Protocol::Http, "http")];
        let mut rows = Vec::new();
        for (p, pl) in protocols {
            for (i, l) in TooLarge::ALL.iter().enumerate() {
                rows.push((
                    format!("protocol=\"{pl}\",limit=\"{}\"", l.as_str()),
                    get(&self.too_large[p as usize][i]),
                ));
            }
        }
        counter_owned(
            o,
            "otel_llm_cost_requests_too_large_total",
            "Requests refused for good by a size, memory or queue limit (413 / RESOURCE_EXHAUSTED).",
            &rows,
        );
        counter(
            o,
            "otel_llm_cost_requests_over_memory_budget_total",
            "Requests refused with the retryable status: the receivers' memory budget was in use.",
            &[
                ("protocol=\"grpc\"", get(&self.over_budget[0])),
                ("protocol=\"http\"", get(&self.over_budget[1])),
            ],
        );
        counter(
            o,
            "otel_llm_cost_requests_timed_out_total",
            "Requests whose body did not arrive within body_read_timeout.",
            &[
                ("protocol=\"grpc\"", get(&self.timed_out[0])),
                ("protocol=\"http\"", get(&self.timed_out[1])),
            ],
        );
    }

    /// Connections by listener: accepted, timed out, accept errors, open.
    fn render_connections(&self, o: &mut String) {
        let per_listener = |f: fn(&ConnCounters) -> &AtomicU64| -> Vec<(String, u64)> {
            Listener::ALL
                .iter()
                .map(|l| {
                    (
                        format!("listener=\"{}\"", l.as_str()),
                        get(f(&self.conns[l.index()])),
                    )
                })
                .collect()
        };
        for (name, help, f) in [
            (
                "otel_llm_cost_connections_accepted_total",
                "Connections accepted, by listener.",
                (|c| &c.accepted) as fn(&ConnCounters) -> &AtomicU64,
            ),
            (
                "otel_llm_cost_connections_timed_out_total",
                "Connections closed for sending no request within header_read_timeout (new) or idle_timeout (after a request).",
                |c| &c.timed_out,
            ),
            (
                "otel_llm_cost_accept_errors_total",
                "Failed accept() calls (e.g. out of file descriptors); accepting backs off.",
                |c| &c.accept_errors,
            ),
        ] {
            counter_owned(o, name, help, &per_listener(f));
        }
        let _ = writeln!(
            o,
            "# HELP otel_llm_cost_connections_open Connections open, by listener.\n# TYPE otel_llm_cost_connections_open gauge"
        );
        for l in Listener::ALL {
            let _ = writeln!(
                o,
                "otel_llm_cost_connections_open{{listener=\"{}\"}} {}",
                l.as_str(),
                get(&self.conns[l.index()].open)
            );
        }
    }

    /// Late spans and traces released from assembly, by reason.
    fn render_assembly(&self, o: &mut String) {
        counter(
            o,
            "otel_llm_cost_spans_late_total",
            "Spans whose trace was already released, priced and forwarded alone.",
            &[("", get(&self.traces_released[5]))],
        );
        let released: Vec<(String, u64)> = ReleaseReason::ALL[..5]
            .iter()
            .zip(&self.traces_released)
            .map(|(r, c)| (format!("reason=\"{}\"", r.as_str()), get(c)))
            .collect();
        counter_owned(
            o,
            "otel_llm_cost_traces_released_total",
            "Traces released from assembly, by reason.",
            &released,
        );
    }

    /// The exporter: requests, retries, failures, partial successes, spans exported and not
    /// delivered.
    fn render_export(&self, o: &mut String, f: Flow) {
        counter(
            o,
            "otel_llm_cost_export_requests_total",
            "Export requests (first attempts).",
            &[("", get(&self.export_requests))],
        );
        counter(
            o,
            "otel_llm_cost_export_retries_total",
            "Export retries.",
            &[("", get(&self.export_retries))],
        );
        counter(
            o,
            "otel_llm_cost_export_failures_total",
            "Export requests that ended undelivered.",
            &[("", get(&self.export_failures))],
        );
        counter(
            o,
            "otel_llm_cost_export_partial_success_total",
            "Export responses reporting rejected spans (never retried).",
            &[("", get(&self.export_partial_success))],
        );
        counter(
            o,
            "otel_llm_cost_spans_exported_total",
            "Spans delivered downstream.",
            &[("", f.exported)],
        );
        let nd: Vec<(String, u64)> = NotDelivered::ALL
            .iter()
            .zip(f.not_delivered)
            .map(|(r, c)| (format!("reason=\"{}\"", r.as_str()), c))
            .collect();
        counter_owned(
            o,
            "otel_llm_cost_spans_not_delivered_total",
            "Spans received but not delivered, by reason.",
            &nd,
        );
    }

    /// The exact cost series (fed by the engine): USD, tokens, calls, unpriced calls, traces.
    fn render_cost(&self, o: &mut String) {
        let series = self.cost.series();
        let label = |(m, p, s, w): &ModelLabels| {
            format!(
                "model=\"{}\",provider=\"{}\",service=\"{}\",workflow=\"{}\"",
                esc(m),
                esc(p),
                esc(s),
                esc(w)
            )
        };
        // Exact decimal sums (Prometheus parses any float literal).
        let _ = writeln!(
            o,
            "# HELP otel_llm_cost_usd_total Cost of LLM calls in USD, by model, provider, service and workflow (root span name).\n# TYPE otel_llm_cost_usd_total counter"
        );
        for (k, v) in &series.by_model {
            let _ = writeln!(o, "otel_llm_cost_usd_total{{{}}} {}", label(k), v.cost);
        }
        // The same cost by charge kind (a fixed set of 12; only the kinds a series was charged).
        let _ = writeln!(
            o,
            "# HELP otel_llm_cost_usd_by_kind_total Cost of LLM calls in USD by charge kind (input, cache_read, cache_write, audio_input, output, reasoning, audio_output, media_input, media_output, tool_calls, per_unit, provided), by model, provider, service and workflow.\n# TYPE otel_llm_cost_usd_by_kind_total counter"
        );
        for (k, v) in &series.by_model {
            for (kind, usd) in v.kinds.iter().filter(|(_, u)| !u.is_zero()) {
                let _ = writeln!(
                    o,
                    "otel_llm_cost_usd_by_kind_total{{{},kind=\"{kind}\"}} {usd}",
                    label(k)
                );
            }
        }
        let _ = writeln!(
            o,
            "# HELP otel_llm_cost_tokens_total Tokens of LLM calls with a cost, by model, provider, service, workflow and type.\n# TYPE otel_llm_cost_tokens_total counter"
        );
        for (k, v) in &series.by_model {
            let t = v.tokens;
            for (ty, n) in [
                ("input", t.input),
                ("output", t.output),
                ("cache_read", t.cache_read),
                ("cache_write", t.cache_write),
                ("reasoning", t.reasoning),
            ] {
                let _ = writeln!(
                    o,
                    "otel_llm_cost_tokens_total{{{},type=\"{ty}\"}} {n}",
                    label(k)
                );
            }
        }
        let _ = writeln!(
            o,
            "# HELP otel_llm_cost_llm_calls_total LLM calls with a cost, by model, provider, service and workflow.\n# TYPE otel_llm_cost_llm_calls_total counter"
        );
        for (k, v) in &series.by_model {
            let _ = writeln!(
                o,
                "otel_llm_cost_llm_calls_total{{{}}} {}",
                label(k),
                v.calls
            );
        }
        let _ = writeln!(
            o,
            "# HELP otel_llm_cost_llm_calls_unpriced_total LLM calls that could not be priced, by service, workflow and reason.\n# TYPE otel_llm_cost_llm_calls_unpriced_total counter"
        );
        for ((svc, wf, reason), n) in &series.unpriced {
            let _ = writeln!(
                o,
                "otel_llm_cost_llm_calls_unpriced_total{{service=\"{}\",workflow=\"{}\",reason=\"{reason}\"}} {n}",
                esc(svc),
                esc(wf)
            );
        }
        let _ = writeln!(
            o,
            "# HELP otel_llm_cost_traces_total Released traces with LLM calls, by service, workflow and outcome (ok, over_budget, anomaly).\n# TYPE otel_llm_cost_traces_total counter"
        );
        for ((svc, wf, outcome), n) in &series.traces {
            let _ = writeln!(
                o,
                "otel_llm_cost_traces_total{{service=\"{}\",workflow=\"{}\",outcome=\"{outcome}\"}} {n}",
                esc(svc),
                esc(wf)
            );
        }
    }
}

/// A counter family: its help and type lines, then one line per `(labels, value)` row.
fn counter(o: &mut String, name: &str, help: &str, rows: &[(&str, u64)]) {
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter");
    for (labels, v) in rows {
        if labels.is_empty() {
            let _ = writeln!(o, "{name} {v}");
        } else {
            let _ = writeln!(o, "{name}{{{labels}}} {v}");
        }
    }
}

/// [`counter`] with labels built at render time.
fn counter_owned(o: &mut String, name: &str, help: &str, rows: &[(String, u64)]) {
    let rows: Vec<(&str, u64)> = rows.iter().map(|(l, v)| (l.as_str(), *v)).collect();
    counter(o, name, help, &rows);
}

/// What the engine counted: LLM call spans priced, provided, unpriced, not counted.
fn render_engine(o: &mut String, e: &StatsSnapshot) {
    counter(
        o,
        "otel_llm_cost_spans_priced_total",
        "LLM call spans priced from the catalog.",
        &[("", e.priced)],
    );
    counter(
        o,
        "otel_llm_cost_spans_provided_total",
        "LLM call spans that carried their own cost.",
        &[("", e.provided)],
    );
    counter(
        o,
        "otel_llm_cost_spans_unpriced_total",
        "LLM call spans that could not be priced, by reason.",
        &[
            ("reason=\"unknown_model\"", e.unknown_model),
            ("reason=\"invalid_usage\"", e.invalid_usage),
        ],
    );
    counter(
        o,
        "otel_llm_cost_spans_not_counted_total",
        "Spans with usage not counted as calls (duplicates of an inner call, aggregates).",
        &[
            ("reason=\"duplicate\"", e.duplicate),
            ("reason=\"aggregate\"", e.aggregate),
        ],
    );
    counter(
        o,
        "otel_llm_cost_poisoned_locks_total",
        "Locks found poisoned (a panic while one was held; a bug to report): what they guarded was dropped, counted.",
        &[("", e.poisoned_locks)],
    );
    counter(
        o,
        "otel_llm_cost_unreadable_response_bodies_total",
        "OpenInference response bodies (`output.value`) that could not be read for tool-call counts: the call was priced without them.",
        &[("", e.unreadable_response_bodies)],
    );
}

/// The gauges: what the assembly buffer, the export queue, the receivers and the model cache
/// hold.
fn render_gauges(o: &mut String, g: Gauges) {
    for (name, help, v) in [
        (
            "otel_llm_cost_spans_buffered",
            "Spans in the assembly buffer.",
            g.spans_buffered,
        ),
        (
            "otel_llm_cost_traces_buffered",
            "Traces in the assembly buffer.",
            g.traces_buffered,
        ),
        (
            "otel_llm_cost_buffered_bytes",
            "Estimated resident bytes of the assembly buffer (decoded spans and bookkeeping).",
            g.bytes_buffered,
        ),
        (
            "otel_llm_cost_spans_pricing",
            "Spans taken out of the assembly buffer and not yet queued (being priced).",
            g.spans_pricing,
        ),
        (
            "otel_llm_cost_spans_queued",
            "Spans in the export queue.",
            g.spans_queued,
        ),
        (
            "otel_llm_cost_spans_exporting",
            "Spans in export requests under way.",
            g.spans_exporting,
        ),
        (
            "otel_llm_cost_queue_bytes",
            "Encoded bytes held in memory by the export queue (queued and being exported).",
            g.queue_bytes,
        ),
        (
            "otel_llm_cost_receiver_bytes",
            "Bytes reserved against the receivers' memory budget (requests being received and decoded).",
            g.receiver_bytes,
        ),
        (
            "otel_llm_cost_model_cache_bytes",
            "Bytes held by the model-resolution cache (bounded; counted by memory_limiter).",
            g.model_cache_bytes,
        ),
    ] {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
    }
}

/// The price catalog's families (live prices: the catalog in use, its age, refreshes by
/// outcome).
pub(super) fn render_catalog(r: &crate::refresh::CatalogRefresher, o: &mut String) {
    if let Some(s) = r.status() {
        let age = std::time::SystemTime::now()
            .duration_since(s.built_at)
            .unwrap_or_default()
            .as_secs();
        let _ = writeln!(
            o,
            "# HELP otel_llm_cost_catalog_info The price catalog in use: its version and where it came from (sources, cache, file, embedded).\n# TYPE otel_llm_cost_catalog_info gauge\notel_llm_cost_catalog_info{{version=\"{}\",source=\"{}\"}} 1",
            esc(&s.version),
            s.origin.as_str()
        );
        let _ = writeln!(
            o,
            "# HELP otel_llm_cost_catalog_age_seconds Seconds since the catalog in use was built (from the sources; the cache file's write; an embedded or file catalog's generation day).\n# TYPE otel_llm_cost_catalog_age_seconds gauge\notel_llm_cost_catalog_age_seconds {age}"
        );
        let _ = writeln!(
            o,
            "# HELP otel_llm_cost_catalog_models Models in the catalog in use.\n# TYPE otel_llm_cost_catalog_models gauge\notel_llm_cost_catalog_models {}",
            s.models
        );
    }
    let _ = writeln!(
        o,
        "# HELP otel_llm_cost_catalog_refresh_total Catalog refreshes (and start-up fallbacks) by outcome: ok, or why the catalog in use was kept.\n# TYPE otel_llm_cost_catalog_refresh_total counter"
    );
    for (outcome, n) in r.outcomes() {
        let _ = writeln!(
            o,
            "otel_llm_cost_catalog_refresh_total{{outcome=\"{outcome}\"}} {n}"
        );
    }
}

/// Escapes a Prometheus label value.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(agg: &CostAggregator, model: &str, service: &str, femto: u128) {
        use crate::analytics::{TraceObserver, TraceSummary, Verdicts};
        use crate::engine::{CostByKind, ModelShare, TokenCounts, Totals};
        let totals = Totals {
            calls: 1,
            cost: crate::money::Usd::from_femto(femto),
            by_model: vec![ModelShare {
                model: model.into(),
                provider: "openai".into(),
                service: Some(service.into()),
                calls: 1,
                cost: crate::money::Usd::from_femto(femto),
                tokens: TokenCounts {
                    input: 10,
                    output: 20,
                    ..TokenCounts::default()
                },
                kinds: CostByKind::provided(crate::money::Usd::from_femto(femto)),
            }],
            ..Totals::default()
        };
        agg.on_trace(&TraceSummary {
            workflow: "wf",
            service: Some(service),
            totals: &totals,
            complete: true,
            start_unix_nanos: 0,
            verdicts: &Verdicts::default(),
        });
    }

    #[test]
    fn render_has_every_counter_and_escapes_labels() {
        let agg = Arc::new(CostAggregator::default());
        let m = Metrics::with_cost(agg.clone());
        m.received(3);
        m.exported(2);
        m.not_delivered(NotDelivered::Rejected, 1);
        // $0.5 exactly, rendered as an exact decimal.
        trace(&agg, "gpt-4o", "svc \"a\"", 500_000_000_000_000);
        let (g, f) = m.read_still(Gauges::default);
        let text = m.render(g, f, StatsSnapshot::default());
        assert!(text.contains("otel_llm_cost_spans_received_total 3"));
        assert!(text.contains("otel_llm_cost_spans_exported_total 2"));
        assert!(text.contains("\notel_llm_cost_spans_pricing 0\n"));
        assert!(text.contains("\notel_llm_cost_model_cache_bytes 0\n"));
        assert!(text.contains("otel_llm_cost_spans_not_delivered_total{reason=\"rejected\"} 1"));
        assert!(text.contains("service=\"svc \\\"a\\\"\""));
        assert!(text.contains("workflow=\"wf\"} 0.5\n"), "{text}");
        assert!(
            text.contains("workflow=\"wf\",kind=\"provided\"} 0.5\n"),
            "{text}"
        );
        assert!(text.contains("type=\"output\"} 20"));
        assert!(text.contains("otel_llm_cost_traces_total{service=\"svc \\\"a\\\"\",workflow=\"wf\",outcome=\"ok\"} 1"));
        let snap = m.snapshot(g, f, StatsSnapshot::default());
        assert!(snap.balanced());
    }

    #[test]
    fn log_limiter_lets_one_line_through_per_period_and_counts_the_rest() {
        let l = LogLimiter::new(std::time::Duration::from_secs(3600));
        assert_eq!(l.allow(), Some(0));
        assert_eq!(l.allow(), None);
        assert_eq!(l.allow(), None);
        let every = LogLimiter::new(std::time::Duration::ZERO);
        assert_eq!(every.allow(), Some(0));
        assert_eq!(every.allow(), Some(0));
    }

    #[test]
    fn cost_series_are_capped() {
        let agg = CostAggregator::new(crate::analytics::MetricLimits {
            models: crate::analytics::CardinalityLimit::new(5),
            ..crate::analytics::MetricLimits::default()
        });
        for i in 0..15 {
            trace(&agg, &format!("m{i}"), "s", 1);
        }
        let n = agg.series().by_model.len();
        assert_eq!(n, 6, "5 models + other");
    }
}
