//! `shutdown:` — how long a shutdown may take.

use std::time::Duration;

use serde::Deserialize;

use super::values::duration;

/// Default time allowed at shutdown to release buffered traces and drain the export queue.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

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

impl ShutdownConfig {
    /// Validates `shutdown:`; the shutdown deadline.
    pub(super) fn resolve(&self, problems: &mut Vec<String>) -> Duration {
        if self.timeout.is_zero() {
            problems.push("shutdown.timeout: must be greater than 0".into());
        }
        self.timeout
    }
}
