//! The exporter: a bounded queue of priced spans, consumers that batch them below the
//! downstream's message limit and send OTLP (gRPC or HTTP/protobuf) with retries per the OTLP
//! spec.
//!
//! ```text
//! release -> ExportQueue (spans) -> consumer: batch (max spans, max bytes) -> regroup -> send/retry -> counters
//! ```
//!
//! Every span that enters the queue ends in exactly one counter: `spans_exported` or
//! `spans_not_delivered{reason}`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tokio::sync::{watch, Notify};
use tonic::transport::Channel;

use super::config::{Compression, ExporterProtocol, ExporterSettings, RetryConfig};
use super::metrics::{Metrics, NotDelivered};
use super::persist::{RecordId, Wal};
use super::proto_span::{
    regroup, resource_wire_len, scope_wire_len, span_wire_len, GatewaySpan, ResourceInfo, ScopeInfo,
};
use super::rpc_status;

/// The export queue. Capacity counts spans queued plus spans being exported; receivers refuse
/// new spans while it is full. Releases from assembly are always accepted: they were already
/// accepted from senders, and the assembly buffer that feeds them is bounded itself, so the queue
/// can exceed its capacity by at most the assembly's contents, never without bound.
///
/// With a [`Wal`] (persistent queue) every push is also appended to disk, each span remembers
/// its record, and a record is acknowledged once all its spans were delivered or counted; the
/// disk budget is part of "full".
#[derive(Debug)]
pub(crate) struct ExportQueue {
    spans: Mutex<VecDeque<(Option<RecordId>, GatewaySpan)>>,
    notify: Notify,
    capacity: usize,
    queued: AtomicUsize,
    in_flight: AtomicUsize,
    closed: AtomicBool,
    wal: Option<Wal>,
    wal_errors: AtomicUsize,
}

/// Spans taken for one export request, with the persistent records they came from.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub spans: Vec<GatewaySpan>,
    pub records: Vec<(RecordId, usize)>,
}

impl Batch {
    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }
}

impl ExportQueue {
    #[cfg(test)]
    pub(crate) fn new(capacity: usize) -> ExportQueue {
        ExportQueue::with_wal(capacity, None)
    }

    pub(crate) fn with_wal(capacity: usize, wal: Option<Wal>) -> ExportQueue {
        ExportQueue {
            spans: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
            capacity,
            queued: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            wal,
            wal_errors: AtomicUsize::new(0),
        }
    }

    /// `true` when receivers must refuse.
    pub(crate) fn is_full(&self) -> bool {
        self.queued() + self.in_flight() >= self.capacity
            || self.wal.as_ref().is_some_and(Wal::is_full)
    }

