//! OTLP/HTTP receiver: `POST /v1/traces`, `application/x-protobuf` or `application/json`,
//! optionally `Content-Encoding: gzip`.
//!
//! ```text
//! body (<= limit) -> gunzip (<= limit) -> decode (protobuf | OTLP/JSON) -> Pipeline::export
//!   -> 200 ExportTraceServiceResponse | 400/413/415 google.rpc.Status | 503 + Retry-After
//! ```
//!
//! Responses use the request's content type, as the OTLP spec asks. With `auth:` configured, a
//! request without the bearer token is answered 401 before its body is read. A gzip body may
//! not decompress past the size limit, nor, above 1 MiB, past `max_decompression_ratio` times
//! its compressed size (413 either way).
//!
//! Logs never carry header values, bodies or attribute values: decode errors are logged with
//! their quoted fragments removed (serde quotes the offending value).

use std::io::Read;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

use super::auth::{BearerAuth, UNAUTHENTICATED};
use super::config::DECOMPRESSION_RATIO_FLOOR;
use super::grpc::decode_request;
use super::metrics::Protocol;
use super::pipeline::{ExportError, Pipeline};
use super::rpc_status::RpcStatus;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// Request body encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Protobuf,
    Json,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => PROTOBUF,
            Format::Json => JSON,
        }
    }
}

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// 400.
    Malformed(String),
    /// 413.
    TooLarge(String),
    /// 415.
    Unsupported(String),
}

impl BodyError {
    /// The message, without the variant.
    pub(crate) fn message(&self) -> &str {
        match self {
            BodyError::Malformed(m) | BodyError::TooLarge(m) | BodyError::Unsupported(m) => m,
        }
    }
}

#[derive(Clone)]
struct AppState {
    pipeline: Arc<Pipeline>,
    limit: usize,
    ratio: usize,
    auth: Option<BearerAuth>,
}

/// The HTTP router.
pub(crate) fn router(
    pipeline: Arc<Pipeline>,
    limit: usize,
    ratio: usize,
    auth: Option<BearerAuth>,
) -> Router {
    Router::new()
        .route("/v1/traces", post(export))
        .layer(DefaultBodyLimit::disable())
        .with_state(AppState {
            pipeline,
            limit,
            ratio,
            auth,
        })
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

/// The content type of a request, from its header.
pub(crate) fn format_of(content_type: Option<&str>) -> Result<Format, BodyError> {
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
        "" => Err(BodyError::Unsupported(
            "missing Content-Type; use application/x-protobuf or application/json".into(),
        )),
        other => Err(BodyError::Unsupported(format!(
            "unsupported Content-Type '{other}'; use application/x-protobuf or application/json"
        ))),
    }
}

/// Undoes `Content-Encoding`, never producing more than `limit` bytes, nor more than
/// `max(1 MiB, ratio * body.len())`.
pub(crate) fn decompress(
    encoding: Option<&str>,
    body: &[u8],
    limit: usize,
    ratio: usize,
) -> Result<Vec<u8>, BodyError> {
    match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("identity") => Ok(body.to_vec()),
        Some("gzip") | Some("x-gzip") => gunzip(body, limit, ratio),
        Some(other) => Err(BodyError::Unsupported(format!(
            "unsupported Content-Encoding '{other}'; use gzip or none"
        ))),
    }
}

/// gzip with the size and ratio limits (shared with the gRPC receiver).
pub(crate) fn gunzip(body: &[u8], limit: usize, ratio: usize) -> Result<Vec<u8>, BodyError> {
    let by_ratio = ratio
        .saturating_mul(body.len())
        .max(DECOMPRESSION_RATIO_FLOOR);
    let cap = limit.min(by_ratio);
    let mut out = Vec::new();
    let mut dec = flate2::read::MultiGzDecoder::new(body).take(cap as u64 + 1);
    dec.read_to_end(&mut out)
        .map_err(|e| BodyError::Malformed(format!("invalid gzip body: {e}")))?;
    if out.len() > cap {
        return Err(BodyError::TooLarge(if cap == limit {
            format!("decompressed body exceeds the limit of {limit} bytes")
        } else {
            format!(
                "decompressed body exceeds {ratio} times its compressed size of {} bytes (max_decompression_ratio)",
                body.len()
            )
        }));
    }
    Ok(out)
}

