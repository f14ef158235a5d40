//! `exporter.queue:` — the bounded export queue, in memory or persistent.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::values::{duration, BaseDir};

/// Default export queue capacity, in spans.
pub const DEFAULT_QUEUE_SIZE: usize = 100_000;
/// Default number of concurrent export requests.
pub const DEFAULT_QUEUE_CONSUMERS: usize = 4;
/// Default memory budget of the export queue (encoded bytes): 256 MiB.
pub const DEFAULT_QUEUE_MEMORY_BYTES: usize = 256 * 1024 * 1024;
/// Default disk budget of the persistent export queue: 1 GiB.
pub const DEFAULT_QUEUE_MAX_BYTES: usize = 1024 * 1024 * 1024;
/// Default longest time written data stays unsynced under `exporter.queue.fsync: interval`.
pub const DEFAULT_QUEUE_FSYNC_INTERVAL: Duration = Duration::from_secs(1);

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

impl QueueConfig {
    /// Validates `exporter.queue:`, resolving `directory` against `base`.
    pub(super) fn resolve(&self, base: BaseDir<'_>, problems: &mut Vec<String>) -> QueueConfig {
        if self.size == 0 {
            problems.push("exporter.queue.size: must be at least 1".into());
        }
        if self.max_memory_bytes < 1024 * 1024 {
            problems
                .push("exporter.queue.max_memory_bytes: must be at least 1048576 (1 MiB)".into());
        }
        if !(1..=256).contains(&self.consumers) {
            problems.push("exporter.queue.consumers: must be between 1 and 256".into());
        }
        let mut queue = self.clone();
        queue.directory = queue.directory.as_deref().map(|d| base.resolve(d));
        if queue.directory.is_some() && queue.max_bytes < 1024 * 1024 {
            problems.push("exporter.queue.max_bytes: must be at least 1048576 (1 MiB)".into());
        }
        if queue.fsync == Fsync::Interval && queue.fsync_interval.is_zero() {
            problems.push("exporter.queue.fsync_interval: must be greater than 0".into());
        }
        queue
    }
}
