//! The exporter: a bounded queue of priced spans, consumers that batch them below the
//! downstream's message limit and send OTLP (gRPC or HTTP/protobuf) with retries per the OTLP
//! spec.
//!
//! ```text
//! release -> encode (wire.rs, within the batch limits) -> ExportQueue (fragments) -> consumer: concatenate -> send/retry -> counters
//! ```
//!
//! Every span that enters the queue ends in exactly one counter: `spans_exported` or
//! `spans_not_delivered{reason}`.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;
use tokio::sync::{watch, Notify};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;

use super::config::{redact_url, Compression, ExporterProtocol, ExporterSettings, RetryConfig};
use super::metrics::{Metrics, NotDelivered, TooLarge};
use super::otlp::{EXPORT_PATH, PROTOBUF};
use super::persist::{Checkpoint, Wal};
use super::proto_span::{
    resource_wire_len, scope_wire_len, GatewaySpan, Origin, ResourceInfo, ScopeInfo,
};
use super::rpc_status;
use super::wire;

/// The export queue. It holds priced spans already encoded: each push is regrouped and encoded
/// once into fragments, each a valid `ExportTraceServiceRequest` within the batch limits;
/// consumers concatenate fragments into one request (protobuf's repeated fields concatenate) and
/// send, and resend, those bytes. So queued spans cost their encoded size in memory, and a retry
/// costs no re-encoding.
///
/// Capacity counts spans queued plus spans being exported, and their encoded bytes; receivers
/// refuse new spans while either is full. Releases from assembly are always accepted: they were already accepted from senders, and
/// the assembly buffer that feeds them is bounded itself, so the queue can exceed its capacity by
/// at most the assembly's contents, never without bound.
///
/// With a [`Wal`] (persistent queue) the spans are already on disk (logged on receipt); each
/// fragment carries their log origins, checkpointed once the batch was delivered or counted for
/// good; the disk budget is part of "full".
#[derive(Debug)]
pub(crate) struct ExportQueue {
    fragments: Mutex<VecDeque<Fragment>>,
    notify: Notify,
    capacity: usize,
    max_memory: usize,
    limits: BatchLimits,
    queued: AtomicUsize,
    in_flight: AtomicUsize,
    queued_bytes: AtomicUsize,
    in_flight_bytes: AtomicUsize,
    closed: AtomicBool,
    wal: Option<Wal>,
}

/// Whether a request fits the queue's room ([`ExportQueue::room_for`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Room {
    Fits,
    /// Not now: the retryable refusal.
    Later,
    /// Never: more than the whole queue; the message names the limit.
    Never(TooLarge, String),
}

/// Most spans and bytes in one export request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchLimits {
    pub max_spans: usize,
    pub max_bytes: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_spans: usize::MAX,
            max_bytes: usize::MAX,
        }
    }
}

/// Encoded spans: a whole `ExportTraceServiceRequest`, with the log origins of its spans
/// (persistent queue only).
#[derive(Debug)]
struct Fragment {
    bytes: Bytes,
    spans: usize,
    origins: Vec<Origin>,
}

/// One export request's body, with the log origins of its spans.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub body: Bytes,
    pub spans: usize,
    pub origins: Vec<Origin>,
}

impl Batch {
    pub(crate) fn len(&self) -> usize {
        self.spans
    }
}

