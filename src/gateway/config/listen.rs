//! What every listener's section has (the receivers, `telemetry.metrics`): its address, bearer
//! token authentication, TLS files and connection limits.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::values::{require_files, BaseDir};

/// Default time a new connection has to complete its first request's headers (TLS handshake
/// included).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a request's body has to arrive, from its headers.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time a connection may stay open with no request under way, after its last one.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

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
    pub(super) fn resolve(
        &self,
        section: &str,
        base: BaseDir<'_>,
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
                let f = base.resolve(f);
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

impl TlsFiles {
    /// The files resolved against `base`, each required to be a file; problems are named after
    /// `section` (`receivers.otlp.protocols.grpc.tls`).
    pub(super) fn resolve(
        &self,
        section: &str,
        base: BaseDir<'_>,
        problems: &mut Vec<String>,
    ) -> TlsFiles {
        let t = TlsFiles {
            cert_file: base.resolve(&self.cert_file),
            key_file: base.resolve(&self.key_file),
            client_ca_file: self.client_ca_file.as_deref().map(|p| base.resolve(p)),
        };
        let mut files = vec![("cert_file", &t.cert_file), ("key_file", &t.key_file)];
        if let Some(ca) = &t.client_ca_file {
            files.push(("client_ca_file", ca));
        }
        require_files(section, &files, problems);
        t
    }
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
    pub(super) fn check(&self, section: &str, problems: &mut Vec<String>) {
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

/// The address `s` names to listen on (`host:port`, `localhost:port`, `:port`), or a problem
/// naming `field`.
pub(super) fn parse_listen(field: &str, s: &str, problems: &mut Vec<String>) -> Option<SocketAddr> {
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
