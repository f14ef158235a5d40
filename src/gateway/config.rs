//! The gateway's configuration: one YAML file in the OTel Collector's style.
//!
//! ```text
//! YAML file --serde (deny_unknown_fields)--> GatewayConfig --flags--> --env--> resolve() --> GatewaySettings
//! ```
//!
//! Precedence, highest first: command-line flags > the file > `OTEL_EXPORTER_OTLP_*` environment
//! variables > the `DEFAULT_*` constants below. Flags are applied by writing into the
//! [`GatewayConfig`] before [`GatewayConfig::resolve`]; the environment only fills fields the
//! file (and flags) left unset. [`GatewayConfig::resolve`] validates everything and reports every
//! problem at once.
//!
//! ```yaml
//! receivers:
//!   otlp:
//!     protocols:
//!       grpc: { endpoint: 127.0.0.1:4317 }     # omit a protocol to disable it
//!       http: { endpoint: 127.0.0.1:4318 }
//! assembly: { root_grace: 2s, trace_timeout: 30s }
//! pricing: { overrides: [prices.toml] }
//! exporter: { endpoint: http://jaeger:4317, protocol: grpc }
//! telemetry: { metrics: { endpoint: 127.0.0.1:8888 }, logs: { level: info } }
//! ```

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::engine::{ExtractOptions, InputCounting};

/// Default gRPC receiver address (loopback only; bind `0.0.0.0:4317` to accept remote senders).
pub const DEFAULT_GRPC_ENDPOINT: &str = "127.0.0.1:4317";
/// Default HTTP receiver address.
pub const DEFAULT_HTTP_ENDPOINT: &str = "127.0.0.1:4318";
/// Default request size limit, compressed and decompressed alike: 64 MiB.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;
/// Default wait after a trace's root span arrived, for stragglers.
pub const DEFAULT_ROOT_GRACE: Duration = Duration::from_secs(2);
/// Default longest wait after a trace's first span.
pub const DEFAULT_TRACE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default span count that releases a trace at once.
pub const DEFAULT_MAX_SPANS_PER_TRACE: usize = 10_000;
/// Default number of traces buffered at once.
pub const DEFAULT_MAX_TRACES: usize = 100_000;
/// Default memory budget of buffered spans (encoded protobuf size): 256 MiB.
pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 256 * 1024 * 1024;
/// Default exporter timeout per request (`OTEL_EXPORTER_OTLP_TIMEOUT`'s default too).
pub const DEFAULT_EXPORTER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default largest export request: 4 MiB (the gRPC default receive limit of most servers).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// Default most spans per export request.
pub const DEFAULT_MAX_BATCH_SPANS: usize = 2048;
/// Default first retry wait.
pub const DEFAULT_RETRY_INITIAL_INTERVAL: Duration = Duration::from_secs(5);
/// Default cap of the retry wait.
pub const DEFAULT_RETRY_MAX_INTERVAL: Duration = Duration::from_secs(30);
/// Default longest time spent retrying one request.
pub const DEFAULT_RETRY_MAX_ELAPSED_TIME: Duration = Duration::from_secs(300);
/// Default backoff multiplier.
pub const DEFAULT_RETRY_MULTIPLIER: f64 = 1.5;
/// Default jitter: the wait is drawn from `[w * (1 - r), w * (1 + r)]`.
pub const DEFAULT_RETRY_RANDOMIZATION_FACTOR: f64 = 0.5;
/// Default export queue capacity, in spans.
pub const DEFAULT_QUEUE_SIZE: usize = 100_000;
/// Default number of concurrent export requests.
pub const DEFAULT_QUEUE_CONSUMERS: usize = 4;
/// Default largest ratio of decompressed to compressed request size, once a request
/// decompresses to more than [`DECOMPRESSION_RATIO_FLOOR`] bytes (gzip bombs).
pub const DEFAULT_MAX_DECOMPRESSION_RATIO: usize = 100;
/// Requests decompressing to at most this many bytes are not subject to the ratio limit: 1 MiB.
pub const DECOMPRESSION_RATIO_FLOOR: usize = 1024 * 1024;
/// Default memory budget of the export queue (encoded bytes): 256 MiB.
pub const DEFAULT_QUEUE_MEMORY_BYTES: usize = 256 * 1024 * 1024;
/// Default disk budget of the persistent export queue: 1 GiB.
pub const DEFAULT_QUEUE_MAX_BYTES: usize = 1024 * 1024 * 1024;
/// Default longest time written data stays unsynced under `exporter.queue.fsync: interval`.
pub const DEFAULT_QUEUE_FSYNC_INTERVAL: Duration = Duration::from_secs(1);
/// Default Prometheus `/metrics` and `/healthz` address.
pub const DEFAULT_METRICS_ENDPOINT: &str = "127.0.0.1:8888";
/// Default log level.
pub const DEFAULT_LOG_LEVEL: &str = "info";
/// Default time allowed at shutdown to release buffered traces and drain the export queue.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// Default memory budget of requests being received (bodies compressed and decompressed,
/// decoding), both receivers together: 512 MiB, eight times the default request limit (a
/// request of typical spans needs about five times its size: its body and the decoded structs,
/// measured in tests/decode_memory.rs).
pub const DEFAULT_RECEIVER_MEMORY_BYTES: usize = 512 * 1024 * 1024;
/// Default time a new connection has to complete its first request's headers (TLS handshake
/// included).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a request's body has to arrive, from its headers.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time a connection may stay open with no request under way, after its last one.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default most connections open at once per receiver listener (gRPC, HTTP).
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Default most connections open at once to `/metrics` and `/healthz`.
pub const DEFAULT_METRICS_MAX_CONNECTIONS: usize = 64;
/// Share of `memory_limiter.limit_mib` the receivers' memory budget gets, in percent.
pub const MEMORY_LIMITER_RECEIVER_PERCENT: usize = 20;

/// `OTEL_EXPORTER_OTLP_ENDPOINT`: base URL; `/v1/traces` is appended for HTTP.
pub const ENV_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: full URL, used as is.
pub const ENV_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// `OTEL_EXPORTER_OTLP_HEADERS`: `key=value,key2=value2` (values percent-decoded).
pub const ENV_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
/// `OTEL_EXPORTER_OTLP_TRACES_HEADERS`: as above, wins over it.
pub const ENV_TRACES_HEADERS: &str = "OTEL_EXPORTER_OTLP_TRACES_HEADERS";
/// `OTEL_EXPORTER_OTLP_PROTOCOL`: `grpc` or `http/protobuf`.
pub const ENV_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`: as above, wins over it.
pub const ENV_TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
/// `OTEL_EXPORTER_OTLP_TIMEOUT`: milliseconds.
pub const ENV_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
/// `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`: as above, wins over it.
pub const ENV_TRACES_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";
/// `OTEL_EXPORTER_OTLP_COMPRESSION`: `gzip` or `none`.
pub const ENV_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";

/// A configuration that could not be loaded or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not valid YAML, an unknown field, or a value of the wrong type.
    #[error("{file}: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// Parser message with position.
        message: String,
    },
    /// Values that parsed but make no sense; every problem found is listed.
    #[error("invalid configuration ({} problem{}):\n  - {}", .0.len(), if .0.len() == 1 { "" } else { "s" }, .0.join("\n  - "))]
    Invalid(Vec<String>),
}

// ---------------------------------------------------------------------------------------------
// The file
// ---------------------------------------------------------------------------------------------

/// The whole configuration file. Every section is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Where spans come in.
    pub receivers: ReceiversConfig,
    /// How spans are grouped into traces before pricing.
    pub assembly: AssemblyConfig,
    /// Price layers and what is written.
    pub pricing: PricingConfig,
    /// Where priced spans go.
    pub exporter: ExporterConfig,
    /// The gateway's own metrics and logs.
    pub telemetry: TelemetryConfig,
    /// Shutdown behaviour.
    pub shutdown: ShutdownConfig,
    /// Budgets, cost anomalies, cost-metric label limits, cost records.
    pub analytics: AnalyticsConfig,
    /// One bound on the gateway's resident memory.
    pub memory_limiter: MemoryLimiterConfig,
    /// Directory relative file paths are resolved against (the config file's directory; the
    /// working directory when built in code). Not a YAML field.
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
}

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

/// `receivers.otlp.auth:` — requests must carry `Authorization: Bearer <token>` (gRPC: the
/// `authorization` metadata); otherwise HTTP 401 / gRPC `UNAUTHENTICATED`. Give exactly one of
/// the two fields. The token is never logged.
#[derive(Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The token itself. Prefer `bearer_token_file`, which keeps it out of the config file.
    pub bearer_token: Option<String>,
    /// A file holding the token (surrounding whitespace trimmed), e.g. a mounted secret.
    /// Relative to the config file's directory.
    pub bearer_token_file: Option<PathBuf>,
}

impl AuthConfig {
    /// The token (read from the file if so configured), validated; problems are named after
    /// `section` (`receivers.otlp.auth`, `telemetry.metrics.auth`).
    fn resolve(
        &self,
        section: &str,
        resolve_path: &dyn Fn(&Path) -> PathBuf,
        problems: &mut Vec<String>,
    ) -> Option<Secret> {
        let token = match (&self.bearer_token, &self.bearer_token_file) {
            (Some(_), Some(_)) => {
                problems.push(format!(
                    "{section}: give bearer_token or bearer_token_file, not both"
                ));
                None
            }
            (Some(t), None) => Some(t.trim().to_owned()),
            (None, Some(f)) => {
                let f = resolve_path(f);
                match std::fs::read_to_string(&f) {
                    Ok(t) => Some(t.trim().to_owned()),
                    Err(e) => {
                        problems.push(format!(
                            "{section}.bearer_token_file: '{}': {e}",
                            f.display()
                        ));
                        None
                    }
                }
            }
            (None, None) => {
                problems.push(format!("{section}: give bearer_token or bearer_token_file"));
                None
            }
        }?;
        if token.is_empty() {
            problems.push(format!("{section}: the bearer token is empty"));
            return None;
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            problems.push(format!(
                "{section}: the bearer token must be printable ASCII without spaces"
            ));
        }
        Some(Secret(token))
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<redacted>"),
            )
            .field("bearer_token_file", &self.bearer_token_file)
            .finish()
    }
}

/// `tls:` of a receiver: serve TLS with this certificate chain and key (PEM). Default: off.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// Certificate chain, PEM, leaf first. Relative to the config file's directory.
    pub cert_file: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1), PEM. Relative to the config file's directory.
    pub key_file: PathBuf,
    /// Mutual TLS: CA certificate(s), PEM, that every client must present a certificate from;
    /// a client without one fails the handshake. Default: no client certificate asked.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

/// A secret string whose `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
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

