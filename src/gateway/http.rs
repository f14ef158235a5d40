//! OTLP/HTTP receiver: `POST /v1/traces`, `application/x-protobuf` or `application/json`,
//! optionally `Content-Encoding: gzip`.
//!
//! ```text
//! body (<= limit, memory budget, body_read_timeout) -> gunzip (<= limit, ratio) -> scan -> admit
//!   -> decode (protobuf | OTLP/JSON) -> Pipeline::ingest                      (receive.rs)
//!   -> 200 ExportTraceServiceResponse | 400/408/413/415 google.rpc.Status | 503 + Retry-After
//! ```
//!
//! Responses use the request's content type, as the OTLP spec asks. With `auth:` configured, a
//! request without the bearer token is answered 401 before its body is read. A gzip body may
//! not decompress past the size limit, nor, above 1 MiB, past `max_decompression_ratio` times
//! its compressed size (413 either way). A body announced or found larger than the limit is
//! refused as soon as that is known (413), and one that does not arrive within
//! `body_read_timeout` is answered 408. Before a refusal is answered, the rest of the body is
//! read and discarded (holding nothing; at most 64 MiB and 5 s, within `body_read_timeout`),
//! so a client still writing it gets the answer, not a connection reset.
//!
//! Logs never carry header values, bodies or attribute values: decode errors are logged with
//! their quoted fragments removed (serde quotes the offending value).

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;

use super::auth::{BearerAuth, UNAUTHENTICATED};
use super::metrics::Protocol;
use super::otlp::TRACES_PATH;
use super::pipeline::Pipeline;
use super::receive::{self, format_of, Format, Refusal};
use super::rpc_status::RpcStatus;

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
        .route(TRACES_PATH, post(post_traces))
        .layer(DefaultBodyLimit::disable())
        .with_state(AppState {
            pipeline,
            limit,
            ratio,
            auth,
        })
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

/// The answer to a refusal (counted here).
fn refuse(st: &AppState, format: Format, r: Refusal) -> Response {
    r.count(&st.pipeline, Protocol::Http);
    let (status, code) = match &r {
        Refusal::Malformed(_) => (StatusCode::BAD_REQUEST, tonic::Code::InvalidArgument),
        Refusal::Unsupported(_) => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            tonic::Code::InvalidArgument,
        ),
        Refusal::TooLarge(..) => (StatusCode::PAYLOAD_TOO_LARGE, tonic::Code::InvalidArgument),
        Refusal::Busy(_) | Refusal::Unavailable { .. } => {
            (StatusCode::SERVICE_UNAVAILABLE, tonic::Code::Unavailable)
        }
        Refusal::TimedOut(_) => (StatusCode::REQUEST_TIMEOUT, tonic::Code::DeadlineExceeded),
    };
    let mut resp = respond(status, format, status_body(format, code, r.message()));
    if let Some(wait) = r.retry_after() {
        let secs = wait.as_secs().max(1).to_string();
        if let Ok(v) = HeaderValue::from_str(&secs) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    resp
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

async fn post_traces(State(st): State<AppState>, req: Request) -> Response {
    let (parts, mut body) = req.into_parts();
    let response = answer(&st, &parts.headers, &mut body).await;
    // A refusal may come before the body was read (its announced size, the memory budget,
    // the token): read the rest and discard it, else the client, still writing it, gets a
    // reset instead of the answer (found by gateway_pipeline's 413 for an over-limit body:
    // "Broken pipe" in 3 of 20 runs). Not when the client waits for `100 Continue`: polling
    // the body would ask it to send.
    let expects_continue = parts
        .headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if !expects_continue {
        receive::drain(&mut body).await;
    }
    response
}

async fn answer(
    st: &AppState,
    headers: &header::HeaderMap,
    body: &mut axum::body::Body,
) -> Response {
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
        Err(r) => return refuse(st, Format::Protobuf, r),
    };
    let encoding = header_str(header::CONTENT_ENCODING).map(str::to_owned);
    let received = async {
        let mut res = receive::reserve(&st.pipeline)?;
        let raw = receive::read_body(
            body,
            st.limit,
            "receivers.otlp.protocols.http.max_request_body_size",
            &mut res,
            |_| Ok(()),
        )
        .await?;
        let plain = receive::decompress(encoding.as_deref(), raw, st.limit, st.ratio, &mut res)?;
        receive::ingest(&st.pipeline, format, plain, res).await
    };
    match received.await {
        Ok(ps) => success(format, ps),
        Err(r) => refuse(st, format, r),
    }
}
