//! OTLP/gRPC receiver: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.
//!
//! ```text
//! gRPC frame (gzip ok, size-limited before and after decompression) -> raw bytes -> prost decode
//!   -> Pipeline::export -> ExportTraceServiceResponse | INVALID_ARGUMENT | UNAVAILABLE + RetryInfo
//! ```
//!
//! The service is written by hand (as tonic's generated code would be) around a codec that
//! hands over raw bytes, so a malformed message is answered `INVALID_ARGUMENT` with the decode
//! error, as the OTLP spec asks (tonic's generated server would answer `INTERNAL`).
//!
//! Before tonic sees a request: the bearer token is checked (`UNAUTHENTICATED` without it), the
//! body is collected up to the size limit, and gzip frames are decompressed here with the same
//! size and ratio limits as the HTTP receiver (`RESOURCE_EXHAUSTED` past them), then handed to
//! tonic uncompressed.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body_util::BodyExt;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::{
    Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder,
};
use tonic::codegen::{http, Body, Service, StdError};
use tonic::{Code, Status};

use super::auth::{BearerAuth, UNAUTHENTICATED};
use super::http::{gunzip, redact_quoted, BodyError};
use super::metrics::Protocol;
use super::pipeline::{ExportError, Pipeline};
use super::rpc_status;

const SERVICE: &str = "opentelemetry.proto.collector.trace.v1.TraceService";
/// The gRPC path of `TraceService/Export` (served here, called by the exporter and the load
/// generator).
pub const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'static>>;

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

/// Decodes an OTLP/protobuf request; the error says what is wrong.
pub(crate) fn decode_request(b: &[u8]) -> Result<ExportTraceServiceRequest, String> {
    ExportTraceServiceRequest::decode(b)
        .map_err(|e| format!("invalid OTLP/protobuf ExportTraceServiceRequest: {e}"))
}

struct ExportSvc(Arc<Pipeline>);

impl tonic::server::UnaryService<Bytes> for ExportSvc {
    type Response = ExportTraceServiceResponse;
    type Future = BoxFuture<tonic::Response<Self::Response>, Status>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let pipeline = self.0.clone();
        Box::pin(async move {
            let bytes = request.into_inner();
            let req = match decode_request(&bytes) {
                Ok(r) => r,
                Err(m) => {
                    pipeline.malformed(Protocol::Grpc, &redact_quoted(&m));
                    return Err(Status::invalid_argument(m));
                }
            };
            match pipeline.export(req, Some(bytes)).await {
                Ok(partial_success) => Ok(tonic::Response::new(ExportTraceServiceResponse {
                    partial_success,
                })),
                Err(ExportError::Unavailable {
                    message,
                    retry_after,
                }) => Err(Status::with_details(
                    Code::Unavailable,
                    message.clone(),
                    Bytes::from(rpc_status::with_retry_delay(
                        Code::Unavailable as i32,
                        &message,
                        retry_after,
                    )),
                )),
            }
        })
    }
}

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

/// Rewrites the length-prefixed gRPC frames of a body: compressed ones (flag 1) are gunzipped
/// within the limits and re-emitted uncompressed. A truncated frame is left for tonic to refuse.
fn decompress_frames(body: &[u8], max: usize, ratio: usize) -> Result<Bytes, Status> {
    let mut out = BytesMut::with_capacity(body.len());
    let mut rest = body;
    while rest.len() >= 5 {
        let flag = rest[0];
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let Some(payload) = rest.get(5..5 + len) else {
            break;
        };
        if flag & 1 == 1 {
            let plain = gunzip(payload, max, ratio).map_err(|e| match e {
                BodyError::TooLarge(m) => Status::resource_exhausted(m),
                BodyError::Malformed(m) | BodyError::Unsupported(m) => Status::invalid_argument(m),
            })?;
            let plain_len = u32::try_from(plain.len())
                .map_err(|_| Status::resource_exhausted("message over 4 GiB"))?;
            out.put_u8(flag & !1);
            out.put_u32(plain_len);
            out.put_slice(&plain);
        } else {
            out.put_slice(&rest[..5 + len]);
        }
        rest = &rest[5 + len..];
    }
    out.put_slice(rest);
    Ok(out.freeze())
}