/// `assembly:` — when a trace is complete enough to price (DESIGN §7).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssemblyConfig {
    /// Wait after the root span arrived, for stragglers. Default: `2s`.
    #[serde(deserialize_with = "duration")]
    pub root_grace: Duration,
    /// Longest wait after a trace's first span; then it is released with
    /// `cost.complete=false`. Default: `30s`.
    #[serde(deserialize_with = "duration")]
    pub trace_timeout: Duration,
    /// A trace reaching this many spans, or a quarter of `max_bytes`, is released at once
    /// (`cost.complete=false`; its later spans gather into a next part). Default: 10000.
    pub max_spans_per_trace: usize,
    /// Most traces buffered; when full the oldest is released early (`cost.complete=false`),
    /// never dropped. Default: 100000.
    pub max_traces: usize,
    /// Memory budget of the assembly buffer in bytes: the resident size of the buffered spans
    /// as decoded (struct, ids, keys, values, with allocator chunk overhead; several times the
    /// protobuf size) plus per-trace bookkeeping; same policy. Default: 268435456 (256 MiB).
    pub max_bytes: usize,
}

impl Default for AssemblyConfig {
    fn default() -> Self {
        AssemblyConfig {
            root_grace: DEFAULT_ROOT_GRACE,
            trace_timeout: DEFAULT_TRACE_TIMEOUT,
            max_spans_per_trace: DEFAULT_MAX_SPANS_PER_TRACE,
            max_traces: DEFAULT_MAX_TRACES,
            max_bytes: DEFAULT_MAX_BUFFERED_BYTES,
        }
    }
}

/// `inclusive` or `exclusive` (does the input token count include cache tokens?).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Counting {
    /// Input includes cache reads and writes.
    Inclusive,
    /// Input excludes them.
    Exclusive,
}

impl From<Counting> for InputCounting {
    fn from(c: Counting) -> Self {
        match c {
            Counting::Inclusive => InputCounting::Inclusive,
            Counting::Exclusive => InputCounting::Exclusive,
        }
    }
}

/// `pricing.input_counting:` — force how input tokens are counted instead of the heuristics.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InputCountingConfig {
    /// Instrumentation scope name -> `inclusive` | `exclusive`. Default: empty.
    pub by_scope: BTreeMap<String, Counting>,
    /// Provider (any spelling; canonicalised) -> `inclusive` | `exclusive`. Default: empty.
    pub by_provider: BTreeMap<String, Counting>,
}

/// `pricing.catalog:` — the catalog under the price layers.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// A catalog file written by `otel-llm-cost catalog build`, used instead of the embedded
    /// catalog. Relative paths are resolved against the config file's directory. Default: none
    /// (the embedded catalog). With `sources`, the fallback when neither the sources nor the
    /// cache give a catalog.
    pub file: Option<PathBuf>,
    // Live prices (issue 16; validated and run by catalog_refresh.rs).
    /// Upstream price feeds the catalog is built from at start and on each refresh, instead of
    /// the embedded one: at most one `{format: genai-prices, url|path}` and one `{format:
    /// litellm, url|path}` (one alone: a catalog of that feed's models). Default: none (the
    /// embedded catalog or `file`; SIGHUP still re-reads the overrides and LiteLLM imports).
    pub sources: Vec<super::catalog_refresh::SourceConfig>,
    /// Between two refreshes from the sources; `0s`: only at start. Default: `24h`.
    #[serde(deserialize_with = "duration")]
    pub refresh_interval: Duration,
    /// Directory of the last good built catalog (`catalog.json`), used at start when a source
    /// is unreachable. Relative paths are resolved against the config file's directory.
    /// Default: none (no cache).
    pub cache_dir: Option<PathBuf>,
    /// Bound on fetching one source (connection, answer, each read). Default: `60s`.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig {
            file: None,
            sources: Vec::new(),
            refresh_interval: crate::catalog_live::DEFAULT_REFRESH_INTERVAL,
            cache_dir: None,
            timeout: crate::catalog_live::DEFAULT_FETCH_TIMEOUT,
        }
    }
}

/// `pricing:` — price layers on top of the embedded catalog, and what is written.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PricingConfig {
    /// The catalog under the layers. Default: the embedded one.
    pub catalog: CatalogConfig,
    /// Overrides files (TOML), applied in order, later wins. Relative paths are resolved against
    /// the config file's directory. Default: none.
    pub overrides: Vec<PathBuf>,
    /// LiteLLM-format JSON price maps to import, applied before the overrides. Default: none.
    pub litellm: Vec<PathBuf>,
    /// Opaque model names (Azure deployments, Bedrock profile ARNs) -> catalog id.
    /// Default: none.
    pub aliases: BTreeMap<String, String>,
    /// Prefix of the attributes written. Default: `cost.`.
    pub prefix: String,
    /// Re-price spans that already carry a cost. Default: `false`.
    pub reprice_provided: bool,
    /// Input-counting switches. Default: heuristics only.
    pub input_counting: InputCountingConfig,
}

impl Default for PricingConfig {
    fn default() -> Self {
        PricingConfig {
            catalog: CatalogConfig::default(),
            overrides: Vec::new(),
            litellm: Vec::new(),
            aliases: BTreeMap::new(),
            prefix: crate::semconv::DEFAULT_PREFIX.to_owned(),
            reprice_provided: false,
            input_counting: InputCountingConfig::default(),
        }
    }
}

/// `analytics:` — what is judged and counted when a trace is released.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyticsConfig {
    /// Budget rules; the first rule matching a trace applies. Default: none.
    pub budgets: Vec<BudgetConfig>,
    /// Cost-anomaly detection. Default: disabled.
    pub anomaly: AnomalyConfig,
    /// Label limits of the cost metrics on `/metrics`.
    pub metrics: CostMetricsConfig,
    /// JSONL cost records (one line per priced call and per released trace). Default: off.
    pub records: RecordsConfig,
}

/// One budget rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetConfig {
    /// Name written to `cost.budget.name`. Required.
    pub name: String,
    /// Root span name to match; `prefix*` matches a prefix. Default: any.
    pub workflow: Option<String>,
    /// Root attribute that must equal a value. Default: none.
    pub attribute: Option<BudgetAttribute>,
    /// Limit in USD, as a decimal string (`"0.50"`). Required.
    pub limit_usd: String,
}

/// `attribute: {key, value}` of a budget rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetAttribute {
    /// Attribute key on the root span.
    pub key: String,
    /// Value it must have.
    pub value: String,
}

/// `anomaly:` — a trace costing `threshold` times the median of its workflow's last `window`
/// traces is flagged (`cost.anomaly.detected=true`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnomalyConfig {
    /// Default: `false`.
    pub enabled: bool,
    /// Default: 50.
    pub window: usize,
    /// Default: 10.
    pub min_samples: usize,
    /// Default: 3.0.
    pub threshold: f64,
    /// Default: 1000.
    pub max_workflows: usize,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        let d = crate::analytics::AnomalyOptions::default();
        AnomalyConfig {
            enabled: false,
            window: d.window,
            min_samples: d.min_samples,
            threshold: d.threshold,
            max_workflows: d.max_workflows,
        }
    }
}

/// Label limits of the cost series.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CostMetricsConfig {
    /// Only these models get their own label (others: `other`). Default: none (first come).
    pub models: Vec<String>,
    /// Distinct model labels when `models` is empty. Default: 200.
    pub max_models: usize,
    /// Distinct provider labels. Default: 50.
    pub max_providers: usize,
    /// Distinct workflow labels. Default: 100.
    pub max_workflows: usize,
    /// Distinct service labels. Default: 100.
    pub max_services: usize,
    /// Longest label value in bytes; longer model, provider, service and workflow values are
    /// `other` (an allow-listed model is kept whatever its length). Default: 256.
    pub max_label_bytes: usize,
}

