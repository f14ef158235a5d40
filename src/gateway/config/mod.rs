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
//!
//! One file per section, each with its struct, its `DEFAULT_*` constants, its docs and its own
//! `resolve` (validation, defaults, environment); [`GatewayConfig::resolve`] only calls them and
//! collects their problems:
//!
//! | file | section |
//! |---|---|
//! | `receivers.rs` | `receivers:` (addresses, request and memory limits, auth, TLS, connections) |
//! | `assembly.rs` | `assembly:` |
//! | `pricing.rs` | `pricing:` |
//! | `exporter.rs`, `queue.rs` | `exporter:`, `exporter.queue:` (and `OTEL_EXPORTER_OTLP_*`) |
//! | `telemetry.rs` | `telemetry:` (`/metrics`, logs) |
//! | `analytics.rs` | `analytics:` |
//! | `memory_limiter.rs` | `memory_limiter:` (lowers the other sections' bounds) |
//! | `shutdown.rs` | `shutdown:` |
//! | `listen.rs`, `values.rs` | what several sections share: listeners' auth, TLS and connection limits; durations, paths |

mod analytics;
mod assembly;
mod exporter;
mod listen;
mod memory_limiter;
mod pricing;
mod queue;
mod receivers;
mod shutdown;
mod telemetry;
mod values;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use analytics::{
    AnalyticsConfig, AnalyticsSettings, AnomalyConfig, BudgetAttribute, BudgetConfig,
    CostMetricsConfig, RecordsConfig,
};
pub use assembly::{
    AssemblyConfig, DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_MAX_SPANS_PER_TRACE, DEFAULT_MAX_TRACES,
    DEFAULT_ROOT_GRACE, DEFAULT_TRACE_TIMEOUT,
};
pub use exporter::{
    redact_url, Compression, ExporterConfig, ExporterProtocol, ExporterSettings, ExporterTlsConfig,
    ExporterTlsSettings, RetryConfig, DEFAULT_EXPORTER_TIMEOUT, DEFAULT_MAX_BATCH_SPANS,
    DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_RETRY_INITIAL_INTERVAL, DEFAULT_RETRY_MAX_ELAPSED_TIME,
    DEFAULT_RETRY_MAX_INTERVAL, DEFAULT_RETRY_MULTIPLIER, DEFAULT_RETRY_RANDOMIZATION_FACTOR,
    ENV_COMPRESSION, ENV_ENDPOINT, ENV_HEADERS, ENV_PROTOCOL, ENV_TIMEOUT, ENV_TRACES_ENDPOINT,
    ENV_TRACES_HEADERS, ENV_TRACES_PROTOCOL, ENV_TRACES_TIMEOUT,
};
pub use listen::{
    AuthConfig, ConnectionLimits, Secret, TlsFiles, DEFAULT_BODY_READ_TIMEOUT,
    DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
};
use memory_limiter::Bounds;
pub use memory_limiter::{MemoryLimit, MemoryLimiterConfig, MEMORY_LIMITER_RECEIVER_PERCENT};
pub use pricing::{CatalogConfig, Counting, InputCountingConfig, PricingConfig};
pub use queue::{
    Fsync, QueueConfig, DEFAULT_QUEUE_CONSUMERS, DEFAULT_QUEUE_FSYNC_INTERVAL,
    DEFAULT_QUEUE_MAX_BYTES, DEFAULT_QUEUE_MEMORY_BYTES, DEFAULT_QUEUE_SIZE,
};
pub use receivers::{
    GrpcReceiverConfig, HttpReceiverConfig, OtlpReceiverConfig, Protocols, ReceiversConfig,
    DECOMPRESSION_RATIO_FLOOR, DEFAULT_GRPC_ENDPOINT, DEFAULT_HTTP_ENDPOINT,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_DECOMPRESSION_RATIO, DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_RECEIVER_MEMORY_BYTES,
};
pub use shutdown::{ShutdownConfig, DEFAULT_SHUTDOWN_TIMEOUT};
pub use telemetry::{
    LogsConfig, MetricsConfig, TelemetryConfig, DEFAULT_LOG_LEVEL, DEFAULT_METRICS_ENDPOINT,
    DEFAULT_METRICS_MAX_CONNECTIONS,
};
pub use values::parse_duration;
use values::BaseDir;

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
        let base = BaseDir(self.base_dir.as_deref());

        let mut receivers = self.receivers.resolve(base, &mut problems);
        let telemetry = self.telemetry.resolve(base, &mut problems);
        let mut assembly = self.assembly.resolve(&mut problems);
        let pricing = self.pricing.resolve(base, &mut problems);
        let listeners = [("grpc", receivers.grpc), ("http", receivers.http)];
        let mut exporter = self.exporter.resolve(&env, base, &listeners, &mut problems);
        let shutdown_timeout = self.shutdown.resolve(&mut problems);
        let analytics = self.analytics.resolve(base, &mut problems);
        let memory_limit = self.memory_limiter.resolve(&mut problems);
        self.memory_limiter.lower(Bounds {
            assembly_bytes: &mut assembly.max_bytes,
            queue_memory_bytes: &mut exporter.queue.max_memory_bytes,
            queue_disk_bytes: &mut exporter.queue.max_bytes,
            receiver_memory_bytes: &mut receivers.memory_bytes,
            grpc_max_request_bytes: &mut receivers.grpc_max_request_bytes,
            http_max_request_bytes: &mut receivers.http_max_request_bytes,
        });

        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        Ok(GatewaySettings {
            grpc: receivers.grpc,
            http: receivers.http,
            grpc_max_request_bytes: receivers.grpc_max_request_bytes,
            http_max_request_bytes: receivers.http_max_request_bytes,
            grpc_tls: receivers.grpc_tls,
            http_tls: receivers.http_tls,
            auth_token: receivers.auth_token,
            max_decompression_ratio: receivers.max_decompression_ratio,
            receiver_memory_bytes: receivers.memory_bytes,
            receiver_connections: receivers.connections,
            metrics_connections: telemetry.metrics_connections,
            assembly,
            pricing,
            exporter,
            metrics: telemetry.metrics,
            metrics_auth_token: telemetry.metrics_auth_token,
            log_level: telemetry.log_level,
            shutdown_timeout,
            analytics,
            memory_limit,
        })
    }
}

#[cfg(test)]
mod tests;