    /// Bytes of the persistent queue on disk (0 without one).
    pub(crate) fn disk_bytes(&self) -> usize {
        self.wal.as_ref().map_or(0, Wal::bytes)
    }

    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Appends spans (never refuses; see the type's docs). With a persistent queue they are
    /// written to disk first; if that fails they are kept in memory only (logged).
    pub(crate) fn push(&self, spans: Vec<GatewaySpan>) {
        if spans.is_empty() {
            return;
        }
        let record = self.wal.as_ref().and_then(|w| {
            let bytes = regroup(spans.clone()).encode_to_vec();
            match w.append(&bytes, spans.len()) {
                Ok(r) => Some(r),
                Err(e) => {
                    let n = self.wal_errors.fetch_add(1, Ordering::AcqRel);
                    if n.is_power_of_two() || n == 0 {
                        tracing::warn!(error = %e, failures = n + 1, "persistent queue: append failed; these spans are kept in memory only");
                    }
                    None
                }
            }
        });
        self.push_record(record, spans);
    }

    /// Queues spans read back from disk (already priced) under their record.
    pub(crate) fn push_record(&self, record: Option<RecordId>, spans: Vec<GatewaySpan>) {
        if spans.is_empty() {
            return;
        }
        let n = spans.len();
        {
            let mut q = match self.spans.lock() {
                Ok(q) => q,
                Err(p) => p.into_inner(),
            };
            q.extend(spans.into_iter().map(|s| (record, s)));
        }
        self.queued.fetch_add(n, Ordering::AcqRel);
        self.notify.notify_waiters();
    }

    /// The persistent log, if any.
    pub(crate) fn wal(&self) -> Option<&Wal> {
        self.wal.as_ref()
    }

    /// No more pushes; consumers finish what is left and stop.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    /// Takes everything left (counted by the caller), e.g. at the shutdown deadline.
    pub(crate) fn take_all(&self) -> usize {
        let n = match self.spans.lock() {
            Ok(mut q) => q.drain(..).count(),
            Err(p) => p.into_inner().drain(..).count(),
        };
        self.queued.fetch_sub(n, Ordering::AcqRel);
        n
    }

    fn try_pop(&self, max_spans: usize, max_bytes: usize) -> Option<Batch> {
        let mut q = match self.spans.lock() {
            Ok(q) => q,
            Err(p) => p.into_inner(),
        };
        if q.is_empty() {
            return None;
        }
        let mut batch = Batch::default();
        let mut bytes = 16usize;
        let mut resources: Vec<Arc<ResourceInfo>> = Vec::new();
        let mut scopes: Vec<Arc<ScopeInfo>> = Vec::new();
        while let Some((_, s)) = q.front() {
            if batch.len() >= max_spans {
                break;
            }
            let mut add = span_wire_len(s);
            if !resources.iter().any(|r| Arc::ptr_eq(r, &s.resource)) {
                add += resource_wire_len(&s.resource);
            }
            if !scopes.iter().any(|sc| Arc::ptr_eq(sc, &s.scope)) {
                add += scope_wire_len(&s.scope);
            }
            // Always take one span, even if it alone is over the limit (the downstream decides).
            if !batch.spans.is_empty() && bytes + add > max_bytes {
                break;
            }
            let Some((record, s)) = q.pop_front() else {
                break;
            };
            if let Some(r) = record {
                match batch.records.last_mut() {
                    Some((last, n)) if *last == r => *n += 1,
                    _ => batch.records.push((r, 1)),
                }
            }
            if !resources.iter().any(|r| Arc::ptr_eq(r, &s.resource)) {
                resources.push(s.resource.clone());
            }
            if !scopes.iter().any(|sc| Arc::ptr_eq(sc, &s.scope)) {
                scopes.push(s.scope.clone());
            }
            bytes += add;
            batch.spans.push(s);
        }
        let n = batch.len();
        // In flight before leaving the queue count, so occupancy never dips in between.
        self.in_flight.fetch_add(n, Ordering::AcqRel);
        self.queued.fetch_sub(n, Ordering::AcqRel);
        Some(batch)
    }

    /// Waits for a batch; `None` once closed and empty.
    async fn pop(&self, max_spans: usize, max_bytes: usize) -> Option<Batch> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(b) = self.try_pop(max_spans, max_bytes) {
                return Some(b);
            }
            if self.closed.load(Ordering::Acquire) {
                return None;
            }
            notified.await;
        }
    }

    /// A batch ended. `settled`: delivered or counted for good, so its records are acknowledged
    /// (left on disk otherwise: abandoned at the shutdown deadline, sent after restart).
    fn done(&self, n: usize, records: &[(RecordId, usize)], settled: bool) {
        if settled {
            if let Some(w) = &self.wal {
                for (r, k) in records {
                    w.ack(*r, *k);
                }
            }
        }
        self.in_flight.fetch_sub(n, Ordering::AcqRel);
    }
}

/// A failed send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SendError {
    pub retryable: bool,
    pub retry_after: Option<Duration>,
    pub message: String,
}