impl Default for CostMetricsConfig {
    fn default() -> Self {
        CostMetricsConfig {
            models: Vec::new(),
            max_models: crate::analytics::DEFAULT_MAX_MODELS,
            max_providers: crate::analytics::DEFAULT_MAX_PROVIDERS,
            max_workflows: crate::analytics::DEFAULT_MAX_WORKFLOW_LABELS,
            max_services: crate::analytics::DEFAULT_MAX_SERVICES,
            max_label_bytes: crate::analytics::DEFAULT_MAX_LABEL_BYTES,
        }
    }
}

/// `records:` — JSONL cost records.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordsConfig {
    /// File to append to (safe to rotate by renaming). Default: none (off).
    pub path: Option<PathBuf>,
}

/// Analytics, resolved.
#[derive(Debug, Clone, Default)]
pub struct AnalyticsSettings {
    /// Budget rules.
    pub budgets: Vec<crate::analytics::BudgetRule>,
    /// Anomaly detection.
    pub anomaly: Option<crate::analytics::AnomalyOptions>,
    /// Cost-metric label limits.
    pub metrics: CostMetricsConfig,
    /// JSONL records path.
    pub records: Option<PathBuf>,
}

impl AnalyticsConfig {
    fn resolve(
        &self,
        base: Option<&std::path::Path>,
        problems: &mut Vec<String>,
    ) -> AnalyticsSettings {
        let mut budgets = Vec::new();
        for (i, b) in self.budgets.iter().enumerate() {
            let at = format!("analytics.budgets[{i}]");
            if b.name.trim().is_empty() {
                problems.push(format!("{at}.name: required"));
            }
            match crate::money::Usd::parse(&b.limit_usd) {
                Ok(limit) => {
                    let mut r = crate::analytics::BudgetRule::new(b.name.clone(), limit);
                    if let Some(w) = &b.workflow {
                        r = r.for_workflow(w.clone());
                    }
                    if let Some(a) = &b.attribute {
                        r = r.when_attribute(a.key.clone(), a.value.clone());
                    }
                    budgets.push(r);
                }
                Err(e) => problems.push(format!("{at}.limit_usd: '{}': {e}", b.limit_usd)),
            }
        }
        let a = &self.anomaly;
        if a.enabled {
            if a.window == 0 {
                problems.push("analytics.anomaly.window: must be at least 1".into());
            }
            if !(a.threshold.is_finite() && a.threshold > 0.0) {
                problems.push("analytics.anomaly.threshold: must be a positive number".into());
            }
        }
        let m = &self.metrics;
        for (name, v) in [
            ("max_models", m.max_models),
            ("max_providers", m.max_providers),
            ("max_workflows", m.max_workflows),
            ("max_services", m.max_services),
            ("max_label_bytes", m.max_label_bytes),
        ] {
            if v == 0 {
                problems.push(format!("analytics.metrics.{name}: must be at least 1"));
            }
        }
        AnalyticsSettings {
            budgets,
            anomaly: a.enabled.then_some(crate::analytics::AnomalyOptions {
                window: a.window,
                min_samples: a.min_samples,
                threshold: a.threshold,
                max_workflows: a.max_workflows,
            }),
            metrics: m.clone(),
            records: self.records.path.as_ref().map(|p| match base {
                Some(b) if p.is_relative() => b.join(p),
                _ => p.clone(),
            }),
        }
    }
}

impl CostMetricsConfig {
    /// The label limits.
    pub fn limits(&self) -> crate::analytics::MetricLimits {
        use crate::analytics::CardinalityLimit;
        let first_come = |max| CardinalityLimit::new(max).with_max_len(self.max_label_bytes);
        crate::analytics::MetricLimits {
            models: if self.models.is_empty() {
                first_come(self.max_models)
            } else {
                CardinalityLimit::allow_only(self.models.iter().cloned())
            },
            providers: first_come(self.max_providers),
            workflows: first_come(self.max_workflows),
            services: first_come(self.max_services),
        }
    }
}

/// Export protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ExporterProtocol {
    /// OTLP/gRPC.
    #[serde(rename = "grpc")]
    Grpc,
    /// OTLP/HTTP with protobuf bodies.
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

impl ExporterProtocol {
    /// Parses `grpc` / `http/protobuf`.
    pub fn parse(s: &str) -> Result<ExporterProtocol, String> {
        match s.trim() {
            "grpc" => Ok(ExporterProtocol::Grpc),
            "http/protobuf" => Ok(ExporterProtocol::HttpProtobuf),
            "http/json" => Err(
                "protocol 'http/json' is not supported for export; use 'grpc' or 'http/protobuf'"
                    .into(),
            ),
            other => Err(format!(
                "unknown protocol '{other}'; expected 'grpc' or 'http/protobuf'"
            )),
        }
    }
}

/// Export compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// gzip.
    Gzip,
    /// None.
    None,
}

/// `exporter.retry:` — retries of retryable failures (OTLP spec), exponential backoff with jitter.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Retry at all. Default: `true`.
    pub enabled: bool,
    /// First wait. Default: `5s`.
    #[serde(deserialize_with = "duration")]
    pub initial_interval: Duration,
    /// Cap of the wait. Default: `30s`.
    #[serde(deserialize_with = "duration")]
    pub max_interval: Duration,
    /// Give up on a request after this long (its spans are counted as `retry_exhausted`).
    /// Default: `300s`.
    #[serde(deserialize_with = "duration")]
    pub max_elapsed_time: Duration,
    /// Backoff multiplier. Default: 1.5.
    pub multiplier: f64,
    /// Jitter: the wait is drawn from `[w*(1-r), w*(1+r)]`. Default: 0.5.
    pub randomization_factor: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            enabled: true,
            initial_interval: DEFAULT_RETRY_INITIAL_INTERVAL,
            max_interval: DEFAULT_RETRY_MAX_INTERVAL,
            max_elapsed_time: DEFAULT_RETRY_MAX_ELAPSED_TIME,
            multiplier: DEFAULT_RETRY_MULTIPLIER,
            randomization_factor: DEFAULT_RETRY_RANDOMIZATION_FACTOR,
        }
    }
}

/// `exporter.queue:` — the bounded export queue.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Capacity in spans (queued plus being exported). When full, receivers answer with the
    /// OTLP retryable status (gRPC `UNAVAILABLE`, HTTP 503 + `Retry-After`). Default: 100000.
    pub size: usize,
    /// Concurrent export requests. Default: 4.
    pub consumers: usize,
    /// Memory budget of the queue: encoded bytes held (queued and being exported); when
    /// reached, receivers answer with the retryable status, as for `size`.
    /// Default: 268435456 (256 MiB).
    pub max_memory_bytes: usize,
    /// Accepted means durable: every accepted request is appended to a write-ahead log in this
    /// directory (created if missing; relative to the config file's directory) before the
    /// receiver acknowledges it, and what the downstream acknowledged (or what was counted as
    /// not delivered) is checkpointed. After a crash or `kill -9` the next start replays every
    /// span not yet checkpointed into the assembly: nothing acknowledged is lost, and only the
    /// batches that were being exported at the crash can reach the downstream twice. An append
    /// that fails refuses the request with the retryable status. One gateway per directory (a
    /// second one refuses to start: the directory is locked). Format and replay:
    /// `src/gateway/persist.rs`. Default: none (in memory only: a crash loses what the gateway
    /// holds, see RELIABILITY.md).
    pub directory: Option<PathBuf>,
    /// Disk budget of the log; when reached, receivers answer with the retryable status, as
    /// for `size`. The log holds a request until every span of it was delivered, so size it
    /// for the ingest rate times the longest a span waits (assembly plus export).
    /// Default: 1073741824 (1 GiB).
    pub max_bytes: usize,
    /// When the log is flushed to the disk: `never` (the kernel writes it back on its own: an
    /// acknowledged request survives a process crash or `kill -9`, not a power loss or kernel
    /// crash), `interval` (at most `fsync_interval` after the write: a power loss loses at most
    /// that much of what was acknowledged) or `group` (each group commit is flushed before any
    /// of its requests is acknowledged: survives power loss, costs a disk flush per group).
    /// `true` and `false` mean `group` and `never`. Default: `never`.
    pub fsync: Fsync,
    /// The longest written data stays unsynced with `fsync: interval`. Default: `1s`.
    #[serde(deserialize_with = "duration")]
    pub fsync_interval: Duration,
}

/// `exporter.queue.fsync`: when the write-ahead log is flushed to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fsync {
    /// Never by the gateway (the kernel writes back dirty pages on its own): survives a process
    /// crash, not a power loss.
    #[default]
    Never,
    /// Every `fsync_interval`, acknowledgements not waiting: a power loss loses at most that
    /// interval of acknowledged requests.
    Interval,
    /// Each group commit before its requests are acknowledged: survives power loss.
    Group,
}

impl std::fmt::Display for Fsync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Fsync::Never => "never",
            Fsync::Interval => "interval",
            Fsync::Group => "group",
        })
    }
}

