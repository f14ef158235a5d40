//! What both receivers do between a request and [`Pipeline::ingest`], and how they refuse.
//!
//! ```text
//! reserve(base) -> body: read within the size limit and the memory budget (chunk by chunk)
//!   -> gunzip within the size and ratio limits (one rule for HTTP and gRPC; the compressed
//!      bytes released after) -> scan (otlp_scan.rs: spans, decode bound)
//!   -> Pipeline::admit (queue room, before decoding) -> reserve the decode bound -> decode
//!      (prost; OTLP/JSON: crate::otlp_json, the grammar the report reads too)
//!   -> Pipeline::ingest -> the reservation is released
//! ```
//!
//! Every byte above counts against the receivers' memory budget (budget.rs); a request that
//! cannot reserve is refused at once: retryable (`UNAVAILABLE` / 503 + `Retry-After`) while
//! other requests hold the budget, for good (`RESOURCE_EXHAUSTED` / 413, naming the limit) when
//! it alone needs more than the budget or the export queue holds. Refusals by a limit are
//! counted by limit and logged at `warn` (at most one line per 10 s).

use std::io::Read;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http_body::Body;
use http_body_util::BodyExt;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest,
};
use prost::Message;

use super::budget::{Exhausted, Reservation, REQUEST_BASE_BYTES};
use super::config::DECOMPRESSION_RATIO_FLOOR;
use super::conn::ReadError;
use super::metrics::{LogLimiter, Protocol, TooLarge};
use super::otlp::{JSON, PROTOBUF};
use super::otlp_scan;
use super::pipeline::{IngestRefusal, Pipeline, REFUSED_RETRY_AFTER};
use super::proto_span::RefusedSpans;
use crate::otlp_json::{self, Keep};

/// Request body encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Protobuf,
    Json,
}

impl Format {
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => PROTOBUF,
            Format::Json => JSON,
        }
    }
}

/// Why a request was refused, and how to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 400 / `INVALID_ARGUMENT`.
    Malformed(String),
    /// 415 / `INVALID_ARGUMENT`.
    Unsupported(String),
    /// 413 / `RESOURCE_EXHAUSTED` (not retried): the message names the limit.
    TooLarge(TooLarge, String),
    /// 503 + `Retry-After` / `UNAVAILABLE` + `RetryInfo`: the receivers' memory budget is in
    /// use by other requests.
    Busy(String),
    /// 503 / `UNAVAILABLE`: refused by the pipeline (queue full, memory limit, shutting down;
    /// counted there).
    Unavailable {
        message: String,
        retry_after: Duration,
    },
    /// 408 / `DEADLINE_EXCEEDED`: the body did not arrive within `body_read_timeout`.
    TimedOut(String),
}

impl Refusal {
    /// The message, without the variant.
    pub(crate) fn message(&self) -> &str {
        match self {
            Refusal::Malformed(m)
            | Refusal::Unsupported(m)
            | Refusal::TooLarge(_, m)
            | Refusal::Busy(m)
            | Refusal::Unavailable { message: m, .. }
            | Refusal::TimedOut(m) => m,
        }
    }

