//! The OTLP names both sides of the gateway share (the receivers serve them, the exporter calls
//! them): the trace service's gRPC path, the HTTP path and the body content types. Nothing here
//! imports another gateway module.

/// The gRPC service of OTLP traces.
pub(crate) const TRACE_SERVICE: &str = "opentelemetry.proto.collector.trace.v1.TraceService";
/// The gRPC path of `TraceService/Export` (served by the gRPC receiver, called by the exporter
/// and the load generator).
pub const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
/// The OTLP/HTTP path of traces, served by the HTTP receiver and appended to an exporter's base
/// `endpoint`.
pub(crate) const TRACES_PATH: &str = "/v1/traces";
/// Content type of protobuf bodies.
pub(crate) const PROTOBUF: &str = "application/x-protobuf";
/// Content type of OTLP/JSON bodies.
pub(crate) const JSON: &str = "application/json";
