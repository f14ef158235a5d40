//! `memory_limiter:` — one bound on the gateway's resident memory, divided among its buffers.

use std::time::Duration;

use serde::Deserialize;

use super::values::duration;

/// Share of `memory_limiter.limit_mib` the receivers' memory budget gets, in percent.
pub const MEMORY_LIMITER_RECEIVER_PERCENT: usize = 20;

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

/// The bounds the limiter lowers to their share of its limit (see
/// [`MemoryLimiterConfig::limit_mib`]).
pub(super) struct Bounds<'a> {
    pub(super) assembly_bytes: &'a mut usize,
    pub(super) queue_memory_bytes: &'a mut usize,
    pub(super) queue_disk_bytes: &'a mut usize,
    pub(super) receiver_memory_bytes: &'a mut usize,
    pub(super) grpc_max_request_bytes: &'a mut usize,
    pub(super) http_max_request_bytes: &'a mut usize,
}

impl MemoryLimiterConfig {
    /// Validates `memory_limiter:`; `None` when it is off.
    pub(super) fn resolve(&self, problems: &mut Vec<String>) -> Option<MemoryLimit> {
        if self.limit_mib == 0 {
            return None;
        }
        if self.limit_mib < 64 {
            problems.push("memory_limiter.limit_mib: must be at least 64 (or 0: off)".into());
        }
        if self.check_interval.is_zero() {
            problems.push("memory_limiter.check_interval: must be greater than 0".into());
        }
        let limit = self.limit_bytes();
        Some(MemoryLimit {
            refuse_above_bytes: limit / 100 * 85,
            resume_below_bytes: limit / 100 * 75,
            own_floor_bytes: limit / 20,
            check_interval: self.check_interval,
        })
    }

    /// Lowers each of `b` to its share of the limit; nothing when the limiter is off.
    pub(super) fn lower(&self, b: Bounds<'_>) {
        if self.limit_mib == 0 {
            return;
        }
        let limit = self.limit_bytes();
        *b.assembly_bytes = (*b.assembly_bytes).min(limit / 100 * 30);
        *b.queue_memory_bytes = (*b.queue_memory_bytes).min(limit / 100 * 10);
        *b.receiver_memory_bytes =
            (*b.receiver_memory_bytes).min(limit / 100 * MEMORY_LIMITER_RECEIVER_PERCENT);
        // Everything a persistent queue holds is read into memory at start.
        *b.queue_disk_bytes = (*b.queue_disk_bytes).min(*b.queue_memory_bytes);
        // A request is decoded whole (several times its size) before any check can refuse.
        *b.grpc_max_request_bytes = (*b.grpc_max_request_bytes).min(limit / 32);
        *b.http_max_request_bytes = (*b.http_max_request_bytes).min(limit / 32);
    }

    fn limit_bytes(&self) -> usize {
        self.limit_mib.saturating_mul(1024 * 1024)
    }
}