    /// The wait to suggest, for the retryable refusals.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        match self {
            Refusal::Busy(_) => Some(REFUSED_RETRY_AFTER),
            Refusal::Unavailable { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// Counts (and logs) a refusal made by the receivers; the pipeline counted its own.
    pub(crate) fn count(&self, pipeline: &Pipeline, p: Protocol) {
        match self {
            Refusal::Malformed(m) | Refusal::Unsupported(m) => {
                pipeline.malformed(p, &redact_quoted(m));
            }
            Refusal::TooLarge(limit, m) => {
                pipeline.too_large(p, *limit);
                static LOG: OnceLock<LogLimiter> = OnceLock::new();
                let log = LOG.get_or_init(|| LogLimiter::new(Duration::from_secs(10)));
                if let Some(suppressed) = log.allow() {
                    tracing::warn!(protocol = ?p, limit = limit.as_str(), reason = %m, suppressed, "request refused by a limit (not retryable)");
                }
            }
            Refusal::Busy(_) => {
                pipeline.over_budget(p);
                tracing::debug!(protocol = ?p, "request refused: receive memory budget in use (retryable)");
            }
            Refusal::TimedOut(m) => {
                pipeline.timed_out(p);
                tracing::debug!(protocol = ?p, reason = %m, "request body timed out");
            }
            Refusal::Unavailable { .. } => {}
        }
    }
}

impl From<IngestRefusal> for Refusal {
    fn from(e: IngestRefusal) -> Refusal {
        match e {
            IngestRefusal::Unavailable {
                message,
                retry_after,
            } => Refusal::Unavailable {
                message,
                retry_after,
            },
            IngestRefusal::TooLarge(limit, m) => Refusal::TooLarge(limit, m),
        }
    }
}

impl From<Exhausted> for Refusal {
    fn from(e: Exhausted) -> Refusal {
        match e {
            Exhausted::Now { .. } => Refusal::Busy(e.message()),
            Exhausted::Never { .. } => Refusal::TooLarge(TooLarge::Memory, e.message()),
        }
    }
}

/// A reading error: the body timed out, or the connection failed.
fn read_refusal(e: Box<dyn std::error::Error + Send + Sync>) -> Refusal {
    if ReadError::is_timeout(&*e) {
        Refusal::TimedOut(e.to_string())
    } else {
        Refusal::Malformed(format!("the request body could not be read: {e}"))
    }
}

/// The content type of a request, from its header.
pub(crate) fn format_of(content_type: Option<&str>) -> Result<Format, Refusal> {
    let ct = content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match ct.as_str() {
        PROTOBUF | "application/protobuf" => Ok(Format::Protobuf),
        JSON => Ok(Format::Json),
        "" => Err(Refusal::Unsupported(
            "missing Content-Type; use application/x-protobuf or application/json".into(),
        )),
        other => Err(Refusal::Unsupported(format!(
            "unsupported Content-Type '{other}'; use application/x-protobuf or application/json"
        ))),
    }
}

/// A request's reservation: [`REQUEST_BASE_BYTES`] to start with.
pub(crate) fn reserve(pipeline: &Pipeline) -> Result<Reservation, Refusal> {
    Ok(pipeline.budget().reserve(REQUEST_BASE_BYTES)?)
}

/// A body read whole, with the bytes reserved for it.
#[derive(Debug)]
pub(crate) struct Received {
    pub bytes: Bytes,
    pub reserved: usize,
}

/// Reads a body of at most `limit` bytes, reserving what it takes as it arrives (a body
/// announced larger, or that turns out larger, is refused at once). `check` sees the bytes
/// received so far after every chunk (the gRPC framing).
pub(crate) async fn read_body<B>(
    body: B,
    limit: usize,
    limit_name: &str,
    res: &mut Reservation,
    mut check: impl FnMut(&[u8]) -> Result<(), Refusal>,
) -> Result<Received, Refusal>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let too_large = || {
        Refusal::TooLarge(
            TooLarge::Size,
            format!("request body exceeds the limit of {limit} bytes ({limit_name})"),
        )
    };
    if body.size_hint().lower() > limit as u64 {
        return Err(too_large());
    }
    tokio::pin!(body);
    // One chunk is kept as it came (no copy); more are gathered in a buffer that doubles (up
    // to the limit), each growth reserved before it is made.
    let mut first: Option<Bytes> = None;
    let mut buf: Vec<u8> = Vec::new();
    let mut reserved = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| read_refusal(e.into()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        let have = first.as_ref().map_or(buf.len(), Bytes::len);
        if have + data.len() > limit {
            return Err(too_large());
        }
        if first.is_none() && buf.is_empty() {
            res.grow(data.len())?;
            reserved += data.len();
            check(&data)?;
            first = Some(data);
            continue;
        }
        let need = have + data.len();
        if need > buf.capacity() {
            let target = need.max(buf.capacity() * 2).min(limit).max(need);
            let before = buf.capacity();
            res.grow(target - before)?;
            buf.reserve_exact(target - buf.len());
            let extra = buf.capacity().saturating_sub(target);
            res.grow(extra)?;
            reserved += buf.capacity() - before;
        }
        if let Some(f) = first.take() {
            buf.extend_from_slice(&f);
            res.release(f.len());
            reserved -= f.len();
        }
        buf.extend_from_slice(&data);
        check(&buf)?;
    }
    let bytes = first.unwrap_or_else(|| Bytes::from(buf));
    Ok(Received { bytes, reserved })
}