/// Decodes a body in the given format; the error says what is wrong.
pub(crate) fn decode(format: Format, body: &[u8]) -> Result<ExportTraceServiceRequest, BodyError> {
    match format {
        Format::Protobuf => decode_request(body).map_err(BodyError::Malformed),
        Format::Json => decode_json(body).map_err(|e| {
            BodyError::Malformed(format!("invalid OTLP/JSON ExportTraceServiceRequest: {e}"))
        }),
    }
}

/// OTLP/JSON. `opentelemetry-proto`'s serde derive follows the OTLP/JSON spec (hex ids,
/// lowerCamelCase, int64 as string or number) with two gaps real encoders hit, filled here on a
/// second pass only when the direct decode fails: an empty `arrayValue`/`kvlistValue` is encoded
/// `{}` by proto3 JSON encoders (empty repeated fields are omitted), and enum names
/// (`"SPAN_KIND_SERVER"`, `"STATUS_CODE_ERROR"`) that protobuf JSON parsers accept.
fn decode_json(body: &[u8]) -> Result<ExportTraceServiceRequest, serde_json::Error> {
    let first = match serde_json::from_slice(body) {
        Ok(r) => return Ok(r),
        Err(e) => e,
    };
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Err(first);
    };
    normalise_json(&mut v);
    serde_json::from_value(v).map_err(|_| first)
}

fn enum_number(name: &str) -> Option<i64> {
    Some(match name {
        "SPAN_KIND_UNSPECIFIED" | "STATUS_CODE_UNSET" => 0,
        "SPAN_KIND_INTERNAL" | "STATUS_CODE_OK" => 1,
        "SPAN_KIND_SERVER" | "STATUS_CODE_ERROR" => 2,
        "SPAN_KIND_CLIENT" => 3,
        "SPAN_KIND_PRODUCER" => 4,
        "SPAN_KIND_CONSUMER" => 5,
        _ => return None,
    })
}

fn normalise_json(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            for key in ["arrayValue", "kvlistValue"] {
                if let Some(Value::Object(inner)) = map.get_mut(key) {
                    inner
                        .entry("values")
                        .or_insert_with(|| Value::Array(Vec::new()));
                }
            }
            if let Some(n) = map
                .get("kind")
                .and_then(Value::as_str)
                .and_then(enum_number)
            {
                map.insert("kind".into(), Value::from(n));
            }
            if let Some(Value::Object(status)) = map.get_mut("status") {
                if let Some(n) = status
                    .get("code")
                    .and_then(Value::as_str)
                    .and_then(enum_number)
                {
                    status.insert("code".into(), Value::from(n));
                }
            }
            for (_, child) in map.iter_mut() {
                normalise_json(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalise_json),
        _ => {}
    }
}

fn status_body(format: Format, code: tonic::Code, message: &str) -> Vec<u8> {
    match format {
        Format::Protobuf => RpcStatus {
            code: code as i32,
            message: message.to_owned(),
            details: Vec::new(),
        }
        .encode_to_vec(),
        Format::Json => serde_json::json!({ "code": code as i32, "message": message })
            .to_string()
            .into_bytes(),
    }
}

fn respond(status: StatusCode, format: Format, body: Vec<u8>) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    r
}

fn error(format: Format, e: BodyError) -> Response {
    let (status, code, msg) = match e {
        BodyError::Malformed(m) => (StatusCode::BAD_REQUEST, tonic::Code::InvalidArgument, m),
        BodyError::TooLarge(m) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            tonic::Code::InvalidArgument,
            m,
        ),
        BodyError::Unsupported(m) => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            tonic::Code::InvalidArgument,
            m,
        ),
    };
    respond(status, format, status_body(format, code, &msg))
}

fn success(format: Format, partial_success: Option<ExportTracePartialSuccess>) -> Response {
    let body = match format {
        Format::Protobuf => ExportTraceServiceResponse { partial_success }.encode_to_vec(),
        Format::Json => match partial_success {
            Some(p) => serde_json::json!({
                "partialSuccess": { "rejectedSpans": p.rejected_spans.to_string(), "errorMessage": p.error_message }
            })
            .to_string()
            .into_bytes(),
            None => b"{}".to_vec(),
        },
    };
    respond(StatusCode::OK, format, body)
}

fn unauthenticated(format: Format) -> Response {
    let mut r = respond(
        StatusCode::UNAUTHORIZED,
        format,
        status_body(format, tonic::Code::Unauthenticated, UNAUTHENTICATED),
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"otlp\""),
    );
    r
}

