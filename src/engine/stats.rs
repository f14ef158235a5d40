//! What the engine did, counted: spans seen, calls by pricing status, traces, budget and
//! anomaly verdicts, and what the drivers report (late children, evicted ledger entries, locks
//! found poisoned).
//! The spans-seen counter is bumped on every span by every thread, so it has one cache line per
//! thread.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use super::price::PricingStatus;

/// Slots of a [`SpanCounter`]: one per thread, the last shared by threads beyond.
const COUNTER_SLOTS: usize = 64;

#[derive(Debug, Default)]
#[repr(align(64))]
struct PaddedCounter(AtomicU64);

/// Slot ids of live threads that used a [`SpanCounter`]; freed ids are reused.
static FREE_SLOTS: Mutex<Vec<usize>> = Mutex::new(Vec::new());
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

/// A thread's slot id, returned to [`FREE_SLOTS`] when the thread exits.
struct ThreadSlot(usize);

impl ThreadSlot {
    fn acquire() -> ThreadSlot {
        // A poisoned list is taken as it is: a push or a pop cannot leave it half-updated.
        let free = FREE_SLOTS.lock().map(|mut f| f.pop());
        if let Some(i) = free.unwrap_or_else(|p| p.into_inner().pop()) {
            return ThreadSlot(i);
        }
        let i = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
        ThreadSlot(i.min(COUNTER_SLOTS - 1))
    }
}

impl Drop for ThreadSlot {
    fn drop(&mut self) {
        if self.0 < COUNTER_SLOTS - 1 {
            FREE_SLOTS
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(self.0);
        }
    }
}

thread_local! {
    static THREAD_SLOT: ThreadSlot = ThreadSlot::acquire();
}

/// The spans-seen counter, bumped on every span by every thread that ends spans: one cache line
/// per thread (no line bouncing between cores) and, since a slot below the last has one
/// writing thread at a time, a plain load and store instead of a locked add.
pub(crate) struct SpanCounter {
    slots: Box<[PaddedCounter]>,
}

impl Default for SpanCounter {
    fn default() -> Self {
        SpanCounter {
            slots: (0..COUNTER_SLOTS)
                .map(|_| PaddedCounter::default())
                .collect(),
        }
    }
}

impl std::fmt::Debug for SpanCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SpanCounter").field(&self.get()).finish()
    }
}

impl SpanCounter {
    /// Adds one.
    #[inline]
    pub(crate) fn bump(&self) {
        let shared = COUNTER_SLOTS - 1;
        let i = THREAD_SLOT.try_with(|s| s.0).unwrap_or(shared);
        match self.slots.get(i) {
            Some(c) if i < shared => {
                // This thread is the slot's only writer.
                c.0.store(
                    c.0.load(Ordering::Relaxed).wrapping_add(1),
                    Ordering::Relaxed,
                );
            }
            _ => {
                if let Some(c) = self.slots.last() {
                    c.0.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// The count.
    pub(crate) fn get(&self) -> u64 {
        self.slots
            .iter()
            .fold(0u64, |a, c| a.wrapping_add(c.0.load(Ordering::Relaxed)))
    }
}

/// Counters of what the engine did. A snapshot is a [`StatsSnapshot`].
#[derive(Debug, Default)]
pub struct Stats {
    pub(crate) spans: SpanCounter,
    pub(crate) priced: AtomicU64,
    pub(crate) provided: AtomicU64,
    pub(crate) unknown_model: AtomicU64,
    pub(crate) invalid_usage: AtomicU64,
    pub(crate) duplicate: AtomicU64,
    pub(crate) aggregate: AtomicU64,
    pub(crate) late: AtomicU64,
    pub(crate) evicted: AtomicU64,
    pub(crate) traces: AtomicU64,
    pub(crate) budget_exceeded: AtomicU64,
    pub(crate) anomalies: AtomicU64,
    pub(crate) poisoned_locks: AtomicU64,
    pub(crate) unreadable_bodies: AtomicU64,
}

/// Counter values at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Spans seen.
    pub spans: u64,
    /// Calls priced from the catalog.
    pub priced: u64,
    /// Calls whose cost the span already carried.
    pub provided: u64,
    /// Calls with an unknown model.
    pub unknown_model: u64,
    /// Calls with unusable token counts.
    pub invalid_usage: u64,
    /// Call spans not counted because a call below them was.
    pub duplicate: u64,
    /// Aggregate spans with usage, not counted.
    pub aggregate: u64,
    /// Children that ended after their parent was forwarded (processor).
    pub late: u64,
    /// Ledger entries dropped by size or age before their parent ended (processor).
    pub evicted: u64,
    /// Traces (local roots in process) finished with at least one LLM call.
    pub traces: u64,
    /// Of those, over a budget.
    pub budget_exceeded: u64,
    /// Of those, flagged as cost anomalies.
    pub anomalies: u64,
    /// Locks found poisoned (a panic while one was held) around data a panic can leave
    /// half-updated: the processor's ledger of children's totals (its pending entries are
    /// dropped and their traces marked incomplete) and the gateway's cost-records writer. Any
    /// value above 0 is a bug to report.
    pub poisoned_locks: u64,
    /// OpenInference response bodies (`output.value`) that were to be read for tool calls and
    /// could not be (not JSON, another shape, over the size cap): those calls were priced
    /// without their tool calls, their `cost.pricing.reason` says so.
    pub unreadable_response_bodies: u64,
}

impl Stats {
    /// Counts a span's pricing status.
    pub(super) fn bump(&self, s: PricingStatus) {
        let c = match s {
            PricingStatus::Priced => &self.priced,
            PricingStatus::Provided => &self.provided,
            PricingStatus::UnknownModel => &self.unknown_model,
            PricingStatus::InvalidUsage => &self.invalid_usage,
            PricingStatus::Duplicate => &self.duplicate,
            PricingStatus::Aggregate => &self.aggregate,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a lock found poisoned (see [`StatsSnapshot::poisoned_locks`]).
    pub(crate) fn poisoned_lock(&self) {
        self.poisoned_locks.fetch_add(1, Ordering::Relaxed);
    }

    /// Current values.
    pub fn snapshot(&self) -> StatsSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            spans: self.spans.get(),
            priced: g(&self.priced),
            provided: g(&self.provided),
            unknown_model: g(&self.unknown_model),
            invalid_usage: g(&self.invalid_usage),
            duplicate: g(&self.duplicate),
            aggregate: g(&self.aggregate),
            late: g(&self.late),
            evicted: g(&self.evicted),
            traces: g(&self.traces),
            budget_exceeded: g(&self.budget_exceeded),
            anomalies: g(&self.anomalies),
            poisoned_locks: g(&self.poisoned_locks),
            unreadable_response_bodies: g(&self.unreadable_bodies),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn span_counter_counts_every_thread() {
        let c = Arc::new(SpanCounter::default());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        c.bump();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        c.bump();
        assert_eq!(c.get(), 8001);
    }
}