/// Most bytes of a refused request's body [`drain`] reads.
const DRAIN_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Longest [`drain`] takes (nginx's `lingering_timeout`), within the body's own read timeout:
/// a refused sender, unauthenticated too, holds its connection little longer than that.
const DRAIN_MAX_TIME: Duration = Duration::from_secs(5);

/// Reads what is left of a request's body and discards it (nothing is held), at most
/// [`DRAIN_MAX_BYTES`] and [`DRAIN_MAX_TIME`]: an HTTP/1 connection closed with request bytes
/// unread is reset, and a client that writes its whole body before it reads (most do) then
/// gets a transport error instead of the answer (nginx's lingering close and Go's post-handler
/// read exist for this). Returns at once if the body has ended.
pub(crate) async fn drain<B>(body: &mut B)
where
    B: Body<Data = Bytes> + Unpin,
{
    let discard = async {
        let mut read = 0u64;
        while !body.is_end_stream() && read <= DRAIN_MAX_BYTES {
            match body.frame().await {
                Some(Ok(f)) => read += f.data_ref().map_or(0, |d| d.len() as u64),
                _ => return,
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_MAX_TIME, discard).await;
}

/// Undoes `Content-Encoding` (HTTP), never producing more than `limit` bytes, nor more than
/// `max(1 MiB, ratio * body.len())`.
pub(crate) fn decompress(
    encoding: Option<&str>,
    body: Received,
    limit: usize,
    ratio: usize,
    res: &mut Reservation,
) -> Result<Received, Refusal> {
    match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("identity") => Ok(body),
        Some("gzip") | Some("x-gzip") => gunzip_received(body, limit, ratio, res),
        Some(other) => Err(Refusal::Unsupported(format!(
            "unsupported Content-Encoding '{other}'; use gzip or none"
        ))),
    }
}

/// gunzips a body read whole; its compressed bytes are released once done.
pub(crate) fn gunzip_received(
    body: Received,
    limit: usize,
    ratio: usize,
    res: &mut Reservation,
) -> Result<Received, Refusal> {
    let (plain, reserved) = gunzip(&body.bytes, limit, ratio, res)?;
    res.release(body.reserved);
    Ok(Received {
        bytes: Bytes::from(plain),
        reserved,
    })
}

/// gzip with the size and ratio limits, shared by both receivers: the output may not exceed
/// `limit`, nor, once over 1 MiB, `ratio` times the compressed size. It grows by doubling,
/// each step reserved before it is allocated. Returns the output and the bytes reserved for it.
pub(crate) fn gunzip(
    body: &[u8],
    limit: usize,
    ratio: usize,
    res: &mut Reservation,
) -> Result<(Vec<u8>, usize), Refusal> {
    let by_ratio = ratio
        .saturating_mul(body.len())
        .max(DECOMPRESSION_RATIO_FLOOR);
    let cap = limit.min(by_ratio);
    let mut out: Vec<u8> = Vec::new();
    let mut reserved = 0usize;
    let mut dec = flate2::read::MultiGzDecoder::new(body);
    loop {
        if out.len() == out.capacity() {
            // One byte past the cap tells "over the limit" from "exactly at it".
            let target = (out.capacity() * 2)
                .max(64 * 1024)
                .min(cap.saturating_add(1));
            if target <= out.capacity() {
                break;
            }
            res.grow(target - out.capacity())?;
            reserved += target - out.capacity();
            out.reserve_exact(target - out.len());
            let extra = out.capacity().saturating_sub(target);
            res.grow(extra)?;
            reserved += extra;
        }
        let start = out.len();
        out.resize(out.capacity(), 0);
        let n = match dec.read(&mut out[start..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(Refusal::Malformed(format!("invalid gzip body: {e}"))),
        };
        out.truncate(start + n);
        if out.len() > cap {
            break;
        }
        if n == 0 {
            return Ok((out, reserved));
        }
    }
    Err(if cap == limit {
        Refusal::TooLarge(
            TooLarge::Decompressed,
            format!("decompressed body exceeds the limit of {limit} bytes"),
        )
    } else {
        Refusal::TooLarge(
            TooLarge::Ratio,
            format!(
                "decompressed body exceeds {ratio} times its compressed size of {} bytes (max_decompression_ratio)",
                body.len()
            ),
        )
    })
}

/// Decodes an OTLP/protobuf request; the error says what is wrong.
pub(crate) fn decode_request(b: &[u8]) -> Result<ExportTraceServiceRequest, String> {
    ExportTraceServiceRequest::decode(b)
        .map_err(|e| format!("invalid OTLP/protobuf ExportTraceServiceRequest: {e}"))
}

/// Decodes a body. OTLP/JSON goes through the crate's one OTLP/JSON decoder (otlp_json.rs,
/// shared with the report), which refuses a span with a bad id on its own: those spans are
/// returned counted, to be answered and counted as `split` does for protobuf.
fn decode_counted(
    format: Format,
    body: &[u8],
) -> Result<(ExportTraceServiceRequest, RefusedSpans), Refusal> {
    match format {
        Format::Protobuf => Ok((
            decode_request(body).map_err(Refusal::Malformed)?,
            RefusedSpans::default(),
        )),
        Format::Json => {
            let mut refused = RefusedSpans::default();
            let mut count = |m: String| {
                refused.spans += 1;
                refused.first_error.get_or_insert(m);
            };
            let req = otlp_json::request(body, &mut otlp_json::Cx::new(Keep::ALL, &mut count))
                .map_err(|e| {
                    Refusal::Malformed(format!("invalid OTLP/JSON ExportTraceServiceRequest: {e}"))
                })?;
            Ok((req, refused))
        }
    }
}

/// Scans a body; a body the scan cannot read is malformed (the decoder would refuse it too).
fn scan(format: Format, body: &[u8]) -> Result<otlp_scan::Scan, Refusal> {
    match format {
        Format::Protobuf => otlp_scan::protobuf(body).map_err(|(_, why)| {
            Refusal::Malformed(format!(
                "invalid OTLP/protobuf ExportTraceServiceRequest: {why}"
            ))
        }),
        Format::Json => otlp_scan::json(body).map_err(|(_, why)| {
            Refusal::Malformed(format!(
                "invalid OTLP/JSON ExportTraceServiceRequest: {why}"
            ))
        }),
    }
}

#[cfg(any(test, feature = "internals"))]
/// Decodes a body whole (the fuzz targets' entry): scan, then decode. Spans the OTLP/JSON
/// decoder refused are not in the request, and counted in the second value.
pub(crate) fn decode_with_refused(
    format: Format,
    body: &[u8],
) -> Result<(ExportTraceServiceRequest, RefusedSpans), Refusal> {
    scan(format, body)?;
    decode_counted(format, body)
}

#[cfg(feature = "internals")]
/// [`decode_with_refused`], the request only.
pub(crate) fn decode(format: Format, body: &[u8]) -> Result<ExportTraceServiceRequest, Refusal> {
    decode_with_refused(format, body).map(|(req, _)| req)
}

/// Scans, admits, decodes and ingests a (decompressed) body. `Ok` carries the partial success
/// to answer, if any (with a persistent queue, once the request is in the write-ahead log).
pub(crate) async fn ingest(
    pipeline: &Pipeline,
    format: Format,
    body: Received,
    mut res: Reservation,
) -> Result<Option<ExportTracePartialSuccess>, Refusal> {
    let s = scan(format, &body.bytes)?;
    // Refused before decoding: a request the queue has no room for costs no decode.
    let size = body.bytes.len();
    pipeline.admit(s.spans, size)?;
    res.grow(s.decode_bytes)?;
    let (req, refused) = decode_counted(format, &body.bytes)?;
    // The write-ahead log writes a protobuf body as it came (no second encoding); otherwise the
    // body is not needed any more. Its reservation is held until the answer either way.
    let raw = (format == Format::Protobuf && pipeline.logs_requests()).then_some(body.bytes);
    Ok(pipeline.ingest(req, refused, size, raw).await?)
}

/// A message fit for logs: every `"..."` and `'...'` fragment (where serde and our own messages
/// quote input) replaced by `"…"`.
pub(crate) fn redact_quoted(m: &str) -> String {
    let mut out = String::with_capacity(m.len());
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in m.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match quote {
            Some(q) if c == q => {
                out.push('…');
                out.push(c);
                quote = None;
            }
            Some(_) if c == '\\' => escaped = true,
            Some(_) => {}
            None => {
                out.push(c);
                if c == '"' || c == '\'' || c == '`' {
                    quote = Some(c);
                }
            }
        }
    }
    if quote.is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::budget::MemoryBudget;
    use std::io::Write;

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    fn res() -> Reservation {
        MemoryBudget::new(usize::MAX).reserve(0).unwrap()
    }

    fn gunzip_len(b: &[u8], limit: usize, ratio: usize) -> Result<usize, Refusal> {
        gunzip(b, limit, ratio, &mut res()).map(|(v, _)| v.len())
    }

    #[test]
    fn content_types_are_recognised_with_parameters() {
        assert_eq!(
            format_of(Some("application/json; charset=utf-8")),
            Ok(Format::Json)
        );
        assert_eq!(
            format_of(Some("Application/X-Protobuf")),
            Ok(Format::Protobuf)
        );
        assert!(
            matches!(format_of(Some("text/plain")), Err(Refusal::Unsupported(m)) if m.contains("text/plain"))
        );
        assert!(matches!(format_of(None), Err(Refusal::Unsupported(_))));
    }

    #[test]
    fn gzip_bomb_is_refused_at_the_limit() {
        let zeros = vec![0u8; 10 * 1024 * 1024];
        let bomb = gzip(&zeros);
        assert!(bomb.len() < 64 * 1024, "compresses well: {}", bomb.len());
        assert!(matches!(
            gunzip_len(&bomb, 1024 * 1024, usize::MAX),
            Err(Refusal::TooLarge(TooLarge::Decompressed, _))
        ));
        assert_eq!(gunzip_len(&bomb, zeros.len(), usize::MAX), Ok(zeros.len()));
    }

    #[test]
    fn gzip_over_the_ratio_is_refused_above_the_floor_only() {
        // 10 MiB of zeros compress ~1000:1: refused at ratio 100 although under the size limit.
        let bomb = gzip(&vec![0u8; 10 * 1024 * 1024]);
        let Err(Refusal::TooLarge(TooLarge::Ratio, m)) = gunzip_len(&bomb, 64 << 20, 100) else {
            panic!("bomb accepted")
        };
        assert!(m.contains("max_decompression_ratio"), "{m}");
        // Small bodies (<= 1 MiB decompressed) are never refused for their ratio.
        let small = gzip(&vec![0u8; 512 * 1024]);
        assert_eq!(gunzip_len(&small, 64 << 20, 1), Ok(512 * 1024));
    }

    #[test]
    fn gunzip_reserves_what_it_holds_and_refuses_past_the_budget() {
        let plain = vec![7u8; 3 * 1024 * 1024];
        let gz = gzip(&plain);
        let budget = MemoryBudget::new(8 << 20);
        let mut r = budget.reserve(0).unwrap();
        let (out, reserved) = gunzip(&gz, 64 << 20, usize::MAX, &mut r).unwrap();
        assert_eq!(out.len(), plain.len());
        assert!(
            reserved >= out.capacity(),
            "{reserved} < {}",
            out.capacity()
        );
        assert_eq!(budget.used(), reserved);
        drop(r);
        // A budget smaller than the output: refused for good, before it is all allocated.
        let small = MemoryBudget::new(1 << 20);
        let mut r = small.reserve(0).unwrap();
        assert!(matches!(
            gunzip(&gz, 64 << 20, usize::MAX, &mut r),
            Err(Refusal::TooLarge(TooLarge::Memory, _))
        ));
    }

    #[test]
    fn redaction_removes_quoted_input_from_log_messages() {
        let m = r#"invalid type: string "my \"secret\" prompt", expected u64 at line 1"#;
        let r = redact_quoted(m);
        assert!(!r.contains("secret"), "{r}");
        assert!(r.contains("expected u64"), "{r}");
        assert_eq!(redact_quoted("unsupported 'br'"), "unsupported '…'");
    }

    #[test]
    fn broken_gzip_and_unknown_encodings_are_refused_with_a_reason() {
        let body = |b: &'static [u8]| Received {
            bytes: Bytes::from_static(b),
            reserved: 0,
        };
        assert!(
            matches!(decompress(Some("gzip"), body(b"not gzip"), 100, 100, &mut res()), Err(Refusal::Malformed(m)) if m.contains("gzip"))
        );
        assert!(
            matches!(decompress(Some("br"), body(b"x"), 100, 100, &mut res()), Err(Refusal::Unsupported(m)) if m.contains("br"))
        );
    }

    #[test]
    fn json_errors_name_the_problem() {
        let Err(Refusal::Malformed(m)) = decode(Format::Json, br#"{"resourceSpans": 5}"#) else {
            panic!("should fail")
        };
        assert!(
            m.contains("invalid OTLP/JSON") && m.contains("line 1"),
            "{m}"
        );
        // A span whose id is neither hex nor base64 is refused alone, named and counted (as a
        // protobuf span with a bad id is by `split`), and the request decodes. Until issue 14
        // the whole JSON request was refused here while the report kept the other spans; the
        // verdicts are one now (json_cases.rs).
        let (req, refused) = decode_with_refused(
            Format::Json,
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}"#,
        )
        .unwrap();
        assert_eq!(crate::gateway::proto_span::count_spans(&req), 0);
        assert_eq!(refused.spans, 1);
        let m = refused.first_error.unwrap_or_default();
        assert!(
            m.contains("traceId must be 32 hex digits") && m.contains("'zz'"),
            "{m}"
        );
        let Err(Refusal::Malformed(m)) = decode(Format::Json, b"{\n\"resourceSpans\": [}") else {
            panic!("should fail")
        };
        assert!(
            m.contains("invalid OTLP/JSON") && m.contains("line 2"),
            "{m}"
        );
    }

    #[test]
    fn empty_arrays_and_enum_names_from_proto3_json_encoders_decode() {
        let json = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c",
          "spanId":"eee19b7ec3c1b174","kind":"SPAN_KIND_CLIENT","status":{"code":"STATUS_CODE_ERROR"},
          "attributes":[{"key":"a","value":{"arrayValue":{}}},{"key":"b","value":{"kvlistValue":{}}}]}]}]}]}"#;
        let req = decode(Format::Json, json).unwrap();
        let span = &req.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.kind, 3);
        assert_eq!(span.status.as_ref().map(|s| s.code), Some(2));
        assert_eq!(span.attributes.len(), 2);
    }

    #[test]
    fn otlp_json_with_hex_ids_string_and_number_int64s_decodes() {
        let json = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
          "scopeSpans":[{"scope":{"name":"s"},"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"eee19b7ec3c1b174",
          "parentSpanId":"","name":"n","kind":2,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":1544712661000000000,
          "attributes":[{"key":"a","value":{"intValue":"12"}},{"key":"b","value":{"intValue":13}},{"key":"c","value":{"doubleValue":1.5}},
          {"key":"d","value":{"arrayValue":{"values":[{"stringValue":"x"}]}}}],"status":{},"events":[],"links":[]}]}]}]}"#;
        let req = decode(Format::Json, json).unwrap();
        let span = &req.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.trace_id[0], 0x5b);
        assert_eq!(span.span_id.len(), 8);
        assert!(span.parent_span_id.is_empty());
        assert_eq!(span.end_time_unix_nano, 1_544_712_661_000_000_000);
        assert_eq!(span.kind, 2);
        assert_eq!(span.attributes.len(), 4);
    }

    #[test]
    fn garbage_protobuf_is_a_decode_error_with_a_message() {
        let Err(Refusal::Malformed(m)) = decode(Format::Protobuf, &[0x0a, 0xff, 0xff, 0xff]) else {
            panic!("garbage decoded")
        };
        assert!(m.starts_with("invalid OTLP/protobuf"), "{m}");
        assert!(
            decode(Format::Protobuf, &[]).is_ok(),
            "an empty message is a valid empty request"
        );
    }
}
