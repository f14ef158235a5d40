//! `receivers:` — the OTLP receiver's protocols, request and memory limits, authentication,
//! TLS and connection limits.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::listen::{
    parse_listen, AuthConfig, ConnectionLimits, Secret, TlsFiles, DEFAULT_BODY_READ_TIMEOUT,
    DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
};
use super::values::{duration, BaseDir};

/// Default gRPC receiver address (loopback only; bind `0.0.0.0:4317` to accept remote senders).
pub const DEFAULT_GRPC_ENDPOINT: &str = "127.0.0.1:4317";
/// Default HTTP receiver address.
pub const DEFAULT_HTTP_ENDPOINT: &str = "127.0.0.1:4318";
/// Default request size limit, compressed and decompressed alike: 64 MiB.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;
/// Default largest ratio of decompressed to compressed request size, once a request
/// decompresses to more than [`DECOMPRESSION_RATIO_FLOOR`] bytes (gzip bombs).
pub const DEFAULT_MAX_DECOMPRESSION_RATIO: usize = 100;
/// Requests decompressing to at most this many bytes are not subject to the ratio limit: 1 MiB.
pub const DECOMPRESSION_RATIO_FLOOR: usize = 1024 * 1024;
/// Default memory budget of requests being received (bodies compressed and decompressed,
/// decoding), both receivers together: 512 MiB, eight times the default request limit (a
/// request of typical spans needs about five times its size: its body and the decoded structs,
/// measured in tests/decode_memory.rs).
pub const DEFAULT_RECEIVER_MEMORY_BYTES: usize = 512 * 1024 * 1024;
/// Default most connections open at once per receiver listener (gRPC, HTTP).
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// `receivers:` — only `otlp` exists.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReceiversConfig {
    /// The OTLP receiver.
    pub otlp: OtlpReceiverConfig,
}

/// `receivers.otlp:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpReceiverConfig {
    /// Protocols to serve. When `protocols` is absent both are enabled on their default
    /// endpoints; when present, only the protocols listed are (an empty `grpc:` enables gRPC with
    /// defaults, as in the Collector).
    #[serde(default = "Protocols::both")]
    pub protocols: Protocols,
    /// Bearer-token authentication of both protocols. Default: off (no `auth:`).
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Largest ratio of decompressed to compressed size of a gzip request, applied once it
    /// decompresses to more than 1 MiB; above it the request is refused (HTTP 413, gRPC
    /// `RESOURCE_EXHAUSTED`). Default: 100.
    #[serde(default = "default_ratio")]
    pub max_decompression_ratio: usize,
    /// Memory budget of requests being received, both protocols together: bodies as sent and
    /// decompressed, and the memory decoding them takes (bounded before decoding, from the
    /// request's structure), plus 16 KiB per request. A request that cannot reserve what it
    /// needs is refused at once: with the retryable status (gRPC `UNAVAILABLE` + `RetryInfo`,
    /// HTTP 503 + `Retry-After`) while other requests hold the budget, for good (HTTP 413 /
    /// `RESOURCE_EXHAUSTED`, naming this field) when it alone needs more. With
    /// `memory_limiter.limit_mib` it is at most 20 % of the limit. A request of typical spans
    /// needs about five times its size; give at least the largest request limit.
    /// Default: 536870912 (512 MiB).
    #[serde(default = "default_receiver_memory")]
    pub max_memory_bytes: usize,
    /// Time a new connection has to complete its first request's headers (a TLS handshake
    /// included); then it is closed. Default: `10s`.
    #[serde(default = "default_header_timeout", deserialize_with = "duration")]
    pub header_read_timeout: Duration,
    /// Time a request's body has to arrive, from its headers (a body that never ends, or
    /// shorter than its `Content-Length`, is answered HTTP 408 / `DEADLINE_EXCEEDED`).
    /// Default: `30s`.
    #[serde(default = "default_body_timeout", deserialize_with = "duration")]
    pub body_read_timeout: Duration,
    /// Time a connection may stay open with no request under way (idle, or sending the next
    /// request's headers), after its last one; then it is closed (HTTP/2: GOAWAY).
    /// Default: `60s`.
    #[serde(default = "default_idle_timeout", deserialize_with = "duration")]
    pub idle_timeout: Duration,
    /// Most connections open at once, per receiver (gRPC and HTTP each). Further clients wait
    /// in the listen backlog until one closes. Default: 512.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