/// Splits spans into runs that each fit the limits (a single span over them goes alone), as
/// index ranges. `lens[i]` is the encoded length of `spans[i]` ([`wire::span_len`]).
fn chunks(spans: &[GatewaySpan], lens: &[usize], limits: BatchLimits) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = REQUEST_OVERHEAD;
    // Groups counted in the current run, by pointer (an upper bound: equal resources behind
    // distinct `Arc`s are merged by the encoder, and counted twice here). A scope group is per
    // resource group.
    let mut resources: Vec<&Arc<ResourceInfo>> = Vec::new();
    let mut scopes: Vec<(&Arc<ResourceInfo>, &Arc<ScopeInfo>)> = Vec::new();
    for (i, (s, &len)) in spans.iter().zip(lens).enumerate() {
        let new_resource = !resources.iter().any(|r| Arc::ptr_eq(r, &s.resource));
        let new_scope = !scopes
            .iter()
            .any(|(r, sc)| Arc::ptr_eq(r, &s.resource) && Arc::ptr_eq(sc, &s.scope));
        let mut add = wire::entry_len(len);
        if new_resource {
            add += resource_wire_len(&s.resource);
        }
        if new_scope {
            add += scope_wire_len(&s.scope);
        }
        if i > start && (i - start >= limits.max_spans || bytes + add > limits.max_bytes) {
            out.push(start..i);
            start = i;
            resources.clear();
            scopes.clear();
            bytes = REQUEST_OVERHEAD
                + wire::entry_len(len)
                + resource_wire_len(&s.resource)
                + scope_wire_len(&s.scope);
            resources.push(&s.resource);
            scopes.push((&s.resource, &s.scope));
            continue;
        }
        if new_resource {
            resources.push(&s.resource);
        }
        if new_scope {
            scopes.push((&s.resource, &s.scope));
        }
        bytes += add;
    }
    if start < spans.len() {
        out.push(start..spans.len());
    }
    out
}

/// Bytes counted for a request beyond its groups and spans (an upper bound, as the groups').
const REQUEST_OVERHEAD: usize = 16;

/// Encoded requests within the limits, each with its span count. Each span's length is
/// computed once and serves both the sizing and the encoding. Most releases fit one request:
/// that is checked on the exact size; only a release over the limits is cut, on per-span
/// sizes.
pub(crate) fn encode_within(spans: Vec<GatewaySpan>, limits: BatchLimits) -> Vec<(Bytes, usize)> {
    let lens: Vec<usize> = spans.iter().map(wire::span_len).collect();
    if spans.is_empty() {
        return Vec::new();
    }
    if spans.len() <= limits.max_spans {
        let plan = wire::Plan::new(&spans, &lens);
        if plan.total <= limits.max_bytes {
            return vec![(Bytes::from(plan.write(&spans, &lens)), spans.len())];
        }
    }
    chunks(&spans, &lens, limits)
        .into_iter()
        .map(|r| {
            let n = r.len();
            (Bytes::from(wire::encode(&spans[r.clone()], &lens[r])), n)
        })
        .collect()
}

impl ExportQueue {
    #[cfg(test)]
    pub(crate) fn new(capacity: usize, limits: BatchLimits) -> ExportQueue {
        ExportQueue::with_wal(capacity, limits, None)
    }

    pub(crate) fn with_wal(capacity: usize, limits: BatchLimits, wal: Option<Wal>) -> ExportQueue {
        ExportQueue {
            fragments: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
            capacity,
            max_memory: usize::MAX,
            limits,
            queued: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            queued_bytes: AtomicUsize::new(0),
            in_flight_bytes: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            wal,
        }
    }

    /// The queued fragments, locked (a panic elsewhere while holding the lock leaves them as
    /// they were: every change under it is a push or a drain).
    fn fragments(&self) -> std::sync::MutexGuard<'_, VecDeque<Fragment>> {
        self.fragments
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Bounds the encoded bytes held in memory as well (`exporter.queue.max_memory_bytes`).
    pub(crate) fn with_max_memory(mut self, bytes: usize) -> ExportQueue {
        self.max_memory = bytes;
        self
    }