impl<'de> Deserialize<'de> for Fsync {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Fsync, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Name(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(true) => Ok(Fsync::Group),
            Raw::Bool(false) => Ok(Fsync::Never),
            Raw::Name(n) => match n.trim() {
                "never" => Ok(Fsync::Never),
                "interval" => Ok(Fsync::Interval),
                "group" => Ok(Fsync::Group),
                other => Err(serde::de::Error::custom(format!(
                    "fsync '{other}': expected never, interval or group (or true / false)"
                ))),
            },
        }
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            size: DEFAULT_QUEUE_SIZE,
            consumers: DEFAULT_QUEUE_CONSUMERS,
            max_memory_bytes: DEFAULT_QUEUE_MEMORY_BYTES,
            directory: None,
            max_bytes: DEFAULT_QUEUE_MAX_BYTES,
            fsync: Fsync::Never,
            fsync_interval: DEFAULT_QUEUE_FSYNC_INTERVAL,
        }
    }
}

/// `exporter.tls:` — used when the endpoint is `https://`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExporterTlsConfig {
    /// CA certificate(s), PEM, that the downstream's certificate must chain to. Relative to the
    /// config file's directory. Default: the system's root certificates.
    pub ca_file: Option<PathBuf>,
    /// Mutual TLS: the certificate chain (PEM, leaf first) the gateway presents to the
    /// downstream, with `key_file`. Default: none.
    pub cert_file: Option<PathBuf>,
    /// The private key of `cert_file` (PEM).
    pub key_file: Option<PathBuf>,
}

/// The exporter's TLS, resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExporterTlsSettings {
    /// `true` for an `https://` endpoint.
    pub enabled: bool,
    /// CA file (absolute or relative to the working directory); `None`: system roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key presented to the downstream (mutual TLS), if any.
    pub client_identity: Option<(PathBuf, PathBuf)>,
}

/// `exporter:` — the downstream OTLP endpoint.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExporterConfig {
    /// Base URL (`http://host:4317` for gRPC, `http://host:4318` for HTTP, to which
    /// `/v1/traces` is appended). Default: `OTEL_EXPORTER_OTLP_ENDPOINT`; required.
    pub endpoint: Option<String>,
    /// Full URL used as is (wins over `endpoint`). Default: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`.
    pub traces_endpoint: Option<String>,
    /// `grpc` or `http/protobuf`. Default: `OTEL_EXPORTER_OTLP_PROTOCOL`, else `grpc`.
    pub protocol: Option<String>,
    /// Headers (gRPC metadata) on every request, e.g. `authorization`. Default:
    /// `OTEL_EXPORTER_OTLP_HEADERS`, else none.
    pub headers: Option<BTreeMap<String, String>>,
    /// Per-request timeout. Default: `OTEL_EXPORTER_OTLP_TIMEOUT` (ms), else `10s`.
    #[serde(deserialize_with = "opt_duration")]
    pub timeout: Option<Duration>,
    /// `gzip` or `none`. Default: `OTEL_EXPORTER_OTLP_COMPRESSION`, else `gzip`.
    pub compression: Option<Compression>,
    /// Largest export request in bytes (encoded, before compression); batches are cut below it.
    /// Default: 4194304 (4 MiB).
    pub max_message_bytes: Option<usize>,
    /// Most spans per export request. Default: 2048.
    pub max_batch_spans: Option<usize>,
    /// Retries.
    pub retry: RetryConfig,
    /// Queue.
    pub queue: QueueConfig,
    /// TLS of an `https://` endpoint.
    pub tls: ExporterTlsConfig,
}

/// `telemetry.metrics:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// `host:port` of `/metrics` (Prometheus text) and `/healthz`; empty disables.
    /// Default: `127.0.0.1:8888`.
    pub endpoint: String,
    /// As `receivers.otlp.header_read_timeout`, for this endpoint. Default: `10s`.
    #[serde(deserialize_with = "duration")]
    pub header_read_timeout: Duration,
    /// As `receivers.otlp.body_read_timeout`, for this endpoint. Default: `10s`.
    #[serde(deserialize_with = "duration")]
    pub body_read_timeout: Duration,
    /// As `receivers.otlp.idle_timeout`, for this endpoint. Default: `60s`.
    #[serde(deserialize_with = "duration")]
    pub idle_timeout: Duration,
    /// Most connections open at once to this endpoint. Default: 64.
    pub max_connections: usize,
    /// Bearer-token authentication of `/metrics` (it shows cost by service, workflow and
    /// model): without `Authorization: Bearer <token>` it answers 401. `/healthz` stays open:
    /// it shows nothing but `ok`, and liveness probes (kubelet `httpGet`) cannot read a token
    /// from a Secret. Same fields as `receivers.otlp.auth`; the token may differ. Default: off.
    pub auth: Option<AuthConfig>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            endpoint: DEFAULT_METRICS_ENDPOINT.to_owned(),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_METRICS_MAX_CONNECTIONS,
            auth: None,
        }
    }
}

/// Bounds on a listener's connections, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time a new connection has to complete its first request's headers.
    pub header_read_timeout: Duration,
    /// Time for a request's body to arrive.
    pub body_read_timeout: Duration,
    /// Time a connection may stay idle after a request.
    pub idle_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl ConnectionLimits {
    /// Validates; `section` names the fields in problems.
    fn check(&self, section: &str, problems: &mut Vec<String>) {
        for (name, d) in [
            ("header_read_timeout", self.header_read_timeout),
            ("body_read_timeout", self.body_read_timeout),
            ("idle_timeout", self.idle_timeout),
        ] {
            if d.is_zero() {
                problems.push(format!("{section}.{name}: must be greater than 0"));
            }
        }
        if self.max_connections == 0 {
            problems.push(format!("{section}.max_connections: must be at least 1"));
        }
    }
}

/// `telemetry.logs:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogsConfig {
    /// `error`, `warn`, `info`, `debug` or `trace` (`RUST_LOG` wins when set). Default: `info`.
    pub level: String,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            level: DEFAULT_LOG_LEVEL.to_owned(),
        }
    }
}

/// `telemetry:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Metrics endpoint.
    pub metrics: MetricsConfig,
    /// Logs.
    pub logs: LogsConfig,
}

/// `memory_limiter:` — one bound on the gateway's resident memory, after the OTel Collector's
/// `memory_limiter`. Off by default (each buffer keeps its own bound).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryLimiterConfig {
    /// Resident memory limit in MiB; `0` turns the limiter off. When set, the assembly buffer
    /// gets at most 30 % of it (`assembly.max_bytes` is lowered to that), the export queue at
    /// most 10 % (encoded bytes; full means the retryable refusal; a persistent queue's disk
    /// budget is lowered to the same, as it is read into memory at start), requests being
    /// received at most 20 % (`receivers.otlp.max_memory_bytes`), a request at most
    /// 1/32 of it (the receivers' size limits are lowered), and while the process's resident
    /// memory (Linux `/proc/self/status` VmRSS) is above 85 % of the limit, and the gateway's
    /// own buffers hold at least 5 % of it, receivers answer with the retryable status (gRPC
    /// `UNAVAILABLE`, HTTP 503 + `Retry-After`), so senders keep their data and retry; they
    /// accept again below 75 %, or once the buffers hold under 2.5 %. Default: `0`.
    pub limit_mib: usize,
    /// How often resident memory is read. Default: `100ms`.
    #[serde(deserialize_with = "duration")]
    pub check_interval: Duration,
}

impl Default for MemoryLimiterConfig {
    fn default() -> Self {
        MemoryLimiterConfig {
            limit_mib: 0,
            check_interval: Duration::from_millis(100),
        }
    }
}

/// The memory limiter, resolved.
#[derive(Debug, Clone, Copy)]
pub struct MemoryLimit {
    /// Resident bytes above which receivers refuse (85 % of the limit).
    pub refuse_above_bytes: usize,
    /// Refusing stops again below this (75 % of the limit).
    pub resume_below_bytes: usize,
    /// The gateway's own buffers (assembly, export queue, requests being received,
    /// model-resolution cache) must hold at least this (5 % of the limit) for it to refuse, and
    /// it resumes when they hold less than half of it: when resident memory is high for another
    /// reason (the allocator keeping freed pages, a host process), refusing data could not bring
    /// it down.
    pub own_floor_bytes: usize,
    /// How often resident memory is read.
    pub check_interval: Duration,
}

/// `shutdown:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownConfig {
    /// Time allowed on SIGTERM/SIGINT to release every buffered trace and drain the export
    /// queue (receivers stop at once: stalled connections are dropped, requests past their
    /// body answered first); what is still undelivered then is logged and counted, an export
    /// request already sent may be answered up to 1 s later. Default: `10s`.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }
}