fn default_ratio() -> usize {
    DEFAULT_MAX_DECOMPRESSION_RATIO
}

fn default_receiver_memory() -> usize {
    DEFAULT_RECEIVER_MEMORY_BYTES
}

fn default_header_timeout() -> Duration {
    DEFAULT_HEADER_READ_TIMEOUT
}

fn default_body_timeout() -> Duration {
    DEFAULT_BODY_READ_TIMEOUT
}

fn default_idle_timeout() -> Duration {
    DEFAULT_IDLE_TIMEOUT
}

fn default_max_connections() -> usize {
    DEFAULT_MAX_CONNECTIONS
}

impl Default for OtlpReceiverConfig {
    fn default() -> Self {
        OtlpReceiverConfig {
            protocols: Protocols::both(),
            auth: None,
            max_decompression_ratio: DEFAULT_MAX_DECOMPRESSION_RATIO,
            max_memory_bytes: DEFAULT_RECEIVER_MEMORY_BYTES,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// `receivers.otlp.protocols:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocols {
    /// OTLP/gRPC. Default: enabled on `127.0.0.1:4317` when `protocols` is absent.
    #[serde(default, deserialize_with = "present_means_enabled")]
    pub grpc: Option<GrpcReceiverConfig>,
    /// OTLP/HTTP (`POST /v1/traces`, protobuf or JSON). Default: enabled on `127.0.0.1:4318`
    /// when `protocols` is absent.
    #[serde(default, deserialize_with = "present_means_enabled")]
    pub http: Option<HttpReceiverConfig>,
}

impl Protocols {
    fn both() -> Protocols {
        Protocols {
            grpc: Some(GrpcReceiverConfig::default()),
            http: Some(HttpReceiverConfig::default()),
        }
    }
}

/// `receivers.otlp.protocols.grpc:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcReceiverConfig {
    /// `host:port` to listen on. Default: `127.0.0.1:4317`.
    pub endpoint: String,
    /// Largest request, in MiB, compressed and after decompression. Default: 64.
    pub max_recv_msg_size_mib: usize,
    /// Serve TLS (`cert_file`, `key_file`). Default: plaintext.
    pub tls: Option<TlsFiles>,
}

impl Default for GrpcReceiverConfig {
    fn default() -> Self {
        GrpcReceiverConfig {
            endpoint: DEFAULT_GRPC_ENDPOINT.to_owned(),
            max_recv_msg_size_mib: DEFAULT_MAX_REQUEST_BYTES / (1024 * 1024),
            tls: None,
        }
    }
}

/// `receivers.otlp.protocols.http:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpReceiverConfig {
    /// `host:port` to listen on. Default: `127.0.0.1:4318`.
    pub endpoint: String,
    /// Largest request body in bytes, compressed and after decompression. Default: 67108864
    /// (64 MiB).
    pub max_request_body_size: usize,
    /// Serve TLS (`cert_file`, `key_file`). Default: plaintext.
    pub tls: Option<TlsFiles>,
}

impl Default for HttpReceiverConfig {
    fn default() -> Self {
        HttpReceiverConfig {
            endpoint: DEFAULT_HTTP_ENDPOINT.to_owned(),
            max_request_body_size: DEFAULT_MAX_REQUEST_BYTES,
            tls: None,
        }
    }
}

/// `grpc:` present (even empty / null) enables the protocol with defaults for missing fields.
fn present_means_enabled<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(Option::<T>::deserialize(d)?.unwrap_or_default()))
}