    /// Whether a request of `spans` spans and `bytes` encoded bytes fits now: its spans and
    /// bytes added to what is queued and being exported stay within `size` and
    /// `max_memory_bytes` (and the persistent queue's disk budget has room). A request larger
    /// than the whole queue never fits, whatever it holds: it is refused for good, not
    /// admitted whole (admitted, its spans would all reach the queue at once, past its bound).
    pub(crate) fn room_for(&self, spans: usize, bytes: usize) -> Room {
        if spans > self.capacity {
            return Room::Never(
                TooLarge::QueueSize,
                format!(
                    "request of {spans} spans exceeds exporter.queue.size ({}); send smaller requests",
                    self.capacity
                ),
            );
        }
        if bytes > self.max_memory {
            return Room::Never(
                TooLarge::QueueMemory,
                format!(
                    "request of {bytes} bytes exceeds exporter.queue.max_memory_bytes ({}); send smaller requests",
                    self.max_memory
                ),
            );
        }
        let fits = self.queued() + self.in_flight() + spans <= self.capacity
            && self.memory_bytes() + bytes <= self.max_memory
            && !self.wal.as_ref().is_some_and(Wal::is_full);
        if fits {
            Room::Fits
        } else {
            Room::Later
        }
    }

    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// (queued, in flight), read under the queue's lock: a batch taken for export moves from
    /// one to the other under it, so the pair never counts it twice or not at all.
    pub(crate) fn occupancy(&self) -> (usize, usize) {
        let _q = self.fragments();
        (self.queued(), self.in_flight())
    }

    /// Encoded bytes held in memory (queued and being exported).
    pub(crate) fn memory_bytes(&self) -> usize {
        self.queued_bytes.load(Ordering::Acquire) + self.in_flight_bytes.load(Ordering::Acquire)
    }

    /// Appends spans, encoded (never refuses; see the type's docs).
    pub(crate) fn push(&self, spans: Vec<GatewaySpan>) {
        if spans.is_empty() {
            return;
        }
        // Fragments are cut in span order: each takes the origins of its spans.
        let origins: Vec<Option<Origin>> = if spans.iter().any(|s| s.origin.is_some()) {
            spans.iter().map(|s| s.origin).collect()
        } else {
            Vec::new()
        };
        let mut origins = origins.into_iter();
        for (bytes, n) in encode_within(spans, self.limits) {
            let o = origins.by_ref().take(n).flatten().collect();
            self.push_encoded(o, bytes, n);
        }
    }

