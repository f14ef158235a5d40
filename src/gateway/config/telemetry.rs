//! `telemetry:` — the gateway's own `/metrics` and `/healthz` endpoint, and its logs.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::listen::{
    parse_listen, AuthConfig, ConnectionLimits, Secret, DEFAULT_HEADER_READ_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT,
};
use super::values::{duration, BaseDir};

/// Default Prometheus `/metrics` and `/healthz` address.
pub const DEFAULT_METRICS_ENDPOINT: &str = "127.0.0.1:8888";
/// Default log level.
pub const DEFAULT_LOG_LEVEL: &str = "info";
/// Default most connections open at once to `/metrics` and `/healthz`.
pub const DEFAULT_METRICS_MAX_CONNECTIONS: usize = 64;

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

/// `telemetry:`, resolved (fields of [`super::GatewaySettings`]).
pub(super) struct TelemetrySettings {
    pub(super) metrics: Option<SocketAddr>,
    pub(super) metrics_auth_token: Option<Secret>,
    pub(super) metrics_connections: ConnectionLimits,
    pub(super) log_level: String,
}

impl TelemetryConfig {
    /// Validates `telemetry:`, resolving the token file against `base`.
    pub(super) fn resolve(
        &self,
        base: BaseDir<'_>,
        problems: &mut Vec<String>,
    ) -> TelemetrySettings {
        let m = &self.metrics;
        let metrics_connections = ConnectionLimits {
            header_read_timeout: m.header_read_timeout,
            body_read_timeout: m.body_read_timeout,
            idle_timeout: m.idle_timeout,
            max_connections: m.max_connections,
        };
        metrics_connections.check("telemetry.metrics", problems);
        let metrics = if m.endpoint.trim().is_empty() {
            None
        } else {
            parse_listen("telemetry.metrics.endpoint", &m.endpoint, problems)
        };
        let metrics_auth_token = m
            .auth
            .as_ref()
            .and_then(|a| a.resolve("telemetry.metrics.auth", base, problems));
        let log_level = self.logs.level.trim().to_ascii_lowercase();
        if !["error", "warn", "info", "debug", "trace"].contains(&log_level.as_str()) {
            problems.push(format!(
                "telemetry.logs.level: '{}': expected error, warn, info, debug or trace",
                self.logs.level
            ));
        }
        TelemetrySettings {
            metrics,
            metrics_auth_token,
            metrics_connections,
            log_level,
        }
    }
}