fn status_response(s: Status) -> http::Response<tonic::body::Body> {
    s.into_http()
}

impl<B> Service<http::Request<B>> for OtlpGrpcService
where
    B: Body + Send + 'static,
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
            let (mut parts, body) = req.into_parts();
            // A frame is its payload plus 5 bytes of header; anything longer is over the limit.
            let collected = http_body_util::Limited::new(body, max.saturating_add(5))
                .collect()
                .await;
            let raw = match collected {
                Ok(c) => c.to_bytes(),
                Err(e) => {
                    let too_large = e
                        .downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some();
                    let status = if too_large {
                        Status::resource_exhausted(format!(
                            "request exceeds the limit of {max} bytes"
                        ))
                    } else {
                        Status::cancelled(format!("reading the request: {e}"))
                    };
                    tracing::debug!(reason = %status.message(), "gRPC request refused");
                    return Ok(status_response(status));
                }
            };
            let gzip = parts
                .headers
                .get(GRPC_ENCODING)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
            let raw = if gzip {
                match decompress_frames(&raw, max, ratio) {
                    Ok(b) => {
                        parts.headers.remove(GRPC_ENCODING);
                        b
                    }
                    Err(s) => {
                        // Size and ratio refusals are transport limits, as when tonic refused
                        // them itself: not counted as malformed. Broken gzip is.
                        if s.code() == Code::InvalidArgument {
                            pipeline.malformed(Protocol::Grpc, &redact_quoted(s.message()));
                        } else {
                            tracing::debug!(reason = %s.message(), "gRPC request refused: too large");
                        }
                        return Ok(status_response(s));
                    }
                }
            } else {
                raw
            };
            let req = http::Request::from_parts(
                parts,
                tonic::body::Body::new(http_body_util::Full::new(raw)),
            );
            let mut enc = EnabledCompressionEncodings::default();
            enc.enable(CompressionEncoding::Gzip);
            // The limit bounds the (now uncompressed) message; tonic still decompresses a frame
            // flagged compressed under another declared encoding, within the same limit.
            let mut grpc = tonic::server::Grpc::new(RawCodec)
                .apply_compression_config(enc, enc)
                .apply_max_message_size_config(Some(max), None);
            Ok(grpc.unary(ExportSvc(pipeline), req).await)
        })
    }
}

impl tonic::server::NamedService for OtlpGrpcService {
    const NAME: &'static str = SERVICE;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gz(b: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![flag];
        f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn gzip_frames_are_decompressed_within_the_limits() {
        let plain = b"hello".repeat(100);
        let out = decompress_frames(&frame(1, &gz(&plain)), 1 << 20, 100).unwrap();
        assert_eq!(out.as_ref(), frame(0, &plain).as_slice());
        // Uncompressed frames pass through untouched.
        let f = frame(0, b"raw");
        assert_eq!(decompress_frames(&f, 10, 1).unwrap().as_ref(), f.as_slice());
        // A bomb: 8 MiB of zeros, ~8 KiB compressed.
        let bomb = frame(1, &gz(&vec![0u8; 8 << 20]));
        let err = decompress_frames(&bomb, 64 << 20, 100).unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
        let err = decompress_frames(&bomb, 1 << 20, usize::MAX).unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
        let err = decompress_frames(&frame(1, b"not gzip"), 1 << 20, 100).unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    }

    #[test]
    fn garbage_protobuf_is_a_decode_error_with_a_message() {
        let err = decode_request(&[0x0a, 0xff, 0xff, 0xff]).unwrap_err();
        assert!(err.starts_with("invalid OTLP/protobuf"), "{err}");
        assert!(
            decode_request(&[]).is_ok(),
            "an empty message is a valid empty request"
        );
    }
}
