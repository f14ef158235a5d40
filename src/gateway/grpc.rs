//! OTLP/gRPC receiver: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.
//!
//! ```text
//! one length-prefixed message (<= limit, memory budget, body_read_timeout; a second one is
//!   refused) -> gunzip (grpc-encoding: gzip; size and ratio limits, as HTTP) -> scan -> admit
//!   -> prost decode -> Pipeline::ingest                                       (receive.rs)
//!   -> ExportTraceServiceResponse | INVALID_ARGUMENT | RESOURCE_EXHAUSTED | DEADLINE_EXCEEDED
//!      | UNAVAILABLE + RetryInfo
//! ```
//!
//! The service is written by hand (as tonic's generated code would be) and reads the request
//! itself, so a malformed message is answered `INVALID_ARGUMENT` with the decode error, as the
//! OTLP spec asks (tonic's generated server would answer `INTERNAL`), a unary call carrying a
//! second message is refused (tonic would ignore it), and every byte it holds counts against
//! the receivers' memory budget.
//!
//! Before the body is read the bearer token is checked (`UNAUTHENTICATED` without it).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codegen::{http, Body, Service, StdError};
use tonic::{Code, Status};

use super::auth::{BearerAuth, UNAUTHENTICATED};
use super::budget::Reservation;
use super::metrics::{Protocol, TooLarge};
use super::otlp::{EXPORT_PATH, TRACE_SERVICE};
use super::pipeline::Pipeline;
use super::receive::{self, Format, Received, Refusal};
use super::rpc_status;

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'static>>;

/// The raw codec of the load generator's sink and the benches (feature `internals`): request
/// bytes in, response message out.
#[cfg(feature = "internals")]
mod raw_codec {
    use bytes::{Buf, Bytes};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
    use prost::Message;
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
    use tonic::Status;

    /// Request bytes in, response message out (server side; also the load generator's sink).
    #[derive(Debug, Default, Clone, Copy)]
    pub struct RawCodec;

    /// [`RawCodec`]'s decoder: the request's bytes as they are.
    #[derive(Debug, Default, Clone, Copy)]
    pub struct RawDecoder;

    /// [`RawCodec`]'s encoder: the response, with prost.
    #[derive(Debug, Default, Clone, Copy)]
    pub struct ResponseEncoder;

    impl Codec for RawCodec {
        type Encode = ExportTraceServiceResponse;
        type Decode = Bytes;
        type Encoder = ResponseEncoder;
        type Decoder = RawDecoder;

        fn encoder(&mut self) -> Self::Encoder {
            ResponseEncoder
        }
        fn decoder(&mut self) -> Self::Decoder {
            RawDecoder
        }
    }

    impl Encoder for ResponseEncoder {
        type Item = ExportTraceServiceResponse;
        type Error = Status;

        fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
            item.encode(dst)
                .map_err(|e| Status::internal(format!("encoding the response: {e}")))
        }
    }

    impl Decoder for RawDecoder {
        type Item = Bytes;
        type Error = Status;

        fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
            let n = src.remaining();
            Ok(Some(src.copy_to_bytes(n)))
        }
    }
}
#[cfg(feature = "internals")]
pub use raw_codec::RawCodec;

/// The gRPC service, to add to a tonic server.
#[derive(Clone)]
pub(crate) struct OtlpGrpcService {
    pipeline: Arc<Pipeline>,
    max_message_bytes: usize,
    ratio: usize,
    auth: Option<BearerAuth>,
}

impl OtlpGrpcService {
    pub(crate) fn new(
        pipeline: Arc<Pipeline>,
        max_message_bytes: usize,
        ratio: usize,
        auth: Option<BearerAuth>,
    ) -> OtlpGrpcService {
        OtlpGrpcService {
            pipeline,
            max_message_bytes,
            ratio,
            auth,
        }
    }
}

const GRPC_ENCODING: &str = "grpc-encoding";

/// Checks the gRPC framing of the bytes received so far: one message, of at most `max` bytes.
/// Refuses as soon as the header announces too much or a second message starts.
fn one_message(b: &[u8], max: usize) -> Result<(), Refusal> {
    if b.len() < 5 {
        return Ok(());
    }
    if b[0] > 1 {
        return Err(Refusal::Malformed(format!(
            "invalid gRPC message flags {:#04x}",
            b[0]
        )));
    }
    let len = u32::from_be_bytes([b[1], b[2], b[3], b[4]]) as usize;
    if len > max {
        return Err(Refusal::TooLarge(
            TooLarge::Size,
            format!(
                "message of {len} bytes exceeds the limit of {max} bytes (max_recv_msg_size_mib)"
            ),
        ));
    }
    if b.len() > 5 + len {
        return Err(Refusal::Malformed(
            "a unary call carries exactly one message; a second one was sent".into(),
        ));
    }
    Ok(())
}