    /// Queues an encoded request of `spans` spans.
    fn push_encoded(&self, origins: Vec<Origin>, bytes: Bytes, spans: usize) {
        if spans == 0 {
            return;
        }
        let len = bytes.len();
        {
            let mut q = self.fragments();
            q.push_back(Fragment {
                bytes,
                spans,
                origins,
            });
            // Counted under the lock: a consumer cannot take (and subtract) it before it is
            // added, so the counters never go below zero.
            self.queued_bytes.fetch_add(len, Ordering::AcqRel);
            self.queued.fetch_add(spans, Ordering::AcqRel);
        }
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

    /// Takes everything left (spans counted by the caller), e.g. at the shutdown deadline.
    pub(crate) fn take_all(&self) -> usize {
        let mut q = self.fragments();
        let (n, bytes) = q
            .drain(..)
            .fold((0, 0), |(n, b), f| (n + f.spans, b + f.bytes.len()));
        self.queued.fetch_sub(n, Ordering::AcqRel);
        self.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
        n
    }

    fn try_pop(&self) -> Option<Batch> {
        let (taken, spans, bytes) = {
            let mut q = self.fragments();
            let (mut spans, mut bytes, mut k) = (0usize, 0usize, 0usize);
            for f in q.iter() {
                // Always take one fragment, even if it alone is over a limit (the downstream
                // decides).
                if k > 0
                    && (spans + f.spans > self.limits.max_spans
                        || bytes + f.bytes.len() > self.limits.max_bytes)
                {
                    break;
                }
                spans += f.spans;
                bytes += f.bytes.len();
                k += 1;
            }
            if k == 0 {
                return None;
            }
            let taken: Vec<Fragment> = q.drain(..k).collect();
            // In flight before leaving the queue count (occupancy never dips in between), and
            // under the lock, as in `push_encoded`.
            self.in_flight.fetch_add(spans, Ordering::AcqRel);
            self.in_flight_bytes.fetch_add(bytes, Ordering::AcqRel);
            self.queued.fetch_sub(spans, Ordering::AcqRel);
            self.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
            (taken, spans, bytes)
        };
        let mut taken = taken;
        let mut origins = Vec::new();
        for f in &mut taken {
            origins.append(&mut f.origins);
        }
        let body = if taken.len() == 1 {
            taken
                .into_iter()
                .map(|f| f.bytes)
                .next()
                .unwrap_or_default()
        } else {
            let mut b = BytesMut::with_capacity(bytes);
            for f in &taken {
                b.extend_from_slice(&f.bytes);
            }
            b.freeze()
        };
        Some(Batch {
            body,
            spans,
            origins,
        })
    }

    /// Waits for a batch; `None` once closed and empty.
    async fn pop(&self) -> Option<Batch> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(b) = self.try_pop() {
                return Some(b);
            }
            if self.closed.load(Ordering::Acquire) {
                return None;
            }
            notified.await;
        }
    }

    /// A batch ended. `settled`: delivered or counted for good, so its spans are checkpointed
    /// in the log (left on disk otherwise: abandoned at the shutdown deadline, replayed after
    /// restart). The checkpoint resolves once written.
    fn done(&self, batch: Batch, settled: bool) -> Checkpoint {
        self.in_flight_bytes
            .fetch_sub(batch.body.len(), Ordering::AcqRel);
        self.in_flight.fetch_sub(batch.spans, Ordering::AcqRel);
        match &self.wal {
            Some(w) if settled => w.done(batch.origins),
            _ => Checkpoint::none(),
        }
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
        client: tonic::client::Grpc<Channel>,
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
                let mut client = tonic::client::Grpc::new(endpoint.connect_lazy())
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

    /// The body to send for an encoded request: gzipped once here for HTTP with compression
    /// (gRPC compresses per message itself).
    pub(crate) fn prepare(&self, body: Bytes) -> Result<Bytes, SendError> {
        match self {
            Client::Http { gzip: true, .. } => {
                gzip_bytes(&body).map(Bytes::from).map_err(|e| SendError {
                    retryable: false,
                    retry_after: None,
                    message: format!("gzip: {e}"),
                })
            }
            _ => Ok(body),
        }
    }

    /// One attempt with a body from [`Client::prepare`] (an encoded
    /// `ExportTraceServiceRequest`; cloning `Bytes` copies nothing).
    pub(crate) async fn send(
        &self,
        body: &Bytes,
    ) -> Result<Option<ExportTracePartialSuccess>, SendError> {
        match self {
            Client::Grpc {
                client,
                headers,
                timeout,
            } => {
                let mut r = tonic::Request::new(body.clone());
                *r.metadata_mut() = headers.clone();
                r.set_timeout(*timeout);
                r.extensions_mut().insert(tonic::GrpcMethod::new(
                    "opentelemetry.proto.collector.trace.v1.TraceService",
                    "Export",
                ));
                let mut client = client.clone();
                let sent = async {
                    client.ready().await.map_err(|e| {
                        tonic::Status::unavailable(format!("channel not ready: {e}"))
                    })?;
                    client
                        .unary(
                            r,
                            tonic::codegen::http::uri::PathAndQuery::from_static(EXPORT_PATH),
                            EncodedCodec,
                        )
                        .await
                };
                match sent.await {
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
                let mut rb = client
                    .post(url)
                    .headers(headers.clone())
                    .header(reqwest::header::CONTENT_TYPE, PROTOBUF);
                if *gzip {
                    rb = rb.header(reqwest::header::CONTENT_ENCODING, "gzip");
                }
                let resp = rb.body(body.clone()).send().await.map_err(|e| SendError {
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

/// gRPC codec for `TraceService/Export` whose request is already-encoded protobuf: the bytes go
/// out as they are; the response is decoded with prost (client side; also the load generator's).
#[derive(Debug, Clone, Copy, Default)]
pub struct EncodedCodec;

impl Codec for EncodedCodec {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = EncodedCodec;
    type Decoder = EncodedCodec;

    fn encoder(&mut self) -> Self::Encoder {
        EncodedCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        EncodedCodec
    }
}

impl Encoder for EncodedCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for EncodedCodec {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut DecodeBuf<'_>,
    ) -> Result<Option<ExportTraceServiceResponse>, tonic::Status> {
        ExportTraceServiceResponse::decode(src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(format!("export response: {e}")))
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
    body: &Bytes,
    cfg: &RetryConfig,
    metrics: &Metrics,
    deadline: &mut watch::Receiver<Option<tokio::time::Instant>>,
    seed: u64,
) -> Outcome {
    let start = Instant::now();
    let mut backoff = Backoff::new(cfg, seed);
    loop {
        // Past the deadline nothing new is sent; a request already sent gets its answer until
        // the deadline plus IN_FLIGHT_GRACE, so what the downstream acknowledged is counted
        // exported (issue 13, B2: requests abandoned the moment they were sent reached the
        // downstream and were counted "not delivered").
        if deadline_is_past(deadline) {
            return Outcome::Failed(
                NotDelivered::Shutdown,
                "not sent: the shutdown deadline had passed".into(),
            );
        }
        let attempt = tokio::select! {
            biased;
            r = client.send(body) => r,
            _ = deadline_passed(deadline, IN_FLIGHT_GRACE) => return Outcome::Failed(NotDelivered::Shutdown, "sent, but no answer by the shutdown deadline: the downstream may have received these spans".into()),
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
            _ = deadline_passed(deadline, Duration::ZERO) => return Outcome::Failed(NotDelivered::Shutdown, format!("shutdown deadline passed while retrying: {}", err.message)),
        }
    }
}

/// How long past the shutdown deadline an export request already sent may take to be
/// answered (its spans then count as exported, or not delivered, by the answer).
pub(crate) const IN_FLIGHT_GRACE: Duration = Duration::from_secs(1);

/// Whether the shutdown deadline is set and has passed.
fn deadline_is_past(rx: &watch::Receiver<Option<tokio::time::Instant>>) -> bool {
    rx.borrow()
        .is_some_and(|at| tokio::time::Instant::now() >= at)
}

/// Resolves once the shutdown deadline is set and `extra` past it.
pub(crate) async fn deadline_passed(
    rx: &mut watch::Receiver<Option<tokio::time::Instant>>,
    extra: Duration,
) {
    loop {
        let current = *rx.borrow_and_update();
        match current.map(|at| at + extra) {
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
            biased;
            _ = deadline_passed(&mut deadline, Duration::ZERO) => None,
            b = queue.pop() => b,
        };
        let Some(batch) = batch else {
            return;
        };
        let n = batch.len();
        metrics.export_request();
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let outcome = match client.prepare(batch.body.clone()) {
            Ok(body) => {
                send_with_retry(&client, &body, &s.retry, &metrics, &mut deadline, seed).await
            }
            Err(e) => Outcome::Failed(NotDelivered::Rejected, e.message),
        };
        match outcome {
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
                let checkpoint = {
                    let _moving = metrics.moving();
                    metrics.exported(n - rejected);
                    metrics.not_delivered(NotDelivered::PartialSuccess, rejected);
                    queue.done(batch, true)
                };
                // The next batch waits for this one's checkpoint: after a crash at most one
                // batch per consumer is sent again.
                checkpoint.written().await;
            }
            Outcome::Failed(why, msg) => {
                metrics.export_failure();
                // Abandoned at the shutdown deadline: a persistent queue keeps it for the next run.
                let settled = why != NotDelivered::Shutdown;
                if !settled && queue.wal().is_some() {
                    tracing::warn!(spans = n, error = %msg, "export abandoned at the shutdown deadline; kept in the persistent queue for the next start");
                } else {
                    tracing::warn!(spans = n, reason = ?why, error = %msg, "export failed; spans not delivered");
                }
                let checkpoint = {
                    let _moving = metrics.moving();
                    metrics.not_delivered(why, n);
                    queue.done(batch, settled)
                };
                checkpoint.written().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::proto_span::tests::span;
    use crate::gateway::proto_span::{count_spans, regroup};
    use crate::gateway::wire::span_wire_len;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

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

    fn decoded(b: &Batch) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest::decode(b.body.as_ref()).expect("a batch is a whole request")
    }

    #[test]
    fn batches_respect_span_and_byte_limits() {
        let first = span(1, 1, 0, &[]);
        let (r, sc) = (first.resource.clone(), first.scope.clone());
        let spans = |ids: std::ops::RangeInclusive<u8>| -> Vec<GatewaySpan> {
            ids.map(|i| GatewaySpan {
                resource: r.clone(),
                scope: sc.clone(),
                ..span(1, i, 0, &[])
            })
            .collect()
        };
        let q = ExportQueue::new(
            100,
            BatchLimits {
                max_spans: 4,
                max_bytes: usize::MAX,
            },
        );
        q.push(spans(1..=10));
        let b = q.try_pop().unwrap_or_default();
        assert_eq!(b.len(), 4);
        assert_eq!(count_spans(&decoded(&b)), 4);
        assert!(b.origins.is_empty(), "no persistent queue: no origins");
        assert_eq!((q.queued(), q.in_flight()), (6, 4));
        q.done(b, true);

        // Room for the request, resource and scope overhead plus two spans.
        let one = span_wire_len(&span(1, 1, 0, &[]));
        let limit = REQUEST_OVERHEAD
            + resource_wire_len(&ResourceInfo::default())
            + scope_wire_len(&ScopeInfo::default())
            + 2 * one;
        let q = ExportQueue::new(
            100,
            BatchLimits {
                max_spans: 100,
                max_bytes: limit,
            },
        );
        q.push(spans(1..=5));
        let b2 = q.try_pop().unwrap_or_default();
        assert_eq!(b2.len(), 2);
        assert!(b2.body.len() <= limit, "{} > {limit}", b2.body.len());
        assert_eq!(count_spans(&decoded(&b2)), 2);
        q.done(b2, true);
        // A single span over the limit still goes (the downstream decides).
        let q = ExportQueue::new(
            100,
            BatchLimits {
                max_spans: 100,
                max_bytes: 1,
            },
        );
        q.push(spans(1..=3));
        let b3 = q.try_pop().unwrap_or_default();
        assert_eq!(b3.len(), 1);
        q.done(b3, true);
        assert_eq!(q.queued(), 2);
    }

    #[test]
    fn a_release_that_fits_exactly_is_one_request_even_with_equal_resources_apart() {
        // A trace gathered from several requests: every span has its own (equal) resource and
        // scope `Arc`s. Encoded, they share one group; the exact size decides, not the
        // per-pointer estimate.
        let spans: Vec<GatewaySpan> = (1..=6u8)
            .map(|i| {
                let mut s = span(1, i, 0, &[]);
                s.resource = Arc::new((*s.resource).clone());
                s.scope = Arc::new((*s.scope).clone());
                s
            })
            .collect();
        let whole = regroup(spans.clone()).encoded_len();
        let limits = BatchLimits {
            max_spans: 6,
            max_bytes: whole,
        };
        let lens: Vec<usize> = spans.iter().map(wire::span_len).collect();
        assert!(
            chunks(&spans, &lens, limits).len() > 1,
            "the estimate alone would cut it"
        );
        let out = encode_within(spans, limits);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].0.len(), out[0].1), (whole, 6));
        // One byte less: cut, every span kept once, each piece within the limit.
        let spans: Vec<GatewaySpan> = (1..=6u8).map(|i| span(1, i, 0, &[])).collect();
        let limits = BatchLimits {
            max_bytes: whole - 1,
            ..limits
        };
        let out = encode_within(spans, limits);
        assert!(out.len() > 1);
        assert_eq!(out.iter().map(|(_, n)| n).sum::<usize>(), 6);
        let mut ids = Vec::new();
        for (b, n) in &out {
            assert!(b.len() < whole);
            let req = ExportTraceServiceRequest::decode(b.as_ref()).expect("decodes");
            assert_eq!(count_spans(&req), *n);
            ids.extend(
                req.resource_spans
                    .iter()
                    .flat_map(|rs| &rs.scope_spans)
                    .flat_map(|ss| &ss.spans)
                    .map(|s| s.span_id[0]),
            );
        }
        assert_eq!(ids, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn fragments_concatenate_into_one_request_up_to_the_limits() {
        let q = ExportQueue::new(
            100,
            BatchLimits {
                max_spans: 5,
                max_bytes: usize::MAX,
            },
        );
        // Three pushes (three releases) of 2 spans: the first two fit one request of 5.
        for t in 1..=3u8 {
            q.push(vec![span(t, 1, 0, &[]), span(t, 2, 1, &[])]);
        }
        assert_eq!(q.queued(), 6);
        let bytes_before = q.memory_bytes();
        assert!(bytes_before > 0);
        let b = q.try_pop().unwrap_or_default();
        assert_eq!(b.len(), 4);
        let req = decoded(&b);
        assert_eq!(count_spans(&req), 4);
        let traces: std::collections::BTreeSet<Vec<u8>> = req
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .map(|s| s.trace_id.clone())
            .collect();
        assert_eq!(traces.len(), 2, "spans of both releases are in the request");
        // Memory moves from queued to in flight, then is freed.
        assert_eq!(q.memory_bytes(), bytes_before);
        q.done(b, true);
        assert!(q.memory_bytes() < bytes_before);
        assert_eq!(q.take_all(), 2);
        assert_eq!(q.memory_bytes(), 0);
    }

    #[test]
    fn each_batch_carries_the_log_origins_of_its_spans() {
        // What a consumer checkpoints once a batch is delivered: exactly its own spans' origins,
        // also when a release is cut into several requests.
        let q = ExportQueue::new(
            100,
            BatchLimits {
                max_spans: 2,
                max_bytes: usize::MAX,
            },
        );
        let origin = |span| Origin {
            record: std::num::NonZeroU64::new(1 << 24).unwrap(),
            span,
        };
        let spans: Vec<GatewaySpan> = (1..=5u8)
            .map(|i| GatewaySpan {
                origin: Some(origin(u32::from(i))),
                ..span(1, i, 0, &[])
            })
            .collect();
        q.push(spans);
        let mut seen = Vec::new();
        while let Some(b) = q.try_pop() {
            assert!(b.len() <= 2, "{} spans in one request", b.len());
            let req = decoded(&b);
            let ids: Vec<u32> = req
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|ss| &ss.spans)
                .map(|s| u32::from(s.span_id[7]))
                .collect();
            assert_eq!(
                b.origins,
                ids.iter().map(|&i| origin(i)).collect::<Vec<_>>()
            );
            seen.extend(ids);
            q.done(b, true);
        }
        assert_eq!(seen, vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn full_means_queued_plus_in_flight() {
        let q = ExportQueue::new(
            3,
            BatchLimits {
                max_spans: 2,
                max_bytes: usize::MAX,
            },
        );
        q.push((1..=3).map(|i| span(1, i, 0, &[])).collect());
        assert_eq!(q.room_for(1, 0), Room::Later);
        let b = q.try_pop().unwrap_or_default();
        assert_eq!(b.len(), 2);
        assert_eq!(q.room_for(1, 0), Room::Later, "in flight still counts");
        q.done(b, true);
        assert_eq!(q.room_for(2, 0), Room::Fits);
        assert_eq!(q.room_for(3, 0), Room::Later, "2 free, 1 queued");
        assert_eq!(q.take_all(), 1);
    }

    #[test]
    fn a_request_larger_than_the_whole_queue_never_fits() {
        // Guards B3 of issue 13: a 1M-span request with queue.size 100,000 was admitted whole.
        let q = ExportQueue::new(100, BatchLimits::default()).with_max_memory(1000);
        assert_eq!(q.room_for(100, 1000), Room::Fits);
        let Room::Never(limit, m) = q.room_for(101, 10) else {
            panic!("101 spans fit a queue of 100")
        };
        assert_eq!(limit, TooLarge::QueueSize);
        assert!(m.contains("exporter.queue.size (100)"), "{m}");
        let Room::Never(limit, m) = q.room_for(1, 1001) else {
            panic!("1001 bytes fit 1000")
        };
        assert_eq!(limit, TooLarge::QueueMemory);
        assert!(m.contains("max_memory_bytes (1000)"), "{m}");
    }
}