/// gRPC codes the OTLP spec says to retry.
pub(crate) fn grpc_retryable(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::Unavailable
            | tonic::Code::Cancelled
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Aborted
            | tonic::Code::OutOfRange
            | tonic::Code::DataLoss
    )
}

/// HTTP statuses the OTLP spec says to retry.
pub(crate) fn http_retryable(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// `Retry-After`: delay-seconds or an HTTP-date.
pub(crate) fn parse_retry_after(v: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let t = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    let at = std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(t.unix_timestamp()).ok()?);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The downstream client.
#[derive(Debug, Clone)]
pub(crate) enum Client {
    Grpc {
        client: TraceServiceClient<Channel>,
        headers: tonic::metadata::MetadataMap,
        timeout: Duration,
    },
    Http {
        client: reqwest::Client,
        url: String,
        headers: reqwest::header::HeaderMap,
        gzip: bool,
    },
}

impl Client {
    pub(crate) fn new(s: &ExporterSettings) -> Result<Client, String> {
        super::tls::install_default_crypto_provider();
        match s.protocol {
            ExporterProtocol::Grpc => {
                let mut endpoint = tonic::transport::Endpoint::from_shared(s.url.clone())
                    .map_err(|e| format!("exporter endpoint '{}': {e}", redact_url(&s.url)))?
                    .connect_timeout(s.timeout.min(Duration::from_secs(10)))
                    .timeout(s.timeout);
                if s.tls.enabled {
                    let host = endpoint.uri().host().unwrap_or_default().to_owned();
                    endpoint = endpoint
                        .tls_config(super::tls::grpc_client_config(&s.tls, &host)?)
                        .map_err(|e| format!("exporter TLS: {e}"))?;
                }
                let mut client = TraceServiceClient::new(endpoint.connect_lazy())
                    .max_encoding_message_size(usize::MAX)
                    .max_decoding_message_size(16 * 1024 * 1024);
                if s.compression == Compression::Gzip {
                    client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
                }
                client = client.accept_compressed(tonic::codec::CompressionEncoding::Gzip);
                let mut headers = tonic::metadata::MetadataMap::new();
                for (k, v) in &s.headers {
                    let key =
                        tonic::metadata::MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
                            .map_err(|e| format!("exporter header '{k}': {e}"))?;
                    let val = tonic::metadata::MetadataValue::try_from(v.as_str())
                        .map_err(|e| format!("exporter header '{k}': {e}"))?;
                    headers.insert(key, val);
                }
                Ok(Client::Grpc {
                    client,
                    headers,
                    timeout: s.timeout,
                })
            }
            ExporterProtocol::HttpProtobuf => {
                let mut headers = reqwest::header::HeaderMap::new();
                for (k, v) in &s.headers {
                    let key = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                        .map_err(|e| format!("exporter header '{k}': {e}"))?;
                    let val = reqwest::header::HeaderValue::from_str(v)
                        .map_err(|e| format!("exporter header '{k}': {e}"))?;
                    headers.insert(key, val);
                }
                let mut builder = reqwest::Client::builder()
                    .timeout(s.timeout)
                    .connect_timeout(s.timeout.min(Duration::from_secs(10)));
                if s.tls.enabled {
                    builder = builder
                        .tls_backend_preconfigured(super::tls::http_client_config(&s.tls)?)
                        .https_only(true);
                }
                let client = builder.build().map_err(|e| format!("HTTP client: {e}"))?;
                Ok(Client::Http {
                    client,
                    url: s.url.clone(),
                    headers,
                    gzip: s.compression == Compression::Gzip,
                })
            }
        }
    }

    /// One attempt.
    pub(crate) async fn send(
        &self,
        req: &ExportTraceServiceRequest,
    ) -> Result<Option<ExportTracePartialSuccess>, SendError> {
        match self {
            Client::Grpc {
                client,
                headers,
                timeout,
            } => {
                let mut r = tonic::Request::new(req.clone());
                *r.metadata_mut() = headers.clone();
                r.set_timeout(*timeout);
                match client.clone().export(r).await {
                    Ok(resp) => Ok(resp.into_inner().partial_success),
                    Err(st) => Err(SendError {
                        retryable: grpc_retryable(st.code()),
                        retry_after: rpc_status::retry_delay(st.details()),
                        message: format!("gRPC {:?}: {}", st.code(), st.message()),
                    }),
                }
            }
            Client::Http {
                client,
                url,
                headers,
                gzip,
            } => {
                let body = req.encode_to_vec();
                let mut rb = client
                    .post(url)
                    .headers(headers.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf");
                let body = if *gzip {
                    rb = rb.header(reqwest::header::CONTENT_ENCODING, "gzip");
                    gzip_bytes(&body).map_err(|e| SendError {
                        retryable: false,
                        retry_after: None,
                        message: format!("gzip: {e}"),
                    })?
                } else {
                    body
                };
                let resp = rb.body(body).send().await.map_err(|e| SendError {
                    retryable: true,
                    retry_after: None,
                    message: format!("HTTP transport: {e}"),
                })?;
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
                let bytes = resp.bytes().await.unwrap_or_default();
                if (200..300).contains(&status) {
                    return Ok(ExportTraceServiceResponse::decode(bytes.as_ref())
                        .ok()
                        .and_then(|r| r.partial_success));
                }
                let detail = rpc_status::RpcStatus::decode(bytes.as_ref())
                    .ok()
                    .map(|s| s.message)
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| {
                        String::from_utf8_lossy(&bytes[..bytes.len().min(256)]).into_owned()
                    });
                Err(SendError {
                    retryable: http_retryable(status),
                    retry_after,
                    message: format!("HTTP {status}: {detail}"),
                })
            }
        }
    }
}

/// A URL without its userinfo (`https://user:pass@host` -> `https://***@host`), for messages.
pub(crate) fn redact_url(u: &str) -> String {
    match u.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://***@{host}{path}"),
                None => u.to_owned(),
            }
        }
        None => u.to_owned(),
    }
}

