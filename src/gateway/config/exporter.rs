//! `exporter:` — the downstream OTLP endpoint: URL, protocol, headers, timeout, compression,
//! batch limits, retries, TLS; the `OTEL_EXPORTER_OTLP_*` environment fills what the file left
//! unset.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::queue::QueueConfig;
use super::values::{duration, opt_duration, require_files, BaseDir};
use crate::gateway::otlp::TRACES_PATH;

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

/// Looks an environment variable up (blank values are unset).
pub(super) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

impl ExporterConfig {
    /// Validates `exporter:`, the environment filling what it left unset, its files resolved
    /// against `base`. `listeners` are this gateway's receivers (name, address), which the
    /// endpoint must not point at.
    pub(super) fn resolve(
        &self,
        env: Env<'_>,
        base: BaseDir<'_>,
        listeners: &[(&str, Option<SocketAddr>)],
        problems: &mut Vec<String>,
    ) -> ExporterSettings {
        let protocol = self.protocol(env, problems);
        let url = self.url(env, protocol, problems);
        if !url.is_empty() {
            for (name, addr) in listeners {
                if let Some(addr) = addr {
                    if addr.port() != 0 && url_points_at(&url, *addr) {
                        problems.push(format!(
                            "exporter endpoint '{}' is this gateway's own {name} receiver ({addr}): spans would loop",
                            redact_url(&url)
                        ));
                    }
                }
            }
        }
        let headers = self.headers(env, problems);
        let timeout = self.timeout(env, problems);
        let compression = self.compression(env, problems);
        let max_message_bytes = self.max_message_bytes.unwrap_or(DEFAULT_MAX_MESSAGE_BYTES);
        if max_message_bytes < 1024 {
            problems.push("exporter.max_message_bytes: must be at least 1024".into());
        }
        let max_batch_spans = self.max_batch_spans.unwrap_or(DEFAULT_MAX_BATCH_SPANS);
        if max_batch_spans == 0 {
            problems.push("exporter.max_batch_spans: must be at least 1".into());
        }
        self.retry.check(problems);
        let queue = self.queue.resolve(base, problems);
        let tls = self.tls.resolve(&url, base, problems);
        ExporterSettings {
            url,
            protocol,
            headers,
            timeout,
            compression,
            max_message_bytes,
            max_batch_spans,
            retry: self.retry.clone(),
            queue,
            tls,
        }
    }

    /// `protocol`, else `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`,
    /// else gRPC.
    fn protocol(&self, env: Env<'_>, problems: &mut Vec<String>) -> ExporterProtocol {
        match self
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
        }
    }

    /// The full URL requests go to (empty when there is none, with a problem).
    fn url(&self, env: Env<'_>, protocol: ExporterProtocol, problems: &mut Vec<String>) -> String {
        let url = match (&self.traces_endpoint, &self.endpoint) {
            (Some(t), _) => Some(("exporter.traces_endpoint", t.clone(), false)),
            (None, Some(b)) => Some(("exporter.endpoint", b.clone(), true)),
            (None, None) => env(ENV_TRACES_ENDPOINT)
                .map(|t| (ENV_TRACES_ENDPOINT, t, false))
                .or_else(|| env(ENV_ENDPOINT).map(|b| (ENV_ENDPOINT, b, true))),
        };
        match url {
            None => {
                problems.push(format!(
                    "exporter.endpoint: required (set it in the file, with --exporter-endpoint, or with {ENV_ENDPOINT})"
                ));
                String::new()
            }
            Some((src, u, is_base)) => match normalise_url(&u) {
                Ok(u) if protocol == ExporterProtocol::HttpProtobuf && is_base => {
                    format!("{}{TRACES_PATH}", u.trim_end_matches('/'))
                }
                Ok(u) => u,
                Err(m) => {
                    problems.push(format!("{src}: '{}': {m}", redact_url(&u)));
                    String::new()
                }
            },
        }
    }

    /// `headers`, else `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, else `OTEL_EXPORTER_OTLP_HEADERS`;
    /// each a valid HTTP header.
    fn headers(&self, env: Env<'_>, problems: &mut Vec<String>) -> Vec<(String, String)> {
        let headers = match &self.headers {
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
        headers
    }

    /// `timeout`, else `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, else `OTEL_EXPORTER_OTLP_TIMEOUT`
    /// (milliseconds), else the default.
    fn timeout(&self, env: Env<'_>, problems: &mut Vec<String>) -> Duration {
        let timeout = match self.timeout {
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
        timeout
    }

    /// `compression`, else `OTEL_EXPORTER_OTLP_COMPRESSION`, else gzip.
    fn compression(&self, env: Env<'_>, problems: &mut Vec<String>) -> Compression {
        match self.compression {
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
        }
    }
}

impl RetryConfig {
    /// Validates `exporter.retry:`.
    fn check(&self, problems: &mut Vec<String>) {
        if self.initial_interval.is_zero() {
            problems.push("exporter.retry.initial_interval: must be greater than 0".into());
        }
        if self.max_interval < self.initial_interval {
            problems.push("exporter.retry.max_interval: must be at least initial_interval".into());
        }
        if !(self.multiplier.is_finite() && self.multiplier >= 1.0) {
            problems.push(format!(
                "exporter.retry.multiplier: {} must be at least 1",
                self.multiplier
            ));
        }
        if !(0.0..=1.0).contains(&self.randomization_factor) {
            problems.push(format!(
                "exporter.retry.randomization_factor: {} must be between 0 and 1",
                self.randomization_factor
            ));
        }
    }
}

impl ExporterTlsConfig {
    /// Validates `exporter.tls:` for the endpoint `url`, its files resolved against `base`.
    fn resolve(
        &self,
        url: &str,
        base: BaseDir<'_>,
        problems: &mut Vec<String>,
    ) -> ExporterTlsSettings {
        let client_identity = match (&self.cert_file, &self.key_file) {
            (Some(c), Some(k)) => Some((base.resolve(c), base.resolve(k))),
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
            ca_file: self.ca_file.as_deref().map(|p| base.resolve(p)),
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
        require_files("exporter.tls", &files, problems);
        tls
    }
}

/// A URL without its userinfo (`https://user:pass@host` -> `https://***@host`), as the logs
/// and `serve --check` print it.
///
/// ```
/// use otel_llm_cost::gateway::config::redact_url;
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