/// A problem for each of `files` (field name, path) that is not a file.
fn require_files(section: &str, files: &[(&str, &PathBuf)], problems: &mut Vec<String>) {
    for (name, f) in files {
        if !f.is_file() {
            problems.push(format!(
                "{section}.{name}: '{}' is not a readable file",
                f.display()
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Resolved settings
// ---------------------------------------------------------------------------------------------

/// Everything the gateway runs with: validated, defaults and environment applied.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// gRPC receiver address, if enabled.
    pub grpc: Option<SocketAddr>,
    /// HTTP receiver address, if enabled.
    pub http: Option<SocketAddr>,
    /// Request size limit of the gRPC receiver.
    pub grpc_max_request_bytes: usize,
    /// Request size limit of the HTTP receiver.
    pub http_max_request_bytes: usize,
    /// TLS of the gRPC receiver (paths resolved).
    pub grpc_tls: Option<TlsFiles>,
    /// TLS of the HTTP receiver (paths resolved).
    pub http_tls: Option<TlsFiles>,
    /// Bearer token both receivers require, if any.
    pub auth_token: Option<Secret>,
    /// Largest decompressed/compressed ratio of a request above 1 MiB decompressed.
    pub max_decompression_ratio: usize,
    /// Memory budget of requests being received (both receivers).
    pub receiver_memory_bytes: usize,
    /// Bounds on each receiver's connections.
    pub receiver_connections: ConnectionLimits,
    /// Bounds on the metrics endpoint's connections.
    pub metrics_connections: ConnectionLimits,
    /// Assembly limits.
    pub assembly: AssemblyConfig,
    /// Pricing (paths already resolved).
    pub pricing: PricingConfig,
    /// Exporter.
    pub exporter: ExporterSettings,
    /// Metrics address, if enabled.
    pub metrics: Option<SocketAddr>,
    /// Bearer token `/metrics` requires, if any.
    pub metrics_auth_token: Option<Secret>,
    /// Log level.
    pub log_level: String,
    /// Shutdown deadline.
    pub shutdown_timeout: Duration,
    /// Budgets, anomalies, cost-metric limits, records.
    pub analytics: AnalyticsSettings,
    /// The memory limiter, if on.
    pub memory_limit: Option<MemoryLimit>,
}

/// The exporter, resolved.
#[derive(Debug, Clone)]
pub struct ExporterSettings {
    /// Full URL requests go to (for HTTP including `/v1/traces`).
    pub url: String,
    /// Protocol.
    pub protocol: ExporterProtocol,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Timeout per request.
    pub timeout: Duration,
    /// Compression.
    pub compression: Compression,
    /// Largest request.
    pub max_message_bytes: usize,
    /// Most spans per request.
    pub max_batch_spans: usize,
    /// Retries.
    pub retry: RetryConfig,
    /// Queue (`directory` resolved).
    pub queue: QueueConfig,
    /// TLS.
    pub tls: ExporterTlsSettings,
}

impl GatewayConfig {
    /// Parses YAML; `file` names it in errors. Relative paths resolve against `base_dir`.
    pub fn from_yaml(
        file: &str,
        yaml: &str,
        base_dir: Option<&Path>,
    ) -> Result<GatewayConfig, ConfigError> {
        // An empty file is an empty mapping.
        let mut cfg: GatewayConfig = if yaml.trim().is_empty() {
            GatewayConfig::default()
        } else {
            serde_norway::from_str(yaml).map_err(|e| ConfigError::Syntax {
                file: file.to_owned(),
                message: e.to_string(),
            })?
        };
        cfg.base_dir = base_dir.map(Path::to_owned);
        Ok(cfg)
    }

    /// Reads and parses a YAML file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<GatewayConfig, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            file: path.display().to_string(),
            source,
        })?;
        GatewayConfig::from_yaml(&path.display().to_string(), &text, path.parent())
    }

    /// Applies the environment to unset fields, fills defaults, validates everything and reports
    /// every problem at once. `env` looks a variable up (`|k| std::env::var(k).ok()` in `main`;
    /// tests pass their own).
    pub fn resolve(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<GatewaySettings, ConfigError> {
        let mut problems = Vec::new();
        let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());

        // Receivers.
        let p = &self.receivers.otlp.protocols;
        let grpc = p.grpc.as_ref().and_then(|g| {
            parse_listen(
                "receivers.otlp.protocols.grpc.endpoint",
                &g.endpoint,
                &mut problems,
            )
        });
        let http = p.http.as_ref().and_then(|h| {
            parse_listen(
                "receivers.otlp.protocols.http.endpoint",
                &h.endpoint,
                &mut problems,
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
        let mut grpc_max = p.grpc.as_ref().map_or(DEFAULT_MAX_REQUEST_BYTES, |g| {
            if g.max_recv_msg_size_mib == 0 {
                problems.push(
                    "receivers.otlp.protocols.grpc.max_recv_msg_size_mib: must be at least 1"
                        .into(),
                );
            }
            g.max_recv_msg_size_mib.saturating_mul(1024 * 1024)
        });
        let mut http_max = p.http.as_ref().map_or(DEFAULT_MAX_REQUEST_BYTES, |h| {
            if h.max_request_body_size < 1024 {
                problems.push("receivers.otlp.protocols.http.max_request_body_size: must be at least 1024 bytes".into());
            }
            h.max_request_body_size
        });

        let base = self.base_dir.clone().unwrap_or_default();
        let resolve_path = |p: &Path| -> PathBuf {
            if p.is_relative() && !base.as_os_str().is_empty() {
                base.join(p)
            } else {
                p.to_owned()
            }
        };
        let tls_files = |field: &str, t: Option<&TlsFiles>, problems: &mut Vec<String>| {
            t.map(|t| {
                let t = TlsFiles {
                    cert_file: resolve_path(&t.cert_file),
                    key_file: resolve_path(&t.key_file),
                    client_ca_file: t.client_ca_file.as_deref().map(resolve_path),
                };
                let mut files = vec![("cert_file", &t.cert_file), ("key_file", &t.key_file)];
                if let Some(ca) = &t.client_ca_file {
                    files.push(("client_ca_file", ca));
                }
                require_files(&format!("{field}.tls"), &files, problems);
                t
            })
        };
        let grpc_tls = tls_files(
            "receivers.otlp.protocols.grpc",
            p.grpc.as_ref().and_then(|g| g.tls.as_ref()),
            &mut problems,
        );
        let http_tls = tls_files(
            "receivers.otlp.protocols.http",
            p.http.as_ref().and_then(|h| h.tls.as_ref()),
            &mut problems,
        );
        let auth_token = self
            .receivers
            .otlp
            .auth
            .as_ref()
            .and_then(|a| a.resolve("receivers.otlp.auth", &resolve_path, &mut problems));
        let max_decompression_ratio = self.receivers.otlp.max_decompression_ratio;
        if max_decompression_ratio == 0 {
            problems.push("receivers.otlp.max_decompression_ratio: must be at least 1".into());
        }
        let o = &self.receivers.otlp;
        let mut receiver_memory_bytes = o.max_memory_bytes;
        let largest_request = match (&p.grpc, &p.http) {
            (Some(_), Some(_)) => grpc_max.max(http_max),
            (Some(_), None) => grpc_max,
            (None, _) => http_max,
        };
        if receiver_memory_bytes < largest_request.max(1024 * 1024) {
            problems.push(format!(
                "receivers.otlp.max_memory_bytes: {receiver_memory_bytes} cannot hold one request of the size limit ({largest_request} bytes); give at least that (1 MiB at least)"
            ));
        }
        let receiver_connections = ConnectionLimits {
            header_read_timeout: o.header_read_timeout,
            body_read_timeout: o.body_read_timeout,
            idle_timeout: o.idle_timeout,
            max_connections: o.max_connections,
        };
        receiver_connections.check("receivers.otlp", &mut problems);
        let m = &self.telemetry.metrics;
        let metrics_connections = ConnectionLimits {
            header_read_timeout: m.header_read_timeout,
            body_read_timeout: m.body_read_timeout,
            idle_timeout: m.idle_timeout,
            max_connections: m.max_connections,
        };
        metrics_connections.check("telemetry.metrics", &mut problems);

        // Assembly.
        let a = &self.assembly;
        if a.trace_timeout.is_zero() {
            problems.push("assembly.trace_timeout: must be greater than 0".into());
        }
        if a.root_grace > a.trace_timeout {
            problems.push(format!(
                "assembly.root_grace ({:?}) is longer than assembly.trace_timeout ({:?})",
                a.root_grace, a.trace_timeout
            ));
        }
        for (name, v) in [
            ("assembly.max_spans_per_trace", a.max_spans_per_trace),
            ("assembly.max_traces", a.max_traces),
            ("assembly.max_bytes", a.max_bytes),
        ] {
            if v == 0 {
                problems.push(format!("{name}: must be at least 1"));
            }
        }

        // Pricing.
        let mut pricing = self.pricing.clone();
        for f in pricing
            .overrides
            .iter_mut()
            .chain(pricing.litellm.iter_mut())
            .chain(pricing.catalog.file.iter_mut())
            .chain(pricing.catalog.cache_dir.iter_mut())
            .chain(
                pricing
                    .catalog
                    .sources
                    .iter_mut()
                    .filter_map(|s| s.path.as_mut()),
            )
        {
            if f.is_relative() && !base.as_os_str().is_empty() {
                *f = base.join(&*f);
            }
        }
        super::catalog_refresh::check(&pricing.catalog, &mut problems);
        for (name, id) in &pricing.aliases {
            if name.trim().is_empty() || id.trim().is_empty() {
                problems.push(format!(
                    "pricing.aliases: '{name}' -> '{id}': name and id must be non-empty"
                ));
            }
        }

        // Exporter.
        let e = &self.exporter;
        let protocol = match e
            .protocol
            .clone()
            .map(|p| ("exporter.protocol", p))
            .or_else(|| env(ENV_TRACES_PROTOCOL).map(|p| (ENV_TRACES_PROTOCOL, p)))
            .or_else(|| env(ENV_PROTOCOL).map(|p| (ENV_PROTOCOL, p)))
        {
            Some((src, p)) => ExporterProtocol::parse(&p).unwrap_or_else(|m| {
                problems.push(format!("{src}: {m}"));
                ExporterProtocol::Grpc
            }),
            None => ExporterProtocol::Grpc,
        };
        let url = match (&e.traces_endpoint, &e.endpoint) {
            (Some(t), _) => Some(("exporter.traces_endpoint", t.clone(), false)),
            (None, Some(b)) => Some(("exporter.endpoint", b.clone(), true)),
            (None, None) => env(ENV_TRACES_ENDPOINT)
                .map(|t| (ENV_TRACES_ENDPOINT, t, false))
                .or_else(|| env(ENV_ENDPOINT).map(|b| (ENV_ENDPOINT, b, true))),
        };
        let url = match url {
            None => {
                problems.push(format!(
                    "exporter.endpoint: required (set it in the file, with --exporter-endpoint, or with {ENV_ENDPOINT})"
                ));
                String::new()
            }
            Some((src, u, is_base)) => match normalise_url(&u) {
                Ok(u) if protocol == ExporterProtocol::HttpProtobuf && is_base => {
                    format!("{}/v1/traces", u.trim_end_matches('/'))
                }
                Ok(u) => u,
                Err(m) => {
                    problems.push(format!("{src}: '{}': {m}", redact_url(&u)));
                    String::new()
                }
            },
        };
        if !url.is_empty() {
            for (name, addr) in [("grpc", grpc), ("http", http)] {
                if let Some(addr) = addr {
                    if addr.port() != 0 && url_points_at(&url, addr) {
                        problems.push(format!(
                            "exporter endpoint '{}' is this gateway's own {name} receiver ({addr}): spans would loop",
                            redact_url(&url)
                        ));
                    }
                }
            }
        }
        let headers = match &e.headers {
            Some(h) => h.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            None => match env(ENV_TRACES_HEADERS)
                .map(|h| (ENV_TRACES_HEADERS, h))
                .or_else(|| env(ENV_HEADERS).map(|h| (ENV_HEADERS, h)))
            {
                Some((src, h)) => parse_env_headers(&h).unwrap_or_else(|m| {
                    problems.push(format!("{src}: {m}"));
                    Vec::new()
                }),
                None => Vec::new(),
            },
        };
        for (k, v) in &headers {
            let name_ok = !k.is_empty()
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !name_ok {
                problems.push(format!(
                    "exporter.headers: '{k}' is not a valid header name"
                ));
            }
            if v.bytes().any(|b| b < 0x20 && b != b'\t' || b == 0x7f) {
                problems.push(format!(
                    "exporter.headers: the value of '{k}' has control characters"
                ));
            }
        }
        let timeout = match e.timeout {
            Some(t) => t,
            None => match env(ENV_TRACES_TIMEOUT)
                .map(|t| (ENV_TRACES_TIMEOUT, t))
                .or_else(|| env(ENV_TIMEOUT).map(|t| (ENV_TIMEOUT, t)))
            {
                Some((src, t)) => match t.trim().parse::<u64>() {
                    Ok(ms) => Duration::from_millis(ms),
                    Err(_) => {
                        problems.push(format!(
                            "{src}: '{t}' is not a whole number of milliseconds"
                        ));
                        DEFAULT_EXPORTER_TIMEOUT
                    }
                },
                None => DEFAULT_EXPORTER_TIMEOUT,
            },
        };
        if timeout.is_zero() {
            problems.push("exporter.timeout: must be greater than 0".into());
        }
        let compression = match e.compression {
            Some(c) => c,
            None => match env(ENV_COMPRESSION).as_deref().map(str::trim) {
                Some("gzip") | None => Compression::Gzip,
                Some("none") => Compression::None,
                Some(other) => {
                    problems.push(format!(
                        "{ENV_COMPRESSION}: '{other}': expected 'gzip' or 'none'"
                    ));
                    Compression::Gzip
                }
            },
        };
        let max_message_bytes = e.max_message_bytes.unwrap_or(DEFAULT_MAX_MESSAGE_BYTES);
        if max_message_bytes < 1024 {
            problems.push("exporter.max_message_bytes: must be at least 1024".into());
        }
        let max_batch_spans = e.max_batch_spans.unwrap_or(DEFAULT_MAX_BATCH_SPANS);
        if max_batch_spans == 0 {
            problems.push("exporter.max_batch_spans: must be at least 1".into());
        }
        let r = &e.retry;
        if r.initial_interval.is_zero() {
            problems.push("exporter.retry.initial_interval: must be greater than 0".into());
        }
        if r.max_interval < r.initial_interval {
            problems.push("exporter.retry.max_interval: must be at least initial_interval".into());
        }
        if !(r.multiplier.is_finite() && r.multiplier >= 1.0) {
            problems.push(format!(
                "exporter.retry.multiplier: {} must be at least 1",
                r.multiplier
            ));
        }
        if !(0.0..=1.0).contains(&r.randomization_factor) {
            problems.push(format!(
                "exporter.retry.randomization_factor: {} must be between 0 and 1",
                r.randomization_factor
            ));
        }
        if e.queue.size == 0 {
            problems.push("exporter.queue.size: must be at least 1".into());
        }
        if e.queue.max_memory_bytes < 1024 * 1024 {
            problems
                .push("exporter.queue.max_memory_bytes: must be at least 1048576 (1 MiB)".into());
        }
        if !(1..=256).contains(&e.queue.consumers) {
            problems.push("exporter.queue.consumers: must be between 1 and 256".into());
        }
        let mut queue = e.queue.clone();
        queue.directory = queue.directory.as_deref().map(resolve_path);
        if queue.directory.is_some() && queue.max_bytes < 1024 * 1024 {
            problems.push("exporter.queue.max_bytes: must be at least 1048576 (1 MiB)".into());
        }
        if queue.fsync == Fsync::Interval && queue.fsync_interval.is_zero() {
            problems.push("exporter.queue.fsync_interval: must be greater than 0".into());
        }
        let client_identity = match (&e.tls.cert_file, &e.tls.key_file) {
            (Some(c), Some(k)) => Some((resolve_path(c), resolve_path(k))),
            (None, None) => None,
            _ => {
                problems
                    .push("exporter.tls: cert_file and key_file go together (mutual TLS)".into());
                None
            }
        };
        if client_identity.is_some() && !url.starts_with("https://") {
            problems.push(
                "exporter.tls.cert_file/key_file: the endpoint is not https://, no TLS to present them on".into(),
            );
        }
        let tls = ExporterTlsSettings {
            enabled: url.starts_with("https://"),
            ca_file: e.tls.ca_file.as_deref().map(resolve_path),
            client_identity,
        };
        let mut files: Vec<(&str, &PathBuf)> = Vec::new();
        if let Some(ca) = &tls.ca_file {
            files.push(("ca_file", ca));
        }
        if let Some((c, k)) = &tls.client_identity {
            files.push(("cert_file", c));
            files.push(("key_file", k));
        }
        require_files("exporter.tls", &files, &mut problems);

        // Telemetry and shutdown.
        let metrics = if self.telemetry.metrics.endpoint.trim().is_empty() {
            None
        } else {
            parse_listen(
                "telemetry.metrics.endpoint",
                &self.telemetry.metrics.endpoint,
                &mut problems,
            )
        };
        let metrics_auth_token = self
            .telemetry
            .metrics
            .auth
            .as_ref()
            .and_then(|a| a.resolve("telemetry.metrics.auth", &resolve_path, &mut problems));
        let level = self.telemetry.logs.level.trim().to_ascii_lowercase();
        if !["error", "warn", "info", "debug", "trace"].contains(&level.as_str()) {
            problems.push(format!(
                "telemetry.logs.level: '{}': expected error, warn, info, debug or trace",
                self.telemetry.logs.level
            ));
        }
        if self.shutdown.timeout.is_zero() {
            problems.push("shutdown.timeout: must be greater than 0".into());
        }
        let analytics = self
            .analytics
            .resolve(self.base_dir.as_deref(), &mut problems);
        let ml = &self.memory_limiter;
        let mut assembly = self.assembly.clone();
        let memory_limit = if ml.limit_mib == 0 {
            None
        } else {
            if ml.limit_mib < 64 {
                problems.push("memory_limiter.limit_mib: must be at least 64 (or 0: off)".into());
            }
            if ml.check_interval.is_zero() {
                problems.push("memory_limiter.check_interval: must be greater than 0".into());
            }
            let limit = ml.limit_mib.saturating_mul(1024 * 1024);
            assembly.max_bytes = assembly.max_bytes.min(limit / 100 * 30);
            queue.max_memory_bytes = queue.max_memory_bytes.min(limit / 100 * 10);
            receiver_memory_bytes =
                receiver_memory_bytes.min(limit / 100 * MEMORY_LIMITER_RECEIVER_PERCENT);
            // Everything a persistent queue holds is read into memory at start.
            queue.max_bytes = queue.max_bytes.min(queue.max_memory_bytes);
            // A request is decoded whole (several times its size) before any check can refuse.
            grpc_max = grpc_max.min(limit / 32);
            http_max = http_max.min(limit / 32);
            Some(MemoryLimit {
                refuse_above_bytes: limit / 100 * 85,
                resume_below_bytes: limit / 100 * 75,
                own_floor_bytes: limit / 20,
                check_interval: ml.check_interval,
            })
        };

        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        Ok(GatewaySettings {
            grpc,
            http,
            grpc_max_request_bytes: grpc_max,
            http_max_request_bytes: http_max,
            grpc_tls,
            http_tls,
            auth_token,
            max_decompression_ratio,
            receiver_memory_bytes,
            receiver_connections,
            metrics_connections,
            assembly,
            pricing,
            exporter: ExporterSettings {
                url,
                protocol,
                headers,
                timeout,
                compression,
                max_message_bytes,
                max_batch_spans,
                retry: e.retry.clone(),
                queue,
                tls,
            },
            metrics,
            metrics_auth_token,
            log_level: level,
            shutdown_timeout: self.shutdown.timeout,
            analytics,
            memory_limit,
        })
    }
}

impl PricingConfig {
    /// The engine's extraction switches.
    pub(crate) fn extract_options(&self) -> ExtractOptions {
        let mut o = ExtractOptions::default();
        for (k, v) in &self.input_counting.by_scope {
            o.by_scope.insert(k.clone(), (*v).into());
        }
        for (k, v) in &self.input_counting.by_provider {
            o.by_provider
                .insert(crate::provider::canonical(k).to_string(), (*v).into());
        }
        o
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// `grpc:` present (even empty / null) enables the protocol with defaults for missing fields.
fn present_means_enabled<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(Option::<T>::deserialize(d)?.unwrap_or_default()))
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => parse_duration(&s)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// Parses a Go-style duration as the Collector writes them: `150ms`, `2s`, `1m30s`, `1h`, `0`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if t.is_empty() {
        return Err("empty duration; write e.g. '2s' or '150ms'".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_end);
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let value: f64 = num
            .parse()
            .map_err(|_| format!("'{s}': not a duration; write e.g. '2s', '150ms', '1m30s'"))?;
        let nanos_per = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("'{s}': missing unit (ns, us, ms, s, m, h)")),
            u => return Err(format!("'{s}': unknown unit '{u}' (ns, us, ms, s, m, h)")),
        };
        let nanos = value * nanos_per;
        if !nanos.is_finite() || nanos > 1e18 {
            return Err(format!("'{s}': too long"));
        }
        total += Duration::from_nanos(nanos.round() as u64);
        rest = tail;
    }
    Ok(total)
}

fn parse_listen(field: &str, s: &str, problems: &mut Vec<String>) -> Option<SocketAddr> {
    let t = s.trim();
    if let Ok(a) = t.parse::<SocketAddr>() {
        return Some(a);
    }
    if let Some(port) = t.strip_prefix("localhost:") {
        if let Ok(p) = port.parse::<u16>() {
            return Some(SocketAddr::from(([127, 0, 0, 1], p)));
        }
    }
    if let Some(port) = t.strip_prefix(':') {
        if let Ok(p) = port.parse::<u16>() {
            return Some(SocketAddr::from(([0, 0, 0, 0], p)));
        }
    }
    match t.to_socket_addrs().map(|mut i| i.next()) {
        Ok(Some(a)) => Some(a),
        _ => {
            problems.push(format!("{field}: '{s}' is not a host:port to listen on"));
            None
        }
    }
}

/// A URL without its userinfo (`https://user:pass@host` -> `https://***@host`), as the logs
/// and `serve --check` print it.
///
/// ```
/// use otel_llm_cost::gateway::redact_url;
/// assert_eq!(redact_url("https://u:p@tempo:4318/v1/traces"), "https://***@tempo:4318/v1/traces");
/// ```
pub fn redact_url(u: &str) -> String {
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

/// Adds `http://` when no scheme is given; refuses schemes we cannot serve.
fn normalise_url(u: &str) -> Result<String, String> {
    let t = u.trim();
    if t.is_empty() {
        return Err("empty URL".into());
    }
    let with_scheme = if t.contains("://") {
        t.to_owned()
    } else {
        format!("http://{t}")
    };
    let (scheme, rest) = with_scheme.split_once("://").unwrap_or(("", ""));
    match scheme {
        "http" | "https" => {}
        other => return Err(format!("unsupported scheme '{other}' (use http or https)")),
    }
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Err("missing host".into());
    }
    Ok(with_scheme)
}

fn url_points_at(url: &str, addr: SocketAddr) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let Some((host, port)) = authority.rsplit_once(':') else {
        return false;
    };
    if port.parse::<u16>().ok() != Some(addr.port()) {
        return false;
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = matches!(host, "localhost" | "127.0.0.1" | "::1");
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip == addr.ip() || (addr.ip().is_unspecified() && (ip.is_loopback())),
        Err(_) => loopback && (addr.ip().is_loopback() || addr.ip().is_unspecified()),
    }
}