fn gzip_bytes(b: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(b)?;
    enc.finish()
}

/// Backoff with jitter: `[w*(1-r), w*(1+r)]`, then `w = min(w * multiplier, max_interval)`.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    cfg: RetryConfig,
    rng: u64,
}

impl Backoff {
    pub(crate) fn new(cfg: &RetryConfig, seed: u64) -> Backoff {
        Backoff {
            next: cfg.initial_interval,
            cfg: cfg.clone(),
            rng: seed | 1,
        }
    }

    fn random_unit(&mut self) -> f64 {
        // xorshift64*: jitter needs spread, not cryptographic quality.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let v = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (v >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The next wait.
    pub(crate) fn next_wait(&mut self) -> Duration {
        let base = self.next.as_secs_f64();
        let r = self.cfg.randomization_factor;
        let u = self.random_unit();
        let wait = base * (1.0 - r + 2.0 * r * u);
        let grown = (base * self.cfg.multiplier).min(self.cfg.max_interval.as_secs_f64());
        self.next = Duration::from_secs_f64(grown.max(0.0));
        Duration::from_secs_f64(wait.max(0.0))
    }
}

/// How one batch ended.
#[derive(Debug, PartialEq)]
pub(crate) enum Outcome {
    Delivered(Option<ExportTracePartialSuccess>),
    Failed(NotDelivered, String),
}

/// Sends with retries until delivered, a permanent error, `max_elapsed_time`, or the shutdown
/// deadline (`deadline` turns `Some` when the drain deadline is set; passing it abandons).
pub(crate) async fn send_with_retry(
    client: &Client,
    req: &ExportTraceServiceRequest,
    cfg: &RetryConfig,
    metrics: &Metrics,
    deadline: &mut watch::Receiver<Option<tokio::time::Instant>>,
    seed: u64,
) -> Outcome {
    let start = Instant::now();
    let mut backoff = Backoff::new(cfg, seed);
    loop {
        let attempt = tokio::select! {
            r = client.send(req) => r,
            _ = deadline_passed(deadline) => return Outcome::Failed(NotDelivered::Shutdown, "shutdown deadline passed during export".into()),
        };
        let err = match attempt {
            Ok(ps) => return Outcome::Delivered(ps),
            Err(e) => e,
        };
        if !err.retryable || !cfg.enabled {
            return Outcome::Failed(NotDelivered::Rejected, err.message);
        }
        let wait = err.retry_after.unwrap_or_else(|| backoff.next_wait());
        if start.elapsed() + wait > cfg.max_elapsed_time {
            return Outcome::Failed(
                NotDelivered::RetryExhausted,
                format!("{} (gave up after {:?})", err.message, start.elapsed()),
            );
        }
        tracing::debug!(error = %err.message, wait_ms = wait.as_millis() as u64, "export failed; retrying");
        metrics.export_retry();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = deadline_passed(deadline) => return Outcome::Failed(NotDelivered::Shutdown, format!("shutdown deadline passed while retrying: {}", err.message)),
        }
    }
}

