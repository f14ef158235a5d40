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

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::{
    Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder,
};
use tonic::codegen::{http, Body, Service, StdError};
use tonic::{Code, Status};

use super::metrics::Protocol;
use super::pipeline::{ExportError, Pipeline};
use super::rpc_status;

const SERVICE: &str = "opentelemetry.proto.collector.trace.v1.TraceService";
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'static>>;

/// Request bytes in, response message out.
#[derive(Debug, Default, Clone, Copy)]
struct RawCodec;

#[derive(Debug, Default, Clone, Copy)]
struct RawDecoder;

#[derive(Debug, Default, Clone, Copy)]
struct ResponseEncoder;

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
                    pipeline.malformed(Protocol::Grpc, &m);
                    return Err(Status::invalid_argument(m));
                }
            };
            match pipeline.export(req) {
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
}

impl OtlpGrpcService {
    pub(crate) fn new(pipeline: Arc<Pipeline>, max_message_bytes: usize) -> OtlpGrpcService {
        OtlpGrpcService {
            pipeline,
            max_message_bytes,
        }
    }
}

impl<B> Service<http::Request<B>> for OtlpGrpcService
where
    B: Body + Send + 'static,
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
        let pipeline = self.pipeline.clone();
        let max = self.max_message_bytes;
        Box::pin(async move {
            let mut enc = EnabledCompressionEncodings::default();
            enc.enable(CompressionEncoding::Gzip);
            // The limit bounds the frame and, for gzip, the decompressed size (tonic stops
            // decompressing at the limit: RESOURCE_EXHAUSTED).
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