/// `key=value,key2=value2`, values percent-decoded (the OTel spec's format).
fn parse_env_headers(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("'{part}': expected key=value"))?;
        out.push((
            percent_decode(k.trim())?.to_ascii_lowercase(),
            percent_decode(v.trim())?,
        ));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .ok_or_else(|| format!("'{s}': bad percent-encoding"))?;
            let v =
                u8::from_str_radix(hex, 16).map_err(|_| format!("'{s}': bad percent-encoding"))?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("'{s}': not UTF-8 after percent-decoding"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse(yaml: &str) -> GatewayConfig {
        GatewayConfig::from_yaml("test.yaml", yaml, None).unwrap()
    }

    #[test]
    fn queue_fsync_takes_a_policy_or_the_old_booleans() {
        let fsync = |v: &str| {
            let yaml = format!("exporter: {{endpoint: 'c:4317', queue: {{fsync: {v}}}}}");
            GatewayConfig::from_yaml("test.yaml", &yaml, None)
                .map(|c| c.exporter.queue.fsync)
                .map_err(|e| e.to_string())
        };
        assert_eq!(fsync("never"), Ok(Fsync::Never));
        assert_eq!(fsync("interval"), Ok(Fsync::Interval));
        assert_eq!(fsync("group"), Ok(Fsync::Group));
        assert_eq!(fsync("true"), Ok(Fsync::Group));
        assert_eq!(fsync("false"), Ok(Fsync::Never));
        let err = fsync("sometimes").unwrap_err();
        assert!(err.contains("expected never, interval or group"), "{err}");
        let d = parse("exporter: {endpoint: 'c:4317'}");
        assert_eq!(d.exporter.queue.fsync, Fsync::Never);
        assert_eq!(
            d.exporter.queue.fsync_interval,
            DEFAULT_QUEUE_FSYNC_INTERVAL
        );
        let err = parse(
            "exporter: {endpoint: 'c:4317', queue: {fsync: interval, fsync_interval: 0s, size: 0}}",
        )
        .resolve(&no_env)
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("exporter.queue.fsync_interval: must be greater than 0")
                && err.contains("exporter.queue.size"),
            "every problem at once: {err}"
        );
    }

    #[test]
    fn empty_file_takes_every_default_but_needs_an_endpoint() {
        let err = parse("").resolve(&no_env).unwrap_err().to_string();
        assert!(err.contains("exporter.endpoint: required"), "{err}");
        let s = parse("exporter: {endpoint: 'collector:4317'}")
            .resolve(&no_env)
            .unwrap();
        assert_eq!(s.grpc, Some("127.0.0.1:4317".parse().unwrap()));
        assert_eq!(s.http, Some("127.0.0.1:4318".parse().unwrap()));
        assert_eq!(s.grpc_max_request_bytes, DEFAULT_MAX_REQUEST_BYTES);
        assert_eq!(s.assembly.root_grace, DEFAULT_ROOT_GRACE);
        assert_eq!(s.assembly.trace_timeout, DEFAULT_TRACE_TIMEOUT);
        assert_eq!(s.assembly.max_traces, DEFAULT_MAX_TRACES);
        assert_eq!(s.exporter.url, "http://collector:4317");
        assert_eq!(s.exporter.protocol, ExporterProtocol::Grpc);
        assert_eq!(s.exporter.timeout, DEFAULT_EXPORTER_TIMEOUT);
        assert_eq!(s.exporter.compression, Compression::Gzip);
        assert_eq!(s.exporter.max_message_bytes, DEFAULT_MAX_MESSAGE_BYTES);
        assert_eq!(s.exporter.queue.size, DEFAULT_QUEUE_SIZE);
        assert_eq!(s.metrics, Some("127.0.0.1:8888".parse().unwrap()));
        assert_eq!(s.shutdown_timeout, DEFAULT_SHUTDOWN_TIMEOUT);
        assert_eq!(s.pricing.prefix, "cost.");
    }

    #[test]
    fn memory_limiter_divides_its_limit_and_is_off_by_default() {
        let off = parse("exporter: {endpoint: 'c:4317'}")
            .resolve(&no_env)
            .unwrap();
        assert!(off.memory_limit.is_none());
        assert_eq!(off.assembly.max_bytes, DEFAULT_MAX_BUFFERED_BYTES);
        assert_eq!(
            off.exporter.queue.max_memory_bytes,
            DEFAULT_QUEUE_MEMORY_BYTES
        );

        let mib = 1024 * 1024;
        let on = parse("exporter: {endpoint: 'c:4317'}\nmemory_limiter: {limit_mib: 500}")
            .resolve(&no_env)
            .unwrap();
        let m = on.memory_limit.expect("on");
        assert_eq!(m.refuse_above_bytes, 500 * mib / 100 * 85);
        assert_eq!(m.resume_below_bytes, 500 * mib / 100 * 75);
        assert_eq!(on.assembly.max_bytes, 500 * mib / 100 * 30);
        assert_eq!(on.exporter.queue.max_memory_bytes, 500 * mib / 100 * 10);
        assert_eq!(
            on.exporter.queue.max_bytes,
            500 * mib / 100 * 10,
            "disk queue fits memory"
        );
        assert_eq!(on.receiver_memory_bytes, 500 * mib / 100 * 20);
        assert_eq!(off.receiver_memory_bytes, DEFAULT_RECEIVER_MEMORY_BYTES);
        assert_eq!(on.grpc_max_request_bytes, 500 * mib / 32);
        assert_eq!(on.http_max_request_bytes, 500 * mib / 32);
        assert_eq!(off.grpc_max_request_bytes, DEFAULT_MAX_REQUEST_BYTES);
        // A smaller explicit budget is kept.
        let small = parse(
            "exporter: {endpoint: 'c:4317'}\nassembly: {max_bytes: 1048576}\nmemory_limiter: {limit_mib: 1000}",
        )
        .resolve(&no_env)
        .unwrap();
        assert_eq!(small.assembly.max_bytes, 1_048_576);

        let err = parse(
            "exporter: {endpoint: 'c:4317', queue: {max_memory_bytes: 5}}\nmemory_limiter: {limit_mib: 10, check_interval: 0s}",
        )
        .resolve(&no_env)
        .unwrap_err()
        .to_string();
        let plain = parse(
            "exporter: {endpoint: 'http://c:4317', tls: {cert_file: c.pem, key_file: c.key}}",
        )
        .resolve(&no_env)
        .unwrap_err()
        .to_string();
        assert!(plain.contains("not https://"), "{plain}");
        for p in [
            "memory_limiter.limit_mib: must be at least 64",
            "memory_limiter.check_interval",
            "exporter.queue.max_memory_bytes",
        ] {
            assert!(err.contains(p), "{p} not in {err}");
        }
    }

    #[test]
    fn connection_limits_have_defaults_and_are_validated() {
        let s = parse("exporter: {endpoint: 'c:4317'}")
            .resolve(&no_env)
            .unwrap();
        assert_eq!(
            s.receiver_connections,
            ConnectionLimits {
                header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
                body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
                idle_timeout: DEFAULT_IDLE_TIMEOUT,
                max_connections: DEFAULT_MAX_CONNECTIONS,
            }
        );
        assert_eq!(
            s.metrics_connections.max_connections,
            DEFAULT_METRICS_MAX_CONNECTIONS
        );
        let s = parse(
            "exporter: {endpoint: 'c:4317'}\nreceivers: {otlp: {header_read_timeout: 2s, max_connections: 7, max_memory_bytes: 2097152, protocols: {grpc: {max_recv_msg_size_mib: 1}}}}",
        )
        .resolve(&no_env)
        .unwrap();
        assert_eq!(
            s.receiver_connections.header_read_timeout,
            Duration::from_secs(2)
        );
        assert_eq!(s.receiver_connections.max_connections, 7);
        assert_eq!(s.receiver_memory_bytes, 2 << 20);
        let err = parse(
            "exporter: {endpoint: 'c:4317'}\nreceivers: {otlp: {body_read_timeout: 0s, max_connections: 0, max_memory_bytes: 5}}\ntelemetry: {metrics: {idle_timeout: 0s}}",
        )
        .resolve(&no_env)
        .unwrap_err()
        .to_string();
        for p in [
            "receivers.otlp.body_read_timeout",
            "receivers.otlp.max_connections",
            "receivers.otlp.max_memory_bytes",
            "telemetry.metrics.idle_timeout",
        ] {
            assert!(err.contains(p), "{p} not in {err}");
        }
    }

    #[test]
    fn unknown_fields_are_refused_with_their_name() {
        let err =
            GatewayConfig::from_yaml("g.yaml", "assembly: {root_grase: 2s}", None).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("root_grase") && msg.starts_with("g.yaml"),
            "{msg}"
        );
    }

    #[test]
    fn validation_reports_every_problem_at_once() {
        let yaml = r#"
receivers: {otlp: {protocols: {grpc: {endpoint: "nowhere"}}}}
assembly: {max_traces: 0, trace_timeout: 1s, root_grace: 5s}
exporter:
  endpoint: "ftp://x"
  protocol: "http/json"
  retry: {multiplier: 0.5, randomization_factor: 2}
  queue: {size: 0}
telemetry: {logs: {level: loud}}
"#;
        let err = parse(yaml).resolve(&no_env).unwrap_err();
        let ConfigError::Invalid(problems) = err else {
            panic!("{err}")
        };
        let all = problems.join("\n");
        for needle in [
            "grpc.endpoint: 'nowhere'",
            "assembly.max_traces",
            "root_grace",
            "unsupported scheme 'ftp'",
            "http/json",
            "multiplier",
            "randomization_factor",
            "queue.size",
            "telemetry.logs.level",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
        assert!(problems.len() >= 9);
    }

    #[test]
    fn empty_protocol_key_enables_it_with_defaults_and_absent_disables_it() {
        let s = parse("receivers: {otlp: {protocols: {grpc: }}}\nexporter: {endpoint: 'x:1'}")
            .resolve(&no_env)
            .unwrap();
        assert_eq!(s.grpc, Some("127.0.0.1:4317".parse().unwrap()));
        assert_eq!(s.http, None);
    }

    #[test]
    fn durations_parse_like_the_collectors() {
        assert_eq!(parse_duration("150ms").unwrap(), Duration::from_millis(150));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("10").unwrap_err().contains("missing unit"));
        assert!(parse_duration("3 days").is_err());
    }

    #[test]
    fn env_fills_only_what_the_file_left_unset() {
        let env = |k: &str| match k {
            ENV_ENDPOINT => Some("http://env-host:4318".to_owned()),
            ENV_PROTOCOL => Some("http/protobuf".to_owned()),
            ENV_HEADERS => Some("Authorization=Bearer%20abc, x-team = llm".to_owned()),
            ENV_TIMEOUT => Some("2500".to_owned()),
            _ => None,
        };
        let s = parse("").resolve(&env).unwrap();
        assert_eq!(s.exporter.url, "http://env-host:4318/v1/traces");
        assert_eq!(s.exporter.protocol, ExporterProtocol::HttpProtobuf);
        assert_eq!(
            s.exporter.headers,
            vec![
                ("authorization".into(), "Bearer abc".into()),
                ("x-team".into(), "llm".into())
            ]
        );
        assert_eq!(s.exporter.timeout, Duration::from_millis(2500));
        // The file wins over the environment.
        let s = parse(
            "exporter: {endpoint: 'http://file:4317', protocol: grpc, timeout: 1s, headers: {}}",
        )
        .resolve(&env)
        .unwrap();
        assert_eq!(s.exporter.url, "http://file:4317");
        assert_eq!(s.exporter.protocol, ExporterProtocol::Grpc);
        assert_eq!(s.exporter.timeout, Duration::from_secs(1));
        assert!(s.exporter.headers.is_empty());
    }

    #[test]
    fn traces_endpoint_is_used_as_is_and_wins() {
        let env = |k: &str| match k {
            ENV_TRACES_ENDPOINT => Some("http://h:4318/custom/path".to_owned()),
            ENV_ENDPOINT => Some("http://ignored:4318".to_owned()),
            ENV_PROTOCOL => Some("http/protobuf".to_owned()),
            _ => None,
        };
        assert_eq!(
            parse("").resolve(&env).unwrap().exporter.url,
            "http://h:4318/custom/path"
        );
    }

    #[test]
    fn exporting_to_itself_is_refused() {
        let err = parse("exporter: {endpoint: 'http://127.0.0.1:4317'}")
            .resolve(&no_env)
            .unwrap_err();
        assert!(err.to_string().contains("spans would loop"), "{err}");
    }

    #[test]
    fn relative_pricing_files_resolve_against_the_config_directory() {
        let cfg = GatewayConfig::from_yaml(
            "g.yaml",
            "pricing: {overrides: [prices.toml, /abs/p.toml]}\nexporter: {endpoint: 'x:1'}",
            Some(Path::new("/etc/gw")),
        )
        .unwrap();
        let s = cfg.resolve(&no_env).unwrap();
        assert_eq!(
            s.pricing.overrides,
            vec![
                PathBuf::from("/etc/gw/prices.toml"),
                PathBuf::from("/abs/p.toml")
            ]
        );
    }

    #[test]
    fn bad_env_values_are_reported_with_the_variable_name() {
        let env = |k: &str| match k {
            ENV_ENDPOINT => Some("http://h:4317".to_owned()),
            ENV_TIMEOUT => Some("10s".to_owned()),
            ENV_HEADERS => Some("novalue".to_owned()),
            _ => None,
        };
        let err = parse("").resolve(&env).unwrap_err().to_string();
        assert!(
            err.contains(ENV_TIMEOUT) && err.contains(ENV_HEADERS),
            "{err}"
        );
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