/// The one message of a body read whole: (compressed, payload).
fn message(body: Received) -> Result<(bool, Received), Refusal> {
    let b = &body.bytes;
    if b.is_empty() {
        return Err(Refusal::Malformed(
            "a unary call carries exactly one message; none was sent".into(),
        ));
    }
    let len = if b.len() >= 5 {
        u32::from_be_bytes([b[1], b[2], b[3], b[4]]) as usize
    } else {
        usize::MAX
    };
    if b.len() != len.saturating_add(5) {
        return Err(Refusal::Malformed("truncated gRPC message".into()));
    }
    let compressed = b[0] == 1;
    Ok((
        compressed,
        Received {
            bytes: body.bytes.slice(5..),
            reserved: body.reserved,
        },
    ))
}

/// Reads, decompresses and exports one call's message.
async fn receive<B>(
    pipeline: &Pipeline,
    headers: &http::HeaderMap,
    body: B,
    max: usize,
    ratio: usize,
) -> Result<Option<ExportTracePartialSuccess>, Refusal>
where
    B: Body<Data = Bytes>,
    B::Error: Into<StdError>,
{
    let mut res = receive::reserve(pipeline)?;
    let raw = receive::read_body(
        body,
        max.saturating_add(5),
        "receivers.otlp.protocols.grpc.max_recv_msg_size_mib",
        &mut res,
        |b| one_message(b, max),
    )
    .await?;
    let encoding = headers.get(GRPC_ENCODING).and_then(|v| v.to_str().ok());
    let plain = unframe(raw, encoding, max, ratio, &mut res)?;
    receive::ingest(pipeline, Format::Protobuf, plain, res).await
}

/// The message of a call's body, decompressed if its flag says so.
fn unframe(
    raw: Received,
    encoding: Option<&str>,
    max: usize,
    ratio: usize,
    res: &mut Reservation,
) -> Result<Received, Refusal> {
    let (compressed, payload) = message(raw)?;
    Ok(if compressed {
        match encoding.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            Some("gzip") => receive::gunzip_received(payload, max, ratio, res)?,
            None | Some("identity") => {
                return Err(Refusal::Malformed(
                    "the message is flagged compressed but grpc-encoding names no compression"
                        .into(),
                ))
            }
            Some(other) => {
                return Err(Refusal::Unsupported(format!(
                    "unsupported grpc-encoding '{other}'; use gzip or none"
                )))
            }
        }
    } else {
        payload
    })
}

#[cfg(feature = "internals")]
/// The fuzz targets' entry: a whole call body through the framing checks, gunzip (as if
/// `grpc-encoding: gzip`), the scan and the decode; the decoded span count.
pub(crate) fn fuzz_body(body: &[u8], max: usize) -> Result<usize, String> {
    let mut res = super::budget::MemoryBudget::new(usize::MAX)
        .reserve(0)
        .map_err(|e| e.message())?;
    one_message(body, max).map_err(|r| r.message().to_owned())?;
    let raw = Received {
        bytes: Bytes::copy_from_slice(body),
        reserved: 0,
    };
    let plain = unframe(
        raw,
        Some("gzip"),
        max,
        crate::gateway::config::DEFAULT_MAX_DECOMPRESSION_RATIO,
        &mut res,
    )
    .map_err(|r| r.message().to_owned())?;
    receive::decode(Format::Protobuf, &plain.bytes)
        .map(|req| super::proto_span::count_spans(&req))
        .map_err(|r| r.message().to_owned())
}

/// The gRPC status of a refusal.
fn status_of(r: &Refusal) -> Status {
    let m = r.message().to_owned();
    match r {
        Refusal::Malformed(_) => Status::invalid_argument(m),
        Refusal::Unsupported(_) => Status::unimplemented(m),
        Refusal::TooLarge(..) => Status::resource_exhausted(m),
        Refusal::TimedOut(_) => Status::deadline_exceeded(m),
        Refusal::Busy(_) | Refusal::Unavailable { .. } => {
            let details = rpc_status::with_retry_delay(
                Code::Unavailable as i32,
                &m,
                r.retry_after().unwrap_or_default(),
            );
            Status::with_details(Code::Unavailable, m, Bytes::from(details))
        }
    }
}