async fn export(State(st): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let header_str = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let format = format_of(header_str(header::CONTENT_TYPE));
    if let Some(auth) = &st.auth {
        let presented = headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        if !auth.check(presented) {
            tracing::debug!(
                protocol = "http",
                has_authorization = presented.is_some(),
                "unauthenticated request refused"
            );
            st.pipeline.unauthenticated(Protocol::Http);
            return unauthenticated(format.clone().unwrap_or(Format::Protobuf));
        }
    }
    let format = match format {
        Ok(f) => f,
        Err(e) => {
            st.pipeline
                .malformed(Protocol::Http, &redact_quoted(e.message()));
            return error(Format::Protobuf, e);
        }
    };
    let raw = match axum::body::to_bytes(body, st.limit).await {
        Ok(b) => b,
        Err(e) => {
            let msg = format!(
                "request body exceeds the limit of {} bytes or could not be read: {e}",
                st.limit
            );
            st.pipeline.malformed(Protocol::Http, &redact_quoted(&msg));
            return error(format, BodyError::TooLarge(msg));
        }
    };
    let decoded = decompress(
        header_str(header::CONTENT_ENCODING),
        &raw,
        st.limit,
        st.ratio,
    )
    .and_then(|b| decode(format, &b));
    let req = match decoded {
        Ok(r) => r,
        Err(e) => {
            st.pipeline
                .malformed(Protocol::Http, &redact_quoted(e.message()));
            return error(format, e);
        }
    };
    match st.pipeline.export(req, None).await {
        Ok(ps) => success(format, ps),
        Err(ExportError::Unavailable {
            message,
            retry_after,
        }) => {
            let mut r = respond(
                StatusCode::SERVICE_UNAVAILABLE,
                format,
                status_body(format, tonic::Code::Unavailable, &message),
            );
            let secs = retry_after.as_secs().max(1).to_string();
            if let Ok(v) = HeaderValue::from_str(&secs) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(b).unwrap();
        e.finish().unwrap()
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
            matches!(format_of(Some("text/plain")), Err(BodyError::Unsupported(m)) if m.contains("text/plain"))
        );
        assert!(matches!(format_of(None), Err(BodyError::Unsupported(_))));
    }

    #[test]
    fn gzip_bomb_is_refused_at_the_limit() {
        let zeros = vec![0u8; 10 * 1024 * 1024];
        let bomb = gzip(&zeros);
        assert!(bomb.len() < 64 * 1024, "compresses well: {}", bomb.len());
        assert!(matches!(
            decompress(Some("gzip"), &bomb, 1024 * 1024, usize::MAX),
            Err(BodyError::TooLarge(_))
        ));
        assert_eq!(
            decompress(Some("gzip"), &bomb, zeros.len(), usize::MAX).map(|v| v.len()),
            Ok(zeros.len())
        );
    }

    #[test]
    fn gzip_over_the_ratio_is_refused_above_the_floor_only() {
        // 10 MiB of zeros compress ~1000:1: refused at ratio 100 although under the size limit.
        let bomb = gzip(&vec![0u8; 10 * 1024 * 1024]);
        let Err(BodyError::TooLarge(m)) = decompress(Some("gzip"), &bomb, 64 << 20, 100) else {
            panic!("bomb accepted")
        };
        assert!(m.contains("max_decompression_ratio"), "{m}");
        // Small bodies (<= 1 MiB decompressed) are never refused for their ratio.
        let small = gzip(&vec![0u8; 512 * 1024]);
        assert_eq!(
            decompress(Some("gzip"), &small, 64 << 20, 1).map(|v| v.len()),
            Ok(512 * 1024)
        );
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
        assert!(
            matches!(decompress(Some("gzip"), b"not gzip", 100, 100), Err(BodyError::Malformed(m)) if m.contains("gzip"))
        );
        assert!(
            matches!(decompress(Some("br"), b"x", 100, 100), Err(BodyError::Unsupported(m)) if m.contains("br"))
        );
    }

    #[test]
    fn json_errors_name_the_problem() {
        let Err(BodyError::Malformed(m)) = decode(Format::Json, br#"{"resourceSpans": 5}"#) else {
            panic!("should fail")
        };
        assert!(
            m.contains("invalid OTLP/JSON") && m.contains("line 1"),
            "{m}"
        );
        let Err(BodyError::Malformed(m)) = decode(
            Format::Json,
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}"#,
        ) else {
            panic!("should fail")
        };
        assert!(m.contains("invalid OTLP/JSON"), "{m}");
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
}
