//! `assembly:` — when a trace is complete enough to price.

use std::time::Duration;

use serde::Deserialize;

use super::values::duration;

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

impl AssemblyConfig {
    /// Validates `assembly:`.
    pub(super) fn resolve(&self, problems: &mut Vec<String>) -> AssemblyConfig {
        if self.trace_timeout.is_zero() {
            problems.push("assembly.trace_timeout: must be greater than 0".into());
        }
        if self.root_grace > self.trace_timeout {
            problems.push(format!(
                "assembly.root_grace ({:?}) is longer than assembly.trace_timeout ({:?})",
                self.root_grace, self.trace_timeout
            ));
        }
        for (name, v) in [
            ("assembly.max_spans_per_trace", self.max_spans_per_trace),
            ("assembly.max_traces", self.max_traces),
            ("assembly.max_bytes", self.max_bytes),
        ] {
            if v == 0 {
                problems.push(format!("{name}: must be at least 1"));
            }
        }
        self.clone()
    }
}