/// Resolves once the shutdown deadline is set and has passed.
pub(crate) async fn deadline_passed(rx: &mut watch::Receiver<Option<tokio::time::Instant>>) {
    loop {
        let current = *rx.borrow_and_update();
        match current {
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => return,
                    r = rx.changed() => if r.is_err() { tokio::time::sleep_until(at).await; return; },
                }
            }
            None => {
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}

/// Settings a consumer needs.
#[derive(Debug, Clone)]
pub(crate) struct ConsumerSettings {
    pub max_batch_spans: usize,
    pub max_message_bytes: usize,
    pub retry: RetryConfig,
}

/// One consumer: pops batches until the queue is closed and empty, or the deadline passes.
pub(crate) async fn consumer(
    id: u64,
    queue: Arc<ExportQueue>,
    client: Client,
    s: ConsumerSettings,
    metrics: Arc<Metrics>,
    mut deadline: watch::Receiver<Option<tokio::time::Instant>>,
) {
    let mut seed = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ std::process::id() as u64;
    loop {
        let batch = tokio::select! {
            b = queue.pop(s.max_batch_spans, s.max_message_bytes) => b,
            _ = deadline_passed(&mut deadline) => None,
        };
        let Some(Batch { spans, records }) = batch else {
            return;
        };
        let n = spans.len();
        let req = regroup(spans);
        metrics.export_request();
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        match send_with_retry(&client, &req, &s.retry, &metrics, &mut deadline, seed).await {
            Outcome::Delivered(ps) => {
                let rejected = ps.as_ref().map_or(0, |p| {
                    usize::try_from(p.rejected_spans.max(0))
                        .unwrap_or(usize::MAX)
                        .min(n)
                });
                if let Some(p) = ps
                    .as_ref()
                    .filter(|p| p.rejected_spans > 0 || !p.error_message.is_empty())
                {
                    metrics.partial_success();
                    tracing::warn!(
                        rejected = p.rejected_spans,
                        message = %p.error_message,
                        "downstream reported partial success; rejected spans are not retried"
                    );
                }
                metrics.exported(n - rejected);
                metrics.not_delivered(NotDelivered::PartialSuccess, rejected);
                queue.done(n, &records, true);
            }
            Outcome::Failed(why, msg) => {
                metrics.export_failure();
                metrics.not_delivered(why, n);
                // Abandoned at the shutdown deadline: a persistent queue keeps it for the next run.
                let settled = why != NotDelivered::Shutdown;
                if !settled && queue.wal().is_some() {
                    tracing::warn!(spans = n, error = %msg, "export abandoned at the shutdown deadline; kept in the persistent queue for the next start");
                } else {
                    tracing::warn!(spans = n, reason = ?why, error = %msg, "export failed; spans not delivered");
                }
                queue.done(n, &records, settled);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::proto_span::tests::span;

    #[test]
    fn grpc_retry_classification_follows_the_otlp_spec() {
        use tonic::Code::*;
        for c in [
            Unavailable,
            Cancelled,
            DeadlineExceeded,
            Aborted,
            OutOfRange,
            DataLoss,
        ] {
            assert!(grpc_retryable(c), "{c:?} should be retried");
        }
        for c in [
            InvalidArgument,
            NotFound,
            AlreadyExists,
            PermissionDenied,
            Unauthenticated,
            FailedPrecondition,
            Unimplemented,
            Internal,
            Unknown,
            ResourceExhausted,
        ] {
            assert!(!grpc_retryable(c), "{c:?} must not be retried");
        }
    }

    #[test]
    fn http_retry_classification_follows_the_otlp_spec() {
        for s in [429, 502, 503, 504] {
            assert!(http_retryable(s));
        }
        for s in [400, 401, 403, 404, 405, 413, 415, 500, 501] {
            assert!(!http_retryable(s), "{s}");
        }
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_grows_to_the_cap_within_the_jitter_band() {
        let cfg = RetryConfig {
            initial_interval: Duration::from_millis(100),
            max_interval: Duration::from_millis(400),
            multiplier: 2.0,
            randomization_factor: 0.5,
            ..RetryConfig::default()
        };
        let mut b = Backoff::new(&cfg, 42);
        let bases = [100.0, 200.0, 400.0, 400.0, 400.0];
        for base in bases {
            let w = b.next_wait().as_secs_f64() * 1000.0;
            assert!(
                w >= base * 0.5 - 1e-6 && w <= base * 1.5 + 1e-6,
                "{w} outside band of {base}"
            );
        }
    }

    #[test]
    fn batches_respect_span_and_byte_limits() {
        let q = ExportQueue::new(100);
        let first = span(1, 1, 0, &[]);
        let (r, sc) = (first.resource.clone(), first.scope.clone());
        q.push(
            (1..=10)
                .map(|i| GatewaySpan {
                    resource: r.clone(),
                    scope: sc.clone(),
                    ..span(1, i, 0, &[])
                })
                .collect(),
        );
        let one = span_wire_len(&span(1, 1, 0, &[]));
        let b = q.try_pop(4, usize::MAX).unwrap_or_default();
        assert_eq!(b.len(), 4);
        assert!(b.records.is_empty(), "no persistent queue: no records");
        assert_eq!((q.queued(), q.in_flight()), (6, 4));
        // Room for the request, resource and scope overhead plus two spans.
        let limit = 16
            + resource_wire_len(&ResourceInfo::default())
            + scope_wire_len(&ScopeInfo::default())
            + 2 * one;
        let b2 = q.try_pop(100, limit).unwrap_or_default();
        assert_eq!(b2.len(), 2);
        assert!(regroup(b2.spans).encoded_len() <= limit);
        // A single span over the limit still goes (the downstream decides).
        assert_eq!(q.try_pop(100, 1).unwrap_or_default().len(), 1);
        q.done(7, &[], true);
        assert!(!q.is_full());
    }

    #[test]
    fn full_means_queued_plus_in_flight() {
        let q = ExportQueue::new(3);
        q.push((1..=3).map(|i| span(1, i, 0, &[])).collect());
        assert!(q.is_full());
        let _b = q.try_pop(2, usize::MAX);
        assert!(q.is_full());
        q.done(2, &[], true);
        assert!(!q.is_full());
        assert_eq!(q.take_all(), 1);
    }

    #[test]
    fn userinfo_is_redacted_from_urls() {
        assert_eq!(
            redact_url("https://user:pw@host:4318/v1/traces"),
            "https://***@host:4318/v1/traces"
        );
        assert_eq!(redact_url("http://host:4317"), "http://host:4317");
    }
}