/// A successful answer: one response message, then `grpc-status: 0`.
fn ok_response(
    partial_success: Option<ExportTracePartialSuccess>,
) -> http::Response<tonic::body::Body> {
    let msg = ExportTraceServiceResponse { partial_success }.encode_to_vec();
    let mut frame = BytesMut::with_capacity(5 + msg.len());
    frame.put_u8(0);
    frame.put_u32(u32::try_from(msg.len()).unwrap_or(u32::MAX));
    frame.put_slice(&msg);
    let mut trailers = http::HeaderMap::new();
    trailers.insert(Status::GRPC_STATUS, (Code::Ok as i32).into());
    let mut r = http::Response::new(tonic::body::Body::new(OneMessage {
        data: Some(frame.freeze()),
        trailers: Some(trailers),
    }));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        tonic::metadata::GRPC_CONTENT_TYPE,
    );
    r
}

/// A response body: one data frame, then trailers.
struct OneMessage {
    data: Option<Bytes>,
    trailers: Option<http::HeaderMap>,
}

impl Body for OneMessage {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if let Some(d) = this.data.take() {
            return Poll::Ready(Some(Ok(http_body::Frame::data(d))));
        }
        Poll::Ready(
            this.trailers
                .take()
                .map(|t| Ok(http_body::Frame::trailers(t))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.trailers.is_none()
    }
}

fn status_response(s: Status) -> http::Response<tonic::body::Body> {
    s.into_http()
}

impl<B> Service<http::Request<B>> for OtlpGrpcService
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Data: Send,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() != EXPORT_PATH {
            return Box::pin(async move {
                let mut response = http::Response::new(tonic::body::Body::default());
                let headers = response.headers_mut();
                headers.insert(Status::GRPC_STATUS, (Code::Unimplemented as i32).into());
                headers.insert(
                    http::header::CONTENT_TYPE,
                    tonic::metadata::GRPC_CONTENT_TYPE,
                );
                Ok(response)
            });
        }
        if let Some(auth) = &self.auth {
            let presented = req
                .headers()
                .get(http::header::AUTHORIZATION)
                .map(http::HeaderValue::as_bytes);
            if !auth.check(presented) {
                tracing::debug!(
                    protocol = "grpc",
                    has_authorization = presented.is_some(),
                    "unauthenticated request refused"
                );
                self.pipeline.unauthenticated(Protocol::Grpc);
                return Box::pin(async move {
                    Ok(status_response(Status::unauthenticated(UNAUTHENTICATED)))
                });
            }
        }
        let pipeline = self.pipeline.clone();
        let max = self.max_message_bytes;
        let ratio = self.ratio;
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            Ok(
                match receive(&pipeline, &parts.headers, body, max, ratio).await {
                    Ok(ps) => ok_response(ps),
                    Err(r) => {
                        r.count(&pipeline, Protocol::Grpc);
                        status_response(status_of(&r))
                    }
                },
            )
        })
    }
}

impl tonic::server::NamedService for OtlpGrpcService {
    const NAME: &'static str = TRACE_SERVICE;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![flag];
        f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn received(b: Vec<u8>) -> Received {
        Received {
            bytes: Bytes::from(b),
            reserved: 0,
        }
    }

    #[test]
    fn a_unary_call_carries_exactly_one_message_within_the_limit() {
        let one = frame(1, b"hello");
        assert!(one_message(&one, 10).is_ok());
        let (compressed, payload) = message(received(one.clone())).unwrap();
        assert!(compressed);
        assert_eq!(payload.bytes.as_ref(), b"hello");
        // A second message is refused as soon as it starts (issue 13, B1).
        let mut two = one.clone();
        two.push(0);
        assert!(
            matches!(one_message(&two, 10), Err(Refusal::Malformed(m)) if m.contains("second"))
        );
        // A header announcing more than the limit is refused before the payload arrives.
        assert!(matches!(
            one_message(&frame(0, &[0; 11])[..5], 10),
            Err(Refusal::TooLarge(TooLarge::Size, _))
        ));
        assert!(
            matches!(message(received(Vec::new())), Err(Refusal::Malformed(m)) if m.contains("none"))
        );
        assert!(
            matches!(message(received(one[..7].to_vec())), Err(Refusal::Malformed(m)) if m.contains("truncated"))
        );
        assert!(
            one_message(&frame(2, b"x"), 10).is_err(),
            "flags other than 0 and 1"
        );
    }

    #[test]
    fn refusals_map_to_the_otlp_grpc_codes() {
        let busy = status_of(&Refusal::Busy("b".into()));
        assert_eq!(busy.code(), Code::Unavailable);
        assert!(
            rpc_status::retry_delay(busy.details()).is_some(),
            "RetryInfo"
        );
        let big = status_of(&Refusal::TooLarge(TooLarge::Ratio, "r".into()));
        assert_eq!(big.code(), Code::ResourceExhausted);
        assert!(
            rpc_status::retry_delay(big.details()).is_none(),
            "not retryable"
        );
        assert_eq!(
            status_of(&Refusal::TimedOut("t".into())).code(),
            Code::DeadlineExceeded
        );
    }
}