/// The receivers, resolved (fields of [`super::GatewaySettings`]).
pub(super) struct ReceiverSettings {
    pub(super) grpc: Option<SocketAddr>,
    pub(super) http: Option<SocketAddr>,
    pub(super) grpc_max_request_bytes: usize,
    pub(super) http_max_request_bytes: usize,
    pub(super) grpc_tls: Option<TlsFiles>,
    pub(super) http_tls: Option<TlsFiles>,
    pub(super) auth_token: Option<Secret>,
    pub(super) max_decompression_ratio: usize,
    pub(super) memory_bytes: usize,
    pub(super) connections: ConnectionLimits,
}

impl ReceiversConfig {
    /// Validates `receivers:`, resolving its paths against `base`.
    pub(super) fn resolve(
        &self,
        base: BaseDir<'_>,
        problems: &mut Vec<String>,
    ) -> ReceiverSettings {
        let o = &self.otlp;
        let p = &o.protocols;
        let grpc = p.grpc.as_ref().and_then(|g| {
            parse_listen(
                "receivers.otlp.protocols.grpc.endpoint",
                &g.endpoint,
                problems,
            )
        });
        let http = p.http.as_ref().and_then(|h| {
            parse_listen(
                "receivers.otlp.protocols.http.endpoint",
                &h.endpoint,
                problems,
            )
        });
        if p.grpc.is_none() && p.http.is_none() {
            problems.push(
                "receivers.otlp.protocols: enable at least one of 'grpc' and 'http'".to_owned(),
            );
        }
        if let (Some(g), Some(h)) = (grpc, http) {
            if g == h && g.port() != 0 {
                problems.push(format!("receivers: grpc and http both listen on {g}"));
            }
        }
        let grpc_max = p.grpc.as_ref().map_or(DEFAULT_MAX_REQUEST_BYTES, |g| {
            if g.max_recv_msg_size_mib == 0 {
                problems.push(
                    "receivers.otlp.protocols.grpc.max_recv_msg_size_mib: must be at least 1"
                        .into(),
                );
            }
            g.max_recv_msg_size_mib.saturating_mul(1024 * 1024)
        });
        let http_max = p.http.as_ref().map_or(DEFAULT_MAX_REQUEST_BYTES, |h| {
            if h.max_request_body_size < 1024 {
                problems.push("receivers.otlp.protocols.http.max_request_body_size: must be at least 1024 bytes".into());
            }
            h.max_request_body_size
        });
        let grpc_tls = p
            .grpc
            .as_ref()
            .and_then(|g| g.tls.as_ref())
            .map(|t| t.resolve("receivers.otlp.protocols.grpc.tls", base, problems));
        let http_tls = p
            .http
            .as_ref()
            .and_then(|h| h.tls.as_ref())
            .map(|t| t.resolve("receivers.otlp.protocols.http.tls", base, problems));
        let auth_token = o
            .auth
            .as_ref()
            .and_then(|a| a.resolve("receivers.otlp.auth", base, problems));
        if o.max_decompression_ratio == 0 {
            problems.push("receivers.otlp.max_decompression_ratio: must be at least 1".into());
        }
        let largest_request = match (&p.grpc, &p.http) {
            (Some(_), Some(_)) => grpc_max.max(http_max),
            (Some(_), None) => grpc_max,
            (None, _) => http_max,
        };
        if o.max_memory_bytes < largest_request.max(1024 * 1024) {
            problems.push(format!(
                "receivers.otlp.max_memory_bytes: {} cannot hold one request of the size limit ({largest_request} bytes); give at least that (1 MiB at least)",
                o.max_memory_bytes
            ));
        }
        let connections = ConnectionLimits {
            header_read_timeout: o.header_read_timeout,
            body_read_timeout: o.body_read_timeout,
            idle_timeout: o.idle_timeout,
            max_connections: o.max_connections,
        };
        connections.check("receivers.otlp", problems);
        ReceiverSettings {
            grpc,
            http,
            grpc_max_request_bytes: grpc_max,
            http_max_request_bytes: http_max,
            grpc_tls,
            http_tls,
            auth_token,
            max_decompression_ratio: o.max_decompression_ratio,
            memory_bytes: o.max_memory_bytes,
            connections,
        }
    }
}
